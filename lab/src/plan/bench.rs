//! A bench's plan: profiles × scenarios × concurrency steps, with what each step is judged by.
//! `lab bench` makes it from its flags, `lab tune` for each candidate.

use std::path::PathBuf;

use anyhow::bail;

use super::driver::DriverKind;
use super::levels::Rates;
use super::scenario::ScenarioSource;
use crate::profile::Profile;
use crate::results::slo::{self, SloRule};
use crate::results::Arrivals;
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
    /// Concurrency steps, ascending, without repeats (ramp: the start and the cap); empty
    /// for an open-model-only bench.
    pub users: Vec<u32>,
    /// Users double from the lowest until an SLO breaks.
    pub ramp: bool,
    /// The open model's rates, after the users.
    pub rates: Rates,
    /// How the open model spaces arrivals.
    pub arrivals: Arrivals,
    /// The load driver.
    pub driver: DriverKind,
    pub step_secs: u64,
    pub warmup_secs: u64,
    /// Seconds of each ceiling measurement; 0 measures none.
    pub ceiling_secs: u64,
    /// The SLO as given, and parsed.
    pub slo_text: Option<String>,
    pub slo: Vec<SloRule>,
    /// Draw the plots and report.html when the run ends (`lab ab`'s runs do not: its own
    /// report draws what it compares, and `lab report` draws a run's when wanted).
    pub plots: bool,
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
    /// Users asked for; None: the default list, unless rates were asked for alone.
    pub users: Option<Vec<u32>>,
    pub ramp: bool,
    /// `500,1000,2000` or `auto`.
    pub rates: Option<String>,
    pub arrivals: Arrivals,
    pub driver: DriverKind,
    pub step_secs: u64,
    pub warmup_secs: u64,
    pub ceiling_secs: u64,
    pub slo: Option<String>,
}

/// The closed model's users when neither users nor rates are asked for.
pub const DEFAULT_USERS: [u32; 5] = [10, 50, 100, 250, 450];

/// `500,1000,2000` (requests per second) or `auto`.
pub fn parse_rates(text: &str) -> anyhow::Result<Rates> {
    if text.trim() == "auto" {
        return Ok(Rates::Auto);
    }
    let mut rates = Vec::new();
    for part in text.split(',').map(str::trim) {
        let rate: f64 = part
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| anyhow::anyhow!("--rate {text:?}: {part:?} is not a positive number of requests per second (or use --rate auto)"))?;
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    Ok(Rates::List(rates))
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
        let rates = match &request.rates {
            Some(text) => parse_rates(text)?,
            None => Rates::None,
        };
        if rates == Rates::Auto && slo.is_empty() {
            bail!("--rate auto looks for the highest rate that meets an SLO: give one with --slo (e.g. --slo 'p99_ms<150')");
        }
        if rates != Rates::None && request.driver == DriverKind::Siege {
            bail!("--rate runs the open model, which siege cannot drive: use --driver lab (the default)");
        }
        let mut users = match &request.users {
            Some(users) => users.clone(),
            None if rates == Rates::None => DEFAULT_USERS.to_vec(),
            None => Vec::new(),
        };
        if users.contains(&0) || (users.is_empty() && rates == Rates::None) {
            bail!("--users needs positive concurrency values, e.g. --users 10,50,100");
        }
        if request.ramp && users.is_empty() {
            bail!("--ramp raises --users: give the users to start from and cap at, e.g. --users 10,800");
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
            rates,
            arrivals: request.arrivals,
            driver: request.driver,
            step_secs: request.step_secs,
            warmup_secs: request.warmup_secs,
            ceiling_secs: request.ceiling_secs,
            slo_text: request.slo,
            slo,
            plots: true,
        })
    }
}
