//! `lab tune`: searches how to split a resource budget across nginx, the replicas and the
//! database. Each candidate is a profile file (the base profile with other caps) benched by
//! `lab bench` itself, one step, warm-up not counted; `search` chooses the next from the
//! verdicts. Every file is written again after every candidate, so a crash keeps what was
//! measured.

mod output;
mod search;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;

use self::output::{CandidateRecord, TuneFile, TuneSettings};
use self::search::{cpus_text, Allocation, Budget, Next, Observation, Role, Search, Settings};
use super::bench::{self, catch_interrupts, interrupted, SloFailed};
use crate::cli::{BenchArgs, StateArgs, TuneArgs};
use crate::config::LabConfig;
use crate::export;
use crate::profile::{self, Profile};
use crate::results::slo;
use contract::profile as keys;
use contract::DbKind;

/// The profile keys a candidate sets; every other key comes from the base profile.
const CAP_KEYS: [&str; 7] = [
    keys::APP_REPLICAS,
    keys::APP_CPUS,
    keys::APP_MEMORY,
    keys::NGINX_CPUS,
    keys::NGINX_MEMORY,
    keys::DB_CPUS,
    keys::DB_MEMORY,
];

pub fn tune(config: &LabConfig, args: TuneArgs) -> anyhow::Result<()> {
    let base = Profile::load(&args.base)?;
    let base_split = allocation_of(&base)?;
    let roles = if args.db == DbKind::Sqlite {
        vec![Role::Nginx, Role::App]
    } else {
        Role::ALL.to_vec()
    };
    let budget = match &args.budget {
        Some(text) => Budget::parse(text)?,
        None => base_split.budget_of(&roles),
    };
    if let Some(text) = &args.slo {
        slo::parse(text)?;
    }
    if args.users == 0 || args.step_secs == 0 || args.candidates == 0 {
        bail!("--users, --step-secs and --candidates must be at least 1");
    }
    if !(args.noise_percent >= 0.0 && args.noise_percent < 100.0) {
        bail!("--noise-percent must be between 0 and 100");
    }
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("--name {:?}: use letters, digits, - and _", args.name);
    }
    let mut search = Search::new(Settings::new(budget, roles, args.noise_percent), base_split)?;
    // Absolute: compose reads each candidate's env file from the repository's folder.
    let dir = fs::canonicalize(export::create_run_dir(&args.results, &args.label)?)?;
    let candidates_dir = dir.join("candidates");
    fs::create_dir_all(&candidates_dir)?;
    catch_interrupts();
    eprintln!("lab tune: budget {budget}, results in {}", dir.display());

    let mut file = TuneFile {
        settings: TuneSettings {
            budget,
            base_profile: base.name.clone(),
            scenario: args.scenario.clone(),
            users: args.users,
            slo: args.slo.clone(),
            db: args.db,
            runtime: args.runtime,
            step_secs: args.step_secs,
            warmup_secs: args.warmup_secs,
            noise_percent: args.noise_percent,
            max_candidates: args.candidates,
            time_budget_secs: args.time_budget_secs,
            profile_name: args.name.clone(),
        },
        started_at: Utc::now(),
        finished_at: None,
        stop_reason: None,
        floors_mib: BTreeMap::new(),
        candidates: Vec::new(),
        best: None,
        winner: None,
        winner_profile: None,
    };
    let mut runs: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let started = Instant::now();
    let mut measured = 0usize;
    let stop_reason = loop {
        if interrupted() {
            break "interrupted".to_owned();
        }
        if measured >= args.candidates {
            break format!(
                "the limit of {} measurements (--candidates)",
                args.candidates
            );
        }
        if let Some(limit) = args.time_budget_secs {
            let spent = started.elapsed().as_secs_f64();
            let each = if measured == 0 {
                0.0
            } else {
                spent / measured as f64
            };
            if spent + each > limit as f64 {
                break format!(
                    "the time budget: {spent:.0} s spent, a candidate takes about {each:.0} s, {limit} s allowed"
                );
            }
        }
        let (id, allocation, reason, repeat) = match search.next() {
            Next::Done(reason) => break reason,
            Next::Measure {
                id,
                allocation,
                reason,
                repeat,
            } => (id, allocation, reason, repeat),
        };
        measured += 1;
        let label = if repeat {
            format!("c{id:02}-again")
        } else {
            format!("c{id:02}")
        };
        let env_path = candidates_dir.join(format!("c{id:02}.env"));
        write_profile(
            &env_path,
            &base,
            &allocation,
            &candidate_header(id, &reason),
        )?;
        eprintln!(
            "lab tune: candidate {id}{} ({measured}/{}): {} CPU; {reason}",
            if repeat { " again" } else { "" },
            args.candidates,
            allocation.describe_cpus()
        );
        match bench::run_quietly(
            config,
            &bench_args(&args, &env_path, &candidates_dir, &label),
        ) {
            Ok(finished) => {
                runs.entry(id)
                    .or_default()
                    .push(relative(&finished.run_dir, &dir));
                match finished.run.steps.last() {
                    Some(step) => {
                        let seen = Observation::from_step(step);
                        eprintln!(
                            "lab tune:   {:.0} req/s, p99 {:.0} ms, bottleneck {}{}",
                            seen.requests_per_s,
                            seen.p99_ms,
                            seen.bottleneck.label(),
                            if seen.slo_passed { "" } else { ", SLO not met" }
                        );
                        search.record(id, allocation, &reason, seen);
                    }
                    None => search.record_failure(
                        id,
                        allocation,
                        &reason,
                        "the bench measured no step".into(),
                    ),
                }
            }
            Err(err) if interrupted() => {
                eprintln!("lab tune: interrupted during candidate {id}: {err:#}");
                break "interrupted".to_owned();
            }
            Err(err) => {
                eprintln!("lab tune: WARNING: candidate {id} not measured: {err:#}");
                search.record_failure(id, allocation, &reason, format!("not measured: {err:#}"));
            }
        }
        refresh(&mut file, &search, &runs);
        output::write_all(&file, &dir, None)?;
    };
    eprintln!("lab tune: stopped: {stop_reason}");
    file.stop_reason = Some(stop_reason);
    if !interrupted() {
        file.finished_at = Some(Utc::now());
    }
    refresh(&mut file, &search, &runs);
    let winner_env = match search.winner() {
        Some(winner) => {
            let path = dir.join(format!("{}.env", args.name));
            write_profile(
                &path,
                &base,
                &winner.allocation,
                &winner_header(&file, winner.id),
            )?;
            file.winner_profile = Some(format!("{}.env", args.name));
            Some(path)
        }
        None => None,
    };
    output::write_all(&file, &dir, winner_env.as_deref())?;
    output::draw(&file, &dir);
    export::adopt_parent_owner(&dir);
    output::print_summary(&file);
    if let (Some(path), true) = (&winner_env, args.write_profile) {
        let target = profile::profiles_dir().join(format!("{}.env", args.name));
        install_profile(path, &target)?;
        println!("{}", target.display());
    }
    println!("{}", dir.join("report.md").display());
    println!("{}", dir.join("report.html").display());
    if interrupted() {
        bail!(
            "interrupted: {} measurements kept in {}",
            measured,
            dir.display()
        );
    }
    if winner_env.is_none() {
        let why = match &args.slo {
            Some(slo) => format!("no candidate met {slo}"),
            None => "no candidate was measured".to_owned(),
        };
        return Err(SloFailed(why).into());
    }
    Ok(())
}

/// `lab report <tune folder>`: tune.csv, report.md, the plot and report.html again from
/// tune.json alone (and the winner's profile file beside it).
pub fn report(tune_json: &Path) -> anyhow::Result<()> {
    let text = fs::read_to_string(tune_json)
        .with_context(|| format!("cannot read {}", tune_json.display()))?;
    let file: TuneFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a lab tune file", tune_json.display()))?;
    let dir = tune_json.parent().unwrap_or(Path::new("."));
    let winner_env = file
        .winner_profile
        .as_ref()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file());
    output::write_all(&file, dir, winner_env.as_deref())?;
    output::draw(&file, dir);
    export::adopt_parent_owner(dir);
    println!("{}", dir.join("report.md").display());
    println!("{}", dir.join("report.html").display());
    Ok(())
}

/// The bench of one candidate: its profile file, one scenario, one concurrency.
fn bench_args(args: &TuneArgs, env: &Path, results: &Path, label: &str) -> BenchArgs {
    BenchArgs {
        profile: vec![env.display().to_string()],
        scenario: vec![args.scenario.clone()],
        db: args.db,
        runtime: args.runtime,
        users: vec![args.users],
        step_secs: args.step_secs,
        warmup_secs: args.warmup_secs,
        ramp: false,
        slo: args.slo.clone(),
        label: label.to_owned(),
        results: results.to_path_buf(),
        ceiling_secs: args.ceiling_secs,
        attach: false,
        write_urls: false,
        state: StateArgs {
            state_dir: args.state.state_dir.clone(),
        },
    }
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
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
        .map(|r| (r.label().to_owned(), search.floors_mib[*r as usize]))
        .collect();
    file.best = search.best().map(|c| c.id);
    file.winner = search.winner().map(|c| c.id);
}

/// A profile's split: replicas, and each service's CPU and memory caps.
fn allocation_of(profile: &Profile) -> anyhow::Result<Allocation> {
    let caps = profile.caps()?;
    let millicpus = |cpus: f64| (cpus * 1000.0).round() as u32;
    Ok(Allocation {
        replicas: caps.replicas,
        nginx_millicpus: millicpus(caps.nginx.cpus),
        app_millicpus: millicpus(caps.app.cpus),
        db_millicpus: millicpus(caps.db.cpus),
        nginx_memory_mib: caps.nginx.memory_bytes >> 20,
        app_memory_mib: caps.app.memory_bytes >> 20,
        db_memory_mib: caps.db.memory_bytes >> 20,
    })
}

/// The candidate's profile: the base's settings with the candidate's caps.
fn profile_text(base: &Profile, alloc: &Allocation, header: &str) -> String {
    let mut text = String::from(header);
    let mut caps: Vec<(String, String)> = vec![
        (keys::APP_REPLICAS.into(), alloc.replicas.to_string()),
        (keys::APP_CPUS.into(), cpus_text(alloc.app_millicpus)),
        (
            keys::APP_MEMORY.into(),
            format!("{}M", alloc.app_memory_mib),
        ),
        (keys::NGINX_CPUS.into(), cpus_text(alloc.nginx_millicpus)),
        (
            keys::NGINX_MEMORY.into(),
            format!("{}M", alloc.nginx_memory_mib),
        ),
    ];
    // On SQLite the split has no database: the base's database caps stay (unused there).
    if alloc.db_millicpus > 0 {
        caps.push((keys::DB_CPUS.into(), cpus_text(alloc.db_millicpus)));
        caps.push((keys::DB_MEMORY.into(), format!("{}M", alloc.db_memory_mib)));
    }
    for (key, value) in caps {
        text.push_str(&format!("{key}={value}\n"));
    }
    for (key, value) in &base.vars {
        let set_above =
            CAP_KEYS.contains(&key.as_str()) && (alloc.db_millicpus > 0 || !key.starts_with("DB_"));
        // compose starts app2 regardless; with one replica nginx must send it nothing.
        if set_above || key == "APP2_ADDR" {
            continue;
        }
        text.push_str(&format!("{key}={value}\n"));
    }
    if alloc.replicas == 1 {
        text.push_str("APP2_ADDR=app1:8080\n");
    }
    text
}

fn write_profile(
    path: &Path,
    base: &Profile,
    alloc: &Allocation,
    header: &str,
) -> anyhow::Result<()> {
    export::write_atomic(path, &profile_text(base, alloc, header))
}

fn candidate_header(id: usize, reason: &str) -> String {
    format!("# lab tune candidate {id}: {reason}\n")
}

/// The first line marks the file as lab tune's (`--write-profile` overwrites only such files).
const GENERATED_MARK: &str = "# generated by lab tune";

fn winner_header(file: &TuneFile, id: usize) -> String {
    let s = &file.settings;
    let record = file.candidates.iter().find(|c| c.candidate.id == id);
    let figures = record.map_or_else(String::new, |c| {
        format!(
            "{:.0} req/s, p99 {:.0} ms (mean of {} measurement(s))",
            c.mean_requests_per_s,
            c.mean_p99_ms,
            c.candidate.observations.len()
        )
    });
    format!(
        "{GENERATED_MARK} on {}: the best split of {} found for {} at {} users ({}),\n\
         # starting from profile {}: candidate {id}, {figures}{}.\n\
         # Every key but the caps is {}'s. The search and its figures: the tune folder's report.md.\n",
        file.started_at.format("%Y-%m-%d"),
        s.budget,
        s.scenario,
        s.users,
        s.stack_text(),
        s.base_profile,
        s.slo.as_ref().map_or_else(String::new, |slo| format!(", within {slo}")),
        s.base_profile,
    )
}

/// Copies the winner to `profiles/`, refusing to replace a profile lab tune did not write.
fn install_profile(source: &Path, target: &Path) -> anyhow::Result<()> {
    if let Ok(existing) = fs::read_to_string(target) {
        if !existing.starts_with(GENERATED_MARK) {
            bail!(
                "{} exists and was not written by lab tune: choose another --name",
                target.display()
            );
        }
    }
    fs::copy(source, target)
        .with_context(|| format!("copying {} to {}", source.display(), target.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
