//! lab's own load driver: the client that measures what users see. Each request's latency is
//! taken at the client, from its send (closed model) or its intended start (open model) to its
//! last byte, with µs resolution, into HDR histograms per endpoint; the open model keeps its
//! schedule whatever the stack does, so a stall shows in full (no coordinated omission).
//!
//! Why lab's own, on hyper and tokio, and not another tool: measured on this machine
//! (`scripts/driver-choice.py`, docs/bench.md) it spends a sixth of siege's CPU per
//! request, which on two shared cores is CPU the stack gets back; it reads the users' siege
//! URL files as they are (methods, JSON bodies, `$(VAR)`), which oha (one URL, or a regex)
//! cannot; it runs an open model with its send delays recorded, which siege cannot; and its
//! histograms and per-endpoint figures land in the same step as nginx's and the services',
//! which a separate tool's summary (oha's, wrk2's) would not without a parser per tool. goose
//! was rejected as a library: a Locust-like framework (reqwest, its own metrics and
//! scheduler) around what lab needs in a few hundred lines.
//!
//! It runs as a child process (`lab __drive`), as siege does, so its own CPU is the kernel's
//! exact accounting of one process, and it never competes with lab's sampler for a thread.

mod conn;
pub mod histogram;
mod recorder;
mod run;
mod schedule;
mod target;
mod timer;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;

use self::recorder::{Counters, Recorder};
pub use self::run::Model;
use self::run::Shared;
use self::target::Target;
use super::child::MeasuredChild;
use super::load::{Driver, Load, LoadOutcome, Offered, RunningLoad};
use crate::results::{ClientEndpoint, ClientStats};

/// The per-request timeout unless a load asks for another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections an open load may open at most unless it asks for another number.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;

/// lab's driver, run as `lab __drive` by the lab binary itself.
#[derive(Debug, Clone)]
pub struct ClientDriver {
    /// The lab binary.
    pub exe: PathBuf,
    pub timeout: Duration,
    pub max_connections: usize,
}

impl ClientDriver {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            exe: std::env::current_exe().context("cannot find the lab executable")?,
            timeout: DEFAULT_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        })
    }

    /// `lab __drive` arguments for `load`.
    fn args(&self, load: &Load) -> Vec<String> {
        let mut args = vec![
            "__drive".to_owned(),
            "--urls".to_owned(),
            load.urls.display().to_string(),
            "--secs".to_owned(),
            load.secs.to_string(),
            "--timeout-ms".to_owned(),
            self.timeout.as_millis().to_string(),
        ];
        match load.offered {
            Offered::Users(users) => {
                args.extend(["--users".to_owned(), users.to_string()]);
            }
            Offered::Rate { per_s, arrivals } => args.extend([
                "--rate".to_owned(),
                per_s.to_string(),
                "--arrivals".to_owned(),
                arrivals.name().to_owned(),
                "--max-connections".to_owned(),
                self.max_connections.to_string(),
            ]),
        }
        args
    }
}

impl Driver for ClientDriver {
    fn name(&self) -> &'static str {
        "lab"
    }

    fn start(&self, load: &Load) -> anyhow::Result<Box<dyn RunningLoad>> {
        let mut command = Command::new(&self.exe);
        command.args(self.args(load));
        // Its schedule, the drain of its last requests, and a margin: past that it hangs.
        let deadline = Duration::from_secs(load.secs) + self.timeout + Duration::from_secs(10);
        let child = MeasuredChild::spawn(command, deadline, libc::SIGINT)
            .map_err(|e| anyhow::anyhow!("cannot start lab's driver: {e}"))?;
        Ok(Box::new(RunningClient { child }))
    }
}

/// The driver's process under way.
struct RunningClient {
    child: MeasuredChild,
}

impl RunningLoad for RunningClient {
    fn pid(&self) -> u32 {
        self.child.pid()
    }

    fn elapsed(&self) -> Duration {
        self.child.elapsed()
    }

    fn try_finish(&mut self) -> anyhow::Result<Option<LoadOutcome>> {
        let Some(exit) = self.child.try_finish()? else {
            return Ok(None);
        };
        let client = serde_json::from_str::<ClientStats>(exit.stdout.trim()).ok();
        if client.is_none() {
            log::warn!(
                "lab's driver reported nothing (exit {:?}): {}",
                exit.exit_code,
                exit.stderr_tail
            );
        }
        Ok(Some(LoadOutcome {
            exit_code: exit.exit_code,
            siege: None,
            client,
            wall_secs: exit.wall_secs,
            cpu_seconds: exit.cpu_seconds,
            stderr_tail: exit.stderr_tail,
            hung: exit.hung,
        }))
    }
}

/// What `lab __drive` is asked to do.
#[derive(Debug, Clone)]
pub struct DrivePlan {
    pub urls: PathBuf,
    pub model: Model,
    pub secs: f64,
    pub timeout: Duration,
    pub threads: usize,
    pub seed: u64,
}

/// `lab __drive`: runs the load and prints its [`ClientStats`] as JSON on stdout.
pub fn drive(plan: &DrivePlan) -> anyhow::Result<ClientStats> {
    let target = Target::load(&plan.urls)?;
    super::child::raise_fd_limit()?;
    let endpoints = target.endpoints.clone();
    let shared = Arc::new(Shared {
        recorder: Mutex::new(Recorder::new(endpoints.len())),
        target,
        counters: Counters::default(),
        stop: AtomicBool::new(false),
        timeout: plan.timeout,
    });
    // One thread by default: measured on two cores it drives more per CPU second than two
    // (63,000 against 42,000 requests/s at 50 users), and the stack keeps the other core.
    let runtime = if plan.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(plan.threads)
            .enable_all()
            .build()?
    };
    let active_secs = runtime.block_on(run::load(
        Arc::clone(&shared),
        plan.model,
        plan.secs,
        plan.seed,
    ));
    runtime.shutdown_timeout(Duration::from_millis(100));
    let recorder = shared.recorder.lock().unwrap_or_else(|e| e.into_inner());
    stats(plan, &endpoints, &recorder, &shared.counters, active_secs)
}

/// The report of a finished load.
fn stats(
    plan: &DrivePlan,
    names: &[String],
    recorder: &Recorder,
    counters: &Counters,
    active_secs: f64,
) -> anyhow::Result<ClientStats> {
    // The schedule's seconds, or less when SIGINT cut it short; the rates divide by the seconds
    // from the start to the last answer, which an overloaded stack stretches past the schedule
    // (a 2,000/s schedule of 20 s that a stack serves at 1,170/s is answered over 30 s).
    let load_secs = plan.secs.min(active_secs).max(1e-3);
    let active_secs = active_secs.max(load_secs);
    let mut stats = ClientStats {
        load_secs,
        active_secs,
        requests_due: Counters::get(&counters.due),
        requests_sent: Counters::get(&counters.sent),
        sent_late: recorder.sent_late,
        unsent: recorder.unsent,
        send_delay_p99_ms: histogram::summary(&recorder.send_delay).p99_ms,
        timeout_secs: plan.timeout.as_secs_f64(),
        connections: Counters::get(&counters.connections),
        mean_in_flight: counters.mean_in_flight(),
        ..Default::default()
    };
    match plan.model {
        Model::Closed { users } => {
            stats.model = crate::results::LoadModel::Closed;
            stats.users = Some(users);
        }
        Model::Open { rate, arrivals, .. } => {
            stats.model = crate::results::LoadModel::Open;
            stats.offered_rate_per_s = Some(rate);
            stats.arrivals = Some(arrivals);
        }
    }
    let all: Vec<&Histogram<u64>> = recorder.endpoints.iter().map(|r| &r.latency).collect();
    let merged = histogram::merge(all);
    stats.latency = histogram::summary(&merged);
    stats.histogram = histogram::encode(&merged)?;
    add_counts(&mut stats, names, recorder, active_secs);
    stats.achieved_rate_per_s = stats.responses as f64 / active_secs;
    let tried = stats.responses + stats.timeouts + stats.errors;
    stats.availability_percent = if tried == 0 {
        0.0
    } else {
        100.0 * (stats.status_2xx + stats.status_3xx) as f64 / tried as f64
    };
    Ok(stats)
}

/// Each endpoint's counts and latency, their totals, and the failures by why.
fn add_counts(stats: &mut ClientStats, names: &[String], recorder: &Recorder, active_secs: f64) {
    for (name, r) in names.iter().zip(&recorder.endpoints) {
        stats.status_2xx += r.status_2xx;
        stats.status_3xx += r.status_3xx;
        stats.status_4xx += r.status_4xx;
        stats.status_429 += r.status_429;
        stats.status_5xx += r.status_5xx;
        stats.timeouts += r.timeouts;
        stats.errors += r.errors;
        stats.responses += r.answers();
        stats.endpoints.push(ClientEndpoint {
            endpoint: name.clone(),
            requests_per_s: r.answers() as f64 / active_secs,
            latency: histogram::summary(&r.latency),
            status_4xx: r.status_4xx,
            status_429: r.status_429,
            status_5xx: r.status_5xx,
            timeouts: r.timeouts,
            errors: r.errors,
        });
    }
    stats
        .endpoints
        .sort_by_key(|e| std::cmp::Reverse(e.latency.count));
    stats.failures = recorder
        .failures
        .iter()
        .map(|(why, n)| ((*why).to_owned(), *n))
        .collect();
    stats.driver_failures = recorder
        .failures
        .iter()
        .filter(|(why, _)| [conn::LOCAL_PORTS, conn::LOCAL_DESCRIPTORS].contains(why))
        .map(|(_, n)| n)
        .sum();
}
