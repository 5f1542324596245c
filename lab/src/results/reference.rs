//! The reference a run measures before its first step (`exec::reference`): the CPU's speed, how
//! busy the machine was, and each service's CPU per request for a fixed small load. Two runs
//! whose references differ ran on machines (or days) that differ, whatever their steps say.

use serde::{Deserialize, Serialize};

/// A run's reference readings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    /// Nanoseconds per iteration of a fixed integer loop, the median of five timings: the
    /// CPU's single-thread speed as lab saw it, then.
    pub cpu_loop_ns: f64,
    /// The machine's busy share over the second before the reference load, percent; None when
    /// `/proc/stat` could not be read.
    pub host_busy_percent_before: Option<f64>,
    /// The profile whose stack served the reference load (the run's first).
    pub profile: String,
    /// Requests nginx logged during the reference load (reads by id, two users, three seconds).
    pub load_requests: u64,
    /// Seconds of the reference load.
    pub load_secs: f64,
    /// Each service's CPU per request of that load.
    pub services: Vec<ServiceCost>,
}

/// One service's CPU per request of the reference load.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServiceCost {
    /// `app1`, `app2`, `nginx`, `db`.
    pub name: String,
    /// Its CPU microseconds per request nginx logged; None when it could not be measured.
    pub cpu_us_per_request: Option<f64>,
}

/// A reference differs from another by more than this share: a different machine or day.
/// Within one session on this project's 2-core machine, a service's CPU per reference request
/// moved up to 21% from run to run (`lab ab`, tight against roomy, four rounds); the drift
/// that asked for the reference was 40%.
pub const DRIFT_PERCENT: f64 = 30.0;

/// How `b`'s reference differs from `a`'s beyond [`DRIFT_PERCENT`], each as a sentence. The
/// services' costs are compared only between references measured on the same profile (its
/// caps change them); the CPU loop always.
pub fn drift(a: &Reference, b: &Reference) -> Vec<String> {
    let mut out = Vec::new();
    let mut compare = |what: String, x: f64, y: f64, unit: &str| {
        if x > 0.0 && y > 0.0 {
            let change = 100.0 * (y / x - 1.0);
            if change.abs() > DRIFT_PERCENT {
                out.push(format!("{what}: {x:.2} -> {y:.2} {unit} ({change:+.0}%)"));
            }
        }
    };
    compare(
        "the CPU loop".into(),
        a.cpu_loop_ns,
        b.cpu_loop_ns,
        "ns per iteration",
    );
    let services = if a.profile == b.profile {
        a.services.as_slice()
    } else {
        &[]
    };
    for sa in services {
        let Some(sb) = b.services.iter().find(|s| s.name == sa.name) else {
            continue;
        };
        if let (Some(x), Some(y)) = (sa.cpu_us_per_request, sb.cpu_us_per_request) {
            compare(
                format!("{}'s CPU per reference request", sa.name),
                x,
                y,
                "µs",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(loop_ns: f64, db_us: f64) -> Reference {
        Reference {
            cpu_loop_ns: loop_ns,
            services: vec![ServiceCost {
                name: "db".into(),
                cpu_us_per_request: Some(db_us),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_database_forty_percent_dearer_per_request_is_named_and_noise_is_not() {
        let a = reference(1.00, 100.0);
        assert!(drift(&a, &reference(1.05, 110.0)).is_empty());
        let d = drift(&a, &reference(1.00, 140.0));
        assert_eq!(
            d,
            ["db's CPU per reference request: 100.00 -> 140.00 µs (+40%)"]
        );
        assert_eq!(drift(&a, &reference(1.30, 100.0)).len(), 1);
    }
}
