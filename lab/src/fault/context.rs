//! What every fault scenario is given and shares: the running stack with the run's plan
//! ([`Fault`]), the hooks a scenario implements ([`FaultScenario`]), probes, and the seed of a
//! fault stack.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::Serialize;

use crate::config::SeedPlan;
use crate::exec::step::{Measured, StepRunner};
use crate::exec::{Driver, Load, Offered};
use crate::load::http;
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::plan::fault::FaultPlan;
use crate::results::fault::FaultReport;
use crate::stack::{ServiceInfo, Stack, StackInfo};

/// Availability and percentiles are the lab's one definition and one method, as in `bench`.
pub use crate::load::access_log::availability_percent;
pub use crate::load::latency::quantile;

/// Seed sizes of a fault stack: small, so the invariant check reads everything in seconds.
pub const SEED: SeedPlan = SeedPlan {
    customers: 200,
    disks: 500,
    stock: 100_000,
};
pub const SEED_CUSTOMERS: u64 = SEED.customers;
pub const SEED_DISKS: u64 = SEED.disks;
pub const SEED_STOCK: u64 = SEED.stock;
/// The last customers of the seed belong to lab's order writer: the load's URL files are
/// generated for the others, so every order of these customers is one lab placed itself.
pub const WRITER_CUSTOMERS: u64 = 20;
/// The compose project of a fault stack, unless COMPOSE_PROJECT_NAME names another.
pub const COMPOSE_PROJECT: &str = "labfault";

/// One fault scenario: its load, what it does around and during it, what it checks.
pub trait FaultScenario {
    /// The load it runs under.
    fn load(&self) -> Scenario;
    /// Before lab's order writer and the load start (baselines, readings).
    fn before(&mut self, _fault: &Fault) -> anyhow::Result<()> {
        Ok(())
    }
    /// While the load runs: break the thing and watch it; the step runs until its time is
    /// up after this returns.
    fn during(&mut self, _fault: &Fault, _step: &mut StepRunner) -> anyhow::Result<()> {
        Ok(())
    }
    /// After the load ended (recovery probes, the slow clients' outcomes).
    fn after(&mut self, _fault: &Fault) -> anyhow::Result<()> {
        Ok(())
    }
    /// Its checks, timeline, figures and notes, from what was measured.
    fn judge(&self, fault: &Fault, measured: &Measured, report: &mut FaultReport);
}

/// Everything a scenario needs: the running stack and what the run was asked for.
pub struct Fault {
    pub plan: FaultPlan,
    pub stack: Stack,
    /// The stack as started.
    pub info: StackInfo,
    pub driver: Box<dyn Driver>,
    pub run_dir: PathBuf,
    /// When the scenario started (the window of the stack's events).
    pub started: SystemTime,
    pub acquire_timeout_ms: u64,
    pub stress_token: Option<String>,
}

impl Fault {
    /// A URL file for a built-in scenario, for the customers the load may use (the writer's
    /// range left out), written into the run folder and validated.
    pub fn urls_file(&self, scenario: Scenario) -> anyhow::Result<PathBuf> {
        let sizes = SeedSizes {
            customers: SEED_CUSTOMERS - WRITER_CUSTOMERS,
            disks: SEED_DISKS,
        };
        let text = urls::generate(scenario, sizes, &self.info.base_url)?;
        let path = self.urls_path(scenario);
        std::fs::write(&path, text)?;
        urls::validate(&path)?;
        Ok(path)
    }

    /// Where `urls_file` writes a scenario's URL file.
    pub fn urls_path(&self, scenario: Scenario) -> PathBuf {
        self.run_dir.join(format!("urls-{}.txt", scenario.name()))
    }

    /// The stack as its runtime sees it now (restarts, OOM kills, fresh PIDs).
    pub fn status(&self) -> anyhow::Result<StackInfo> {
        self.stack.status()
    }

    pub fn service(&self, name: &str) -> anyhow::Result<ServiceInfo> {
        self.status()?
            .services
            .into_iter()
            .find(|s| s.name == name)
            .with_context(|| format!("the stack has no service {name}"))
    }

    pub fn get(&self, path: &str, timeout: Duration) -> Probe {
        probe(&self.info.base_url, path, timeout)
    }

    /// Starts one measured step on the fault's stack: the same runner `lab bench` uses.
    pub fn start_step(&self, scenario: Scenario, secs: u64) -> anyhow::Result<StepRunner> {
        let load = Load {
            urls: self.urls_file(scenario)?,
            offered: Offered::Users(self.plan.users),
            secs,
        };
        StepRunner::start(&self.info, self.driver.as_ref(), &load)
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
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Waits (ticking the step) until `/ready` and a read both answer 200 in one round, at most
/// `limit`; the seconds it took, None when it never did.
pub fn wait_until_serving(fault: &Fault, step: &mut StepRunner, limit: Duration) -> Option<f64> {
    let since = Instant::now();
    let mut disk = 1;
    while since.elapsed() < limit {
        step.tick();
        let ready = fault.get(contract::routes::READY, Duration::from_secs(5));
        let read = fault.get(&format!("/disks/{disk}"), Duration::from_secs(5));
        disk = disk % SEED_DISKS + 1;
        if ready.status == 200 && read.status == 200 {
            return Some(since.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
