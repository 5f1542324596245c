//! A tune, run from its plan: each candidate is a profile file (the base profile with other
//! caps) benched by the bench executor itself, one step, warm-up not counted; [`search`]
//! chooses the next from the verdicts. Every file is written again after every candidate, so
//! a crash keeps what was measured.

mod profiles;
pub mod search;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;

use self::profiles::{candidate_header, install_profile, profile_text, winner_header};
use self::search::{Next, Search, Settings};
use super::bench;
use crate::config::LabConfig;
use crate::export;
use crate::interrupt;
use crate::plan::bench::{BenchPlan, BenchRequest};
use crate::plan::tune::TunePlan;
use crate::profile;
use crate::results::tune::{Allocation, CandidateRecord, Observation, TuneFile, TuneSettings};
use contract::profile::Role;

/// A tune that ran: its folder, its file, and where the winner's profile went.
pub struct Tuned {
    pub dir: PathBuf,
    pub file: TuneFile,
    /// The winner's profile in the tune's folder; None without a winner.
    pub winner_env: Option<PathBuf>,
    /// `profiles/<name>.env`, when `--write-profile` installed it.
    pub installed: Option<PathBuf>,
}

pub fn run(config: &LabConfig, plan: &TunePlan) -> anyhow::Result<Tuned> {
    let mut settings = Settings::new(plan.budget, plan.roles.clone(), plan.noise_percent);
    settings.min_replicas = plan.min_replicas;
    let mut search = Search::new(settings, plan.base_split)?;
    // Absolute: compose reads each candidate's env file from the repository's folder.
    let dir = fs::canonicalize(export::create_run_dir(&plan.results, &plan.label)?)?;
    fs::create_dir_all(dir.join("candidates"))?;
    interrupt::catch();
    eprintln!(
        "lab tune: budget {}, results in {}",
        plan.budget,
        dir.display()
    );
    let mut tune = Tune {
        file: new_file(plan),
        runs: BTreeMap::new(),
        dir,
        plan,
        config,
    };
    let stop_reason = tune.search(&mut search)?;
    eprintln!("lab tune: stopped: {stop_reason}");
    tune.file.stop_reason = Some(stop_reason);
    if !interrupt::interrupted() {
        tune.file.finished_at = Some(Utc::now());
    }
    tune.refresh(&search);
    let winner_env = tune.write_winner(&search)?;
    export::write_all(&tune.file, &tune.dir)?;
    export::tune::draw(&tune.file, &tune.dir);
    export::adopt_parent_owner(&tune.dir);
    let installed = match (&winner_env, plan.write_profile) {
        (Some(path), true) => {
            let target = profile::profiles_dir().join(format!("{}.env", plan.name));
            install_profile(path, &target)?;
            Some(target)
        }
        _ => None,
    };
    Ok(Tuned {
        dir: tune.dir,
        file: tune.file,
        winner_env,
        installed,
    })
}

fn new_file(plan: &TunePlan) -> TuneFile {
    TuneFile {
        settings: TuneSettings {
            budget: plan.budget,
            base_profile: plan.base.name.clone(),
            scenario: plan.scenario.clone(),
            users: plan.users,
            slo: plan.slo.clone(),
            db: plan.db,
            runtime: plan.runtime,
            step_secs: plan.step_secs,
            warmup_secs: plan.warmup_secs,
            noise_percent: plan.noise_percent,
            min_replicas: plan.min_replicas,
            max_candidates: plan.candidates,
            time_budget_secs: plan.time_budget_secs,
            profile_name: plan.name.clone(),
        },
        started_at: Utc::now(),
        finished_at: None,
        stop_reason: None,
        floors_mib: BTreeMap::new(),
        candidates: Vec::new(),
        best: None,
        winner: None,
        winner_profile: None,
        winner_profile_text: None,
    }
}

struct Tune<'a> {
    file: TuneFile,
    /// Each candidate's bench folders, relative to the tune's folder.
    runs: BTreeMap<usize, Vec<String>>,
    dir: PathBuf,
    plan: &'a TunePlan,
    config: &'a LabConfig,
}

impl Tune<'_> {
    /// Measures candidates until the search is done or a limit is reached; returns why it
    /// stopped.
    fn search(&mut self, search: &mut Search) -> anyhow::Result<String> {
        let started = Instant::now();
        let mut measured = 0usize;
        loop {
            if let Some(reason) = self.limit_reached(measured, started) {
                return Ok(reason);
            }
            let (id, allocation, reason, repeat) = match search.next() {
                Next::Done(reason) => return Ok(reason),
                Next::Measure {
                    id,
                    allocation,
                    reason,
                    repeat,
                } => (id, allocation, reason, repeat),
            };
            measured += 1;
            eprintln!(
                "lab tune: candidate {id}{} ({measured}/{}): {} CPU; {reason}",
                if repeat { " again" } else { "" },
                self.plan.candidates,
                allocation.describe_cpus()
            );
            let label = if repeat {
                format!("c{id:02}-again")
            } else {
                format!("c{id:02}")
            };
            match self.measure(id, &allocation, &reason, &label) {
                Ok(Some(seen)) => search.record(id, allocation, &reason, seen),
                Ok(None) => search.record_failure(
                    id,
                    allocation,
                    &reason,
                    "the bench measured no step".into(),
                ),
                Err(err) if interrupt::interrupted() => {
                    eprintln!("lab tune: interrupted during candidate {id}: {err:#}");
                    return Ok("interrupted".to_owned());
                }
                Err(err) => {
                    eprintln!("lab tune: WARNING: candidate {id} not measured: {err:#}");
                    search.record_failure(
                        id,
                        allocation,
                        &reason,
                        format!("not measured: {err:#}"),
                    );
                }
            }
            self.refresh(search);
            export::write_all(&self.file, &self.dir)?;
        }
    }

    /// Why no further candidate may start, if one of the plan's limits says so.
    fn limit_reached(&self, measured: usize, started: Instant) -> Option<String> {
        if interrupt::interrupted() {
            return Some("interrupted".to_owned());
        }
        if measured >= self.plan.candidates {
            return Some(format!(
                "the limit of {} measurements (--candidates)",
                self.plan.candidates
            ));
        }
        let limit = self.plan.time_budget_secs?;
        let spent = started.elapsed().as_secs_f64();
        let each = if measured == 0 {
            0.0
        } else {
            spent / measured as f64
        };
        (spent + each > limit as f64).then(|| {
            format!("the time budget: {spent:.0} s spent, a candidate takes about {each:.0} s, {limit} s allowed")
        })
    }

    /// One candidate's bench; its observation, None when it measured no step.
    fn measure(
        &mut self,
        id: usize,
        allocation: &Allocation,
        reason: &str,
        label: &str,
    ) -> anyhow::Result<Option<Observation>> {
        let candidates_dir = self.dir.join("candidates");
        let env_path = candidates_dir.join(format!("c{id:02}.env"));
        let text = profile_text(&self.plan.base, allocation, &candidate_header(id, reason));
        export::write_atomic(&env_path, &text)?;
        let plan = BenchPlan::new(self.bench_request(&env_path, &candidates_dir, label))?;
        let (finished, outcome) = bench::run(self.config, &plan)?;
        outcome?;
        if interrupt::interrupted() {
            anyhow::bail!(
                "interrupted: the bench in {} is incomplete",
                finished.run_dir.display()
            );
        }
        self.runs
            .entry(id)
            .or_default()
            .push(relative(&finished.run_dir, &self.dir));
        let Some(step) = finished.run.steps.last() else {
            return Ok(None);
        };
        let seen = Observation::from_step(step);
        eprintln!(
            "lab tune:   {:.0} req/s, p99 {:.0} ms, bottleneck {}{}",
            seen.requests_per_s,
            seen.p99_ms,
            seen.bottleneck.label(),
            if seen.slo_passed { "" } else { ", SLO not met" }
        );
        Ok(Some(seen))
    }

    /// The bench of one candidate: its profile file, one scenario, one concurrency.
    fn bench_request(&self, env: &Path, results: &Path, label: &str) -> BenchRequest {
        let plan = self.plan;
        BenchRequest {
            label: label.to_owned(),
            results: results.to_path_buf(),
            profiles: vec![env.display().to_string()],
            scenarios: vec![plan.scenario.clone()],
            db: plan.db,
            runtime: plan.runtime,
            attach: false,
            state_dir: plan.state_dir.clone(),
            users: Some(vec![plan.users]),
            ramp: false,
            rates: None,
            arrivals: Default::default(),
            driver: plan.driver,
            step_secs: plan.step_secs,
            warmup_secs: plan.warmup_secs,
            ceiling_secs: plan.ceiling_secs,
            slo: plan.slo.clone(),
        }
    }

    fn refresh(&mut self, search: &Search) {
        refresh(&mut self.file, search, &self.runs);
    }

    /// The winner's profile file in the tune's folder, recorded in the tune's file.
    fn write_winner(&mut self, search: &Search) -> anyhow::Result<Option<PathBuf>> {
        let Some(winner) = search.winner() else {
            return Ok(None);
        };
        let name = format!("{}.env", self.plan.name);
        let path = self.dir.join(&name);
        let text = profile_text(
            &self.plan.base,
            &winner.allocation,
            &winner_header(&self.file, winner.id),
        );
        export::write_atomic(&path, &text)?;
        self.file.winner_profile = Some(name);
        self.file.winner_profile_text = Some(text);
        Ok(Some(path))
    }
}

/// Copies the search's state into the file's records.
fn refresh(file: &mut TuneFile, search: &Search, runs: &BTreeMap<usize, Vec<String>>) {
    let frontier = search.frontier();
    file.candidates = search
        .candidates
        .iter()
        .map(|c| CandidateRecord {
            frontier: frontier.contains(&c.id),
            runs: runs.get(&c.id).cloned().unwrap_or_default(),
            mean_requests_per_s: c.mean_requests_per_s(),
            mean_p99_ms: c.mean_p99_ms(),
            slo_passed: c.slo_passed(),
            candidate: c.clone(),
        })
        .collect();
    file.floors_mib = Role::ALL
        .iter()
        .filter(|r| search.settings.roles.contains(r))
        .map(|r| (r.name().to_owned(), search.floors_mib[r.index()]))
        .collect();
    file.best = search.best().map(|c| c.id);
    file.winner = search.winner().map(|c| c.id);
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}
