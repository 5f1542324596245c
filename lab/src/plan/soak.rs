//! A soak's plan: one profile's stack, one scenario, one concurrency, for a long time cut into
//! windows.

use std::path::PathBuf;

use anyhow::{bail, Context};

use super::driver::DriverKind;
use crate::load::urls::Scenario;
use crate::profile::Profile;
use contract::{DbKind, RuntimeKind};

/// A validated soak.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    pub profile: Profile,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub scenario: Scenario,
    pub users: u32,
    /// Seconds of load in all; `duration_secs / window_secs` windows.
    pub duration_secs: u64,
    /// Seconds per window: one load run, then one reading of every replica and nginx.
    pub window_secs: u64,
    /// The load driver of every window.
    pub driver: DriverKind,
    pub label: String,
    pub results: PathBuf,
    pub state_dir: PathBuf,
}

/// What a soak is asked for, before it is checked.
#[derive(Debug, Clone)]
pub struct SoakRequest {
    /// A profile name or env-file path.
    pub profile: String,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    /// read, write or mixed.
    pub scenario: String,
    pub users: u32,
    pub duration_secs: u64,
    pub window_secs: u64,
    pub driver: DriverKind,
    pub label: String,
    pub results: PathBuf,
    pub state_dir: PathBuf,
}

impl SoakPlan {
    /// Checks the soak's numbers and names before anything starts.
    pub fn new(request: SoakRequest) -> anyhow::Result<Self> {
        let r = request;
        if r.window_secs < 5 || r.duration_secs < 3 * r.window_secs {
            bail!("--window-secs must be at least 5 and --duration-secs at least three windows (the first third is warm-up)");
        }
        if r.users == 0 {
            bail!("--users must be at least 1");
        }
        let scenario = Scenario::parse(&r.scenario)
            .filter(|s| *s != Scenario::Stress)
            .with_context(|| {
                format!(
                    "unknown scenario {:?}: use read, write or mixed",
                    r.scenario
                )
            })?;
        Ok(Self {
            profile: Profile::load(&r.profile)?,
            db: r.db,
            runtime: r.runtime,
            scenario,
            users: r.users,
            duration_secs: r.duration_secs,
            window_secs: r.window_secs,
            driver: r.driver,
            label: r.label,
            results: r.results,
            state_dir: r.state_dir,
        })
    }
}
