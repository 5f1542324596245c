//! The [`StressManager`]: the HTTP side of the one stress test a replica may run. It checks
//! the bearer token, validates a start against what the process may use and starts the
//! `runner` thread, stops and clears, and reports the test's status, log and gauges. What it
//! shares with the running thread lives in `state`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use contract::metrics::{
    STRESS_PHASE, STRESS_RUNNING, STRESS_SEARCHES_TOTAL, STRESS_TARGET_BYTES, STRESS_TREE_BYTES,
    STRESS_TREE_NODES,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::logs::{LogEntry, Operation};
use super::memory;
use super::request::{Environment, StartRequest, StressConfig};
use super::runner;
use super::state::{Phase, RunState, TestState};
use super::tree::Tree;
use crate::cgroup::{self, LimitSource};
use crate::error::ApiError;
use crate::metrics::{write_header, write_sample, Kind};

/// Owns the one stress test a replica may run; shared by all HTTP workers.
pub struct StressManager {
    instance: String,
    /// `STRESS_TOKEN`, read once in [`StressManager::new`].
    token: Option<String>,
    /// What the test's own thread reads and updates while it runs.
    test: Arc<TestState>,
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
            test: Arc::default(),
        })
    }

    /// Appends this module's Prometheus metrics to `out` (called by `GET /metrics`).
    pub fn write_prometheus(&self, out: &mut String) {
        let phase = self.test.state().phase;
        let help = "1 while a stress test is building or searching its tree.";
        let running = u64::from(phase.is_running());
        write_sample(out, STRESS_RUNNING, Kind::Gauge, help, running);
        let help = "The stress test's phase (1 for the current one).";
        write_header(out, STRESS_PHASE, Kind::Gauge, help);
        for p in Phase::ALL {
            let current = u64::from(p == phase);
            let _ = writeln!(out, "{STRESS_PHASE}{{phase=\"{}\"}} {current}", p.as_str());
        }
        let progress = &self.test.progress;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        write_sample(
            out,
            STRESS_TREE_NODES,
            Kind::Gauge,
            "Nodes in the stress tree.",
            load(&progress.nodes),
        );
        write_sample(
            out,
            STRESS_TREE_BYTES,
            Kind::Gauge,
            "Heap bytes the stress tree holds (payloads and arena).",
            load(&progress.tree_bytes),
        );
        write_sample(
            out,
            STRESS_TARGET_BYTES,
            Kind::Gauge,
            "Memory target of the current or last stress test, in bytes.",
            load(&progress.target_bytes),
        );
        write_sample(
            out,
            STRESS_SEARCHES_TOTAL,
            Kind::Counter,
            "Tree searches since the process started.",
            load(&progress.searches_lifetime),
        );
    }

    /// The replica's name, as every answer reports it.
    pub(super) fn instance(&self) -> &str {
        &self.instance
    }

    pub(super) fn log(&self, operation: Operation, message: String) {
        self.test.log(operation, message);
    }

    /// 401 unless the request carries the bearer token (when one is configured).
    pub(super) fn authorize(&self, header: Option<&str>) -> Result<(), ApiError> {
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
    pub(super) fn start(&self, request: &StartRequest) -> Result<StartResponse, ApiError> {
        let mut state = self.test.state();
        if state.phase.is_running() {
            return Err(running_conflict(state.phase));
        }
        let old_tree_bytes = state.tree.as_ref().map_or(0, Tree::bytes);
        let env = measure_environment(old_tree_bytes);
        let config = request.validate(&env)?;

        let old_tree = state.tree.take();
        let progress = &self.test.progress;
        self.test.stop.store(false, Ordering::Relaxed);
        progress.searches.store(0, Ordering::Relaxed);
        progress
            .target_bytes
            .store(config.target_bytes, Ordering::Relaxed);
        progress.set_tree(old_tree.as_ref().unwrap_or(&Tree::new()));
        *state = RunState {
            phase: Phase::Building,
            config: Some(config.clone()),
            started: Some((Instant::now(), Utc::now())),
            ..RunState::default()
        };
        if let Err(e) = runner::spawn(Arc::clone(&self.test), config.clone(), old_tree) {
            state.phase = Phase::Error;
            state.error = Some(format!("could not start the stress thread: {e}"));
            progress.set_tree(&Tree::new());
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
    pub(super) fn request_stop(&self) -> Result<(), ApiError> {
        let state = self.test.state();
        if !state.phase.is_running() {
            return Err(ApiError::conflict(
                "not_running",
                format!("no stress test is running (phase {})", state.phase.as_str()),
            ));
        }
        self.test.stop.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn is_running(&self) -> bool {
        self.test.is_running()
    }

    /// Takes the tree out for `/clear`; 409 while a test runs.
    pub(super) fn take_tree_for_clear(&self) -> Result<Option<Tree>, ApiError> {
        let mut state = self.test.state();
        if state.phase.is_running() {
            return Err(running_conflict(state.phase));
        }
        let tree = state.tree.take();
        *state = RunState::default();
        let progress = &self.test.progress;
        progress.set_tree(&Tree::new());
        progress.target_bytes.store(0, Ordering::Relaxed);
        progress.searches.store(0, Ordering::Relaxed);
        Ok(tree)
    }

    pub(super) fn status(&self) -> StatusResponse {
        let state = self.test.state();
        let limit = cgroup::memory_limit();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let progress = &self.test.progress;
        let target = load(&progress.target_bytes);
        StatusResponse {
            instance: self.instance.clone(),
            running: state.phase.is_running(),
            phase: state.phase,
            nodes: load(&progress.nodes),
            tree_mb: memory::to_mib(load(&progress.tree_bytes)),
            target_mb: (target > 0).then(|| memory::to_mib(target)),
            rss_mb: memory::to_mib(memory::rss_bytes()),
            memory_limit_mb: memory::to_mib(limit.bytes),
            memory_limit_source: limit.source,
            cpu_quota: cgroup::cpu_quota(),
            available_cpus: cgroup::available_cpus(),
            searches: load(&progress.searches),
            elapsed_seconds: state.started.map(|(at, _)| {
                let elapsed = state.ended_after.unwrap_or_else(|| at.elapsed());
                (elapsed.as_secs_f64() * 1000.0).round() / 1000.0
            }),
            started_at: state.started.map(|(_, at)| at),
            config: state.config.clone(),
            error: state.error.clone(),
        }
    }

    pub(super) fn logs(&self, limit: usize) -> LogsResponse {
        let ring = self.test.logs();
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
