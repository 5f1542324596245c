//! What a stack is: its record (`stack.json`, read by every command and by the native
//! supervisor), its services, their cgroups, and what starting one needs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client_path::ClientPath;
use crate::config::{Ports, SeedPlan};
use crate::profile::Profile;
use contract::{DbKind, RuntimeKind, StackState};

/// The stack described by `<state_dir>/stack.json`, whatever runtime started it.
pub fn load_info(state_dir: &Path) -> anyhow::Result<Option<StackInfo>> {
    let path = state_dir.join(STACK_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("{} is not a valid stack description: {e}", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Writes `stack.json` atomically (write to a temporary file, then rename), so a reader never
/// sees half a file while the supervisor updates it.
pub fn save_info(state_dir: &Path, info: &StackInfo) -> anyhow::Result<()> {
    let path = state_dir.join(STACK_FILE);
    let tmp = state_dir.join(format!("{STACK_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(info)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// File name of the stack description in the state dir.
pub const STACK_FILE: &str = "stack.json";

/// What `up` needs to know.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Drop the stack's data when it stops (compose: `down -v`): a fault run's database
    /// leaves nothing behind.
    pub discard_data: bool,
    pub profile: Profile,
    pub db: DbKind,
    /// Folder for this stack's state: PIDs, cgroup names, rendered configs, logs, data.
    pub state_dir: PathBuf,
    /// Native: the ports (under compose, `http` is where nginx is published).
    pub ports: Ports,
    /// Native: what the seed job loads (compose's seed job reads its own variables).
    pub seed: SeedPlan,
    /// Native: variables given to the replicas on top of the profile's.
    pub app_env: Vec<(String, String)>,
}

/// A running stack, as `lab bench` needs to see it. Also written as `stack.json` in the state dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackInfo {
    /// Profile name the stack runs under.
    pub profile: String,
    /// The profile's env file, as started (a profile given by path, e.g. a `lab tune`
    /// candidate, is not found again by its name). None in stacks recorded before it was.
    #[serde(default)]
    pub profile_path: Option<PathBuf>,
    pub db: DbKind,
    /// Base URL of nginx lab's client uses, e.g. `http://127.0.0.1:8080` (native) or nginx's
    /// address on the stack's network (compose from a Linux host: `client_path`).
    pub base_url: String,
    /// Which way that URL goes; None in stacks recorded before lab said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_path: Option<ClientPath>,
    /// Compose: where nginx is published on the host (for people and their tools); None natively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_url: Option<String>,
    /// nginx's JSON access log (one JSON object per line; see nginx.conf's `log_format lab`).
    pub access_log: PathBuf,
    /// False when cgroups could not be written and the run is uncapped.
    pub capped: bool,
    pub services: Vec<ServiceInfo>,
    /// Which runtime started the stack (so `down`/`status` need no flag).
    #[serde(default = "default_runtime")]
    pub runtime: RuntimeKind,
    /// Native: the supervisor's PID (it restarts dead services); None under compose.
    #[serde(default)]
    pub supervisor_pid: Option<u32>,
    /// Where the stack is in its life (compose stacks are recorded once ready).
    #[serde(default)]
    pub state: StackState,
    /// Why start-up failed, when `state` is `failed`.
    #[serde(default)]
    pub error: Option<String>,
    /// Native: restarts and exits, one JSON object per line.
    #[serde(default)]
    pub events_log: Option<PathBuf>,
    /// Loud warnings from start-up (e.g. a service runs uncapped and why).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl StackInfo {
    /// The record of a stack `opts` is starting under `runtime`: nothing found yet.
    pub fn starting(opts: &UpOptions, runtime: RuntimeKind) -> Self {
        Self {
            profile: opts.profile.name.clone(),
            profile_path: Some(opts.profile.path.clone()),
            db: opts.db,
            base_url: String::new(),
            access_log: PathBuf::new(),
            capped: true,
            services: Vec::new(),
            runtime,
            supervisor_pid: None,
            state: StackState::Starting,
            error: None,
            events_log: None,
            warnings: Vec::new(),
            client_path: (runtime == RuntimeKind::Native).then_some(ClientPath::Loopback),
            published_url: None,
        }
    }
}

fn default_runtime() -> RuntimeKind {
    RuntimeKind::Native
}

/// One service of the stack (a replica, nginx, the database).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// `app1`, `app2`, `nginx`, `db`.
    pub name: String,
    /// Main PID (native runtime); None under compose or when stopped.
    pub pid: Option<u32>,
    /// CPU cap in CPUs (e.g. 0.3), None when uncapped.
    pub cpu_limit: Option<f64>,
    /// The CFS period that cap is enforced over, in µs; None when uncapped.
    #[serde(default)]
    pub cpu_period_us: Option<u64>,
    /// Memory cap in bytes, None when uncapped.
    pub memory_limit_bytes: Option<u64>,
    /// Where its cgroup's counters are read.
    pub cgroup: Option<CgroupPaths>,
    /// Times the supervisor restarted it after it died.
    #[serde(default)]
    pub restarts: u32,
    /// How many of those deaths were OOM kills (the cgroup's oom_kill counter rose).
    #[serde(default)]
    pub oom_kills: u32,
    /// Address it listens on (`127.0.0.1:18081`), when it has one.
    #[serde(default)]
    pub addr: Option<String>,
    /// Kernel start time of `pid` (clock ticks since boot): tells it apart from a later
    /// process that reuses the PID, so `lab down` never signals a stranger.
    #[serde(default)]
    pub start_time: Option<u64>,
    /// Compose: the container's ID, read through the Docker Engine API; None natively, or
    /// when the engine cannot be reached (the service is then not measured).
    #[serde(default)]
    pub container: Option<String>,
    /// Compose: the engine's socket the container is read through.
    #[serde(default)]
    pub engine_socket: Option<PathBuf>,
}

impl ServiceInfo {
    /// A service known by its caps only: not started, not found yet.
    pub fn capped(name: &str, cap: contract::profile::Cap) -> Self {
        Self {
            name: name.to_owned(),
            pid: None,
            cpu_limit: Some(cap.cpus),
            cpu_period_us: Some(cap.cpu_period_us),
            memory_limit_bytes: Some(cap.memory_bytes),
            cgroup: None,
            restarts: 0,
            oom_kills: 0,
            addr: None,
            start_time: None,
            container: None,
            engine_socket: None,
        }
    }
}

/// Directories of a service's cgroup, per hierarchy version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum CgroupPaths {
    /// cgroup v1: one directory per controller.
    V1 {
        cpu: PathBuf,
        cpuacct: PathBuf,
        memory: PathBuf,
    },
    /// cgroup v2: one unified directory.
    V2 { dir: PathBuf },
}
