//! Configuration from environment variables (12-factor). Every variable is documented in the
//! README's configuration table; `Settings::summary` is what start-up logs (no secrets).

use std::env;
use std::net::SocketAddr;

use anyhow::{anyhow, Context};

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_LISTEN`: address to bind (default `0.0.0.0:8080`).
    pub listen: SocketAddr,
    /// `APP_WORKERS`: HTTP worker threads (default: CPUs the cgroup quota really allows).
    pub workers: usize,
    /// `INSTANCE_NAME`: replica name sent in `X-Instance` (default: host name).
    pub instance: String,
    /// `BODY_LIMIT_BYTES`: largest accepted JSON body (default 64 KiB).
    pub body_limit_bytes: usize,
    /// `APP_ACCESS_LOG`: log one line per request (default off: nginx logs requests).
    pub access_log: bool,
}

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            listen: parse_var("APP_LISTEN", DEFAULT_LISTEN.parse()?)?,
            workers: parse_var("APP_WORKERS", crate::cgroup::available_cpus())?.max(1),
            instance: env_nonempty("INSTANCE_NAME").unwrap_or_else(host_name),
            body_limit_bytes: parse_var("BODY_LIMIT_BYTES", DEFAULT_BODY_LIMIT_BYTES)?,
            access_log: parse_bool("APP_ACCESS_LOG")?,
        })
    }

    /// One line for the start-up log; never includes credentials.
    pub fn summary(&self) -> String {
        format!(
            "listen={} workers={} instance={} body_limit_bytes={} access_log={}",
            self.listen, self.workers, self.instance, self.body_limit_bytes, self.access_log
        )
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match env_nonempty(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| anyhow!("{name}={raw:?} is invalid: {e}")),
    }
}

fn parse_bool(name: &str) -> anyhow::Result<bool> {
    match env_nonempty(name)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("0" | "false" | "off" | "no") => Ok(false),
        Some("1" | "true" | "on" | "yes") => Ok(true),
        Some(other) => Err(anyhow!(
            "{name}={other:?} is invalid: expected true or false"
        )),
    }
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| env_nonempty("HOSTNAME"))
        .unwrap_or_else(|| "app".to_owned())
}

/// The port `app healthcheck` should query: `APP_LISTEN`'s.
pub fn listen_port() -> anyhow::Result<u16> {
    let listen: SocketAddr = parse_var("APP_LISTEN", DEFAULT_LISTEN.parse()?)
        .context("reading APP_LISTEN for the health check")?;
    Ok(listen.port())
}
