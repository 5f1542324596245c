//! Replica loss: a read load through nginx; one replica is SIGKILLed a third of the way into
//! the step. nginx retries idempotent requests on the other replica, so availability over
//! the step (2xx / answered, from the access log slice) must stay >= 99.9%; its runtime
//! restarts the replica, which must answer traffic again within 5 s of the kill (the first
//! access-log line with its instance for a request that began after the kill).

use std::time::{Duration, Instant};

use super::context::{availability_percent, epoch_secs, Fault, FaultScenario};
use crate::exec::step::{Measured, StepRunner};
use crate::load::urls::Scenario;
use crate::results::fault::{Check, FaultReport};

/// The replica that is killed.
pub const VICTIM: &str = "app2";
pub const MIN_AVAILABILITY_PERCENT: f64 = 99.9;
pub const MAX_BACK_SECS: f64 = 5.0;

/// What happened around the kill.
#[derive(Debug, Default)]
pub struct ReplicaLoss {
    restarts_before: u32,
    killed_pid: u32,
    kill_epoch: f64,
    kill_offset: f64,
    /// Seconds from the kill until the runtime had the replica running again.
    restarted_after: Option<f64>,
}

impl FaultScenario for ReplicaLoss {
    fn load(&self) -> Scenario {
        Scenario::Read
    }

    fn before(&mut self, fault: &Fault) -> anyhow::Result<()> {
        self.restarts_before = fault.service(VICTIM)?.restarts;
        Ok(())
    }

    fn during(&mut self, fault: &Fault, step: &mut StepRunner) -> anyhow::Result<()> {
        let secs = fault.plan.step_secs as f64;
        step.wait_until(secs / 3.0);
        self.killed_pid = fault.stack.kill(VICTIM)?;
        self.kill_epoch = epoch_secs();
        self.kill_offset = step.elapsed_secs();
        // The runtime's view: when it had the replica running again.
        let waited = Instant::now();
        while waited.elapsed() < Duration::from_secs(15) && step.elapsed_secs() < secs {
            step.tick();
            let service = fault.service(VICTIM)?;
            if service.restarts > self.restarts_before
                && service.pid.is_some_and(|p| p != self.killed_pid)
            {
                self.restarted_after = Some(epoch_secs() - self.kill_epoch);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn judge(&self, fault: &Fault, result: &Measured, report: &mut FaultReport) {
        let (availability, answered) = availability_percent(&result.lines);
        report.checks.push(Check::new(
            "availability over the step (access log, 2xx / answered)",
            &format!(">= {MIN_AVAILABILITY_PERCENT}%"),
            format!("{availability:.3}% of {answered} requests"),
            availability >= MIN_AVAILABILITY_PERCENT && answered > 0,
        ));
        let now = fault.service(VICTIM).ok();
        let restarted = now.as_ref().is_some_and(|s| {
            s.restarts > self.restarts_before && s.pid.is_some_and(|p| p != self.killed_pid)
        });
        report.checks.push(Check::new(
            &format!(
                "{VICTIM} restarted by its runtime (the supervisor, or the engine's restart policy)"
            ),
            "restarts >= 1, a new PID",
            format!(
                "restarts {}, PID {} -> {}{}",
                now.as_ref().map_or(0, |s| s.restarts),
                self.killed_pid,
                now.as_ref()
                    .and_then(|s| s.pid)
                    .map_or_else(|| "none".to_owned(), |p| p.to_string()),
                self.restarted_after
                    .map_or_else(String::new, |s| format!(" after {s:.2} s"))
            ),
            restarted,
        ));
        let back_after = self.back_after(result);
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
        let failed_during = result
            .lines
            .iter()
            .filter(|l| !(200..300).contains(&l.status) && l.status != 499)
            .count();
        report.timeline = self.timeline(fault, back_after, result.load_secs);
        report.figure("availability_percent", availability);
        report.figure("requests_answered", answered as f64);
        report.figure("requests_not_2xx", failed_during as f64);
        report.figure("restarted_after_secs", self.restarted_after);
        report.figure("traffic_again_after_secs", back_after);
    }
}

impl ReplicaLoss {
    /// Seconds from the kill to the victim's first 2xx to a request begun after it. (An
    /// answer the dead process had already written can still reach nginx, and be logged, a
    /// moment after the kill.)
    fn back_after(&self, result: &Measured) -> Option<f64> {
        result
            .lines
            .iter()
            .filter(|l| {
                l.instance == VICTIM
                    && l.msec - l.request_time > self.kill_epoch
                    && (200..300).contains(&l.status)
            })
            .map(|l| l.msec - self.kill_epoch)
            .reduce(f64::min)
    }

    fn timeline(&self, fault: &Fault, back_after: Option<f64>, load_secs: f64) -> Vec<String> {
        let kill = self.kill_offset;
        vec![
            format!(
                "0.0 s: the load starts, {} users, read scenario, {} s",
                fault.plan.users, fault.plan.step_secs
            ),
            format!("{kill:.1} s: SIGKILL {VICTIM} (PID {})", self.killed_pid),
            match self.restarted_after {
                Some(s) => format!("{:.1} s: the runtime has {VICTIM} running again", kill + s),
                None => format!("{VICTIM} was not seen restarted within the step"),
            },
            match back_after {
                Some(s) => format!(
                    "{:.1} s: first request answered by {VICTIM} again",
                    kill + s
                ),
                None => format!("{VICTIM} answered no request after the kill"),
            },
            format!("{load_secs:.1} s: the load ends"),
        ]
    }
}
