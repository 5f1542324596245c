//! The bottleneck verdict: which part saturated during a step, and the evidence for it.
//! The rules are plain thresholds so a reader can check them against the figures.

use serde::{Deserialize, Serialize};

use super::figures::{HostUsage, NginxStats, ServiceUsage};

/// A capped service counts as saturated above this share of throttled CFS periods ...
pub const THROTTLED_PERCENT: f64 = 20.0;
/// ... while using at least this share of its CPU quota.
pub const QUOTA_USED_PERCENT: f64 = 80.0;
/// A capped service throttled in more than this share of its periods is saturated ...
pub const HEAVILY_THROTTLED_PERCENT: f64 = 50.0;
/// ... already from this share of its quota: its cap bites in most periods, and its average
/// over the step is diluted by the step's quiet edges (a compose nginx throttled in 95% of
/// periods measured 79.97% of its quota and escaped the rule above).
pub const HEAVILY_THROTTLED_QUOTA_PERCENT: f64 = 60.0;
/// The load driver is the limit at or above this share of its ceiling at the same concurrency.
pub const CEILING_PERCENT: f64 = 80.0;
/// The load driver is the limit when its CPU reaches this share of the cores it can use.
pub const DRIVER_CORES_PERCENT: f64 = 80.0;
/// Threads of lab's own driver (`lab __drive`): one event loop, which on a small machine
/// drives more per CPU second than two and leaves the other cores to the stack. It can use
/// one core, whatever the machine has.
pub const LAB_DRIVER_THREADS: usize = 1;

/// The cores a load driver can use: lab's one event loop, or (siege, one thread per user)
/// the machine's.
pub fn driver_cores(driver: &str, machine_cores: usize) -> usize {
    match driver {
        "lab" => LAB_DRIVER_THREADS.min(machine_cores.max(1)),
        _ => machine_cores.max(1),
    }
}
/// The load driver is the limit when this share of the requests due failed in the driver itself
/// (no local port or descriptor free on its machine).
pub const DRIVER_FAILURES_PERCENT: f64 = 1.0;
/// The rate limiter is the limit when this share of requests got 429.
pub const RATE_LIMITED_PERCENT: f64 = 1.0;
/// The machine itself is the limit when this share of all its cores was busy (and no cap,
/// no rate limit and not siege alone explains the step). Busy is the larger of the machine's
/// own reading (`/proc/stat`) and what the services and siege were measured to use: the
/// latter is a lower bound (the kernel's network work on their behalf is not in it), so 85%
/// of it already leaves no room on a small machine.
pub const HOST_BUSY_PERCENT: f64 = 85.0;

/// What stopped the stack from serving more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bottleneck {
    /// An app replica's CPU or memory cap.
    App,
    /// The database's CPU or memory cap.
    Database,
    /// nginx's CPU or memory cap.
    Nginx,
    /// nginx's rate limit answered 429.
    RateLimiter,
    /// siege itself could not drive more.
    LoadGenerator,
    /// The machine's (or the Docker VM's) cores were all busy: no cap was reached because
    /// the services, siege and everything else together used the whole machine.
    Host,
    /// Nothing saturated.
    None,
}

impl Bottleneck {
    /// Name for tables.
    pub fn label(self) -> &'static str {
        match self {
            Bottleneck::App => "app",
            Bottleneck::Database => "database",
            Bottleneck::Nginx => "nginx",
            Bottleneck::RateLimiter => "rate limiter",
            Bottleneck::LoadGenerator => "load generator",
            Bottleneck::Host => "host",
            Bottleneck::None => "none",
        }
    }
}

/// The verdict of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The main limit.
    pub bottleneck: Bottleneck,
    /// Every signal seen, strongest first, with its figures.
    pub evidence: Vec<String>,
}

/// What the verdict is computed from.
pub struct VerdictInput<'a> {
    pub nginx: &'a NginxStats,
    pub services: &'a [ServiceUsage],
    pub ceiling_percent: Option<f64>,
    pub driver_cpu_cores: f64,
    /// The cores the driver can use ([`driver_cores`]).
    pub driver_cores: usize,
    /// Requests that failed in the driver itself, as a share of those due, percent.
    pub driver_failures_percent: f64,
    pub machine_cores: usize,
    /// The whole machine's CPU during the step, when measured.
    pub host: Option<&'a HostUsage>,
}

/// The part of the stack a measured service (`app1`, `nginx`, `db`, ...) is.
pub fn role(service: &str) -> Bottleneck {
    match service {
        "nginx" => Bottleneck::Nginx,
        "db" | "database" | "postgres" | "mysql" => Bottleneck::Database,
        _ => Bottleneck::App,
    }
}

/// Applies the thresholds above. Priority: the load driver failing on its own machine (the
/// step measured the driver), the rate limiter (it answers before anything else works), then
/// the most saturated capped service, then the load driver near its limits, then the machine,
/// else none.
pub fn decide(input: &VerdictInput<'_>) -> Verdict {
    let mut evidence = Vec::new();
    let driver_failed = input.driver_failures_percent >= DRIVER_FAILURES_PERCENT;
    if driver_failed {
        evidence.push(format!(
            "{:.1}% of requests failed in the load driver itself (its machine ran out of local ports or file descriptors): the step measured the driver, not the stack",
            input.driver_failures_percent
        ));
    }

    let rate_limited = input.nginx.rate_limited_percent >= RATE_LIMITED_PERCENT;
    if rate_limited {
        evidence.push(format!(
            "{:.1}% of requests answered 429 by nginx's rate limiter (threshold {RATE_LIMITED_PERCENT}%)",
            input.nginx.rate_limited_percent
        ));
    }

    let mut candidates = saturated_services(input.services, &mut evidence);

    let unmeasured: Vec<&str> = input
        .services
        .iter()
        .filter(|s| s.source == "none")
        .map(|s| s.name.as_str())
        .collect();
    if !unmeasured.is_empty() {
        evidence.push(format!(
            "NOT MEASURED: {} (no cgroup, process or container to read: their caps cannot be named as the limit)",
            unmeasured.join(", ")
        ));
    }

    if input.nginx.errors_5xx_percent > 0.0 {
        evidence.push(format!(
            "{:.2}% of requests answered 5xx",
            input.nginx.errors_5xx_percent
        ));
    }

    let (near_ceiling, driver_busy) = driver_limits(input, &mut evidence);
    let host_busy = machine_busy(input, driver_busy, &mut evidence);

    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let bottleneck = if driver_failed {
        Bottleneck::LoadGenerator
    } else if rate_limited {
        Bottleneck::RateLimiter
    } else if let Some((_, service)) = candidates.first() {
        *service
    } else if near_ceiling || driver_busy {
        Bottleneck::LoadGenerator
    } else if host_busy {
        Bottleneck::Host
    } else {
        Bottleneck::None
    };
    if evidence.is_empty() {
        evidence.push(format!(
            "no capped service throttled over {THROTTLED_PERCENT}% of periods, no 429s, the load driver under {CEILING_PERCENT}% of its ceiling, the machine under {HOST_BUSY_PERCENT}% busy"
        ));
    }
    Verdict {
        bottleneck,
        evidence,
    }
}

/// Every service OOM-killed or saturating its CPU cap, with a strength to rank them by (an OOM
/// kill outranks any throttling; else throttled share + quota share).
fn saturated_services(
    services: &[ServiceUsage],
    evidence: &mut Vec<String>,
) -> Vec<(f64, Bottleneck)> {
    let mut candidates: Vec<(f64, Bottleneck)> = Vec::new();
    for service in services {
        if service.oom_kills > 0 {
            evidence.push(format!(
                "{} was OOM-killed {} time(s) (peak {:.0} MB of a {} cap)",
                service.name,
                service.oom_kills,
                mb(service.memory_peak_bytes),
                service
                    .memory_limit_bytes
                    .map_or("no".to_owned(), |l| format!("{:.0} MB", mb(l)))
            ));
            candidates.push((1000.0, role(&service.name)));
        }
        let Some(limit) = service.cpu_limit_cores.filter(|l| *l > 0.0) else {
            continue;
        };
        let quota_used = 100.0 * service.cpu_cores / limit;
        let saturated = (service.cpu_throttled_percent > THROTTLED_PERCENT
            && quota_used >= QUOTA_USED_PERCENT)
            || (service.cpu_throttled_percent > HEAVILY_THROTTLED_PERCENT
                && quota_used >= HEAVILY_THROTTLED_QUOTA_PERCENT);
        if saturated {
            evidence.push(format!(
                "{} throttled in {:.0}% of CPU periods ({:.2}s throttled) using {:.2} of its {:.2} CPU ({:.0}% of quota)",
                service.name,
                service.cpu_throttled_percent,
                service.cpu_throttled_secs,
                service.cpu_cores,
                limit,
                quota_used
            ));
            candidates.push((
                service.cpu_throttled_percent + quota_used,
                role(&service.name),
            ));
        }
    }
    candidates
}

/// Whether the load driver was the limit: near its own ceiling, or busy on the cores it can
/// use.
fn driver_limits(input: &VerdictInput<'_>, evidence: &mut Vec<String>) -> (bool, bool) {
    let usable = input.driver_cores.clamp(1, input.machine_cores.max(1));
    let driver_cpu_percent = 100.0 * input.driver_cpu_cores / usable as f64;
    let near_ceiling = input.ceiling_percent.is_some_and(|p| p >= CEILING_PERCENT);
    if let Some(percent) = input.ceiling_percent.filter(|_| near_ceiling) {
        evidence.push(format!(
            "the load driver drove {percent:.0}% of its own ceiling at this concurrency (threshold {CEILING_PERCENT}%)"
        ));
    }
    let driver_busy = driver_cpu_percent >= DRIVER_CORES_PERCENT;
    if driver_busy {
        let of = if usable == input.machine_cores {
            format!("the machine's {usable} cores")
        } else {
            format!("the {usable} core it can use")
        };
        evidence.push(format!(
            "the load driver used {:.2} of {of} ({driver_cpu_percent:.0}%)",
            input.driver_cpu_cores
        ));
    }
    (near_ceiling, driver_busy)
}

/// Whether the machine was busy (by its own reading or by what was measured), when siege
/// alone does not explain it.
fn machine_busy(input: &VerdictInput<'_>, driver_busy: bool, evidence: &mut Vec<String>) -> bool {
    let services_cores: f64 = input.services.iter().map(|s| s.cpu_cores).sum();
    let measured_cores = services_cores + input.driver_cpu_cores;
    let host = input.host.filter(|h| h.cores > 0);
    let cores = host.map_or(input.machine_cores, |h| h.cores).max(1);
    let busy_cores = host.map_or(0.0, |h| h.cpu_busy_cores).max(measured_cores);
    let busy_percent = 100.0 * busy_cores / cores as f64;
    // When siege alone filled the machine, its own line (`driver_limits`) already says so.
    let host_busy = busy_percent >= HOST_BUSY_PERCENT && !driver_busy;
    if host_busy {
        match host.filter(|h| h.cpu_busy_cores >= measured_cores) {
            Some(host) => evidence.push(format!(
                "the machine's {} cores were {:.0}% busy ({:.2} cores: services {:.2}, load driver {:.2}, the rest {:.2}; threshold {HOST_BUSY_PERCENT}%)",
                host.cores,
                host.cpu_busy_percent,
                host.cpu_busy_cores,
                services_cores,
                input.driver_cpu_cores,
                (host.cpu_busy_cores - measured_cores).max(0.0)
            )),
            None => evidence.push(format!(
                "the services ({services_cores:.2}) and the load driver ({:.2}) alone used {measured_cores:.2} of the machine's {cores} cores ({busy_percent:.0}%; threshold {HOST_BUSY_PERCENT}%){}",
                input.driver_cpu_cores,
                if host.is_some() { "" } else { "; the machine's own CPU was not recorded" }
            )),
        }
    }
    host_busy
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, cores: f64, limit: f64, throttled: f64) -> ServiceUsage {
        ServiceUsage {
            name: name.into(),
            cpu_cores: cores,
            cpu_limit_cores: Some(limit),
            cpu_throttled_percent: throttled,
            ..Default::default()
        }
    }

    fn decide_with(
        nginx: &NginxStats,
        services: &[ServiceUsage],
        ceiling: Option<f64>,
        siege: f64,
    ) -> Verdict {
        decide(&VerdictInput {
            nginx,
            services,
            ceiling_percent: ceiling,
            driver_cpu_cores: siege,
            driver_cores: 2,
            driver_failures_percent: 0.0,
            machine_cores: 2,
            host: None,
        })
    }

    #[test]
    fn a_throttled_replica_at_its_quota_is_the_app() {
        let services = [
            service("app1", 0.29, 0.3, 65.0),
            service("nginx", 0.05, 0.1, 5.0),
        ];
        let v = decide_with(&NginxStats::default(), &services, Some(20.0), 0.5);
        assert_eq!(v.bottleneck, Bottleneck::App);
        assert!(v.evidence[0].contains("app1 throttled in 65%"));
    }

    #[test]
    fn the_most_saturated_service_wins() {
        let services = [
            service("app1", 0.25, 0.3, 30.0),
            service("nginx", 0.1, 0.1, 90.0),
        ];
        let v = decide_with(&NginxStats::default(), &services, None, 0.2);
        assert_eq!(v.bottleneck, Bottleneck::Nginx);
        assert_eq!(v.evidence.len(), 2);
    }

    #[test]
    fn a_service_throttled_in_most_periods_is_saturated_just_under_the_quota_share() {
        // The compose e2e step that read "none": nginx throttled in 95% of its periods at
        // 79.97% of its quota, the database in 61% at 83%.
        let services = [
            service("nginx", 0.07997, 0.1, 95.2),
            service("db", 0.248, 0.3, 61.0),
        ];
        let v = decide_with(&NginxStats::default(), &services, Some(10.0), 0.2);
        assert_eq!(v.bottleneck, Bottleneck::Nginx, "{v:?}");
        assert_eq!(v.evidence.len(), 2, "{v:?}");
        // Throttled often but far from its quota: still not the limit.
        let services = [service("db", 0.1, 0.3, 70.0)];
        let v = decide_with(&NginxStats::default(), &services, Some(10.0), 0.2);
        assert_eq!(v.bottleneck, Bottleneck::None);
    }

    #[test]
    fn throttling_far_below_quota_is_not_saturation() {
        let services = [service("db", 0.05, 0.3, 40.0)];
        let v = decide_with(&NginxStats::default(), &services, Some(10.0), 0.1);
        assert_eq!(v.bottleneck, Bottleneck::None);
    }

    #[test]
    fn rate_limiting_comes_first_then_siege() {
        let nginx = NginxStats {
            rate_limited_percent: 40.0,
            ..Default::default()
        };
        let v = decide_with(&nginx, &[], Some(95.0), 1.9);
        assert_eq!(v.bottleneck, Bottleneck::RateLimiter);
        assert_eq!(v.evidence.len(), 3);
        let v = decide_with(&NginxStats::default(), &[], Some(85.0), 0.3);
        assert_eq!(v.bottleneck, Bottleneck::LoadGenerator);
        let v = decide_with(&NginxStats::default(), &[], Some(10.0), 1.7);
        assert_eq!(v.bottleneck, Bottleneck::LoadGenerator);
    }

    #[test]
    fn labs_one_loop_driver_is_the_limit_at_one_busy_core_of_two() {
        let nginx = NginxStats::default();
        let input = |cores: f64| VerdictInput {
            nginx: &nginx,
            services: &[],
            ceiling_percent: Some(30.0),
            driver_cpu_cores: cores,
            driver_cores: driver_cores("lab", 2),
            driver_failures_percent: 0.0,
            machine_cores: 2,
            host: None,
        };
        let v = decide(&input(0.9));
        assert_eq!(v.bottleneck, Bottleneck::LoadGenerator);
        assert!(
            v.evidence[0].contains("0.90 of the 1 core it can use (90%)"),
            "{v:?}"
        );
        assert_eq!(decide(&input(0.5)).bottleneck, Bottleneck::None);
        // siege's threads can use every core: 0.9 of 2 is not its limit.
        assert_eq!(driver_cores("siege", 2), 2);
    }

    #[test]
    fn unmeasured_services_are_said_in_the_evidence() {
        let mut app = service("app1", 0.0, 0.3, 0.0);
        app.source = "none".into();
        let v = decide_with(&NginxStats::default(), &[app], Some(5.0), 0.1);
        assert_eq!(v.bottleneck, Bottleneck::None);
        assert!(
            v.evidence[0].starts_with("NOT MEASURED: app1"),
            "{:?}",
            v.evidence
        );
    }

    #[test]
    fn an_oom_kill_names_the_service() {
        let mut db = service("db", 0.0, 0.3, 0.0);
        db.oom_kills = 1;
        db.memory_limit_bytes = Some(1 << 30);
        let v = decide_with(&NginxStats::default(), &[db], None, 0.1);
        assert_eq!(v.bottleneck, Bottleneck::Database);
        assert!(v.evidence[0].contains("OOM-killed 1"));
    }

    fn host(busy_cores: f64) -> HostUsage {
        HostUsage {
            cores: 2,
            cpu_busy_cores: busy_cores,
            cpu_busy_percent: 100.0 * busy_cores / 2.0,
        }
    }

    #[test]
    fn a_full_machine_with_no_cap_reached_is_the_host() {
        // The committed roomy run's shape: replicas and the database far under their caps,
        // siege under its ceiling, yet the two cores are all but full.
        let services = [
            service("app1", 0.45, 1.0, 3.0),
            service("app2", 0.45, 1.0, 3.0),
            service("db", 0.5, 1.0, 2.0),
            service("nginx", 0.2, 0.5, 1.0),
        ];
        let busy = host(1.94);
        let v = decide(&VerdictInput {
            nginx: &NginxStats::default(),
            services: &services,
            ceiling_percent: Some(11.0),
            driver_cpu_cores: 0.3,
            driver_cores: 2,
            driver_failures_percent: 0.0,
            machine_cores: 2,
            host: Some(&busy),
        });
        assert_eq!(v.bottleneck, Bottleneck::Host);
        assert!(
            v.evidence[0].contains("2 cores were 97% busy"),
            "{:?}",
            v.evidence
        );
        assert!(v.evidence[0].contains("services 1.60, load driver 0.30"));
    }

    #[test]
    fn a_cap_reached_on_a_full_machine_is_still_the_capped_service() {
        let services = [service("db", 0.3, 0.3, 95.0)];
        let busy = host(1.95);
        let v = decide(&VerdictInput {
            nginx: &NginxStats::default(),
            services: &services,
            ceiling_percent: Some(5.0),
            driver_cpu_cores: 0.2,
            driver_cores: 2,
            driver_failures_percent: 0.0,
            machine_cores: 2,
            host: Some(&busy),
        });
        assert_eq!(v.bottleneck, Bottleneck::Database);
        assert_eq!(v.evidence.len(), 2);
    }

    #[test]
    fn a_machine_with_room_left_is_not_the_host() {
        let busy = host(1.2);
        let v = decide(&VerdictInput {
            nginx: &NginxStats::default(),
            services: &[],
            ceiling_percent: Some(5.0),
            driver_cpu_cores: 0.2,
            driver_cores: 2,
            driver_failures_percent: 0.0,
            machine_cores: 2,
            host: Some(&busy),
        });
        assert_eq!(v.bottleneck, Bottleneck::None);
    }
}
