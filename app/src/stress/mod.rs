//! Tree stress endpoints: the memory/CPU stress test of the original documents, cgroup-aware.
//!
//! `POST /start` grows a binary search tree of nodes carrying payloads until the tree holds
//! the memory target, then searches it for `duration_seconds` so that a user can watch what
//! a memory or CPU cap does. The work runs on a dedicated `stress-run` thread (searches on
//! their own `stress-search-N` threads), never on the HTTP workers, and checks the stop flag
//! between every node and every batch of searches, so `POST /stop` takes effect within
//! milliseconds. `POST /clear` frees the tree and trims the allocator so RSS really drops.
//!
//! One [`StressManager`] per process owns the one test a replica may run; the HTTP workers
//! share it through `web::Data`.
//!
//! Auth: when `STRESS_TOKEN` is set (read once, at start-up), the five endpoints require
//! `Authorization: Bearer <token>` and answer 401 otherwise.

mod logs;
mod memory;
mod request;
mod routes;
mod runner;
mod tree;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::web;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::cgroup::{self, LimitSource};
use crate::error::ApiError;
use crate::routes::Endpoint;
use logs::LogRing;
pub use logs::{LogEntry, Operation, LOG_CAPACITY};
use request::Environment;
pub use request::{StartRequest, StressConfig};
use tree::Tree;

/// Where a stress test stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Idle,
    Building,
    Searching,
    Completed,
    Stopped,
    Error,
}

impl Phase {
    const ALL: [Phase; 6] = [
        Phase::Idle,
        Phase::Building,
        Phase::Searching,
        Phase::Completed,
        Phase::Stopped,
        Phase::Error,
    ];

    pub fn is_running(self) -> bool {
        matches!(self, Phase::Building | Phase::Searching)
    }

    fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Building => "building",
            Phase::Searching => "searching",
            Phase::Completed => "completed",
            Phase::Stopped => "stopped",
            Phase::Error => "error",
        }
    }
}

/// Owns the one stress test a replica may run; shared by all HTTP workers.
pub struct StressManager {
    instance: String,
    /// `STRESS_TOKEN`, read once in [`StressManager::new`].
    token: Option<String>,
    state: Mutex<RunState>,
    logs: Mutex<LogRing>,
    stop: AtomicBool,
    progress: Progress,
}

/// What only changes at phase boundaries, under one lock.
#[derive(Default)]
struct RunState {
    phase: Phase,
    config: Option<StressConfig>,
    started: Option<(Instant, DateTime<Utc>)>,
    /// Frozen elapsed time once the test has ended.
    ended_after: Option<Duration>,
    /// The tree between tests (the worker owns it while a test runs).
    tree: Option<Tree>,
    error: Option<String>,
}

/// Counters the worker updates on every node or batch; read lock-free by /status and /metrics.
#[derive(Default)]
struct Progress {
    nodes: AtomicU64,
    tree_bytes: AtomicU64,
    target_bytes: AtomicU64,
    /// Searches in the current (or last) test.
    searches: AtomicU64,
    /// Searches since the process started: the Prometheus counter, never reset.
    searches_lifetime: AtomicU64,
}

impl Progress {
    fn set_tree(&self, tree: &Tree) {
        self.nodes.store(tree.len() as u64, Ordering::Relaxed);
        self.tree_bytes.store(tree.bytes(), Ordering::Relaxed);
    }

    fn add_searches(&self, n: u64) {
        self.searches.fetch_add(n, Ordering::Relaxed);
        self.searches_lifetime.fetch_add(n, Ordering::Relaxed);
    }
}

/// `202` answer to `POST /start`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartResponse {
    pub message: String,
    pub instance: String,
    pub phase: Phase,
    /// The tree's memory target in MiB.
    pub target_mb: f64,
    /// The memory limit the target was checked against, in MiB.
    pub memory_limit_mb: f64,
    pub memory_limit_source: LimitSource,
    /// The resolved configuration (defaults applied).
    pub config: StressConfig,
}

/// `GET /status` (also the body of `POST /stop`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    pub instance: String,
    /// True while building or searching.
    pub running: bool,
    pub phase: Phase,
    /// Nodes currently in the tree.
    pub nodes: u64,
    /// Memory the tree holds, in MiB.
    pub tree_mb: f64,
    /// The current (or last) test's tree target, in MiB.
    pub target_mb: Option<f64>,
    /// The process's resident memory, in MiB.
    pub rss_mb: f64,
    /// Memory this process may use, in MiB: the cgroup limit, else the host's RAM.
    pub memory_limit_mb: f64,
    pub memory_limit_source: LimitSource,
    /// The cgroup CPU quota in CPUs, if one is set.
    pub cpu_quota: Option<f64>,
    /// CPUs the process may use (quota rounded up, at most the online CPUs).
    pub available_cpus: usize,
    /// Searches done in the current (or last) test.
    pub searches: u64,
    /// Seconds since the current (or last) test started; frozen once it ended.
    pub elapsed_seconds: Option<f64>,
    pub started_at: Option<DateTime<Utc>>,
    pub config: Option<StressConfig>,
    /// Why the last test ended in the `error` phase.
    pub error: Option<String>,
}

/// `POST /clear`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClearResponse {
    pub message: String,
    pub instance: String,
    pub nodes_freed: u64,
    pub freed_mb: f64,
    pub rss_before_mb: f64,
    pub rss_after_mb: f64,
}

/// `GET /logs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogsResponse {
    pub instance: String,
    /// Entries returned (the newest `limit`, oldest first).
    pub count: usize,
    /// Entries written since start-up, including those no longer kept.
    pub total: u64,
    pub logs: Vec<LogEntry>,
}

impl StressManager {
    pub fn new(instance: String) -> Arc<Self> {
        let token = std::env::var(contract::env::STRESS_TOKEN)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if token.is_none() {
            log::warn!(
                "STRESS_TOKEN is not set: the stress endpoints, which can allocate gigabytes, \
                 answer anyone who reaches this port"
            );
        }
        Arc::new(Self {
            instance,
            token,
            state: Mutex::default(),
            logs: Mutex::default(),
            stop: AtomicBool::new(false),
            progress: Progress::default(),
        })
    }

    /// Appends this module's Prometheus metrics to `out` (called by `GET /metrics`).
    pub fn write_prometheus(&self, out: &mut String) {
        let phase = self.state().phase;
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            out,
            "stress_running",
            "1 while a stress test is building or searching its tree.",
            u64::from(phase.is_running()),
        );
        let _ = writeln!(
            out,
            "# HELP stress_phase The stress test's phase (1 for the current one).\n\
             # TYPE stress_phase gauge"
        );
        for p in Phase::ALL {
            let _ = writeln!(
                out,
                "stress_phase{{phase=\"{}\"}} {}",
                p.as_str(),
                u64::from(p == phase)
            );
        }
        let progress = &self.progress;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            out,
            "stress_tree_nodes",
            "Nodes in the stress tree.",
            load(&progress.nodes),
        );
        gauge(
            out,
            "stress_tree_bytes",
            "Heap bytes the stress tree holds (payloads and arena).",
            load(&progress.tree_bytes),
        );
        gauge(
            out,
            "stress_target_bytes",
            "Memory target of the current or last stress test, in bytes.",
            load(&progress.target_bytes),
        );
        let _ = writeln!(
            out,
            "# HELP stress_searches_total Tree searches since the process started.\n\
             # TYPE stress_searches_total counter\nstress_searches_total {}",
            load(&progress.searches_lifetime)
        );
    }

    fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, operation: Operation, message: String) {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(operation, message);
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// 401 unless the request carries the bearer token (when one is configured).
    fn authorize(&self, header: Option<&str>) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the stress endpoints require the header Authorization: Bearer <STRESS_TOKEN>",
            )),
        }
    }

    /// Validates `request` against what the process may use and starts the test.
    fn start(self: &Arc<Self>, request: &StartRequest) -> Result<StartResponse, ApiError> {
        let mut state = self.state();
        if state.phase.is_running() {
            return Err(running_conflict(state.phase));
        }
        let old_tree_bytes = state.tree.as_ref().map_or(0, Tree::bytes);
        let env = measure_environment(old_tree_bytes);
        let config = request.validate(&env)?;

        let old_tree = state.tree.take();
        self.stop.store(false, Ordering::Relaxed);
        self.progress.searches.store(0, Ordering::Relaxed);
        self.progress
            .target_bytes
            .store(config.target_bytes, Ordering::Relaxed);
        self.progress
            .set_tree(old_tree.as_ref().unwrap_or(&Tree::new()));
        *state = RunState {
            phase: Phase::Building,
            config: Some(config.clone()),
            started: Some((Instant::now(), Utc::now())),
            ..RunState::default()
        };
        if let Err(e) = runner::spawn(Arc::clone(self), config.clone(), old_tree) {
            state.phase = Phase::Error;
            state.error = Some(format!("could not start the stress thread: {e}"));
            self.progress.set_tree(&Tree::new());
            return Err(ApiError::internal("spawning the stress thread", e));
        }
        Ok(StartResponse {
            message: format!(
                "stress test started: building a {} MiB tree, then searching it for {} s",
                config.target_mb, config.duration_seconds
            ),
            instance: self.instance.clone(),
            phase: Phase::Building,
            target_mb: config.target_mb,
            memory_limit_mb: memory::to_mib(env.limit.bytes),
            memory_limit_source: env.limit.source,
            config,
        })
    }

    /// Raises the stop flag; 409 when no test runs.
    fn request_stop(&self) -> Result<(), ApiError> {
        let state = self.state();
        if !state.phase.is_running() {
            return Err(ApiError::conflict(
                "not_running",
                format!("no stress test is running (phase {})", state.phase.as_str()),
            ));
        }
        self.stop.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn is_running(&self) -> bool {
        self.state().phase.is_running()
    }

    /// Moves the phase on (called by the worker).
    fn enter_phase(&self, phase: Phase) {
        self.state().phase = phase;
    }

    /// Records how a test ended and takes the tree back (called by the worker, last).
    fn finish(&self, phase: Phase, tree: Option<Tree>, error: Option<String>) {
        let mut state = self.state();
        self.progress
            .set_tree(tree.as_ref().unwrap_or(&Tree::new()));
        state.phase = phase;
        state.tree = tree.filter(|t| !t.is_empty());
        state.error = error;
        state.ended_after = state.started.map(|(at, _)| at.elapsed());
    }

    /// Takes the tree out for `/clear`; 409 while a test runs.
    fn take_tree_for_clear(&self) -> Result<Option<Tree>, ApiError> {
        let mut state = self.state();
        if state.phase.is_running() {
            return Err(running_conflict(state.phase));
        }
        let tree = state.tree.take();
        *state = RunState::default();
        self.progress.set_tree(&Tree::new());
        self.progress.target_bytes.store(0, Ordering::Relaxed);
        self.progress.searches.store(0, Ordering::Relaxed);
        Ok(tree)
    }

    fn status(&self) -> StatusResponse {
        let state = self.state();
        let limit = cgroup::memory_limit();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let target = load(&self.progress.target_bytes);
        StatusResponse {
            instance: self.instance.clone(),
            running: state.phase.is_running(),
            phase: state.phase,
            nodes: load(&self.progress.nodes),
            tree_mb: memory::to_mib(load(&self.progress.tree_bytes)),
            target_mb: (target > 0).then(|| memory::to_mib(target)),
            rss_mb: memory::to_mib(memory::rss_bytes()),
            memory_limit_mb: memory::to_mib(limit.bytes),
            memory_limit_source: limit.source,
            cpu_quota: cgroup::cpu_quota(),
            available_cpus: cgroup::available_cpus(),
            searches: load(&self.progress.searches),
            elapsed_seconds: state.started.map(|(at, _)| {
                let elapsed = state.ended_after.unwrap_or_else(|| at.elapsed());
                (elapsed.as_secs_f64() * 1000.0).round() / 1000.0
            }),
            started_at: state.started.map(|(_, at)| at),
            config: state.config.clone(),
            error: state.error.clone(),
        }
    }

    fn logs(&self, limit: usize) -> LogsResponse {
        let ring = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let logs = ring.newest(limit);
        LogsResponse {
            instance: self.instance.clone(),
            count: logs.len(),
            total: ring.total(),
            logs,
        }
    }
}

fn running_conflict(phase: Phase) -> ApiError {
    ApiError::conflict(
        "test_running",
        format!(
            "a stress test is running (phase {}); POST /stop first",
            phase.as_str()
        ),
    )
}

/// The limit, the resident memory without the tree about to be freed, and the headroom left
/// (see `request`'s module doc for why the headroom and not the bare limit).
fn measure_environment(old_tree_bytes: u64) -> Environment {
    let limit = cgroup::memory_limit();
    let base_rss_bytes = memory::rss_bytes().saturating_sub(old_tree_bytes);
    let mut headroom_bytes = limit.bytes.saturating_sub(base_rss_bytes);
    if limit.source == LimitSource::HostRam {
        let available = memory::host_available_bytes().saturating_add(old_tree_bytes);
        headroom_bytes = headroom_bytes.min(available);
    }
    Environment {
        available_cpus: cgroup::available_cpus(),
        limit,
        base_rss_bytes,
        headroom_bytes,
    }
}

/// Compares without an early exit, so response time does not reveal a token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The five stress routes; the paths the lab calls come from `contract::stress`.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::at(contract::stress::START).post(routes::start),
        Endpoint::at(contract::stress::STOP).post(routes::stop),
        Endpoint::at(contract::stress::STATUS).get(routes::status),
        Endpoint::at("/logs").get(routes::logs),
        Endpoint::at(contract::stress::CLEAR).post(routes::clear),
    ]
}

/// Registers [`endpoints`] with `manager`. Each method is its own route, without the shop's
/// JSON 405: a wrong method falls through to the app's JSON 404.
pub fn configure(manager: web::Data<StressManager>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(manager);
        for endpoint in endpoints() {
            let (path, routes) = endpoint.into_routes();
            for route in routes {
                cfg.route(path, route);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(routes::start, routes::stop, routes::status, routes::logs, routes::clear),
    components(schemas(
        StartRequest,
        request::SearchThreads,
        request::SearchPreset,
        StressConfig,
        StartResponse,
        StatusResponse,
        ClearResponse,
        LogsResponse,
        LogEntry,
        Operation,
        Phase,
        LimitSource,
        crate::error::ErrorBody
    )),
    tags((name = "stress", description = "Tree stress test: grow a tree to a memory target, \
        then search it. When STRESS_TOKEN is set, every stress endpoint requires \
        `Authorization: Bearer <token>` (401 otherwise)."))
)]
struct StressApi;

/// The stress endpoints' OpenAPI description (merged into `/openapi.json` by the service).
pub fn openapi() -> utoipa::openapi::OpenApi {
    StressApi::openapi()
}
