//! `report.md` for one run and the side-by-side table of `lab compare`. Plain tables a reader
//! can check: every figure says where it comes from (nginx's log, siege, cgroups).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::csv_files::{EndpointsCsv, SamplesCsv, StepsCsv};
use super::files::{Exporter, Json, Report};
use crate::load::access_log::replica_shares;
use crate::plot;
use crate::results::{verdict, Run, Step};

/// `report.md`.
pub struct MarkdownReport;

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / 1_048_576.0)
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_owned())
}

fn shares(step: &Step) -> String {
    replica_shares(&step.nginx)
        .iter()
        .map(|(name, share)| format!("{name} {share:.0}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn siege_availability(step: &Step) -> String {
    or_dash(
        step.siege
            .as_ref()
            .and_then(|s| s.availability)
            .map(|a| format!("{a:.2}")),
    )
}

fn slo_cell(step: &Step) -> String {
    match &step.slo {
        None => "-".into(),
        Some(o) if o.passed => "pass".into(),
        Some(o) => format!("FAIL: {}", o.failures.join("; ")),
    }
}

impl Exporter<Run> for MarkdownReport {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, run: &Run) -> anyhow::Result<String> {
        let mut md = String::new();
        let _ = writeln!(md, "# Bench run `{}`\n", run.label);
        let _ = match run.finished_at {
            Some(end) => writeln!(
                md,
                "Started {} and finished {} ({} steps).\n",
                run.started_at.to_rfc3339(),
                end.to_rfc3339(),
                run.steps.len()
            ),
            None => writeln!(
                md,
                "Started {}; **not finished** (interrupted or still running): {} steps recorded.\n",
                run.started_at.to_rfc3339(),
                run.steps.len()
            ),
        };
        let _ = writeln!(md, "Command: `{}`\n", run.command_line.join(" "));
        let s = &run.settings;
        let _ = writeln!(
            md,
            "Runtime {}, database {}, scenarios {}, {} s per step after {} s of uncounted warm-up{}.\n",
            s.runtime,
            s.db,
            s.scenarios.join(", "),
            s.step_secs,
            s.warmup_secs,
            if s.ramp { ", ramp mode (users double until an SLO breaks)" } else { "" }
        );

        let m = &run.machine;
        let v = &run.versions;
        let _ = writeln!(md, "## Machine and versions\n");
        let _ = writeln!(
            md,
            "| host | cores | RAM | kernel | cgroup | lab | git | app | nginx | siege |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        let _ = writeln!(
            md,
            "| {} | {} | {} MB | {} | {} | {} | {} | {} | {} | {} |\n",
            m.hostname,
            m.cores,
            mb(m.memory_total_bytes),
            m.kernel,
            m.cgroup_version,
            v.lab,
            or_dash(v.git_commit.as_ref().map(|c| c.chars().take(10).collect())),
            or_dash(v.app.clone()),
            or_dash(v.nginx.clone()),
            or_dash(v.siege.clone())
        );
        if let Some(e) = &m.engine {
            let _ = writeln!(
                md,
                "Docker engine {} (API {}) on {}: {} cores, {} MB, cgroup {} ({} driver); the containers' figures come from its API.\n",
                e.server_version,
                e.api_version,
                e.operating_system,
                e.cores,
                mb(e.memory_total_bytes),
                or_dash(e.cgroup_version.clone()),
                e.cgroup_driver
            );
        }

        let _ = writeln!(md, "## Profiles\n");
        let _ = writeln!(
            md,
            "| profile | capped | service | CPU cap | memory cap (MB) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|");
        for profile in &run.profiles {
            for service in &profile.services {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    profile.name,
                    if profile.capped { "yes" } else { "**no**" },
                    service.name,
                    or_dash(service.cpu_limit_cores.map(|c| format!("{c}"))),
                    or_dash(service.memory_limit_bytes.map(mb))
                );
            }
        }
        md.push('\n');

        let _ = writeln!(md, "## siege's own ceiling\n");
        let _ = writeln!(
            md,
            "siege against a trivial, uncapped nginx route started by lab on another port: the most siege can drive on this machine at each concurrency. A step at or above {:.0}% of it is **siege-bound**.\n",
            verdict::CEILING_PERCENT
        );
        let _ = writeln!(md, "| users | transactions/s | siege CPU (cores) |");
        let _ = writeln!(md, "|---|---|---|");
        for point in &run.siege_ceiling {
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.2} |",
                point.users, point.transactions_per_s, point.siege_cpu_cores
            );
        }
        md.push('\n');

        if !run.nginx_ceiling.is_empty() {
            nginx_ceiling_section(&mut md, run);
        }

        let _ = writeln!(md, "## Steps\n");
        let _ = writeln!(md, "Latency, status counts, availability and replica shares come from nginx's access log for exactly each step; siege's availability is shown for contrast (it counts 429 as available and 5xx as failed).\n");
        let _ = writeln!(md, "| profile | scenario | users | req/s | p50 ms | p90 ms | p99 ms | max ms | availability % | siege avail. % | 4xx | 429 | 5xx | replicas | % of siege ceiling | bottleneck | SLO |");
        let _ = writeln!(
            md,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for step in &run.steps {
            let n = &step.nginx;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {}{} | {} | {} |",
                step.profile,
                step.scenario,
                step.users,
                n.requests_per_s,
                n.p50_ms,
                n.p90_ms,
                n.p99_ms,
                n.max_ms,
                n.availability_percent,
                siege_availability(step),
                n.status_4xx,
                n.status_429,
                n.status_5xx,
                shares(step),
                or_dash(step.ceiling_percent.map(|p| format!("{p:.0}"))),
                if step.siege_bound { " **siege-bound**" } else { "" },
                step.verdict.bottleneck.label(),
                slo_cell(step)
            );
        }
        md.push('\n');

        let _ = writeln!(md, "## Bottleneck evidence\n");
        for step in &run.steps {
            let _ = writeln!(
                md,
                "- **{} / {} / {} users: {}**: {}",
                step.profile,
                step.scenario,
                step.users,
                step.verdict.bottleneck.label(),
                step.verdict.evidence.join("; ")
            );
        }
        md.push('\n');

        endpoint_tables(&mut md, run);

        let _ = writeln!(md, "## Resources per step\n");
        let _ = writeln!(md, "| profile | scenario | users | service | CPU (cores) | CPU cap | throttled % | throttled s | memory peak MB | memory cap MB | OOM kills | restarts | source |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for step in &run.steps {
            for u in &step.services {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {:.2} | {} | {:.0} | {:.2} | {} | {} | {} | {} | {} |",
                    step.profile,
                    step.scenario,
                    step.users,
                    u.name,
                    u.cpu_cores,
                    or_dash(u.cpu_limit_cores.map(|c| format!("{c}"))),
                    u.cpu_throttled_percent,
                    u.cpu_throttled_secs,
                    mb(u.memory_peak_bytes),
                    or_dash(u.memory_limit_bytes.map(mb)),
                    u.oom_kills,
                    u.restarts,
                    u.source
                );
            }
            let _ = writeln!(
                md,
                "| {} | {} | {} | siege | {:.2} | - | - | - | - | - | - | - | wait4 |",
                step.profile, step.scenario, step.users, step.siege_cpu_cores
            );
            if let Some(h) = &step.host {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | **machine** (all) | {:.2} | {} cores | - | - | - | - | - | - | /proc/stat ({:.0}% busy) |",
                    step.profile, step.scenario, step.users, h.cpu_busy_cores, h.cores, h.cpu_busy_percent
                );
            }
        }
        md.push('\n');

        if !run.settings.slo.is_empty() {
            let rules: Vec<String> = run.settings.slo.iter().map(ToString::to_string).collect();
            let _ = writeln!(md, "## SLO: `{}`\n", rules.join(","));
            let _ = writeln!(
                md,
                "| profile | scenario | max sustainable users | first failing users |"
            );
            let _ = writeln!(md, "|---|---|---|---|");
            for s in &run.sustainable {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    s.profile,
                    s.scenario,
                    or_dash(s.max_users.map(|u| u.to_string())),
                    or_dash(s.first_failing_users.map(|u| u.to_string()))
                );
            }
            md.push('\n');
        }

        let _ = writeln!(md, "## Plots\n");
        for (stem, title) in plot::run_plot_stems(run) {
            let _ = writeln!(md, "### {title}\n\n![{title}]({stem}.png)\n");
        }

        let _ = writeln!(md, "## How the figures are made\n");
        let _ = writeln!(md, "- **availability %** = (2xx + 3xx) / all requests nginx logged in the step, leaving out 499 (connections siege cut when its time ran out). A 429 lowers it; siege's own availability does not.");
        let _ = writeln!(md, "- **p50/p90/p99/max** from nginx's `request_time` (1 ms resolution) through an HDR histogram; siege gives no percentiles and ~10 ms resolution.");
        let _ = writeln!(md, "- **req/s** = requests nginx logged / siege's wall-clock seconds, at most the step's duration + 1 s (siege's `elapsed_time` can be shorter than `-t`, and siege 4.0.7 sometimes hangs on exit at high concurrency: lab stops it and says so).");
        let _ = writeln!(md, "- **CPU, throttling, memory, OOM kills** natively from each service's cgroup (v1: cpuacct.usage, cpu.stat, memory.max_usage_in_bytes reset at each step; v2: cpu.stat, memory.current, memory.events); under compose from the Docker Engine API for each container (`stats`: the same cgroup counters; `oom` events; `RestartCount`), the step's memory peak then being the highest per-second sample. Sampled every second; siege's CPU from the kernel's accounting of the finished process; the machine's from `/proc/stat` (busy = all but idle and iowait).");
        let _ = writeln!(md, "- **bottleneck**: 429 share >= {}% -> rate limiter; a capped service throttled in > {}% of CFS periods while using >= {}% of its quota (or OOM-killed) -> that service; siege at >= {}% of its ceiling or using >= {}% of the cores -> load generator; the machine >= {}% busy -> host; else none.", verdict::RATE_LIMITED_PERCENT, verdict::THROTTLED_PERCENT, verdict::QUOTA_USED_PERCENT, verdict::CEILING_PERCENT, verdict::SIEGE_CORES_PERCENT, verdict::HOST_BUSY_PERCENT);
        Ok(md)
    }
}

/// The side-by-side table of `lab compare`: one row per concurrency, one column group per
/// run, profile and scenario.
pub fn compare_markdown(runs: &[(Run, PathBuf)]) -> String {
    let mut columns: Vec<(String, Vec<&Step>)> = Vec::new();
    for (run, _) in runs {
        for ((profile, scenario), steps) in run.series() {
            columns.push((format!("{} / {profile} / {scenario}", run.label), steps));
        }
    }
    let mut users: Vec<u32> = columns
        .iter()
        .flat_map(|(_, steps)| steps.iter().map(|s| s.users))
        .collect();
    users.sort_unstable();
    users.dedup();

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
        "Per cell: requests/s, p99 ms, availability % (nginx), bottleneck.\n"
    );
    let mut header = String::from("| users |");
    let mut rule = String::from("|---|");
    for (name, _) in &columns {
        let _ = write!(header, " {name} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for u in users {
        let _ = write!(md, "| {u} |");
        for (_, steps) in &columns {
            match steps.iter().find(|s| s.users == u) {
                Some(s) => {
                    let _ = write!(
                        md,
                        " {:.0} req/s, p99 {} ms, {:.2}%, {}{} |",
                        s.nginx.requests_per_s,
                        s.nginx.p99_ms,
                        s.nginx.availability_percent,
                        s.verdict.bottleneck.label(),
                        if s.siege_bound { " (siege-bound)" } else { "" }
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

/// Per profile and scenario, each endpoint at the step with the most users (every step is in
/// `endpoints.csv`); nothing for runs recorded before endpoints were.
fn endpoint_tables(md: &mut String, run: &Run) {
    let series: Vec<_> = run
        .series()
        .into_iter()
        .filter_map(|(key, steps)| Some((key, *steps.last()?)))
        .filter(|(_, step)| !step.nginx.endpoints.is_empty())
        .collect();
    if series.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Per endpoint\n\nAt each series' highest concurrency; `endpoints.csv` has every step.\n"
    );
    for ((profile, scenario), step) in series {
        let _ = writeln!(md, "### {profile} / {scenario} / {} users\n", step.users);
        let _ = writeln!(
            md,
            "| endpoint | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | 4xx | 429 | 5xx |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        for e in &step.nginx.endpoints {
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
                e.endpoint,
                e.requests,
                e.requests_per_s,
                e.p50_ms,
                e.p90_ms,
                e.p99_ms,
                e.max_ms,
                e.status_4xx,
                e.status_429,
                e.status_5xx
            );
        }
        md.push('\n');
    }
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
        "## Per endpoint\n\nreq/s and p99 ms at each series' highest concurrency.\n"
    );
    let mut header = String::from("| endpoint |");
    let mut rule = String::from("|---|");
    for (name, step) in &last {
        let users = step.map_or(0, |s| s.users);
        let _ = write!(header, " {name} ({users} users) |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for endpoint in endpoints {
        let _ = write!(md, "| `{endpoint}` |");
        for (_, step) in &last {
            match step.and_then(|s| s.nginx.endpoints.iter().find(|e| e.endpoint == endpoint)) {
                Some(e) => {
                    let _ = write!(md, " {:.1} req/s, p99 {} ms |", e.requests_per_s, e.p99_ms);
                }
                None => md.push_str(" - |"),
            }
        }
        md.push('\n');
    }
    md.push('\n');
}

/// nginx's capped ceiling, and each step beside the ceiling of its profile and concurrency.
fn nginx_ceiling_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## nginx's capped ceiling\n");
    let _ = writeln!(
        md,
        "The stack's own nginx.conf, under the profile's nginx caps (natively in a cgroup of its own; under compose as the `nginx-ceiling` container, the stack's image on the stack's network), proxying `by-id` requests to an upstream that costs nothing (a trivial nginx), at each concurrency, in this run: the most the stack could serve were the replicas and the database free. nginx CPU per request is its cgroup's CPU over the requests it proxied.\n"
    );
    let _ = writeln!(
        md,
        "| profile | users | nginx CPU cap | req/s | nginx CPU (cores) | nginx µs per request |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for point in &run.nginx_ceiling {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {} | {} |",
            point.profile,
            point.users,
            point
                .nginx_cpu_limit_cores
                .map_or_else(|| "uncapped".to_owned(), |c| format!("{c}")),
            point.requests_per_s,
            point
                .nginx_cpu_cores
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}")),
            point
                .nginx_cpu_us_per_request
                .map_or_else(|| "-".to_owned(), |us| format!("{us:.0}")),
        );
    }
    let _ = writeln!(md, "\n| profile | scenario | users | req/s | % of nginx's ceiling | nginx µs per request in the step |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for step in &run.steps {
        let Some(point) = run
            .nginx_ceiling
            .iter()
            .find(|p| p.profile == step.profile && p.users == step.users)
        else {
            continue;
        };
        let rate = step.nginx.requests_per_s;
        let nginx_us = step
            .services
            .iter()
            .find(|s| s.name == "nginx")
            .filter(|_| rate > 0.0)
            .map_or_else(
                || "-".to_owned(),
                |s| format!("{:.0}", s.cpu_cores * 1e6 / rate),
            );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0}% | {} |",
            step.profile,
            step.scenario,
            step.users,
            rate,
            100.0 * rate / point.requests_per_s.max(1e-9),
            nginx_us
        );
    }
    md.push('\n');
}

impl Report for Run {
    fn exporters() -> Vec<Box<dyn Exporter<Self>>> {
        vec![
            Box::new(Json("run.json")),
            Box::new(StepsCsv),
            Box::new(SamplesCsv),
            Box::new(EndpointsCsv),
            Box::new(MarkdownReport),
        ]
    }
}
