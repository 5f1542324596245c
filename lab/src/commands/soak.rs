//! `lab soak`: makes the plan, runs it, prints the verdict; exits 2 when something grew or
//! failed. `lab report <soak folder>` judges the windows again and rewrites the files.

use std::path::Path;

use anyhow::Context;

use crate::cli::SoakArgs;
use crate::config::LabConfig;
use crate::exec;
use crate::export;
use crate::interrupt;
use crate::plan::soak::{SoakPlan, SoakRequest};
use crate::plot;
use crate::results::soak::{self, SoakRun};

/// The error `main` turns into exit code 2: the soak ran, something grew or failed.
#[derive(Debug)]
pub struct SoakFailed(pub String);

impl std::fmt::Display for SoakFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "soak FAILED: {}", self.0)
    }
}

impl std::error::Error for SoakFailed {}

pub fn soak(config: &LabConfig, args: SoakArgs) -> anyhow::Result<()> {
    let plan = SoakPlan::new(SoakRequest {
        profile: args.profile,
        db: args.db,
        runtime: args.runtime,
        scenario: args.scenario,
        users: args.users,
        duration_secs: args.duration_secs,
        window_secs: args.window_secs,
        driver: args.driver,
        label: args.label,
        results: args.results,
        state_dir: args.state.state_dir,
    })?;
    let (run_dir, run) = exec::soak::run(config, &plan)?;
    print!("{}", export::soak::summary(&run));
    println!("{}", run_dir.join("report.md").display());
    if interrupt::interrupted() {
        anyhow::bail!(
            "interrupted: {} windows kept in {}",
            run.windows.len(),
            run_dir.display()
        );
    }
    match &run.verdict {
        Some(verdict) if !verdict.passed => {
            let mut failed: Vec<String> = verdict
                .trends
                .iter()
                .filter(|t| !t.passed)
                .map(|t| {
                    format!(
                        "{} grew {:.0} (allowed {:.0})",
                        t.series, t.growth, t.allowed
                    )
                })
                .collect();
            failed.extend(verdict.problems.iter().cloned());
            Err(SoakFailed(failed.join("; ")).into())
        }
        _ => Ok(()),
    }
}

/// `lab report <soak folder>`: the verdict judged again from the windows (the rule may have
/// changed since), then soak.json, soak.csv, report.md and the plot rewritten.
pub fn report(soak_json: &Path) -> anyhow::Result<()> {
    let dir = soak_json.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(soak_json)
        .with_context(|| format!("cannot read {}", soak_json.display()))?;
    let mut run: SoakRun = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a soak.json", soak_json.display()))?;
    run.verdict = Some(soak::judge(&run.windows));
    plot::draw_soak(&run, dir)?;
    export::write_all(&run, dir)?;
    export::adopt_parent_owner(dir);
    print!("{}", export::soak::summary(&run));
    println!("{}", dir.join("report.md").display());
    Ok(())
}
