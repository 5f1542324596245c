//! The compose path on a real Docker engine, command by command as docs/stack.md's "With Docker"
//! walk-through gives them: build and `up --wait`; the replicas alternate behind nginx under
//! the profile's caps; a short bench from the bench container measures every container through
//! the Engine API and names a bottleneck; a replica killed under load costs no reads and comes
//! back; `report` and `compare` run in the bench container without starting the stack; the
//! MySQL variant serves the same API; `down -v` leaves no container, network or volume.
//!
//! It fails, never skips, when no engine answers: `scripts/test.sh` starts one with
//! `../shared/docker/` on this project's CI machines; elsewhere the machine's own engine is used.
//! The stack runs as its own compose project on a free port, with its logs and results in a
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
    tmp: tempfile::TempDir,
}

impl Stack {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        for dir in ["logs", "results"] {
            std::fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        // Walk-through step 1 (docs/stack.md): `cp .env.example .env`, then a token.
        let example = std::fs::read_to_string(common::workspace().join(".env.example")).unwrap();
        std::fs::write(
            tmp.path().join(".env"),
            example.replace("STRESS_TOKEN=change-me", "STRESS_TOKEN=e2e-token"),
        )
        .unwrap();
        let port = common::free_port();
        Self {
            project: format!("labe2e{}", std::process::id()),
            port,
            tmp,
        }
    }

    fn results(&self) -> PathBuf {
        self.tmp.path().join("results")
    }

    /// `docker compose --env-file .env --env-file profiles/<profile>.env ARGS`, run from the
    /// repository, with this test's project name, port, log and results folders.
    fn compose(&self, profile: &str, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .current_dir(common::workspace())
            .arg("compose")
            .arg("--env-file")
            .arg(self.tmp.path().join(".env"))
            .args(["--env-file", &format!("profiles/{profile}.env")])
            .args(args)
            .env("COMPOSE_PROJECT_NAME", &self.project)
            .env("LAB_HTTP_PORT", self.port.to_string())
            .env("LAB_LOG_DIR", self.tmp.path().join("logs"))
            .env("LAB_RESULTS_DIR", self.results())
            // The daemon's own open-file limit caps the containers' (20000 on CI's machines).
            .env(
                "LAB_NOFILE",
                std::env::var("LAB_NOFILE").unwrap_or_else(|_| "16384".into()),
            );
        command
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
            self.compose(
                "tight",
                &["--profile", "mysql", "--profile", "bench", "down", "-v"],
            ),
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

fn the_run(results: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "one bench run expected in {results:?}: {runs:?}"
    );
    runs[0].clone()
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

#[test]
fn the_readme_docker_walk_through_works_on_a_real_engine_and_measures_every_container() {
    engine_answers();
    let stack = Stack::new();
    let port = stack.port;

    // Walk-through step 2 (docs/stack.md): build and start under the original documents' budget.
    must(
        stack.compose("tight", &["up", "-d", "--build", "--wait"]),
        BUILD_TIMEOUT,
    );

    // Step 3: the replicas alternate behind nginx, each container under its cap.
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
        let host = &stack.container(service)["HostConfig"];
        assert_eq!(host["NanoCpus"].as_f64().unwrap() / 1e9, cpus, "{service}");
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

    // Step 4: a short bench from the bench container; the results folder belongs to a host
    // user, as a bind-mounted ./results does.
    std::os::unix::fs::chown(stack.results(), Some(HOST_USER), Some(HOST_USER)).unwrap();
    must(
        stack.compose(
            "tight",
            &[
                "--profile",
                "bench",
                "run",
                "--rm",
                "--build",
                "bench",
                "bench",
                "--runtime",
                "compose",
                "--profile",
                "tight",
                "--scenario",
                "read",
                "--users",
                "50",
                "--rate",
                "300",
                "--step-secs",
                "8",
                "--warmup-secs",
                "2",
                "--ceiling-secs",
                "3",
                "--label",
                "e2e",
            ],
        ),
        BUILD_TIMEOUT,
    );
    let run_dir = the_run(&stack.results());
    let run = run_json(&run_dir);
    assert_eq!(run["settings"]["runtime"], "compose");
    assert_eq!(run["settings"]["db"], "postgres");
    assert!(run["machine"]["engine"]["cores"].as_u64().unwrap() >= 1);
    let step = &run["steps"][0];
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
    assert_ne!(
        step["verdict"]["bottleneck"], "none",
        "a named bottleneck: {}",
        step["verdict"]
    );
    // The client's view heads the step, nginx's beside it, and the two were checked.
    assert_eq!(step["driver"], "lab");
    assert!(step["client"]["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert!(!step["consistency"].as_array().unwrap().is_empty());
    // The open-model step kept its schedule: 300 requests/s offered for 8 s.
    let open = &run["steps"][1];
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

    // A replica killed under load: no read is lost, and it comes back.
    let restarts_before = stack.container("app1")["RestartCount"].as_u64().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = read_load(port, 12, stop.clone());
    thread::sleep(Duration::from_secs(3));
    // A crash, not `docker kill`: the engine treats its own kill as a manual stop and does
    // not restart the container; a process that dies of SIGKILL is restarted.
    let pid = stack.container("app1")["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0, "app1 runs");
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
        let app1 = stack.container("app1");
        let back = app1["State"]["Running"] == true
            && app1["RestartCount"].as_u64().unwrap() > restarts_before
            && (0..4).any(|_| get(port, "/health").header("X-Instance").as_deref() == Some("app1"));
        if back {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "app1 is not serving again: {}",
            app1["State"]
        );
        thread::sleep(Duration::from_secs(1));
    }
    drop(stop);

    // Steps 5 and 6 with the stack stopped: report and compare need nothing else running.
    must(stack.compose("tight", &["down"]), STEP_TIMEOUT);
    let name = run_dir.file_name().unwrap().to_str().unwrap().to_owned();
    std::fs::remove_file(run_dir.join("throughput.png")).unwrap();
    must(
        stack.compose(
            "tight",
            &[
                "--profile",
                "bench",
                "run",
                "--rm",
                "bench",
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
                "--profile",
                "bench",
                "run",
                "--rm",
                "bench",
                "compare",
                &format!("results/{name}"),
                &format!("results/{name}"),
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

    // Step 7: down -v leaves nothing of the project.
    must(
        stack.compose(
            "tight",
            &["--profile", "mysql", "--profile", "bench", "down", "-v"],
        ),
        STEP_TIMEOUT,
    );
    assert_eq!(stack.leftovers(), Vec::<String>::new());
}
