//! `lab fault <scenario>`: makes the plan, runs the scenario on a stack of its own, prints
//! the verdict with its figures, writes `fault.json` and `report.md`; exits 2 on FAIL.

use std::fmt;

use crate::cli::FaultArgs;
use crate::config::LabConfig;
use crate::exec::siege;
use crate::export::{self, create_run_dir};
use crate::fault;
use crate::plan::fault::{FaultPlan, FaultRequest};
use crate::profile;

/// The error `main` turns into exit code 2: the scenario ran, its verdict is FAIL.
#[derive(Debug)]
pub struct FaultFailed(pub String);

impl fmt::Display for FaultFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault scenario FAILED: {}", self.0)
    }
}

impl std::error::Error for FaultFailed {}

pub fn fault(config: &LabConfig, args: FaultArgs) -> anyhow::Result<()> {
    let plan = FaultPlan::new(FaultRequest {
        kind: args.scenario,
        profile: args.profile,
        db: args.db,
        runtime: args.runtime,
        users: args.users,
        step_secs: args.step_secs,
        outage_secs: args.outage_secs,
        slow_clients: args.slow_clients,
        recovery_p99_ms: args.recovery_p99_ms,
        driver: args.driver,
        results: args.results,
        state_dir: args.state_dir,
    })?;
    if plan.kind.needs_many_descriptors() {
        crate::exec::raise_fd_limit()?;
    }
    let run_dir = create_run_dir(&plan.results, &format!("fault-{}", plan.kind.name()))?;
    let rc = siege::write_rc(&profile::repo_root(), &run_dir)?;
    // A fault makes requests fail on purpose; siege's default gives up after 1024 failures
    // (it ended a db-outage step 9 s early). The run folder's copy lets it go on.
    let mut rc_text = std::fs::read_to_string(&rc)?;
    rc_text.push_str("\n# lab fault: failures are the point; do not stop after 1024 of them.\nfailures = 1000000\n");
    std::fs::write(&rc, rc_text)?;
    let driver = crate::exec::driver(plan.driver, config, &rc)?;
    let report = fault::run(config, &plan, run_dir.clone(), driver)?;
    export::write_all(&report, &run_dir)?;
    print!("{}", export::fault::summary(&report));
    println!("{}", run_dir.join("report.md").display());
    if report.passed {
        Ok(())
    } else {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        Err(FaultFailed(format!("{}: {}", plan.kind.name(), failed.join("; "))).into())
    }
}
