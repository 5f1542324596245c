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
use crate::interrupt;
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::plan::bench::{BenchPlan, BenchRequest};
use crate::profile::{self, Profile};

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
    let plan = BenchPlan::new(request(&args))?;
    let (finished, outcome) = bench::run(config, &plan)?;
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

/// The bench the flags ask for.
fn request(args: &BenchArgs) -> BenchRequest {
    BenchRequest {
        label: args.label.clone(),
        results: args.results.clone(),
        profiles: args.profile.clone(),
        scenarios: args.scenario.clone(),
        db: args.db,
        runtime: args.runtime,
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
