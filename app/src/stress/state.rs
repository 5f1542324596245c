//! What the HTTP side (`manager`) and the stress thread (`runner`) share about the one test a
//! replica may run: its phase and configuration under one lock, the progress counters read
//! lock-free by `/status` and `/metrics`, the log and the stop flag.
//!
//! It is its own module so that the runner depends on this state only, not on the manager
//! that starts it: the manager spawns the runner, and the runner reporting back through the
//! manager would make the two import each other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::logs::{LogRing, Operation};
use super::request::StressConfig;
use super::tree::Tree;

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
    pub(super) const ALL: [Phase; 6] = [
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

    pub(super) fn as_str(self) -> &'static str {
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

/// The one test of a replica, as the manager and the stress thread both see it.
#[derive(Default)]
pub(super) struct TestState {
    state: Mutex<RunState>,
    logs: Mutex<LogRing>,
    pub(super) stop: AtomicBool,
    pub(super) progress: Progress,
}

/// What only changes at phase boundaries, under one lock.
#[derive(Default)]
pub(super) struct RunState {
    pub(super) phase: Phase,
    pub(super) config: Option<StressConfig>,
    pub(super) started: Option<(Instant, DateTime<Utc>)>,
    /// Frozen elapsed time once the test has ended.
    pub(super) ended_after: Option<Duration>,
    /// The tree between tests (the worker owns it while a test runs).
    pub(super) tree: Option<Tree>,
    pub(super) error: Option<String>,
}

/// Counters the worker updates on every node or batch; read lock-free by /status and /metrics.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) nodes: AtomicU64,
    pub(super) tree_bytes: AtomicU64,
    pub(super) target_bytes: AtomicU64,
    /// Searches in the current (or last) test.
    pub(super) searches: AtomicU64,
    /// Searches since the process started: the Prometheus counter, never reset.
    pub(super) searches_lifetime: AtomicU64,
}

impl Progress {
    pub(super) fn set_tree(&self, tree: &Tree) {
        self.nodes.store(tree.len() as u64, Ordering::Relaxed);
        self.tree_bytes.store(tree.bytes(), Ordering::Relaxed);
    }

    pub(super) fn add_searches(&self, n: u64) {
        self.searches.fetch_add(n, Ordering::Relaxed);
        self.searches_lifetime.fetch_add(n, Ordering::Relaxed);
    }
}

impl TestState {
    pub(super) fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn logs(&self) -> MutexGuard<'_, LogRing> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn log(&self, operation: Operation, message: String) {
        self.logs().push(operation, message);
    }

    pub(super) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(super) fn is_running(&self) -> bool {
        self.state().phase.is_running()
    }

    /// Moves the phase on (called by the worker).
    pub(super) fn enter_phase(&self, phase: Phase) {
        self.state().phase = phase;
    }

    /// Records how a test ended and takes the tree back (called by the worker, last).
    pub(super) fn finish(&self, phase: Phase, tree: Option<Tree>, error: Option<String>) {
        let mut state = self.state();
        self.progress
            .set_tree(tree.as_ref().unwrap_or(&Tree::new()));
        state.phase = phase;
        state.tree = tree.filter(|t| !t.is_empty());
        state.error = error;
        state.ended_after = state.started.map(|(at, _)| at.elapsed());
    }
}
