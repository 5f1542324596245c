//! Database outage: a mixed load (reads and orders) while the private database server is
//! really stopped (its clean-stop signal, the process gone, the runtime told not to restart
//! it) for `outage_secs`, then started again through the runtime. No replica may crash
//! (restarts == 0); requests must fail fast (p99 of the 5xx answers' `request_time` within
//! what the pool's acquire timeout allows: nginx tries a GET on both replicas, so two acquire
//! timeouts, plus a margin); `/ready` must answer 503 during the outage; and within 5 s of the
//! database's return `/ready` and a read must answer 200.

use std::time::Duration;

use super::context::{
    availability_percent, epoch_secs, quantile, wait_until_serving, Fault, FaultScenario, Probe,
};
use crate::exec::step::{Measured, StepRunner};
use crate::load::urls::Scenario;
use crate::plan::fault::OUTAGE_BEFORE_SECS;
use crate::results::fault::{Check, FaultReport};

pub const MAX_RECOVERY_SECS: f64 = 5.0;
/// Margin over the acquire timeouts a failing request may take (scheduling on capped CPUs).
pub const FAIL_FAST_MARGIN_MS: f64 = 500.0;
/// nginx's `proxy_next_upstream_tries`: a GET that fails with 503 is tried on both replicas.
pub const NGINX_TRIES: f64 = 2.0;

#[derive(Default)]
pub struct DbOutage {
    stop_offset: f64,
    down_epoch: f64,
    down_offset: f64,
    /// `/ready` during the outage, twice a second.
    ready_probes: Vec<Probe>,
    return_offset: f64,
    return_epoch: f64,
    db_pid: u32,
    recovered_after: Option<f64>,
}

impl FaultScenario for DbOutage {
    fn load(&self) -> Scenario {
        Scenario::Mixed
    }

    fn during(&mut self, fault: &Fault, step: &mut StepRunner) -> anyhow::Result<()> {
        step.wait_until(OUTAGE_BEFORE_SECS as f64);
        self.stop_offset = step.elapsed_secs();
        fault.stack.stop_service("db", Duration::from_secs(20))?;
        self.down_epoch = epoch_secs();
        self.down_offset = step.elapsed_secs();
        // The first 200 ms are left for the pool to notice.
        let outage_end = self.down_offset + fault.plan.outage_secs as f64;
        while step.elapsed_secs() < outage_end {
            step.tick();
            if step.elapsed_secs() - self.down_offset > 0.2 {
                self.ready_probes
                    .push(fault.get(contract::routes::READY, Duration::from_secs(10)));
            }
            step.wait_until((step.elapsed_secs() + 0.5).min(outage_end));
        }
        // The database's return is counted from the request to start it, not its new PID.
        self.return_offset = step.elapsed_secs();
        self.return_epoch = epoch_secs();
        let returned = std::time::Instant::now();
        self.db_pid = fault.stack.start_service("db", Duration::from_secs(10))?;
        self.recovered_after = wait_until_serving(fault, step, Duration::from_secs(30))
            .map(|_| returned.elapsed().as_secs_f64());
        Ok(())
    }

    fn judge(&self, fault: &Fault, result: &Measured, report: &mut FaultReport) {
        self.check_no_crash(fault, report);
        let recovered_epoch = self.recovered_after.map(|s| self.return_epoch + s);
        let in_outage =
            |msec: f64| msec >= self.down_epoch && msec <= recovered_epoch.unwrap_or(f64::MAX);
        let failures_ms: Vec<f64> = result
            .lines
            .iter()
            .filter(|l| l.status >= 500 && in_outage(l.msec))
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
        self.check_ready_probes(report);
        report.checks.push(Check::new(
            "everything serves after the database returns (/ready 200 and a read 200)",
            &format!("<= {MAX_RECOVERY_SECS} s"),
            self.recovered_after
                .map_or_else(|| "not within 30 s".to_owned(), |s| format!("{s:.2} s")),
            self.recovered_after.is_some_and(|s| s <= MAX_RECOVERY_SECS),
        ));
        let reads_after: Vec<_> = result
            .lines
            .iter()
            .filter(|l| l.method == "GET" && recovered_epoch.is_some_and(|r| l.msec > r + 1.0))
            .collect();
        let (reads_after_percent, reads_after_n) = availability_percent(reads_after);
        report.figure(
            "reads_2xx_percent_from_1s_after_recovery",
            reads_after_percent,
        );
        report.figure("reads_from_1s_after_recovery", reads_after_n as f64);
        report.timeline = self.timeline(fault, result.load_secs);
        report.figure("outage_secs", self.return_offset - self.down_offset);
        report.figure("acquire_timeout_ms", fault.acquire_timeout_ms as f64);
        report.figure("errors_5xx_during_outage", failures_ms.len() as f64);
        report.figure("fail_p99_ms", fail_p99);
        report.figure("fail_p50_ms", quantile(failures_ms, 0.5));
        report.figure("ready_probes", self.ready_probes.len() as f64);
        report.figure(
            "ready_probe_max_ms",
            self.ready_probes.iter().map(|p| p.ms).reduce(f64::max),
        );
        report.figure("recovered_after_secs", self.recovered_after);
    }
}

impl DbOutage {
    fn check_no_crash(&self, fault: &Fault, report: &mut FaultReport) {
        let apps: Vec<_> = fault
            .status()
            .map(|s| s.services)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.name.starts_with("app"))
            .collect();
        let restarts: Vec<String> = apps
            .iter()
            .map(|s| format!("{} {}", s.name, s.restarts))
            .collect();
        report.checks.push(Check::new(
            "no app process crashed",
            "restarts == 0",
            restarts.join(", "),
            !apps.is_empty() && apps.iter().all(|s| s.restarts == 0),
        ));
    }

    fn check_ready_probes(&self, report: &mut FaultReport) {
        let probes = &self.ready_probes;
        let ready_503 = probes.iter().filter(|p| p.status == 503).count();
        let ready_json = probes
            .iter()
            .filter(|p| p.status == 503 && p.body.contains("\"error\""))
            .count();
        report.checks.push(Check::new(
            "/ready during the outage",
            "503 with a JSON error, every probe",
            format!(
                "{ready_503} of {} probes 503 ({ready_json} with a JSON error body), slowest {:.0} ms",
                probes.len(),
                probes.iter().map(|p| p.ms).fold(0.0, f64::max)
            ),
            !probes.is_empty() && ready_json == probes.len(),
        ));
    }

    fn timeline(&self, fault: &Fault, load_secs: f64) -> Vec<String> {
        vec![
            format!("0.0 s: the load starts, {} users, mixed scenario (80% reads, 20% orders), {} s; lab's order writer alongside", fault.plan.users, fault.plan.step_secs),
            format!("{:.1} s: stop the database (clean-stop signal, its runtime holds it)", self.stop_offset),
            format!("{:.1} s: the database process is gone", self.down_offset),
            format!("{:.1} s: start the database again through the runtime (new PID {})", self.return_offset, self.db_pid),
            match self.recovered_after {
                Some(s) => format!("{:.1} s: /ready and a read answer 200", self.return_offset + s),
                None => "never recovered within 30 s".to_owned(),
            },
            format!("{load_secs:.1} s: the load ends"),
        ]
    }
}
