//! `lab tune`'s data: the budget, each candidate's split and what its step measured, and
//! `tune.json` itself, the file every other tune output is drawn from.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::step::Step;
use super::verdict::Bottleneck;
use contract::profile::{parse_cpus, parse_memory, Role};
use contract::{DbKind, RuntimeKind};

/// What may be split: CPUs (in thousandths) and memory (MiB) for nginx, the replicas and the
/// database together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// CPUs in thousandths (1000: one CPU).
    pub millicpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
}

impl Budget {
    /// `cpus=1,memory=2G` (memory in docker's units: `2G` is 2 GiB).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (mut cpus, mut memory) = (None, None);
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| anyhow!("budget part {part:?}: expected key=value"))?;
            match key.trim() {
                "cpus" | "cpu" => cpus = Some(parse_cpus(value).map_err(anyhow::Error::msg)?),
                "memory" | "mem" => memory = Some(parse_memory(value).map_err(anyhow::Error::msg)?),
                other => bail!("budget: unknown key {other:?} (use cpus= and memory=)"),
            }
        }
        let (Some(cpus), Some(memory)) = (cpus, memory) else {
            bail!("a budget names both, e.g. --budget cpus=1,memory=2G");
        };
        Ok(Self {
            millicpus: (cpus * 1000.0).round() as u32,
            memory_mib: memory >> 20,
        })
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpus={},memory={}M",
            cpus_text(self.millicpus),
            self.memory_mib
        )
    }
}

/// `300` -> `0.3` (as a profile writes CPUs).
pub fn cpus_text(millicpus: u32) -> String {
    let text = format!("{:.3}", f64::from(millicpus) / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

/// One split of the budget. CPU and memory are per service; the app's are per replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Allocation {
    /// App replicas, 1 or 2.
    pub replicas: u32,
    /// nginx's CPU cap, thousandths.
    pub nginx_millicpus: u32,
    /// Each replica's CPU cap, thousandths.
    pub app_millicpus: u32,
    /// The database's CPU cap, thousandths (0 on SQLite: no database service).
    pub db_millicpus: u32,
    /// nginx's memory cap, MiB.
    pub nginx_memory_mib: u64,
    /// Each replica's memory cap, MiB.
    pub app_memory_mib: u64,
    /// The database's memory cap, MiB.
    pub db_memory_mib: u64,
}

impl Allocation {
    /// The split a profile's caps make.
    pub fn of(caps: &contract::profile::Caps) -> Self {
        let millicpus = |cpus: f64| (cpus * 1000.0).round() as u32;
        Self {
            replicas: caps.replicas,
            nginx_millicpus: millicpus(caps.nginx.cpus),
            app_millicpus: millicpus(caps.app.cpus),
            db_millicpus: millicpus(caps.db.cpus),
            nginx_memory_mib: caps.nginx.memory_bytes >> 20,
            app_memory_mib: caps.app.memory_bytes >> 20,
            db_memory_mib: caps.db.memory_bytes >> 20,
        }
    }

    /// How many services of the role run.
    pub fn count(&self, role: Role) -> u32 {
        match role {
            Role::App => self.replicas,
            _ => 1,
        }
    }

    /// One service's CPU cap.
    pub fn millicpus(&self, role: Role) -> u32 {
        match role {
            Role::Nginx => self.nginx_millicpus,
            Role::App => self.app_millicpus,
            Role::Db => self.db_millicpus,
        }
    }

    /// One service's memory cap.
    pub fn memory_mib(&self, role: Role) -> u64 {
        match role {
            Role::Nginx => self.nginx_memory_mib,
            Role::App => self.app_memory_mib,
            Role::Db => self.db_memory_mib,
        }
    }

    pub fn set_millicpus(&mut self, role: Role, value: u32) {
        match role {
            Role::Nginx => self.nginx_millicpus = value,
            Role::App => self.app_millicpus = value,
            Role::Db => self.db_millicpus = value,
        }
    }

    pub fn set_memory_mib(&mut self, role: Role, value: u64) {
        match role {
            Role::Nginx => self.nginx_memory_mib = value,
            Role::App => self.app_memory_mib = value,
            Role::Db => self.db_memory_mib = value,
        }
    }

    #[cfg(test)]
    pub fn total_millicpus(&self) -> u32 {
        self.budget_of(&Role::ALL).millicpus
    }

    /// The budget this split spends on the given roles.
    pub fn budget_of(&self, roles: &[Role]) -> Budget {
        Budget {
            millicpus: roles
                .iter()
                .map(|&r| self.millicpus(r) * self.count(r))
                .sum(),
            memory_mib: roles
                .iter()
                .map(|&r| self.memory_mib(r) * u64::from(self.count(r)))
                .sum(),
        }
    }

    #[cfg(test)]
    pub fn total_memory_mib(&self) -> u64 {
        self.budget_of(&Role::ALL).memory_mib
    }

    /// `nginx 0.1 · app 2×0.3 · db 0.3 CPU`, for tables and logs.
    pub fn describe_cpus(&self) -> String {
        let app = if self.replicas == 1 {
            cpus_text(self.app_millicpus)
        } else {
            format!("{}×{}", self.replicas, cpus_text(self.app_millicpus))
        };
        let mut text = format!("nginx {} · app {app}", cpus_text(self.nginx_millicpus));
        if self.db_millicpus > 0 {
            text.push_str(&format!(" · db {}", cpus_text(self.db_millicpus)));
        }
        text
    }
}

/// What one role did during a measured step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleUsage {
    /// nginx, app or db.
    pub role: Role,
    /// CPU used as a share of the cap, percent (the app: its busiest replica).
    pub cpu_used_percent: f64,
    /// Throttled CFS periods, percent (the app: its most throttled replica).
    pub cpu_throttled_percent: f64,
    /// Highest memory of one service of the role, MiB.
    pub memory_peak_mib: f64,
    /// OOM kills plus restarts during the step.
    pub kills: u64,
}

/// What a candidate's step measured, as the search needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Requests per second of the step.
    pub requests_per_s: f64,
    /// The step's p99, ms.
    pub p99_ms: f64,
    /// The step's availability, percent.
    pub availability_percent: f64,
    /// The step met the SLO (true without one).
    pub slo_passed: bool,
    /// What the step's verdict named.
    pub bottleneck: Bottleneck,
    /// The verdict's evidence.
    pub evidence: Vec<String>,
    /// What each role used.
    pub usage: Vec<RoleUsage>,
}

impl Observation {
    /// From a measured step (the bench's `run.json`).
    pub fn from_step(step: &Step) -> Self {
        let mut usage: Vec<RoleUsage> = Vec::new();
        for service in &step.services {
            let role = Role::of_service(&service.name);
            let used = match service.cpu_limit_cores {
                Some(limit) if limit > 0.0 => 100.0 * service.cpu_cores / limit,
                _ => 0.0,
            };
            let peak = service.memory_peak_bytes as f64 / 1048576.0;
            let kills = service.oom_kills + service.restarts;
            match usage.iter_mut().find(|u| u.role == role) {
                Some(u) => {
                    u.cpu_used_percent = u.cpu_used_percent.max(used);
                    u.cpu_throttled_percent =
                        u.cpu_throttled_percent.max(service.cpu_throttled_percent);
                    u.memory_peak_mib = u.memory_peak_mib.max(peak);
                    u.kills += kills;
                }
                None => usage.push(RoleUsage {
                    role,
                    cpu_used_percent: used,
                    cpu_throttled_percent: service.cpu_throttled_percent,
                    memory_peak_mib: peak,
                    kills,
                }),
            }
        }
        usage.sort_by_key(|u| u.role);
        Self {
            requests_per_s: step.nginx.requests_per_s,
            p99_ms: step.nginx.p99_ms,
            availability_percent: step.nginx.availability_percent,
            slo_passed: step.slo.as_ref().is_none_or(|o| o.passed),
            bottleneck: step.verdict.bottleneck,
            evidence: step.verdict.evidence.clone(),
            usage,
        }
    }

    pub fn usage(&self, role: Role) -> Option<&RoleUsage> {
        self.usage.iter().find(|u| u.role == role)
    }

    /// The services whose step saw an OOM kill or a restart.
    pub fn killed(&self) -> Vec<Role> {
        self.usage
            .iter()
            .filter(|u| u.kills > 0)
            .map(|u| u.role)
            .collect()
    }
}

/// One measured (or discarded) candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// From 1, in the order measured.
    pub id: usize,
    pub allocation: Allocation,
    /// Why the search chose it.
    pub reason: String,
    /// Each measurement (a second one when it was within noise of another candidate).
    pub observations: Vec<Observation>,
    /// Set when the candidate does not count (an OOM kill), with why.
    pub discarded: Option<String>,
}

impl Candidate {
    pub fn mean_requests_per_s(&self) -> f64 {
        mean(self.observations.iter().map(|o| o.requests_per_s))
    }

    pub fn mean_p99_ms(&self) -> f64 {
        mean(self.observations.iter().map(|o| o.p99_ms))
    }

    /// Every measurement met the SLO.
    pub fn slo_passed(&self) -> bool {
        !self.observations.is_empty() && self.observations.iter().all(|o| o.slo_passed)
    }

    pub fn last(&self) -> Option<&Observation> {
        self.observations.last()
    }

    pub fn counts(&self) -> bool {
        self.discarded.is_none() && !self.observations.is_empty()
    }
}

pub fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// How the tune was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneSettings {
    /// The total split across the services.
    pub budget: Budget,
    /// The profile every candidate starts from.
    pub base_profile: String,
    /// The load each candidate is measured under.
    pub scenario: String,
    /// Concurrent users.
    pub users: u32,
    /// The SLO the winner must meet, as given.
    pub slo: Option<String>,
    /// The database the stacks ran on.
    pub db: DbKind,
    /// `native` or `compose`.
    pub runtime: RuntimeKind,
    /// Seconds each candidate's step measured.
    pub step_secs: u64,
    /// Seconds of load before each step, not counted.
    pub warmup_secs: u64,
    /// Candidates closer than this (percent) were measured again.
    pub noise_percent: f64,
    /// Fewest app replicas a candidate could have (`--min-replicas`); 1 in older files.
    #[serde(default = "one")]
    pub min_replicas: u32,
    /// At most this many measurements.
    pub max_candidates: usize,
    /// No candidate started that would end past this many seconds.
    pub time_budget_secs: Option<u64>,
    /// The winner profile's name.
    pub profile_name: String,
}

/// One candidate with its figures as judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// The candidate: its split, why it was tried, each measurement.
    #[serde(flatten)]
    pub candidate: Candidate,
    /// Mean requests per second over its measurements.
    pub mean_requests_per_s: f64,
    /// Mean p99 over its measurements, ms.
    pub mean_p99_ms: f64,
    /// Every measurement met the SLO (true without one).
    pub slo_passed: bool,
    /// No other candidate has both more throughput and a lower p99.
    pub frontier: bool,
    /// Its bench folders, relative to the tune's folder.
    pub runs: Vec<String>,
}

/// `tune.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneFile {
    /// What was asked for.
    pub settings: TuneSettings,
    /// When the tune started (UTC).
    pub started_at: DateTime<Utc>,
    /// When it ended; None while running or when interrupted.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why the search ended (None while it runs).
    pub stop_reason: Option<String>,
    /// Memory floor per service of each role at the end, MiB.
    pub floors_mib: BTreeMap<String, u64>,
    /// Every candidate, in the order measured.
    pub candidates: Vec<CandidateRecord>,
    /// The highest throughput among the candidates that count (SLO met first).
    pub best: Option<usize>,
    /// The best, if it met the SLO.
    pub winner: Option<usize>,
    /// The winner's profile file in this folder.
    pub winner_profile: Option<String>,
    /// That file's text, so every report can be drawn from this file alone.
    #[serde(default)]
    pub winner_profile_text: Option<String>,
}

impl TuneFile {
    /// A candidate's record by id.
    pub fn candidate(&self, id: usize) -> Option<&CandidateRecord> {
        self.candidates.iter().find(|c| c.candidate.id == id)
    }
}

impl TuneSettings {
    /// `postgres, native runtime`.
    pub fn stack_text(&self) -> String {
        format!("{}, {} runtime", self.db, self.runtime)
    }
}

fn one() -> u32 {
    1
}
