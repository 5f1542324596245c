//! "Is this cap too small, about right, or too large?": per profile and service, what the run's
//! steps say about its CPU and memory caps, with a suggestion and by how much. Drawn from the
//! run's data (each step's usage against its caps), never stored: a report redraws it.
//!
//! The rules, each with the figures that triggered it:
//! - **CPU larger** when the service was throttled in at least 20% of its CFS periods while
//!   using at least 80% of its cap in some step: it wanted more than it got, and how much more
//!   cannot be read from a capped step, so +50% and measure again.
//! - **CPU smaller** when it never used more than 30% of its cap and was never throttled in
//!   more than 5% of periods: a cap 1.5 times its highest use leaves the same headroom others
//!   have.
//! - **Memory larger** after an OOM kill (double it), or with a peak above 80% of the cap (to
//!   1.5 times the peak); **smaller** with a peak under 25% of the cap (to twice the peak, at
//!   least 32 MiB).
//! - Otherwise keep it.

use super::run::Run;
use super::step::Step;

/// What to do with one cap.
#[derive(Debug, Clone, PartialEq)]
pub enum Advice {
    Smaller { to: f64 },
    Keep,
    Larger { to: f64 },
}

/// One service of one profile over the run's steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Rightsizing {
    pub profile: String,
    pub service: String,
    /// The highest CPU it used in a step, cores, and its cap.
    pub cpu_used_cores: f64,
    pub cpu_cap_cores: Option<f64>,
    /// The highest share of CFS periods it was throttled in, percent.
    pub throttled_percent: f64,
    /// Its highest memory peak, bytes, and its cap.
    pub memory_peak_bytes: u64,
    pub memory_cap_bytes: Option<u64>,
    pub oom_kills: u64,
    pub restarts: u64,
    pub cpu: Advice,
    pub memory: Advice,
    /// Why, in figures.
    pub reason: String,
}

const MIB: f64 = 1_048_576.0;

/// CPU caps are set in hundredths of a core; memory caps in whole MiB.
fn cores(value: f64) -> f64 {
    (value * 100.0 - 1e-9).ceil() / 100.0
}

fn mib(bytes: f64) -> f64 {
    (bytes / MIB).ceil() * MIB
}

fn cpu_advice(used: f64, cap: Option<f64>, throttled: f64) -> (Advice, String) {
    let Some(cap) = cap.filter(|c| *c > 0.0) else {
        return (Advice::Keep, "uncapped CPU".to_owned());
    };
    let share = 100.0 * used / cap;
    if throttled >= 20.0 && share >= 80.0 {
        let to = cores(cap * 1.5);
        return (
            Advice::Larger { to },
            format!("CPU: throttled in {throttled:.0}% of periods at {used:.2} of {cap} cores; +50% to {to}, then measure again"),
        );
    }
    if share <= 30.0 && throttled <= 5.0 {
        let to = cores((used * 1.5).max(0.05));
        if to < cap {
            return (
                Advice::Smaller { to },
                format!("CPU: at most {used:.2} of {cap} cores ({share:.0}%), never throttled much; {to} keeps half again its use"),
            );
        }
    }
    (
        Advice::Keep,
        format!("CPU: at most {used:.2} of {cap} cores ({share:.0}%), throttled in at most {throttled:.0}% of periods"),
    )
}

fn memory_advice(peak: u64, cap: Option<u64>, oom_kills: u64) -> (Advice, String) {
    let Some(cap) = cap.filter(|c| *c > 0) else {
        return (Advice::Keep, "uncapped memory".to_owned());
    };
    let (peak_f, cap_f) = (peak as f64, cap as f64);
    let (peak_mib, cap_mib) = (peak_f / MIB, cap_f / MIB);
    if oom_kills > 0 {
        let to = mib(cap_f * 2.0);
        return (
            Advice::Larger { to },
            format!(
                "memory: {oom_kills} OOM kill(s) at a {cap_mib:.0} MiB cap; double it to {:.0} MiB",
                to / MIB
            ),
        );
    }
    if peak_f > 0.8 * cap_f {
        let to = mib(peak_f * 1.5);
        return (
            Advice::Larger { to },
            format!(
                "memory: peak {peak_mib:.0} of {cap_mib:.0} MiB; {:.0} MiB leaves room",
                to / MIB
            ),
        );
    }
    if peak > 0 && peak_f < 0.25 * cap_f {
        let to = mib((peak_f * 2.0).max(32.0 * MIB));
        if to < cap_f {
            return (
                Advice::Smaller { to },
                format!(
                    "memory: peak {peak_mib:.0} of {cap_mib:.0} MiB; {:.0} MiB is twice its peak",
                    to / MIB
                ),
            );
        }
    }
    (
        Advice::Keep,
        format!("memory: peak {peak_mib:.0} of {cap_mib:.0} MiB"),
    )
}

fn of_service(profile: &str, service: &str, steps: &[&Step]) -> Option<Rightsizing> {
    let usages: Vec<_> = steps
        .iter()
        .filter_map(|s| s.services.iter().find(|u| u.name == service))
        .filter(|u| u.source != "none")
        .collect();
    let first = usages.first()?;
    let cpu_used_cores = usages.iter().map(|u| u.cpu_cores).fold(0.0, f64::max);
    let throttled_percent = usages
        .iter()
        .map(|u| u.cpu_throttled_percent)
        .fold(0.0, f64::max);
    let memory_peak_bytes = usages
        .iter()
        .map(|u| u.memory_peak_bytes)
        .max()
        .unwrap_or(0);
    let oom_kills = usages.iter().map(|u| u.oom_kills).sum();
    let restarts = usages.iter().map(|u| u.restarts).sum();
    let (cpu, cpu_why) = cpu_advice(cpu_used_cores, first.cpu_limit_cores, throttled_percent);
    let (memory, memory_why) =
        memory_advice(memory_peak_bytes, first.memory_limit_bytes, oom_kills);
    Some(Rightsizing {
        profile: profile.to_owned(),
        service: service.to_owned(),
        cpu_used_cores,
        cpu_cap_cores: first.cpu_limit_cores,
        throttled_percent,
        memory_peak_bytes,
        memory_cap_bytes: first.memory_limit_bytes,
        oom_kills,
        restarts,
        cpu,
        memory,
        reason: format!("{cpu_why}; {memory_why}"),
    })
}

/// Every profile's services, in the order they ran and were measured.
pub fn of(run: &Run) -> Vec<Rightsizing> {
    let mut out = Vec::new();
    for profile in &run.profiles {
        let steps: Vec<&Step> = run
            .steps
            .iter()
            .filter(|s| s.profile == profile.name)
            .collect();
        let mut services: Vec<&str> = steps
            .iter()
            .flat_map(|s| s.services.iter().map(|u| u.name.as_str()))
            .collect();
        services.dedup();
        let mut seen = Vec::new();
        for service in services {
            if seen.contains(&service) {
                continue;
            }
            seen.push(service);
            out.extend(of_service(&profile.name, service, &steps));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_service_at_its_cap_wants_more_and_an_idle_one_less() {
        let (advice, why) = cpu_advice(0.098, Some(0.1), 97.0);
        assert_eq!(advice, Advice::Larger { to: 0.15 });
        assert!(why.contains("throttled in 97%"), "{why}");
        let (advice, _) = cpu_advice(0.04, Some(0.3), 0.0);
        assert_eq!(advice, Advice::Smaller { to: 0.06 });
        assert_eq!(cpu_advice(0.2, Some(0.3), 10.0).0, Advice::Keep);
        assert_eq!(cpu_advice(0.2, None, 10.0).0, Advice::Keep);
    }

    #[test]
    fn memory_follows_its_peak_and_an_oom_kill_doubles_it() {
        let m = |mib: u64| mib << 20;
        assert_eq!(
            memory_advice(m(7), Some(m(400)), 0).0,
            Advice::Smaller {
                to: (32u64 << 20) as f64
            }
        );
        assert_eq!(
            memory_advice(m(390), Some(m(400)), 0).0,
            Advice::Larger {
                to: (585u64 << 20) as f64
            }
        );
        assert_eq!(
            memory_advice(m(400), Some(m(400)), 1).0,
            Advice::Larger {
                to: (800u64 << 20) as f64
            }
        );
        assert_eq!(memory_advice(m(200), Some(m(400)), 0).0, Advice::Keep);
    }

    #[test]
    fn the_fixture_run_gets_one_row_per_measured_service() {
        let run = crate::results::fixture::run();
        let rows = of(&run);
        let names: Vec<&str> = rows.iter().map(|r| r.service.as_str()).collect();
        assert_eq!(names, ["app1", "nginx"]);
        assert!(rows.iter().all(|r| !r.reason.is_empty()));
    }
}
