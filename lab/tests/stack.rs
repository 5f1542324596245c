//! The native stack for real: `lab up` starts the debug app twice, the system's nginx with the
//! repository's nginx.conf and (for two tests) a private database server, all under cgroups;
//! the tests talk to it over HTTP and check the kernel's cgroup files. Needs root (cgroups)
//! and nginx; each test has its own state dir and ports, so they run in parallel.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;

mod common;

use common::{app_bin, workspace, Answer};

/// A stack under test: its state dir and ports; `lab down` runs when it is dropped, so a
/// failing assertion leaves nothing running either. Ports stay below 32768, outside Linux's
/// ephemeral range, so no client connection can be holding them.
struct Stack {
    state: tempfile::TempDir,
    http_port: u16,
    port_base: u16,
    db_port: u16,
}

impl Stack {
    fn new(port_base: u16) -> Self {
        Self {
            state: tempfile::tempdir().unwrap(),
            http_port: port_base,
            port_base,
            db_port: port_base + 50,
        }
    }

    fn lab(&self) -> Command {
        let mut cmd = Command::cargo_bin("lab").unwrap();
        cmd.current_dir(workspace())
            .env("LAB_STATE_DIR", self.state.path())
            .env("LAB_APP_BIN", app_bin())
            .env("LAB_SKIP_SEED", "1")
            .env("LAB_HTTP_PORT", self.http_port.to_string())
            .env("LAB_PORT_BASE", self.port_base.to_string())
            .env("LAB_PG_PORT", self.db_port.to_string())
            .env("LAB_MYSQL_PORT", self.db_port.to_string())
            .env("RUST_LOG", "warn")
            .timeout(Duration::from_secs(120));
        cmd
    }

    fn up(&self, args: &[&str]) {
        self.lab()
            .arg("up")
            .args(args)
            .assert()
            .success()
            .stdout(contains("stack ready"));
    }

    fn info(&self) -> Value {
        let text = std::fs::read_to_string(self.state.path().join("stack.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn service(&self, name: &str) -> Value {
        self.info()["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no service {name}"))
            .clone()
    }

    fn get(&self, path: &str) -> Answer {
        http_get(self.http_port, path)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.lab().arg("down").ok();
    }
}

fn http_get(port: u16, path: &str) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    Answer {
        status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// The cgroup directories of a service as stack.json records them.
fn cgroup_dirs(service: &Value) -> Vec<PathBuf> {
    let cgroup = &service["cgroup"];
    let keys: &[&str] = if cgroup["version"] == "v1" {
        &["cpu", "cpuacct", "memory"]
    } else {
        &["dir"]
    };
    keys.iter()
        .map(|k| PathBuf::from(cgroup[*k].as_str().unwrap()))
        .collect()
}

/// The kernel's caps for a service: (quota/period as CPUs, memory bytes, swap cap).
fn kernel_caps(service: &Value) -> (f64, u64, Option<String>) {
    let cgroup = &service["cgroup"];
    if cgroup["version"] == "v1" {
        let cpu = PathBuf::from(cgroup["cpu"].as_str().unwrap());
        let memory = PathBuf::from(cgroup["memory"].as_str().unwrap());
        let quota: f64 = read(&cpu.join("cpu.cfs_quota_us")).parse().unwrap();
        let period: f64 = read(&cpu.join("cpu.cfs_period_us")).parse().unwrap();
        let memsw = memory.join("memory.memsw.limit_in_bytes");
        (
            quota / period,
            read(&memory.join("memory.limit_in_bytes")).parse().unwrap(),
            memsw.exists().then(|| read(&memsw)),
        )
    } else {
        let dir = PathBuf::from(cgroup["dir"].as_str().unwrap());
        let max = read(&dir.join("cpu.max"));
        let (quota, period) = max.split_once(' ').unwrap();
        let swap = dir.join("memory.swap.max");
        (
            quota.parse::<f64>().unwrap() / period.parse::<f64>().unwrap(),
            read(&dir.join("memory.max")).parse().unwrap(),
            swap.exists().then(|| read(&swap)),
        )
    }
}

fn pid_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .unwrap()
            .1
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn tight_stack_alternates_replicas_under_the_profile_caps_and_down_leaves_nothing() {
    let stack = Stack::new(21180);
    stack.up(&["--profile", "tight"]);
    let info = stack.info();
    assert_eq!(info["capped"], true, "cgroups must be writable as root");
    assert_eq!(info["state"], "ready");

    // Round robin: consecutive requests through nginx alternate between the two replicas.
    let instances: Vec<String> = (0..8)
        .map(|_| {
            let answer = stack.get("/health");
            assert_eq!(answer.status, 200);
            answer.header("x-instance").unwrap()
        })
        .collect();
    for pair in instances.windows(2) {
        assert_ne!(pair[0], pair[1], "replicas must alternate: {instances:?}");
    }
    assert!(instances.contains(&"app1".to_owned()) && instances.contains(&"app2".to_owned()));

    // The generous limit of tight: a quick burst of 150 requests gets no 429.
    let limited = (0..150)
        .filter(|_| stack.get("/health").status == 429)
        .count();
    assert_eq!(limited, 0);

    // The kernel holds the profile's caps (tight: app 0.3 CPU / 400M, nginx 0.1 / 200M).
    for (name, cpus, memory) in [
        ("app1", 0.3, 400u64 << 20),
        ("app2", 0.3, 400 << 20),
        ("nginx", 0.1, 200 << 20),
    ] {
        let (kernel_cpus, kernel_memory, swap) = kernel_caps(&stack.service(name));
        assert!(
            (kernel_cpus - cpus).abs() < 1e-9,
            "{name}: {kernel_cpus} CPUs"
        );
        // The kernel rounds memory caps down to whole pages.
        assert!(
            memory - kernel_memory < 4096,
            "{name}: {kernel_memory} bytes"
        );
        if let Some(swap) = swap {
            assert!(
                swap == kernel_memory.to_string() || swap == "0",
                "{name}: swap cap {swap}"
            );
        }
    }

    // The JSON access log has the agreed keys, with the replica that answered.
    let log_path = PathBuf::from(info["access_log"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = text.lines().rfind(|l| l.contains("\"/health\"")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no /health line in {}",
            log_path.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let entry: Value = serde_json::from_str(&line).unwrap();
    for key in [
        "t",
        "msec",
        "status",
        "method",
        "uri",
        "request_time",
        "upstream_response_time",
        "upstream_addr",
        "upstream_status",
        "bytes",
        "instance",
    ] {
        assert!(
            entry.get(key).is_some(),
            "access log line lacks {key}: {line}"
        );
    }
    assert!(entry["instance"] == "app1" || entry["instance"] == "app2");

    stack.lab().arg("status").assert().success().stdout(
        contains("app1")
            .and(contains("nginx"))
            .and(contains("RESTARTS")),
    );

    let pids: Vec<u64> = info["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["pid"].as_u64().unwrap())
        .chain(info["supervisor_pid"].as_u64())
        .collect();
    let dirs: Vec<PathBuf> = info["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(cgroup_dirs)
        .collect();
    let stack_dirs: Vec<PathBuf> = dirs
        .iter()
        .map(|d| d.parent().unwrap().to_path_buf())
        .collect();

    stack
        .lab()
        .arg("down")
        .assert()
        .success()
        .stdout(contains("stopped"));
    for pid in pids {
        assert!(!pid_alive(pid), "process {pid} outlived lab down");
    }
    for dir in dirs.iter().chain(&stack_dirs) {
        assert!(!dir.exists(), "cgroup {} outlived lab down", dir.display());
    }
    assert!(TcpStream::connect(("127.0.0.1", stack.http_port)).is_err());
    // Idempotent.
    stack
        .lab()
        .arg("down")
        .assert()
        .success()
        .stdout(contains("nothing running"));
}

/// SIGKILLs `replica` and waits until the supervisor has it running again under a new PID and
/// it answers through nginx (on whatever transport the profile gives nginx), within 5 s.
/// Returns the killed PID.
fn kill_and_wait_back(stack: &Stack, replica: &str) -> u64 {
    let old_pid = stack.service(replica)["pid"].as_u64().unwrap();
    // SAFETY: plain kill(2) of a process this test's stack started.
    unsafe {
        libc::kill(old_pid as i32, libc::SIGKILL);
    }
    let killed_at = Instant::now();
    let health = format!("/replicas/{replica}/health");
    loop {
        let new_pid = stack.service(replica)["pid"].as_u64();
        if new_pid.is_some_and(|p| p != old_pid) && stack.get(&health).status == 200 {
            return old_pid;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(5),
            "{replica} not back within 5 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_replica_is_back_within_five_seconds_and_serves_again() {
    let stack = Stack::new(21280);
    stack.up(&["--profile", "tight"]);
    let old_pid = kill_and_wait_back(&stack, "app1");
    assert_eq!(stack.service("app1")["restarts"], 1);
    assert!(!pid_alive(old_pid));
    let events = std::fs::read_to_string(stack.state.path().join("events.jsonl")).unwrap();
    assert!(
        events.contains("\"exited\"") && events.contains("\"restarted\""),
        "{events}"
    );
    // Through the balancer both replicas answer again.
    let instances: Vec<String> = (0..6)
        .map(|_| stack.get("/health").header("x-instance").unwrap())
        .collect();
    assert!(instances.contains(&"app1".to_owned()) && instances.contains(&"app2".to_owned()));
}

/// compose's `restart: unless-stopped` brings an OOM-killed container back; so does the
/// supervisor, and it counts the OOM kill. A memory hog joins app1's cgroup (400M cap) and app1
/// is made the OOM killer's first choice.
#[test]
fn an_oom_killed_replica_is_restarted_and_counted_as_an_oom_kill() {
    let stack = Stack::new(21780);
    stack.up(&["--profile", "tight"]);
    let app1 = stack.service("app1");
    let old_pid = app1["pid"].as_u64().unwrap();
    std::fs::write(format!("/proc/{old_pid}/oom_score_adj"), "1000").unwrap();
    let memory_dir = if app1["cgroup"]["version"] == "v1" {
        PathBuf::from(app1["cgroup"]["memory"].as_str().unwrap())
    } else {
        PathBuf::from(app1["cgroup"]["dir"].as_str().unwrap())
    };
    // `tail` of an endless line without newlines keeps all of it in memory.
    let mut hog = std::process::Command::new("sh")
        .arg("-c")
        .arg("echo $$ > \"$1/cgroup.procs\" && exec tail /dev/zero")
        .arg("sh")
        .arg(&memory_dir)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let outcome = loop {
        let service = stack.service("app1");
        if service["oom_kills"] == 1 && service["pid"].as_u64().is_some_and(|p| p != old_pid) {
            break Ok(service);
        }
        if started.elapsed() > Duration::from_secs(30) {
            break Err(service);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = hog.kill();
    let _ = hog.wait();
    let service = outcome.unwrap_or_else(|s| panic!("no OOM restart recorded: {s}"));
    assert_eq!(service["restarts"], 1);
    let events = std::fs::read_to_string(stack.state.path().join("events.jsonl")).unwrap();
    assert!(events.contains("OOM-killed"), "{events}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while stack.get("/replicas/app1/health").status != 200 {
        assert!(
            Instant::now() < deadline,
            "app1 does not serve after its OOM restart"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn past_the_rate_limit_clients_get_429_with_retry_after_and_json_and_under_it_none() {
    let stack = Stack::new(21380);
    stack.up(&["--profile", "ratelimited"]);
    // 10 r/s with a burst of 20: 60 back-to-back requests must overflow it.
    let answers: Vec<Answer> = (0..60).map(|_| stack.get("/health")).collect();
    let limited: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(
        limited.len() >= 20,
        "only {} of 60 were limited",
        limited.len()
    );
    let first = limited[0];
    assert_eq!(first.header("retry-after").as_deref(), Some("1"));
    assert!(first
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let body: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["error"], "rate_limited");

    // Let the bucket drain (20 at 10 r/s), then stay under the rate: no 429 at all.
    std::thread::sleep(Duration::from_millis(2500));
    for _ in 0..10 {
        assert_eq!(stack.get("/health").status, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A private Postgres started from the installed server binaries, capped like the rest.
#[test]
fn postgres_runs_as_a_private_capped_server_and_down_removes_it() {
    if !Path::new("/usr/lib/postgresql").is_dir() {
        panic!("the Postgres server binaries are required (apt-get install postgresql)");
    }
    let stack = Stack::new(21480);
    stack.up(&["--profile", "tight", "--db", "postgres"]);
    let db = stack.service("db");
    let (cpus, memory, _) = kernel_caps(&db);
    assert!((cpus - 0.3).abs() < 1e-9);
    assert!((1u64 << 30) - memory < 4096);
    let ready = std::process::Command::new("pg_isready")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &stack.db_port.to_string(),
            "-d",
            "lab",
            "-U",
            "postgres",
        ])
        .output()
        .unwrap();
    assert!(ready.status.success());
    let pid = db["pid"].as_u64().unwrap();
    let dirs = cgroup_dirs(&db);
    stack.lab().arg("down").assert().success();
    assert!(!pid_alive(pid));
    assert!(dirs.iter().all(|d| !d.exists()));
}

/// A private MariaDB, the same way.
#[test]
fn mariadb_runs_as_a_private_capped_server_and_down_removes_it() {
    let stack = Stack::new(21580);
    stack.up(&["--profile", "tight", "--db", "mysql"]);
    let db = stack.service("db");
    let (cpus, _, _) = kernel_caps(&db);
    assert!((cpus - 0.3).abs() < 1e-9);
    let ping = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-P",
            &stack.db_port.to_string(),
            "-u",
            "root",
            "-e",
            "SELECT 1",
            "lab",
        ])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stderr)
    );
    let pid = db["pid"].as_u64().unwrap();
    stack.lab().arg("down").assert().success();
    assert!(!pid_alive(pid));
}

#[test]
fn an_unknown_profile_is_a_clear_error() {
    let stack = Stack::new(21680);
    stack
        .lab()
        .args(["up", "--profile", "no-such-profile"])
        .assert()
        .failure()
        .stderr(contains("profiles/no-such-profile.env"));
}

#[test]
fn without_writable_cgroups_the_stack_runs_uncapped_and_says_so_loudly() {
    let stack = Stack::new(21880);
    let no_cgroups = tempfile::tempdir().unwrap();
    stack
        .lab()
        .env("LAB_CGROUP_ROOT", no_cgroups.path())
        .args(["up", "--profile", "tight"])
        .assert()
        .success()
        .stderr(contains("WITHOUT RESOURCE CAPS").and(contains("app1 runs UNCAPPED")));
    let info = stack.info();
    assert_eq!(info["capped"], false);
    assert!(stack.service("app1")["cgroup"].is_null());
    assert_eq!(stack.get("/health").status, 200);
    let pid = stack.service("nginx")["pid"].as_u64().unwrap();
    stack.lab().arg("down").assert().success();
    assert!(!pid_alive(pid));
}

/// The seed runs during `up` with the stack's DATABASE_URL and the profile's sizes (a wrapper
/// around the app records the call; the environment overrides the profile).
#[test]
fn up_seeds_the_database_with_the_agreed_command_line() {
    let stack = Stack::new(21980);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("seed-call");
    let wrapper = dir.path().join("app");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = seed ]; then echo \"$DATABASE_URL $*\" > {}; exit 0; fi\nexec {} \"$@\"\n",
            record.display(),
            app_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    stack
        .lab()
        .env_remove("LAB_SKIP_SEED")
        .env("LAB_APP_BIN", &wrapper)
        .env("SEED_DISKS", "77")
        .args(["up", "--profile", "tight"])
        .assert()
        .success();
    let call = read(&record);
    assert!(call.starts_with("sqlite://"), "{call}");
    assert!(
        call.ends_with("seed --customers 1000 --disks 77 --stock 1000000 --reset"),
        "{call}"
    );
}

/// `UPSTREAM_TRANSPORT=unix`: nginx proxies to each replica's Unix socket (the access log names
/// it), both replicas take turns, and a killed replica's stale socket is replaced when it
/// comes back. A value other than tcp or unix is refused before anything starts.
#[test]
fn unix_transport_reaches_both_replicas_through_their_sockets_and_survives_a_kill() {
    let stack = Stack::new(22080);
    stack.up(&["--profile", "tight-unix"]);
    let instances: Vec<String> = (0..6)
        .map(|_| stack.get("/health").header("x-instance").unwrap())
        .collect();
    assert!(instances.contains(&"app1".to_owned()) && instances.contains(&"app2".to_owned()));
    let socket = stack.state.path().join("sock/app1.sock");
    assert!(socket.exists(), "{}", socket.display());

    kill_and_wait_back(&stack, "app1");
    // nginx flushes its access log every second.
    std::thread::sleep(Duration::from_millis(1500));
    let log = read(&stack.state.path().join("logs/access.json"));
    let upstreams: Vec<&str> = log
        .lines()
        .filter_map(|line| line.split("\"upstream_addr\":\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|addr| !addr.is_empty())
        .collect();
    assert!(!upstreams.is_empty(), "{log}");
    for addr in &upstreams {
        assert!(
            addr.starts_with("unix:"),
            "nginx used {addr} under unix: {log}"
        );
    }

    let bad = tempfile::tempdir().unwrap();
    let profile = bad.path().join("uds.env");
    std::fs::write(&profile, "UPSTREAM_TRANSPORT=uds\n").unwrap();
    Stack::new(22180)
        .lab()
        .args(["up", "--profile", profile.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(contains("UPSTREAM_TRANSPORT=\"uds\": expected tcp or unix"));
}
