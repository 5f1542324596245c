//! What a load driver is given and what it reports: the load (a URL file, how requests are
//! offered, for how long), the [`Driver`] trait every executor implements, and the outcome.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::plan::levels::Offered;
use crate::results::{ClientStats, SiegeSummary};

/// One load to put on the stack.
#[derive(Debug, Clone)]
pub struct Load {
    /// The scenario: a URL file in siege's format.
    pub urls: PathBuf,
    /// How requests are offered.
    pub offered: Offered,
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
    /// lab's driver's report, when it gave one.
    pub client: Option<ClientStats>,
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
        // lab's driver ends by itself and says how long its requests ran, an overloaded
        // stack's late answers included; siege may hang on exit, so its time is capped.
        if let Some(client) = &self.client {
            return client
                .active_secs
                .max(client.load_secs)
                .min(self.wall_secs.max(1e-3));
        }
        self.wall_secs.min(asked_secs as f64 + 1.0).max(1e-3)
    }

    /// Requests done per second of load (siege: transactions plus failed ones; lab's
    /// driver: answers); 0 without a report.
    pub fn transactions_per_s(&self, asked_secs: u64) -> f64 {
        if let Some(client) = &self.client {
            return client.achieved_rate_per_s;
        }
        let done = self.siege.as_ref().map_or(0.0, |s| {
            s.transactions.unwrap_or(0.0) + s.failed_transactions.unwrap_or(0.0)
        });
        done / self.load_secs(asked_secs)
    }

    /// True when the driver reported what it did.
    pub fn reported(&self) -> bool {
        self.siege.is_some() || self.client.is_some()
    }

    /// The driver's CPU in cores over its wall time.
    pub fn cpu_cores(&self) -> f64 {
        self.cpu_seconds / self.wall_secs.max(1e-3)
    }
}
