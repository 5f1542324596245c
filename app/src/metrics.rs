//! Request metrics in the Prometheus text format, kept cheap on the hot path.
//!
//! Every counter is a preallocated atomic indexed by (route pattern, method, status class), so
//! recording a request is a few relaxed `fetch_add`s: no lock, no map, no allocation beyond
//! actix's own matched-pattern string. Routes are labelled by their *pattern* (`/disks/{id}`),
//! never the raw path, so the series count stays fixed whatever clients send.
//!
//! The patterns are the router's own (`startup::route_patterns`, given to [`Metrics::new`]),
//! not a list kept here: a new route has its series without a second registration. The
//! metric names are the contract's (`contract::metrics`), which the lab and the dashboard
//! tests read too; the help texts are this module's.

use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use contract::metrics::{
    DB_ORDERS_BATCHED_TOTAL, DB_ORDER_BATCHES_TOTAL, DB_POOL_ACQUIRES_TOTAL, DB_POOL_CONNECTIONS,
    DB_POOL_IDLE_CONNECTIONS, DB_POOL_MAX_CONNECTIONS, DB_POOL_WAITS_TOTAL,
    DB_POOL_WAIT_SECONDS_TOTAL, DB_READS_BATCHED_TOTAL, DB_READ_BATCHES_TOTAL,
    HTTP_REQUESTS_IN_FLIGHT, HTTP_REQUESTS_TOTAL, HTTP_REQUEST_DURATION_SECONDS,
    PROCESS_CPU_SECONDS_TOTAL, PROCESS_RESIDENT_MEMORY_BYTES,
};

use crate::db::PoolSnapshot;

/// The label of requests that matched no route pattern (unknown routes).
const UNMATCHED: &str = "unmatched";
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "other"];
/// Status codes this API answers; anything else is counted under its class (`2xx`…).
const STATUSES: &[u16] = &[
    200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503,
];
const STATUS_CLASSES: &[&str] = &["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Latency histogram upper bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

const STATUS_SLOTS: usize = STATUSES.len() + STATUS_CLASSES.len();
const BUCKET_SLOTS: usize = BUCKETS.len() + 1;

/// The process-wide request counters, shared by every HTTP worker.
pub struct Metrics {
    /// Route patterns with their own series; index 0 is [`UNMATCHED`].
    routes: Vec<&'static str>,
    /// [route][method][status slot]
    requests: Vec<AtomicU64>,
    /// [route][method][bucket], not cumulative (made cumulative when rendered).
    latency_buckets: Vec<AtomicU64>,
    /// [route][method], microseconds.
    latency_sum_micros: Vec<AtomicU64>,
    in_flight: AtomicI64,
}

fn zeroed(len: usize) -> Vec<AtomicU64> {
    std::iter::repeat_with(AtomicU64::default)
        .take(len)
        .collect()
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        _ => 4,
    }
}

fn status_slot(status: StatusCode) -> usize {
    let code = status.as_u16();
    match STATUSES.iter().position(|s| *s == code) {
        Some(slot) => slot,
        None => STATUSES.len() + usize::from(code / 100).clamp(1, 5) - 1,
    }
}

fn status_label(slot: usize) -> String {
    match STATUSES.get(slot) {
        Some(code) => code.to_string(),
        None => STATUS_CLASSES[slot - STATUSES.len()].to_owned(),
    }
}

fn bucket_slot(seconds: f64) -> usize {
    BUCKETS
        .iter()
        .position(|le| seconds <= *le)
        .unwrap_or(BUCKETS.len())
}

/// Decrements the in-flight gauge even when the request future is dropped mid-way.
struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counters for `patterns`, the router's route patterns.
    pub fn new(patterns: impl IntoIterator<Item = &'static str>) -> Arc<Self> {
        let routes: Vec<&'static str> = std::iter::once(UNMATCHED).chain(patterns).collect();
        let series = routes.len() * METHODS.len();
        Arc::new(Self {
            routes,
            requests: zeroed(series * STATUS_SLOTS),
            latency_buckets: zeroed(series * BUCKET_SLOTS),
            latency_sum_micros: zeroed(series),
            in_flight: AtomicI64::new(0),
        })
    }

    /// The patterns with their own series (the router's), [`UNMATCHED`] first.
    pub fn route_patterns(&self) -> &[&'static str] {
        &self.routes
    }

    fn route_index(&self, pattern: Option<&str>) -> usize {
        pattern
            .and_then(|p| self.routes.iter().position(|r| *r == p))
            .unwrap_or(0)
    }

    fn record(&self, route: usize, method: usize, status: StatusCode, started: Instant) {
        let series = route * METHODS.len() + method;
        let elapsed = started.elapsed();
        self.requests[series * STATUS_SLOTS + status_slot(status)].fetch_add(1, Ordering::Relaxed);
        self.latency_buckets[series * BUCKET_SLOTS + bucket_slot(elapsed.as_secs_f64())]
            .fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros[series].fetch_add(micros, Ordering::Relaxed);
    }

    /// Middleware body (see `startup`): counts the request under its matched route pattern.
    pub async fn track(
        self: Arc<Self>,
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        let started = Instant::now();
        let method = method_index(req.method());
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&self.in_flight);
        let result = next.call(req).await;
        match &result {
            Ok(res) => {
                let route = self.route_index(res.request().match_pattern().as_deref());
                self.record(route, method, res.status(), started);
            }
            Err(err) => {
                let status = err.as_response_error().status_code();
                self.record(0, method, status, started);
            }
        }
        result
    }

    /// Appends the HTTP metrics, the pool's and the process's, in the text format.
    pub fn write_prometheus(&self, out: &mut String, pool: &PoolSnapshot) {
        self.write_requests(out);
        self.write_latency(out);
        write_sample(
            out,
            HTTP_REQUESTS_IN_FLIGHT,
            Kind::Gauge,
            "Requests being served now.",
            // This scrape itself is in flight; report the others.
            (self.in_flight.load(Ordering::Relaxed) - 1).max(0),
        );
        write_pool(out, pool);
        write_process(out);
    }

    fn write_requests(&self, out: &mut String) {
        write_header(
            out,
            HTTP_REQUESTS_TOTAL,
            Kind::Counter,
            "Requests answered, by route pattern, method and status.",
        );
        for (route, route_name) in self.routes.iter().enumerate() {
            for (method, method_name) in METHODS.iter().enumerate() {
                let series = route * METHODS.len() + method;
                for slot in 0..STATUS_SLOTS {
                    let count = self.requests[series * STATUS_SLOTS + slot].load(Ordering::Relaxed);
                    if count > 0 {
                        let _ = writeln!(
                            out,
                            "{HTTP_REQUESTS_TOTAL}{{route=\"{route_name}\",method=\"{method_name}\",status=\"{}\"}} {count}",
                            status_label(slot)
                        );
                    }
                }
            }
        }
    }

    fn write_latency(&self, out: &mut String) {
        write_header(
            out,
            HTTP_REQUEST_DURATION_SECONDS,
            Kind::Histogram,
            "Time from request to response, by route pattern and method.",
        );
        for (route, route_name) in self.routes.iter().enumerate() {
            for (method, method_name) in METHODS.iter().enumerate() {
                let series = route * METHODS.len() + method;
                let counts: Vec<u64> = (0..BUCKET_SLOTS)
                    .map(|b| {
                        self.latency_buckets[series * BUCKET_SLOTS + b].load(Ordering::Relaxed)
                    })
                    .collect();
                let total: u64 = counts.iter().sum();
                if total == 0 {
                    continue;
                }
                let labels = format!("route=\"{route_name}\",method=\"{method_name}\"");
                let mut cumulative = 0;
                for (le, count) in BUCKETS.iter().zip(&counts) {
                    cumulative += count;
                    let _ = writeln!(
                        out,
                        "{HTTP_REQUEST_DURATION_SECONDS}_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                    );
                }
                let sum = self.latency_sum_micros[series].load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "{HTTP_REQUEST_DURATION_SECONDS}_bucket{{{labels},le=\"+Inf\"}} {total}\n\
                     {HTTP_REQUEST_DURATION_SECONDS}_sum{{{labels}}} {sum}\n\
                     {HTTP_REQUEST_DURATION_SECONDS}_count{{{labels}}} {total}"
                );
            }
        }
    }
}

/// What `# TYPE` says a metric is.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metric's `# HELP` and `# TYPE` lines; its samples follow.
pub fn write_header(out: &mut String, name: &str, kind: Kind, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {}", kind.as_str());
}

/// A metric with one sample and no labels: its header and its value.
pub fn write_sample(out: &mut String, name: &str, kind: Kind, help: &str, value: impl Display) {
    write_header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn write_pool(out: &mut String, pool: &PoolSnapshot) {
    use Kind::{Counter, Gauge};
    let orders = &pool.order_batches;
    let reads = &pool.disk_read_batches;
    let samples: [(&str, Kind, &str, &dyn Display); 10] = [
        (
            DB_POOL_CONNECTIONS,
            Gauge,
            "Open database connections.",
            &pool.size,
        ),
        (
            DB_POOL_IDLE_CONNECTIONS,
            Gauge,
            "Open connections not in use.",
            &pool.idle,
        ),
        (
            DB_POOL_MAX_CONNECTIONS,
            Gauge,
            "The pool's cap (DB_POOL_MAX).",
            &pool.max,
        ),
        (
            DB_POOL_ACQUIRES_TOTAL,
            Counter,
            "Connections taken from the pool.",
            &pool.acquires_total,
        ),
        (
            DB_POOL_WAITS_TOTAL,
            Counter,
            "Acquisitions that found no idle connection and waited.",
            &pool.waits_total,
        ),
        (
            DB_POOL_WAIT_SECONDS_TOTAL,
            Counter,
            "Time spent waiting for a connection.",
            &pool.wait_seconds_total,
        ),
        (
            DB_ORDER_BATCHES_TOTAL,
            Counter,
            "Statements that placed two or more orders together.",
            &orders.batches_total,
        ),
        (
            DB_ORDERS_BATCHED_TOTAL,
            Counter,
            "Orders placed by those statements.",
            &orders.batched_total,
        ),
        (
            DB_READ_BATCHES_TOTAL,
            Counter,
            "Statements that answered two or more reads of a disk by id.",
            &reads.batches_total,
        ),
        (
            DB_READS_BATCHED_TOTAL,
            Counter,
            "Reads of a disk by id answered by those statements.",
            &reads.batched_total,
        ),
    ];
    for (name, kind, help, value) in samples {
        write_sample(out, name, kind, help, value);
    }
}

fn write_process(out: &mut String) {
    if let Some(rss) = resident_memory_bytes() {
        let help = "Resident set size.";
        write_sample(out, PROCESS_RESIDENT_MEMORY_BYTES, Kind::Gauge, help, rss);
    }
    if let Some(cpu) = cpu_seconds() {
        let help = "User and system CPU time.";
        write_sample(out, PROCESS_CPU_SECONDS_TOTAL, Kind::Counter, help, cpu);
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// RSS from `/proc/self/statm` (second field, in pages).
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// utime + stime from `/proc/self/stat`, in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::batch_queue::BatchStats;

    #[test]
    fn statuses_outside_the_list_fall_into_their_class() {
        assert_eq!(status_label(status_slot(StatusCode::OK)), "200");
        assert_eq!(status_label(status_slot(StatusCode::IM_A_TEAPOT)), "4xx");
        assert_eq!(
            status_label(status_slot(StatusCode::GATEWAY_TIMEOUT)),
            "5xx"
        );
    }

    /// Counters for a few of the router's patterns (`startup`'s tests check the real list).
    fn metrics() -> Arc<Metrics> {
        Metrics::new(["/", "/disks", "/disks/{id}", "/orders"])
    }

    #[test]
    fn unknown_patterns_are_unmatched_not_raw_paths() {
        let metrics = metrics();
        let label = |pattern| metrics.routes[metrics.route_index(pattern)];
        assert_eq!(label(Some("/disks/{id}")), "/disks/{id}");
        assert_eq!(label(Some("/disks/42")), "unmatched");
        assert_eq!(label(None), "unmatched");
    }

    #[test]
    fn latency_lands_in_the_first_bucket_that_holds_it() {
        assert_eq!(bucket_slot(0.0001), 0);
        assert_eq!(bucket_slot(0.001), 1);
        assert_eq!(bucket_slot(100.0), BUCKETS.len());
    }

    #[test]
    fn rendering_reports_recorded_requests_cumulatively() {
        let metrics = metrics();
        let route = metrics.route_index(Some("/disks/{id}"));
        metrics.record(route, 0, StatusCode::OK, Instant::now());
        metrics.record(route, 0, StatusCode::NOT_FOUND, Instant::now());
        let mut out = String::new();
        let pool = PoolSnapshot {
            size: 1,
            idle: 1,
            max: 5,
            acquires_total: 2,
            waits_total: 1,
            wait_seconds_total: 0.5,
            order_batches: BatchStats {
                batches_total: 3,
                batched_total: 20,
            },
            disk_read_batches: BatchStats {
                batches_total: 4,
                batched_total: 50,
            },
        };
        metrics.write_prometheus(&mut out, &pool);
        assert!(out.contains(
            "http_requests_total{route=\"/disks/{id}\",method=\"GET\",status=\"404\"} 1"
        ));
        assert!(out.contains(
            "http_request_duration_seconds_count{route=\"/disks/{id}\",method=\"GET\"} 2"
        ));
        assert!(out.contains(
            "http_request_duration_seconds_bucket{route=\"/disks/{id}\",method=\"GET\",le=\"+Inf\"} 2"
        ));
        assert!(out.contains("db_pool_waits_total 1"));
        assert!(out.contains("db_order_batches_total 3"));
        assert!(out.contains("db_orders_batched_total 20"));
        assert!(out.contains("db_read_batches_total 4"));
        assert!(out.contains("db_reads_batched_total 50"));
    }
}
