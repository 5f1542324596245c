//! A bench run (`run.json`). Everything `lab report` and `lab compare` need lives in it, so
//! plots and tables can always be redrawn from the data alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::figures::{
    Arrivals, ClientEndpoint, ClientStats, EndpointStats, HostUsage, LatencyMs, LoadModel,
    NginxStats, ServiceUsage, SiegeSummary,
};
pub use super::machine::Machine;
use super::slo::SloRule;
use super::step::{siege, Step};

/// Version of the `run.json` layout; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole bench run: settings, environment, every measured step and every sample.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    /// Version of this file's layout (see `SCHEMA_VERSION`).
    pub schema_version: u32,
    /// Label given with `--label`; also the suffix of the run folder.
    pub label: String,
    /// When the run started (UTC).
    pub started_at: DateTime<Utc>,
    /// When the last step finished; None while running or when the run was interrupted.
    pub finished_at: Option<DateTime<Utc>>,
    /// The exact command line, program name first.
    pub command_line: Vec<String>,
    /// What was asked for.
    pub settings: Settings,
    /// The machine the run happened on: its fingerprint.
    pub machine: Machine,
    /// The reference measured before the first step (CPU speed, the machine's busy share,
    /// each service's CPU per request of a fixed load); None in runs made before it was, with
    /// `--attach`, and when it could not be measured.
    #[serde(default)]
    pub reference: Option<super::reference::Reference>,
    /// Versions of every program involved.
    pub versions: Versions,
    /// Each profile run, with its variables and the caps the stack really got.
    pub profiles: Vec<ProfileRecord>,
    /// The load driver's own ceiling per concurrency: against a trivial uncapped nginx.
    #[serde(alias = "siege_ceiling")]
    pub driver_ceiling: Vec<CeilingPoint>,
    /// nginx's capped ceiling per profile and concurrency: the stack's nginx.conf under the
    /// profile's nginx caps, proxying to a trivial upstream (native runtime only).
    #[serde(default)]
    pub nginx_ceiling: Vec<NginxCeilingPoint>,
    /// Every measured step (warm-up excluded), in the order they ran.
    pub steps: Vec<Step>,
    /// Per-second resource samples of every service (and of the driver) during the steps.
    pub samples: Vec<Sample>,
    /// Per profile and scenario: the highest concurrency that met the SLOs.
    pub sustainable: Vec<Sustainable>,
}

/// The bench's settings as given on the command line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// `native`, `compose` or `attached` (a stack that was already running).
    pub runtime: String,
    /// Database backend: `sqlite`, `postgres` or `mysql`.
    pub db: String,
    /// Scenario names (or URL-file paths) in the order they ran.
    pub scenarios: Vec<String>,
    /// The load driver: `lab` or `siege` (every run before lab had a driver of its own).
    #[serde(default = "siege")]
    pub driver: String,
    /// Concurrency steps asked for (in ramp mode: the start and the doubling cap).
    pub users: Vec<u32>,
    /// Open-model rates asked for, requests per second (`auto`: none listed, see
    /// `rates_auto`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rates: Vec<f64>,
    /// True when the rates were `auto`: the highest rate meeting the SLO was searched.
    #[serde(default)]
    pub rates_auto: bool,
    /// How the open model spaced its arrivals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<Arrivals>,
    /// Seconds per measured step, as asked for (see `Step::wall_secs` for what siege did).
    pub step_secs: u64,
    /// Seconds of uncounted warm-up before each profile and scenario.
    pub warmup_secs: u64,
    /// Seconds per siege-ceiling measurement.
    pub ceiling_secs: u64,
    /// True in ramp mode (users double until an SLO breaks).
    pub ramp: bool,
    /// The SLO text as given, e.g. `p99_ms<250,availability>=99.9`.
    pub slo_text: Option<String>,
    /// The parsed SLO rules.
    pub slo: Vec<SloRule>,
}

/// Versions of the programs involved; None when one could not be asked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Versions {
    /// lab's crate version.
    pub lab: String,
    /// git commit of the repository lab ran in, when it is a git checkout.
    pub git_commit: Option<String>,
    /// The app's version as it reports it on `GET /` (first profile).
    pub app: Option<String>,
    /// `nginx -v`.
    pub nginx: Option<String>,
    /// `siege -V`.
    pub siege: Option<String>,
}

/// A profile as it ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProfileRecord {
    /// Profile name (`tight`, `roomy`, ...).
    pub name: String,
    /// Every variable of its env file.
    pub vars: BTreeMap<String, String>,
    /// nginx's base URL the load went to.
    pub base_url: String,
    /// False when the stack could not be capped (cgroups not writable): figures are uncapped.
    pub capped: bool,
    /// Each service's caps as the stack applied them.
    pub services: Vec<ServiceCaps>,
    /// How nginx reached the replicas (`UPSTREAM_TRANSPORT`); None in runs recorded before
    /// lab recorded it (all TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_transport: Option<contract::profile::Transport>,
    /// Which way the load reached nginx (`LAB_CLIENT_PATH` under compose); None in runs
    /// recorded before lab said (native: loopback; compose from the host: the published port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_path: Option<crate::client_path::ClientPath>,
    /// Seed sizes the URL files were generated from.
    pub seed_customers: u64,
    /// Number of seeded disks (ids 1..=N).
    pub seed_disks: u64,
}

/// Caps of one service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceCaps {
    /// `app1`, `app2`, `nginx`, `db`.
    pub name: String,
    /// CPU cap in cores (e.g. 0.3); None when uncapped.
    pub cpu_limit_cores: Option<f64>,
    /// The CFS period the CPU cap is enforced over, in µs (the profile's `*_CPU_PERIOD_US`, or
    /// the container's); None when uncapped or recorded before lab recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period_us: Option<u64>,
    /// Memory cap in bytes; None when uncapped.
    pub memory_limit_bytes: Option<u64>,
}

/// siege against a trivial uncapped nginx route at one concurrency: the most it can drive here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CeilingPoint {
    /// Concurrent siege users.
    pub users: u32,
    /// siege transactions (plus failed ones) per wall-clock second.
    pub transactions_per_s: f64,
    /// Wall-clock seconds siege ran.
    pub wall_secs: f64,
    /// siege CPU in cores (CPU seconds / wall seconds) during the measurement.
    #[serde(alias = "siege_cpu_cores")]
    pub driver_cpu_cores: f64,
    /// siege's own summary.
    pub siege: Option<SiegeSummary>,
}

/// nginx's capped ceiling at one concurrency: what the stack's nginx, under the profile's nginx
/// caps, proxies per second to an upstream that costs nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NginxCeilingPoint {
    pub profile: String,
    /// Concurrent siege users (the `by-id` shape).
    pub users: u32,
    /// siege transactions (plus failed ones) per second of load.
    pub requests_per_s: f64,
    /// The CPU cap nginx ran under; `None` when cgroups were not writable (uncapped).
    pub nginx_cpu_limit_cores: Option<f64>,
    /// nginx's CPU (its cgroup's usage) over the measurement, in cores.
    pub nginx_cpu_cores: Option<f64>,
    /// nginx's CPU per proxied request, in microseconds.
    pub nginx_cpu_us_per_request: Option<f64>,
    /// Wall-clock seconds siege ran.
    pub wall_secs: f64,
    /// siege's CPU in cores during the measurement.
    #[serde(alias = "siege_cpu_cores")]
    pub driver_cpu_cores: f64,
}

/// A per-second sample of one service (or of siege).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Seconds since the run started.
    pub t_secs: f64,
    /// Step index the sample belongs to.
    pub step: usize,
    /// Profile name.
    pub profile: String,
    /// Scenario name.
    pub scenario: String,
    /// Service name (`siege` for the load generator, `host` for the whole machine).
    pub service: String,
    /// CPU in cores over the last interval.
    pub cpu_cores: f64,
    /// Throttled share of CFS periods over the last interval, percent.
    pub cpu_throttled_percent: f64,
    /// Memory in use, bytes.
    pub memory_bytes: u64,
}

/// The highest load that met the SLOs, per profile and scenario: users (closed model) and
/// rate (open model), each where steps of that model ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sustainable {
    /// Profile name.
    pub profile: String,
    /// Scenario name.
    pub scenario: String,
    /// Highest measured users meeting every SLO; None when no closed step met them.
    pub max_users: Option<u32>,
    /// Lowest measured users that broke an SLO (the knee lies between); None if none broke.
    pub first_failing_users: Option<u32>,
    /// Highest offered rate (requests per second) meeting every SLO; None when no open step
    /// met them.
    #[serde(default)]
    pub max_rate_per_s: Option<f64>,
    /// Lowest offered rate that broke an SLO; None if none broke.
    #[serde(default)]
    pub first_failing_rate_per_s: Option<f64>,
}

impl Run {
    /// Steps of one profile and scenario, in order of users.
    /// Steps of one profile, scenario and load model, by level (users, or the offered rate);
    /// an open-model series is named `<scenario> (open)`.
    pub fn series(&self) -> Vec<((String, String), Vec<&Step>)> {
        let name = |s: &Step| match s.model {
            LoadModel::Closed => s.scenario.clone(),
            LoadModel::Open => format!("{} (open)", s.scenario),
        };
        let mut keys: Vec<(String, String)> = Vec::new();
        for step in &self.steps {
            let key = (step.profile.clone(), name(step));
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys.into_iter()
            .map(|key| {
                let mut steps: Vec<&Step> = self
                    .steps
                    .iter()
                    .filter(|s| s.profile == key.0 && name(s) == key.1)
                    .collect();
                steps.sort_by(|a, b| a.level().total_cmp(&b.level()));
                (key, steps)
            })
            .collect()
    }

    /// Caps of a service under a profile.
    pub fn caps(&self, profile: &str, service: &str) -> Option<&ServiceCaps> {
        self.profiles
            .iter()
            .find(|p| p.name == profile)?
            .services
            .iter()
            .find(|s| s.name == service)
    }

    /// Recomputes the SLO summary from the steps.
    pub fn update_sustainable(&mut self) {
        if self.settings.slo.is_empty() {
            self.sustainable.clear();
            return;
        }
        let mut keys: Vec<(String, String)> = Vec::new();
        for step in &self.steps {
            let key = (step.profile.clone(), step.scenario.clone());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        self.sustainable = keys
            .into_iter()
            .map(|(profile, scenario)| {
                let steps: Vec<&Step> = self
                    .steps
                    .iter()
                    .filter(|s| s.profile == profile && s.scenario == scenario)
                    .collect();
                let passed = |s: &&&Step| s.slo.as_ref().is_some_and(|o| o.passed);
                let closed = |s: &&&Step| s.model == LoadModel::Closed;
                let rates = |pass: bool| {
                    steps
                        .iter()
                        .filter(move |s| s.model == LoadModel::Open && passed(s) == pass)
                        .filter_map(|s| s.rate_per_s)
                };
                Sustainable {
                    max_users: steps
                        .iter()
                        .filter(closed)
                        .filter(passed)
                        .map(|s| s.users)
                        .max(),
                    first_failing_users: steps
                        .iter()
                        .filter(closed)
                        .filter(|s| !passed(s))
                        .map(|s| s.users)
                        .min(),
                    max_rate_per_s: rates(true).reduce(f64::max),
                    first_failing_rate_per_s: rates(false).reduce(f64::min),
                    profile,
                    scenario,
                }
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::verdict::{decide, Bottleneck, VerdictInput};

    /// Re-decides every step of a committed run from its recorded figures.
    /// A committed run's verdicts decided again from its data (the run's `run.json`, kept
    /// under `lab/tests/fixtures/runs/<folder>/`).
    fn redecide(folder: &str) -> Vec<(String, u32, Bottleneck)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/runs")
            .join(folder)
            .join("run.json");
        let text = std::fs::read_to_string(path).unwrap();
        let run: Run = serde_json::from_str(&text).unwrap();
        run.steps
            .iter()
            .map(|step| {
                let verdict = decide(&VerdictInput {
                    nginx: &step.nginx,
                    services: &step.services,
                    ceiling_percent: step.ceiling_percent,
                    driver_cpu_cores: step.driver_cpu_cores,
                    driver_cores: crate::results::verdict::driver_cores(
                        &step.driver,
                        run.machine.cores,
                    ),
                    driver_failures_percent: step
                        .client
                        .as_ref()
                        .map_or(0.0, ClientStats::driver_failures_percent),
                    machine_cores: run.machine.cores,
                    host: step.host.as_ref(),
                });
                (step.profile.clone(), step.users, verdict.bottleneck)
            })
            .collect()
    }

    #[test]
    fn the_committed_roomy_main_job_was_limited_by_the_machine_not_by_nothing() {
        // 2 cores; roomy's caps add up to 3.5 CPUs; services and siege used 1.76-1.92 cores.
        let verdicts = redecide("20261123T051411Z-main-job");
        let roomy: Vec<_> = verdicts.iter().filter(|v| v.0 == "roomy").collect();
        assert_eq!(roomy.len(), 6);
        for (_, users, bottleneck) in roomy {
            assert_eq!(*bottleneck, Bottleneck::Host, "roomy at {users} users");
        }
        // tight's replicas hit their caps first, as recorded.
        for (_, users, bottleneck) in verdicts.iter().filter(|v| v.0 == "tight") {
            assert_eq!(*bottleneck, Bottleneck::App, "tight at {users} users");
        }
    }

    #[test]
    fn recorded_runs_whose_database_was_capped_still_name_the_database() {
        for path in [
            "20261123T050358Z-tight-vs-roomy-postgres",
            "20261129T132440Z-compose-roomy-postgres",
        ] {
            for (profile, users, bottleneck) in redecide(path) {
                assert_eq!(
                    bottleneck,
                    Bottleneck::Database,
                    "{path}: {profile} at {users} users"
                );
            }
        }
    }
}
