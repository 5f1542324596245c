//! A fault run's verdict: named checks with what was expected and what was seen, the figures
//! behind them, written as `fault.json` and `report.md` in the run folder.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::orders::InvariantReport;
use super::StepFigures;
use contract::DbKind;

/// One pass/fail criterion.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked, e.g. `availability over the step`.
    pub name: String,
    /// The threshold, e.g. `>= 99.9%`.
    pub expected: String,
    /// The figure seen, e.g. `100.000% of 7412 requests`.
    pub observed: String,
    pub passed: bool,
}

impl Check {
    pub fn new(name: &str, expected: &str, observed: String, passed: bool) -> Self {
        Self {
            name: name.to_owned(),
            expected: expected.to_owned(),
            observed,
            passed,
        }
    }
}

/// Everything a fault run found (`fault.json`).
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// `replica-loss`, `db-outage`, `oom`, `overload`.
    pub scenario: String,
    pub profile: String,
    pub db: DbKind,
    /// False when cgroups could not be written (caps and OOM kills then do not apply).
    pub capped: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// PASS when every check passed.
    pub passed: bool,
    pub checks: Vec<Check>,
    /// What happened when, in seconds from siege's start (`kill app2 at 6.0 s`, ...).
    pub timeline: Vec<String>,
    /// The load step's figures (siege, nginx, every service's cgroup usage).
    pub step: Option<StepFigures>,
    /// The order/stock invariant, checked through the HTTP API after the load.
    pub invariant: Option<InvariantReport>,
    /// The supervisor's `events.jsonl` lines written during the run (exits, restarts, OOM).
    pub events: Vec<String>,
    /// Scenario-specific figures, each with its unit in the name.
    pub figures: serde_json::Map<String, serde_json::Value>,
    /// Honest remarks (e.g. siege's own limits).
    pub notes: Vec<String>,
}

impl FaultReport {
    pub fn verdict(&self) -> &'static str {
        if self.passed {
            "PASS"
        } else {
            "FAIL"
        }
    }

    /// Writes `fault.json` and `report.md`.
    pub fn write(&self, run_dir: &Path) -> anyhow::Result<()> {
        std::fs::write(run_dir.join("fault.json"), serde_json::to_vec_pretty(self)?)?;
        std::fs::write(run_dir.join("report.md"), self.markdown())?;
        Ok(())
    }

    /// The verdict and its checks as a terminal table.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "fault {} ({} / {}): {}\n",
            self.scenario,
            self.profile,
            self.db,
            self.verdict()
        );
        for check in &self.checks {
            let _ = writeln!(
                text,
                "  [{}] {}: {} (expected {})",
                if check.passed { "ok" } else { "FAIL" },
                check.name,
                check.observed,
                check.expected
            );
        }
        text
    }

    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Fault `{}`: {}\n\nProfile `{}`, database {}, native runtime ({}), {} to {}.\n\n",
            self.scenario,
            self.verdict(),
            self.profile,
            self.db,
            if self.capped { "capped" } else { "UNCAPPED" },
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.finished_at.format("%H:%M:%S UTC"),
        );
        md.push_str("| check | expected | observed | |\n|---|---|---|---|\n");
        for check in &self.checks {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                check.name,
                check.expected,
                check.observed,
                if check.passed { "ok" } else { "**FAIL**" }
            );
        }
        if !self.timeline.is_empty() {
            md.push_str("\n## Timeline (seconds from siege's start)\n\n");
            for line in &self.timeline {
                let _ = writeln!(md, "- {line}");
            }
        }
        if let Some(step) = &self.step {
            let n = &step.nginx;
            let _ = write!(
                md,
                "\n## Load\n\n{} siege users for {:.1} s: nginx logged {} requests ({:.0} req/s), \
                 2xx {}, 4xx {}, 429 {}, 5xx {}, 499 {}; p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms. \
                 siege used {:.2} CPU cores{}.\n\n",
                step.users,
                step.load_secs,
                n.requests,
                n.requests_per_s,
                n.status_2xx,
                n.status_4xx,
                n.status_429,
                n.status_5xx,
                n.status_499,
                n.p50_ms,
                n.p99_ms,
                n.max_ms,
                step.siege_cpu_cores,
                if step.siege_hung {
                    " and hung on exit (stopped by lab)"
                } else {
                    ""
                }
            );
            md.push_str("| service | CPU cores | throttled | memory peak | memory cap | OOM kills |\n|---|---|---|---|---|---|\n");
            for s in &step.services {
                let _ = writeln!(
                    md,
                    "| {} | {:.2} / {} | {:.0}% | {:.1} MiB | {} | {} |",
                    s.name,
                    s.cpu_cores,
                    s.cpu_limit_cores
                        .map_or_else(|| "uncapped".to_owned(), |c| format!("{c:.2}")),
                    s.cpu_throttled_percent,
                    s.memory_peak_bytes as f64 / 1048576.0,
                    s.memory_limit_bytes.map_or_else(
                        || "uncapped".to_owned(),
                        |m| format!("{:.0} MiB", m as f64 / 1048576.0)
                    ),
                    s.oom_kills
                );
            }
        }
        if let Some(inv) = &self.invariant {
            let _ = write!(
                md,
                "\n## Orders and stock\n\nlab's writer placed {} orders (customers {}..={}): {} got 201, {} a definite error, \
                 {} an unknown outcome ({} of those exist). Checked {} orders by id, {} customers' order lists and {} disks: \
                 {} order problems, {} disks whose stock does not add up (seed stock {}, {} units ordered in all).\n",
                inv.attempts,
                inv.writer_customers.0,
                inv.writer_customers.1,
                inv.created,
                inv.failed,
                inv.unknown,
                inv.unknown_materialized,
                inv.orders_checked,
                inv.customers_checked,
                inv.disks_checked,
                inv.order_problems.len(),
                inv.stock_mismatches.len(),
                inv.seed_stock,
                inv.units_ordered,
            );
            for problem in inv
                .order_problems
                .iter()
                .chain(&inv.stock_mismatches)
                .take(20)
            {
                let _ = writeln!(md, "- {problem}");
            }
        }
        if !self.figures.is_empty() {
            md.push_str("\n## Figures\n\n");
            for (key, value) in &self.figures {
                let _ = writeln!(md, "- `{key}`: {value}");
            }
        }
        if !self.events.is_empty() {
            md.push_str("\n## Supervisor events\n\n```\n");
            for line in &self.events {
                md.push_str(line);
                md.push('\n');
            }
            md.push_str("```\n");
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }
}
