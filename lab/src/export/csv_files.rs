//! `steps.csv` (one row per step, per-service columns for every service seen),
//! `samples.csv` (one row per service per second) and `endpoints.csv` (one row per endpoint
//! per step), for spreadsheets and pandas.

use std::collections::BTreeSet;

use super::files::{finish_csv, Exporter};
use crate::load::access_log::replica_shares;
use crate::results::Run;

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
        let mut header: Vec<String> = [
            "index",
            "profile",
            "scenario",
            "users",
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
            "siege_transactions_per_s",
            "siege_cpu_cores",
            "host_cpu_busy_cores",
            "host_cpu_busy_percent",
            "ceiling_transactions_per_s",
            "ceiling_percent",
            "siege_bound",
            "bottleneck",
            "slo_passed",
            "replica_share_percent",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for service in &services {
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
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&header)?;
        for step in &run.steps {
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
                num(step.siege_transactions_per_s),
                num(step.siege_cpu_cores),
                opt(step.host.as_ref().map(|h| num(h.cpu_busy_cores))),
                opt(step.host.as_ref().map(|h| num(h.cpu_busy_percent))),
                opt(step.ceiling_transactions_per_s.map(num)),
                opt(step.ceiling_percent.map(num)),
                step.siege_bound.to_string(),
                step.verdict.bottleneck.label().to_owned(),
                opt(step.slo.as_ref().map(|o| o.passed)),
                shares,
            ];
            for service in &services {
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
            writer.write_record(&row)?;
        }
        finish_csv(writer)
    }
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
        ])?;
        for s in &run.steps {
            for e in &s.nginx.endpoints {
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
                ])?;
            }
        }
        finish_csv(writer)
    }
}
