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

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};

use crate::results::tune::{cpus_text, Allocation, Budget, Candidate, Observation, RoleUsage};
use crate::results::verdict::{self, Bottleneck};
use contract::profile::Role;

/// The role a verdict's bottleneck names; None when it names no capped service.
fn role_of(bottleneck: Bottleneck) -> Option<Role> {
    match bottleneck {
        Bottleneck::Nginx => Some(Role::Nginx),
        Bottleneck::App => Some(Role::App),
        Bottleneck::Database => Some(Role::Db),
        _ => None,
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
    /// Fewest app replicas a candidate may have (1, or 2 to keep a spare replica).
    pub min_replicas: u32,
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
            min_replicas: 1,
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
        if alloc.replicas < self.settings.min_replicas {
            return None;
        }
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
        let receiver = match role_of(seen.bottleneck) {
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
            receiver.name(),
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
                receiver.name(),
                self.best().map_or(0, |b| b.id),
                donor.name(),
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
            let names: Vec<&str> = killed.iter().map(|r| r.name()).collect();
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
