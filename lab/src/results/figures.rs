//! What a step measured of the stack: nginx's figures (overall and per endpoint), each
//! service's resources, the machine's CPU, and siege's own summary. The verdict reads them,
//! a step keeps them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// How a load offers its requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    /// A fixed number of users, each sending its next request when the last one is
    /// answered (siege, wrk): a stall holds the users back, so fewer requests meet it.
    #[default]
    Closed,
    /// Requests arrive at a fixed rate whatever the stack does (wrk2, k6's arrival rates):
    /// latency counts from each request's intended start, so a stall is seen in full.
    Open,
}

/// How an open load spaces its arrivals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly: one request every 1/rate seconds (the reproducible default).
    #[default]
    Constant,
    /// As independent users arrive: exponential gaps with mean 1/rate.
    Poisson,
}

impl Arrivals {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Arrivals::Constant => "constant",
            Arrivals::Poisson => "poisson",
        }
    }
}

/// Latency percentiles of a set of requests, ms with µs resolution (an HDR histogram of
/// microseconds, 3 significant digits).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencyMs {
    /// Requests counted.
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// One endpoint as the client saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientEndpoint {
    /// Method and route pattern, as nginx's endpoints are named.
    pub endpoint: String,
    /// Answers received per second of load.
    pub requests_per_s: f64,
    /// Latency of its answered (and timed-out) requests.
    pub latency: LatencyMs,
    /// 4xx answers other than 429.
    pub status_4xx: u64,
    pub status_429: u64,
    pub status_5xx: u64,
    /// Requests without an answer in time.
    pub timeouts: u64,
    /// Requests that failed below HTTP (refused, reset connections).
    pub errors: u64,
}

/// The load as lab's own driver saw it, per request, at the client: the latency users see,
/// from each request's send (closed model) or intended start (open model) to its last byte.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientStats {
    /// closed or open.
    pub model: LoadModel,
    /// Closed: concurrent users (one connection each).
    pub users: Option<u32>,
    /// Open: requests per second offered.
    pub offered_rate_per_s: Option<f64>,
    /// Open: how arrivals were spaced.
    pub arrivals: Option<Arrivals>,
    /// Seconds of load: the schedule's length (less when SIGINT cut it short).
    pub load_secs: f64,
    /// Seconds from the load's start to its last answer: the load's seconds, or more when the
    /// stack answered the last requests after the schedule ended (an overloaded step). The
    /// rates divide by these. 0 in runs made before it was recorded (then the load's seconds).
    #[serde(default)]
    pub active_secs: f64,
    /// Requests whose time came (closed: sent; open: due by the schedule).
    pub requests_due: u64,
    /// Requests written to a connection.
    pub requests_sent: u64,
    /// Answers received (any status).
    pub responses: u64,
    /// Answers received per second from the start to the last answer: the achieved rate.
    pub achieved_rate_per_s: f64,
    /// Open: requests sent more than 10 ms after their intended start (no free connection
    /// in time: the client's own queue, which the latency includes).
    pub sent_late: u64,
    /// Open: requests never sent before their timeout (counted as timeouts).
    pub unsent: u64,
    /// Open: 99th percentile of the delay between intended start and send, ms.
    pub send_delay_p99_ms: f64,
    /// Requests without an answer within the timeout (unsent included).
    pub timeouts: u64,
    /// Requests that failed below HTTP (connection refused or reset).
    pub errors: u64,
    /// Those failures by why: `connection refused`, `connection reset`, `closed by the
    /// server`, `connect timed out`, the driver's own machine out of local ports or file
    /// descriptors, `other`.
    #[serde(default)]
    pub failures: std::collections::BTreeMap<String, u64>,
    /// Failures in the driver itself (its machine out of local ports or descriptors): such a
    /// step measured the driver, not the stack.
    #[serde(default)]
    pub driver_failures: u64,
    /// Per-request timeout, seconds.
    pub timeout_secs: f64,
    /// Connections opened (closed: at least the users; open: as many as the load needed,
    /// up to the cap).
    pub connections: u64,
    /// Time-averaged requests in the system (due but not answered), from samples every
    /// 10 ms: Little's law's L, measured.
    pub mean_in_flight: f64,
    /// Latency of every answered (and timed-out) request.
    pub latency: LatencyMs,
    pub status_2xx: u64,
    pub status_3xx: u64,
    /// 4xx answers other than 429.
    pub status_4xx: u64,
    pub status_429: u64,
    pub status_5xx: u64,
    /// (2xx + 3xx) / (answers + timeouts + errors), percent.
    pub availability_percent: f64,
    /// Per endpoint, busiest first.
    pub endpoints: Vec<ClientEndpoint>,
    /// Every latency, µs, as an HDR histogram (V2 deflate, base64): merged by `lab ab` and
    /// comparisons.
    pub histogram: String,
}

impl ClientStats {
    /// Requests that failed in the driver itself, as a share of those due, percent.
    pub fn driver_failures_percent(&self) -> f64 {
        100.0 * self.driver_failures as f64 / self.requests_due.max(1) as f64
    }
}
