//! A small, fixed `Run` for exporter snapshots and plot tests.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use super::figures::*;
use super::reference::{Reference, ServiceCost};
use super::run::*;
use super::slo;
use super::step::*;
use super::verdict;

/// A step's load level: the closed model's users or the open model's rate.
#[derive(Clone, Copy)]
enum Offered {
    Users(u32),
    Rate { per_s: f64 },
}

fn usage(name: &str, cores: f64, limit: f64, throttled: f64, peak_mb: u64) -> ServiceUsage {
    ServiceUsage {
        name: name.into(),
        source: "cgroup v1".into(),
        cpu_seconds: cores * 10.0,
        cpu_cores: cores,
        cpu_limit_cores: Some(limit),
        cpu_periods: 100,
        cpu_throttled_periods: throttled as u64,
        cpu_throttled_secs: throttled / 100.0,
        cpu_throttled_percent: throttled,
        memory_current_bytes: peak_mb << 20,
        memory_peak_bytes: peak_mb << 20,
        memory_limit_bytes: Some(400 << 20),
        oom_kills: 0,
        restarts: 0,
    }
}

/// What lab's driver saw of a step whose nginx figures are `nginx`: the same requests, a
/// little slower (the queue in front of nginx).
fn client(offered: Offered, nginx: &NginxStats, queue_ms: f64) -> ClientStats {
    let lat = |ms: f64| ms + queue_ms;
    let (model, users, rate) = match offered {
        Offered::Users(u) => (LoadModel::Closed, Some(u), None),
        Offered::Rate { per_s } => (LoadModel::Open, None, Some(per_s)),
    };
    let latency = LatencyMs {
        count: nginx.requests,
        p50_ms: lat(nginx.p50_ms),
        p90_ms: lat(nginx.p90_ms),
        p99_ms: lat(nginx.p99_ms),
        p999_ms: lat(nginx.max_ms * 0.9),
        max_ms: lat(nginx.max_ms),
        mean_ms: lat(nginx.mean_ms),
    };
    ClientStats {
        model,
        users,
        offered_rate_per_s: rate,
        arrivals: rate.map(|_| Arrivals::Constant),
        load_secs: 10.0,
        active_secs: 10.0,
        requests_due: nginx.requests,
        requests_sent: nginx.requests,
        responses: nginx.requests,
        achieved_rate_per_s: nginx.requests_per_s,
        sent_late: if rate.is_some() { 12 } else { 0 },
        unsent: 0,
        send_delay_p99_ms: if rate.is_some() { 14.5 } else { 0.0 },
        timeouts: 0,
        errors: 0,
        failures: Default::default(),
        driver_failures: 0,
        timeout_secs: 10.0,
        connections: users.map_or(64, u64::from),
        mean_in_flight: nginx.requests_per_s * latency.mean_ms / 1000.0,
        latency,
        status_2xx: nginx.status_2xx,
        status_3xx: 0,
        status_4xx: 0,
        status_429: nginx.status_429,
        status_5xx: nginx.status_5xx,
        availability_percent: nginx.availability_percent,
        endpoints: nginx
            .endpoints
            .iter()
            .map(|e| ClientEndpoint {
                endpoint: e.endpoint.clone(),
                requests_per_s: e.requests_per_s,
                latency: LatencyMs {
                    count: e.requests,
                    p50_ms: lat(e.p50_ms),
                    p90_ms: lat(e.p90_ms),
                    p99_ms: lat(e.p99_ms),
                    p999_ms: lat(e.max_ms * 0.9),
                    max_ms: lat(e.max_ms),
                    mean_ms: lat(e.p50_ms),
                },
                status_4xx: 0,
                status_429: e.status_429,
                status_5xx: e.status_5xx,
                timeouts: 0,
                errors: 0,
            })
            .collect(),
        histogram: String::new(),
    }
}

/// One step of `tight / read` with fixed figures, driven by lab's client.
/// Long: a test fixture, a literal value of every field of `Step`; split, it would read worse.
fn step(index: usize, offered: Offered, rps: f64, p99: f64, throttled: f64) -> Step {
    let started_at = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
    let requests = (rps * 10.0) as u64;
    let mut replicas = BTreeMap::new();
    replicas.insert("app1".to_owned(), requests / 2);
    replicas.insert("app2".to_owned(), requests - requests / 2 - 2);
    replicas.insert("nginx".to_owned(), 2);
    let nginx = NginxStats {
        requests,
        requests_per_s: rps,
        p50_ms: p99 / 5.0,
        p90_ms: p99 / 2.0,
        p99_ms: p99,
        max_ms: p99 * 2.0,
        mean_ms: p99 / 4.0,
        status_2xx: requests - 3,
        status_3xx: 0,
        status_4xx: 0,
        status_429: 2,
        status_499: 0,
        status_5xx: 1,
        availability_percent: 100.0 * (requests - 3) as f64 / requests as f64,
        rate_limited_percent: 200.0 / requests as f64,
        errors_5xx_percent: 100.0 / requests as f64,
        replicas,
        unparsable_lines: 0,
        endpoints: vec![
            EndpointStats {
                endpoint: "GET /disks/{id}".into(),
                requests: requests * 7 / 10,
                requests_per_s: rps * 0.7,
                p50_ms: p99 / 10.0,
                p90_ms: p99 / 4.0,
                p99_ms: p99 / 2.0,
                max_ms: p99,
                status_4xx: 0,
                status_429: 1,
                status_5xx: 0,
            },
            EndpointStats {
                endpoint: "GET /disks?filter".into(),
                requests: requests - requests * 7 / 10,
                requests_per_s: rps * 0.3,
                p50_ms: p99 / 2.0,
                p90_ms: p99,
                p99_ms: p99 * 1.5,
                max_ms: p99 * 2.0,
                status_4xx: 0,
                status_429: 1,
                status_5xx: 1,
            },
        ],
    };
    let services = vec![
        usage("app1", 0.28, 0.3, throttled, 20),
        usage("nginx", 0.04, 0.1, 0.0, 8),
    ];
    let ceiling = 4000.0;
    let ceiling_percent = 100.0 * rps / ceiling;
    let host = HostUsage {
        cores: 2,
        cpu_busy_cores: 1.1,
        cpu_busy_percent: 55.0,
    };
    let verdict = verdict::decide(&verdict::VerdictInput {
        nginx: &nginx,
        services: &services,
        ceiling_percent: Some(ceiling_percent),
        driver_cpu_cores: 0.5,
        driver_cores: verdict::driver_cores("lab", 2),
        driver_failures_percent: 0.0,
        machine_cores: 2,
        host: Some(&host),
    });
    let queue = throttled / 10.0;
    let client = client(offered, &nginx, queue);
    let (model, users, rate_per_s) = match offered {
        Offered::Users(u) => (LoadModel::Closed, u, None),
        Offered::Rate { per_s } => (LoadModel::Open, 0, Some(per_s)),
    };
    let mut s = Step {
        index,
        profile: "tight".into(),
        scenario: "read".into(),
        driver: "lab".into(),
        model,
        users,
        rate_per_s,
        started_at,
        start_offset_secs: index as f64 * 11.0,
        wall_secs: 10.0,
        urls_file: "siege/urls/read.txt".into(),
        driver_exit_code: Some(0),
        driver_hung: false,
        siege: None,
        driver_requests_per_s: rps,
        driver_cpu_seconds: 5.0,
        driver_cpu_cores: 0.5,
        client: Some(client),
        nginx,
        services,
        ceiling_transactions_per_s: Some(ceiling),
        ceiling_percent: Some(ceiling_percent),
        driver_bound: ceiling_percent >= verdict::CEILING_PERCENT,
        host: Some(host),
        consistency: Vec::new(),
        verdict,
        slo: None,
        stress_start_status: None,
    };
    s.consistency = s.check_consistency();
    let rules = slo::parse("p99_ms<250,availability>=99.9").unwrap();
    s.slo = Some(s.judge_slo(&rules));
    s
}

/// Two steps of `tight / read`, the second one throttled and over the p99 SLO.
/// Long: a test fixture, a literal value of every field of `Run`; split, it would read worse.
pub fn run() -> Run {
    let mut vars = BTreeMap::new();
    vars.insert("APP_CPUS".to_owned(), "0.3".to_owned());
    vars.insert("APP_MEMORY".to_owned(), "400m".to_owned());
    let samples = (0..4)
        .flat_map(|t| {
            ["app1", "nginx", "driver"].map(|service| Sample {
                t_secs: t as f64,
                step: usize::from(t >= 2),
                profile: "tight".into(),
                scenario: "read".into(),
                service: service.into(),
                cpu_cores: 0.1 * (t + 1) as f64,
                cpu_throttled_percent: 10.0 * t as f64,
                memory_bytes: (10 + t as u64) << 20,
            })
        })
        .collect();
    let mut run = Run {
        schema_version: SCHEMA_VERSION,
        label: "tight-vs-roomy".into(),
        started_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 0).unwrap(),
        finished_at: Some(Utc.with_ymd_and_hms(2025, 1, 2, 3, 5, 0).unwrap()),
        command_line: vec![
            "lab".into(),
            "bench".into(),
            "--profile".into(),
            "tight".into(),
        ],
        settings: Settings {
            runtime: "native".into(),
            db: "postgres".into(),
            scenarios: vec!["read".into()],
            driver: "lab".into(),
            users: vec![10, 450],
            rates: vec![1000.0],
            rates_auto: false,
            arrivals: Some(Arrivals::Constant),
            step_secs: 10,
            warmup_secs: 2,
            ceiling_secs: 3,
            ramp: false,
            slo_text: Some("p99_ms<250,availability>=99.9".into()),
            slo: slo::parse("p99_ms<250,availability>=99.9").unwrap(),
        },
        machine: Machine {
            hostname: "lab-host".into(),
            cpu_model: "AMD EPYC".into(),
            cpu_flags: "fpu sse sse2 avx avx2".into(),
            platform: "native Linux".into(),
            cores: 2,
            memory_total_bytes: 8 << 30,
            kernel: "6.1.0".into(),
            cgroup_version: "v1".into(),
            engine: None,
        },
        reference: Some(Reference {
            cpu_loop_ns: 1.25,
            host_busy_percent_before: Some(3.0),
            profile: "tight".into(),
            load_requests: 2400,
            load_secs: 3.0,
            services: vec![
                ServiceCost {
                    name: "app1".into(),
                    cpu_us_per_request: Some(120.0),
                },
                ServiceCost {
                    name: "nginx".into(),
                    cpu_us_per_request: Some(40.0),
                },
            ],
        }),
        versions: Versions {
            lab: "0.1.0".into(),
            git_commit: Some("0123456789abcdef".into()),
            app: Some("0.1.0".into()),
            nginx: Some("nginx/1.22.1".into()),
            siege: Some("SIEGE 4.0.7".into()),
        },
        profiles: vec![ProfileRecord {
            name: "tight".into(),
            vars,
            base_url: "http://127.0.0.1:8080".into(),
            capped: true,
            services: vec![
                ServiceCaps {
                    name: "app1".into(),
                    cpu_limit_cores: Some(0.3),
                    cpu_period_us: Some(100_000),
                    memory_limit_bytes: Some(400 << 20),
                },
                ServiceCaps {
                    name: "nginx".into(),
                    cpu_limit_cores: Some(0.1),
                    cpu_period_us: Some(10_000),
                    memory_limit_bytes: Some(200 << 20),
                },
            ],
            upstream_transport: Some(contract::profile::Transport::Unix),
            client_path: Some(crate::client_path::ClientPath::Loopback),
            seed_customers: 1000,
            seed_disks: 10000,
        }],
        driver_ceiling: vec![
            CeilingPoint {
                users: 10,
                transactions_per_s: 4000.0,
                wall_secs: 3.0,
                driver_cpu_cores: 1.2,
                siege: None,
            },
            CeilingPoint {
                users: 450,
                transactions_per_s: 4000.0,
                wall_secs: 3.0,
                driver_cpu_cores: 1.8,
                siege: None,
            },
        ],
        nginx_ceiling: vec![NginxCeilingPoint {
            profile: "tight".into(),
            users: 450,
            requests_per_s: 5000.0,
            nginx_cpu_limit_cores: Some(0.1),
            nginx_cpu_cores: Some(0.1),
            nginx_cpu_us_per_request: Some(20.0),
            wall_secs: 3.0,
            driver_cpu_cores: 1.1,
        }],
        steps: vec![
            step(0, Offered::Users(10), 900.0, 12.0, 5.0),
            step(1, Offered::Users(450), 3500.0, 310.0, 60.0),
            step(2, Offered::Rate { per_s: 1000.0 }, 1000.0, 40.0, 98.0),
        ],
        samples,
        sustainable: Vec::new(),
    };
    run.update_sustainable();
    run
}
