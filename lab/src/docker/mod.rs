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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The engine's socket when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long one request may wait for the engine, per read or write, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The label docker compose puts the project name in.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label docker compose puts the service name in.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// The kernel's CFS period when a container sets a quota but no period (100 ms).
const DEFAULT_CFS_PERIOD_US: i64 = 100_000;

/// A Docker engine reached through its unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    socket: PathBuf,
    timeout: Duration,
}

/// What the engine says about itself (`GET /version` and `GET /info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// Engine version, e.g. `20.10.24+dfsg1`.
    pub server_version: String,
    /// Highest API version the engine speaks, e.g. `1.41`.
    pub api_version: String,
    /// CPUs the engine sees (`NCPU`).
    pub cores: u32,
    /// Memory the engine's host has (`MemTotal`).
    pub memory_total_bytes: u64,
    /// `OperatingSystem`, e.g. `Debian GNU/Linux 12 (bookworm)` or `Docker Desktop`.
    pub operating_system: String,
    /// `KernelVersion` of the engine's host.
    pub kernel_version: String,
    /// `"1"` or `"2"`; None on engines older than API 1.40, which do not say.
    pub cgroup_version: Option<String>,
    /// `cgroupfs` or `systemd`; empty when the engine does not say.
    pub cgroup_driver: String,
}

/// One container of a compose project, from `GET /containers/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSummary {
    /// Full container id.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// The compose service (label `com.docker.compose.service`), when labelled.
    pub service: Option<String>,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub state: String,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
}

/// A container's state and caps, from `GET /containers/{id}/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerState {
    /// Full container id.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// `State.Status`: `running`, `exited`, `restarting`, ...
    pub status: String,
    /// `State.Running`.
    pub running: bool,
    /// Host pid of the container's main process; None when it has none (pid 0).
    pub pid: Option<u32>,
    /// `State.OOMKilled`: the last exit was an OOM kill.
    pub oom_killed: bool,
    /// Restarts done by the engine's restart policy (`RestartCount`).
    pub restart_count: u32,
    /// `State.StartedAt` as the engine wrote it (RFC 3339, `0001-01-01T00:00:00Z` if never).
    pub started_at: String,
    /// `State.ExitCode` of the last exit (137 after SIGKILL or an OOM kill).
    pub exit_code: i64,
    /// CPU cap in cores: `HostConfig.NanoCpus / 1e9`, else `CpuQuota / CpuPeriod` (period
    /// defaulting to the kernel's 100 ms), else None (uncapped).
    pub cpu_limit_cores: Option<f64>,
    /// Memory cap (`HostConfig.Memory`); None when uncapped.
    pub memory_limit_bytes: Option<u64>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `Config.Env`, `KEY=value` strings. Holds secrets, so it is never serialized.
    #[serde(default, skip_serializing)]
    pub env: Vec<String>,
}

/// One sample of a container's counters, from `GET /containers/{id}/stats` (one-shot).
/// Counters are cumulative since the container started; rates come from two samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStats {
    /// When the engine took the sample (`read`); None when it gives none.
    pub read_at: Option<DateTime<Utc>>,
    /// CPU time used by the container (`cpu_stats.cpu_usage.total_usage`).
    pub cpu_usage_ns: u64,
    /// CPU time of the whole host, all CPUs (`cpu_stats.system_cpu_usage`).
    pub system_cpu_ns: Option<u64>,
    /// CPUs online on the host (`cpu_stats.online_cpus`).
    pub online_cpus: Option<u32>,
    /// CFS periods elapsed with the container runnable (`throttling_data.periods`).
    pub periods: u64,
    /// Periods in which the container hit its quota (`throttling_data.throttled_periods`).
    pub throttled_periods: u64,
    /// Time spent throttled (`throttling_data.throttled_time`).
    pub throttled_ns: u64,
    /// Memory charged to the container now, page cache included (`memory_stats.usage`).
    pub memory_usage_bytes: u64,
    /// Peak of `memory_usage_bytes` (`memory_stats.max_usage`); cgroup v1 only.
    pub memory_max_usage_bytes: Option<u64>,
    /// Memory cap as the engine sees it (`memory_stats.limit`); the host's memory when the
    /// container is uncapped; None when not reported.
    pub memory_limit_bytes: Option<u64>,
    /// Reclaimable page cache (`stats.total_inactive_file` on v1, `stats.inactive_file` on v2).
    pub inactive_file_bytes: Option<u64>,
}

impl ContainerStats {
    /// Usage minus inactive page cache: what `docker stats` shows as memory usage.
    pub fn memory_working_set_bytes(&self) -> u64 {
        self.memory_usage_bytes
            .saturating_sub(self.inactive_file_bytes.unwrap_or(0))
    }
}

/// One container event, from `GET /events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The container's id (`Actor.ID`).
    pub id: String,
    /// `Action`: `create`, `start`, `oom`, `kill`, `die`, `restart`, `stop`, `destroy`, ...
    pub action: String,
    /// When it happened, nanoseconds since the Unix epoch (`timeNano`).
    pub time_nano: i64,
    /// `Actor.Attributes`: the container's labels plus `name`, `image`, `exitCode`, `signal`...
    pub attributes: BTreeMap<String, String>,
}

impl Event {
    /// The container name (attribute `name`).
    pub fn name(&self) -> Option<&str> {
        self.attributes.get("name").map(String::as_str)
    }

    /// The compose service (label `com.docker.compose.service`).
    pub fn service(&self) -> Option<&str> {
        self.attributes.get(SERVICE_LABEL).map(String::as_str)
    }

    /// The exit code of a `die` event (attribute `exitCode`).
    pub fn exit_code(&self) -> Option<i64> {
        self.attributes.get("exitCode")?.parse().ok()
    }
}

impl ContainerState {
    /// The compose project (label `com.docker.compose.project`).
    pub fn project(&self) -> Option<&str> {
        self.labels.get(PROJECT_LABEL).map(String::as_str)
    }

    /// The compose service (label `com.docker.compose.service`).
    pub fn service(&self) -> Option<&str> {
        self.labels.get(SERVICE_LABEL).map(String::as_str)
    }
}

/// Errors of the engine itself, distinct from I/O and decoding trouble; reach them with
/// `anyhow::Error::downcast_ref::<DockerError>()`.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// Connecting to the socket failed: no engine, no mount, or no permission.
    #[error(
        "docker engine is not reachable at {}: {cause}; {}",
        .socket.display(),
        unreachable_hint(.cause)
    )]
    Unreachable {
        /// The socket tried.
        socket: PathBuf,
        /// Why connecting failed.
        cause: std::io::Error,
    },
    /// The engine answered with a status other than success.
    #[error("docker engine: {status} {reason}: {message}")]
    Api {
        /// HTTP status, e.g. 404.
        status: u16,
        /// Reason phrase, e.g. `Not Found`.
        reason: String,
        /// The engine's `message`, or the body when it has none.
        message: String,
    },
}

fn unreachable_hint(cause: &std::io::Error) -> &'static str {
    match cause.kind() {
        std::io::ErrorKind::PermissionDenied => {
            "this user may not use the socket (add it to the docker group, or run as root)"
        }
        _ => {
            "is the engine running? Under compose the bench container needs \
             `/var/run/docker.sock` mounted (volumes: - /var/run/docker.sock:/var/run/docker.sock)"
        }
    }
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

mod decode;
#[cfg(test)]
mod tests;
mod wire;

use decode::*;
use wire::*;
