//! `report.md` of a bench run: plain tables a reader can check, every figure saying where it
//! comes from (the client, nginx's log, cgroups or the Engine API). The steps come first
//! (`steps`), then the ceilings they are compared with (`ceilings`), per-endpoint figures
//! (`endpoints`), and each service's resources.

mod ceilings;
mod cells;
mod endpoints;
mod steps;
mod summary;

use std::fmt::Write as _;

use self::cells::{driver_name, or_dash};
use super::csv_files::{EndpointsCsv, SamplesCsv, StepsCsv};
use super::files::{Exporter, Json, Report};
use super::table::Table;
use crate::plot;
use crate::results::{verdict, Run};

/// `report.md`.
pub struct MarkdownReport;

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

impl Exporter<Run> for MarkdownReport {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, run: &Run) -> anyhow::Result<String> {
        let mut md = String::new();
        header_section(&mut md, run);
        summary::summary_section(&mut md, run);
        steps::steps_section(&mut md, run);
        steps::open_section(&mut md, run);
        steps::consistency_section(&mut md, run);
        steps::evidence_section(&mut md, run);
        machine_section(&mut md, run);
        profiles_section(&mut md, run);
        ceilings::driver_ceiling_section(&mut md, run);
        if !run.nginx_ceiling.is_empty() {
            ceilings::nginx_ceiling_section(&mut md, run);
        }
        endpoints::endpoint_tables(&mut md, run);
        resources_section(&mut md, run);
        summary::rightsizing_section(&mut md, run);
        if !run.settings.slo.is_empty() {
            slo_section(&mut md, run);
        }
        plots_section(&mut md, run);
        how_made_section(&mut md, run);
        Ok(md)
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / 1_048_576.0)
}

/// The title, when the run started and ended, its command line and its settings.
fn header_section(md: &mut String, run: &Run) {
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
    let users = if s.users.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = s.users.iter().map(u32::to_string).collect();
        format!(", closed model at {} users", list.join(", "))
    };
    let rates = if s.rates_auto {
        ", open model: the highest rate meeting the SLO (`--rate auto`)".to_owned()
    } else if s.rates.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = s.rates.iter().map(|r| format!("{r:.0}")).collect();
        format!(", open model at {} requests/s", list.join(", "))
    };
    let rates = format!("{users}{rates}");
    let _ = writeln!(
        md,
        "Runtime {}, database {}, scenarios {}, load driver {}{rates}, {} s per step after {} s of uncounted warm-up{}.\n",
        s.runtime,
        s.db,
        s.scenarios.join(", "),
        driver_name(run),
        s.step_secs,
        s.warmup_secs,
        if s.ramp { ", ramp mode (users double until an SLO breaks)" } else { "" }
    );
    // One runtime and one lab setting per run: the first profile says for all.
    if let Some((path, url)) = run
        .profiles
        .iter()
        .find_map(|p| p.client_path.map(|c| (c, &p.base_url)))
    {
        let _ = writeln!(
            md,
            "The load reached nginx through {}: `{url}`.\n",
            path.describe()
        );
    }
}

/// The machine and tool versions, and the Docker engine when the stack ran under compose.
fn machine_section(md: &mut String, run: &Run) {
    let m = &run.machine;
    let v = &run.versions;
    let _ = writeln!(md, "## Machine and versions\n");
    let mut table = Table::new(&[
        "host", "platform", "CPU", "cores", "RAM", "kernel", "cgroup", "lab", "git", "app",
        "nginx", "siege",
    ]);
    table.row([
        m.hostname.clone(),
        or_dash(Some(m.platform.clone()).filter(|p| !p.is_empty())),
        or_dash(Some(m.cpu_model.clone()).filter(|c| !c.is_empty())),
        m.cores.to_string(),
        format!("{} MB", mb(m.memory_total_bytes)),
        m.kernel.clone(),
        m.cgroup_version.clone(),
        v.lab.clone(),
        or_dash(v.git_commit.as_ref().map(|c| c.chars().take(10).collect())),
        or_dash(v.app.clone()),
        or_dash(v.nginx.clone()),
        or_dash(v.siege.clone()),
    ]);
    md.push_str(&table.render());
    md.push('\n');
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
    reference_section(md, run);
}

/// The reference the run measured before its first step: what tells this machine, this day,
/// from another.
fn reference_section(md: &mut String, run: &Run) {
    let Some(r) = &run.reference else {
        return;
    };
    let busy = r
        .host_busy_percent_before
        .map_or_else(|| "not read".to_owned(), |b| format!("{b:.0}%"));
    let costs: Vec<String> = r
        .services
        .iter()
        .map(|s| match s.cpu_us_per_request {
            Some(us) => format!("{} {us:.0} µs", s.name),
            None => format!("{} not measured", s.name),
        })
        .collect();
    let _ = writeln!(
        md,
        "Reference, before the first step: the CPU loop at {:.2} ns per iteration; the machine {busy} busy; {} reads by id on `{}` ({:.0} s at 2 users) cost, per request, {}. Compare these between runs before comparing their steps (`lab compare` and `lab ab` do).\n",
        r.cpu_loop_ns,
        r.load_requests,
        r.profile,
        r.load_secs,
        costs.join(", ")
    );
}

/// Each profile's caps, one row per service.
fn profiles_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Profiles\n");
    let mut table = Table::new(&[
        "profile",
        "capped",
        "service",
        "CPU cap",
        "CFS period (ms)",
        "memory cap (MB)",
        "nginx to replicas",
    ]);
    for profile in &run.profiles {
        for service in &profile.services {
            // The transport is nginx's way to its upstreams: shown on nginx's row.
            let transport = (service.name == "nginx").then(|| {
                profile
                    .upstream_transport
                    .unwrap_or_default()
                    .as_str()
                    .to_owned()
            });
            table.row([
                profile.name.clone(),
                if profile.capped { "yes" } else { "**no**" }.to_owned(),
                service.name.clone(),
                or_dash(service.cpu_limit_cores.map(|c| format!("{c}"))),
                or_dash(
                    service
                        .cpu_period_us
                        .map(|p| format!("{}", p as f64 / 1000.0)),
                ),
                or_dash(service.memory_limit_bytes.map(mb)),
                or_dash(transport),
            ]);
        }
    }
    md.push_str(&table.render());
    md.push('\n');
}

/// Each service's CPU, throttling, memory and restarts per step, then the driver's and the
/// machine's.
fn resources_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Resources per step\n");
    let mut table = Table::new(&[
        "profile",
        "scenario",
        "load",
        "service",
        "CPU (cores)",
        "CPU cap",
        "throttled %",
        "throttled s",
        "memory peak MB",
        "memory cap MB",
        "OOM kills",
        "restarts",
        "source",
    ]);
    for step in &run.steps {
        let at = || {
            [
                step.profile.clone(),
                step.scenario.clone(),
                step.level_label(),
            ]
        };
        for u in &step.services {
            let mut row = at().to_vec();
            row.extend([
                u.name.clone(),
                format!("{:.2}", u.cpu_cores),
                or_dash(u.cpu_limit_cores.map(|c| format!("{c}"))),
                format!("{:.0}", u.cpu_throttled_percent),
                format!("{:.2}", u.cpu_throttled_secs),
                mb(u.memory_peak_bytes),
                or_dash(u.memory_limit_bytes.map(mb)),
                u.oom_kills.to_string(),
                u.restarts.to_string(),
                u.source.clone(),
            ]);
            table.row(row);
        }
        let mut row = at().to_vec();
        row.extend([
            format!("load driver ({})", step.driver),
            format!("{:.2}", step.driver_cpu_cores),
        ]);
        row.extend(["-", "-", "-", "-", "-", "-", "-", "wait4"].map(String::from));
        table.row(row);
        if let Some(h) = &step.host {
            let mut row = at().to_vec();
            row.extend([
                "**machine** (all)".to_owned(),
                format!("{:.2}", h.cpu_busy_cores),
                format!("{} cores", h.cores),
            ]);
            row.extend(["-", "-", "-", "-", "-", "-"].map(String::from));
            row.push(format!("/proc/stat ({:.0}% busy)", h.cpu_busy_percent));
            table.row(row);
        }
    }
    md.push_str(&table.render());
    md.push('\n');
}

/// The SLO's rules and, per series, the most users (or the highest rate) that met it.
fn slo_section(md: &mut String, run: &Run) {
    let rules: Vec<String> = run.settings.slo.iter().map(ToString::to_string).collect();
    let _ = writeln!(md, "## SLO: `{}`\n", rules.join(","));
    let mut table = Table::new(&[
        "profile",
        "scenario",
        "max sustainable users",
        "first failing users",
        "max sustainable rate /s",
        "first failing rate /s",
    ]);
    for s in &run.sustainable {
        table.row([
            s.profile.clone(),
            s.scenario.clone(),
            or_dash(s.max_users.map(|u| u.to_string())),
            or_dash(s.first_failing_users.map(|u| u.to_string())),
            or_dash(s.max_rate_per_s.map(|r| format!("{r:.0}"))),
            or_dash(s.first_failing_rate_per_s.map(|r| format!("{r:.0}"))),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
}

/// A heading and an image link for each plot written beside the report.
fn plots_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## Plots\n");
    for (stem, title) in plot::run_plot_stems(run) {
        let _ = writeln!(md, "### {title}\n\n![{title}]({stem}.png)\n");
    }
}

/// Where each figure comes from and the thresholds behind the bottleneck verdict.
fn how_made_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## How the figures are made\n");
    if run.settings.driver == "lab" {
        let _ = writeln!(md, "- **The client's view** (req/s, p50 to max, availability): lab's own driver, a separate process, records every request's latency from its send (closed model) or its intended start (open model) to the last byte of its answer, in µs HDR histograms per endpoint; availability = (2xx + 3xx) / (answers + time-outs + failed connections).");
    }
    let _ = writeln!(md, "- **nginx's view**: its access log for exactly the step (byte offsets); availability = (2xx + 3xx) / all requests it logged except 499 (the client left); latency from its `request_time` (1 ms resolution) through an HDR histogram. It starts when nginx reads the request: the wait before that is not in it.");
    let _ = writeln!(md, "- **req/s** = answers the driver counted (nginx's logged requests when it reported nothing) / the load's seconds, at most the step's duration + 1 s (a driver that hung on exit is stopped and said so).");
    let _ = writeln!(md, "- **CPU, throttling, memory, OOM kills** natively from each service's cgroup (v1: cpuacct.usage, cpu.stat, memory.max_usage_in_bytes reset at each step; v2: cpu.stat, memory.current, memory.events); under compose from the Docker Engine API for each container (`stats`: the same cgroup counters; `oom` events; `RestartCount`), the step's memory peak then being the highest per-second sample. Sampled every second; the driver's CPU from the kernel's accounting of its finished process; the machine's from `/proc/stat` over the load's own seconds (busy = all but idle and iowait).");
    let _ = writeln!(md, "- **bottleneck**: 429 share >= {}% -> rate limiter; a capped service throttled in > {}% of CFS periods while using >= {}% of its quota (or OOM-killed) -> that service; the driver at >= {}% of its ceiling or using >= {}% of the cores -> load generator; the machine >= {}% busy -> host; else none.", verdict::RATE_LIMITED_PERCENT, verdict::THROTTLED_PERCENT, verdict::QUOTA_USED_PERCENT, verdict::CEILING_PERCENT, verdict::DRIVER_CORES_PERCENT, verdict::HOST_BUSY_PERCENT);
}
