//! A small synchronous Docker Engine API client over the engine's unix socket, for measuring
//! the services of a compose stack: caps, CPU and CFS throttling, memory, OOM kills, restarts.
//!
//! Plain HTTP/1.1 written by hand, one request per connection (`Connection: close`): the
//! answer is read to EOF, then its body is cut by `Content-Length`, decoded from
//! `Transfer-Encoding: chunked`, or taken to EOF. Works with lab on the host and inside a
//! container that has `/var/run/docker.sock` mounted.
//!
//! Parsing is defensive: engines differ (20.10 on cgroup v1 here, newer ones on cgroup v2 on
//! laptops), so a missing or null field becomes `None` or 0, never a panic.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};

/// The engine's socket when `DOCKER_HOST` is not set.
mod decode;
#[cfg(test)]
mod tests;
mod types;
mod wire;

use decode::*;
pub use types::*;
use wire::*;

/// The engine's description from recorded `/version` and `/info` bodies (tests' fixtures).
#[cfg(test)]
pub fn engine_info_from_json(version: &[u8], info: &[u8]) -> anyhow::Result<EngineInfo> {
    engine_info_from(version, info)
}

/// A Docker engine reached through its unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    socket: PathBuf,
    timeout: Duration,
}

impl Engine {
    /// The engine named by `DOCKER_HOST=unix:///path` when set and not empty, else
    /// /var/run/docker.sock. A `tcp://` or `ssh://` `DOCKER_HOST` is an error: lab needs the
    /// unix socket.
    pub fn from_host(docker_host: Option<&str>) -> anyhow::Result<Engine> {
        Ok(Engine::at(socket_from_docker_host(docker_host)?))
    }

    /// The engine listening on `socket`, with the default 10 s timeout.
    pub fn at(socket: impl Into<PathBuf>) -> Engine {
        Engine {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same engine with another per-read/write timeout.
    pub fn with_timeout(self, timeout: Duration) -> Engine {
        Engine { timeout, ..self }
    }

    /// The socket this engine is reached through.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /version` then `GET /info`: versions, CPUs, memory, OS, kernel and cgroup setup.
    pub fn info(&self) -> anyhow::Result<EngineInfo> {
        let version = self.get("/version")?;
        let info = self.get("/info")?;
        engine_info_from(&version, &info)
    }

    /// The containers (all states) labelled `com.docker.compose.project=<project>`.
    pub fn compose_containers(&self, project: &str) -> anyhow::Result<Vec<ContainerSummary>> {
        let body = self.get(&compose_containers_path(project))?;
        containers_from(&body)
    }

    /// `GET /containers/{id}/json`: a container's state and caps; `id` may also be a name.
    pub fn inspect(&self, id: &str) -> anyhow::Result<ContainerState> {
        let body = self.get(&format!("/containers/{}/json", percent_encode(id)))?;
        state_from(&body)
    }

    /// `GET /containers/{id}/stats?stream=false&one-shot=true`: one sample of the counters,
    /// returned at once instead of after a collection cycle (engines older than API 1.41
    /// ignore `one-shot` and take about two seconds).
    pub fn stats(&self, id: &str) -> anyhow::Result<ContainerStats> {
        let path = format!(
            "/containers/{}/stats?stream=false&one-shot=true",
            percent_encode(id)
        );
        stats_from(&self.get(&path)?)
    }

    /// `GET /events` for containers between `since` and `until`, only the given `actions`
    /// (all when empty), in the engine's (chronological) order. The engine streams until
    /// `until` and then closes, so a future `until` makes this call wait until then.
    pub fn events(
        &self,
        since: SystemTime,
        until: SystemTime,
        actions: &[&str],
    ) -> anyhow::Result<Vec<Event>> {
        let wait = until
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let path = events_path(since, until, actions);
        let response = self.send("GET", &path, self.timeout + wait)?;
        events_from(&success(response, false)?)
    }

    /// `POST /containers/{id}/kill?signal=SIG`, e.g. `KILL`, `TERM`.
    pub fn kill(&self, id: &str, signal: &str) -> anyhow::Result<()> {
        let path = format!(
            "/containers/{}/kill?signal={}",
            percent_encode(id),
            percent_encode(signal)
        );
        self.post(&path, self.timeout)
    }

    /// `POST /containers/{id}/stop?t=N`: SIGTERM, then SIGKILL after `timeout_secs`. An
    /// already stopped container is not an error (304).
    pub fn stop(&self, id: &str, timeout_secs: u32) -> anyhow::Result<()> {
        let path = format!("/containers/{}/stop?t={timeout_secs}", percent_encode(id));
        self.post(
            &path,
            self.timeout + Duration::from_secs(u64::from(timeout_secs)),
        )
    }

    /// `POST /containers/{id}/start`. An already running container is not an error (304).
    pub fn start(&self, id: &str) -> anyhow::Result<()> {
        let path = format!("/containers/{}/start", percent_encode(id));
        self.post(&path, self.timeout)
    }

    /// One request as it is, whatever it asks: its status and body (`lab __engine`, which
    /// shows what the lab container's engine proxy lets through).
    pub fn call(&self, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
        let response = self.send(method, path, self.timeout)?;
        Ok((
            response.status,
            String::from_utf8_lossy(&response.body).into_owned(),
        ))
    }

    fn get(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        success(self.send("GET", path, self.timeout)?, false)
    }

    fn post(&self, path: &str, timeout: Duration) -> anyhow::Result<()> {
        success(self.send("POST", path, timeout)?, true).map(drop)
    }

    /// Sends one request and parses the whole answer, whatever its status.
    fn send(&self, method: &str, path: &str, timeout: Duration) -> anyhow::Result<Response> {
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|cause| DockerError::Unreachable {
                socket: self.socket.clone(),
                cause,
            })?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream
            .write_all(request_head(method, path).as_bytes())
            .with_context(|| format!("docker engine: sending {method} {path}"))?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).with_context(|| {
            format!(
                "docker engine: reading the answer to {method} {path} (timeout {:?})",
                timeout
            )
        })?;
        parse_response(&raw).with_context(|| format!("docker engine: answer to {method} {path}"))
    }
}

/// The socket path a `DOCKER_HOST` value names (None or empty: the default socket).
fn socket_from_docker_host(value: Option<&str>) -> anyhow::Result<PathBuf> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Ok(PathBuf::from(DEFAULT_SOCKET));
    }
    match value.strip_prefix("unix://") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        Some(_) => bail!("DOCKER_HOST={value:?} names no socket path (expected unix:///path)"),
        None => bail!(
            "DOCKER_HOST={value:?}: lab needs the engine's unix socket (unix:///path/to/docker.sock); \
             tcp:// and ssh:// engines are not supported (unset DOCKER_HOST to use {DEFAULT_SOCKET})"
        ),
    }
}
