//! The stress test itself, on its own thread: free the previous tree, build the new one,
//! search it, hand it back to the manager (through the `state` the two share).
//!
//! The build never sleeps: it only yields the CPU every few megabytes, so reaching a gigabyte
//! takes about as long as the kernel needs to fault the pages in. Its progress is counted in
//! bytes allocated (free to read) and confirmed with the real RSS every
//! [`RSS_CHECK_BYTES`]: the build ends when either reaches the target, so the RSS growth a
//! user sees matches the target even when allocator overhead per node is not negligible.
//!
//! Every wait is sliced ([`STOP_POLL`]) and the stop flag is checked between nodes, between
//! release slices and between search batches, so a stop lands within tens of milliseconds.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::logs::Operation;
use super::memory::{self, to_mib};
use super::request::StressConfig;
use super::state::{Phase, TestState};
use super::tree::Tree;

/// Longest sleep between two looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);
/// A previous tree is freed in slices of this many bytes, checking the stop flag in between.
const RELEASE_SLICE_BYTES: u64 = 64 << 20;
/// How often (in tree bytes) the build confirms its progress with the real RSS.
const RSS_CHECK_BYTES: u64 = 16 << 20;
/// The build yields the CPU after allocating this many bytes (by bytes, not nodes, so the
/// pace does not depend on the payload size): often enough to let HTTP workers in, rarely
/// enough not to hand whole time slices to competing processes on a busy host.
const YIELD_EVERY_BYTES: u64 = 4 << 20;
/// Searches per batch, as in the original documents; the pause comes after each batch.
const SEARCH_BATCH: u64 = 100;

/// Starts the test on a dedicated thread.
pub(super) fn spawn(
    test: Arc<TestState>,
    config: StressConfig,
    old_tree: Option<Tree>,
) -> std::io::Result<()> {
    thread::Builder::new()
        .name("stress-run".to_owned())
        .spawn(move || run(&test, &config, old_tree))
        .map(|_| ())
}

/// How a test ended.
struct Outcome {
    phase: Phase,
    tree: Tree,
    error: Option<String>,
}

fn run(test: &TestState, config: &StressConfig, old_tree: Option<Tree>) {
    let result = catch_unwind(AssertUnwindSafe(|| execute(test, config, old_tree)));
    match result {
        Ok(outcome) => test.finish(outcome.phase, Some(outcome.tree), outcome.error),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            let message = format!("the stress thread panicked: {what}");
            test.log(Operation::StressTestError, message.clone());
            memory::return_free_memory();
            test.finish(Phase::Error, None, Some(message));
        }
    }
}

fn execute(test: &TestState, config: &StressConfig, old_tree: Option<Tree>) -> Outcome {
    let config_json = serde_json::to_string(config).unwrap_or_default();
    test.log(
        Operation::StressTestStart,
        format!("configuration: {config_json}"),
    );
    let mut tree = old_tree.unwrap_or_default();
    if !release_previous(test, &mut tree) {
        return stopped(test, tree, "while freeing the previous tree");
    }
    if let Err(message) = build(test, config, &mut tree) {
        return match message {
            BuildEnd::Stopped => stopped(test, tree, "while building the tree"),
            BuildEnd::Failed(message) => {
                test.log(Operation::StressTestError, message.clone());
                Outcome {
                    phase: Phase::Error,
                    tree,
                    error: Some(message),
                }
            }
        };
    }
    test.enter_phase(Phase::Searching);
    let searched = search(test, config, &tree);
    if test.stop_requested() {
        return stopped(test, tree, "while searching the tree");
    }
    if let Err(message) = searched {
        test.log(Operation::StressTestError, message.clone());
        return Outcome {
            phase: Phase::Error,
            tree,
            error: Some(message),
        };
    }
    test.log(
        Operation::StressTestComplete,
        format!(
            "stress test complete: tree of {} nodes ({} MiB) kept until POST /clear",
            tree.len(),
            to_mib(tree.bytes())
        ),
    );
    Outcome {
        phase: Phase::Completed,
        tree,
        error: None,
    }
}

fn stopped(test: &TestState, tree: Tree, when: &str) -> Outcome {
    test.log(
        Operation::StressTestStopped,
        format!(
            "stopped on request {when}; {} nodes ({} MiB) kept until POST /clear",
            tree.len(),
            to_mib(tree.bytes())
        ),
    );
    Outcome {
        phase: Phase::Stopped,
        tree,
        error: None,
    }
}

/// Frees a tree left by an earlier test, slice by slice; false when stopped midway.
fn release_previous(test: &TestState, tree: &mut Tree) -> bool {
    if tree.is_empty() {
        return true;
    }
    while !tree.is_empty() {
        if test.stop_requested() {
            memory::return_free_memory();
            return false;
        }
        tree.release(RELEASE_SLICE_BYTES);
        test.progress.set_tree(tree);
    }
    memory::return_free_memory();
    true
}

enum BuildEnd {
    Stopped,
    Failed(String),
}

fn build(test: &TestState, config: &StressConfig, tree: &mut Tree) -> Result<(), BuildEnd> {
    let target = config.target_bytes;
    test.log(
        Operation::BuildTreeStart,
        format!(
            "building the tree: target {} MiB in nodes of {} KiB",
            config.target_mb, config.payload_kb
        ),
    );
    let started = Instant::now();
    let rss_before = memory::rss_bytes();
    let payload_len = (config.payload_kb * 1024) as usize;
    let keys = KeySequence::new(rand::random());
    let mut next_rss_check = RSS_CHECK_BYTES;
    let mut next_yield = YIELD_EVERY_BYTES;
    loop {
        if tree.bytes() >= target {
            break;
        }
        if tree.bytes() >= next_rss_check {
            next_rss_check += RSS_CHECK_BYTES;
            if memory::rss_bytes().saturating_sub(rss_before) >= target {
                break;
            }
        }
        if test.stop_requested() {
            return Err(BuildEnd::Stopped);
        }
        let key = keys.key(tree.len() as u64);
        if let Err(e) = tree.insert(key, payload_len) {
            return Err(BuildEnd::Failed(format!(
                "could not add node {} to the tree: {e}",
                tree.len() + 1
            )));
        }
        test.progress.set_tree(tree);
        if tree.bytes() >= next_yield {
            next_yield += YIELD_EVERY_BYTES;
            thread::yield_now();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    test.log(
        Operation::BuildTreeTarget,
        format!("memory target reached with {} nodes", tree.len()),
    );
    test.log(
        Operation::BuildTreeComplete,
        format!(
            "tree built: {} nodes, depth {}, {} MiB in {seconds:.2} s; RSS grew by {} MiB",
            tree.len(),
            tree.depth(),
            to_mib(tree.bytes()),
            to_mib(memory::rss_bytes().saturating_sub(rss_before))
        ),
    );
    Ok(())
}

/// Searches the tree with the configured threads until the duration ends or a stop.
fn search(test: &TestState, config: &StressConfig, tree: &Tree) -> Result<(), String> {
    let duration = Duration::from_secs(config.duration_seconds);
    let interval = Duration::from_secs(config.log_interval_sec);
    let pause = Duration::from_millis(config.search_pause_ms);
    test.log(
        Operation::SearchTreeStart,
        format!(
            "searching for {} s with {} thread(s), {} ms pause after every {SEARCH_BATCH} searches",
            config.duration_seconds, config.search_threads, config.search_pause_ms
        ),
    );
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let found = AtomicU64::new(0);
    let keys = KeySequence::new(rand::random());
    let spawned = thread::scope(|scope| {
        let mut spawn_error = None;
        for index in 0..config.search_threads {
            let worker = SearchWorker {
                test,
                tree,
                done: &done,
                found: &found,
                pause,
                seed: keys.key(index as u64),
            };
            let spawned = thread::Builder::new()
                .name(format!("stress-search-{index}"))
                .spawn_scoped(scope, move || worker.run());
            if let Err(e) = spawned {
                spawn_error = Some(format!("could not start search thread {index}: {e}"));
                break;
            }
        }
        if spawn_error.is_none() {
            supervise(test, started + duration, interval);
        }
        done.store(true, Ordering::Relaxed);
        spawn_error
    });
    let searches = test.progress.searches.load(Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    test.log(
        Operation::SearchTreeComplete,
        format!(
            "{searches} searches ({} found) in {seconds:.1} s, {:.0} per second",
            found.load(Ordering::Relaxed),
            searches as f64 / seconds.max(1e-3)
        ),
    );
    spawned.map_or(Ok(()), Err)
}

/// Waits for the deadline or a stop, logging progress every `interval`.
fn supervise(test: &TestState, deadline: Instant, interval: Duration) {
    let mut next_log = Instant::now() + interval;
    loop {
        let now = Instant::now();
        if test.stop_requested() || now >= deadline {
            return;
        }
        if now >= next_log {
            next_log += interval;
            let remaining = deadline.saturating_duration_since(now).as_secs();
            test.log(
                Operation::SearchTreeProgress,
                format!(
                    "{} searches so far, {remaining} s left",
                    test.progress.searches.load(Ordering::Relaxed)
                ),
            );
        }
        let wake = deadline.min(next_log);
        thread::sleep(wake.saturating_duration_since(now).min(STOP_POLL));
    }
}

/// One search thread: batches of searches for keys of which half are in the tree.
struct SearchWorker<'a> {
    test: &'a TestState,
    tree: &'a Tree,
    done: &'a AtomicBool,
    found: &'a AtomicU64,
    pause: Duration,
    seed: u64,
}

impl SearchWorker<'_> {
    fn run(self) {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        // The build's keys are not known here; searching for random indices of a fresh
        // sequence would miss every time, so look for the tree's own keys half the time by
        // sampling nodes: index i < len is a present key, i >= len almost surely absent.
        let nodes = self.tree.len() as u64;
        while !self.done.load(Ordering::Relaxed) {
            let mut hits = 0;
            for _ in 0..SEARCH_BATCH {
                let key = if nodes > 0 && rng.random::<bool>() {
                    self.tree.key_at(rng.random_range(0..nodes) as usize)
                } else {
                    rng.random::<u64>()
                };
                hits += u64::from(self.tree.contains(key));
            }
            self.found.fetch_add(hits, Ordering::Relaxed);
            self.test.progress.add_searches(SEARCH_BATCH);
            self.sleep_pause();
        }
    }

    fn sleep_pause(&self) {
        let until = Instant::now() + self.pause;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.done.load(Ordering::Relaxed) {
                return;
            }
            thread::sleep(left.min(STOP_POLL));
        }
    }
}

/// Distinct, random-looking keys: splitmix64 of a seeded counter (a bijection, so no two
/// indices share a key and the tree is as balanced as a tree of random keys).
struct KeySequence {
    seed: u64,
}

impl KeySequence {
    fn new(seed: u64) -> Self {
        Self { seed }
    }

    fn key(&self, index: u64) -> u64 {
        let mut z = self
            .seed
            .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sequence_has_no_duplicates() {
        let keys = KeySequence::new(42);
        let mut seen: Vec<u64> = (0..100_000).map(|i| keys.key(i)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 100_000);
    }
}
