//! Fault scenarios (`lab fault <scenario>`): break one thing on purpose while siege loads the
//! native stack, then judge what the stack did from nginx's access log, the supervisor's
//! `stack.json`/`events.jsonl`, cgroup counters and lab's own HTTP probes; after every
//! scenario, check through the HTTP API that no order was lost, doubled or invented and that
//! stock adds up (see [`orders`]).
//!
//! Each scenario module exposes `run(&Fault) -> FaultReport`; this module holds what they
//! share: the stack they run on ([`FaultStack`]), the measured step ([`Fault::start_step`],
//! the runner `bench` uses too), probes, and the report with its checks.

pub mod db_kill;
pub mod db_outage;
pub mod oom;
pub mod orders;
pub mod overload;
pub mod replica_loss;
pub mod report;
pub mod slow_clients;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::Serialize;

use crate::config::{LabConfig, Ports, SeedPlan, DEFAULT_FAULT_ACQUIRE_TIMEOUT_MS};
use crate::load::http;
use crate::load::siege::SiegeCommand;
use crate::load::step::{Measured, StepRunner};
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::profile::Profile;
use crate::results::{NginxStats, ServiceUsage, SiegeSummary};
use crate::stack::{self, StackInfo, UpOptions};
use contract::{DbKind, RuntimeKind};

/// Availability and percentiles are the lab's one definition and one method, as in `bench`.
pub use crate::load::access_log::availability_percent;
pub use crate::load::latency::quantile;
pub use report::{Check, FaultReport};

/// Seed sizes of a fault stack: small, so the invariant check reads everything in seconds.
pub const SEED: SeedPlan = SeedPlan {
    customers: 200,
    disks: 500,
    stock: 100_000,
};
pub const SEED_CUSTOMERS: u64 = SEED.customers;
pub const SEED_DISKS: u64 = SEED.disks;
pub const SEED_STOCK: u64 = SEED.stock;
/// The last customers of the seed belong to lab's order writer: siege's URL files are
/// generated for the others, so every order of these customers is one lab placed itself.
pub const WRITER_CUSTOMERS: u64 = 20;

/// Everything a scenario needs: the running stack and where its files go.
pub struct Fault {
    pub config: LabConfig,
    pub runtime: RuntimeKind,
    /// When the scenario started (the window of the engine's events).
    pub started: SystemTime,
    pub stack: StackInfo,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub rc: PathBuf,
    pub profile: Profile,
    pub db: DbKind,
    /// Siege users of the step.
    pub users: u32,
    /// Seconds of the step (the outage's share for db-outage is separate).
    pub step_secs: u64,
    /// db-outage: seconds the database stays stopped.
    pub outage_secs: u64,
    /// slow-clients: how many slow clients.
    pub slow_clients: usize,
    /// overload: p99 a probe round must be back under, ms.
    pub recovery_p99_ms: f64,
    pub acquire_timeout_ms: u64,
    pub stress_token: Option<String>,
}

impl Fault {
    /// A siege URL file for a built-in scenario, for the customers siege may use (the
    /// writer's range left out), written into the run folder and validated.
    pub fn urls_file(&self, scenario: Scenario) -> anyhow::Result<PathBuf> {
        let sizes = SeedSizes {
            customers: SEED_CUSTOMERS - WRITER_CUSTOMERS,
            disks: SEED_DISKS,
        };
        let text = urls::generate(scenario, sizes, &self.stack.base_url)?;
        let path = self.run_dir.join(format!("urls-{}.txt", scenario.name()));
        std::fs::write(&path, text)?;
        urls::validate(&path)?;
        Ok(path)
    }

    /// The stack as its runtime sees it now (restarts, OOM kills, fresh PIDs): the native
    /// supervisor's `stack.json`, or the engine's containers with the `oom` events seen since
    /// the scenario started.
    pub fn status(&self) -> anyhow::Result<StackInfo> {
        let mut info = stack::runtime(self.runtime, &self.config).status(&self.state_dir)?;
        if self.runtime == RuntimeKind::Compose {
            let engine = self.config.engine()?;
            let ooms = engine.events(self.started, SystemTime::now(), &["oom"])?;
            for service in &mut info.services {
                if let Some(id) = &service.container {
                    service.oom_kills = ooms.iter().filter(|e| &e.id == id).count() as u32;
                }
            }
        }
        Ok(info)
    }

    /// SIGKILLs a service's main process; its runtime (the native supervisor, the engine's
    /// restart policy) must bring it back. Under compose the container's main process is
    /// killed from the host, as a crash would: `docker kill` counts as a manual stop, after
    /// which the engine restarts nothing. Returns the PID killed.
    pub fn kill(&self, name: &str) -> anyhow::Result<u32> {
        match self.runtime {
            RuntimeKind::Native => {
                stack::native::signal_service(&self.state_dir, name, libc::SIGKILL)
            }
            RuntimeKind::Compose => {
                let pid = self
                    .service(name)?
                    .pid
                    .with_context(|| format!("{name} is not running"))?;
                // SAFETY: a plain kill(2) of the PID the engine reports for the container.
                if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } != 0 {
                    anyhow::bail!(
                        "cannot SIGKILL {name}'s process {pid} ({}): lab fault --runtime compose runs on the engine's host, as root",
                        std::io::Error::last_os_error()
                    );
                }
                Ok(pid)
            }
        }
    }

    /// SIGKILLs every process of a service at once, as a crash or an OOM kill of its
    /// container would (native: its process group; compose: the container's main process,
    /// whose death ends every process in the container). Returns the main PID.
    pub fn crash(&self, name: &str) -> anyhow::Result<u32> {
        match self.runtime {
            RuntimeKind::Native => stack::native::kill_service_group(&self.state_dir, name),
            RuntimeKind::Compose => self.kill(name),
        }
    }

    /// Stops a service on purpose and keeps it stopped (its clean-stop signal first).
    pub fn stop(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        match self.runtime {
            RuntimeKind::Native => stack::native::stop_service(&self.state_dir, name, timeout),
            RuntimeKind::Compose => {
                let id = self.container(name)?;
                self.config.engine()?.stop(&id, timeout.as_secs() as u32)
            }
        }
    }

    /// Starts a service stopped by [`Fault::stop`]; returns its new main PID.
    pub fn start(&self, name: &str, timeout: Duration) -> anyhow::Result<u32> {
        match self.runtime {
            RuntimeKind::Native => stack::native::start_service(&self.state_dir, name, timeout),
            RuntimeKind::Compose => {
                let id = self.container(name)?;
                let engine = self.config.engine()?;
                engine.start(&id)?;
                let deadline = std::time::Instant::now() + timeout;
                loop {
                    let state = engine.inspect(&id)?;
                    if let Some(pid) = state.pid.filter(|_| state.running) {
                        return Ok(pid);
                    }
                    if std::time::Instant::now() >= deadline {
                        anyhow::bail!(
                            "{name} was not running again within {} s",
                            timeout.as_secs()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn container(&self, name: &str) -> anyhow::Result<String> {
        self.service(name)?
            .container
            .with_context(|| format!("{name} has no container (is the engine reachable?)"))
    }

    pub fn service(&self, name: &str) -> anyhow::Result<stack::ServiceInfo> {
        self.status()?
            .services
            .into_iter()
            .find(|s| s.name == name)
            .with_context(|| format!("the stack has no service {name}"))
    }

    /// What the runtime recorded since the scenario started: the native supervisor's
    /// `events.jsonl` lines (restarts, exits, OOM kills), or the engine's container events
    /// (die, oom, restart, start, stop, kill) as JSON lines.
    pub fn events(&self) -> Vec<String> {
        match self.runtime {
            RuntimeKind::Native => std::fs::read_to_string(self.state_dir.join("events.jsonl"))
                .map(|text| text.lines().map(str::to_owned).collect())
                .unwrap_or_default(),
            RuntimeKind::Compose => {
                let project = self.status().ok().map(|info| {
                    info.services
                        .iter()
                        .filter_map(|s| s.container.clone())
                        .collect::<Vec<_>>()
                });
                let actions = ["die", "oom", "restart", "start", "stop", "kill"];
                match self
                    .config
                    .engine()
                    .and_then(|e| e.events(self.started, SystemTime::now(), &actions))
                {
                    Ok(events) => events
                        .into_iter()
                        .filter(|e| project.as_ref().is_none_or(|ids| ids.contains(&e.id)))
                        .map(|e| {
                            serde_json::json!({
                                "time": e.time_nano as f64 / 1e9,
                                "action": e.action,
                                "service": e.service(),
                                "container": e.id,
                                "exit_code": e.exit_code(),
                            })
                            .to_string()
                        })
                        .collect(),
                    Err(err) => vec![format!("engine events unavailable: {err:#}")],
                }
            }
        }
    }

    pub fn get(&self, path: &str, timeout: Duration) -> Probe {
        probe(&self.stack.base_url, path, timeout)
    }

    /// Starts one measured step on the fault's stack: the same runner `lab bench` uses.
    pub fn start_step(
        &self,
        urls_file: &Path,
        users: u32,
        secs: u64,
    ) -> anyhow::Result<StepRunner> {
        StepRunner::start(
            &self.stack,
            &SiegeCommand {
                bin: self.config.siege_bin(),
                rc: self.rc.clone(),
                urls: urls_file.to_path_buf(),
                users,
                secs,
            },
        )
    }
}

/// One probe request's answer (status 0: no answer) and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub status: u16,
    pub ms: f64,
    pub body: String,
}

pub fn probe(base_url: &str, path: &str, timeout: Duration) -> Probe {
    let started = Instant::now();
    let (status, body) = match http::request(base_url, "GET", path, &[], None, timeout) {
        Ok(response) => (response.status, response.body),
        Err(err) => (0, format!("{err:#}")),
    };
    Probe {
        status,
        ms: started.elapsed().as_secs_f64() * 1000.0,
        body,
    }
}

/// Seconds since the epoch, as nginx's `msec`.
pub fn epoch_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A stack started for one fault run, with its own state folder and ports (native) or its
/// own compose project, port and log folder (compose); stopped when dropped, whatever
/// happened (compose: with its volumes).
pub struct FaultStack {
    pub state_dir: PathBuf,
    pub info: StackInfo,
    /// The settings the stack runs under (compose: its own project and log folder).
    pub config: LabConfig,
    pub runtime: RuntimeKind,
}

/// The compose project of a fault stack, unless COMPOSE_PROJECT_NAME names another.
pub const COMPOSE_PROJECT: &str = "labfault";

impl FaultStack {
    /// Starts the stack: the fault seed sizes, the fault ports (unless lab's settings move
    /// them) and the fault acquire timeout for the replicas, all given to the runtime
    /// (lab's own environment is left as it is).
    pub fn up(
        config: &LabConfig,
        runtime: RuntimeKind,
        profile: &Profile,
        db: DbKind,
        state_dir: &Path,
        stress_token: Option<&str>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let state_dir = std::fs::canonicalize(state_dir)?;
        let mut config = config.clone();
        if runtime == RuntimeKind::Compose {
            let logs = state_dir.join("logs");
            std::fs::create_dir_all(&logs)?;
            config
                .compose_project
                .get_or_insert_with(|| COMPOSE_PROJECT.to_owned());
            config.log_dir = Some(logs);
        }
        let info = stack::runtime(runtime, &config).up(&UpOptions {
            profile: profile.clone(),
            db,
            state_dir: state_dir.clone(),
            ports: config.ports(Ports::FAULT),
            seed: SEED,
            app_env: [
                Some((
                    contract::env::DB_ACQUIRE_TIMEOUT_MS.to_owned(),
                    acquire_timeout_ms(&config).to_string(),
                )),
                stress_token.map(|t| (contract::env::STRESS_TOKEN.to_owned(), t.to_owned())),
            ]
            .into_iter()
            .flatten()
            .collect(),
        })?;
        if !info.capped {
            eprintln!(
                "lab fault: WARNING: the stack runs UNCAPPED (no writable cgroups: run as root); OOM and memory checks cannot hold"
            );
        }
        Ok(Self {
            state_dir,
            info,
            config,
            runtime,
        })
    }
}

impl Drop for FaultStack {
    fn drop(&mut self) {
        let stopped = match self.runtime {
            RuntimeKind::Native => stack::runtime(self.runtime, &self.config).down(&self.state_dir),
            RuntimeKind::Compose => stack::compose::ComposeRuntime {
                config: self.config.clone(),
            }
            .down_with_volumes(&self.state_dir),
        };
        if let Err(err) = stopped {
            eprintln!("lab fault: warning: stopping the stack failed: {err:#}");
        }
    }
}

/// The acquire timeout the replicas of a fault stack run with.
pub fn acquire_timeout_ms(config: &LabConfig) -> u64 {
    config
        .db_acquire_timeout_ms
        .unwrap_or(DEFAULT_FAULT_ACQUIRE_TIMEOUT_MS)
}

/// The step's figures as the report keeps them.
#[derive(Debug, Clone, Serialize)]
pub struct StepFigures {
    pub users: u32,
    pub load_secs: f64,
    pub siege: Option<SiegeSummary>,
    pub siege_hung: bool,
    /// siege's exit status (None when a signal ended it).
    pub siege_exit_code: Option<i32>,
    pub siege_cpu_cores: f64,
    pub siege_stderr_tail: String,
    pub nginx: NginxStats,
    pub services: Vec<ServiceUsage>,
}

impl StepFigures {
    pub fn of(result: &Measured, users: u32) -> Self {
        Self {
            users,
            load_secs: result.load_secs,
            siege: result.siege.summary.clone(),
            siege_hung: result.siege.hung,
            siege_exit_code: result.siege.exit_code,
            siege_cpu_cores: result.siege_cpu_cores,
            siege_stderr_tail: result.siege.stderr_tail.clone(),
            nginx: result.nginx.clone(),
            services: result.services.clone(),
        }
    }
}

/// The writer's range of customers: the seed's last `WRITER_CUSTOMERS`.
pub fn writer_customers() -> (u64, u64) {
    (SEED_CUSTOMERS - WRITER_CUSTOMERS + 1, SEED_CUSTOMERS)
}

/// Starts lab's order writer on the writer's customers.
pub fn start_writer(fault: &Fault) -> orders::OrderWriter {
    let (first, last) = writer_customers();
    orders::OrderWriter::start(&fault.stack.base_url, first, last, SEED_DISKS)
}

/// Runs the order/stock invariant and turns it into a check. An error of the check itself
/// (the API never answered) is a failed check, not a crash: the report still gets written.
pub fn invariant(
    fault: &Fault,
    attempts: &[orders::Attempt],
) -> (Option<orders::InvariantReport>, Check) {
    match orders::check(
        &fault.stack.base_url,
        attempts,
        writer_customers(),
        SEED_CUSTOMERS,
        SEED_DISKS,
        SEED_STOCK,
    ) {
        Ok(report) => {
            let check = Check::new(
                "orders and stock (HTTP API)",
                "every 201 exists once, no failed order exists, seed stock = stock + ordered",
                format!(
                    "{} created, {} failed, {} unknown ({} exist); {} order problems, {} stock mismatches over {} disks",
                    report.created,
                    report.failed,
                    report.unknown,
                    report.unknown_materialized,
                    report.order_problems.len(),
                    report.stock_mismatches.len(),
                    report.disks_checked
                ),
                report.passed && report.created > 0,
            );
            (Some(report), check)
        }
        Err(err) => (
            None,
            Check::new(
                "orders and stock (HTTP API)",
                "the check completes",
                format!("{err:#}"),
                false,
            ),
        ),
    }
}

/// A report with the run's common parts filled in; the scenario adds checks and figures.
pub fn new_report(
    fault: &Fault,
    scenario: &str,
    started_at: chrono::DateTime<chrono::Utc>,
) -> FaultReport {
    FaultReport {
        scenario: scenario.to_owned(),
        profile: fault.profile.name.clone(),
        db: fault.db,
        capped: fault.stack.capped,
        started_at,
        finished_at: chrono::Utc::now(),
        passed: false,
        checks: Vec::new(),
        timeline: Vec::new(),
        step: None,
        invariant: None,
        events: Vec::new(),
        figures: serde_json::Map::new(),
        notes: Vec::new(),
    }
}
