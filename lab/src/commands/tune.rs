//! `lab tune`: makes the plan, runs the search, prints its summary and the winner's profile;
//! exits 2 when no candidate met the SLO. `lab report <tune folder>` redraws its files.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context};

use super::bench::SloFailed;
use crate::cli::TuneArgs;
use crate::config::LabConfig;
use crate::exec;
use crate::export;
use crate::interrupt;
use crate::plan::tune::{TunePlan, TuneRequest};
use crate::results::tune::TuneFile;

pub fn tune(config: &LabConfig, args: TuneArgs) -> anyhow::Result<()> {
    let plan = TunePlan::new(TuneRequest {
        budget: args.budget,
        base: args.base,
        scenario: args.scenario,
        users: args.users,
        slo: args.slo,
        db: args.db,
        runtime: args.runtime,
        candidates: args.candidates,
        time_budget_secs: args.time_budget_secs,
        step_secs: args.step_secs,
        warmup_secs: args.warmup_secs,
        ceiling_secs: args.ceiling_secs,
        noise_percent: args.noise_percent,
        min_replicas: args.min_replicas,
        driver: args.driver,
        name: args.name,
        write_profile: args.write_profile,
        label: args.label,
        results: args.results,
        state_dir: args.state.state_dir,
    })?;
    let tuned = exec::tune::run(config, &plan)?;
    export::tune::print_summary(&tuned.file);
    if let Some(target) = &tuned.installed {
        println!("{}", target.display());
    }
    println!("{}", tuned.dir.join("report.md").display());
    println!("{}", tuned.dir.join("report.html").display());
    if interrupt::interrupted() {
        bail!(
            "interrupted: {} measurements kept in {}",
            tuned
                .file
                .candidates
                .iter()
                .map(|c| c.candidate.observations.len())
                .sum::<usize>(),
            tuned.dir.display()
        );
    }
    if tuned.winner_env.is_none() {
        let why = match &plan.slo {
            Some(slo) => format!("no candidate met {slo}"),
            None => "no candidate was measured".to_owned(),
        };
        return Err(SloFailed(why).into());
    }
    Ok(())
}

/// `lab report <tune folder>`: tune.csv, report.md, the plot and report.html again from
/// tune.json alone (a tune recorded before its file kept the winner's profile text takes it
/// from the profile file beside it).
pub fn report(tune_json: &Path) -> anyhow::Result<()> {
    let text = fs::read_to_string(tune_json)
        .with_context(|| format!("cannot read {}", tune_json.display()))?;
    let mut file: TuneFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a lab tune file", tune_json.display()))?;
    let dir = tune_json.parent().unwrap_or(Path::new("."));
    if file.winner_profile_text.is_none() {
        file.winner_profile_text = file
            .winner_profile
            .as_ref()
            .and_then(|name| fs::read_to_string(dir.join(name)).ok());
    }
    export::redraw(&file, dir)?;
    export::tune::draw(&file, dir);
    export::adopt_parent_owner(dir);
    println!("{}", dir.join("report.md").display());
    println!("{}", dir.join("report.html").display());
    Ok(())
}
