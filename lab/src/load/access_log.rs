//! nginx's JSON access log (log_format `lab`, one object per line), read for exactly one step
//! by byte offsets taken before and after siege ran. Latency percentiles come from here
//! (`request_time`, seconds with millisecond resolution) through the lab's one percentile
//! method ([`Latencies`]), and so do the status split, availability ([`is_available`]) and
//! each replica's share: siege has neither.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::latency::Latencies;

use crate::results::{EndpointStats, NginxStats};

/// The fields of a log line lab uses (the format has more; they are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct LogLine {
    /// When the request ended, seconds since the epoch (ms resolution).
    #[serde(default)]
    pub msec: f64,
    pub status: u16,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub uri: String,
    /// Seconds from the first byte read to the last byte sent.
    pub request_time: f64,
    /// The replica that answered (empty for nginx's own answers).
    #[serde(default)]
    pub instance: String,
}

/// The parsable load lines of a slice (lab's control requests and garbage left out), for
/// checks that need single requests rather than [`stats`]: when a replica answered first,
/// how long the failures took.
pub fn entries(bytes: &[u8]) -> Vec<LogLine> {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<LogLine>(line).ok())
        .filter(|entry| !is_control(&entry.uri))
        .collect()
}

/// Paths lab requests itself (stress control, health): not part of the measured load.
fn is_control(uri: &str) -> bool {
    contract::routes::is_control(uri)
}

/// The log's current length: a step's start or end offset.
pub fn offset(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Reads the bytes from `start` to `end`, stopping after the last complete line. If the log
/// shrank (rotated or truncated by a restart), reads from its start.
pub fn read_slice(path: &Path, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    let start = if end < start { 0 } else { start };
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(end - start).read_to_end(&mut bytes)?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(complete);
    Ok(bytes)
}

/// Counts complete lines in a chunk (live requests/s while siege runs).
pub fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// Statistics of one step's log lines; `wall_secs` turns counts into rates.
pub fn stats(bytes: &[u8], wall_secs: f64) -> NginxStats {
    let mut latencies = Latencies::default();
    let mut stats = NginxStats::default();
    let mut available = 0u64;
    let mut endpoints: BTreeMap<String, (Latencies, EndpointStats)> = BTreeMap::new();
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(entry) = serde_json::from_slice::<LogLine>(line) else {
            stats.unparsable_lines += 1;
            continue;
        };
        if is_control(&entry.uri) {
            continue;
        }
        stats.requests += 1;
        if is_available(entry.status) {
            available += 1;
        }
        count_status(&mut stats, entry.status);
        // A 499 was answered by nobody: it says nothing about the balance.
        if entry.status != 499 {
            let replica = if entry.instance.is_empty() {
                "nginx".to_owned()
            } else {
                entry.instance
            };
            *stats.replicas.entry(replica).or_insert(0) += 1;
        }
        latencies.record_ms(entry.request_time * 1000.0);
        let (endpoint_latencies, endpoint_stats) = endpoints
            .entry(endpoint(&entry.method, &entry.uri))
            .or_default();
        endpoint_latencies.record_ms(entry.request_time * 1000.0);
        endpoint_stats.requests += 1;
        match entry.status {
            429 => endpoint_stats.status_429 += 1,
            499 => {}
            400..=498 => endpoint_stats.status_4xx += 1,
            500.. => endpoint_stats.status_5xx += 1,
            _ => {}
        }
    }
    if stats.requests == 0 {
        return stats;
    }
    stats.requests_per_s = if wall_secs > 0.0 {
        stats.requests as f64 / wall_secs
    } else {
        0.0
    };
    stats.endpoints = endpoint_rows(endpoints, wall_secs);
    stats.p50_ms = latencies.quantile(0.50);
    stats.p90_ms = latencies.quantile(0.90);
    stats.p99_ms = latencies.quantile(0.99);
    stats.max_ms = latencies.max();
    stats.mean_ms = latencies.mean();
    // Requests siege cut at the end of the step (499) were never answered: leave them out.
    let answered = (stats.requests - stats.status_499) as f64;
    if answered > 0.0 {
        let percent = |n: u64| 100.0 * n as f64 / answered;
        stats.availability_percent = percent(available);
        stats.rate_limited_percent = percent(stats.status_429);
        stats.errors_5xx_percent = percent(stats.status_5xx);
    }
    stats
}

/// Adds one request to its status class (429 and 499 apart from the other 4xx).
fn count_status(stats: &mut NginxStats, status: u16) {
    match status {
        200..=299 => stats.status_2xx += 1,
        300..=399 => stats.status_3xx += 1,
        429 => stats.status_429 += 1,
        499 => stats.status_499 += 1,
        400..=498 => stats.status_4xx += 1,
        _ => stats.status_5xx += 1,
    }
}

/// Each endpoint's rate and percentiles, the busiest first (ties by name, so the order is
/// stable).
fn endpoint_rows(
    endpoints: BTreeMap<String, (Latencies, EndpointStats)>,
    wall_secs: f64,
) -> Vec<EndpointStats> {
    let rate = |n: u64| {
        if wall_secs > 0.0 {
            n as f64 / wall_secs
        } else {
            0.0
        }
    };
    let mut rows: Vec<EndpointStats> = endpoints
        .into_iter()
        .map(|(name, (l, mut e))| {
            e.endpoint = name;
            e.requests_per_s = rate(e.requests);
            e.p50_ms = l.quantile(0.50);
            e.p90_ms = l.quantile(0.90);
            e.p99_ms = l.quantile(0.99);
            e.max_ms = l.max();
            e
        })
        .collect();
    rows.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then(a.endpoint.cmp(&b.endpoint))
    });
    rows
}

/// Method and route pattern of a request: numeric path segments become `{id}`, and a query
/// with any parameter besides the page's (`limit`, `offset`, `after`, `total`) adds `?filter`, so a list and a
/// search of the same path are told apart (`GET /disks`, `GET /disks?filter`).
pub fn endpoint(method: &str, uri: &str) -> String {
    const PAGE_PARAMETERS: [&str; 4] = ["limit", "offset", "after", "total"];
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let pattern: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                segment
            }
        })
        .collect();
    let filtered = query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .any(|name| !name.is_empty() && !PAGE_PARAMETERS.contains(&name));
    let method = if method.is_empty() { "-" } else { method };
    format!(
        "{method} {}{}",
        pattern.join("/"),
        if filtered { "?filter" } else { "" }
    )
}

/// The lab's one definition of an available answer: 2xx or 3xx. A 499 (the client left
/// before the answer, as siege does at a step's end) is no answer and is counted nowhere.
pub fn is_available(status: u16) -> bool {
    (200..400).contains(&status)
}

/// Availability of a set of log lines, percent (100 when there is none), and how many were
/// answered (499s left out), by the same rule as [`stats`].
pub fn availability_percent<'a>(lines: impl IntoIterator<Item = &'a LogLine>) -> (f64, u64) {
    let (mut ok, mut answered) = (0u64, 0u64);
    for line in lines {
        if line.status == 499 {
            continue;
        }
        answered += 1;
        if is_available(line.status) {
            ok += 1;
        }
    }
    let percent = if answered == 0 {
        100.0
    } else {
        100.0 * ok as f64 / answered as f64
    };
    (percent, answered)
}

/// Share of requests per replica, percent.
pub fn replica_shares(stats: &NginxStats) -> BTreeMap<String, f64> {
    let total: u64 = stats.replicas.values().sum();
    stats
        .replicas
        .iter()
        .map(|(name, n)| (name.clone(), 100.0 * *n as f64 / total.max(1) as f64))
        .collect()
}

/// The log's length once nginx has written the step's last lines: a request's line is
/// written when it ends, and a buffered `access_log` (`buffer=... flush=1s`) holds lines for
/// up to its flush time. Waits until the size has not changed for 1.2 s (at most 4 s).
pub fn settled_offset(log: &Path) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut size = offset(log);
    let mut stable_since = Instant::now();
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_millis(1200) {
        std::thread::sleep(Duration::from_millis(100));
        let now = offset(log);
        if now != size {
            size = now;
            stable_since = Instant::now();
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: u16, secs: f64, instance: &str, uri: &str) -> String {
        format!(
            "{{\"t\":\"2025-01-01T00:00:00+00:00\",\"msec\":1.0,\"status\":{status},\"method\":\"GET\",\"uri\":\"{uri}\",\"request_time\":{secs:.3},\"upstream_response_time\":\"{secs:.3}\",\"upstream_addr\":\"127.0.0.1:1\",\"upstream_status\":\"{status}\",\"bytes\":10,\"instance\":\"{instance}\"}}\n"
        )
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut log = String::new();
        for i in 0..1000 {
            let secs = if i % 10 == 0 { 0.200 } else { 0.020 };
            log.push_str(&line(
                200,
                secs,
                if i % 2 == 0 { "app1" } else { "app2" },
                "/disks/1",
            ));
        }
        let s = stats(log.as_bytes(), 10.0);
        assert_eq!(s.requests, 1000);
        assert_eq!(s.p50_ms, 20.0);
        // Exactly 90% of requests took 20 ms, so the 90th percentile is still 20 ms.
        assert_eq!(s.p90_ms, 20.0);
        assert_eq!(s.p99_ms, 200.0);
        assert_eq!(s.max_ms, 200.0);
        assert!((s.mean_ms - 38.0).abs() < 1e-9);
        assert_eq!(s.requests_per_s, 100.0);
        assert_eq!(s.replicas["app1"], 500);
        assert_eq!(s.availability_percent, 100.0);
    }

    #[test]
    fn endpoints_are_method_and_route_pattern_with_searches_apart() {
        assert_eq!(endpoint("GET", "/disks/42"), "GET /disks/{id}");
        assert_eq!(endpoint("GET", "/disks?limit=20&offset=400"), "GET /disks");
        assert_eq!(
            endpoint("GET", "/disks?limit=20&after=400&total=true"),
            "GET /disks"
        );
        assert_eq!(
            endpoint("GET", "/disks?artist=x&limit=20"),
            "GET /disks?filter"
        );
        assert_eq!(
            endpoint("GET", "/customers/7/orders?limit=5"),
            "GET /customers/{id}/orders"
        );
        assert_eq!(endpoint("POST", "/orders"), "POST /orders");
        assert_eq!(endpoint("", ""), "- ");
    }

    #[test]
    fn every_endpoint_gets_its_own_rate_percentiles_and_errors() {
        let mut log = String::new();
        for i in 0..100 {
            log.push_str(&line(
                200,
                0.001 * (i % 10 + 1) as f64,
                "app1",
                &format!("/disks/{i}"),
            ));
        }
        for _ in 0..30 {
            log.push_str(&line(200, 0.200, "app2", "/disks?title=a"));
        }
        log.push_str(&line(503, 0.500, "app2", "/disks?title=a"));
        log.push_str(&line(429, 0.0, "", "/disks?limit=5"));
        let s = stats(log.as_bytes(), 2.0);
        let names: Vec<&str> = s.endpoints.iter().map(|e| e.endpoint.as_str()).collect();
        assert_eq!(
            names,
            ["GET /disks/{id}", "GET /disks?filter", "GET /disks"]
        );
        let by_id = &s.endpoints[0];
        assert_eq!((by_id.requests, by_id.requests_per_s), (100, 50.0));
        assert_eq!(
            (by_id.p50_ms, by_id.p99_ms, by_id.max_ms),
            (5.0, 10.0, 10.0)
        );
        let search = &s.endpoints[1];
        assert_eq!(
            (search.requests, search.status_5xx, search.p50_ms),
            (31, 1, 200.0)
        );
        assert_eq!(s.endpoints[2].status_429, 1);
        assert_eq!(
            s.endpoints.iter().map(|e| e.requests).sum::<u64>(),
            s.requests
        );
    }

    #[test]
    fn statuses_split_and_control_requests_are_left_out() {
        let mut log = String::new();
        for _ in 0..70 {
            log.push_str(&line(200, 0.001, "app1", "/disks/1"));
        }
        for _ in 0..10 {
            log.push_str(&line(429, 0.0, "", "/disks/1"));
        }
        for _ in 0..15 {
            log.push_str(&line(503, 0.002, "app2", "/orders"));
        }
        for _ in 0..5 {
            log.push_str(&line(404, 0.001, "app2", "/disks/0"));
        }
        log.push_str(&line(499, 1.0, "", "/disks/1"));
        log.push_str(&line(202, 0.0, "app1", "/replicas/app1/start"));
        log.push_str("not json\n");
        let s = stats(log.as_bytes(), 1.0);
        assert_eq!(s.requests, 101);
        assert_eq!(
            (
                s.status_2xx,
                s.status_4xx,
                s.status_429,
                s.status_499,
                s.status_5xx
            ),
            (70, 5, 10, 1, 15)
        );
        assert_eq!(s.unparsable_lines, 1);
        assert_eq!(s.availability_percent, 70.0);
        assert_eq!(s.rate_limited_percent, 10.0);
        assert_eq!(s.errors_5xx_percent, 15.0);
        // The 429s are nginx's own answers; the 499 counts for nobody.
        assert_eq!(s.replicas["nginx"], 10);
        let shares = replica_shares(&s);
        assert!((shares.values().sum::<f64>() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn slices_stop_at_the_last_complete_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, "one\ntwo\nthr").unwrap();
        let end = offset(&path);
        assert_eq!(read_slice(&path, 0, end).unwrap(), b"one\ntwo\n");
        assert_eq!(read_slice(&path, 4, end).unwrap(), b"two\n");
        // A log that shrank is read from its start.
        assert_eq!(read_slice(&path, 100, end).unwrap(), b"one\ntwo\n");
        assert_eq!(count_lines(b"a\nb\n"), 2);
    }
}
