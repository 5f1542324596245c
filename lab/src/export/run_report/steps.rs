//! The steps of a run as a reader needs them: what users saw (the client's view, nginx's for
//! siege runs) beside nginx's own view and the queue between them, the open model's offered
//! against achieved rates, whether each step's figures agree, and the bottleneck evidence.

use std::fmt::Write as _;

use super::cells::{or_dash, shares, slo_cell};
use crate::export::table::Table;
use crate::results::{LoadModel, Run, Step};

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// One row per step: the headline figures, nginx's beside them, the bottleneck and the SLO.
pub fn steps_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Steps\n");
    let client = run.steps.iter().any(|s| s.client.is_some());
    let _ = writeln!(
        md,
        "{}\n",
        if client {
            "Latency, throughput and availability as users saw them: measured at the client, per request, from its send (closed model) or its intended start (open model) to its last byte (µs resolution). nginx's own view is beside it: its request_time starts when nginx reads a request, so **queue** (the client's mean minus nginx's) is the wait in front of nginx, in the kernel's queues while nginx is held by its CPU cap."
        } else {
            "siege gives no per-request latency: latency, status counts and availability come from nginx's access log for exactly each step, and **queue** is the client's mean by Little's law (users / rate) minus nginx's mean. siege's availability is shown for contrast (it counts 429 as available and 5xx as failed)."
        }
    );
    let mut table = Table::new(&[
        "profile",
        "scenario",
        "load",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "availability %",
        "429",
        "5xx",
        "nginx p50 / p99 ms",
        "queue ms",
        "replicas",
        "% of driver ceiling",
        "bottleneck",
        "views agree",
        "SLO",
    ]);
    for step in &run.steps {
        table.row(step_row(step));
    }
    md.push_str(&table.render());
    md.push('\n');
    if run.steps.iter().any(|s| s.siege.is_some()) {
        let mut siege = Table::new(&["profile", "scenario", "load", "siege availability %"]);
        for step in run.steps.iter().filter(|s| s.siege.is_some()) {
            siege.row([
                step.profile.clone(),
                step.scenario.clone(),
                step.level_label(),
                or_dash(
                    step.siege
                        .as_ref()
                        .and_then(|s| s.availability)
                        .map(|a| format!("{a:.2}")),
                ),
            ]);
        }
        let _ = writeln!(
            md,
            "siege's own availability (429 counts as available, 5xx as failed):\n"
        );
        md.push_str(&siege.render());
        md.push('\n');
    }
}

fn step_row(step: &Step) -> Vec<String> {
    let h = step.headline();
    let n = &step.nginx;
    let source = if h.source == "nginx" { " (nginx)" } else { "" };
    vec![
        step.profile.clone(),
        step.scenario.clone(),
        step.level_label(),
        format!("{:.0}", h.requests_per_s),
        format!("{}{source}", ms(h.p50_ms)),
        ms(h.p90_ms),
        ms(h.p99_ms),
        or_dash(h.p999_ms.map(ms)),
        ms(h.max_ms),
        format!("{:.2}", h.availability_percent),
        h.status_429.to_string(),
        h.status_5xx.to_string(),
        format!("{} / {}", ms(n.p50_ms), ms(n.p99_ms)),
        or_dash(step.queue_ms().map(ms)),
        shares(step),
        format!(
            "{}{}",
            or_dash(step.ceiling_percent.map(|p| format!("{p:.0}"))),
            if step.driver_bound {
                " **driver-bound**"
            } else {
                ""
            }
        ),
        step.verdict.bottleneck.label().to_owned(),
        if step.consistency.is_empty() {
            "-".to_owned()
        } else if step.views_agree() {
            "yes".to_owned()
        } else {
            "**no** (below)".to_owned()
        },
        slo_cell(step),
    ]
}

/// The open model's steps: offered against achieved, and what the client's own queue did.
pub fn open_section(md: &mut String, run: &Run) {
    let open: Vec<&Step> = run
        .steps
        .iter()
        .filter(|s| s.model == LoadModel::Open)
        .collect();
    if open.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Open-model steps: offered against achieved\n");
    let _ = writeln!(
        md,
        "Requests arrive at the offered rate whatever the stack does ({}); each request's latency counts from its intended start, so a stall is seen in full (no coordinated omission). **Sent late**: sent more than 10 ms after its intended start, waiting for a free connection (that wait is in its latency); **unsent**: still waiting at its time-out.\n",
        run.settings
            .arrivals
            .map_or("constant spacing", |a| match a {
                crate::results::Arrivals::Constant => "evenly spaced",
                crate::results::Arrivals::Poisson => "Poisson arrivals",
            })
    );
    let mut table = Table::new(&[
        "profile",
        "scenario",
        "offered /s",
        "achieved /s",
        "p99 ms",
        "sent late",
        "send delay p99 ms",
        "unsent",
        "time-outs",
        "errors",
        "connections",
    ]);
    for step in open {
        let Some(c) = &step.client else { continue };
        table.row([
            step.profile.clone(),
            step.scenario.clone(),
            format!("{:.0}", c.offered_rate_per_s.unwrap_or(0.0)),
            format!("{:.0}", c.achieved_rate_per_s),
            ms(c.latency.p99_ms),
            c.sent_late.to_string(),
            ms(c.send_delay_p99_ms),
            c.unsent.to_string(),
            c.timeouts.to_string(),
            c.errors.to_string(),
            c.connections.to_string(),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
}

/// Each step's three comparisons of its views; where they disagree, which view to trust.
pub fn consistency_section(md: &mut String, run: &Run) {
    if run.steps.iter().all(|s| s.consistency.is_empty()) {
        return;
    }
    let _ = writeln!(md, "## Do the figures agree?\n");
    let _ = writeln!(
        md,
        "Each step's views are compared three ways: Little's law at the client (requests in the system = rate x mean latency), the client's latency against nginx's, and requests sent against requests in nginx's log (see docs/bench.md, \"The consistency check\").\n"
    );
    let disagreeing: Vec<&Step> = run.steps.iter().filter(|s| !s.views_agree()).collect();
    if disagreeing.is_empty() {
        let _ = writeln!(
            md,
            "Every step's views agree within the rules' tolerances.\n"
        );
    }
    let mut table = Table::new(&[
        "profile",
        "scenario",
        "load",
        "check",
        "one view",
        "the other",
        "",
    ]);
    for step in &run.steps {
        for a in &step.consistency {
            table.row([
                step.profile.clone(),
                step.scenario.clone(),
                step.level_label(),
                a.check.clone(),
                a.expected.clone(),
                a.seen.clone(),
                if a.agrees { "agree" } else { "**differ**" }.to_owned(),
            ]);
        }
    }
    md.push_str(&table.render());
    md.push('\n');
    for step in disagreeing {
        for a in step.consistency.iter().filter(|a| !a.agrees) {
            let _ = writeln!(
                md,
                "- **{} / {} / {}, {}**: {}",
                step.profile,
                step.scenario,
                step.level_label(),
                a.check,
                a.note.as_deref().unwrap_or("")
            );
        }
    }
    md.push('\n');
}

/// Each step's bottleneck and the evidence the verdict rests on.
pub fn evidence_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Bottleneck evidence\n");
    for step in &run.steps {
        let _ = writeln!(
            md,
            "- **{} / {} / {}: {}**: {}",
            step.profile,
            step.scenario,
            step.level_label(),
            step.verdict.bottleneck.label(),
            step.verdict.evidence.join("; ")
        );
    }
    md.push('\n');
}
