//! A fault run's files: `fault.json` (the data) and `report.md` (the verdict, every check,
//! the timeline, the load, the orders, the figures, the stack's events), and its summary on
//! the terminal.

use std::fmt::Write as _;

use super::files::{Exporter, Json, Report};
use super::table::Table;
use crate::results::fault::{FaultReport, InvariantReport};
use crate::results::Step;

impl Report for FaultReport {
    fn exporters() -> Vec<Box<dyn Exporter<Self>>> {
        vec![Box::new(Json("fault.json")), Box::new(FaultMarkdown)]
    }
}

/// `report.md`.
pub struct FaultMarkdown;

impl Exporter<FaultReport> for FaultMarkdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, report: &FaultReport) -> anyhow::Result<String> {
        Ok(markdown(report))
    }
}

/// The verdict and its checks as terminal lines.
pub fn summary(report: &FaultReport) -> String {
    let mut text = format!(
        "fault {} ({} / {}): {}\n",
        report.scenario,
        report.profile,
        report.db,
        report.verdict()
    );
    for check in &report.checks {
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

fn markdown(report: &FaultReport) -> String {
    let mut md = format!(
        "# Fault `{}`: {}\n\nProfile `{}`, database {}, {} runtime ({}), {} to {}.\n\n",
        report.scenario,
        report.verdict(),
        report.profile,
        report.db,
        report.runtime,
        if report.capped { "capped" } else { "UNCAPPED" },
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.finished_at.format("%H:%M:%S UTC"),
    );
    let mut checks = Table::new(&["check", "expected", "observed", ""]);
    for check in &report.checks {
        checks.row([
            check.name.clone(),
            check.expected.clone(),
            check.observed.clone(),
            if check.passed { "ok" } else { "**FAIL**" }.to_owned(),
        ]);
    }
    md.push_str(&checks.render());
    if !report.timeline.is_empty() {
        md.push_str("\n## Timeline (seconds from the load's start)\n\n");
        for line in &report.timeline {
            let _ = writeln!(md, "- {line}");
        }
    }
    if let Some(step) = &report.step {
        load_section(&mut md, step);
    }
    if let Some(inv) = &report.invariant {
        orders_section(&mut md, inv);
    }
    if !report.figures.is_empty() {
        md.push_str("\n## Figures\n\n");
        for (key, value) in &report.figures {
            let value = value.map_or_else(|| "not seen".to_owned(), |v| format!("{v}"));
            let _ = writeln!(md, "- `{key}`: {value}");
        }
    }
    if !report.events.is_empty() {
        md.push_str("\n## The stack's events\n\n");
        let mut events = Table::new(&["time", "service", "event", "detail"]);
        for e in &report.events {
            events.row([
                e.t.clone(),
                e.service.clone(),
                e.event.clone(),
                e.detail.clone(),
            ]);
        }
        md.push_str(&events.render());
    }
    if !report.notes.is_empty() {
        md.push_str("\n## Notes\n\n");
        for note in &report.notes {
            let _ = writeln!(md, "- {note}");
        }
    }
    md
}

/// The load the fault happened under and what each service used.
fn load_section(md: &mut String, step: &Step) {
    let n = &step.nginx;
    let _ = write!(
        md,
        "\n## Load\n\n{} users for {:.1} s: nginx logged {} requests ({:.0} req/s), \
         2xx {}, 4xx {}, 429 {}, 5xx {}, 499 {}; p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms. \
         The load driver used {:.2} CPU cores{}. Bottleneck: {}.\n\n",
        step.users,
        step.wall_secs,
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
        step.driver_cpu_cores,
        if step.driver_hung {
            " and hung on exit (stopped by lab)"
        } else {
            ""
        },
        step.verdict.bottleneck.label()
    );
    let mut services = Table::new(&[
        "service",
        "CPU cores",
        "throttled",
        "memory peak",
        "memory cap",
        "OOM kills",
    ]);
    for s in &step.services {
        services.row([
            s.name.clone(),
            format!(
                "{:.2} / {}",
                s.cpu_cores,
                s.cpu_limit_cores
                    .map_or_else(|| "uncapped".to_owned(), |c| format!("{c:.2}"))
            ),
            format!("{:.0}%", s.cpu_throttled_percent),
            format!("{:.1} MiB", s.memory_peak_bytes as f64 / 1048576.0),
            s.memory_limit_bytes.map_or_else(
                || "uncapped".to_owned(),
                |m| format!("{:.0} MiB", m as f64 / 1048576.0),
            ),
            s.oom_kills.to_string(),
        ]);
    }
    md.push_str(&services.render());
}

fn orders_section(md: &mut String, inv: &InvariantReport) {
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
