//! Fault scenarios (`lab fault <scenario>`): break one thing on purpose while a load runs on
//! a stack of the run's own, then judge what the stack did.
//!
//! A scenario is data plus three hooks ([`FaultScenario`]): the load it runs under, what it
//! does before the load, during it (break the thing, watch it) and after it, and the checks
//! it makes of what was measured. [`run`] does everything else the same way for every
//! scenario: the order writer beside the load (see [`writer`]: every order keyed, unknown
//! outcomes retried until known), the step measured as a bench step is, the order/stock
//! invariant afterwards (see [`orders`]), the stack's events, the verdict. A new
//! fault is one more module implementing the trait and one more [`FaultKind`].

mod context;
pub mod db_kill;
pub mod db_outage;
pub mod oom;
pub mod orders;
pub mod overload;
pub mod replica_loss;
pub mod slow_clients;
pub mod writer;

use std::path::PathBuf;

pub use self::context::{
    Fault, FaultScenario, COMPOSE_PROJECT, SEED, SEED_CUSTOMERS, SEED_DISKS, SEED_STOCK,
    WRITER_CUSTOMERS,
};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use chrono::Utc;

use crate::config::{LabConfig, Ports, DEFAULT_FAULT_ACQUIRE_TIMEOUT_MS};
use crate::exec::step::{self, StepContext};
use crate::exec::{Driver, Offered};
use crate::plan::fault::{FaultKind, FaultPlan};
use crate::results::fault::{Check, FaultReport, FAULT_SCHEMA_VERSION};
use crate::stack::{self, Stack, UpOptions};
use contract::RuntimeKind;

/// The scenario a kind names.
fn scenario(kind: FaultKind) -> Box<dyn FaultScenario> {
    match kind {
        FaultKind::ReplicaLoss => Box::<replica_loss::ReplicaLoss>::default(),
        FaultKind::DbOutage => Box::<db_outage::DbOutage>::default(),
        FaultKind::Oom => Box::<oom::Oom>::default(),
        FaultKind::Overload => Box::<overload::Overload>::default(),
        FaultKind::DbKill => Box::<db_kill::DbKill>::default(),
        FaultKind::SlowClients => Box::<slow_clients::SlowClients>::default(),
    }
}

/// Starts the plan's stack, runs its scenario and judges it; the stack is stopped whatever
/// happened (compose: with its volumes).
pub fn run(
    config: &LabConfig,
    plan: &FaultPlan,
    run_dir: PathBuf,
    driver: Box<dyn Driver>,
) -> anyhow::Result<FaultReport> {
    let mut config = config.clone();
    if plan.runtime == RuntimeKind::Compose && config.stress_token(&plan.profile).is_none() {
        config.stress_token = Some(random_token()?);
    }
    let stress_token = config.stress_token(&plan.profile);
    eprintln!(
        "lab fault {}: starting a {} stack ({} / {}) in {}",
        plan.kind.name(),
        plan.runtime,
        plan.profile.name,
        plan.db,
        plan.state_dir.display()
    );
    let stack = start_stack(&config, plan, stress_token.as_deref())?;
    let fault = Fault {
        info: stack.info().clone(),
        plan: plan.clone(),
        stack,
        driver,
        run_dir,
        started: SystemTime::now(),
        acquire_timeout_ms: acquire_timeout_ms(&config),
        stress_token,
    };
    eprintln!(
        "lab fault {}: stack ready at {}; {} users, {} s",
        plan.kind.name(),
        fault.info.base_url,
        plan.users,
        plan.step_secs
    );
    let report = judged(&fault, scenario(plan.kind).as_mut())?;
    fault.stack.down()?;
    Ok(report)
}

/// The one path every scenario takes: its `before`, the writer and the load, its `during`,
/// the end of the load, its `after`, its checks, the invariant, the record.
fn judged(fault: &Fault, scenario: &mut dyn FaultScenario) -> anyhow::Result<FaultReport> {
    let started_at = Utc::now();
    scenario.before(fault)?;
    let writer = start_writer(fault);
    let clock = Instant::now();
    let mut step = fault.start_step(scenario.load(), fault.plan.step_secs)?;
    scenario.during(fault, &mut step)?;
    let measured = step.finish(|| fault.status().ok())?;
    // The writer resolves its unknown outcomes while the scenario does its own work.
    writer.stop_placing();
    scenario.after(fault)?;
    let attempts = writer.finish();
    let mut report = new_report(fault, started_at);
    scenario.judge(fault, &measured, &mut report);
    let (invariant, check) = invariant(&fault.info.base_url, &attempts);
    report.checks.push(check);
    if let Some(inv) = &invariant {
        report.figure("writer_created", inv.created as f64);
        report.figure("writer_failed", inv.failed as f64);
        report.figure("writer_unknown", inv.unknown as f64);
    }
    let retries = orders::retries(&attempts);
    report.figure("writer_retries", retries.retries as f64);
    report.figure("writer_orders_retried", retries.orders_retried as f64);
    report.figure("writer_replayed", retries.replayed as f64);
    report.invariant = invariant;
    let urls_file = fault.urls_path(scenario.load()).display().to_string();
    report.step = Some(step::record(
        measured,
        &StepContext {
            index: 0,
            profile: &fault.plan.profile.name,
            scenario: scenario.load().name(),
            offered: Offered::Users(fault.plan.users),
            started_at,
            start_offset_secs: clock.elapsed().as_secs_f64(),
            urls_file: &urls_file,
            ceiling: None,
            machine_cores: crate::sample::machine::machine().cores,
            slo: &[],
            stress_start_status: None,
        },
    ));
    report.events = fault.stack.events(fault.started);
    report.finished_at = Utc::now();
    report.passed = report.checks.iter().all(|c| c.passed);
    Ok(report)
}

/// A fault's own stack: the fault seed sizes, the fault ports (unless lab's settings move
/// them) and the fault acquire timeout for the replicas, all given to the runtime; under
/// compose its own project and log folder.
fn start_stack(
    config: &LabConfig,
    plan: &FaultPlan,
    stress_token: Option<&str>,
) -> anyhow::Result<Stack> {
    std::fs::create_dir_all(&plan.state_dir)
        .with_context(|| format!("cannot create {}", plan.state_dir.display()))?;
    let state_dir = std::fs::canonicalize(&plan.state_dir)?;
    let mut config = config.clone();
    if plan.runtime == RuntimeKind::Compose {
        let logs = state_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        config
            .compose_project
            .get_or_insert_with(|| COMPOSE_PROJECT.to_owned());
        config.log_dir = Some(logs);
    }
    let app_env = [
        Some((
            contract::env::DB_ACQUIRE_TIMEOUT_MS.to_owned(),
            acquire_timeout_ms(&config).to_string(),
        )),
        stress_token.map(|t| (contract::env::STRESS_TOKEN.to_owned(), t.to_owned())),
    ];
    let stack = stack::runtime(plan.runtime, &config).up(&UpOptions {
        discard_data: true,
        profile: plan.profile.clone(),
        db: plan.db,
        state_dir,
        ports: config.ports(Ports::FAULT),
        seed: SEED,
        app_env: app_env.into_iter().flatten().collect(),
    })?;
    if !stack.info().capped {
        eprintln!(
            "lab fault: WARNING: the stack runs UNCAPPED (no writable cgroups: run as root); OOM and memory checks cannot hold"
        );
    }
    Ok(stack)
}

/// A fresh token for the stress endpoints of a compose fault stack (its own project, so no
/// one else's token applies).
fn random_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The acquire timeout the replicas of a fault stack run with.
pub fn acquire_timeout_ms(config: &LabConfig) -> u64 {
    config
        .db_acquire_timeout_ms
        .unwrap_or(DEFAULT_FAULT_ACQUIRE_TIMEOUT_MS)
}

/// The writer's range of customers: the seed's last `WRITER_CUSTOMERS`.
pub fn writer_customers() -> (u64, u64) {
    (SEED_CUSTOMERS - WRITER_CUSTOMERS + 1, SEED_CUSTOMERS)
}

/// Starts lab's order writer on the writer's customers, its keys named after the run folder.
fn start_writer(fault: &Fault) -> writer::OrderWriter {
    let run = fault
        .run_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    writer::OrderWriter::start(&fault.info.base_url, &run, writer_customers(), SEED_DISKS)
}

/// Runs the order/stock invariant and turns it into a check. An error of the check itself
/// (the API never answered) is a failed check, not a crash: the report still gets written.
fn invariant(
    base_url: &str,
    attempts: &[orders::Attempt],
) -> (Option<crate::results::fault::InvariantReport>, Check) {
    match orders::check(
        base_url,
        attempts,
        writer_customers(),
        SEED_CUSTOMERS,
        SEED_DISKS,
        SEED_STOCK,
    ) {
        Ok(report) => {
            // Every order is keyed and unknown outcomes are retried until known: one still
            // unknown means the stack never answered it within the writer's window.
            let check = Check::new(
                "orders and stock (HTTP API)",
                "every 201 exists once, no failed order exists, no outcome left unknown, seed stock = stock + ordered",
                format!(
                    "{} created, {} failed, {} unknown ({} exist); {} order problems, {} stock mismatches over {} disks",
                    report.created,
                    report.failed,
                    report.unknown,
                    report.unknown_materialized,
                    report.order_problems.len(),
                    report.stock_mismatches.len(),
                    report.disks_checked
                ),
                report.passed && report.created > 0 && report.unknown == 0,
            );
            (Some(report), check)
        }
        Err(err) => (
            None,
            Check::new(
                "orders and stock (HTTP API)",
                "the check completes",
                format!("{err:#}"),
                false,
            ),
        ),
    }
}

/// A report with the run's common parts filled in; the scenario adds checks and figures.
fn new_report(fault: &Fault, started_at: chrono::DateTime<Utc>) -> FaultReport {
    FaultReport {
        schema_version: FAULT_SCHEMA_VERSION,
        scenario: fault.plan.kind.name().to_owned(),
        profile: fault.plan.profile.name.clone(),
        db: fault.plan.db,
        runtime: fault.plan.runtime,
        capped: fault.info.capped,
        started_at,
        finished_at: Utc::now(),
        passed: false,
        checks: Vec::new(),
        timeline: Vec::new(),
        step: None,
        invariant: None,
        events: Vec::new(),
        figures: Default::default(),
        notes: Vec::new(),
    }
}
