//! A tune's plan: the budget to split, the base profile every candidate starts from, the load
//! each candidate is measured under, and when the search must stop.

use std::path::PathBuf;

use anyhow::bail;

use super::driver::DriverKind;
use crate::profile::Profile;
use crate::results::slo;
use crate::results::tune::{Allocation, Budget};
use contract::profile::Role;
use contract::{DbKind, RuntimeKind};

/// A validated tune.
#[derive(Debug, Clone)]
pub struct TunePlan {
    pub budget: Budget,
    pub base: Profile,
    /// The base profile's split (the first candidate, scaled to the budget).
    pub base_split: Allocation,
    /// The roles that run: no database on SQLite (it lives in the replicas).
    pub roles: Vec<Role>,
    /// A built-in scenario or a URL file.
    pub scenario: String,
    pub users: u32,
    pub slo: Option<String>,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub candidates: usize,
    pub time_budget_secs: Option<u64>,
    pub step_secs: u64,
    pub warmup_secs: u64,
    pub ceiling_secs: u64,
    pub noise_percent: f64,
    /// Fewest app replicas a candidate may have (1 or 2).
    pub min_replicas: u32,
    /// The load driver of every candidate's bench.
    pub driver: DriverKind,
    /// The winner profile's name.
    pub name: String,
    /// Also install the winner as `profiles/<name>.env`.
    pub write_profile: bool,
    pub label: String,
    pub results: PathBuf,
    pub state_dir: PathBuf,
}

/// What a tune is asked for, before it is checked.
#[derive(Debug, Clone)]
pub struct TuneRequest {
    /// `cpus=1,memory=2G`; None: the base profile's totals.
    pub budget: Option<String>,
    pub base: String,
    pub scenario: String,
    pub users: u32,
    pub slo: Option<String>,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub candidates: usize,
    pub time_budget_secs: Option<u64>,
    pub step_secs: u64,
    pub warmup_secs: u64,
    pub ceiling_secs: u64,
    pub noise_percent: f64,
    /// Fewest app replicas a candidate may have (1 or 2).
    pub min_replicas: u32,
    pub driver: DriverKind,
    pub name: String,
    pub write_profile: bool,
    pub label: String,
    pub results: PathBuf,
    pub state_dir: PathBuf,
}

impl TunePlan {
    pub fn new(r: TuneRequest) -> anyhow::Result<Self> {
        let base = Profile::load(&r.base)?;
        let base_split = Allocation::of(&base.caps()?);
        let roles = if r.db == DbKind::Sqlite {
            vec![Role::Nginx, Role::App]
        } else {
            Role::ALL.to_vec()
        };
        let budget = match &r.budget {
            Some(text) => Budget::parse(text)?,
            None => base_split.budget_of(&roles),
        };
        if let Some(text) = &r.slo {
            slo::parse(text)?;
        }
        if r.users == 0 || r.step_secs == 0 || r.candidates == 0 {
            bail!("--users, --step-secs and --candidates must be at least 1");
        }
        if base_split.replicas < r.min_replicas {
            bail!(
                "--min-replicas {}: the base profile runs {} replica(s); start from a profile with at least {}",
                r.min_replicas,
                base_split.replicas,
                r.min_replicas
            );
        }
        if !(r.noise_percent >= 0.0 && r.noise_percent < 100.0) {
            bail!("--noise-percent must be between 0 and 100");
        }
        let name_ok = r
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if r.name.is_empty() || !name_ok {
            bail!("--name {:?}: use letters, digits, - and _", r.name);
        }
        Ok(Self {
            budget,
            base,
            base_split,
            roles,
            scenario: r.scenario,
            users: r.users,
            slo: r.slo,
            db: r.db,
            runtime: r.runtime,
            candidates: r.candidates,
            time_budget_secs: r.time_budget_secs,
            step_secs: r.step_secs,
            warmup_secs: r.warmup_secs,
            ceiling_secs: r.ceiling_secs,
            noise_percent: r.noise_percent,
            min_replicas: r.min_replicas,
            driver: r.driver,
            name: r.name,
            write_profile: r.write_profile,
            label: r.label,
            results: r.results,
            state_dir: r.state_dir,
        })
    }
}
