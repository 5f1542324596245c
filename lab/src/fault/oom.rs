//! OOM: under a read load, replica app1 gets a tree stress with `allow_oom` and a target
//! beyond its memory cap (`POST /replicas/app1/start`, with STRESS_TOKEN when set). The
//! kernel must OOM-kill it (its runtime records `oom_kills >= 1`), the runtime must restart
//! it, and the other replica must keep the reads served (availability >= 99% over the step).

use std::time::Duration;

use serde_json::json;

use super::context::{availability_percent, Fault, FaultScenario};
use crate::exec::step::{Measured, StepRunner};
use crate::load::http;
use crate::load::urls::Scenario;
use crate::results::fault::{Check, FaultReport};
use crate::stack::ServiceInfo;

pub const VICTIM: &str = "app1";
pub const MIN_AVAILABILITY_PERCENT: f64 = 99.0;
/// The tree's target as a multiple of the replica's memory cap.
const TARGET_TIMES_CAP: f64 = 1.5;
/// Seconds of load before the stress starts.
const BEFORE_SECS: f64 = 2.0;

#[derive(Default)]
pub struct Oom {
    before: Option<ServiceInfo>,
    target_mb: u64,
    body: String,
    start_offset: f64,
    start_status: u16,
    start_body: String,
    oom_offset: Option<f64>,
    back_offset: Option<f64>,
}

impl FaultScenario for Oom {
    fn load(&self) -> Scenario {
        Scenario::Read
    }

    fn before(&mut self, fault: &Fault) -> anyhow::Result<()> {
        let before = fault.service(VICTIM)?;
        // Uncapped, the target is relative to nothing: aim at 1.5 GiB and say so.
        self.target_mb = before
            .memory_limit_bytes
            .map_or(1536.0, |b| b as f64 / 1048576.0 * TARGET_TIMES_CAP)
            .ceil() as u64;
        self.before = Some(before);
        Ok(())
    }

    fn during(&mut self, fault: &Fault, step: &mut StepRunner) -> anyhow::Result<()> {
        let before = self
            .before
            .clone()
            .unwrap_or_else(|| fault.info.services[0].clone());
        step.wait_until(BEFORE_SECS);
        self.body = json!({
            "memory_mb": self.target_mb.clamp(10, 10_000),
            "allow_oom": true,
            "duration_seconds": fault.plan.step_secs.clamp(5, 3600),
        })
        .to_string();
        let headers = fault
            .stress_token
            .as_ref()
            .map(|t| vec![("Authorization", format!("Bearer {t}"))])
            .unwrap_or_default();
        self.start_offset = step.elapsed_secs();
        let start = http::request(
            &fault.info.base_url,
            "POST",
            &contract::routes::on_replica(VICTIM, contract::stress::START),
            &headers,
            Some(&self.body),
            Duration::from_secs(10),
        );
        (self.start_status, self.start_body) = match &start {
            Ok(r) => (r.status, r.body.clone()),
            Err(err) => (0, format!("{err:#}")),
        };
        while step.elapsed_secs() < fault.plan.step_secs as f64 {
            step.tick();
            let service = fault.service(VICTIM)?;
            if self.oom_offset.is_none() && service.oom_kills > before.oom_kills {
                self.oom_offset = Some(step.elapsed_secs());
            }
            if self.oom_offset.is_some()
                && service.restarts > before.restarts
                && service.pid.is_some()
            {
                self.back_offset = Some(step.elapsed_secs());
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn judge(&self, fault: &Fault, result: &Measured, report: &mut FaultReport) {
        let Some(before) = &self.before else {
            return;
        };
        let after = fault.service(VICTIM).unwrap_or_else(|_| before.clone());
        let cap_bytes = before.memory_limit_bytes;
        report.checks.push(Check::new(
            &format!("tree stress with allow_oom accepted by {VICTIM}"),
            "202",
            format!(
                "{}: {}",
                self.start_status,
                self.start_body.chars().take(160).collect::<String>()
            ),
            self.start_status == 202,
        ));
        report.checks.push(Check::new(
            &format!(
                "{VICTIM} OOM-killed (the cgroup's oom_kill count, or the engine's oom events)"
            ),
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
        report.timeline = self.timeline(fault, result.load_secs);
        report.figure("target_mb", self.target_mb as f64);
        report.figure("memory_limit_bytes", cap_bytes.map(|b| b as f64));
        report.figure("oom_kills", f64::from(after.oom_kills));
        report.figure(
            "oom_after_stress_start_secs",
            self.oom_offset.map(|t| t - self.start_offset),
        );
        report.figure("availability_percent", availability);
        let ooms = fault.stack.events(fault.started);
        report.notes.extend(
            ooms.iter()
                .filter(|e| e.event.contains("oom") || e.detail.contains("OOM"))
                .map(|e| format!("OOM kill recorded: {} {} {}", e.t, e.service, e.detail)),
        );
    }
}

impl Oom {
    fn timeline(&self, fault: &Fault, load_secs: f64) -> Vec<String> {
        vec![
            format!(
                "0.0 s: the load starts, {} users, read scenario, {} s; lab's order writer alongside",
                fault.plan.users, fault.plan.step_secs
            ),
            format!(
                "{:.1} s: POST /replicas/{VICTIM}/start {} -> {}",
                self.start_offset, self.body, self.start_status
            ),
            match self.oom_offset {
                Some(t) => format!("{t:.1} s: the runtime records the OOM kill of {VICTIM}"),
                None => format!("{VICTIM} was not OOM-killed during the step"),
            },
            match self.back_offset {
                Some(t) => format!("{t:.1} s: {VICTIM} running again"),
                None => format!("{VICTIM} not seen restarted during the step"),
            },
            format!("{load_secs:.1} s: the load ends"),
        ]
    }
}
