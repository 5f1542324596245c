//! Database crash: a burst of orders (the `write` scenario, orders only, plus lab's own order
//! writer) and, a third of the way in, every process of the database SIGKILLed at once: a
//! crash, not a clean stop (no checkpoint, no goodbye to its clients). The runtime brings it
//! back (the native supervisor, or the engine's restart policy) and the database recovers
//! from its log. Then, through the HTTP API: every order answered 201 exists exactly once, no
//! order answered with an error exists (timeouts and cut connections are reported as
//! unknown), and for every disk the seeded stock equals the stock now plus every unit ordered.
//! The database must be back (`/ready` 200 and a read 200) within 30 s of the kill, and no
//! replica may crash.

use std::time::Duration;

use super::context::{epoch_secs, wait_until_serving, Fault, FaultScenario};
use crate::exec::step::{Measured, StepRunner};
use crate::load::urls::Scenario;
use crate::results::fault::{Check, FaultReport};
use crate::stack::StackInfo;

/// Seconds the stack has to serve again after the kill (database restart and crash recovery).
pub const MAX_RECOVERY_SECS: f64 = 30.0;

#[derive(Default)]
pub struct DbKill {
    before: Option<StackInfo>,
    killed_pid: u32,
    kill_epoch: f64,
    kill_offset: f64,
    recovered_after: Option<f64>,
}

fn restarts(info: &StackInfo, name: &str) -> u32 {
    info.services
        .iter()
        .find(|s| s.name == name)
        .map_or(0, |s| s.restarts)
}

impl FaultScenario for DbKill {
    fn load(&self) -> Scenario {
        Scenario::Write
    }

    fn before(&mut self, fault: &Fault) -> anyhow::Result<()> {
        self.before = Some(fault.status()?);
        Ok(())
    }

    fn during(&mut self, fault: &Fault, step: &mut StepRunner) -> anyhow::Result<()> {
        step.wait_until(fault.plan.step_secs as f64 / 3.0);
        self.kill_offset = step.elapsed_secs();
        self.kill_epoch = epoch_secs();
        self.killed_pid = fault.stack.crash("db")?;
        // Back: /ready and a read both 200 in one round (the pool reconnects on its own).
        let limit = Duration::from_secs_f64(MAX_RECOVERY_SECS + 10.0);
        self.recovered_after = wait_until_serving(fault, step, limit);
        Ok(())
    }

    fn judge(&self, fault: &Fault, result: &Measured, report: &mut FaultReport) {
        let empty = StackInfo {
            services: Vec::new(),
            ..fault.info.clone()
        };
        let before = self.before.as_ref().unwrap_or(&empty);
        let after = fault.status().unwrap_or_else(|_| empty.clone());
        let db_after = after.services.iter().find(|s| s.name == "db");
        report.checks.push(Check::new(
            "the database crashed and its runtime started it again",
            "restarts >= 1, running",
            format!(
                "restarts {} -> {}, PID {} -> {}",
                restarts(before, "db"),
                restarts(&after, "db"),
                self.killed_pid,
                db_after
                    .and_then(|s| s.pid)
                    .map_or_else(|| "none".to_owned(), |p| p.to_string())
            ),
            restarts(&after, "db") > restarts(before, "db")
                && db_after.is_some_and(|s| s.pid.is_some()),
        ));
        report.checks.push(Check::new(
            "serving again after the kill (/ready 200 and a read 200)",
            &format!("<= {MAX_RECOVERY_SECS} s"),
            self.recovered_after
                .map_or_else(|| "never".to_owned(), |s| format!("{s:.2} s")),
            self.recovered_after.is_some_and(|s| s <= MAX_RECOVERY_SECS),
        ));
        report.checks.push(no_replica_crashed(before, &after));
        let orders_201 = |after_kill: bool| {
            result
                .lines
                .iter()
                .filter(|l| l.method == "POST" && l.status == 201)
                .filter(|l| !after_kill || l.msec - l.request_time > self.kill_epoch)
                .count() as f64
        };
        report.timeline = self.timeline(fault, result);
        report.figure("recovered_after_secs", self.recovered_after);
        report.figure("orders_201_in_log", orders_201(false));
        report.figure("orders_201_begun_after_kill", orders_201(true));
    }
}

impl DbKill {
    /// What happened when, from the load's start, for the report.
    fn timeline(&self, fault: &Fault, result: &Measured) -> Vec<String> {
        vec![
            format!(
                "0.0 s: the load starts, {} users, write scenario (orders only), {} s; lab's order writer alongside",
                fault.plan.users, fault.plan.step_secs
            ),
            format!(
                "{:.1} s: SIGKILL every process of the database (main PID {})",
                self.kill_offset, self.killed_pid
            ),
            match self.recovered_after {
                Some(s) => format!(
                    "{:.1} s: /ready and a read answer 200 again",
                    self.kill_offset + s
                ),
                None => "the stack did not serve again".to_owned(),
            },
            format!("{:.1} s: the load ends", result.load_secs),
        ]
    }
}

/// The check that no replica restarted: a database crash must not take a replica with it.
fn no_replica_crashed(before: &StackInfo, after: &StackInfo) -> Check {
    let crashed: Vec<String> = after
        .services
        .iter()
        .filter(|s| s.name.starts_with("app") && s.restarts > restarts(before, &s.name))
        .map(|s| {
            format!(
                "{} restarted {} time(s)",
                s.name,
                s.restarts - restarts(before, &s.name)
            )
        })
        .collect();
    Check::new(
        "no replica crashed",
        "no app restart",
        if crashed.is_empty() {
            "none".to_owned()
        } else {
            crashed.join(", ")
        },
        crashed.is_empty(),
    )
}
