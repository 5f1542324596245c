//! A fault run's plan: which fault, on which stack, under how much load, checked before a
//! stack starts (db-outage and db-kill need a database server, compose needs one too).

use std::path::PathBuf;

use anyhow::bail;
use clap::ValueEnum;

use super::driver::DriverKind;
use crate::profile::Profile;
use contract::{DbKind, RuntimeKind};

/// A fault scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL one replica under a read load: availability >= 99.9%, back within 5 s.
    ReplicaLoss,
    /// Stop the database under a mixed load: no crash, fast 503s, /ready 503, back within 5 s.
    DbOutage,
    /// Push one capped replica past its memory cap: OOM-killed, restarted, reads keep serving.
    Oom,
    /// 2,000 users against the tight profile: degrades, recovers within 10 s, memory under caps.
    Overload,
    /// SIGKILL every database process during a burst of orders: every 201 order exists
    /// afterwards, none answered otherwise does, stock matches, back within 30 s.
    DbKill,
    /// Hundreds of clients trickling headers or bodies or idling, beside normal users: the
    /// normal users keep their availability and p99; nginx cuts what its timeouts promise.
    SlowClients,
}

impl FaultKind {
    /// Its name on the command line and in folder names.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ReplicaLoss => "replica-loss",
            FaultKind::DbOutage => "db-outage",
            FaultKind::Oom => "oom",
            FaultKind::Overload => "overload",
            FaultKind::DbKill => "db-kill",
            FaultKind::SlowClients => "slow-clients",
        }
    }

    /// Users of its load when none are asked for.
    fn default_users(self) -> u32 {
        match self {
            FaultKind::ReplicaLoss | FaultKind::DbOutage => 100,
            FaultKind::Oom | FaultKind::DbKill => 50,
            FaultKind::SlowClients => 20,
            FaultKind::Overload => 2000,
        }
    }

    /// It opens more connections than the default descriptor limit allows.
    pub fn needs_many_descriptors(self) -> bool {
        matches!(self, FaultKind::Overload | FaultKind::SlowClients)
    }
}

/// db-outage's load before the database stops, seconds.
pub const OUTAGE_BEFORE_SECS: u64 = 5;

/// A validated fault run.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub kind: FaultKind,
    pub profile: Profile,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub users: u32,
    /// Seconds of the load step.
    pub step_secs: u64,
    /// db-outage: seconds the database stays stopped.
    pub outage_secs: u64,
    /// slow-clients: how many.
    pub slow_clients: usize,
    /// overload: the p99 a probe round must be back under, ms.
    pub recovery_p99_ms: f64,
    /// The load driver.
    pub driver: DriverKind,
    pub results: PathBuf,
    pub state_dir: PathBuf,
}

/// What a fault run is asked for, before it is checked.
#[derive(Debug, Clone)]
pub struct FaultRequest {
    pub kind: FaultKind,
    pub profile: String,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub users: Option<u32>,
    pub step_secs: Option<u64>,
    pub outage_secs: u64,
    pub slow_clients: usize,
    pub recovery_p99_ms: f64,
    pub driver: DriverKind,
    pub results: PathBuf,
    pub state_dir: PathBuf,
}

impl FaultPlan {
    pub fn new(r: FaultRequest) -> anyhow::Result<Self> {
        let name = r.kind.name();
        let needs_server = matches!(r.kind, FaultKind::DbOutage | FaultKind::DbKill);
        if needs_server && r.db == DbKind::Sqlite {
            bail!("{name} stops a database server: use --db postgres or --db mysql (SQLite is a file inside the replicas)");
        }
        if r.runtime == RuntimeKind::Compose && r.db == DbKind::Sqlite {
            bail!("the compose stack runs Postgres or MySQL: use --db postgres or --db mysql");
        }
        let users = r.users.unwrap_or(r.kind.default_users());
        let step_secs = r.step_secs.unwrap_or(match r.kind {
            FaultKind::DbOutage => OUTAGE_BEFORE_SECS + r.outage_secs + 10,
            _ => 20,
        });
        if users == 0 || step_secs == 0 {
            bail!("--users and --step-secs must be at least 1");
        }
        Ok(Self {
            kind: r.kind,
            profile: Profile::load(&r.profile)?,
            db: r.db,
            runtime: r.runtime,
            users,
            step_secs,
            outage_secs: r.outage_secs,
            slow_clients: r.slow_clients,
            recovery_p99_ms: r.recovery_p99_ms,
            driver: r.driver,
            results: r.results,
            state_dir: r.state_dir,
        })
    }
}
