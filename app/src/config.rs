//! Configuration from environment variables (12-factor). Every variable is documented in the
//! README's configuration table; `Settings::summary` is what start-up logs (no secrets).
//! The names the lab (or compose) also sets come from `contract::env`, so both sides spell
//! them the same; the others are the app's own.

use std::env;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use contract::env::{
    APP_LISTEN, APP_UNIX_SOCKET, APP_WORKERS, DATABASE_URL, DB_ACQUIRE_TIMEOUT_MS, DB_POOL_MAX,
    INSTANCE_NAME,
};

/// Largest accepted JSON body, in bytes (the app's own; the lab does not set it).
pub const BODY_LIMIT_BYTES: &str = "BODY_LIMIT_BYTES";
/// Log one line per request (the app's own; the lab does not set it).
pub const APP_ACCESS_LOG: &str = "APP_ACCESS_LOG";
/// Most orders placed in one statement on Postgres; 1 turns batching off (the app's own).
pub const ORDER_BATCH_MAX: &str = "ORDER_BATCH_MAX";
/// Most reads by id answered by one statement on Postgres; 1 turns batching off (the app's own).
pub const READ_BATCH_MAX: &str = "READ_BATCH_MAX";
/// Seconds an order holds its `Idempotency-Key` (the app's own).
pub const IDEMPOTENCY_TTL_SECS: &str = "IDEMPOTENCY_TTL_SECS";

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_LISTEN`: address to bind (default `0.0.0.0:8080`).
    pub listen: SocketAddr,
    /// `APP_UNIX_SOCKET`: a Unix-domain socket to listen on besides `listen` (default none).
    /// nginx on the same host (or sharing the folder, under compose) proxies through it with
    /// no TCP/IP stack on either end; the TCP port stays for health checks and other hosts.
    pub unix_socket: Option<PathBuf>,
    /// `APP_WORKERS`: HTTP worker threads (default: CPUs the cgroup quota really allows).
    pub workers: usize,
    /// `INSTANCE_NAME`: replica name sent in `X-Instance` (default: host name).
    pub instance: String,
    /// `BODY_LIMIT_BYTES`: largest accepted JSON body (default 64 KiB).
    pub body_limit_bytes: usize,
    /// `APP_ACCESS_LOG`: log one line per request (default off: nginx logs requests).
    pub access_log: bool,
    /// `DATABASE_URL`, `DB_POOL_MAX`, `DB_ACQUIRE_TIMEOUT_MS`.
    pub database: DatabaseSettings,
}

/// Where the database is and how the connection pool behaves.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: `postgres://…`, `mysql://…` (MariaDB too) or `sqlite://…`
    /// (default [`DEFAULT_DATABASE_URL`], a file created with its folder on first start).
    pub url: String,
    /// `DB_POOL_MAX`: most connections the pool opens (default [`DEFAULT_POOL_MAX`]).
    pub pool_max: u32,
    /// `DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a pooled connection before it is
    /// answered 503 (default [`DEFAULT_ACQUIRE_TIMEOUT_MS`]).
    pub acquire_timeout: Duration,
    /// `ORDER_BATCH_MAX`: most orders placed together in one statement on Postgres (default
    /// [`DEFAULT_ORDER_BATCH_MAX`]; 1: each order alone). See `db::order_batch`.
    pub order_batch_max: usize,
    /// `READ_BATCH_MAX`: most reads of a disk by id answered together by one statement on
    /// Postgres (default [`DEFAULT_READ_BATCH_MAX`]; 1: each read alone). See `db::read_batch`.
    pub read_batch_max: usize,
    /// `IDEMPOTENCY_TTL_SECS`: how long an order holds the `Idempotency-Key` it was placed
    /// with; an older order's key places a new order (default
    /// [`DEFAULT_IDEMPOTENCY_TTL_SECS`]). See `db::idempotency`.
    pub idempotency_ttl: Duration,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db";
pub const DEFAULT_POOL_MAX: u32 = 10;
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 3000;
/// Past a few dozen orders a statement, the per-statement cost is already spread thin, while a
/// bigger batch makes its orders wait longer for the slowest of them.
pub const DEFAULT_ORDER_BATCH_MAX: usize = 64;
/// The same bound for reads: past a few dozen ids the statement's fixed cost is spread thin.
pub const DEFAULT_READ_BATCH_MAX: usize = 64;
/// A day, as payment APIs keep theirs: far longer than any client retries an order for.
pub const DEFAULT_IDEMPOTENCY_TTL_SECS: u64 = 86_400;

impl DatabaseSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        let pool_max: u32 = parse_var(DB_POOL_MAX, DEFAULT_POOL_MAX)?;
        if pool_max == 0 {
            return Err(anyhow!("{DB_POOL_MAX} must be at least 1"));
        }
        let order_batch_max: usize = parse_var(ORDER_BATCH_MAX, DEFAULT_ORDER_BATCH_MAX)?;
        if order_batch_max == 0 {
            return Err(anyhow!(
                "{ORDER_BATCH_MAX} must be at least 1 (1: no batching)"
            ));
        }
        let read_batch_max: usize = parse_var(READ_BATCH_MAX, DEFAULT_READ_BATCH_MAX)?;
        if read_batch_max == 0 {
            return Err(anyhow!(
                "{READ_BATCH_MAX} must be at least 1 (1: no batching)"
            ));
        }
        let idempotency_ttl_secs: u64 =
            parse_var(IDEMPOTENCY_TTL_SECS, DEFAULT_IDEMPOTENCY_TTL_SECS)?;
        if idempotency_ttl_secs == 0 {
            return Err(anyhow!(
                "{IDEMPOTENCY_TTL_SECS} must be at least 1 (a key that expires at once protects nothing)"
            ));
        }
        Ok(Self {
            order_batch_max,
            read_batch_max,
            idempotency_ttl: Duration::from_secs(idempotency_ttl_secs),
            url: env_nonempty(DATABASE_URL).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            pool_max,
            acquire_timeout: Duration::from_millis(parse_var(
                DB_ACQUIRE_TIMEOUT_MS,
                DEFAULT_ACQUIRE_TIMEOUT_MS,
            )?),
        })
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        redact_password(&self.url)
    }
}

/// `scheme://user:secret@host/db` becomes `scheme://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024;

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            listen: parse_var(APP_LISTEN, DEFAULT_LISTEN.parse()?)?,
            unix_socket: env_nonempty(APP_UNIX_SOCKET).map(PathBuf::from),
            workers: parse_var(APP_WORKERS, crate::cgroup::available_cpus())?.max(1),
            instance: env_nonempty(INSTANCE_NAME).unwrap_or_else(host_name),
            body_limit_bytes: parse_var(BODY_LIMIT_BYTES, DEFAULT_BODY_LIMIT_BYTES)?,
            access_log: parse_bool(APP_ACCESS_LOG)?,
            database: DatabaseSettings::from_env()?,
        })
    }

    /// One line for the start-up log; never includes credentials.
    pub fn summary(&self) -> String {
        format!(
            "listen={} unix_socket={} workers={} instance={} body_limit_bytes={} access_log={} database={} \
             pool_max={} acquire_timeout_ms={} order_batch_max={} read_batch_max={} \
             idempotency_ttl_secs={}",
            self.listen,
            self.unix_socket
                .as_deref()
                .map_or_else(|| "none".into(), |p| p.display().to_string()),
            self.workers,
            self.instance,
            self.body_limit_bytes,
            self.access_log,
            self.database.redacted_url(),
            self.database.pool_max,
            self.database.acquire_timeout.as_millis(),
            self.database.order_batch_max,
            self.database.read_batch_max,
            self.database.idempotency_ttl.as_secs()
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
    let listen: SocketAddr = parse_var(APP_LISTEN, DEFAULT_LISTEN.parse()?)
        .with_context(|| format!("reading {APP_LISTEN} for the health check"))?;
    Ok(listen.port())
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact_password("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(
            redact_password("mysql://root@127.0.0.1/shop"),
            "mysql://root@127.0.0.1/shop"
        );
        assert_eq!(
            redact_password("sqlite://data/app.db"),
            "sqlite://data/app.db"
        );
    }
}
