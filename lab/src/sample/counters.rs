//! A service's cumulative counters as one reading holds them, and what happened between two
//! readings: the unit every reader (cgroup files, the Engine API, /proc) produces.

use chrono::{DateTime, Utc};

/// One reading of a service's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// Cumulative CPU time, ns.
    pub cpu_usage_ns: u64,
    /// Cumulative CFS periods (cgroups only).
    pub periods: u64,
    /// Cumulative throttled periods.
    pub throttled_periods: u64,
    /// Cumulative throttled time, ns.
    pub throttled_ns: u64,
    /// Memory in use now, bytes.
    pub memory_current_bytes: u64,
    /// Peak memory the kernel tracks (v1 max_usage_in_bytes, v2 memory.peak), bytes.
    pub memory_peak_bytes: Option<u64>,
    /// Cumulative OOM kills.
    pub oom_kills: u64,
    /// When the counters were read: the engine's own timestamp for a container (a `stats`
    /// call can take most of a second, so the time lab asked is not when they were read),
    /// lab's clock for the kernel's files.
    pub read_at: Option<DateTime<Utc>>,
}

/// What happened between two readings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Delta {
    pub cpu_seconds: f64,
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_secs: f64,
    pub oom_kills: u64,
}

impl Delta {
    /// Throttled periods over periods, percent.
    pub fn throttled_percent(&self) -> f64 {
        if self.periods == 0 {
            0.0
        } else {
            100.0 * self.throttled_periods as f64 / self.periods as f64
        }
    }
}

impl Counters {
    /// Seconds between this reading and a later one; None when either has no time.
    pub fn secs_until(&self, later: &Counters) -> Option<f64> {
        let (a, b) = (self.read_at?, later.read_at?);
        let secs = (b - a).num_microseconds()? as f64 / 1e6;
        (secs > 0.0).then_some(secs)
    }

    /// `later - self`; a counter that went backwards (the service restarted into a new
    /// process or cgroup) counts from zero.
    pub fn delta(&self, later: &Counters) -> Delta {
        let diff = |a: u64, b: u64| if b >= a { b - a } else { b };
        Delta {
            cpu_seconds: diff(self.cpu_usage_ns, later.cpu_usage_ns) as f64 / 1e9,
            periods: diff(self.periods, later.periods),
            throttled_periods: diff(self.throttled_periods, later.throttled_periods),
            throttled_secs: diff(self.throttled_ns, later.throttled_ns) as f64 / 1e9,
            oom_kills: diff(self.oom_kills, later.oom_kills),
        }
    }
}
