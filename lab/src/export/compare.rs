//! `compare.md`: runs side by side, one row per load level, one column group per run,
//! profile and scenario, the figures users saw in each cell.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::results::{Run, Step};

/// The side-by-side table of `lab compare`: one row per concurrency, one column group per
/// run, profile and scenario.
pub fn compare_markdown(runs: &[(Run, PathBuf)]) -> String {
    let mut columns: Vec<(String, Vec<&Step>)> = Vec::new();
    for (run, _) in runs {
        for ((profile, scenario), steps) in run.series() {
            columns.push((format!("{} / {profile} / {scenario}", run.label), steps));
        }
    }
    let mut levels: Vec<String> = Vec::new();
    for (_, steps) in &columns {
        for step in steps {
            if !levels.contains(&step.level_label()) {
                levels.push(step.level_label());
            }
        }
    }

    let mut md = String::new();
    let _ = writeln!(md, "# Comparison\n");
    for (run, path) in runs {
        let profiles: Vec<&str> = run.profiles.iter().map(|p| p.name.as_str()).collect();
        let _ = writeln!(
            md,
            "- `{}` ({}): profiles {}, runtime {}, database {}, started {}",
            run.label,
            path.display(),
            profiles.join(", "),
            run.settings.runtime,
            run.settings.db,
            run.started_at.to_rfc3339()
        );
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "Per cell: requests/s, p99 ms and availability % as users saw them (the client's; nginx's for siege runs), bottleneck.\n"
    );
    let mut header = String::from("| load |");
    let mut rule = String::from("|---|");
    for (name, _) in &columns {
        let _ = write!(header, " {name} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for level in levels {
        let _ = write!(md, "| {level} |");
        for (_, steps) in &columns {
            match steps.iter().find(|s| s.level_label() == level) {
                Some(s) => {
                    let h = s.headline();
                    let _ = write!(
                        md,
                        " {:.0} req/s, p99 {} ms, {:.2}%, {}{} |",
                        h.requests_per_s,
                        h.p99_ms,
                        h.availability_percent,
                        s.verdict.bottleneck.label(),
                        if s.driver_bound {
                            " (driver-bound)"
                        } else {
                            ""
                        }
                    );
                }
                None => md.push_str(" - |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
    compare_endpoints(&mut md, &columns);
    let _ = writeln!(md, "![throughput](compare-throughput.png)\n");
    let _ = writeln!(md, "![latency](compare-latency.png)\n");
    let _ = writeln!(md, "![availability](compare-availability.png)");
    md
}

/// Each endpoint's req/s and p99 at each compared series' highest concurrency.
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
