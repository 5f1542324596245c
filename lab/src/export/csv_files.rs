//! `steps.csv` (one row per step, per-service columns for every service seen),
//! `samples.csv` (one row per service per second) and `endpoints.csv` (one row per endpoint
//! per step), for spreadsheets and pandas.

use std::collections::BTreeSet;

use super::files::{finish_csv, Exporter};
use crate::load::access_log::replica_shares;
use crate::results::{Run, Step};

/// `steps.csv`.
pub struct StepsCsv;

/// `samples.csv`.
pub struct SamplesCsv;

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn num(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    rounded.to_string()
}

impl Exporter<Run> for StepsCsv {
    fn file_name(&self) -> &'static str {
        "steps.csv"
    }

    fn render(&self, run: &Run) -> anyhow::Result<String> {
        let services: BTreeSet<&str> = run
            .steps
            .iter()
            .flat_map(|s| s.services.iter().map(|u| u.name.as_str()))
            .collect();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(steps_header(&services))?;
        for step in &run.steps {
            writer.write_record(step_row(step, &services))?;
        }
        finish_csv(writer)
    }
}

/// The step columns, then five columns for each service seen in any step.
fn steps_header(services: &BTreeSet<&str>) -> Vec<String> {
    let mut header: Vec<String> = [
        "index",
        "profile",
        "scenario",
        "users",
        "driver",
        "model",
        "rate_per_s",
        "client_requests_per_s",
        "client_p50_ms",
        "client_p90_ms",
        "client_p99_ms",
        "client_p999_ms",
        "client_max_ms",
        "client_mean_ms",
        "client_availability_percent",
        "client_timeouts",
        "client_errors",
        "client_sent_late",
        "client_unsent",
        "queue_ms",
        "views_agree",
        "started_at",
        "wall_secs",
        "requests",
        "requests_per_s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "mean_ms",
        "status_2xx",
        "status_3xx",
        "status_4xx",
        "status_429",
        "status_499",
        "status_5xx",
        "availability_percent",
        "siege_availability_percent",
        "siege_transactions",
        "siege_failed_transactions",
        "driver_requests_per_s",
        "driver_cpu_cores",
        "host_cpu_busy_cores",
        "host_cpu_busy_percent",
        "ceiling_transactions_per_s",
        "ceiling_percent",
        "driver_bound",
        "bottleneck",
        "slo_passed",
        "replica_share_percent",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for service in services {
        for field in [
            "cpu_cores",
            "cpu_throttled_percent",
            "memory_peak_bytes",
            "oom_kills",
            "restarts",
        ] {
            header.push(format!("{service}_{field}"));
        }
    }
    header
}

/// The client's columns of a step: blank for a step siege drove.
fn client_cells(step: &Step) -> Vec<String> {
    match &step.client {
        None => vec![String::new(); 12],
        Some(c) => vec![
            num(c.achieved_rate_per_s),
            num(c.latency.p50_ms),
            num(c.latency.p90_ms),
            num(c.latency.p99_ms),
            num(c.latency.p999_ms),
            num(c.latency.max_ms),
            num(c.latency.mean_ms),
            num(c.availability_percent),
            c.timeouts.to_string(),
            c.errors.to_string(),
            c.sent_late.to_string(),
            c.unsent.to_string(),
        ],
    }
}

/// One step's row, in `steps_header`'s order; blank cells for a service the step lacks.
fn step_row(step: &Step, services: &BTreeSet<&str>) -> Vec<String> {
    let n = &step.nginx;
    let siege = step.siege.as_ref();
    let shares = replica_shares(n)
        .iter()
        .map(|(name, share)| format!("{name}:{share:.1}"))
        .collect::<Vec<_>>()
        .join(";");
    let mut row = vec![
        step.index.to_string(),
        step.profile.clone(),
        step.scenario.clone(),
        step.users.to_string(),
        step.driver.clone(),
        format!("{:?}", step.model).to_lowercase(),
        opt(step.rate_per_s),
    ];
    row.extend(client_cells(step));
    row.extend([
        opt(step.queue_ms().map(num)),
        if step.consistency.is_empty() {
            String::new()
        } else {
            step.views_agree().to_string()
        },
        step.started_at.to_rfc3339(),
        num(step.wall_secs),
        n.requests.to_string(),
        num(n.requests_per_s),
        num(n.p50_ms),
        num(n.p90_ms),
        num(n.p99_ms),
        num(n.max_ms),
        num(n.mean_ms),
        n.status_2xx.to_string(),
        n.status_3xx.to_string(),
        n.status_4xx.to_string(),
        n.status_429.to_string(),
        n.status_499.to_string(),
        n.status_5xx.to_string(),
        num(n.availability_percent),
        opt(siege.and_then(|s| s.availability)),
        opt(siege.and_then(|s| s.transactions)),
        opt(siege.and_then(|s| s.failed_transactions)),
        num(step.driver_requests_per_s),
        num(step.driver_cpu_cores),
        opt(step.host.as_ref().map(|h| num(h.cpu_busy_cores))),
        opt(step.host.as_ref().map(|h| num(h.cpu_busy_percent))),
        opt(step.ceiling_transactions_per_s.map(num)),
        opt(step.ceiling_percent.map(num)),
        step.driver_bound.to_string(),
        step.verdict.bottleneck.label().to_owned(),
        opt(step.slo.as_ref().map(|o| o.passed)),
        shares,
    ]);
    for service in services {
        match step.services.iter().find(|u| u.name == *service) {
            Some(u) => row.extend([
                num(u.cpu_cores),
                num(u.cpu_throttled_percent),
                u.memory_peak_bytes.to_string(),
                u.oom_kills.to_string(),
                u.restarts.to_string(),
            ]),
            None => row.extend(std::iter::repeat_n(String::new(), 5)),
        }
    }
    row
}

impl Exporter<Run> for SamplesCsv {
    fn file_name(&self) -> &'static str {
        "samples.csv"
    }

    fn render(&self, run: &Run) -> anyhow::Result<String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record([
            "t_secs",
            "step",
            "profile",
            "scenario",
            "service",
            "cpu_cores",
            "cpu_throttled_percent",
            "memory_bytes",
        ])?;
        for s in &run.samples {
            writer.write_record([
                num(s.t_secs),
                s.step.to_string(),
                s.profile.clone(),
                s.scenario.clone(),
                s.service.clone(),
                num(s.cpu_cores),
                num(s.cpu_throttled_percent),
                s.memory_bytes.to_string(),
            ])?;
        }
        finish_csv(writer)
    }
}

/// `endpoints.csv`: one row per endpoint per step.
pub struct EndpointsCsv;

impl Exporter<Run> for EndpointsCsv {
    fn file_name(&self) -> &'static str {
        "endpoints.csv"
    }

    fn render(&self, run: &Run) -> anyhow::Result<String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record([
            "step",
            "profile",
            "scenario",
            "users",
            "endpoint",
            "requests",
            "requests_per_s",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
            "status_4xx",
            "status_429",
            "status_5xx",
            "rate_per_s",
            "client_requests_per_s",
            "client_p50_ms",
            "client_p90_ms",
            "client_p99_ms",
            "client_p999_ms",
            "client_max_ms",
            "client_timeouts",
            "client_errors",
        ])?;
        for s in &run.steps {
            for e in &s.nginx.endpoints {
                let c = s
                    .client
                    .as_ref()
                    .and_then(|c| c.endpoints.iter().find(|c| c.endpoint == e.endpoint));
                let client = |f: &dyn Fn(&crate::results::ClientEndpoint) -> String| {
                    c.map(f).unwrap_or_default()
                };
                writer.write_record([
                    s.index.to_string(),
                    s.profile.clone(),
                    s.scenario.clone(),
                    s.users.to_string(),
                    e.endpoint.clone(),
                    e.requests.to_string(),
                    num(e.requests_per_s),
                    num(e.p50_ms),
                    num(e.p90_ms),
                    num(e.p99_ms),
                    num(e.max_ms),
                    e.status_4xx.to_string(),
                    e.status_429.to_string(),
                    e.status_5xx.to_string(),
                    opt(s.rate_per_s),
                    client(&|c| num(c.requests_per_s)),
                    client(&|c| num(c.latency.p50_ms)),
                    client(&|c| num(c.latency.p90_ms)),
                    client(&|c| num(c.latency.p99_ms)),
                    client(&|c| num(c.latency.p999_ms)),
                    client(&|c| num(c.latency.max_ms)),
                    client(&|c| c.timeouts.to_string()),
                    client(&|c| c.errors.to_string()),
                ])?;
            }
        }
        finish_csv(writer)
    }
}
