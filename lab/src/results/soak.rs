//! `lab soak`'s data: a long run cut into windows, each with the normal users' figures and
//! every replica's resident memory, open file descriptors and pool connections, nginx's open
//! file descriptors; then, per series, its trend and a verdict.
//!
//! The trend rule, written once here and in docs/bench.md: the first third of the windows is
//! warm-up (pools fill, caches warm, allocators settle) and is left out; over the rest, the
//! least-squares slope times the span those windows cover is the series' growth during the
//! soak. A series fails when that growth exceeds both its share of the series' mean and its
//! floor: a resource that keeps growing through a soak is a leak, whatever its size, while a
//! wobble smaller than the floor is noise. Any 5xx, or availability under 99.9% in a window,
//! fails the soak too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::run::Machine;
use super::step::Step;
use contract::{DbKind, RuntimeKind};

/// Version of the `soak.json` layout; bumped when a field changes meaning.
pub const SOAK_SCHEMA_VERSION: u32 = 1;
/// Availability every window must keep, percent.
pub const MIN_AVAILABILITY_PERCENT: f64 = 99.9;

/// How much a series may grow over the analysed span: `share` of its mean and `floor` (in
/// the series' unit) must both be exceeded to fail.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Share of the series' mean its growth may reach (0.1: 10%).
    pub share_of_mean: f64,
    /// Growth always allowed, in the series' unit.
    pub floor: f64,
}

/// Resident memory of a replica (bytes): 10% and 4 MiB.
pub const RSS: Threshold = Threshold {
    share_of_mean: 0.10,
    floor: 4.0 * 1024.0 * 1024.0,
};
/// Open file descriptors (a replica's, or all of nginx's processes'): 10% and 32. Kept-alive
/// connections between nginx and the replicas come and go by a dozen or two from one reading
/// to the next; a leak shows as growth well past that.
pub const FDS: Threshold = Threshold {
    share_of_mean: 0.10,
    floor: 32.0,
};
/// Open pool connections of a replica: 10% and 3.
pub const POOL: Threshold = Threshold {
    share_of_mean: 0.10,
    floor: 3.0,
};
/// The normal users' p99 (ms): 50% and 50 ms.
pub const P99: Threshold = Threshold {
    share_of_mean: 0.50,
    floor: 50.0,
};

/// What the soak was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakSettings {
    /// The profile the stack ran under.
    pub profile: String,
    /// The database it ran on.
    pub db: DbKind,
    /// `native` or `compose`.
    pub runtime: RuntimeKind,
    /// The load: read, write or mixed.
    pub scenario: String,
    /// Concurrent users.
    pub users: u32,
    /// Seconds of load asked for.
    pub duration_secs: u64,
    /// Seconds per window.
    pub window_secs: u64,
}

/// One replica at the end of a window. `None`: that reading was not possible (a PID not
/// visible from where lab runs, a `/metrics` that did not answer).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ReplicaReading {
    /// The replica (`app1`, `app2`).
    pub name: String,
    /// `process_resident_memory_bytes` from the replica's own `/metrics`.
    pub rss_bytes: Option<u64>,
    /// Entries of `/proc/<pid>/fd`.
    pub fds: Option<u64>,
    /// `db_pool_connections` from its `/metrics`: connections its pool holds open.
    pub pool_connections: Option<u64>,
    /// `db_pool_idle_connections` from its `/metrics`: of those, idle.
    pub pool_idle_connections: Option<u64>,
    /// p99 of the window's requests this replica answered (nginx's log), ms.
    #[serde(default)]
    pub p99_ms: Option<f64>,
}

/// One window of the soak: its step's headline figures, the step itself, and the readings
/// taken right after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Position, from 0.
    pub index: usize,
    /// Seconds from the soak's start to the window's start.
    pub start_secs: f64,
    /// Seconds from the soak's start to the window's end (its readings taken).
    pub end_secs: f64,
    /// Requests nginx logged in the window.
    pub requests: u64,
    /// Requests per second of the window's load.
    pub requests_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// (2xx + 3xx) / answered, percent.
    pub availability_percent: f64,
    /// 5xx answers.
    pub status_5xx: u64,
    /// Each replica's readings.
    pub replicas: Vec<ReplicaReading>,
    /// Open file descriptors of all of nginx's processes (master and workers).
    pub nginx_fds: Option<u64>,
    /// The window's load measured as a bench step is (services' CPU, memory, throttling,
    /// per-endpoint figures, verdict); None in soaks recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
}

impl Window {
    /// The window of a measured step and the readings taken after it.
    pub fn of(
        step: Step,
        start_secs: f64,
        end_secs: f64,
        replicas: Vec<ReplicaReading>,
        nginx_fds: Option<u64>,
    ) -> Self {
        let n = &step.nginx;
        Self {
            index: step.index,
            start_secs,
            end_secs,
            requests: n.requests,
            requests_per_s: n.requests_per_s,
            p50_ms: n.p50_ms,
            p99_ms: n.p99_ms,
            availability_percent: n.availability_percent,
            status_5xx: n.status_5xx,
            replicas,
            nginx_fds,
            step: Some(step),
        }
    }
}

/// A series' trend over the analysed windows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trend {
    /// e.g. `app1 rss_bytes`, `nginx fds`, `p99_ms`.
    pub series: String,
    /// Windows analysed (after the warm-up third) and the span they cover, seconds.
    pub windows: usize,
    pub span_secs: f64,
    pub mean: f64,
    pub first: f64,
    pub last: f64,
    /// Least-squares slope, per second.
    pub slope_per_sec: f64,
    /// slope x span: how much the series grew over the analysed span.
    pub growth: f64,
    /// What growth may reach: max(share x mean, floor).
    pub allowed: f64,
    pub passed: bool,
}

/// The soak's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakVerdict {
    /// True when no series grew past what it may and no window had errors.
    pub passed: bool,
    /// Every series' trend.
    pub trends: Vec<Trend>,
    /// Windows with 5xx or availability under the minimum, and series never read.
    pub problems: Vec<String>,
}

/// What `soak.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakRun {
    /// Version of this file's layout (see `SOAK_SCHEMA_VERSION`).
    pub schema_version: u32,
    /// When the soak started (UTC).
    pub started_at: DateTime<Utc>,
    /// When it ended; None while running or when interrupted.
    pub finished_at: Option<DateTime<Utc>>,
    /// The exact command line, program name first.
    pub command_line: Vec<String>,
    /// What was asked for.
    pub settings: SoakSettings,
    /// The machine it ran on.
    pub machine: Machine,
    /// Every window, in order.
    pub windows: Vec<Window>,
    /// The trends and the verdict, once judged.
    pub verdict: Option<SoakVerdict>,
}

/// Least-squares slope of `points` (x, y); 0 with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return 0.0;
    }
    points
        .iter()
        .map(|p| (p.0 - mean_x) * (p.1 - mean_y))
        .sum::<f64>()
        / sxx
}

/// The trend of one series, its points being (window end, value), warm-up already removed.
pub fn trend(series: &str, points: &[(f64, f64)], threshold: Threshold) -> Trend {
    let n = points.len();
    let mean = if n == 0 {
        0.0
    } else {
        points.iter().map(|p| p.1).sum::<f64>() / n as f64
    };
    let span_secs = match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => 0.0,
    };
    let slope_per_sec = slope(points);
    let growth = slope_per_sec * span_secs;
    let allowed = (threshold.share_of_mean * mean).max(threshold.floor);
    Trend {
        series: series.to_owned(),
        windows: n,
        span_secs,
        mean,
        first: points.first().map_or(0.0, |p| p.1),
        last: points.last().map_or(0.0, |p| p.1),
        slope_per_sec,
        growth,
        allowed,
        passed: growth <= allowed,
    }
}

/// The windows a trend is computed over: all but the first third (at least two).
pub fn analysed(windows: &[Window]) -> &[Window] {
    let skip = (windows.len() / 3).min(windows.len().saturating_sub(2));
    &windows[skip..]
}

/// Every series' trend and every window's errors.
pub fn judge(windows: &[Window]) -> SoakVerdict {
    let mut problems = Vec::new();
    for w in windows {
        if w.status_5xx > 0 || w.availability_percent < MIN_AVAILABILITY_PERCENT {
            problems.push(format!(
                "window {} ({:.0}-{:.0} s): availability {:.3}%, {} 5xx",
                w.index, w.start_secs, w.end_secs, w.availability_percent, w.status_5xx
            ));
        }
    }
    let kept = analysed(windows);
    let mut trends = Vec::new();
    let mut push = |name: String, value: &dyn Fn(&Window) -> Option<f64>, threshold: Threshold| {
        let points: Vec<(f64, f64)> = kept
            .iter()
            .filter_map(|w| value(w).map(|v| (w.end_secs, v)))
            .collect();
        if points.len() < 2 {
            problems.push(format!("{name}: not read in enough windows to judge"));
            return;
        }
        trends.push(trend(&name, &points, threshold));
    };
    let names: Vec<String> = windows
        .first()
        .map(|w| w.replicas.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    for name in &names {
        let reading = |w: &Window| w.replicas.iter().find(|r| &r.name == name).cloned();
        push(
            format!("{name} rss_bytes"),
            &|w| reading(w)?.rss_bytes.map(|v| v as f64),
            RSS,
        );
        push(
            format!("{name} fds"),
            &|w| reading(w)?.fds.map(|v| v as f64),
            FDS,
        );
        push(
            format!("{name} pool_connections"),
            &|w| reading(w)?.pool_connections.map(|v| v as f64),
            POOL,
        );
    }
    push(
        "nginx fds".to_owned(),
        &|w| w.nginx_fds.map(|v| v as f64),
        FDS,
    );
    push("p99_ms".to_owned(), &|w| Some(w.p99_ms), P99);
    let passed = problems.is_empty() && trends.iter().all(|t| t.passed);
    SoakVerdict {
        passed,
        trends,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(index: usize, rss_mib: f64, fds: u64, p99: f64) -> Window {
        Window {
            index,
            start_secs: index as f64 * 30.0,
            end_secs: (index + 1) as f64 * 30.0,
            requests: 1000,
            requests_per_s: 33.0,
            p50_ms: 5.0,
            p99_ms: p99,
            availability_percent: 100.0,
            status_5xx: 0,
            replicas: vec![ReplicaReading {
                name: "app1".into(),
                rss_bytes: Some((rss_mib * 1048576.0) as u64),
                fds: Some(fds),
                pool_connections: Some(10),
                pool_idle_connections: Some(8),
                p99_ms: Some(p99),
            }],
            nginx_fds: Some(40),
            step: None,
        }
    }

    #[test]
    fn the_slope_of_a_line_is_its_rate() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 3.0 * i as f64 + 1.0)).collect();
        assert!((slope(&points) - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
    }

    #[test]
    fn a_flat_soak_with_noise_passes() {
        let windows: Vec<Window> = (0..20)
            .map(|i| {
                window(
                    i,
                    11.0 + if i % 2 == 0 { 0.3 } else { -0.3 },
                    30 + (i as u64 % 3),
                    100.0,
                )
            })
            .collect();
        let verdict = judge(&windows);
        assert!(verdict.passed, "{verdict:#?}");
        assert!(verdict.trends.iter().all(|t| t.windows == 14));
    }

    #[test]
    fn memory_that_keeps_growing_fails_even_when_small() {
        // 1 MiB per window, 10 minutes: 13 MiB over the analysed span, more than 4 MiB.
        let windows: Vec<Window> = (0..20)
            .map(|i| window(i, 11.0 + i as f64, 30, 100.0))
            .collect();
        let verdict = judge(&windows);
        assert!(!verdict.passed);
        let rss = verdict
            .trends
            .iter()
            .find(|t| t.series == "app1 rss_bytes")
            .unwrap();
        assert!(!rss.passed && rss.growth > rss.allowed, "{rss:?}");
        assert!(verdict.trends.iter().filter(|t| !t.passed).count() == 1);
    }

    #[test]
    fn leaking_descriptors_and_growing_latency_fail_and_errors_are_problems() {
        let mut windows: Vec<Window> = (0..12)
            .map(|i| window(i, 11.0, 30 + 5 * i as u64, 100.0 + 20.0 * i as f64))
            .collect();
        windows[5].status_5xx = 3;
        let verdict = judge(&windows);
        let failed: Vec<&str> = verdict
            .trends
            .iter()
            .filter(|t| !t.passed)
            .map(|t| t.series.as_str())
            .collect();
        assert_eq!(failed, ["app1 fds", "p99_ms"]);
        assert_eq!(verdict.problems.len(), 1);
        assert!(verdict.problems[0].contains("3 5xx"));
    }

    #[test]
    fn a_series_never_read_is_a_problem_not_a_pass() {
        let mut windows: Vec<Window> = (0..6).map(|i| window(i, 11.0, 30, 100.0)).collect();
        for w in &mut windows {
            w.nginx_fds = None;
        }
        let verdict = judge(&windows);
        assert!(!verdict.passed);
        assert!(verdict.problems.iter().any(|p| p.contains("nginx fds")));
    }
}
