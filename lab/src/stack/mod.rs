//! The stack behind one trait: the native runtime (local processes under cgroup caps) and the
//! compose runtime (`docker compose` with the profile's env file). `lab bench` only sees this.

use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::cli::{DbKind, RuntimeKind};
use crate::profile::Profile;

/// What `up` needs to know.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub profile: Profile,
    pub db: DbKind,
    /// Folder for this stack's state: PIDs, cgroup names, rendered configs, logs, data.
    pub state_dir: PathBuf,
}

/// A running stack, as `lab bench` needs to see it. Also written as `stack.json` in the state dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackInfo {
    /// Profile name the stack runs under.
    pub profile: String,
    pub db: DbKind,
    /// Base URL of nginx, e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// nginx's JSON access log (one JSON object per line; see nginx.conf's `log_format lab`).
    pub access_log: PathBuf,
    /// False when cgroups could not be written and the run is uncapped.
    pub capped: bool,
    pub services: Vec<ServiceInfo>,
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
    /// Memory cap in bytes, None when uncapped.
    pub memory_limit_bytes: Option<u64>,
    /// Where its cgroup's counters are read.
    pub cgroup: Option<CgroupPaths>,
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

/// A way to run the stack.
pub trait Runtime {
    /// Starts everything and returns once nginx answers and every replica is ready.
    fn up(&self, opts: &UpOptions) -> anyhow::Result<StackInfo>;
    /// The stack as it runs now (fresh PIDs after restarts).
    fn status(&self, state_dir: &std::path::Path) -> anyhow::Result<StackInfo>;
    /// Stops exactly what `up` started and removes its cgroups.
    fn down(&self, state_dir: &std::path::Path) -> anyhow::Result<()>;
}

/// The runtime of a kind.
///
/// Placeholder until the stack work (issue 4) lands its native and compose runtimes: every
/// call fails with a message saying so, and `lab bench --attach` works meanwhile.
pub fn runtime(kind: RuntimeKind) -> Box<dyn Runtime> {
    Box::new(Unavailable(kind))
}

struct Unavailable(RuntimeKind);

impl Unavailable {
    fn fail<T>(&self) -> anyhow::Result<T> {
        anyhow::bail!(
            "the {:?} runtime is not built yet; bench a running stack with `lab bench --attach`",
            self.0
        )
    }
}

impl Runtime for Unavailable {
    fn up(&self, opts: &UpOptions) -> anyhow::Result<StackInfo> {
        self.fail().with_context(|| {
            format!(
                "cannot start profile {} on {:?} in {}",
                opts.profile.name,
                opts.db,
                opts.state_dir.display()
            )
        })
    }

    fn status(&self, _state_dir: &std::path::Path) -> anyhow::Result<StackInfo> {
        self.fail()
    }

    fn down(&self, _state_dir: &std::path::Path) -> anyhow::Result<()> {
        self.fail()
    }
}
