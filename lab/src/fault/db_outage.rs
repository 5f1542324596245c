//! Database outage: a mixed load (reads and orders) while the private database server is
//! really stopped (its clean-stop signal, the process gone, the supervisor told not to
//! restart it) for `outage_secs`, then started again through the runtime. No replica may
//! crash (restarts == 0); requests must fail fast (p99 of the 5xx answers' `request_time`
//! within what the pool's acquire timeout allows: nginx tries a GET on both replicas, so two
//! acquire timeouts, plus a margin); `/ready` must answer 503 during the outage; and within
//! 5 s of the database's return `/ready` and a read must answer 200.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    availability_percent, epoch_secs, invariant, new_report, quantile, start_writer, Check, Fault,
    FaultReport, Probe, StepFigures,
};
use crate::load::urls::Scenario;

/// Seconds of load before the database is stopped.
pub const BEFORE_SECS: u64 = 5;
pub const MAX_RECOVERY_SECS: f64 = 5.0;
/// Margin over the acquire timeouts a failing request may take (scheduling on capped CPUs).
pub const FAIL_FAST_MARGIN_MS: f64 = 500.0;
/// nginx's `proxy_next_upstream_tries`: a GET that fails with 503 is tried on both replicas.
pub const NGINX_TRIES: f64 = 2.0;

pub fn run(fault: &Fault) -> anyhow::Result<FaultReport> {
    let started_at = chrono::Utc::now();
    let urls = fault.urls_file(Scenario::Mixed)?;
    let writer = start_writer(fault);
    let mut step = fault.start_step(&urls, fault.users, fault.step_secs)?;
    step.wait_until(BEFORE_SECS as f64);

    let stop_offset = step.elapsed_secs();
    fault.stop("db", Duration::from_secs(20))?;
    let down_epoch = epoch_secs();
    let down_offset = step.elapsed_secs();
    // /ready during the outage, twice a second (the first 200 ms left for the pool to notice).
    let mut ready_probes: Vec<Probe> = Vec::new();
    let outage_end = down_offset + fault.outage_secs as f64;
    while step.elapsed_secs() < outage_end {
        step.tick();
        if step.elapsed_secs() - down_offset > 0.2 {
            ready_probes.push(fault.get(contract::routes::READY, Duration::from_secs(10)));
        }
        step.wait_until((step.elapsed_secs() + 0.5).min(outage_end));
    }

    // The database's return is counted from the request to start it, not from its new PID.
    let return_offset = step.elapsed_secs();
    let return_epoch = epoch_secs();
    let returned = Instant::now();
    let db_pid = fault.start("db", Duration::from_secs(10))?;
    // Everything serves: /ready and a read both 200 in one round.
    let mut recovered_after: Option<f64> = None;
    let mut disk = 1;
    while returned.elapsed() < Duration::from_secs(30) {
        step.tick();
        let ready = fault.get(contract::routes::READY, Duration::from_secs(5));
        let read = fault.get(&format!("/disks/{disk}"), Duration::from_secs(5));
        disk = disk % super::SEED_DISKS + 1;
        if ready.status == 200 && read.status == 200 {
            recovered_after = Some(returned.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = step.finish(|| None)?;
    let attempts = writer.stop();
    let recovered_epoch = recovered_after.map(|s| return_epoch + s);

    let mut report = new_report(fault, "db-outage", started_at);
    let status = fault.status()?;
    let app_restarts: Vec<String> = status
        .services
        .iter()
        .filter(|s| s.name.starts_with("app"))
        .map(|s| format!("{} {}", s.name, s.restarts))
        .collect();
    let crashed = status
        .services
        .iter()
        .any(|s| s.name.starts_with("app") && s.restarts > 0);
    report.checks.push(Check::new(
        "no app process crashed",
        "restarts == 0",
        app_restarts.join(", "),
        !crashed,
    ));

    let outage_window =
        |msec: f64| msec >= down_epoch && msec <= recovered_epoch.unwrap_or(f64::MAX);
    let failures_ms: Vec<f64> = result
        .lines
        .iter()
        .filter(|l| l.status >= 500 && outage_window(l.msec))
        .map(|l| l.request_time * 1000.0)
        .collect();
    let limit_ms = NGINX_TRIES * fault.acquire_timeout_ms as f64 + FAIL_FAST_MARGIN_MS;
    let fail_p99 = quantile(failures_ms.clone(), 0.99);
    report.checks.push(Check::new(
        "requests fail fast (p99 request_time of the 5xx during the outage)",
        &format!(
            "<= {limit_ms:.0} ms ({NGINX_TRIES} tries x {} ms acquire timeout + {FAIL_FAST_MARGIN_MS:.0} ms)",
            fault.acquire_timeout_ms
        ),
        format!(
            "{fail_p99:.0} ms over {} 5xx (max {:.0} ms)",
            failures_ms.len(),
            quantile(failures_ms.clone(), 1.0)
        ),
        !failures_ms.is_empty() && fail_p99 <= limit_ms,
    ));
    let ready_503 = ready_probes.iter().filter(|p| p.status == 503).count();
    let ready_json = ready_probes
        .iter()
        .filter(|p| p.status == 503 && p.body.contains("\"error\""))
        .count();
    report.checks.push(Check::new(
        "/ready during the outage",
        "503 with a JSON error, every probe",
        format!(
            "{ready_503} of {} probes 503 ({ready_json} with a JSON error body), slowest {:.0} ms",
            ready_probes.len(),
            ready_probes.iter().map(|p| p.ms).fold(0.0, f64::max)
        ),
        !ready_probes.is_empty() && ready_json == ready_probes.len(),
    ));
    report.checks.push(Check::new(
        "everything serves after the database returns (/ready 200 and a read 200)",
        &format!("<= {MAX_RECOVERY_SECS} s"),
        recovered_after.map_or_else(|| "not within 30 s".to_owned(), |s| format!("{s:.2} s")),
        recovered_after.is_some_and(|s| s <= MAX_RECOVERY_SECS),
    ));
    let reads_after: Vec<_> = result
        .lines
        .iter()
        .filter(|l| l.method == "GET" && recovered_epoch.is_some_and(|r| l.msec > r + 1.0))
        .collect();
    let (reads_after_percent, reads_after_n) = availability_percent(reads_after.iter().copied());
    report.figures.insert(
        "reads_2xx_percent_from_1s_after_recovery".into(),
        json!(reads_after_percent),
    );
    report
        .figures
        .insert("reads_from_1s_after_recovery".into(), json!(reads_after_n));
    let (invariant_report, invariant_check) = invariant(fault, &attempts);
    report.checks.push(invariant_check);
    report.invariant = invariant_report;

    let n5xx_outage = failures_ms.len();
    report.timeline = vec![
        format!("0.0 s: siege starts, {} users, mixed scenario (80% reads, 20% orders), {} s; lab's order writer alongside", fault.users, fault.step_secs),
        format!("{stop_offset:.1} s: stop the database (clean-stop signal, supervisor holds it)"),
        format!("{down_offset:.1} s: the database process is gone"),
        format!("{return_offset:.1} s: start the database again through the runtime (new PID {db_pid})"),
        match recovered_after {
            Some(s) => format!("{:.1} s: /ready and a read answer 200", return_offset + s),
            None => "never recovered within 30 s".to_owned(),
        },
        format!("{:.1} s: siege ends", result.load_secs),
    ];
    report
        .figures
        .insert("outage_secs".into(), json!(return_offset - down_offset));
    report
        .figures
        .insert("acquire_timeout_ms".into(), json!(fault.acquire_timeout_ms));
    report
        .figures
        .insert("errors_5xx_during_outage".into(), json!(n5xx_outage));
    report.figures.insert("fail_p99_ms".into(), json!(fail_p99));
    report
        .figures
        .insert("fail_p50_ms".into(), json!(quantile(failures_ms, 0.5)));
    report.figures.insert(
        "ready_probes".into(),
        json!(ready_probes
            .iter()
            .map(|p| json!({"status": p.status, "ms": p.ms}))
            .collect::<Vec<_>>()),
    );
    report
        .figures
        .insert("recovered_after_secs".into(), json!(recovered_after));
    report.step = Some(StepFigures::of(&result, fault.users));
    report.events = fault.events();
    report.finished_at = chrono::Utc::now();
    report.passed = report.checks.iter().all(|c| c.passed);
    Ok(report)
}
