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
    pub fn from_env() -> anyhow::Result<Engine> {
        let value = match std::env::var("DOCKER_HOST") {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(err) => bail!("DOCKER_HOST: {err}"),
        };
        Ok(Engine::at(socket_from_docker_host(value.as_deref())?))
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

// ---------------------------------------------------------------------------------------------
// HTTP

/// A parsed answer.
#[derive(Debug)]
struct Response {
    status: u16,
    reason: String,
    /// Header names lower-cased, values trimmed, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request_head(method: &str, path: &str) -> String {
    let length = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n{length}\r\n")
}

/// The body of a successful answer (2xx, and 304 when `not_modified_ok`); otherwise a
/// [`DockerError::Api`] with the engine's message.
fn success(response: Response, not_modified_ok: bool) -> anyhow::Result<Vec<u8>> {
    if (200..300).contains(&response.status) || (not_modified_ok && response.status == 304) {
        return Ok(response.body);
    }
    #[derive(Deserialize)]
    struct Message {
        message: Option<String>,
    }
    let message = serde_json::from_slice::<Message>(&response.body)
        .ok()
        .and_then(|m| m.message)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&response.body);
            text.trim().chars().take(300).collect()
        });
    Err(DockerError::Api {
        status: response.status,
        reason: response.reason,
        message,
    }
    .into())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a whole HTTP/1.1 answer read to EOF.
fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let Some(head_end) = find(raw, b"\r\n\r\n") else {
        if raw.is_empty() {
            bail!("the engine closed the connection without answering");
        }
        bail!(
            "incomplete HTTP answer ({} bytes, no end of headers)",
            raw.len()
        );
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let (status, reason) = parse_status_line(status_line)
        .with_context(|| format!("bad HTTP status line {status_line:?}"))?;
    let mut headers = Vec::new();
    // A line that is not `name: value` (none from the engine) is skipped, not fatal.
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(response);
    }
    let chunked = response.header("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    response.body = if chunked {
        decode_chunked(rest)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .with_context(|| format!("bad Content-Length {length:?}"))?;
        if rest.len() < length {
            bail!(
                "body ends after {} of its {length} bytes (Content-Length)",
                rest.len()
            );
        }
        rest[..length].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// `HTTP/1.1 404 Not Found` -> (404, "Not Found").
fn parse_status_line(line: &str) -> Option<(u16, String)> {
    let (version, rest) = line.split_once(' ')?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 {
        return None;
    }
    Some((code.parse().ok()?, reason.trim().to_owned()))
}

/// Decodes a chunked body: hex size lines (with optional `;extensions`), data, CRLF, up to
/// the zero-size chunk; trailers after it are ignored. A body cut short is an error.
fn decode_chunked(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(rest, b"\r\n") else {
            bail!(
                "chunked body ends without its last chunk ({} bytes decoded)",
                body.len()
            );
        };
        let line = String::from_utf8_lossy(&rest[..line_end]);
        let digits = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(digits, 16)
            .with_context(|| format!("bad chunk size line {line:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size {
            bail!(
                "chunk of {size} bytes cut after {} ({} bytes decoded before it)",
                rest.len(),
                body.len()
            );
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        match rest.strip_prefix(b"\r\n") {
            Some(after) => rest = after,
            None => bail!("chunk of {size} bytes is not followed by CRLF"),
        }
    }
}

/// Percent-encodes a query value or path segment: everything but RFC 3986 unreserved bytes.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn compose_containers_path(project: &str) -> String {
    let filters = serde_json::json!({ "label": [format!("{PROJECT_LABEL}={project}")] });
    format!(
        "/containers/json?all=1&filters={}",
        percent_encode(&filters.to_string())
    )
}

/// `sec.nanos` since the Unix epoch, the form `/events` takes for `since` and `until`.
fn unix_seconds(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format!(
        "{}.{:09}",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos()
    )
}

fn events_path(since: SystemTime, until: SystemTime, actions: &[&str]) -> String {
    // Written by hand so the key order does not depend on serde_json's features.
    let mut filters = String::from(r#"{"type":["container"]"#);
    if !actions.is_empty() {
        let _ = write!(filters, r#","event":{}"#, serde_json::json!(actions));
    }
    filters.push('}');
    format!(
        "/events?since={}&until={}&filters={}",
        unix_seconds(since),
        unix_seconds(until),
        percent_encode(&filters)
    )
}

// ---------------------------------------------------------------------------------------------
// JSON: private shapes with every field optional, mapped to the public types.

type Labels = Option<BTreeMap<String, String>>;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawVersion {
    version: Option<String>,
    api_version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawInfo {
    server_version: Option<String>,
    #[serde(rename = "NCPU")]
    ncpu: Option<u32>,
    mem_total: Option<u64>,
    operating_system: Option<String>,
    kernel_version: Option<String>,
    cgroup_version: Option<String>,
    cgroup_driver: Option<String>,
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> anyhow::Result<T> {
    serde_json::from_slice(body).with_context(|| format!("docker engine: decoding {what}"))
}

fn engine_info_from(version: &[u8], info: &[u8]) -> anyhow::Result<EngineInfo> {
    let version: RawVersion = decode(version, "/version")?;
    let info: RawInfo = decode(info, "/info")?;
    Ok(EngineInfo {
        server_version: version.version.or(info.server_version).unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        cores: info.ncpu.unwrap_or(0),
        memory_total_bytes: info.mem_total.unwrap_or(0),
        operating_system: info.operating_system.unwrap_or_default(),
        kernel_version: info.kernel_version.unwrap_or_default(),
        cgroup_version: info.cgroup_version.filter(|v| !v.is_empty()),
        cgroup_driver: info.cgroup_driver.unwrap_or_default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawSummary {
    id: Option<String>,
    names: Option<Vec<String>>,
    state: Option<String>,
    labels: Labels,
}

fn strip_slash(name: &str) -> String {
    name.strip_prefix('/').unwrap_or(name).to_owned()
}

fn containers_from(body: &[u8]) -> anyhow::Result<Vec<ContainerSummary>> {
    let raw: Option<Vec<RawSummary>> = decode(body, "/containers/json")?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            ContainerSummary {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| strip_slash(n))
                    .unwrap_or_default(),
                service: labels.get(SERVICE_LABEL).cloned(),
                state: c.state.unwrap_or_default(),
                labels,
            }
        })
        .collect())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawInspect {
    id: Option<String>,
    name: Option<String>,
    restart_count: Option<u32>,
    state: Option<RawState>,
    host_config: Option<RawHostConfig>,
    config: Option<RawConfig>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawState {
    status: Option<String>,
    running: Option<bool>,
    #[serde(rename = "OOMKilled")]
    oom_killed: Option<bool>,
    pid: Option<i64>,
    exit_code: Option<i64>,
    started_at: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawHostConfig {
    nano_cpus: Option<i64>,
    cpu_quota: Option<i64>,
    cpu_period: Option<i64>,
    memory: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawConfig {
    labels: Labels,
    env: Option<Vec<String>>,
}

fn cpu_limit_cores(host: &RawHostConfig) -> Option<f64> {
    let nano = host.nano_cpus.unwrap_or(0);
    if nano > 0 {
        return Some(nano as f64 / 1e9);
    }
    let quota = host.cpu_quota.unwrap_or(0);
    let period = match host.cpu_period.unwrap_or(0) {
        p if p > 0 => p,
        _ => DEFAULT_CFS_PERIOD_US,
    };
    (quota > 0).then(|| quota as f64 / period as f64)
}

fn state_from(body: &[u8]) -> anyhow::Result<ContainerState> {
    let raw: RawInspect = decode(body, "/containers/{id}/json")?;
    let state = raw.state.unwrap_or_default();
    let host = raw.host_config.unwrap_or_default();
    let config = raw.config.unwrap_or_default();
    Ok(ContainerState {
        id: raw.id.unwrap_or_default(),
        name: strip_slash(raw.name.as_deref().unwrap_or_default()),
        status: state.status.unwrap_or_default(),
        running: state.running.unwrap_or(false),
        pid: state
            .pid
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p > 0),
        oom_killed: state.oom_killed.unwrap_or(false),
        restart_count: raw.restart_count.unwrap_or(0),
        started_at: state.started_at.unwrap_or_default(),
        exit_code: state.exit_code.unwrap_or(0),
        cpu_limit_cores: cpu_limit_cores(&host),
        memory_limit_bytes: host
            .memory
            .and_then(|m| u64::try_from(m).ok())
            .filter(|&m| m > 0),
        labels: config.labels.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStats {
    read: Option<String>,
    cpu_stats: Option<RawCpuStats>,
    memory_stats: Option<RawMemoryStats>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCpuStats {
    cpu_usage: Option<RawCpuUsage>,
    system_cpu_usage: Option<u64>,
    online_cpus: Option<u32>,
    throttling_data: Option<RawThrottling>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCpuUsage {
    total_usage: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawThrottling {
    periods: Option<u64>,
    throttled_periods: Option<u64>,
    throttled_time: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMemoryStats {
    usage: Option<u64>,
    max_usage: Option<u64>,
    limit: Option<u64>,
    stats: Option<RawMemoryDetail>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMemoryDetail {
    total_inactive_file: Option<u64>,
    inactive_file: Option<u64>,
}

/// An RFC 3339 time after the epoch (the engine writes `0001-01-01T00:00:00Z` for "none").
fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(text?)
        .ok()?
        .with_timezone(&Utc);
    (time.timestamp() > 0).then_some(time)
}

fn stats_from(body: &[u8]) -> anyhow::Result<ContainerStats> {
    let raw: RawStats = decode(body, "/containers/{id}/stats")?;
    let cpu = raw.cpu_stats.unwrap_or_default();
    let throttling = cpu.throttling_data.unwrap_or_default();
    let memory = raw.memory_stats.unwrap_or_default();
    let detail = memory.stats.unwrap_or_default();
    Ok(ContainerStats {
        read_at: parse_time(raw.read.as_deref()),
        cpu_usage_ns: cpu.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
        system_cpu_ns: cpu.system_cpu_usage,
        online_cpus: cpu.online_cpus.filter(|&n| n > 0),
        periods: throttling.periods.unwrap_or(0),
        throttled_periods: throttling.throttled_periods.unwrap_or(0),
        throttled_ns: throttling.throttled_time.unwrap_or(0),
        memory_usage_bytes: memory.usage.unwrap_or(0),
        memory_max_usage_bytes: memory.max_usage,
        memory_limit_bytes: memory.limit.filter(|&l| l > 0),
        inactive_file_bytes: detail.total_inactive_file.or(detail.inactive_file),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawEvent {
    id: Option<String>,
    status: Option<String>,
    #[serde(rename = "Action")]
    action: Option<String>,
    #[serde(rename = "Actor")]
    actor: Option<RawActor>,
    time: Option<i64>,
    #[serde(rename = "timeNano")]
    time_nano: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawActor {
    #[serde(rename = "ID")]
    id: Option<String>,
    attributes: Labels,
}

/// Events are JSON objects one after another (one a line from the engine).
fn events_from(body: &[u8]) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    for (index, raw) in serde_json::Deserializer::from_slice(body)
        .into_iter::<RawEvent>()
        .enumerate()
    {
        let raw = raw.with_context(|| format!("docker engine: decoding event {}", index + 1))?;
        let actor = raw.actor.unwrap_or_default();
        events.push(Event {
            id: actor.id.or(raw.id).unwrap_or_default(),
            action: raw.action.or(raw.status).unwrap_or_default(),
            time_nano: raw
                .time_nano
                .or_else(|| raw.time.map(|t| t.saturating_mul(1_000_000_000)))
                .unwrap_or(0),
            attributes: actor.attributes.unwrap_or_default(),
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::thread::JoinHandle;

    const VERSION: &str = include_str!("../tests/fixtures/docker/version.json");
    const INFO: &str = include_str!("../tests/fixtures/docker/info.json");
    const STATS_ONESHOT: &str = include_str!("../tests/fixtures/docker/stats-oneshot.json");
    const INSPECT_RUNNING: &str = include_str!("../tests/fixtures/docker/inspect-running.json");
    const INSPECT_OOMKILLED: &str = include_str!("../tests/fixtures/docker/inspect-oomkilled.json");
    const EVENTS: &str = include_str!("../tests/fixtures/docker/events.jsonl");
    const RAW_INSPECT: &[u8] =
        include_bytes!("../tests/fixtures/docker/raw-inspect-content-length.http");
    const RAW_EVENTS: &[u8] = include_bytes!("../tests/fixtures/docker/raw-events-chunked.http");
    const RAW_404: &[u8] = include_bytes!("../tests/fixtures/docker/raw-404.http");

    const RUNNING_ID: &str = "d201fa874d071ca95168018478c8a54ee1b15cb2115078590f0fa340217fadf6";
    const OOMER_ID: &str = "b2684f4c10ddce665e1fcabdb3368f241395fffac57bb8c1c4beb09acb6c0fa5";

    // --- HTTP parsing -------------------------------------------------------------------------

    #[test]
    fn a_content_length_answer_keeps_exactly_its_length_of_body() {
        let response = parse_response(RAW_404).unwrap();
        assert_eq!(response.status, 404);
        assert_eq!(response.reason, "Not Found");
        assert_eq!(response.header("Content-Length"), Some("40"));
        assert_eq!(response.header("api-version"), Some("1.41"));
        assert_eq!(
            response.body,
            b"{\"message\":\"No such container: nosuch\"}\n"
        );

        let response =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}garbage").unwrap();
        assert_eq!(response.body, b"{}");
    }

    #[test]
    fn the_recorded_inspect_answer_is_chunked_and_decodes_to_the_inspect_json() {
        // Despite its file name, the engine sent this answer chunked (one chunk of 0x11b1).
        let response = parse_response(RAW_INSPECT).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("transfer-encoding"), Some("chunked"));
        assert_eq!(response.header("content-length"), None);
        assert_eq!(response.body, INSPECT_RUNNING.as_bytes());
        let state = state_from(&success(response, false).unwrap()).unwrap();
        assert_eq!(state.id, RUNNING_ID);
    }

    #[test]
    fn the_recorded_chunked_events_stream_decodes_to_45_events() {
        let response = parse_response(RAW_EVENTS).unwrap();
        assert_eq!(response.status, 200);
        let events = events_from(&success(response, false).unwrap()).unwrap();
        assert_eq!(events.len(), 45);
        let first = &events[0];
        assert_eq!(first.action, "create");
        assert_eq!(first.name(), Some("intelligent_bardeen"));
        assert_eq!(first.time_nano, 1_795_954_117_990_616_227);
        assert_eq!(events[3].action, "die");
        assert_eq!(events[3].exit_code(), Some(0));
        let last = &events[44];
        assert_eq!(last.action, "destroy");
        assert_eq!(last.name(), Some("oomer"));
        assert_eq!(last.id, OOMER_ID);
        assert!(events.windows(2).all(|w| w[0].time_nano <= w[1].time_nano));
    }

    #[test]
    fn a_404_becomes_an_error_with_the_status_and_the_engine_message() {
        let err = success(parse_response(RAW_404).unwrap(), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "docker engine: 404 Not Found: No such container: nosuch"
        );
        match err.downcast_ref::<DockerError>() {
            Some(DockerError::Api { status, .. }) => assert_eq!(*status, 404),
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[test]
    fn an_error_without_a_json_message_reports_its_body_text() {
        let response = parse_response(b"HTTP/1.1 500 Internal Server Error\r\n\r\nboom\n").unwrap();
        let err = success(response, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "docker engine: 500 Internal Server Error: boom"
        );
    }

    #[test]
    fn not_modified_is_success_only_where_asked_for() {
        let raw = b"HTTP/1.1 304 Not Modified\r\nDate: x\r\n\r\n";
        assert!(success(parse_response(raw).unwrap(), true).is_ok());
        assert!(success(parse_response(raw).unwrap(), false).is_err());
        let raw = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(success(parse_response(raw).unwrap(), true).unwrap(), b"");
    }

    #[test]
    fn chunks_with_extensions_odd_sizes_and_trailers_decode() {
        let body = decode_chunked(
            b"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n000;end\r\nExpires: never\r\n\r\n",
        )
        .unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(decode_chunked(b"0\r\n\r\n").unwrap(), b"");
    }

    #[test]
    fn an_event_split_across_chunks_reassembles() {
        let raw = b"HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\n\r\n\
            a\r\n{\"Action\":\r\n\
            1A\r\n\"oom\",\"Actor\":{\"ID\":\"c1\"},\r\n\
            15\r\n\"timeNano\":12345}\n{}\n\r\n\
            0\r\n\r\n";
        let response = parse_response(raw).unwrap();
        let events = events_from(&response.body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].action, "oom");
        assert_eq!(events[0].id, "c1");
        assert_eq!(events[0].time_nano, 12345);
        assert_eq!(events[1].action, "");
    }

    #[test]
    fn truncated_or_malformed_answers_are_errors() {
        assert!(decode_chunked(b"5\r\nabc").is_err());
        assert!(decode_chunked(b"3\r\nabc").is_err());
        assert!(decode_chunked(b"3\r\nabcXY0\r\n\r\n").is_err());
        assert!(decode_chunked(b"zz\r\nabc\r\n0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nno end of headers").is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn a_body_without_length_or_chunking_runs_to_the_end_of_the_stream() {
        let response =
            parse_response(b"HTTP/1.0 200 OK\r\nServer: x\r\nbogus line\r\n\r\n[1,2]\n").unwrap();
        assert_eq!(response.header("server"), Some("x"));
        assert_eq!(response.body, b"[1,2]\n");
    }

    #[test]
    fn requests_close_the_connection_and_posts_say_their_empty_length() {
        assert_eq!(
            request_head("GET", "/info"),
            "GET /info HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            request_head("POST", "/containers/x/start"),
            "POST /containers/x/start HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\
             Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn query_values_are_percent_encoded_except_unreserved_bytes() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            percent_encode(r#"{"label":["a=b c/é"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%20c%2F%C3%A9%22%5D%7D"
        );
    }

    #[test]
    fn the_compose_listing_filters_on_the_project_label() {
        assert_eq!(
            compose_containers_path("bench"),
            "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22com.docker.compose.project%3Dbench%22%5D%7D"
        );
    }

    #[test]
    fn the_events_query_carries_fractional_times_and_the_wanted_actions() {
        let since = UNIX_EPOCH + Duration::new(1_795_954_191, 5);
        let until = UNIX_EPOCH + Duration::new(1_795_954_200, 250_000_000);
        let path = events_path(since, until, &["oom", "die"]);
        assert_eq!(
            path,
            "/events?since=1795954191.000000005&until=1795954200.250000000&filters=\
             %7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22oom%22%2C%22die%22%5D%7D"
        );
        assert!(events_path(since, until, &[])
            .ends_with("filters=%7B%22type%22%3A%5B%22container%22%5D%7D"));
    }

    // --- JSON mapping --------------------------------------------------------------------------

    #[test]
    fn version_and_info_fixtures_map_to_the_engine_info() {
        let info = engine_info_from(VERSION.as_bytes(), INFO.as_bytes()).unwrap();
        assert_eq!(
            info,
            EngineInfo {
                server_version: "20.10.24+dfsg1".into(),
                api_version: "1.41".into(),
                cores: 2,
                memory_total_bytes: 25_325_268_992,
                operating_system: "Debian GNU/Linux 12 (bookworm)".into(),
                kernel_version: "6.18.44-fc-v657".into(),
                cgroup_version: Some("1".into()),
                cgroup_driver: "cgroupfs".into(),
            }
        );
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(serde_json::from_str::<EngineInfo>(&json).unwrap(), info);
    }

    #[test]
    fn an_old_engine_that_does_not_say_its_cgroup_version_gives_none() {
        let info = engine_info_from(
            br#"{"ApiVersion":"1.39"}"#,
            br#"{"ServerVersion":"18.09.1","NCPU":4,"CgroupDriver":null}"#,
        )
        .unwrap();
        assert_eq!(info.server_version, "18.09.1");
        assert_eq!(info.api_version, "1.39");
        assert_eq!(info.cores, 4);
        assert_eq!(info.memory_total_bytes, 0);
        assert_eq!(info.cgroup_version, None);
        assert_eq!(info.cgroup_driver, "");
    }

    #[test]
    fn the_one_shot_stats_fixture_maps_to_the_recorded_counters() {
        let stats = stats_from(STATS_ONESHOT.as_bytes()).unwrap();
        assert_eq!(
            stats,
            ContainerStats {
                read_at: Some("2026-11-29T12:09:46.431583216Z".parse().unwrap()),
                cpu_usage_ns: 1_608_097_604,
                system_cpu_ns: Some(503_480_000_000),
                online_cpus: Some(2),
                periods: 33,
                throttled_periods: 31,
                throttled_ns: 1_296_062_920,
                memory_usage_bytes: 475_136,
                memory_max_usage_bytes: Some(4_345_856),
                memory_limit_bytes: Some(104_857_600),
                inactive_file_bytes: Some(0),
            }
        );
        assert_eq!(stats.memory_working_set_bytes(), 475_136);
    }

    #[test]
    fn cgroup_v2_stats_without_max_usage_take_inactive_file() {
        let v2 = r#"{
            "read": "2025-03-01T10:00:00.5Z",
            "cpu_stats": {
                "cpu_usage": {"total_usage": 5000, "usage_in_kernelmode": 1, "usage_in_usermode": 2},
                "system_cpu_usage": 900000,
                "online_cpus": 8,
                "throttling_data": {"periods": 10, "throttled_periods": 4, "throttled_time": 777}
            },
            "memory_stats": {
                "usage": 3000000,
                "stats": {"anon": 1000000, "file": 2000000, "inactive_file": 1500000, "oom_kill": 0},
                "limit": 268435456
            }
        }"#;
        let stats = stats_from(v2.as_bytes()).unwrap();
        assert_eq!(stats.cpu_usage_ns, 5000);
        assert_eq!(stats.online_cpus, Some(8));
        assert_eq!(
            (stats.periods, stats.throttled_periods, stats.throttled_ns),
            (10, 4, 777)
        );
        assert_eq!(stats.memory_usage_bytes, 3_000_000);
        assert_eq!(stats.memory_max_usage_bytes, None);
        assert_eq!(stats.memory_limit_bytes, Some(268_435_456));
        assert_eq!(stats.inactive_file_bytes, Some(1_500_000));
        assert_eq!(stats.memory_working_set_bytes(), 1_500_000);
    }

    #[test]
    fn stats_of_a_stopped_container_with_empty_or_null_sections_are_zero() {
        for body in [
            "{}",
            r#"{"read":"0001-01-01T00:00:00Z","cpu_stats":{},"memory_stats":{}}"#,
            r#"{"cpu_stats":{"cpu_usage":null,"throttling_data":null},"memory_stats":{"stats":null}}"#,
        ] {
            let stats = stats_from(body.as_bytes()).unwrap();
            assert_eq!(stats.read_at, None);
            assert_eq!(stats.cpu_usage_ns, 0);
            assert_eq!(stats.system_cpu_ns, None);
            assert_eq!(stats.periods, 0);
            assert_eq!(stats.memory_usage_bytes, 0);
            assert_eq!(stats.memory_limit_bytes, None);
            assert_eq!(stats.inactive_file_bytes, None);
            assert_eq!(stats.memory_working_set_bytes(), 0);
        }
        assert!(stats_from(b"not json").is_err());
    }

    #[test]
    fn the_running_inspect_fixture_gives_half_a_core_and_100_mb() {
        let state = state_from(INSPECT_RUNNING.as_bytes()).unwrap();
        assert_eq!(state.id, RUNNING_ID);
        assert_eq!(state.name, "apisample");
        assert_eq!(state.status, "running");
        assert!(state.running);
        assert_eq!(state.pid, Some(17752));
        assert!(!state.oom_killed);
        assert_eq!(state.restart_count, 0);
        assert_eq!(state.started_at, "2026-11-29T12:09:43.335256907Z");
        assert_eq!(state.exit_code, 0);
        assert_eq!(state.cpu_limit_cores, Some(0.5));
        assert_eq!(state.memory_limit_bytes, Some(104_857_600));
        assert!(state.labels.is_empty());
        assert!(state.env.is_empty());
        assert_eq!(state.project(), None);
    }

    #[test]
    fn the_oom_killed_inspect_fixture_reports_the_kill_and_exit_137() {
        let state = state_from(INSPECT_OOMKILLED.as_bytes()).unwrap();
        assert_eq!(state.id, OOMER_ID);
        assert_eq!(state.name, "oomer");
        assert_eq!(state.status, "exited");
        assert!(!state.running);
        assert_eq!(state.pid, None);
        assert!(state.oom_killed);
        assert_eq!(state.exit_code, 137);
        assert_eq!(state.cpu_limit_cores, None);
        assert_eq!(state.memory_limit_bytes, Some(20_971_520));
    }

    #[test]
    fn a_cfs_quota_without_nano_cpus_gives_quota_over_period() {
        let inspect = |host: &str| {
            state_from(format!(r#"{{"HostConfig":{host}}}"#).as_bytes())
                .unwrap()
                .cpu_limit_cores
        };
        assert_eq!(
            inspect(r#"{"NanoCpus":0,"CpuQuota":150000,"CpuPeriod":100000}"#),
            Some(1.5)
        );
        assert_eq!(
            inspect(r#"{"CpuQuota":25000,"CpuPeriod":50000}"#),
            Some(0.5)
        );
        // No period: the kernel's default 100 ms applies.
        assert_eq!(inspect(r#"{"CpuQuota":50000,"CpuPeriod":0}"#), Some(0.5));
        assert_eq!(inspect(r#"{"CpuQuota":-1,"CpuPeriod":100000}"#), None);
        assert_eq!(
            inspect(r#"{"NanoCpus":2000000000,"CpuQuota":1}"#),
            Some(2.0)
        );
        assert_eq!(inspect("null"), None);
    }

    #[test]
    fn compose_labels_and_env_of_an_inspected_container_are_read_and_env_is_never_serialized() {
        let body = r#"{"Id":"abc","Name":"/bench-api-1","State":{"Pid":0,"Running":false},
            "HostConfig":{"Memory":0},
            "Config":{"Labels":{"com.docker.compose.project":"bench","com.docker.compose.service":"api"},
                      "Env":["DATABASE_URL=postgres://u:secret@db/app","PATH=/bin"]}}"#;
        let state = state_from(body.as_bytes()).unwrap();
        assert_eq!(state.name, "bench-api-1");
        assert_eq!(state.project(), Some("bench"));
        assert_eq!(state.service(), Some("api"));
        assert_eq!(state.memory_limit_bytes, None);
        assert_eq!(state.pid, None);
        assert_eq!(
            state.env,
            ["DATABASE_URL=postgres://u:secret@db/app", "PATH=/bin"]
        );
        let json = serde_json::to_string(&state).unwrap();
        assert!(!json.contains("secret"), "{json}");
        let bare = state_from(br#"{"Config":{"Labels":null},"State":null}"#).unwrap();
        assert!(bare.labels.is_empty());
        assert!(bare.env.is_empty());
        assert_eq!(bare.started_at, "");
    }

    #[test]
    fn the_events_fixture_yields_start_oom_die_in_order() {
        let events = events_from(EVENTS.as_bytes()).unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["start", "oom", "die"]);
        assert!(events.iter().all(|e| e.id == OOMER_ID));
        assert!(events.iter().all(|e| e.name() == Some("oomer")));
        assert_eq!(events[0].time_nano, 1_795_954_191_175_516_123);
        assert_eq!(events[1].time_nano, 1_795_954_191_275_877_116);
        assert_eq!(events[2].time_nano, 1_795_954_191_306_402_123);
        assert_eq!(events[2].exit_code(), Some(137));
        assert_eq!(events[2].attributes["image"], "debian:bookworm-slim");
        assert_eq!(events[0].exit_code(), None);
        assert!(events_from(b"").unwrap().is_empty());
    }

    #[test]
    fn an_event_without_time_nano_falls_back_to_seconds() {
        let events = events_from(br#"{"status":"die","id":"x","time":2}"#).unwrap();
        assert_eq!(events[0].action, "die");
        assert_eq!(events[0].id, "x");
        assert_eq!(events[0].time_nano, 2_000_000_000);
        assert!(events[0].attributes.is_empty());
    }

    #[test]
    fn a_container_listing_maps_names_services_states_and_labels() {
        let body = r#"[
            {"Id":"a1","Names":["/bench-api-1"],"State":"running","Status":"Up 4 seconds",
             "Labels":{"com.docker.compose.project":"bench","com.docker.compose.service":"api"}},
            {"Id":"d2","Names":["/bench-db-1"],"State":"exited",
             "Labels":{"com.docker.compose.project":"bench","com.docker.compose.service":"db"}},
            {"Id":"x3","Names":null,"Labels":null}
        ]"#;
        let containers = containers_from(body.as_bytes()).unwrap();
        assert_eq!(containers.len(), 3);
        assert_eq!(containers[0].id, "a1");
        assert_eq!(containers[0].name, "bench-api-1");
        assert_eq!(containers[0].service.as_deref(), Some("api"));
        assert_eq!(containers[0].state, "running");
        assert_eq!(containers[0].labels[PROJECT_LABEL], "bench");
        assert_eq!(containers[1].service.as_deref(), Some("db"));
        assert_eq!(containers[1].state, "exited");
        assert_eq!(containers[2].name, "");
        assert_eq!(containers[2].service, None);
        assert!(containers_from(b"[]").unwrap().is_empty());
        assert!(containers_from(b"null").unwrap().is_empty());
    }

    // --- DOCKER_HOST ---------------------------------------------------------------------------

    #[test]
    fn an_unset_or_empty_docker_host_means_the_default_socket() {
        for value in [None, Some(""), Some("  ")] {
            assert_eq!(
                socket_from_docker_host(value).unwrap(),
                PathBuf::from("/var/run/docker.sock")
            );
        }
    }

    #[test]
    fn a_unix_docker_host_gives_its_socket_path() {
        assert_eq!(
            socket_from_docker_host(Some("unix:///run/user/1000/docker.sock")).unwrap(),
            PathBuf::from("/run/user/1000/docker.sock")
        );
        assert!(socket_from_docker_host(Some("unix://")).is_err());
    }

    #[test]
    fn a_tcp_or_ssh_docker_host_is_refused_with_a_hint_about_the_unix_socket() {
        for value in [
            "tcp://127.0.0.1:2375",
            "ssh://me@box",
            "npipe:////./pipe/docker",
        ] {
            let err = socket_from_docker_host(Some(value))
                .unwrap_err()
                .to_string();
            assert!(err.contains(value), "{err}");
            assert!(err.contains("lab needs the engine's unix socket"), "{err}");
        }
    }

    // --- Over a socket ------------------------------------------------------------------------

    /// A fake engine: answers each connection with the next canned answer and hands back the
    /// request heads it received.
    fn fake_engine(answers: Vec<Vec<u8>>) -> (tempfile::TempDir, PathBuf, JoinHandle<Vec<String>>) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while find(&head, b"\r\n\r\n").is_none() {
                    let n = stream.read(&mut buf).unwrap();
                    assert!(n > 0, "client closed before finishing its request");
                    head.extend_from_slice(&buf[..n]);
                }
                requests.push(String::from_utf8(head).unwrap());
                stream.write_all(&answer).unwrap();
            }
            requests
        });
        (dir, socket, server)
    }

    #[test]
    fn a_fake_engine_round_trip_sends_the_request_and_parses_the_answer() {
        let (_dir, socket, server) = fake_engine(vec![
            RAW_INSPECT.to_vec(),
            RAW_404.to_vec(),
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec(),
            b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n".to_vec(),
        ]);
        let engine = Engine::at(&socket).with_timeout(Duration::from_secs(5));
        assert_eq!(engine.socket(), socket.as_path());

        let state = engine.inspect(RUNNING_ID).unwrap();
        assert_eq!(state.name, "apisample");
        assert_eq!(state.cpu_limit_cores, Some(0.5));

        let err = engine.inspect("nosuch").unwrap_err();
        assert_eq!(
            err.to_string(),
            "docker engine: 404 Not Found: No such container: nosuch"
        );

        engine.kill(RUNNING_ID, "KILL").unwrap();
        engine.start(RUNNING_ID).unwrap();

        let requests = server.join().unwrap();
        assert_eq!(
            requests[0],
            format!(
                "GET /containers/{RUNNING_ID}/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
            )
        );
        assert!(requests[1].starts_with("GET /containers/nosuch/json HTTP/1.1\r\n"));
        assert!(requests[2].starts_with(&format!(
            "POST /containers/{RUNNING_ID}/kill?signal=KILL HTTP/1.1\r\n"
        )));
        assert!(requests[2].contains("\r\nContent-Length: 0\r\n"));
        assert!(
            requests[3].starts_with(&format!("POST /containers/{RUNNING_ID}/start HTTP/1.1\r\n"))
        );
    }

    #[test]
    fn a_missing_socket_says_the_engine_is_unreachable_and_how_to_mount_it() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("nothing-here.sock");
        let err = Engine::at(&socket).info().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("docker engine is not reachable at"), "{text}");
        assert!(text.contains(&socket.display().to_string()), "{text}");
        assert!(text.contains("/var/run/docker.sock"), "{text}");
        assert!(text.contains("mounted"), "{text}");
        assert!(matches!(
            err.downcast_ref::<DockerError>(),
            Some(DockerError::Unreachable { .. })
        ));
    }
}
