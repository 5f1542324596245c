//! The compose path on a real Docker engine, command by command as the README's Docker block
//! gives them (`export COMPOSE_ENV_FILES=profiles/tight.env`, `docker compose up -d --build
//! --wait`, `docker compose run --rm --build lab`, `docker compose down -v`): the replicas alternate
//! behind nginx under the profile's caps; the lab container's default bench measures every
//! container through the engine proxy and names a bottleneck; an open-model step keeps its
//! rate; the proxy refuses every write and every container outside the project; Prometheus
//! (the `monitoring` profile) scrapes every target and answers every query of the dashboard; a
//! replica killed under load costs no reads and comes back; `report` and `compare` run in the
//! lab container without starting the stack; the MySQL variant serves the same API; `down -v`
//! leaves no container, network or volume.
//!
//! It fails, never skips, when no engine answers: `scripts/test.sh` starts one with
//! `../shared/docker/` on this project's CI machines; elsewhere the machine's own engine is used.
//! The stack runs as its own compose project on free ports, with its logs and results in a
//! temporary folder, so a user's running stack and `./results` are left alone.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::Answer;
use serde_json::Value;

/// The first `up --build` may compile every dependency from nothing (about 15 minutes on two
/// cores); later ones reuse the cached layers.
const BUILD_TIMEOUT: Duration = Duration::from_secs(45 * 60);
const STEP_TIMEOUT: Duration = Duration::from_secs(8 * 60);
/// Owner given to the results folder, standing for a host user's bind-mounted `./results`.
const HOST_USER: u32 = 4321;

struct Stack {
    project: String,
    port: u16,
    prometheus_port: u16,
    tmp: tempfile::TempDir,
}

/// Every compose profile this test starts services of: `down` names them all.
const ALL_PROFILES: [&str; 8] = [
    "--profile",
    "mysql",
    "--profile",
    "lab",
    "--profile",
    "monitoring",
    "--profile",
    "ceiling",
];

impl Stack {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        for dir in ["logs", "results"] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        Self {
            project: format!("labe2e{}", std::process::id()),
            port: common::free_port(),
            prometheus_port: common::free_port(),
            tmp,
        }
    }

    fn results(&self) -> PathBuf {
        self.tmp.path().join("results")
    }

    /// `docker compose ARGS` as the README runs it, after `export
    /// COMPOSE_ENV_FILES=profiles/<profile>.env`, from the repository, with this test's
    /// project name, ports, log and results folders.
    fn compose(&self, profile: &str, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .current_dir(common::workspace())
            .arg("compose")
            .args(args)
            .env("COMPOSE_ENV_FILES", format!("profiles/{profile}.env"))
            .env("COMPOSE_PROJECT_NAME", &self.project)
            .env("LAB_HTTP_PORT", self.port.to_string())
            .env("LAB_PROMETHEUS_PORT", self.prometheus_port.to_string())
            .env("LAB_LOG_DIR", self.tmp.path().join("logs"))
            .env("LAB_RESULTS_DIR", self.results())
            // The daemon's own open-file limit caps the containers' (20000 on CI's machines).
            .env(
                "LAB_NOFILE",
                std::env::var("LAB_NOFILE").unwrap_or_else(|_| "16384".into()),
            );
        command
    }

    /// `docker compose run --rm lab __engine METHOD PATH`: the engine proxy's answer to one
    /// request from inside the lab container, as (status, body).
    fn through_proxy(&self, method: &str, path: &str) -> (u16, String) {
        let mut command = self.compose(
            "tight",
            &["run", "--rm", "-T", "lab", "__engine", method, path],
        );
        let out = command
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
        let status: u16 = status
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{method} {path}: {text}"));
        assert_eq!(
            out.status.success(),
            status < 400,
            "{method} {path}: exit {:?}, {text}",
            out.status
        );
        (status, body.to_owned())
    }

    fn container(&self, service: &str) -> Value {
        let id = output(
            Command::new("docker").args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.project),
                "--filter",
                &format!("label=com.docker.compose.service={service}"),
            ]),
            Duration::from_secs(30),
        );
        let id = id
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no {service} container"));
        let text = output(
            Command::new("docker").args(["inspect", id]),
            Duration::from_secs(30),
        );
        serde_json::from_str::<Value>(&text).unwrap()[0].clone()
    }

    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.project);
        let mut left = Vec::new();
        for (what, args) in [
            ("container", vec!["ps", "-aq", "--filter", &label]),
            ("network", vec!["network", "ls", "-q", "--filter", &label]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &label]),
        ] {
            let text = output(Command::new("docker").args(&args), Duration::from_secs(30));
            left.extend(text.lines().map(|id| format!("{what} {id}")));
        }
        left
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Whatever happened, leave nothing running.
        let _ = run(
            self.compose("tight", &[&ALL_PROFILES[..], &["down", "-v"]].concat()),
            Duration::from_secs(120),
        );
    }
}

/// Runs a command to its end within `limit`, printing what it prints; returns its success.
fn run(mut command: Command, limit: Duration) -> bool {
    eprintln!("$ {command:?}");
    let mut child = command.stdin(Stdio::null()).spawn().expect("cannot start");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {} s", limit.as_secs());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn must(command: Command, limit: Duration) {
    let shown = format!("{command:?}");
    assert!(run(command, limit), "{shown} failed");
}

fn output(command: &mut Command, limit: Duration) -> String {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(limit).unwrap_or_else(|_| {
        unsafe { libc::kill(id as i32, libc::SIGKILL) };
        panic!("{command:?} did not finish within {} s", limit.as_secs())
    });
    let out = out.unwrap();
    assert!(out.status.success(), "{command:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok(Answer {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

fn get(port: u16, path: &str) -> Answer {
    request(port, "GET", path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn engine_answers() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Docker engine answers (`docker info` failed): this test needs one. scripts/test.sh \
         starts one on machines that have ../shared/docker/engine.sh; elsewhere start Docker"
    );
}

fn run_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

/// The one run folder in `results` whose name ends with `-<label>`.
fn the_run(results: &Path, label: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("run.json").is_file())
        .filter(|p| p.to_string_lossy().ends_with(&format!("-{label}")))
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "one {label} run expected in {results:?}: {runs:?}"
    );
    runs[0].clone()
}

/// `GET http://127.0.0.1:<port><path>` answered 200 with JSON.
fn get_json(port: u16, path: &str) -> Value {
    let answer = get(port, path);
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("GET {path}: {e}: {}", answer.body))
}

/// `%`-encodes a PromQL query for a URL's query string.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every query of the provisioned Grafana dashboards, with Grafana's `$__rate_interval` as
/// the one minute Prometheus needs for a rate over its 5 s scrapes.
fn dashboard_queries() -> Vec<String> {
    let dir = common::workspace().join("monitoring/grafana/dashboards");
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let board: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        for panel in board["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    queries.push(expr.replace("$__rate_interval", "1m"));
                }
            }
        }
    }
    assert!(queries.len() > 10, "the dashboards' queries: {queries:?}");
    queries
}

/// Reads by id on several connections for `secs`; counts answers that are not 200 (and
/// connection errors).
fn read_load(
    port: u16,
    secs: u64,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(u64, Vec<String>)> {
    thread::spawn(move || {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(secs);
                    let (mut done, mut bad) = (0u64, Vec::new());
                    let mut id = 1 + w * 100;
                    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                        match request(port, "GET", &format!("/disks/{id}"), None) {
                            Ok(a) if a.status == 200 => {}
                            Ok(a) => bad.push(format!("{} {}", a.status, a.body)),
                            Err(e) => bad.push(e.to_string()),
                        }
                        done += 1;
                        id = id % 1000 + 1;
                    }
                    (done, bad)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).fold(
            (0, Vec::new()),
            |(n, mut all), (d, bad)| {
                all.extend(bad);
                (n + d, all)
            },
        )
    })
}

/// Reads for `load_secs` from 4 clients; `settle_secs` in, `service`'s process dies of SIGKILL.
/// No read may fail (nginx passes it to the other replica), and the engine restarts the
/// container, which serves through nginx again within a minute. A crash, not `docker kill`:
/// the engine treats its own kill as a manual stop and does not restart the container.
fn kill_under_load(stack: &Stack, service: &str, load_secs: u64, settle_secs: u64) {
    let port = stack.port;
    let restarts_before = stack.container(service)["RestartCount"].as_u64().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = read_load(port, load_secs, stop.clone());
    thread::sleep(Duration::from_secs(settle_secs));
    let pid = stack.container(service)["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0, "{service} runs");
    assert_eq!(
        unsafe { libc::kill(pid as i32, libc::SIGKILL) },
        0,
        "kill -9 {pid}"
    );
    let (reads, failed) = load.join().unwrap();
    assert!(reads > 100, "the load ran: {reads} reads");
    assert!(
        failed.is_empty(),
        "{} of {reads} reads failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = stack.container(service);
        let back = state["State"]["Running"] == true
            && state["RestartCount"].as_u64().unwrap() > restarts_before
            && (0..4)
                .any(|_| get(port, "/health").header("X-Instance").as_deref() == Some(service));
        if back {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{service} is not serving again: {}",
            state["State"]
        );
        thread::sleep(Duration::from_secs(1));
    }
    drop(stop);
}

#[test]
fn the_readme_docker_walk_through_works_on_a_real_engine_and_measures_every_container() {
    engine_answers();
    let stack = Stack::new();
    let port = stack.port;

    // The README: build and start under the original documents' budget.
    must(
        stack.compose("tight", &["up", "-d", "--build", "--wait"]),
        BUILD_TIMEOUT,
    );

    // The replicas alternate behind nginx, each container under its cap.
    let instances: Vec<String> = (0..6)
        .map(|_| {
            get(port, "/health")
                .header("X-Instance")
                .unwrap_or_default()
        })
        .collect();
    assert!(
        instances.iter().any(|i| i == "app1") && instances.iter().any(|i| i == "app2"),
        "both replicas answer: {instances:?}"
    );
    assert!(
        instances.windows(2).all(|w| w[0] != w[1]),
        "round robin alternates: {instances:?}"
    );
    for (service, cpus, memory) in [
        ("app1", 0.3, 400u64 << 20),
        ("app2", 0.3, 400 << 20),
        ("nginx", 0.1, 200 << 20),
        ("postgres", 0.3, 1 << 30),
    ] {
        // The CPU cap is a CFS quota per the profile's period (docs/stack.md).
        let host = &stack.container(service)["HostConfig"];
        assert_eq!(host["CpuPeriod"].as_u64().unwrap(), 100_000, "{service}");
        assert_eq!(
            host["CpuQuota"].as_f64().unwrap() / host["CpuPeriod"].as_f64().unwrap(),
            cpus,
            "{service}"
        );
        assert_eq!(host["Memory"].as_u64().unwrap(), memory, "{service}");
        assert_eq!(
            host["MemorySwap"].as_u64().unwrap(),
            memory,
            "{service} swap"
        );
    }
    let seed = stack.container("seed");
    assert_eq!(seed["State"]["ExitCode"], 0, "the seed job completed");
    assert!(
        seed["State"]["Health"].is_null(),
        "the seed job has no health check"
    );

    // The monitoring profile's Prometheus and exporter (Grafana has no stand-in image on the
    // test machines), up before the load so they see it.
    must(
        stack.compose(
            "tight",
            &[
                "--profile",
                "monitoring",
                "up",
                "-d",
                "--wait",
                "prometheus",
                "nginx-exporter",
            ],
        ),
        STEP_TIMEOUT,
    );

    // The README's bench: `docker compose run --rm --build lab`, verbatim; the results folder belongs
    // to a host user, as a bind-mounted ./results does.
    std::os::unix::fs::chown(stack.results(), Some(HOST_USER), Some(HOST_USER)).unwrap();
    must(
        stack.compose("tight", &["run", "--rm", "--build", "lab"]),
        BUILD_TIMEOUT,
    );
    let run_dir = the_run(&stack.results(), "bench");
    let bench = run_json(&run_dir);
    assert_eq!(bench["settings"]["runtime"], "compose");
    assert_eq!(bench["settings"]["db"], "postgres");
    // The profile compose started the stack with, taken from COMPOSE_ENV_FILES.
    assert_eq!(
        bench["profiles"][0]["name"], "tight",
        "{}",
        bench["profiles"]
    );
    assert!(bench["machine"]["engine"]["cores"].as_u64().unwrap() >= 1);
    let users: Vec<u64> = bench["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [10, 50, 100]);
    for step in bench["steps"].as_array().unwrap() {
        assert!(
            step["nginx"]["requests"].as_u64().unwrap() > 100,
            "{}",
            step["nginx"]
        );
        for name in ["app1", "app2", "nginx", "db"] {
            let service = step["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap_or_else(|| panic!("{name} in the step"));
            assert_eq!(service["source"], "docker api", "{name}: {service}");
            assert!(
                service["cpu_seconds"].as_f64().unwrap() > 0.0,
                "{name} CPU: {service}"
            );
            assert!(
                service["memory_peak_bytes"].as_u64().unwrap() > 0,
                "{name} memory: {service}"
            );
            assert!(
                service["cpu_limit_cores"].as_f64().unwrap() > 0.0,
                "{name} cap: {service}"
            );
            assert!(
                service["cpu_periods"].as_u64().unwrap() > 0,
                "{name} CFS periods: {service}"
            );
        }
        assert!(
            step["host"]["cpu_busy_cores"].as_f64().unwrap() > 0.0,
            "{}",
            step["host"]
        );
        // The client's view heads the step, nginx's beside it, and the two were checked.
        assert_eq!(step["driver"], "lab");
        assert!(step["client"]["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
        assert!(!step["consistency"].as_array().unwrap().is_empty());
    }
    let last = &bench["steps"][2];
    assert_ne!(
        last["verdict"]["bottleneck"], "none",
        "a named bottleneck at 100 users: {}",
        last["verdict"]
    );
    for file in [
        "run.json",
        "steps.csv",
        "samples.csv",
        "report.md",
        "report.html",
        "throughput.png",
    ] {
        let meta = std::fs::metadata(run_dir.join(file)).unwrap();
        assert_eq!(
            meta.uid(),
            HOST_USER,
            "{file} belongs to the results folder's owner"
        );
    }
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(
        report.contains("| docker api |"),
        "report shows measured containers"
    );

    // An open-model step of orders and reads: it keeps its schedule (300 requests/s for 8 s),
    // and it gives Prometheus every series of the dashboard (orders batched included).
    must(
        stack.compose(
            "tight",
            &[
                "run",
                "--rm",
                "lab",
                "bench",
                "--scenario",
                "mixed",
                "--rate",
                "300",
                "--step-secs",
                "8",
                "--warmup-secs",
                "2",
                "--ceiling-secs",
                "3",
                "--label",
                "e2e-open",
            ],
        ),
        STEP_TIMEOUT,
    );
    let open_dir = the_run(&stack.results(), "e2e-open");
    let open_run = run_json(&open_dir);
    let open = &open_run["steps"][0];
    assert_eq!(open["model"], "open", "{open}");
    assert_eq!(open["rate_per_s"], 300.0);
    let client = &open["client"];
    assert!(client["requests_due"].as_u64().unwrap() >= 2390, "{client}");
    assert!(
        client["achieved_rate_per_s"].as_f64().unwrap() > 250.0,
        "{client}"
    );
    assert!(
        open["nginx"]["requests"].as_u64().unwrap() > 2000,
        "{}",
        open["nginx"]
    );

    // Prometheus: every target up, every query of the dashboard with data.
    let targets = get_json(stack.prometheus_port, "/api/v1/targets");
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    assert!(active.len() >= 3, "app1, app2 and the exporter: {targets}");
    for target in active {
        assert_eq!(target["health"], "up", "{target}");
    }
    for query in dashboard_queries() {
        let answer = get_json(
            stack.prometheus_port,
            &format!("/api/v1/query?query={}", url_encode(&query)),
        );
        assert_eq!(answer["status"], "success", "{query}: {answer}");
        assert!(
            !answer["data"]["result"].as_array().unwrap().is_empty(),
            "no data for the dashboard's query {query}"
        );
    }

    // The engine proxy: the lab container reads the stack, and nothing else.
    let (status, body) = stack.through_proxy("GET", "/containers/json");
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    let outsider = format!("{}-outsider", stack.project);
    must(
        {
            let mut c = Command::new("docker");
            c.args([
                "run",
                "-d",
                "--rm",
                "--name",
                &outsider,
                "debian:bookworm-slim",
                "sleep",
                "120",
            ]);
            c
        },
        STEP_TIMEOUT,
    );
    for container in listed.as_array().unwrap() {
        assert_eq!(
            container["Labels"]["com.docker.compose.project"], stack.project,
            "only the project's containers are listed: {container}"
        );
    }
    let app1 = format!("/containers/{}-app1-1", stack.project);
    assert_eq!(stack.through_proxy("GET", &format!("{app1}/json")).0, 200);
    for (method, path) in [
        ("POST", "/containers/create".to_owned()),
        ("POST", format!("{app1}/exec")),
        ("POST", format!("{app1}/kill")),
        ("POST", format!("/containers/{outsider}/kill")),
        ("GET", format!("/containers/{outsider}/json")),
        ("GET", "/images/json".to_owned()),
    ] {
        let (status, body) = stack.through_proxy(method, &path);
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert!(body.contains("is refused"), "{method} {path}: {body}");
    }
    let still = output(
        Command::new("docker").args(["inspect", "-f", "{{.State.Running}}", &outsider]),
        Duration::from_secs(30),
    );
    assert_eq!(still.trim(), "true", "the outsider survived");
    let _ = run(
        {
            let mut c = Command::new("docker");
            c.args(["rm", "-f", &outsider]);
            c
        },
        Duration::from_secs(60),
    );

    // A replica killed under load: no read is lost, and it comes back.
    kill_under_load(&stack, "app1", 12, 3);

    // UPSTREAM_TRANSPORT=unix (tight-unix): `up` again recreates nginx alone, which now names
    // each replica's socket in its shared volume; the replicas take turns through them, and a
    // replica killed under load loses no read and serves on its socket again.
    must(
        stack.compose("tight-unix", &["up", "-d", "--wait"]),
        STEP_TIMEOUT,
    );
    let conf = output(
        &mut stack.compose(
            "tight-unix",
            &["exec", "-T", "nginx", "cat", "/etc/nginx/nginx.conf"],
        ),
        STEP_TIMEOUT,
    );
    assert!(
        conf.contains("server unix:/run/app1/app.sock")
            && conf.contains("server unix:/run/app2/app.sock"),
        "nginx names the sockets: {conf}"
    );
    let instances: Vec<String> = (0..6)
        .map(|_| {
            get(port, "/health")
                .header("X-Instance")
                .unwrap_or_default()
        })
        .collect();
    assert!(
        instances.iter().any(|i| i == "app1") && instances.iter().any(|i| i == "app2"),
        "both replicas answer through their sockets: {instances:?}"
    );
    kill_under_load(&stack, "app2", 8, 2);

    // report and compare with the stack stopped: they need nothing else running.
    // docs/monitoring.md's `down`: the monitoring services go with the stack.
    must(
        stack.compose("tight", &["--profile", "monitoring", "down"]),
        STEP_TIMEOUT,
    );
    let name = run_dir.file_name().unwrap().to_str().unwrap().to_owned();
    let open_name = open_dir.file_name().unwrap().to_str().unwrap().to_owned();
    std::fs::remove_file(run_dir.join("throughput.png")).unwrap();
    must(
        stack.compose(
            "tight",
            &[
                "run",
                "--rm",
                "--no-deps",
                "lab",
                "report",
                &format!("results/{name}"),
            ],
        ),
        STEP_TIMEOUT,
    );
    assert!(
        run_dir.join("throughput.png").is_file(),
        "report redrew the plots"
    );
    must(
        stack.compose(
            "tight",
            &[
                "run",
                "--rm",
                "--no-deps",
                "lab",
                "compare",
                &format!("results/{name}"),
                &format!("results/{open_name}"),
                "--out",
                "results/compare-e2e",
            ],
        ),
        STEP_TIMEOUT,
    );
    let compare = stack.results().join("compare-e2e");
    assert!(compare.join("compare.md").is_file());
    assert_eq!(
        std::fs::metadata(compare.join("compare.md")).unwrap().uid(),
        HOST_USER
    );
    let running = output(
        Command::new("docker").args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", stack.project),
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(running.trim(), "", "report/compare started containers");

    // The MySQL variant serves the same API.
    let mut mysql = stack.compose(
        "tight",
        &["--profile", "mysql", "up", "-d", "--build", "--wait"],
    );
    mysql.env("DATABASE_URL", "mysql://lab:lab@mysql:3306/lab");
    must(mysql, STEP_TIMEOUT);
    let info: Value = serde_json::from_str(&get(port, "/").body).unwrap();
    assert_eq!(info["database"], "mysql", "{info}");
    let disk = get(port, "/disks/7");
    assert_eq!(disk.status, 200, "{}", disk.body);
    let order = request(
        port,
        "POST",
        "/orders",
        Some(r#"{"customer_id": 3, "disk_id": 7, "quantity": 2}"#),
    )
    .unwrap();
    assert_eq!(order.status, 201, "{}", order.body);
    let bad = request(port, "POST", "/orders", Some(r#"{"customer_id": "x"}"#)).unwrap();
    assert_eq!(bad.status, 422, "{}", bad.body);

    // The README's last command leaves nothing of the project (with every profile named,
    // as the services of the lab, monitoring and mysql profiles were started).
    must(stack.compose("tight", &["down", "-v"]), STEP_TIMEOUT);
    must(
        stack.compose("tight", &[&ALL_PROFILES[..], &["down", "-v"]].concat()),
        STEP_TIMEOUT,
    );
    assert_eq!(stack.leftovers(), Vec::<String>::new());
}
