//! `compare.md`: the runs grouped into repeats, every group against a baseline group, figure by
//! figure (throughput, p50, p99 as users saw them), each ratio with its interval and verdict
//! where the groups have enough runs; where the runs' machines or references differ; then
//! each endpoint at each series' highest load. Drawn from a [`Comparison`] (`compare.json`).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::table::Table;
use crate::results::comparison::{Comparison, Verdict, Versus, FIGURES};
use crate::results::{Run, Step};

/// A figure's value as a table shows it: three significant digits, at most two decimals.
pub fn figure_text(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// `1.22x [1.18, 1.26] better`, or `1.22x (too few runs to tell)`.
pub fn versus_text(v: &Versus) -> String {
    match (v.low, v.high) {
        (Some(low), Some(high)) => format!(
            "{:.2}x [{low:.2}, {high:.2}] {}",
            v.ratio,
            match v.verdict {
                Verdict::Better => "**better**",
                Verdict::Worse => "**worse**",
                other => other.label(),
            }
        ),
        _ => format!("{:.2}x ({})", v.ratio, v.verdict.label()),
    }
}

/// The comparison of `lab compare`, against the group of `runs[baseline]`.
pub fn compare_markdown(runs: &[(Run, PathBuf)], baseline: usize) -> String {
    let refs: Vec<(Run, &std::path::Path)> = runs
        .iter()
        .map(|(run, path)| (run.clone(), path.as_path()))
        .collect();
    let comparison = Comparison::of(&refs, baseline);
    let mut md = render(&comparison);
    let columns: Vec<(String, Vec<&Step>)> = runs
        .iter()
        .flat_map(|(run, _)| {
            run.series()
                .into_iter()
                .map(move |((profile, scenario), steps)| {
                    (format!("{} / {profile} / {scenario}", run.label), steps)
                })
        })
        .collect();
    compare_endpoints(&mut md, &columns);
    let _ = writeln!(md, "![throughput](compare-throughput.png)\n");
    let _ = writeln!(md, "![latency](compare-latency.png)\n");
    let _ = writeln!(md, "![availability](compare-availability.png)");
    md
}

/// The groups, the machines, and one table per figure.
pub fn render(c: &Comparison) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Comparison\n");
    let base = &c.groups[c.baseline];
    let _ = writeln!(
        md,
        "Baseline: group {} (`{}`, {} run{}). Runs with the same label, runtime, database, driver, profiles and scenarios are repeats of one group; a cell gives the group's median (and range over its runs), then the group against the baseline: with at least 4 runs on each side, the ratio (Hodges-Lehmann) with its 95% interval, **better** or **worse** only when the interval excludes 1, else within noise; with fewer, the ratio of the medians and no verdict (`lab ab` runs the repeats, alternated).\n",
        c.baseline + 1,
        base.label,
        base.runs.len(),
        if base.runs.len() == 1 { "" } else { "s" }
    );
    let mut table = Table::new(&[
        "group",
        "label",
        "runs",
        "runtime",
        "database",
        "driver",
        "profiles",
        "scenarios",
    ]);
    for (i, g) in c.groups.iter().enumerate() {
        table.row([
            format!(
                "{}{}",
                i + 1,
                if i == c.baseline { " (baseline)" } else { "" }
            ),
            format!("`{}`", g.label),
            g.runs.join(", "),
            g.runtime.clone(),
            g.db.clone(),
            g.driver.clone(),
            g.profiles.join(", "),
            g.scenarios.join(", "),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
    machines_section(&mut md, c);
    for (name, title, _) in FIGURES {
        let _ = writeln!(md, "## {}\n", capitalized(title));
        let mut header = vec!["series".to_owned(), "load".to_owned()];
        header.extend((0..c.groups.len()).map(|i| format!("group {}", i + 1)));
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut table = Table::new(&header);
        for row in c.rows.iter().filter(|r| r.figure == name) {
            let mut cells = vec![
                format!("{} / {}", row.profile, row.scenario),
                row.load.clone(),
            ];
            for (spread, versus) in row.groups.iter().zip(&row.versus_baseline) {
                cells.push(match spread {
                    None => "-".to_owned(),
                    Some(s) => {
                        let mut cell = figure_text(s.median);
                        if s.runs > 1 {
                            let _ =
                                write!(cell, " ({}-{})", figure_text(s.min), figure_text(s.max));
                        }
                        if let Some(v) = versus {
                            let _ = write!(cell, ": {}", versus_text(v));
                        }
                        cell
                    }
                });
            }
            table.row(cells);
        }
        md.push_str(&table.render());
        md.push('\n');
    }
    md
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// Where the runs' machines or references differ from the baseline's first run.
fn machines_section(md: &mut String, c: &Comparison) {
    let _ = writeln!(md, "## Machines\n");
    if c.machine_differences.is_empty() {
        let _ = writeln!(
            md,
            "Every run's machine has the baseline's fingerprint (CPU, cores, memory, kernel, cgroup, platform), and where both measured a reference, its CPU loop (and, on the same profile, each service's CPU per reference request) is within 30% of the baseline's.\n"
        );
        return;
    }
    let _ = writeln!(
        md,
        "**Warning: these runs did not run on the same machine, or not on an equal day.** A ratio between them mixes the machine's difference into the stack's:\n"
    );
    for d in &c.machine_differences {
        let _ = writeln!(md, "- {d}");
    }
    md.push('\n');
}

/// Each endpoint's req/s and p99 (as users saw them) at each compared series' highest load.
fn compare_endpoints(md: &mut String, columns: &[(String, Vec<&Step>)]) {
    let last: Vec<(&String, Option<&Step>)> = columns
        .iter()
        .map(|(name, steps)| (name, steps.last().copied()))
        .collect();
    let mut endpoints: Vec<&str> = last
        .iter()
        .filter_map(|(_, s)| *s)
        .flat_map(|s| s.nginx.endpoints.iter().map(|e| e.endpoint.as_str()))
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    if endpoints.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Per endpoint\n\nreq/s and p99 ms as users saw them (the client's; nginx's for siege runs) at each series' highest load.\n"
    );
    let mut header = String::from("| endpoint |");
    let mut rule = String::from("|---|");
    for (name, step) in &last {
        let level = step.map_or_else(String::new, |s| s.level_label());
        let _ = write!(header, " {name} ({level}) |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for endpoint in endpoints {
        let _ = write!(md, "| `{endpoint}` |");
        for (_, step) in &last {
            match step.and_then(|s| s.endpoint_headline(endpoint)) {
                Some((rate, p99)) => {
                    let _ = write!(md, " {rate:.1} req/s, p99 {p99} ms |");
                }
                None => md.push_str(" - |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
}
