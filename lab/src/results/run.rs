//! The one result type of a bench run. Everything `lab report` and `lab compare` need lives in
//! `run.json`, so plots and tables can always be redrawn from the data alone. Figures carry
//! their unit in the field name.

pub mod slo;
pub mod soak;
pub mod verdict;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use slo::{SloOutcome, SloRule};
pub use verdict::Verdict;

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
    /// The machine the run happened on.
    pub machine: Machine,
    /// Versions of every program involved.
    pub versions: Versions,
    /// Each profile run, with its variables and the caps the stack really got.
    pub profiles: Vec<ProfileRecord>,
    /// siege's own ceiling per concurrency: against a trivial uncapped nginx.
    pub siege_ceiling: Vec<CeilingPoint>,
    /// nginx's capped ceiling per profile and concurrency: the stack's nginx.conf under the
    /// profile's nginx caps, proxying to a trivial upstream (native runtime only).
    #[serde(default)]
    pub nginx_ceiling: Vec<NginxCeilingPoint>,
    /// Every measured step (warm-up excluded), in the order they ran.
    pub steps: Vec<Step>,
    /// Per-second resource samples of every service (and of siege) during the steps.
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
    /// Concurrency steps asked for (in ramp mode: the start and the doubling cap).
    pub users: Vec<u32>,
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

/// The machine that ran the bench (siege and the stack share it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// CPUs available to lab (and to siege).
    pub cores: usize,
    /// Total RAM in bytes (`MemTotal`).
    pub memory_total_bytes: u64,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// `v1` or `v2` (hierarchy mounted at /sys/fs/cgroup), `none` when absent.
    pub cgroup_version: String,
    /// The Docker engine the compose stack ran on (its cores and memory are the machine's,
    /// or the Docker VM's on Docker Desktop); None for native runs or without the socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::docker::EngineInfo>,
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
    pub siege_cpu_cores: f64,
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
    pub siege_cpu_cores: f64,
}

/// siege's end-of-run JSON summary, every field kept. siege counts 429 as a transaction that
/// does not lower availability and 5xx as failed; its timings have ~10 ms resolution and its
/// `elapsed_time` can be shorter than `-t`: the lab's own figures come from nginx's log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SiegeSummary {
    /// Transactions (2xx/3xx and most 4xx, 429 included).
    pub transactions: Option<f64>,
    /// siege's availability in percent: transactions / (transactions + failed).
    pub availability: Option<f64>,
    /// Seconds siege says it ran.
    pub elapsed_time: Option<f64>,
    /// Megabytes received.
    pub data_transferred: Option<f64>,
    /// Mean response time in seconds.
    pub response_time: Option<f64>,
    /// Transactions per second by siege's clock.
    pub transaction_rate: Option<f64>,
    /// Megabytes per second.
    pub throughput: Option<f64>,
    /// Mean simultaneous connections.
    pub concurrency: Option<f64>,
    /// 2xx/3xx transactions.
    pub successful_transactions: Option<f64>,
    /// 5xx, 408 and socket errors (including connections cut when the time is up).
    pub failed_transactions: Option<f64>,
    /// Slowest transaction in seconds.
    pub longest_transaction: Option<f64>,
    /// Fastest transaction in seconds.
    pub shortest_transaction: Option<f64>,
    /// Any field a later siege adds.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One measured step: a profile, a scenario, a concurrency.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// Position in the run, from 0.
    pub index: usize,
    /// Profile name.
    pub profile: String,
    /// Scenario name (a hand-written URL file: its file stem).
    pub scenario: String,
    /// Concurrent siege users.
    pub users: u32,
    /// When siege started (UTC).
    pub started_at: DateTime<Utc>,
    /// Seconds since the run started, at siege's start (aligns with `Sample::t_secs`).
    pub start_offset_secs: f64,
    /// Wall-clock seconds siege really ran (rates divide by this, capped at the asked
    /// duration plus one second).
    pub wall_secs: f64,
    /// URL file siege read.
    pub urls_file: String,
    /// siege's exit status (None when killed by a signal).
    pub siege_exit_code: Option<i32>,
    /// True when siege hung on exit and lab stopped it (rates then use the asked duration).
    #[serde(default)]
    pub siege_hung: bool,
    /// siege's summary, when it printed one.
    pub siege: Option<SiegeSummary>,
    /// siege's transactions plus failed ones per wall-clock second (compared with the ceiling).
    pub siege_transactions_per_s: f64,
    /// siege's own CPU seconds (user + system, all threads) for the step.
    pub siege_cpu_seconds: f64,
    /// siege's CPU in cores (CPU seconds / wall seconds).
    pub siege_cpu_cores: f64,
    /// What nginx saw for exactly this step (its access log, sliced by byte offsets).
    pub nginx: NginxStats,
    /// Per service: CPU, throttling, memory and OOM kills during the step.
    pub services: Vec<ServiceUsage>,
    /// siege's ceiling at this concurrency, transactions per second.
    pub ceiling_transactions_per_s: Option<f64>,
    /// This step's siege throughput as a percentage of the ceiling.
    pub ceiling_percent: Option<f64>,
    /// True when siege, not the stack, was the limit (>= 80% of its ceiling, or its CPU near
    /// the machine's cores).
    pub siege_bound: bool,
    /// The whole machine's CPU during the step (stack, siege and anything else running):
    /// tells when the machine itself, not a cap, was the limit. None in runs made before it
    /// was measured.
    #[serde(default)]
    pub host: Option<HostUsage>,
    /// What saturated, with the evidence.
    pub verdict: Verdict,
    /// SLO outcome (None without `--slo`).
    pub slo: Option<SloOutcome>,
    /// For the stress scenario: HTTP status of the tree-growing request to the replica.
    pub stress_start_status: Option<u16>,
}

/// Request statistics from nginx's JSON access log for one step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NginxStats {
    /// Requests logged (lab's own control requests to `/replicas/` and `/nginx-health`
    /// excluded).
    pub requests: u64,
    /// Requests per wall-clock second of the step.
    pub requests_per_s: f64,
    /// Median `request_time`, ms (nginx's resolution is 1 ms).
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest request, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// 2xx answers.
    pub status_2xx: u64,
    /// 3xx answers.
    pub status_3xx: u64,
    /// 4xx answers other than 429 and 499.
    pub status_4xx: u64,
    /// 429 (rate limited).
    pub status_429: u64,
    /// 499 (siege closed the connection, mostly in-flight requests cut at the step's end).
    pub status_499: u64,
    /// 5xx answers.
    pub status_5xx: u64,
    /// (2xx + 3xx) / (all requests except 499), percent. Unlike siege's, 429 lowers it.
    pub availability_percent: f64,
    /// 429 share of requests (499 excluded), percent.
    pub rate_limited_percent: f64,
    /// 5xx share of requests (499 excluded), percent.
    pub errors_5xx_percent: f64,
    /// Requests answered per replica (`instance`); nginx's own answers (e.g. 429) under
    /// `nginx`; 499s are left out.
    pub replicas: BTreeMap<String, u64>,
    /// Log lines that could not be parsed (should be 0).
    pub unparsable_lines: u64,
    /// The same figures per method and route pattern (`GET /disks/{id}`, `GET /disks` and
    /// `GET /disks?filter`, `POST /orders`...), busiest first.
    #[serde(default)]
    pub endpoints: Vec<EndpointStats>,
}

/// One endpoint's figures over a step, from nginx's log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EndpointStats {
    /// Method and route pattern: numeric path segments become `{id}`; a query with any
    /// parameter besides `limit` and `offset` adds `?filter`.
    pub endpoint: String,
    pub requests: u64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// 4xx answers other than 429 and 499.
    pub status_4xx: u64,
    pub status_429: u64,
    pub status_5xx: u64,
}

/// One service's resource use over a step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServiceUsage {
    /// `app1`, `app2`, `nginx`, `db`.
    pub name: String,
    /// Where the figures come from: `cgroup v1`, `cgroup v2`, `proc`, `docker api` or `none`.
    pub source: String,
    /// CPU seconds used during the step.
    pub cpu_seconds: f64,
    /// Average CPU in cores (CPU seconds / wall seconds).
    pub cpu_cores: f64,
    /// CPU cap in cores, None when uncapped.
    pub cpu_limit_cores: Option<f64>,
    /// CFS periods elapsed during the step.
    pub cpu_periods: u64,
    /// Periods in which the cgroup was throttled.
    pub cpu_throttled_periods: u64,
    /// Time spent throttled, seconds.
    pub cpu_throttled_secs: f64,
    /// Throttled periods / periods, percent.
    pub cpu_throttled_percent: f64,
    /// Memory in use at the step's end, bytes.
    pub memory_current_bytes: u64,
    /// Highest memory use during the step, bytes (v1: max_usage reset at the step's start;
    /// v2 and proc: highest per-second sample).
    pub memory_peak_bytes: u64,
    /// Memory cap, bytes; None when uncapped.
    pub memory_limit_bytes: Option<u64>,
    /// OOM kills during the step.
    pub oom_kills: u64,
    /// Times the service was restarted during the step (native: by lab's supervisor; compose:
    /// by the engine's restart policy).
    #[serde(default)]
    pub restarts: u64,
}

/// The machine's CPU over one step, from `/proc/stat` where lab runs (inside the bench
/// container that is still the host's, or the Docker VM's, `/proc/stat`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostUsage {
    /// CPUs the kernel counts in `/proc/stat`.
    pub cores: usize,
    /// Busy CPU (everything but idle and iowait), in cores.
    pub cpu_busy_cores: f64,
    /// `cpu_busy_cores / cores`, percent.
    pub cpu_busy_percent: f64,
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

/// The highest concurrency that met the SLOs, per profile and scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sustainable {
    /// Profile name.
    pub profile: String,
    /// Scenario name.
    pub scenario: String,
    /// Highest measured users meeting every SLO; None when no step met them.
    pub max_users: Option<u32>,
    /// Lowest measured users that broke an SLO (the knee lies between); None if none broke.
    pub first_failing_users: Option<u32>,
}

impl Run {
    /// Steps of one profile and scenario, in order of users.
    pub fn series(&self) -> Vec<((String, String), Vec<&Step>)> {
        let mut keys: Vec<(String, String)> = Vec::new();
        for step in &self.steps {
            let key = (step.profile.clone(), step.scenario.clone());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys.into_iter()
            .map(|key| {
                let mut steps: Vec<&Step> = self
                    .steps
                    .iter()
                    .filter(|s| s.profile == key.0 && s.scenario == key.1)
                    .collect();
                steps.sort_by_key(|s| s.users);
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
        self.sustainable = self
            .series()
            .into_iter()
            .map(|((profile, scenario), steps)| {
                let passed = |s: &&&Step| s.slo.as_ref().is_some_and(|o| o.passed);
                Sustainable {
                    max_users: steps.iter().filter(passed).map(|s| s.users).max(),
                    first_failing_users: steps.iter().filter(|s| !passed(s)).map(|s| s.users).min(),
                    profile,
                    scenario,
                }
            })
            .collect();
    }
}
