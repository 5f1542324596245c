//! What lab shows on the terminal: progress while a step runs, one line per step, the final
//! table. Nothing here is data: results are written by `export`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use crate::results::{Run, Step};

pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The running step: which one, its seconds done and left, and the live req/s (its message).
pub fn step_bar(profile: &str, scenario: &str, level: &str, secs: u64) -> ProgressBar {
    let bar = ProgressBar::new(secs);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos:>3}/{len}s, {left} left, {msg}")
    {
        let left = |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let left = state.len().unwrap_or(0).saturating_sub(state.pos());
            let _ = write!(out, "{left:>3}s");
        };
        bar.set_style(style.with_key("left", left).progress_chars("=> "));
    }
    bar.set_prefix(format!("{profile} / {scenario} / {level}"));
    bar
}

/// One step on one line: what users saw, nginx's p99 beside it, the verdict, the SLO.
pub fn step_line(step: &Step) -> String {
    let h = step.headline();
    format!(
        "{} / {} / {}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms ({}; nginx p99 {} ms{}), availability {:.2}%, 429 {}, 5xx {}{}, bottleneck {}{}{}{}",
        step.profile,
        step.scenario,
        step.level_label(),
        h.requests_per_s,
        h.p50_ms,
        h.p99_ms,
        h.source,
        step.nginx.p99_ms,
        step.queue_ms()
            .filter(|q| *q >= 1.0)
            .map_or_else(String::new, |q| format!(", {q:.0} ms queued in front of nginx")),
        h.availability_percent,
        h.status_429,
        h.status_5xx,
        if h.timeouts > 0 {
            format!(", time-outs {}", h.timeouts)
        } else {
            String::new()
        },
        step.verdict.bottleneck.label(),
        if step.driver_bound { " (driver-bound)" } else { "" },
        if step.views_agree() { "" } else { ", views DIFFER (see report)" },
        match &step.slo {
            Some(o) if o.passed => ", SLO pass".to_owned(),
            Some(o) => format!(", SLO FAIL ({})", o.failures.join("; ")),
            None => String::new(),
        }
    )
}

/// The run's steps as a table at its end, and the highest load that met the SLO.
pub fn print_final_table(run: &Run) {
    if run.steps.is_empty() {
        return;
    }
    println!(
        "{:<10} {:<14} {:>11} {:>9} {:>8} {:>8} {:>9} {:>8} {:>6} {:>6} {:<15} {:<5}",
        "profile",
        "scenario",
        "load",
        "req/s",
        "p50 ms",
        "p99 ms",
        "nginx p99",
        "avail %",
        "429",
        "5xx",
        "bottleneck",
        "SLO"
    );
    for s in &run.steps {
        let h = s.headline();
        println!(
            "{:<10} {:<14} {:>11} {:>9.0} {:>8.1} {:>8.1} {:>9.0} {:>8.2} {:>6} {:>6} {:<15} {:<5}",
            s.profile,
            s.scenario,
            s.level_label(),
            h.requests_per_s,
            h.p50_ms,
            h.p99_ms,
            s.nginx.p99_ms,
            h.availability_percent,
            h.status_429,
            h.status_5xx,
            format!(
                "{}{}",
                s.verdict.bottleneck.label(),
                if s.driver_bound { "*" } else { "" }
            ),
            s.slo
                .as_ref()
                .map_or("-", |o| if o.passed { "pass" } else { "FAIL" })
        );
    }
    for s in &run.sustainable {
        let mut highest = Vec::new();
        if let Some(u) = s.max_users {
            highest.push(format!("{u} users"));
        }
        if let Some(r) = s.max_rate_per_s {
            highest.push(format!("{r:.0} req/s"));
        }
        println!(
            "highest load meeting the SLO, {} / {}: {}",
            s.profile,
            s.scenario,
            if highest.is_empty() {
                "none".to_owned()
            } else {
                highest.join(", ")
            }
        );
    }
    if run.steps.iter().any(|s| s.driver_bound) {
        println!("* driver-bound: the load driver, not the stack, was the limit of that step");
    }
    let latency = if run.steps.iter().any(|s| s.client.is_some()) {
        "latency and req/s at the client"
    } else {
        "latency and req/s from nginx's log (siege gives no per-request latency)"
    };
    println!("{latency}; nginx p99 from its log");
}
