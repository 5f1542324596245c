//! `lab fault <scenario>`: start a native stack of its own, run the scenario, print the
//! verdict with its figures, write `fault.json` and `report.md`, stop the stack; exit 2 on FAIL.

use std::fmt;

use anyhow::bail;

use crate::cli::{FaultArgs, FaultScenario};
use crate::config::LabConfig;
use crate::export::create_run_dir;
use crate::fault::{self, Fault, FaultStack};
use crate::load::siege;
use crate::profile::{self, Profile};
use contract::{DbKind, RuntimeKind};

/// The error `main` turns into exit code 2: the scenario ran, its verdict is FAIL.
#[derive(Debug)]
pub struct FaultFailed(pub String);

impl fmt::Display for FaultFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault scenario FAILED: {}", self.0)
    }
}

impl std::error::Error for FaultFailed {}

fn name(scenario: FaultScenario) -> &'static str {
    match scenario {
        FaultScenario::ReplicaLoss => "replica-loss",
        FaultScenario::DbOutage => "db-outage",
        FaultScenario::Oom => "oom",
        FaultScenario::Overload => "overload",
        FaultScenario::DbKill => "db-kill",
        FaultScenario::SlowClients => "slow-clients",
    }
}

/// A fresh token for the stress endpoints of a compose fault stack (its own project, so no
/// one else's token applies).
fn random_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn fault(config: &LabConfig, args: FaultArgs) -> anyhow::Result<()> {
    let scenario = name(args.scenario);
    let needs_server = matches!(
        args.scenario,
        FaultScenario::DbOutage | FaultScenario::DbKill
    );
    if needs_server && args.db == DbKind::Sqlite {
        bail!("{scenario} stops a database server: use --db postgres or --db mysql (SQLite is a file inside the replicas)");
    }
    if args.runtime == RuntimeKind::Compose && args.db == DbKind::Sqlite {
        bail!("the compose stack runs Postgres or MySQL: use --db postgres or --db mysql");
    }
    siege::require(config)?;
    if matches!(
        args.scenario,
        FaultScenario::Overload | FaultScenario::SlowClients
    ) {
        fault::overload::raise_fd_limit()?;
    }
    let profile = Profile::load(&args.profile)?;
    let users = args.users.unwrap_or(match args.scenario {
        FaultScenario::ReplicaLoss | FaultScenario::DbOutage => 100,
        FaultScenario::Oom | FaultScenario::DbKill => 50,
        FaultScenario::SlowClients => 20,
        FaultScenario::Overload => 2000,
    });
    let step_secs = args.step_secs.unwrap_or(match args.scenario {
        FaultScenario::DbOutage => fault::db_outage::BEFORE_SECS + args.outage_secs + 10,
        _ => 20,
    });
    let run_dir = create_run_dir(&args.results, &format!("fault-{scenario}"))?;
    let rc = siege::write_rc(&profile::repo_root(), &run_dir)?;
    // A fault makes requests fail on purpose; siege's default gives up after 1024 failures
    // (it ended a db-outage step 9 s early). The run folder's copy lets it go on.
    let mut rc_text = std::fs::read_to_string(&rc)?;
    rc_text.push_str("\n# lab fault: failures are the point; do not stop after 1024 of them.\nfailures = 1000000\n");
    std::fs::write(&rc, rc_text)?;
    let mut config = config.clone();
    if args.runtime == RuntimeKind::Compose && config.stress_token(&profile).is_none() {
        config.stress_token = Some(random_token()?);
    }
    let stress_token = config.stress_token(&profile);
    eprintln!(
        "lab fault {scenario}: starting a {} stack ({} / {:?}) in {}",
        match args.runtime {
            RuntimeKind::Native => "native",
            RuntimeKind::Compose => "compose",
        },
        profile.name,
        args.db,
        args.state_dir.display()
    );
    let stack = FaultStack::up(
        &config,
        args.runtime,
        &profile,
        args.db,
        &args.state_dir,
        stress_token.as_deref(),
    )?;
    let fault = Fault {
        config: stack.config.clone(),
        runtime: args.runtime,
        started: std::time::SystemTime::now(),
        stack: stack.info.clone(),
        state_dir: stack.state_dir.clone(),
        run_dir: run_dir.clone(),
        rc,
        profile,
        db: args.db,
        users,
        step_secs,
        outage_secs: args.outage_secs,
        slow_clients: args.slow_clients,
        recovery_p99_ms: args.recovery_p99_ms,
        acquire_timeout_ms: fault::acquire_timeout_ms(&config),
        stress_token,
    };
    eprintln!(
        "lab fault {scenario}: stack ready at {}; {users} users, {step_secs} s",
        fault.stack.base_url
    );
    let report = match args.scenario {
        FaultScenario::ReplicaLoss => fault::replica_loss::run(&fault),
        FaultScenario::DbOutage => fault::db_outage::run(&fault),
        FaultScenario::Oom => fault::oom::run(&fault),
        FaultScenario::Overload => fault::overload::run(&fault),
        FaultScenario::DbKill => fault::db_kill::run(&fault),
        FaultScenario::SlowClients => fault::slow_clients::run(&fault),
    }?;
    drop(stack);
    report.write(&run_dir)?;
    print!("{}", report.summary());
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
        Err(FaultFailed(format!("{scenario}: {}", failed.join("; "))).into())
    }
}
