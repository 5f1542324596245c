//! `lab ab`: makes the plan from the flags, runs the alternated session, prints each headline
//! figure's verdict and the report's paths, and exits 2 when B's throughput or p99 is worse
//! than A's beyond noise (a regression gate for CI).

use std::fmt;

use anyhow::bail;

use crate::cli::AbArgs;
use crate::config::LabConfig;
use crate::exec::ab;
use crate::export::compare::versus_text;
use crate::interrupt;
use crate::plan::ab::{AbPlan, AbRequest};
use crate::results::comparison::Verdict;

/// The error `main` turns into exit code 2: B is worse than A on a headline figure.
#[derive(Debug)]
pub struct AbWorse(pub String);

impl fmt::Display for AbWorse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B is worse than A: {}", self.0)
    }
}

impl std::error::Error for AbWorse {}

pub fn ab(config: &LabConfig, args: AbArgs) -> anyhow::Result<()> {
    let plan = AbPlan::new(AbRequest {
        a: args.a.clone(),
        b: args.b.clone(),
        rounds: args.rounds,
        aa: args.aa,
        profile: args.profile,
        scenario: args.scenario,
        db: args.db,
        runtime: args.runtime,
        users: args.users,
        rate: args.rate,
        arrivals: args.arrivals.into(),
        driver: args.driver,
        step_secs: args.step_secs,
        warmup_secs: args.warmup_secs,
        label: args.label,
        results: args.results,
        state_dir: args.state.state_dir,
    })?;
    let finished = ab::run(config, &plan, [&args.a, &args.b])?;
    let report = &finished.report;
    let mut worse = Vec::new();
    for c in &report.ab {
        let Some(v) = c.versus else { continue };
        println!("{:<28} {}", c.figure, versus_text(&v).replace("**", ""));
        let headline = matches!(c.figure.as_str(), "requests_per_s" | "p99_ms");
        if headline && v.verdict == Verdict::Worse {
            worse.push(format!("{} {:.2}x", c.figure, v.ratio));
        }
    }
    for d in &report.drift {
        eprintln!("lab ab: warning: the machine moved: {d}");
    }
    println!("{}", finished.dir.join("ab.md").display());
    println!("{}", finished.dir.join("ab.html").display());
    if interrupt::interrupted() {
        bail!(
            "interrupted: {} runs kept in {}",
            report.runs.len(),
            finished.dir.display()
        );
    }
    if worse.is_empty() {
        Ok(())
    } else {
        Err(AbWorse(worse.join(", ")).into())
    }
}
