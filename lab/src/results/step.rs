//! One measured step of a bench (`run.json`'s `steps[]`), and what is drawn from it: the
//! latency users saw, the queue in front of nginx, its load level, its SLO metrics and
//! whether its views agree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::consistency::{self, Agreement, Views};
use super::figures::{ClientStats, HostUsage, LoadModel, NginxStats, ServiceUsage, SiegeSummary};
use super::slo::{self, SloOutcome, SloRule};
use super::verdict::Verdict;

/// The concurrency an open-model step's ceilings are measured at: the driver's own ceiling
/// and nginx's capped ceiling have no rate of their own, only as many connections as they
/// are given.
pub const OPEN_CEILING_USERS: u32 = 50;

/// One measured step: a profile, a scenario, a load level (users or a rate).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// Position in the run, from 0.
    pub index: usize,
    /// Profile name.
    pub profile: String,
    /// Scenario name (a hand-written URL file: its file stem).
    pub scenario: String,
    /// The load driver: `lab` (lab's own client) or `siege` (every run before lab had one).
    #[serde(default = "siege")]
    pub driver: String,
    /// `closed` (users) or `open` (a rate).
    #[serde(default)]
    pub model: LoadModel,
    /// Closed model: concurrent users (open model: 0).
    pub users: u32,
    /// Open model: requests per second offered (closed model: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    /// When the load started (UTC).
    pub started_at: DateTime<Utc>,
    /// Seconds since the run started, at the load's start (aligns with `Sample::t_secs`).
    pub start_offset_secs: f64,
    /// Wall-clock seconds the driver really ran (rates divide by the load's seconds: at most
    /// the asked duration plus one second).
    pub wall_secs: f64,
    /// URL file the driver read.
    pub urls_file: String,
    /// The driver's exit status (None when killed by a signal).
    #[serde(alias = "siege_exit_code")]
    pub driver_exit_code: Option<i32>,
    /// True when the driver hung on exit and lab stopped it (rates then use the asked
    /// duration).
    #[serde(default, alias = "siege_hung")]
    pub driver_hung: bool,
    /// siege's summary, when siege drove the step and printed one.
    pub siege: Option<SiegeSummary>,
    /// The driver's requests done per second of load (siege: transactions plus failed ones;
    /// lab's driver: answers), compared with its ceiling.
    #[serde(alias = "siege_transactions_per_s")]
    pub driver_requests_per_s: f64,
    /// The driver's own CPU seconds (user + system, all threads) for the step.
    #[serde(alias = "siege_cpu_seconds")]
    pub driver_cpu_seconds: f64,
    /// The driver's CPU in cores (CPU seconds / wall seconds).
    #[serde(alias = "siege_cpu_cores")]
    pub driver_cpu_cores: f64,
    /// The load as lab's driver saw it, per request, at the client: the latency users see.
    /// None when siege drove the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientStats>,
    /// What nginx saw for exactly this step (its access log, sliced by byte offsets).
    pub nginx: NginxStats,
    /// Per service: CPU, throttling, memory and OOM kills during the step.
    pub services: Vec<ServiceUsage>,
    /// The driver's ceiling at this load level, requests per second.
    pub ceiling_transactions_per_s: Option<f64>,
    /// This step's driver throughput as a percentage of the ceiling.
    pub ceiling_percent: Option<f64>,
    /// True when the driver, not the stack, was the limit (>= 80% of its ceiling, or its CPU
    /// near the machine's cores).
    #[serde(alias = "siege_bound")]
    pub driver_bound: bool,
    /// The whole machine's CPU over the load's own seconds (stack, driver and anything else
    /// running): tells when the machine itself, not a cap, was the limit. None in runs made
    /// before it was measured.
    #[serde(default)]
    pub host: Option<HostUsage>,
    /// Whether the step's figures agree with each other (Little's law, the client's latency
    /// against nginx's, requests sent against requests logged), and which to trust where
    /// they do not. Empty in runs made before it was checked.
    #[serde(default)]
    pub consistency: Vec<Agreement>,
    /// What saturated, with the evidence.
    pub verdict: Verdict,
    /// SLO outcome (None without `--slo`).
    pub slo: Option<SloOutcome>,
    /// For the stress scenario: HTTP status of the tree-growing request to the replica.
    pub stress_start_status: Option<u16>,
}

pub(super) fn siege() -> String {
    "siege".to_owned()
}

/// What users saw of a step: the client's view when lab's driver measured it, else nginx's
/// (every siege run). Not stored: drawn from the step's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// `client` or `nginx`.
    pub source: &'static str,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Only the client's histogram resolves it.
    pub p999_ms: Option<f64>,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub availability_percent: f64,
    /// Requests without an answer in time (the client's view only).
    pub timeouts: u64,
    pub status_429: u64,
    pub status_5xx: u64,
}

impl Step {
    /// The latency and throughput users saw.
    pub fn headline(&self) -> Headline {
        match &self.client {
            Some(c) => Headline {
                source: "client",
                requests_per_s: c.achieved_rate_per_s,
                p50_ms: c.latency.p50_ms,
                p90_ms: c.latency.p90_ms,
                p99_ms: c.latency.p99_ms,
                p999_ms: Some(c.latency.p999_ms),
                max_ms: c.latency.max_ms,
                mean_ms: c.latency.mean_ms,
                availability_percent: c.availability_percent,
                timeouts: c.timeouts,
                status_429: c.status_429,
                status_5xx: c.status_5xx,
            },
            None => {
                let n = &self.nginx;
                Headline {
                    source: "nginx",
                    requests_per_s: n.requests_per_s,
                    p50_ms: n.p50_ms,
                    p90_ms: n.p90_ms,
                    p99_ms: n.p99_ms,
                    p999_ms: None,
                    max_ms: n.max_ms,
                    mean_ms: n.mean_ms,
                    availability_percent: n.availability_percent,
                    timeouts: 0,
                    status_429: n.status_429,
                    status_5xx: n.status_5xx,
                }
            }
        }
    }

    /// How long a request waited beyond what nginx's `request_time` saw, on average, ms: the
    /// queue in front of nginx (and the client's own share). The client's mean minus nginx's;
    /// with siege, the client's mean by Little's law (users / rate). None without requests.
    pub fn queue_ms(&self) -> Option<f64> {
        if self.nginx.requests == 0 {
            return None;
        }
        let client_mean = match &self.client {
            Some(c) if c.responses > 0 => c.latency.mean_ms,
            Some(_) => return None,
            None if self.model == LoadModel::Closed && self.driver_requests_per_s > 0.0 => {
                1000.0 * f64::from(self.users) / self.driver_requests_per_s
            }
            None => return None,
        };
        Some(client_mean - self.nginx.mean_ms)
    }

    /// Where the step sits on its series' axis: users (closed) or the offered rate (open).
    pub fn level(&self) -> f64 {
        self.rate_per_s.unwrap_or(f64::from(self.users))
    }

    /// One endpoint's requests/s and p99 ms as users saw them: the client's, nginx's for a
    /// step siege drove. None when the endpoint had no requests in the step.
    pub fn endpoint_headline(&self, endpoint: &str) -> Option<(f64, f64)> {
        match &self.client {
            Some(c) => {
                let e = c.endpoints.iter().find(|e| e.endpoint == endpoint)?;
                Some((e.requests_per_s, e.latency.p99_ms))
            }
            None => {
                let e = self
                    .nginx
                    .endpoints
                    .iter()
                    .find(|e| e.endpoint == endpoint)?;
                Some((e.requests_per_s, e.p99_ms))
            }
        }
    }

    /// The users its ceilings were measured at: its own, or [`OPEN_CEILING_USERS`] for an
    /// open step.
    pub fn level_users(&self) -> Option<u32> {
        match self.model {
            LoadModel::Closed => Some(self.users),
            LoadModel::Open => Some(OPEN_CEILING_USERS),
        }
    }

    /// `50 users` or `1000/s`.
    pub fn level_label(&self) -> String {
        match self.rate_per_s {
            Some(rate) => format!("{rate:.0}/s"),
            None => format!("{} users", self.users),
        }
    }

    /// True when every consistency rule agreed (or none applied).
    pub fn views_agree(&self) -> bool {
        self.consistency.iter().all(|a| a.agrees)
    }

    /// The value of an SLO metric (`slo::METRICS`) for this step. Latency, throughput and
    /// availability are what users saw (the client's, nginx's for siege runs); `nginx_*` are
    /// nginx's own. None for siege's availability without a siege summary.
    pub fn metric(&self, metric: &str) -> Option<f64> {
        let n = &self.nginx;
        let h = self.headline();
        Some(match metric {
            "p50_ms" => h.p50_ms,
            "p90_ms" => h.p90_ms,
            "p99_ms" => h.p99_ms,
            "p999_ms" => h.p999_ms.unwrap_or(h.max_ms),
            "max_ms" => h.max_ms,
            "mean_ms" => h.mean_ms,
            "availability" => h.availability_percent,
            "rps" => h.requests_per_s,
            "nginx_p50_ms" => n.p50_ms,
            "nginx_p99_ms" => n.p99_ms,
            "nginx_availability" => n.availability_percent,
            "siege_availability" => self.siege.as_ref()?.availability?,
            "errors_5xx_percent" => n.errors_5xx_percent,
            "rate_limited_percent" => n.rate_limited_percent,
            _ => return None,
        })
    }

    /// Whether this step's views agree (see `results::consistency`).
    pub fn check_consistency(&self) -> Vec<Agreement> {
        consistency::check(&Views {
            model: self.model,
            users: self.users,
            rate_per_s: self.rate_per_s,
            client: self.client.as_ref(),
            siege: self.siege.as_ref(),
            driver_requests_per_s: self.driver_requests_per_s,
            nginx: &self.nginx,
            nginx_throttled_percent: self
                .services
                .iter()
                .find(|s| s.name == "nginx")
                .map(|s| s.cpu_throttled_percent),
            driver_cpu_cores: self.driver_cpu_cores,
            host_busy_percent: self.host.as_ref().map(|h| h.cpu_busy_percent),
        })
    }

    /// This step judged by `rules`. A step nginx saw no request for fails every rule:
    /// nothing served is never "within SLO".
    pub fn judge_slo(&self, rules: &[SloRule]) -> SloOutcome {
        slo::evaluate(rules, self.nginx.requests > 0, |metric| self.metric(metric))
    }
}
