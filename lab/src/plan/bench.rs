//! A bench's plan: profiles × scenarios × concurrency steps, with what each step is judged by.
//! `lab bench` makes it from its flags, `lab tune` for each candidate.

use std::path::PathBuf;

use anyhow::bail;

use super::scenario::ScenarioSource;
use crate::profile::Profile;
use crate::results::slo::{self, SloRule};
use contract::{DbKind, RuntimeKind};

/// A validated bench.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Suffix of the results folder.
    pub label: String,
    /// Where the run folder goes: `<results>/<timestamp>-<label>/`.
    pub results: PathBuf,
    /// Profiles, one stack each, in order.
    pub profiles: Vec<Profile>,
    pub scenarios: Vec<ScenarioSource>,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    /// Bench the stack already running at `state_dir` instead of starting one.
    pub attach: bool,
    /// The stack's state folder.
    pub state_dir: PathBuf,
    /// Concurrency steps, ascending, without repeats (ramp: the start and the cap).
    pub users: Vec<u32>,
    /// Users double from the lowest until an SLO breaks.
    pub ramp: bool,
    pub step_secs: u64,
    pub warmup_secs: u64,
    /// Seconds of each ceiling measurement; 0 measures none.
    pub ceiling_secs: u64,
    /// The SLO as given, and parsed.
    pub slo_text: Option<String>,
    pub slo: Vec<SloRule>,
}

/// What a bench is asked for, before it is checked.
#[derive(Debug, Clone)]
pub struct BenchRequest {
    pub label: String,
    pub results: PathBuf,
    /// Profile names or env-file paths.
    pub profiles: Vec<String>,
    /// Built-in scenario names or URL-file paths.
    pub scenarios: Vec<String>,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub attach: bool,
    pub state_dir: PathBuf,
    pub users: Vec<u32>,
    pub ramp: bool,
    pub step_secs: u64,
    pub warmup_secs: u64,
    pub ceiling_secs: u64,
    pub slo: Option<String>,
}

impl BenchPlan {
    /// Checks everything a bench needs before it starts: SLO rules, concurrencies, durations,
    /// scenarios (a hand-written URL file is validated now), profiles.
    pub fn new(request: BenchRequest) -> anyhow::Result<Self> {
        let slo = match &request.slo {
            Some(text) => slo::parse(text)?,
            None => Vec::new(),
        };
        if request.ramp && slo.is_empty() {
            bail!("--ramp raises users until an SLO breaks: give one with --slo (e.g. --slo 'p99_ms<250,availability>=99.9')");
        }
        let mut users = request.users.clone();
        if users.is_empty() || users.contains(&0) {
            bail!("--users needs positive concurrency values, e.g. --users 10,50,100");
        }
        users.sort_unstable();
        users.dedup();
        if request.step_secs == 0 {
            bail!("--step-secs must be at least 1");
        }
        if request.attach && request.profiles.len() != 1 {
            bail!("--attach benches the one running stack: give exactly one --profile (the env file it runs under)");
        }
        let scenarios = request
            .scenarios
            .iter()
            .map(|s| ScenarioSource::parse(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let profiles = request
            .profiles
            .iter()
            .map(|name| Profile::load(name))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            label: request.label,
            results: request.results,
            profiles,
            scenarios,
            db: request.db,
            runtime: request.runtime,
            attach: request.attach,
            state_dir: request.state_dir,
            users,
            ramp: request.ramp,
            step_secs: request.step_secs,
            warmup_secs: request.warmup_secs,
            ceiling_secs: request.ceiling_secs,
            slo_text: request.slo,
            slo,
        })
    }
}
