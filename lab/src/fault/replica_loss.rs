//! Replica loss: a read load through nginx; one replica is SIGKILLed a third of the way into
//! the step. nginx retries idempotent requests on the other replica, so availability over
//! the step (2xx / answered, from the access log slice) must stay >= 99.9%; the supervisor
//! restarts the replica, which must answer traffic again within 5 s of the kill (the first
//! access-log line with its instance for a request that began after the kill).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    availability_percent, epoch_secs, invariant, new_report, start_writer, Check, Fault,
    FaultReport, StepFigures,
};
use crate::load::urls::Scenario;

/// The replica that is killed.
pub const VICTIM: &str = "app2";
pub const MIN_AVAILABILITY_PERCENT: f64 = 99.9;
pub const MAX_BACK_SECS: f64 = 5.0;

pub fn run(fault: &Fault) -> anyhow::Result<FaultReport> {
    let started_at = chrono::Utc::now();
    let urls = fault.urls_file(Scenario::Read)?;
    let restarts_before = fault.service(VICTIM)?.restarts;
    let writer = start_writer(fault);
    let mut step = fault.start_step(&urls, fault.users, fault.step_secs)?;
    let kill_at = fault.step_secs as f64 / 3.0;
    step.wait_until(kill_at);
    let killed_pid = fault.kill(VICTIM)?;
    let kill_epoch = epoch_secs();
    let kill_offset = step.elapsed_secs();
    // The supervisor's view: when it had the replica running again.
    let waited = Instant::now();
    let mut restarted_after: Option<f64> = None;
    while waited.elapsed() < Duration::from_secs(15) && step.elapsed_secs() < fault.step_secs as f64
    {
        step.tick();
        let service = fault.service(VICTIM)?;
        if service.restarts > restarts_before && service.pid.is_some_and(|p| p != killed_pid) {
            restarted_after = Some(epoch_secs() - kill_epoch);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = step.finish(|| None)?;
    let attempts = writer.stop();

    let mut report = new_report(fault, "replica-loss", started_at);
    let (availability, answered) = availability_percent(&result.lines);
    report.checks.push(Check::new(
        "availability over the step (access log, 2xx / answered)",
        &format!(">= {MIN_AVAILABILITY_PERCENT}%"),
        format!("{availability:.3}% of {answered} requests"),
        availability >= MIN_AVAILABILITY_PERCENT && answered > 0,
    ));
    let service = fault.service(VICTIM)?;
    report.checks.push(Check::new(
        &format!(
            "{VICTIM} restarted by its runtime (the supervisor, or the engine's restart policy)"
        ),
        "restarts >= 1, a new PID",
        format!(
            "restarts {}, PID {killed_pid} -> {}{}",
            service.restarts,
            service
                .pid
                .map_or_else(|| "none".to_owned(), |p| p.to_string()),
            restarted_after.map_or_else(String::new, |s| format!(" after {s:.2} s"))
        ),
        service.restarts > restarts_before && service.pid.is_some_and(|p| p != killed_pid),
    ));
    let back_after = result
        .lines
        .iter()
        // Requests that began after the kill: an answer the dead process had already
        // written can still reach nginx (and be logged) a moment after the kill.
        .filter(|l| {
            l.instance == VICTIM
                && l.msec - l.request_time > kill_epoch
                && (200..300).contains(&l.status)
        })
        .map(|l| l.msec - kill_epoch)
        .fold(None, |first: Option<f64>, t| {
            Some(first.map_or(t, |f| f.min(t)))
        });
    report.checks.push(Check::new(
        &format!(
            "{VICTIM} takes traffic again (first 2xx it answers to a request begun after the kill)"
        ),
        &format!("<= {MAX_BACK_SECS} s"),
        back_after.map_or_else(
            || "never during the step".to_owned(),
            |s| format!("{s:.2} s"),
        ),
        back_after.is_some_and(|s| s <= MAX_BACK_SECS),
    ));
    let (invariant_report, invariant_check) = invariant(fault, &attempts);
    report.checks.push(invariant_check);
    report.invariant = invariant_report;

    let failed_during = result
        .lines
        .iter()
        .filter(|l| !(200..300).contains(&l.status) && l.status != 499)
        .count();
    report.timeline = vec![
        format!(
            "0.0 s: siege starts, {} users, read scenario, {} s",
            fault.users, fault.step_secs
        ),
        format!("{kill_offset:.1} s: SIGKILL {VICTIM} (PID {killed_pid})"),
        match restarted_after {
            Some(s) => format!(
                "{:.1} s: the runtime has {VICTIM} running again",
                kill_offset + s
            ),
            None => format!("{VICTIM} was not seen restarted within the step"),
        },
        match back_after {
            Some(s) => format!(
                "{:.1} s: first request answered by {VICTIM} again",
                kill_offset + s
            ),
            None => format!("{VICTIM} answered no request after the kill"),
        },
        format!("{:.1} s: siege ends", result.load_secs),
    ];
    report
        .figures
        .insert("availability_percent".into(), json!(availability));
    report
        .figures
        .insert("requests_answered".into(), json!(answered));
    report
        .figures
        .insert("requests_not_2xx".into(), json!(failed_during));
    report
        .figures
        .insert("restarted_after_secs".into(), json!(restarted_after));
    report
        .figures
        .insert("traffic_again_after_secs".into(), json!(back_after));
    report.step = Some(StepFigures::of(&result, fault.users));
    report.events = fault.events();
    report.finished_at = chrono::Utc::now();
    report.passed = report.checks.iter().all(|c| c.passed);
    Ok(report)
}
