//! `lab bench`: makes the plan from the flags, runs it, prints the final table and the
//! report's paths, and exits 2 when an SLO did not hold.

use std::fmt;
use std::fs;
use std::path::Path;

use anyhow::bail;

use crate::cli::BenchArgs;
use crate::config::LabConfig;
use crate::console::print_final_table;
use crate::exec::bench::{self, slo_failures};
use crate::export;
use crate::interrupt;
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::plan::bench::{BenchPlan, BenchRequest};
use crate::profile::{self, Profile};
use crate::results::Run;
use clap::Parser as _;
use contract::RuntimeKind;

/// The error `main` turns into exit code 2: the run completed, an SLO did not hold.
#[derive(Debug)]
pub struct SloFailed(pub String);

impl fmt::Display for SloFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SLO not met: {}", self.0)
    }
}

impl std::error::Error for SloFailed {}

pub fn bench(config: &LabConfig, args: BenchArgs) -> anyhow::Result<()> {
    if args.write_urls {
        return write_committed_urls(config, &args, &profile::repo_root());
    }
    let (finished, outcome) = match &args.resume {
        Some(folder) => {
            let (run, dir) = export::load_run(folder)?;
            let plan = recorded_plan(&run)?;
            bench::resume(config, &plan, dir, run)?
        }
        None => bench::run(config, &BenchPlan::new(request(&args, &defaults(config)))?)?,
    };
    print_final_table(&finished.run);
    println!("{}", finished.run_dir.join("report.md").display());
    println!("{}", finished.run_dir.join("report.html").display());
    outcome?;
    if interrupt::interrupted() {
        bail!(
            "interrupted: {} steps kept in {}",
            finished.run.steps.len(),
            finished.run_dir.display()
        );
    }
    let failures = slo_failures(&finished.run);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(SloFailed(failures.join(" | ")).into())
    }
}

/// The plan of a run to resume: its recorded command line, checked against what it recorded
/// (a run is resumed with the settings and profiles it started with, or not at all).
fn recorded_plan(run: &Run) -> anyhow::Result<BenchPlan> {
    if run.finished_at.is_some() {
        bail!(
            "this run finished: there is nothing to resume (it has {} steps)",
            run.steps.len()
        );
    }
    let parsed = crate::cli::Cli::try_parse_from(&run.command_line)
        .map_err(|e| anyhow::anyhow!("the run's command line no longer parses: {e}"))?;
    let crate::cli::Command::Bench(args) = parsed.command else {
        bail!(
            "the run was not made by lab bench: {}",
            run.command_line.join(" ")
        );
    };
    if args.resume.is_some() {
        bail!("the run's command line is itself a --resume");
    }
    let recorded = Defaults {
        profiles: run.profiles.iter().map(|p| p.name.clone()).collect(),
        runtime: if run.settings.runtime == "compose" {
            RuntimeKind::Compose
        } else {
            RuntimeKind::Native
        },
    };
    let plan = BenchPlan::new(request(&args, &recorded))?;
    let s = &run.settings;
    let mut differ = Vec::new();
    let mut same = |what: &str, then: String, now: String| {
        if then != now {
            differ.push(format!("{what}: {then} then, {now} now"));
        }
    };
    same("driver", s.driver.clone(), plan.driver.name().to_owned());
    same(
        "users",
        format!("{:?}", s.users),
        format!("{:?}", plan.users),
    );
    same(
        "step seconds",
        s.step_secs.to_string(),
        plan.step_secs.to_string(),
    );
    same(
        "SLO",
        format!("{:?}", s.slo_text),
        format!("{:?}", plan.slo_text),
    );
    for recorded in &run.profiles {
        let Some(now) = plan.profiles.iter().find(|p| p.name == recorded.name) else {
            continue;
        };
        for (key, value) in &recorded.vars {
            let current = now.vars.get(key).cloned().unwrap_or_default();
            if &current != value {
                differ.push(format!(
                    "profile {} {key}: {value} then, {current} now",
                    recorded.name
                ));
            }
        }
        for key in now.vars.keys().filter(|k| !recorded.vars.contains_key(*k)) {
            differ.push(format!(
                "profile {} {key}: not set then, set now",
                recorded.name
            ));
        }
    }
    if !differ.is_empty() {
        bail!(
            "the run cannot be resumed as it started: {}",
            differ.join("; ")
        );
    }
    Ok(plan)
}

/// What a bench runs where its flags say nothing.
struct Defaults {
    profiles: Vec<String>,
    runtime: RuntimeKind,
}

/// From the lab container (`LAB_BASE_URL` set): the running compose stack, under the profile
/// compose started it with (else tight). Natively: tight then roomy, as local processes.
fn defaults(config: &LabConfig) -> Defaults {
    if config.base_url.as_ref().is_some_and(|u| !u.is_empty()) {
        Defaults {
            profiles: vec![config
                .compose_profile()
                .unwrap_or_else(|| "tight".to_owned())],
            runtime: RuntimeKind::Compose,
        }
    } else {
        Defaults {
            profiles: vec!["tight".to_owned(), "roomy".to_owned()],
            runtime: RuntimeKind::Native,
        }
    }
}

/// The bench the flags ask for, `defaults` where they say nothing.
fn request(args: &BenchArgs, defaults: &Defaults) -> BenchRequest {
    BenchRequest {
        label: args.label.clone(),
        results: args.results.clone(),
        profiles: if args.profile.is_empty() {
            defaults.profiles.clone()
        } else {
            args.profile.clone()
        },
        scenarios: args.scenario.clone(),
        db: args.db,
        runtime: args.runtime.unwrap_or(defaults.runtime),
        attach: args.attach,
        state_dir: args.state.state_dir.clone(),
        users: args.users.clone(),
        ramp: args.ramp,
        rates: args.rate.clone(),
        arrivals: args.arrivals.into(),
        driver: args.driver,
        step_secs: args.step_secs,
        warmup_secs: args.warmup_secs,
        ceiling_secs: args.ceiling_secs,
        slo: args.slo.clone(),
    }
}

/// `lab bench --write-urls`: the committed scenario files for the first profile's sizes.
fn write_committed_urls(config: &LabConfig, args: &BenchArgs, repo: &Path) -> anyhow::Result<()> {
    let sizes = match args.profile.first().map(|p| Profile::load(p)) {
        Some(Ok(profile)) => SeedSizes::of(config.seed(&profile)?),
        _ => SeedSizes::default(),
    };
    let dir = repo.join("siege/urls");
    fs::create_dir_all(&dir)?;
    for scenario in Scenario::ALL {
        let path = dir.join(format!("{}.txt", scenario.name()));
        fs::write(
            &path,
            urls::generate(scenario, sizes, urls::DEFAULT_BASE_URL)?,
        )?;
        println!("{}", path.display());
    }
    Ok(())
}
