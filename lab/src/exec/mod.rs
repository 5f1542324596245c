//! Running plans: the load drivers (executors) that put a load on the stack, the step runner
//! that measures the stack while one does, and the jobs built on them (bench, soak, tune).
//!
//! A [`Driver`] starts one [`Load`] and reports a [`LoadOutcome`]; it knows nothing of the
//! stack. [`step::StepRunner`] follows the stack's services while a load runs and turns the
//! outcome, nginx's log and the readings into one [`crate::results::Step`], the one
//! measurement every command reports. A new driver is one more `Driver` implementation
//! (siege's is [`siege::SiegeDriver`]); nothing else changes.

pub mod bench;
pub mod ceiling;
mod child;
pub mod siege;
pub mod soak;
pub mod step;
pub mod stress;
pub mod tune;

use std::path::PathBuf;
use std::time::Duration;

use crate::results::SiegeSummary;

/// One load to put on the stack.
#[derive(Debug, Clone)]
pub struct Load {
    /// The scenario: a URL file in siege's format.
    pub urls: PathBuf,
    /// Concurrent users, each sending its next request as soon as the last one is answered.
    pub users: u32,
    /// Seconds of load.
    pub secs: u64,
}

/// Something that drives a load.
pub trait Driver {
    /// Its name in tables (`siege`).
    fn name(&self) -> &'static str;
    /// Starts the load in the background.
    fn start(&self, load: &Load) -> anyhow::Result<Box<dyn RunningLoad>>;
}

/// A load under way.
pub trait RunningLoad {
    /// The driver's process (its CPU is sampled while it runs).
    fn pid(&self) -> u32;
    /// Time since it started.
    fn elapsed(&self) -> Duration;
    /// Reaps it if it has ended (stopping it past its deadline); None while it runs.
    fn try_finish(&mut self) -> anyhow::Result<Option<LoadOutcome>>;
}

/// What a finished load left.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// Exit status (None when a signal ended it).
    pub exit_code: Option<i32>,
    /// siege's summary, when it printed one.
    pub siege: Option<SiegeSummary>,
    /// Wall-clock seconds from spawn to exit.
    pub wall_secs: f64,
    /// User + system CPU seconds of the driver and all its threads.
    pub cpu_seconds: f64,
    /// The end of stderr (errors it printed), for messages.
    pub stderr_tail: String,
    /// True when it did not end on its own and was stopped past its deadline.
    pub hung: bool,
}

impl LoadOutcome {
    /// Seconds the driver loaded the server: its wall time, but no more than asked for plus
    /// one second (a driver that hung on exit sent nothing while it hung).
    pub fn load_secs(&self, asked_secs: u64) -> f64 {
        self.wall_secs.min(asked_secs as f64 + 1.0).max(1e-3)
    }

    /// Transactions (plus failed ones) per second of load; 0 without a summary.
    pub fn transactions_per_s(&self, asked_secs: u64) -> f64 {
        let done = self.siege.as_ref().map_or(0.0, |s| {
            s.transactions.unwrap_or(0.0) + s.failed_transactions.unwrap_or(0.0)
        });
        done / self.load_secs(asked_secs)
    }

    /// The driver's CPU in cores over its wall time.
    pub fn cpu_cores(&self) -> f64 {
        self.cpu_seconds / self.wall_secs.max(1e-3)
    }
}

/// Runs a load to its end.
pub fn run(driver: &dyn Driver, load: &Load) -> anyhow::Result<LoadOutcome> {
    let mut running = driver.start(load)?;
    loop {
        if let Some(outcome) = running.try_finish()? {
            return Ok(outcome);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
