//! Database crash: a burst of orders (siege's `write` scenario, orders only, plus lab's own
//! order writer) and, a third of the way in, every process of the database SIGKILLed at
//! once: a crash, not a clean stop (no checkpoint, no goodbye to its clients). The runtime
//! brings it back (the native supervisor, or the engine's restart policy) and the database
//! recovers from its log. Then, through the HTTP API: every order answered 201 exists exactly
//! once, no order answered with an error exists (timeouts and cut connections are reported as
//! unknown), and for every disk the seeded stock equals the stock now plus every unit ordered
//! (siege's orders included). The database must be back (`/ready` 200 and a read 200) within
//! 30 s of the kill, and no replica may crash.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    epoch_secs, invariant, new_report, start_writer, Check, Fault, FaultReport, StepFigures,
};
use crate::load::urls::Scenario;

/// Seconds the stack has to serve again after the kill (database restart and crash recovery).
pub const MAX_RECOVERY_SECS: f64 = 30.0;

pub fn run(fault: &Fault) -> anyhow::Result<FaultReport> {
    let started_at = chrono::Utc::now();
    let urls = fault.urls_file(Scenario::Write)?;
    let before = fault.status()?;
    let restarts = |info: &crate::stack::StackInfo, name: &str| {
        info.services
            .iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.restarts)
    };
    let writer = start_writer(fault);
    let mut step = fault.start_step(&urls, fault.users, fault.step_secs)?;
    step.wait_until(fault.step_secs as f64 / 3.0);

    let kill_offset = step.elapsed_secs();
    let kill_epoch = epoch_secs();
    let killed_pid = fault.crash("db")?;
    let killed = Instant::now();
    // Back: /ready and a read both 200 in one round (the pool reconnects on its own).
    let mut recovered_after: Option<f64> = None;
    let mut disk = 1;
    while killed.elapsed() < Duration::from_secs_f64(MAX_RECOVERY_SECS + 10.0) {
        step.tick();
        let ready = fault.get(contract::routes::READY, Duration::from_secs(5));
        let read = fault.get(&format!("/disks/{disk}"), Duration::from_secs(5));
        disk = disk % super::SEED_DISKS + 1;
        if ready.status == 200 && read.status == 200 {
            recovered_after = Some(killed.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let result = step.finish(|| None)?;
    let attempts = writer.stop();
    let after = fault.status()?;

    let mut report = new_report(fault, "db-kill", started_at);
    let db_after = after.services.iter().find(|s| s.name == "db");
    report.checks.push(Check::new(
        "the database crashed and its runtime started it again",
        "restarts >= 1, running",
        format!(
            "restarts {} -> {}, PID {killed_pid} -> {}",
            restarts(&before, "db"),
            restarts(&after, "db"),
            db_after
                .and_then(|s| s.pid)
                .map_or_else(|| "none".to_owned(), |p| p.to_string())
        ),
        restarts(&after, "db") > restarts(&before, "db")
            && db_after.is_some_and(|s| s.pid.is_some()),
    ));
    report.checks.push(Check::new(
        "serving again after the kill (/ready 200 and a read 200)",
        &format!("<= {MAX_RECOVERY_SECS} s"),
        recovered_after.map_or_else(|| "never".to_owned(), |s| format!("{s:.2} s")),
        recovered_after.is_some_and(|s| s <= MAX_RECOVERY_SECS),
    ));
    let crashed: Vec<String> = after
        .services
        .iter()
        .filter(|s| s.name.starts_with("app") && s.restarts > restarts(&before, &s.name))
        .map(|s| {
            format!(
                "{} restarted {} time(s)",
                s.name,
                s.restarts - restarts(&before, &s.name)
            )
        })
        .collect();
    report.checks.push(Check::new(
        "no replica crashed",
        "no app restart",
        if crashed.is_empty() {
            "none".to_owned()
        } else {
            crashed.join(", ")
        },
        crashed.is_empty(),
    ));
    let (invariant_report, invariant_check) = invariant(fault, &attempts);
    report.checks.push(invariant_check);

    let orders_201 = result
        .lines
        .iter()
        .filter(|l| l.method == "POST" && l.status == 201)
        .count();
    let orders_after_kill = result
        .lines
        .iter()
        .filter(|l| l.method == "POST" && l.status == 201 && l.msec - l.request_time > kill_epoch)
        .count();
    report.timeline = vec![
        format!(
            "0.0 s: siege starts, {} users, write scenario (orders only), {} s; lab's order writer alongside",
            fault.users, fault.step_secs
        ),
        format!("{kill_offset:.1} s: SIGKILL every process of the database (main PID {killed_pid})"),
        match recovered_after {
            Some(s) => format!("{:.1} s: /ready and a read answer 200 again", kill_offset + s),
            None => "the stack did not serve again".to_owned(),
        },
        format!("{:.1} s: siege ends", result.load_secs),
    ];
    report
        .figures
        .insert("recovered_after_secs".into(), json!(recovered_after));
    report
        .figures
        .insert("orders_201_in_log".into(), json!(orders_201));
    report.figures.insert(
        "orders_201_begun_after_kill".into(),
        json!(orders_after_kill),
    );
    if let Some(inv) = &invariant_report {
        report
            .figures
            .insert("writer_created".into(), json!(inv.created));
        report
            .figures
            .insert("writer_failed".into(), json!(inv.failed));
        report
            .figures
            .insert("writer_unknown".into(), json!(inv.unknown));
    }
    report.invariant = invariant_report;
    report.step = Some(StepFigures::of(&result, fault.users));
    report.events = fault.events();
    report.finished_at = chrono::Utc::now();
    report.passed = report.checks.iter().all(|c| c.passed);
    Ok(report)
}
