//! `lab tune`'s search, apart from any load: which split of the budget to measure next, given
//! what the earlier candidates measured. Deterministic, so the tests drive it with recorded
//! step results.
//!
//! The walk: measure the base profile's split (scaled to the budget), then the same with the
//! other replica count (1 or 2), then climb from the best so far: move a step of CPU toward
//! the service the verdict names as the bottleneck, taken from the service furthest under its
//! cap; a move that does not help halves the step; two candidates within the noise of each
//! other are both measured again and compared by their means. Memory follows the base's
//! proportions, never below a service's measured peak plus a margin; a candidate whose step
//! saw an OOM kill (or a restart) is discarded and that service's floor raised.

use std::collections::VecDeque;
use std::fmt;

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};

use crate::results::verdict::{self, Bottleneck};
use crate::results::Step;
use contract::profile::{parse_cpus, parse_memory};

/// The services a budget is split across.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Nginx,
    App,
    Db,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Nginx, Role::App, Role::Db];

    pub fn label(self) -> &'static str {
        match self {
            Role::Nginx => "nginx",
            Role::App => "app",
            Role::Db => "db",
        }
    }

    fn of(bottleneck: Bottleneck) -> Option<Role> {
        match bottleneck {
            Bottleneck::Nginx => Some(Role::Nginx),
            Bottleneck::App => Some(Role::App),
            Bottleneck::Database => Some(Role::Db),
            _ => None,
        }
    }

    /// The role of a measured service (`app1`, `app2`, `nginx`, `db`), as the verdict names it.
    fn of_service(name: &str) -> Role {
        Role::of(verdict::role(name)).unwrap_or(Role::App)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What may be split: CPUs (in thousandths) and memory (MiB) for nginx, the replicas and the
/// database together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub millicpus: u32,
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
    pub replicas: u32,
    pub nginx_millicpus: u32,
    pub app_millicpus: u32,
    pub db_millicpus: u32,
    pub nginx_memory_mib: u64,
    pub app_memory_mib: u64,
    pub db_memory_mib: u64,
}

impl Allocation {
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

    fn set_millicpus(&mut self, role: Role, value: u32) {
        match role {
            Role::Nginx => self.nginx_millicpus = value,
            Role::App => self.app_millicpus = value,
            Role::Db => self.db_millicpus = value,
        }
    }

    fn set_memory_mib(&mut self, role: Role, value: u64) {
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
    pub requests_per_s: f64,
    pub p99_ms: f64,
    pub availability_percent: f64,
    pub slo_passed: bool,
    pub bottleneck: Bottleneck,
    pub evidence: Vec<String>,
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

    fn usage(&self, role: Role) -> Option<&RoleUsage> {
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

    fn counts(&self) -> bool {
        self.discarded.is_none() && !self.observations.is_empty()
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The search's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub budget: Budget,
    /// The roles that run (no `db` on SQLite: the database lives in the replicas).
    pub roles: Vec<Role>,
    /// Two candidates closer than this (percent of the higher throughput) are measured again.
    pub noise_percent: f64,
    /// No service gets less CPU than this.
    pub min_millicpus: u32,
    /// The first move's size; halved after a move that did not help.
    pub first_step_millicpus: u32,
    /// The search ends when the step would fall below this.
    pub min_step_millicpus: u32,
    /// A service's memory cap stays at least its measured peak times this ...
    pub memory_peak_factor: f64,
    /// ... plus this many MiB.
    pub memory_margin_mib: u64,
}

impl Settings {
    pub fn new(budget: Budget, roles: Vec<Role>, noise_percent: f64) -> Self {
        // A tenth of the budget, in 10-millicore units, to begin with; 20 millicores at least.
        let first = ((budget.millicpus / 10) / 10 * 10).max(20);
        Self {
            budget,
            roles,
            noise_percent,
            min_millicpus: 50,
            first_step_millicpus: first,
            min_step_millicpus: 20,
            memory_peak_factor: 1.25,
            memory_margin_mib: 32,
        }
    }
}

/// What to measure next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Measure this candidate (a new one, or `repeat` of an earlier one).
    Measure {
        id: usize,
        allocation: Allocation,
        reason: String,
        repeat: bool,
    },
    /// Nothing left worth measuring, and why.
    Done(String),
}

/// The search's state; `next` and `record` alternate.
#[derive(Debug, Clone)]
pub struct Search {
    pub settings: Settings,
    pub candidates: Vec<Candidate>,
    /// Memory floor per service of each role, MiB (raised by measured peaks and OOM kills).
    pub floors_mib: [u64; 3],
    /// The current move size.
    pub step_millicpus: u32,
    /// Each role's share of the memory (from the base profile).
    memory_shares: [f64; 3],
    start: Allocation,
    tried_replicas: bool,
    repeats: VecDeque<usize>,
}

impl Search {
    /// `base` is the base profile's split; it is scaled to the budget for the first candidate.
    pub fn new(settings: Settings, base: Allocation) -> anyhow::Result<Self> {
        let mut floors_mib = [32, 64, 128];
        let mut memory_shares = [0.0; 3];
        let total_memory = settings
            .roles
            .iter()
            .map(|&r| base.memory_mib(r) * u64::from(base.count(r)))
            .sum::<u64>()
            .max(1) as f64;
        for role in Role::ALL {
            if !settings.roles.contains(&role) {
                floors_mib[role.index()] = 0;
                continue;
            }
            memory_shares[role.index()] =
                (base.memory_mib(role) * u64::from(base.count(role))) as f64 / total_memory;
        }
        let mut search = Self {
            step_millicpus: settings.first_step_millicpus,
            settings,
            candidates: Vec::new(),
            floors_mib,
            memory_shares,
            start: base,
            tried_replicas: false,
            repeats: VecDeque::new(),
        };
        search.start = search
            .scaled(base)
            .context("the base profile's split does not fit the budget")?;
        Ok(search)
    }

    /// The base's CPU split scaled to the budget (rounding left to the app), memory fitted.
    fn scaled(&self, base: Allocation) -> anyhow::Result<Allocation> {
        let budget = self.settings.budget.millicpus;
        let roles = &self.settings.roles;
        let base_total: u32 = roles
            .iter()
            .map(|&r| base.millicpus(r) * base.count(r))
            .sum();
        if base_total == 0 {
            bail!("the base profile gives no CPU");
        }
        let mut alloc = base;
        for role in Role::ALL {
            if !roles.contains(&role) {
                alloc.set_millicpus(role, 0);
                alloc.set_memory_mib(role, 0);
            }
        }
        let mut given = 0;
        for &role in roles.iter().filter(|&&r| r != Role::App) {
            let share = u64::from(base.millicpus(role)) * u64::from(budget) / u64::from(base_total);
            let value = (share as u32).max(self.settings.min_millicpus);
            alloc.set_millicpus(role, value);
            given += value;
        }
        let app_total = budget
            .checked_sub(given)
            .filter(|left| *left >= self.settings.min_millicpus * alloc.replicas)
            .ok_or_else(|| anyhow!("a budget of {budget} millicores is too small"))?;
        alloc.app_millicpus = app_total / alloc.replicas;
        self.fit_memory(alloc)
            .ok_or_else(|| anyhow!("the memory floors exceed the budget"))
    }

    /// Memory in the base's proportions, each service at least at its floor (what is lifted
    /// to a floor is taken from the others' room above theirs); None when the floors
    /// alone exceed the budget.
    fn fit_memory(&self, mut alloc: Allocation) -> Option<Allocation> {
        let budget = self.settings.budget.memory_mib as f64;
        let roles = &self.settings.roles;
        let replicas = alloc.replicas;
        let count = |r: Role| {
            if r == Role::App {
                f64::from(replicas)
            } else {
                1.0
            }
        };
        let floor_total = |r: Role| self.floors_mib[r.index()] as f64 * count(r);
        if roles.iter().map(|&r| floor_total(r)).sum::<f64>() > budget {
            return None;
        }
        let mut totals = [0.0; 3];
        for &r in roles {
            totals[r.index()] = budget * self.memory_shares[r.index()];
        }
        let deficit: f64 = roles
            .iter()
            .map(|&r| (floor_total(r) - totals[r.index()]).max(0.0))
            .sum();
        let room: f64 = roles
            .iter()
            .map(|&r| (totals[r.index()] - floor_total(r)).max(0.0))
            .sum();
        for &r in roles {
            let i = r.index();
            totals[i] = if totals[i] < floor_total(r) {
                floor_total(r)
            } else if room > 0.0 {
                totals[i] - deficit * (totals[i] - floor_total(r)) / room
            } else {
                totals[i]
            };
        }
        for &r in roles {
            // The epsilon keeps a share that is exactly the base's from flooring one MiB below it.
            alloc.set_memory_mib(r, (totals[r.index()] / count(r) + 1e-6).floor() as u64);
        }
        Some(alloc)
    }

    /// The best candidate so far: among those that count, SLO met first, then throughput,
    /// then the lower p99, then the earlier (on a tie the base split stays).
    pub fn best(&self) -> Option<&Candidate> {
        let key = |c: &Candidate| (c.slo_passed(), c.mean_requests_per_s(), -c.mean_p99_ms());
        self.candidates
            .iter()
            .filter(|c| c.counts())
            .rev()
            .max_by(|a, b| {
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
    }

    /// The winner: the best candidate, if it met the SLO.
    pub fn winner(&self) -> Option<&Candidate> {
        self.best().filter(|c| c.slo_passed())
    }

    /// Candidates no other beats on both throughput and p99 (the trade-offs on offer).
    pub fn frontier(&self) -> Vec<usize> {
        let counted: Vec<&Candidate> = self.candidates.iter().filter(|c| c.counts()).collect();
        counted
            .iter()
            .filter(|c| {
                !counted.iter().any(|o| {
                    o.id != c.id
                        && o.mean_requests_per_s() >= c.mean_requests_per_s()
                        && o.mean_p99_ms() <= c.mean_p99_ms()
                        && (o.mean_requests_per_s() > c.mean_requests_per_s()
                            || o.mean_p99_ms() < c.mean_p99_ms())
                })
            })
            .map(|c| c.id)
            .collect()
    }

    fn tried(&self, alloc: &Allocation) -> bool {
        self.candidates.iter().any(|c| {
            c.allocation.replicas == alloc.replicas
                && Role::ALL
                    .iter()
                    .all(|&r| c.allocation.millicpus(r) == alloc.millicpus(r))
        })
    }

    fn new_candidate(&self, allocation: Allocation, reason: String) -> Next {
        Next::Measure {
            id: self.candidates.len() + 1,
            allocation,
            reason,
            repeat: false,
        }
    }

    /// The next candidate to measure, or why the search is over.
    pub fn next(&mut self) -> Next {
        if let Some(id) = self.repeats.pop_front() {
            let c = &self.candidates[id - 1];
            return Next::Measure {
                id,
                allocation: c.allocation,
                reason: "measured again: within noise of another candidate".into(),
                repeat: true,
            };
        }
        if self.candidates.is_empty() {
            return self.new_candidate(self.start, "the base profile's split".into());
        }
        let Some(best) = self.best().cloned() else {
            return Next::Done("every candidate was discarded".into());
        };
        if !self.tried_replicas {
            self.tried_replicas = true;
            if let Some(alloc) = self.other_replica_count(&best.allocation) {
                if !self.tried(&alloc) {
                    let reason = match alloc.replicas {
                        1 => "the app's CPU and memory in one replica instead of two".to_owned(),
                        _ => "the app's CPU and memory split over two replicas instead of one"
                            .to_owned(),
                    };
                    return self.new_candidate(alloc, reason);
                }
            }
        }
        self.climb(&best)
    }

    fn other_replica_count(&self, from: &Allocation) -> Option<Allocation> {
        let mut alloc = *from;
        let app_total = from.app_millicpus * from.replicas;
        alloc.replicas = if from.replicas == 2 { 1 } else { 2 };
        alloc.app_millicpus = app_total / alloc.replicas;
        if alloc.app_millicpus < self.settings.min_millicpus {
            return None;
        }
        // What rounding drops goes to the app's replicas' neighbour with the least change.
        let lost = app_total - alloc.app_millicpus * alloc.replicas;
        if lost > 0 {
            let role = *self.settings.roles.iter().find(|&&r| r != Role::App)?;
            alloc.set_millicpus(role, alloc.millicpus(role) + lost);
        }
        self.fit_memory(alloc)
    }

    /// One move toward the bottleneck, from the service furthest under its cap.
    fn climb(&mut self, best: &Candidate) -> Next {
        let Some(seen) = best.last() else {
            return Next::Done("the best candidate has no measurement".into());
        };
        let receiver = match Role::of(seen.bottleneck) {
            Some(role) if self.settings.roles.contains(&role) => role,
            _ => {
                let hottest = self
                    .settings
                    .roles
                    .iter()
                    .filter_map(|&r| seen.usage(r))
                    .max_by(|a, b| a.cpu_used_percent.total_cmp(&b.cpu_used_percent));
                match (seen.bottleneck, hottest) {
                    (Bottleneck::LoadGenerator | Bottleneck::RateLimiter | Bottleneck::Host, _) => {
                        return Next::Done(format!(
                            "the best candidate's limit was the {}, not a cap: moving CPU between the services cannot raise it",
                            seen.bottleneck.label()
                        ))
                    }
                    (_, Some(u)) if u.cpu_used_percent >= verdict::QUOTA_USED_PERCENT => u.role,
                    _ => {
                        return Next::Done(
                            "no service came near its cap in the best candidate: the load, not the split, is the limit"
                                .into(),
                        )
                    }
                }
            }
        };
        while self.step_millicpus >= self.settings.min_step_millicpus {
            if let Some((alloc, reason)) = self.move_toward(&best.allocation, seen, receiver) {
                return self.new_candidate(alloc, reason);
            }
            self.step_millicpus /= 2;
        }
        Next::Done(format!(
            "converged: every move of {} CPU or more toward the {} (the bottleneck of candidate {}) was measured or would starve another service",
            cpus_text(self.settings.min_step_millicpus),
            receiver.label(),
            best.id
        ))
    }

    /// `step` millicores to `receiver` from the coolest donor that keeps headroom over what it
    /// used; None when no donor can give or every such move was measured.
    fn move_toward(
        &self,
        from: &Allocation,
        seen: &Observation,
        receiver: Role,
    ) -> Option<(Allocation, String)> {
        // The app's share moves in whole millicores per replica.
        let granule = |r: Role| from.count(r);
        let mut donors: Vec<(&RoleUsage, Role)> = self
            .settings
            .roles
            .iter()
            .filter(|&&r| r != receiver)
            .filter_map(|&r| Some((seen.usage(r)?, r)))
            .collect();
        donors.sort_by(|a, b| a.0.cpu_used_percent.total_cmp(&b.0.cpu_used_percent));
        for (usage, donor) in donors {
            let unit = granule(donor) * granule(receiver);
            let step = self.step_millicpus / unit * unit;
            if step == 0 {
                continue;
            }
            let per_donor =
                from.millicpus(donor) - (step / from.count(donor)).min(from.millicpus(donor));
            let used = f64::from(from.millicpus(donor)) * usage.cpu_used_percent / 100.0;
            // A donor keeps 10% above what it used, and the floor.
            if per_donor < self.settings.min_millicpus || f64::from(per_donor) < used * 1.1 {
                continue;
            }
            let mut alloc = *from;
            alloc.set_millicpus(donor, per_donor);
            alloc.set_millicpus(
                receiver,
                from.millicpus(receiver) + step / from.count(receiver),
            );
            if self.tried(&alloc) {
                continue;
            }
            let alloc = self.fit_memory(alloc)?;
            let reason = format!(
                "+{} CPU to the {} (candidate {}'s bottleneck) from the {} (used {:.0}% of its cap)",
                cpus_text(step),
                receiver.label(),
                self.best().map_or(0, |b| b.id),
                donor.label(),
                usage.cpu_used_percent
            );
            return Some((alloc, reason));
        }
        None
    }

    /// Records a measurement of candidate `id` (as `next` proposed it).
    pub fn record(&mut self, id: usize, allocation: Allocation, reason: &str, seen: Observation) {
        let previous_best = self.best().map(|c| (c.id, c.mean_requests_per_s()));
        let repeat = id <= self.candidates.len();
        if !repeat {
            self.candidates.push(Candidate {
                id,
                allocation,
                reason: reason.to_owned(),
                observations: Vec::new(),
                discarded: None,
            });
        }
        let killed = seen.killed();
        for usage in &seen.usage {
            let floor = usage.memory_peak_mib * self.settings.memory_peak_factor
                + self.settings.memory_margin_mib as f64;
            let slot = &mut self.floors_mib[usage.role.index()];
            *slot = (*slot).max(floor.ceil() as u64);
        }
        let candidate = &mut self.candidates[id - 1];
        candidate.observations.push(seen);
        if !killed.is_empty() {
            let names: Vec<&str> = killed.iter().map(|r| r.label()).collect();
            candidate.discarded = Some(format!(
                "OOM kill or restart of {} during its step",
                names.join(", ")
            ));
            for role in killed {
                let cap = allocation.memory_mib(role);
                let slot = &mut self.floors_mib[role.index()];
                *slot = (*slot).max(cap + cap / 2);
            }
            return;
        }
        // A repeat only sharpens a mean: the move size is judged on new candidates.
        let Some((best_id, best_rps)) = previous_best.filter(|_| !repeat) else {
            return;
        };
        let this = &self.candidates[id - 1];
        let best = &self.candidates[best_id - 1];
        let (rps, same_slo) = (
            this.mean_requests_per_s(),
            this.slo_passed() == best.slo_passed(),
        );
        let gap = 100.0 * (rps - best_rps).abs() / rps.max(best_rps).max(1e-9);
        if same_slo && gap <= self.settings.noise_percent {
            // Within noise: one more measurement of each, then their means decide.
            for c in [best_id, id] {
                if self.candidates[c - 1].observations.len() < 2 && !self.repeats.contains(&c) {
                    self.repeats.push_back(c);
                }
            }
        } else if self.best().map(|c| c.id) != Some(id) {
            // Clearly worse: a finer move next.
            self.step_millicpus /= 2;
        }
    }

    /// Records that candidate `id` could not be measured at all (the stack did not start),
    /// so the search does not propose it again.
    pub fn record_failure(&mut self, id: usize, allocation: Allocation, reason: &str, why: String) {
        if id > self.candidates.len() {
            self.candidates.push(Candidate {
                id,
                allocation,
                reason: reason.to_owned(),
                observations: Vec::new(),
                discarded: Some(why),
            });
        } else {
            self.candidates[id - 1].discarded = Some(why);
        }
    }
}
