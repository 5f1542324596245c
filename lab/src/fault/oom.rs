//! OOM: under a read load, replica app1 gets a tree stress with `allow_oom` and a target
//! beyond its memory cap (`POST /replicas/app1/start`, with STRESS_TOKEN when set). The
//! kernel must OOM-kill it (the supervisor records `oom_kills >= 1` in stack.json), the
//! supervisor must restart it, and the other replica must keep the reads served
//! (availability >= 99% over the step).

use std::time::Duration;

use serde_json::json;

use super::{
    availability_percent, invariant, new_report, start_writer, Check, Fault, FaultReport,
    StepFigures,
};
use crate::load::http;
use crate::load::urls::Scenario;

pub const VICTIM: &str = "app1";
pub const MIN_AVAILABILITY_PERCENT: f64 = 99.0;
/// The tree's target as a multiple of the replica's memory cap.
const TARGET_TIMES_CAP: f64 = 1.5;
/// Seconds of load before the stress starts.
const BEFORE_SECS: f64 = 2.0;

pub fn run(fault: &Fault) -> anyhow::Result<FaultReport> {
    let started_at = chrono::Utc::now();
    let urls = fault.urls_file(Scenario::Read)?;
    let before = fault.service(VICTIM)?;
    let cap_bytes = before.memory_limit_bytes;
    // Uncapped, the target is relative to nothing: aim at 1.5 GiB and say so in the report.
    let target_mb = cap_bytes
        .map_or(1536.0, |b| b as f64 / 1048576.0 * TARGET_TIMES_CAP)
        .ceil() as u64;
    let writer = start_writer(fault);
    let mut step = fault.start_step(&urls, fault.users, fault.step_secs)?;
    step.wait_until(BEFORE_SECS);
    let body = json!({
        "memory_mb": target_mb.clamp(10, 10_000),
        "allow_oom": true,
        "duration_seconds": fault.step_secs.clamp(5, 3600),
    })
    .to_string();
    let headers = fault
        .stress_token
        .as_ref()
        .map(|t| vec![("Authorization", format!("Bearer {t}"))])
        .unwrap_or_default();
    let start_offset = step.elapsed_secs();
    let start = http::request(
        &fault.stack.base_url,
        "POST",
        &contract::routes::on_replica(VICTIM, contract::stress::START),
        &headers,
        Some(&body),
        Duration::from_secs(10),
    );
    let (start_status, start_body) = match &start {
        Ok(r) => (r.status, r.body.clone()),
        Err(err) => (0, format!("{err:#}")),
    };
    let mut oom_offset = None;
    let mut back_offset = None;
    while step.elapsed_secs() < fault.step_secs as f64 {
        step.tick();
        let service = fault.service(VICTIM)?;
        if oom_offset.is_none() && service.oom_kills > before.oom_kills {
            oom_offset = Some(step.elapsed_secs());
        }
        if oom_offset.is_some() && service.restarts > before.restarts && service.pid.is_some() {
            back_offset = Some(step.elapsed_secs());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = step.finish(|| None)?;
    let attempts = writer.stop();
    let after = fault.service(VICTIM)?;

    let mut report = new_report(fault, "oom", started_at);
    report.checks.push(Check::new(
        &format!("tree stress with allow_oom accepted by {VICTIM}"),
        "202",
        format!(
            "{start_status}: {}",
            start_body.chars().take(160).collect::<String>()
        ),
        start_status == 202,
    ));
    report.checks.push(Check::new(
        &format!("{VICTIM} OOM-killed (the cgroup's oom_kill count, or the engine's oom events)"),
        ">= 1",
        format!(
            "{} (memory cap {})",
            after.oom_kills,
            cap_bytes.map_or_else(
                || "none: uncapped".to_owned(),
                |b| format!("{:.0} MiB", b as f64 / 1048576.0)
            )
        ),
        after.oom_kills > before.oom_kills,
    ));
    report.checks.push(Check::new(
        &format!(
            "{VICTIM} restarted by its runtime (the supervisor, or the engine's restart policy)"
        ),
        "restarts >= 1 and running",
        format!(
            "restarts {}, PID {}",
            after.restarts,
            after
                .pid
                .map_or_else(|| "none".to_owned(), |p| p.to_string())
        ),
        after.restarts > before.restarts && after.pid.is_some(),
    ));
    let (availability, answered) = availability_percent(&result.lines);
    report.checks.push(Check::new(
        "availability over the step (access log, 2xx / answered)",
        &format!(">= {MIN_AVAILABILITY_PERCENT}%"),
        format!("{availability:.3}% of {answered} requests"),
        availability >= MIN_AVAILABILITY_PERCENT && answered > 0,
    ));
    let (invariant_report, invariant_check) = invariant(fault, &attempts);
    report.checks.push(invariant_check);
    report.invariant = invariant_report;

    report.timeline = vec![
        format!(
            "0.0 s: siege starts, {} users, read scenario, {} s; lab's order writer alongside",
            fault.users, fault.step_secs
        ),
        format!("{start_offset:.1} s: POST /replicas/{VICTIM}/start {body} -> {start_status}"),
        match oom_offset {
            Some(t) => format!("{t:.1} s: stack.json records the OOM kill of {VICTIM}"),
            None => format!("{VICTIM} was not OOM-killed during the step"),
        },
        match back_offset {
            Some(t) => format!("{t:.1} s: {VICTIM} running again"),
            None => format!("{VICTIM} not seen restarted during the step"),
        },
        format!("{:.1} s: siege ends", result.load_secs),
    ];
    report.figures.insert("target_mb".into(), json!(target_mb));
    report
        .figures
        .insert("memory_limit_bytes".into(), json!(cap_bytes));
    report
        .figures
        .insert("oom_kills".into(), json!(after.oom_kills));
    report.figures.insert(
        "oom_after_stress_start_secs".into(),
        json!(oom_offset.map(|t| t - start_offset)),
    );
    report
        .figures
        .insert("availability_percent".into(), json!(availability));
    report.step = Some(StepFigures::of(&result, fault.users));
    report.events = fault.events();
    report.notes.extend(
        report
            .events
            .iter()
            .filter(|e| e.contains("OOM"))
            .map(|e| format!("OOM kill recorded: {e}")),
    );
    report.finished_at = chrono::Utc::now();
    report.passed = report.checks.iter().all(|c| c.passed);
    Ok(report)
}
