//! The Docker Engine API's answers as lab keeps them: the engine, a container's summary,
//! state and stats, an event, and the client's errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long one request may wait for the engine, per read or write, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The label docker compose puts the project name in.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The label docker compose puts the service name in.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// The kernel's CFS period when a container sets a quota but no period (100 ms).
pub(super) const DEFAULT_CFS_PERIOD_US: i64 = 100_000;

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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// The CFS period of that cap in µs: `HostConfig.CpuPeriod`, the kernel's 100 ms under
    /// `NanoCpus` or a quota without a period; None when uncapped.
    pub cpu_period_us: Option<u64>,
    /// Memory cap (`HostConfig.Memory`); None when uncapped.
    pub memory_limit_bytes: Option<u64>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `Config.Env`, `KEY=value` strings. Holds secrets, so it is never serialized.
    #[serde(default, skip_serializing)]
    pub env: Vec<String>,
    /// `NetworkSettings.Networks.*.IPAddress`: its address on each network it joined, in the
    /// order of the networks' names; empty under `network_mode: host` or when stopped.
    #[serde(default)]
    pub ip_addresses: Vec<String>,
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

    /// Whether the event is about `container`: its full or short ID, or its name (lab keeps
    /// compose containers by name, the name the engine proxy lets through).
    pub fn is_about(&self, container: &str) -> bool {
        !container.is_empty()
            && (self.id.starts_with(container)
                || container.starts_with(self.id.as_str()) && !self.id.is_empty()
                || self.name() == Some(container))
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
            "is the engine running? Under compose the lab container reaches it through the \
             engine-proxy service's socket (`docker compose run` starts it with lab; \
             LAB_DOCKER_SOCKET names the engine's socket on the host)"
        }
    }
}
