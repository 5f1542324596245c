//! The search on recorded and modelled step results: deterministic, no load.

use std::path::Path;

use super::profiles::profile_text;
use super::search::{Next, Search, Settings};
use super::*;
use crate::profile::Profile;
use crate::results::tune::{Budget, RoleUsage, TuneSettings};
use crate::results::verdict::Bottleneck;
use crate::results::Run;
use contract::DbKind;

fn tight() -> Allocation {
    Allocation {
        replicas: 2,
        nginx_millicpus: 100,
        app_millicpus: 300,
        db_millicpus: 300,
        nginx_memory_mib: 200,
        app_memory_mib: 400,
        db_memory_mib: 1024,
    }
}

fn budget() -> Budget {
    Budget {
        millicpus: 1000,
        memory_mib: 2048,
    }
}

/// A stack whose services each serve a fixed number of requests per CPU-second: throughput
/// is the smallest capacity, the verdict names it, each service uses its share of its cap.
struct Model {
    per_cpu: [f64; 3],
    /// Memory each service peaks at, MiB (an OOM kill when the cap is below it).
    peak_mib: [f64; 3],
    p99_base_ms: f64,
}

impl Model {
    fn measure(&self, a: &Allocation) -> Observation {
        let capacity =
            |r: Role| self.per_cpu[r as usize] * f64::from(a.millicpus(r) * a.count(r)) / 1000.0;
        let roles: Vec<Role> = Role::ALL
            .iter()
            .copied()
            .filter(|r| a.millicpus(*r) > 0)
            .collect();
        let (limit, rps) = roles
            .iter()
            .map(|&r| (r, capacity(r)))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .unwrap();
        let usage = roles
            .iter()
            .map(|&r| RoleUsage {
                role: r,
                cpu_used_percent: 100.0 * rps / capacity(r),
                cpu_throttled_percent: if r == limit { 90.0 } else { 0.0 },
                memory_peak_mib: self.peak_mib[r as usize],
                kills: u64::from((a.memory_mib(r) as f64) < self.peak_mib[r as usize]),
            })
            .collect();
        let p99_ms = self.p99_base_ms * 2000.0 / rps;
        Observation {
            requests_per_s: rps,
            p99_ms,
            availability_percent: 100.0,
            slo_passed: p99_ms < 150.0,
            bottleneck: match limit {
                Role::Nginx => Bottleneck::Nginx,
                Role::App => Bottleneck::App,
                Role::Db => Bottleneck::Database,
            },
            evidence: Vec::new(),
            usage,
        }
    }
}

/// The next proposal, which must be a measurement.
fn propose(search: &mut Search) -> (usize, Allocation, String, bool) {
    match search.next() {
        Next::Measure {
            id,
            allocation,
            reason,
            repeat,
        } => (id, allocation, reason, repeat),
        Next::Done(why) => panic!("the search stopped: {why}"),
    }
}

/// Runs the search against a model until it stops or `limit` measurements were made.
fn drive(search: &mut Search, model: &Model, limit: usize) -> (usize, String) {
    let mut measured = 0;
    loop {
        if measured == limit {
            return (measured, "limit".into());
        }
        match search.next() {
            Next::Done(reason) => return (measured, reason),
            Next::Measure {
                id,
                allocation,
                reason,
                ..
            } => {
                measured += 1;
                search.record(id, allocation, &reason, model.measure(&allocation));
            }
        }
    }
}

const NGINX_BOUND: Model = Model {
    // nginx 20,000 req/s per CPU, the app 8,000, Postgres 10,000: at tight's split nginx's 0.1
    // CPU allows 2,000 req/s while the replicas and the database idle.
    per_cpu: [20_000.0, 8_000.0, 10_000.0],
    peak_mib: [20.0, 8.0, 200.0],
    p99_base_ms: 100.0,
};

#[test]
fn a_budget_reads_cpus_and_memory_in_dockers_units() {
    assert_eq!(Budget::parse("cpus=1,memory=2G").unwrap(), budget());
    assert_eq!(
        Budget::parse("memory=512M, cpus=0.75").unwrap(),
        Budget {
            millicpus: 750,
            memory_mib: 512
        }
    );
    for bad in [
        "cpus=1",
        "memory=2G",
        "cpus=x,memory=1G",
        "cpus=1,memory=2G,disk=1",
        "cpus",
    ] {
        assert!(Budget::parse(bad).is_err(), "{bad} accepted");
    }
    assert_eq!(budget().to_string(), "cpus=1,memory=2048M");
}

#[test]
fn the_first_candidate_is_the_base_split_and_every_candidate_spends_the_budget_within_floors() {
    let mut search =
        Search::new(Settings::new(budget(), Role::ALL.to_vec(), 5.0), tight()).unwrap();
    let (_, allocation, _, _) = propose(&mut search);
    assert_eq!(
        (
            allocation.nginx_millicpus,
            allocation.app_millicpus,
            allocation.db_millicpus
        ),
        (100, 300, 300)
    );
    // tight's 2,224 MiB scaled into 2,048 in the same proportions (rounded down).
    assert!(
        (2045..=2048).contains(&allocation.total_memory_mib()),
        "{allocation:?}"
    );
    // Under tight's own totals, the first candidate is tight itself.
    let own = Budget {
        millicpus: 1000,
        memory_mib: tight().total_memory_mib(),
    };
    let mut at_tight = Search::new(Settings::new(own, Role::ALL.to_vec(), 5.0), tight()).unwrap();
    assert_eq!(
        at_tight.next(),
        Next::Measure {
            id: 1,
            allocation: tight(),
            reason: "the base profile's split".into(),
            repeat: false
        }
    );
    search.record(1, allocation, "start", NGINX_BOUND.measure(&allocation));
    drive(&mut search, &NGINX_BOUND, 20);
    for c in &search.candidates {
        let a = &c.allocation;
        assert_eq!(
            a.total_millicpus(),
            1000,
            "candidate {} spends {}",
            c.id,
            a.describe_cpus()
        );
        assert!(
            a.total_memory_mib() <= 2048,
            "candidate {}: {} MiB",
            c.id,
            a.total_memory_mib()
        );
        for role in Role::ALL {
            assert!(
                a.millicpus(role) >= 50,
                "candidate {}: {role:?} starved",
                c.id
            );
        }
        // Every measured peak had room: peak × 1.25 + 32 MiB at least, after the first.
        if c.id > 1 {
            assert!(
                a.db_memory_mib >= 282,
                "candidate {}: db {} MiB",
                c.id,
                a.db_memory_mib
            );
        }
    }
}

#[test]
fn the_search_moves_cpu_toward_the_bottleneck_and_finds_the_balanced_split() {
    let mut search =
        Search::new(Settings::new(budget(), Role::ALL.to_vec(), 5.0), tight()).unwrap();
    let (measured, reason) = drive(&mut search, &NGINX_BOUND, 30);
    let start = search.candidates[0].mean_requests_per_s();
    let winner = search.winner().expect("a winner");
    // The balanced split serves 1 / (1/20000 + 1/8000 + 1/10000) = 3,636 req/s.
    let best_possible = 1.0 / (1.0 / 20_000.0 + 1.0 / 8_000.0 + 1.0 / 10_000.0);
    assert!(
        winner.mean_requests_per_s() >= 0.9 * best_possible,
        "winner {} at {:.0} req/s after {measured} measurements ({reason})",
        winner.allocation.describe_cpus(),
        winner.mean_requests_per_s()
    );
    assert!(winner.mean_requests_per_s() > 1.6 * start);
    assert!(winner.allocation.nginx_millicpus > 100, "nginx got nothing");
    assert!(measured < 30, "no convergence: {reason}");
    assert!(reason.starts_with("converged"), "{reason}");
    // Candidate 2 is the other replica count; the first move goes to nginx.
    assert_eq!(search.candidates[1].allocation.replicas, 1);
    assert!(
        search.candidates[2].reason.contains("to the nginx"),
        "{}",
        search.candidates[2].reason
    );
}

#[test]
fn a_recorded_nginx_bound_step_sends_cpu_from_the_idle_replicas_to_nginx() {
    // The committed compose run: tight, mixed at 100 users, nginx at its 0.1 CPU, each replica
    // at ~0.075 of its 0.3, Postgres at 0.23 of 0.3.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runs/20261205T234635Z-compose-after-postgres");
    let run: Run =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    let step = run
        .steps
        .iter()
        .find(|s| s.scenario == "mixed" && s.users == 100)
        .unwrap();
    let seen = Observation::from_step(step);
    assert_eq!(seen.bottleneck, Bottleneck::Nginx);
    let app = seen.usage.iter().find(|u| u.role == Role::App).unwrap();
    assert!((20.0..30.0).contains(&app.cpu_used_percent), "{app:?}");
    assert_eq!(seen.usage.len(), 3);

    let mut search =
        Search::new(Settings::new(budget(), Role::ALL.to_vec(), 5.0), tight()).unwrap();
    let (id, allocation, reason, _) = propose(&mut search);
    search.record(id, allocation, &reason, seen.clone());
    // The other replica count, measured clearly worse here.
    let (id, allocation, reason, _) = propose(&mut search);
    assert_eq!(allocation.replicas, 1);
    let mut worse = seen.clone();
    worse.requests_per_s *= 0.8;
    search.record(id, allocation, &reason, worse);
    let (_, allocation, reason, repeat) = propose(&mut search);
    assert!(!repeat);
    assert_eq!(allocation.replicas, 2);
    assert!(
        allocation.nginx_millicpus > 100,
        "{}",
        allocation.describe_cpus()
    );
    assert!(
        allocation.app_millicpus < 300,
        "{}",
        allocation.describe_cpus()
    );
    assert_eq!(
        allocation.db_millicpus,
        300,
        "{}",
        allocation.describe_cpus()
    );
    assert!(reason.contains("from the app"), "{reason}");
}

#[test]
fn candidates_within_noise_are_measured_again_and_judged_by_their_means() {
    let mut search =
        Search::new(Settings::new(budget(), Role::ALL.to_vec(), 5.0), tight()).unwrap();
    let flat = |rps: f64| Observation {
        requests_per_s: rps,
        ..NGINX_BOUND.measure(&tight())
    };
    let (id, allocation, reason, _) = propose(&mut search);
    search.record(id, allocation, &reason, flat(2000.0));
    let (id, allocation, reason, _) = propose(&mut search);
    search.record(id, allocation, &reason, flat(2050.0)); // 2.4% apart
    let mut repeated = Vec::new();
    for _ in 0..2 {
        let (id, allocation, reason, repeat) = propose(&mut search);
        assert!(repeat, "candidate {id} not repeated");
        repeated.push(id);
        // The second measurements reverse the order: candidate 1 wins on the mean.
        search.record(
            id,
            allocation,
            &reason,
            flat(if id == 1 { 2100.0 } else { 1990.0 }),
        );
    }
    repeated.sort_unstable();
    assert_eq!(repeated, vec![1, 2]);
    assert_eq!(search.best().unwrap().id, 1);
    assert_eq!(search.candidates[0].observations.len(), 2);
    // Not a third time.
    if let Next::Measure { repeat, .. } = search.next() {
        assert!(!repeat);
    }
}

#[test]
fn an_oom_kill_discards_the_candidate_and_raises_that_services_floor() {
    // Postgres peaks at 900 MiB: the base split's share (921 MiB of 2 GiB) holds it, but a
    // move that shrinks the database's memory would not.
    let model = Model {
        peak_mib: [20.0, 8.0, 1500.0],
        ..NGINX_BOUND
    };
    let mut search =
        Search::new(Settings::new(budget(), Role::ALL.to_vec(), 5.0), tight()).unwrap();
    drive(&mut search, &model, 1);
    let first = &search.candidates[0];
    assert!(
        first.discarded.as_deref().unwrap().contains("db"),
        "{first:?}"
    );
    // The floor is 1.5× the cap that was killed (and at least peak × 1.25 + 32 MiB).
    assert!(search.floors_mib[Role::Db as usize] >= 1907);
    assert!(search.best().is_none() && search.winner().is_none());
    assert_eq!(
        search.next(),
        Next::Done("every candidate was discarded".into())
    );
}

#[test]
fn a_load_generator_bound_step_ends_the_search_saying_why() {
    let mut search =
        Search::new(Settings::new(budget(), Role::ALL.to_vec(), 5.0), tight()).unwrap();
    let mut seen = NGINX_BOUND.measure(&tight());
    seen.bottleneck = Bottleneck::LoadGenerator;
    let (id, allocation, reason, _) = propose(&mut search);
    search.record(id, allocation, &reason, seen.clone());
    let (id, allocation, reason, _) = propose(&mut search);
    search.record(
        id,
        allocation,
        &reason,
        Observation {
            requests_per_s: 100.0,
            ..seen
        },
    );
    let Next::Done(why) = search.next() else {
        panic!("went on")
    };
    assert!(why.contains("load generator"), "{why}");
}

#[test]
fn without_a_database_service_the_split_is_nginx_and_the_app() {
    let mut search = Search::new(
        Settings::new(budget(), vec![Role::Nginx, Role::App], 5.0),
        tight(),
    )
    .unwrap();
    let (_, allocation, _, _) = propose(&mut search);
    assert_eq!(allocation.db_millicpus, 0);
    assert_eq!(allocation.total_millicpus(), 1000);
    // nginx keeps its share of the base's 0.7 CPU scaled to 1 CPU: 142; the app the rest.
    assert_eq!(allocation.nginx_millicpus, 142);
    assert_eq!(allocation.app_millicpus, 429);
    // All the memory goes to the two, in the base's proportions (200 : 800).
    assert_eq!(
        (allocation.nginx_memory_mib, allocation.app_memory_mib),
        (409, 819)
    );
    // The default budget on SQLite is what the base gives nginx and the app: tight itself.
    let own = tight().budget_of(&[Role::Nginx, Role::App]);
    assert_eq!((own.millicpus, own.memory_mib), (700, 1000));
    let mut at_tight = Search::new(
        Settings::new(own, vec![Role::Nginx, Role::App], 5.0),
        tight(),
    )
    .unwrap();
    let (_, first, _, _) = propose(&mut at_tight);
    assert_eq!(
        (
            first.nginx_millicpus,
            first.app_millicpus,
            first.nginx_memory_mib,
            first.app_memory_mib
        ),
        (100, 300, 200, 400)
    );
    drive(&mut search, &NGINX_BOUND, 20);
    assert!(search
        .candidates
        .iter()
        .all(|c| c.allocation.db_millicpus == 0));
}

fn profile(vars: &[(&str, &str)]) -> Profile {
    Profile {
        name: "base".into(),
        path: "profiles/base.env".into(),
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn a_candidate_profile_keeps_the_bases_settings_and_reads_back_as_its_split() {
    let base = profile(&[
        ("APP_REPLICAS", "2"),
        ("APP_CPUS", "0.3"),
        ("APP_MEMORY", "400M"),
        ("APP_WORKERS", "2"),
        ("DB_CPUS", "0.3"),
        ("DB_MEMORY", "1G"),
        ("DB_POOL_MAX", "10"),
        ("NGINX_CPUS", "0.1"),
        ("NGINX_MEMORY", "200M"),
        ("RATE_LIMIT_RPS", "50000"),
    ]);
    assert_eq!(Allocation::of(&base.caps().unwrap()), tight());
    let one = Allocation {
        replicas: 1,
        nginx_millicpus: 250,
        app_millicpus: 450,
        db_millicpus: 300,
        nginx_memory_mib: 150,
        app_memory_mib: 700,
        db_memory_mib: 1100,
    };
    let text = profile_text(&base, &one, "# header\n");
    assert!(text.starts_with("# header\n"));
    for line in [
        "APP_CPUS=0.45",
        "NGINX_CPUS=0.25",
        "APP_MEMORY=700M",
        "APP_WORKERS=2",
        "DB_POOL_MAX=10",
        "RATE_LIMIT_RPS=50000",
        "APP2_ADDR=app1:8080",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }
    let vars = crate::profile::parse_env(&text).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("APP_CPUS=")).count(),
        1
    );
    let back = Profile {
        vars,
        ..base.clone()
    };
    assert_eq!(Allocation::of(&back.caps().unwrap()), one);
    // Two replicas: no APP2_ADDR, even when the base had one (single.env does).
    let mut single = base.clone();
    single.vars.insert("APP2_ADDR".into(), "app1:8080".into());
    assert!(!profile_text(&single, &tight(), "").contains("APP2_ADDR"));
}

#[test]
fn the_files_say_who_won_and_every_candidate_is_in_the_data_the_table_and_the_plot() {
    let mut search =
        Search::new(Settings::new(budget(), Role::ALL.to_vec(), 5.0), tight()).unwrap();
    drive(&mut search, &NGINX_BOUND, 6);
    let dir = tempfile::tempdir().unwrap();
    let mut file = TuneFile {
        settings: TuneSettings {
            budget: budget(),
            base_profile: "tight".into(),
            scenario: "mixed".into(),
            users: 100,
            slo: Some("p99_ms<150".into()),
            db: DbKind::Postgres,
            runtime: contract::RuntimeKind::Native,
            step_secs: 20,
            warmup_secs: 5,
            noise_percent: 5.0,
            min_replicas: 1,
            max_candidates: 6,
            time_budget_secs: None,
            profile_name: "tuned".into(),
        },
        started_at: Utc::now(),
        finished_at: Some(Utc::now()),
        stop_reason: Some("the limit of 6 measurements (--candidates)".into()),
        floors_mib: BTreeMap::new(),
        candidates: Vec::new(),
        best: None,
        winner: None,
        winner_profile: Some("tuned.env".into()),
        winner_profile_text: Some("APP_CPUS=0.25\n".into()),
    };
    refresh(&mut file, &search, &BTreeMap::new());
    let winner = file.winner.expect("a winner");
    export::write_all(&file, dir.path()).unwrap();
    export::tune::draw(&file, dir.path());
    let back: TuneFile =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tune.json")).unwrap())
            .unwrap();
    assert_eq!(back.candidates.len(), search.candidates.len());
    assert_eq!(back.winner, Some(winner));
    let csv = std::fs::read_to_string(dir.path().join("tune.csv")).unwrap();
    let measurements: usize = search.candidates.iter().map(|c| c.observations.len()).sum();
    assert_eq!(csv.lines().count(), 1 + measurements);
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains(&format!("**Winner: candidate {winner}**")),
        "{md}"
    );
    assert!(
        md.contains("x the base split's"),
        "no ratio to the base split"
    );
    assert!(md.contains("APP_CPUS=0.25"), "the profile is not shown");
    assert_eq!(
        md.matches("\n| ").count(),
        search.candidates.len() + 1,
        "one table row per candidate"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<figure><svg"), "the plot is not inline");
    assert!(dir.path().join("search.png").is_file());
}
