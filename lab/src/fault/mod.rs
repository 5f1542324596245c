//! Fault scenarios (`lab fault <scenario>`): break one thing on purpose while siege loads the
//! native stack, then judge what the stack did from nginx's access log, the supervisor's
//! `stack.json`/`events.jsonl`, cgroup counters and lab's own HTTP probes; after every
//! scenario, check through the HTTP API that no order was lost, doubled or invented and that
//! stock adds up (see [`orders`]).
//!
//! Each scenario module exposes `run(&Fault) -> FaultReport`; this module holds what they
//! share: the stack they run on ([`FaultStack`]), one siege step with per-second sampling
//! ([`LoadStep`]), probes, and the report with its checks.

pub mod db_outage;
pub mod oom;
pub mod orders;
pub mod overload;
pub mod replica_loss;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::cli::DbKind;
use crate::load::access_log::{self, LogLine};
use crate::load::http;
use crate::load::siege::{RunningSiege, SiegeCommand, SiegeOutcome};
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::profile::Profile;
use crate::results::{NginxStats, ServiceUsage, SiegeSummary};
use crate::sample::Tracked;
use crate::stack::{self, Runtime, StackInfo, UpOptions};

pub use report::{Check, FaultReport};

/// Seed sizes of a fault stack: small, so the invariant check reads everything in seconds.
pub const SEED_CUSTOMERS: u64 = 200;
pub const SEED_DISKS: u64 = 500;
pub const SEED_STOCK: u64 = 100_000;
/// The last customers of the seed belong to lab's order writer: siege's URL files are
/// generated for the others, so every order of these customers is one lab placed itself.
pub const WRITER_CUSTOMERS: u64 = 20;
/// The pool acquire timeout of a fault stack (ms), unless DB_ACQUIRE_TIMEOUT_MS is set.
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 1000;

/// Everything a scenario needs: the running stack and where its files go.
pub struct Fault {
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

    /// The stack as the supervisor sees it now (restarts, OOM kills, fresh PIDs).
    pub fn status(&self) -> anyhow::Result<StackInfo> {
        stack::native::NativeRuntime.status(&self.state_dir)
    }

    pub fn service(&self, name: &str) -> anyhow::Result<stack::ServiceInfo> {
        self.status()?
            .services
            .into_iter()
            .find(|s| s.name == name)
            .with_context(|| format!("the stack has no service {name}"))
    }

    /// The lines of `events.jsonl` (restarts, exits, OOM kills) written so far.
    pub fn events(&self) -> Vec<String> {
        std::fs::read_to_string(self.state_dir.join("events.jsonl"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    pub fn get(&self, path: &str, timeout: Duration) -> Probe {
        probe(&self.stack.base_url, path, timeout)
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

/// A native stack started for one fault run, with its own state folder and ports; stopped
/// (`lab down`) when dropped, whatever happened.
pub struct FaultStack {
    pub state_dir: PathBuf,
    pub info: StackInfo,
}

impl FaultStack {
    /// Starts the stack: small seed, the fault ports (unless the environment moves them), the
    /// fault acquire timeout. The variables are set in lab's own environment before any
    /// thread exists, so the supervisor and every replica inherit them.
    pub fn up(profile: &Profile, db: DbKind, state_dir: &Path) -> anyhow::Result<Self> {
        let defaults = [
            ("LAB_HTTP_PORT", "28080"),
            ("LAB_PORT_BASE", "28080"),
            ("LAB_PG_PORT", "25432"),
            ("LAB_MYSQL_PORT", "23306"),
        ];
        for (key, value) in defaults {
            if std::env::var_os(key).is_none_or(|v| v.is_empty()) {
                std::env::set_var(key, value);
            }
        }
        if std::env::var_os("DB_ACQUIRE_TIMEOUT_MS").is_none_or(|v| v.is_empty()) {
            std::env::set_var(
                "DB_ACQUIRE_TIMEOUT_MS",
                DEFAULT_ACQUIRE_TIMEOUT_MS.to_string(),
            );
        }
        std::env::set_var("SEED_CUSTOMERS", SEED_CUSTOMERS.to_string());
        std::env::set_var("SEED_DISKS", SEED_DISKS.to_string());
        std::env::set_var("SEED_STOCK", SEED_STOCK.to_string());
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let state_dir = std::fs::canonicalize(state_dir)?;
        let runtime = stack::native::NativeRuntime;
        let info = runtime.up(&UpOptions {
            profile: profile.clone(),
            db,
            state_dir: state_dir.clone(),
        })?;
        if !info.capped {
            eprintln!(
                "lab fault: WARNING: the stack runs UNCAPPED (no writable cgroups: run as root); OOM and memory checks cannot hold"
            );
        }
        Ok(Self { state_dir, info })
    }
}

impl Drop for FaultStack {
    fn drop(&mut self) {
        if let Err(err) = stack::native::NativeRuntime.down(&self.state_dir) {
            eprintln!("lab fault: warning: stopping the stack failed: {err:#}");
        }
    }
}

/// The acquire timeout the replicas run with.
pub fn acquire_timeout_ms() -> u64 {
    std::env::var("DB_ACQUIRE_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_ACQUIRE_TIMEOUT_MS)
}

/// One siege step with per-second sampling of every service's cgroup.
pub struct LoadStep {
    siege: RunningSiege,
    tracked: Vec<Tracked>,
    access_log: PathBuf,
    log_start: u64,
    last_sample: Instant,
    secs: u64,
}

/// What a finished step measured.
pub struct StepResult {
    pub siege: SiegeOutcome,
    /// nginx's figures for the step (lab's probes included, `/replicas/` excluded).
    pub nginx: NginxStats,
    /// The step's log lines, for per-request checks.
    pub lines: Vec<LogLine>,
    pub services: Vec<ServiceUsage>,
    /// Seconds siege loaded the stack.
    pub load_secs: f64,
}

impl LoadStep {
    pub fn start(fault: &Fault, urls_file: &Path, users: u32, secs: u64) -> anyhow::Result<Self> {
        let tracked = fault.stack.services.iter().map(Tracked::start).collect();
        let log_start = access_log::offset(&fault.stack.access_log);
        let siege = RunningSiege::spawn(&SiegeCommand {
            rc: fault.rc.clone(),
            urls: urls_file.to_path_buf(),
            users,
            secs,
        })?;
        Ok(Self {
            siege,
            tracked,
            access_log: fault.stack.access_log.clone(),
            log_start,
            last_sample: Instant::now(),
            secs,
        })
    }

    /// Seconds since siege started.
    pub fn elapsed(&self) -> f64 {
        self.siege.elapsed().as_secs_f64()
    }

    /// Samples the services' counters once a second (memory peaks between readings).
    pub fn tick(&mut self) {
        if self.last_sample.elapsed() >= Duration::from_secs(1) {
            self.last_sample = Instant::now();
            crate::sample::sample_all(&mut self.tracked);
        }
    }

    /// Sleeps until `secs` after siege's start, sampling meanwhile.
    pub fn wait_until(&mut self, secs: f64) {
        while self.elapsed() < secs {
            self.tick();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for siege to end, then reads the step's slice of the access log.
    pub fn finish(mut self) -> anyhow::Result<StepResult> {
        let outcome = loop {
            if let Some(outcome) = self.siege.try_finish()? {
                break outcome;
            }
            self.tick();
            std::thread::sleep(Duration::from_millis(50));
        };
        let log_end = access_log::settled_offset(&self.access_log);
        let bytes = access_log::read_slice(&self.access_log, self.log_start, log_end)
            .with_context(|| format!("reading {}", self.access_log.display()))?;
        let load_secs = outcome.load_secs(self.secs);
        // Without siege's summary (it can give up at thousands of users) nginx's log still
        // says what happened; the report shows the summary as missing and siege's stderr.
        if outcome.summary.is_none() {
            eprintln!(
                "lab fault: warning: siege printed no summary (exit {:?}, hung: {}); nginx's log is used",
                outcome.exit_code, outcome.hung
            );
        }
        Ok(StepResult {
            nginx: access_log::stats(&bytes, load_secs),
            lines: access_log::entries(&bytes),
            services: self
                .tracked
                .iter_mut()
                .map(|t| t.usage(load_secs, None))
                .collect(),
            siege: outcome,
            load_secs,
        })
    }
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
    pub fn of(result: &StepResult, users: u32) -> Self {
        Self {
            users,
            load_secs: result.load_secs,
            siege: result.siege.summary.clone(),
            siege_hung: result.siege.hung,
            siege_exit_code: result.siege.exit_code,
            siege_cpu_cores: result.siege.cpu_seconds / result.siege.wall_secs.max(1e-3),
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

/// 2xx share of `lines`, percent (100 when there is none); 499s (cut by siege) left out.
pub fn availability_percent<'a>(lines: impl IntoIterator<Item = &'a LogLine>) -> (f64, u64) {
    let (mut ok, mut all) = (0u64, 0u64);
    for line in lines {
        if line.status == 499 {
            continue;
        }
        all += 1;
        if (200..300).contains(&line.status) {
            ok += 1;
        }
    }
    let percent = if all == 0 {
        100.0
    } else {
        100.0 * ok as f64 / all as f64
    };
    (percent, all)
}

/// The `q` quantile of `values` (nearest rank), 0 when empty.
pub fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(msec: f64, status: u16, instance: &str) -> LogLine {
        LogLine {
            msec,
            status,
            method: "GET".into(),
            uri: "/disks/1".into(),
            request_time: 0.01,
            instance: instance.into(),
        }
    }

    #[test]
    fn availability_counts_2xx_over_answered_requests() {
        let lines = vec![
            line(1.0, 200, "app1"),
            line(2.0, 502, ""),
            line(3.0, 499, ""),
            line(4.0, 201, "app2"),
        ];
        let (percent, all) = availability_percent(&lines);
        assert_eq!(all, 3);
        assert!((percent - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(availability_percent(&[]).0, 100.0);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(values.clone(), 0.99), 99.0);
        assert_eq!(quantile(values, 0.5), 50.0);
        assert_eq!(quantile(vec![], 0.99), 0.0);
        assert_eq!(quantile(vec![7.0], 0.99), 7.0);
    }
}
