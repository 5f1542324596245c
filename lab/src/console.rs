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
pub fn step_bar(profile: &str, scenario: &str, users: u32, secs: u64) -> ProgressBar {
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
    bar.set_prefix(format!("{profile} / {scenario} / {users} users"));
    bar
}

pub fn step_line(step: &Step) -> String {
    format!(
        "{} / {} / {} users: {:.0} req/s, p50 {} ms, p99 {} ms, availability {:.2}%, 429 {}, 5xx {}, bottleneck {}{}{}",
        step.profile,
        step.scenario,
        step.users,
        step.nginx.requests_per_s,
        step.nginx.p50_ms,
        step.nginx.p99_ms,
        step.nginx.availability_percent,
        step.nginx.status_429,
        step.nginx.status_5xx,
        step.verdict.bottleneck.label(),
        if step.siege_bound { " (siege-bound)" } else { "" },
        match &step.slo {
            Some(o) if o.passed => ", SLO pass".to_owned(),
            Some(o) => format!(", SLO FAIL ({})", o.failures.join("; ")),
            None => String::new(),
        }
    )
}

pub fn print_final_table(run: &Run) {
    if run.steps.is_empty() {
        return;
    }
    println!(
        "{:<10} {:<8} {:>6} {:>9} {:>7} {:>7} {:>8} {:>6} {:>6} {:<15} {:<5}",
        "profile",
        "scenario",
        "users",
        "req/s",
        "p50 ms",
        "p99 ms",
        "avail %",
        "429",
        "5xx",
        "bottleneck",
        "SLO"
    );
    for s in &run.steps {
        println!(
            "{:<10} {:<8} {:>6} {:>9.0} {:>7} {:>7} {:>8.2} {:>6} {:>6} {:<15} {:<5}",
            s.profile,
            s.scenario,
            s.users,
            s.nginx.requests_per_s,
            s.nginx.p50_ms,
            s.nginx.p99_ms,
            s.nginx.availability_percent,
            s.nginx.status_429,
            s.nginx.status_5xx,
            format!(
                "{}{}",
                s.verdict.bottleneck.label(),
                if s.siege_bound { "*" } else { "" }
            ),
            s.slo
                .as_ref()
                .map_or("-", |o| if o.passed { "pass" } else { "FAIL" })
        );
    }
    for s in &run.sustainable {
        println!(
            "max sustainable users {} / {}: {}",
            s.profile,
            s.scenario,
            s.max_users
                .map_or_else(|| "none".to_owned(), |u| u.to_string())
        );
    }
    if run.steps.iter().any(|s| s.siege_bound) {
        println!("* siege-bound: siege, not the stack, was the limit of that step");
    }
}
