//! The stress endpoints, end to end: each test spawns the real `app` binary on a free port and
//! talks to it over HTTP; RSS is read from `/proc/<pid>/statm`, not from the app's own claims.
//!
//! The cgroup tests move the spawned process into a fresh cgroup (nested under this test
//! process's own cgroup on v1, under the root on v2) and remove it afterwards. They need root
//! and a writable cgroup hierarchy, and FAIL with a clear message otherwise: CI runs as root.
//! Tests that measure a process's memory hold `MEMORY_TESTS` so that they do not run at the
//! same time and disturb each other on a small machine.

use std::collections::BTreeSet;
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

static MEMORY_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: f64 = 1024.0 * 1024.0;

/// A running `app` binary and a client for its stress endpoints.
struct TestApp {
    child: Child,
    base: String,
    client: reqwest::Client,
    token: Option<String>,
    dir: PathBuf,
}

impl TestApp {
    async fn spawn() -> Self {
        Self::spawn_with(&[], |_| {}).await
    }

    /// Starts the binary with extra `env`, calls `placed(pid)` before waiting for it to be
    /// ready (the cgroup tests move it there), and waits for `/health`.
    async fn spawn_with(env: &[(&str, &str)], placed: impl FnOnce(u32)) -> Self {
        let dir = std::env::temp_dir().join(format!("stress-test-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("creating the test's temp dir");
        let port = free_port();
        let log = fs::File::create(dir.join("app.log")).expect("creating the app log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_app"));
        command
            .env("APP_LISTEN", format!("127.0.0.1:{port}"))
            .env("INSTANCE_NAME", "stress-test")
            .env("DATABASE_URL", format!("sqlite://{}/t.db", dir.display()))
            .env("APP_WORKERS", "2")
            .env("RUST_LOG", "warn")
            .env_remove("STRESS_TOKEN")
            .stdout(Stdio::null())
            .stderr(log);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawning the app binary");
        placed(child.id());
        let token = env
            .iter()
            .find(|(k, _)| *k == "STRESS_TOKEN")
            .map(|(_, v)| (*v).to_owned());
        let app = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("building the HTTP client"),
            token,
            dir,
        };
        app.wait_until_healthy().await;
        app
    }

    async fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let health = self
                .client
                .get(format!("{}/health", self.base))
                .send()
                .await;
            if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = fs::read_to_string(self.dir.join("app.log")).unwrap_or_default();
        panic!("the app did not answer /health within 20 s; its log:\n{log}");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("sending a request");
        let status = response.status();
        let text = response.text().await.expect("reading a response body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
        (status, body)
    }

    async fn start(&self, body: Value) -> (StatusCode, Value) {
        Self::send(self.request(reqwest::Method::POST, "/start").json(&body)).await
    }

    async fn start_raw(&self, body: &str, content_type: &str) -> (StatusCode, Value) {
        let request = self
            .request(reqwest::Method::POST, "/start")
            .header("content-type", content_type)
            .body(body.to_owned());
        Self::send(request).await
    }

    async fn post(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.request(reqwest::Method::POST, path)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.request(reqwest::Method::GET, path)).await
    }

    async fn status(&self) -> Value {
        let (code, body) = self.get("/status").await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body
    }

    /// Polls `/status` until `done(status)`, recording every phase seen.
    async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, BTreeSet<String>) {
        let deadline = Instant::now() + timeout;
        let mut phases = BTreeSet::new();
        loop {
            let status = self.status().await;
            phases.insert(status["phase"].as_str().unwrap_or_default().to_owned());
            if done(&status) {
                return (status, phases);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status {status}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Resident memory of the process in MiB, as the kernel reports it.
    fn rss_mb(&self) -> f64 {
        let statm = fs::read_to_string(format!("/proc/{}/statm", self.pid()))
            .expect("reading the app's /proc/<pid>/statm");
        let pages: f64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("parsing statm");
        pages * 4096.0 / MIB
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("polling the app") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}

fn operations(logs: &Value) -> Vec<String> {
    logs["logs"]
        .as_array()
        .expect("logs array")
        .iter()
        .map(|e| e["operation"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_test_goes_from_building_through_searching_to_completed_and_clear_frees_it() {
    let app = TestApp::spawn().await;
    let (code, started) = app
        .start(json!({"memory_mb": 50, "duration_seconds": 5, "log_interval_sec": 1}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["phase"], "building");
    assert_eq!(started["target_mb"], 50.0);
    assert_eq!(started["instance"], "stress-test");
    let config = &started["config"];
    assert_eq!(config["payload_kb"], 100);
    assert_eq!(config["search_threads"], 1);
    assert_eq!(config["search_pause_ms"], 50);
    assert_eq!(config["allow_oom"], false);

    let (code, body) = app.start(json!({"memory_mb": 20})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "test_running");
    let (code, body) = app.post("/clear").await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");

    let (searching, _) = app
        .wait_for("searching", Duration::from_secs(20), |s| {
            s["phase"] == "searching" && s["searches"].as_u64() > Some(0)
        })
        .await;
    assert_eq!(searching["running"], true);
    assert!(searching["nodes"].as_u64().unwrap() >= 500, "{searching}");
    assert!(
        searching["tree_mb"].as_f64().unwrap() >= 50.0,
        "{searching}"
    );
    let (done, phases) = app
        .wait_for("completed", Duration::from_secs(15), |s| {
            s["phase"] == "completed"
        })
        .await;
    assert!(phases.contains("searching"), "{phases:?}");
    assert_eq!(done["running"], false);
    assert!(done["elapsed_seconds"].as_f64().unwrap() >= 5.0, "{done}");
    assert!(
        done["nodes"].as_u64().unwrap() > 0,
        "the tree is kept until /clear: {done}"
    );

    let (code, logs) = app.get("/logs?limit=1000").await;
    assert_eq!(code, StatusCode::OK);
    let ops = operations(&logs);
    let expected = [
        "STRESS_TEST_START",
        "BUILD_TREE_START",
        "BUILD_TREE_TARGET",
        "BUILD_TREE_COMPLETE",
        "SEARCH_TREE_START",
        "SEARCH_TREE_PROGRESS",
        "SEARCH_TREE_COMPLETE",
        "STRESS_TEST_COMPLETE",
    ];
    let mut position = 0;
    for op in expected {
        let found = ops[position..].iter().position(|o| o == op);
        let found = found.unwrap_or_else(|| panic!("{op} missing or out of order in {ops:?}"));
        position += found + 1;
    }
    let entry = &logs["logs"][0];
    assert!(
        entry["timestamp"].is_string()
            && entry["rss_mb"].is_number()
            && entry["message"].is_string()
    );

    let (code, cleared) = app.post("/clear").await;
    assert_eq!(code, StatusCode::OK, "{cleared}");
    assert!(cleared["nodes_freed"].as_u64().unwrap() > 0);
    let idle = app.status().await;
    assert_eq!(idle["phase"], "idle");
    assert_eq!(idle["nodes"], 0);
    let (code, body) = app.post("/stop").await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "not_running");

    let (_, newest) = app.get("/logs?limit=2").await;
    assert_eq!(newest["count"], 2);
    assert_eq!(operations(&newest)[1], "MEMORY_CLEARED");
    let (code, body) = app.get("/logs?limit=0").await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["limit"].is_string());
}

#[tokio::test]
async fn every_invalid_start_gets_a_clear_error_and_none_starts_a_test() {
    let app = TestApp::spawn().await;
    let cpus = app.status().await["available_cpus"].as_u64().unwrap();
    let most_threads = cpus * 4;
    // (body, field that must be named, text its message must contain)
    let out_of_range = [
        (json!({"memory_mb": 9}), "memory_mb", "from 10 to 10000"),
        (json!({"memory_mb": 10001}), "memory_mb", "from 10 to 10000"),
        (
            json!({"memory_percent": 0.5}),
            "memory_percent",
            "from 1 to 95",
        ),
        (
            json!({"memory_percent": 96}),
            "memory_percent",
            "from 1 to 95",
        ),
        (
            json!({"memory_mb": 20, "duration_seconds": 4}),
            "duration_seconds",
            "from 5 to 3600",
        ),
        (
            json!({"memory_mb": 20, "duration_seconds": 3601}),
            "duration_seconds",
            "from 5 to 3600",
        ),
        (
            json!({"memory_mb": 20, "log_interval_sec": 0}),
            "log_interval_sec",
            "from 1 to 60",
        ),
        (
            json!({"memory_mb": 20, "log_interval_sec": 61}),
            "log_interval_sec",
            "from 1 to 60",
        ),
        (
            json!({"memory_mb": 20, "payload_kb": 0}),
            "payload_kb",
            "from 1 to 1024",
        ),
        (
            json!({"memory_mb": 20, "payload_kb": 1025}),
            "payload_kb",
            "from 1 to 1024",
        ),
        (
            json!({"memory_mb": 20, "search_threads": 0}),
            "search_threads",
            "or \"max\"",
        ),
        (
            json!({"memory_mb": 20, "search_threads": most_threads + 1}),
            "search_threads",
            &format!("from 1 to {most_threads}"),
        ),
        (
            json!({"memory_mb": 20, "search_threads": "min"}),
            "search_threads",
            "or \"max\"",
        ),
        (
            json!({"memory_mb": 20, "search_pause_ms": -1}),
            "search_pause_ms",
            "from 0 to 1000",
        ),
        (
            json!({"memory_mb": 20, "search_pause_ms": 1001}),
            "search_pause_ms",
            "from 0 to 1000",
        ),
        (
            json!({"memory_mb": 20, "search_threads": "max", "search_pause_ms": 10}),
            "search_pause_ms",
            "max",
        ),
        // Neither or both memory fields: both are named.
        (json!({}), "memory_mb", "exactly one"),
        (json!({}), "memory_percent", "exactly one"),
        (
            json!({"memory_mb": 20, "memory_percent": 10}),
            "memory_mb",
            "exactly one",
        ),
        (
            json!({"memory_mb": 20, "memory_percent": 10}),
            "memory_percent",
            "exactly one",
        ),
        // Wrong JSON types.
        (json!({"memory_mb": "300"}), "memory_mb", "integer"),
        (json!({"memory_mb": 300.5}), "memory_mb", "integer"),
        (json!({"memory_percent": true}), "memory_percent", "number"),
        (
            json!({"memory_mb": 20, "duration_seconds": 60.5}),
            "duration_seconds",
            "integer",
        ),
        (
            json!({"memory_mb": 20, "payload_kb": [1]}),
            "payload_kb",
            "integer",
        ),
        (
            json!({"memory_mb": 20, "allow_oom": 1}),
            "allow_oom",
            "true or false",
        ),
        (
            json!({"memory_mb": 20, "verbose": true}),
            "verbose",
            "unknown field",
        ),
        (json!([{"memory_mb": 20}]), "body", "expected a map"),
    ];
    for (body, field, text) in out_of_range {
        let (code, answer) = app.start(body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {answer}");
        assert_eq!(answer["error"], "validation_failed", "{body} -> {answer}");
        let problem = answer["fields"][field].as_str().unwrap_or_else(|| {
            panic!("{body}: field {field} is not named in {answer}");
        });
        assert!(problem.contains(text), "{body}: {problem:?} lacks {text:?}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }

    let (code, answer) = app
        .start_raw("{\"memory_mb\": 20", "application/json")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"], "malformed_json");
    let (code, answer) = app.start_raw("memory_mb=20", "text/plain").await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");

    let status = app.status().await;
    assert_eq!(status["phase"], "idle", "{status}");
    let (_, logs) = app.get("/logs").await;
    assert_eq!(logs["total"], 0, "no test may have started: {logs}");
}

#[tokio::test]
async fn with_stress_token_set_the_stress_endpoints_need_the_bearer_token() {
    let mut app = TestApp::spawn_with(&[("STRESS_TOKEN", "s3cret")], |_| {}).await;
    let token = app.token.take();
    let calls = [
        (reqwest::Method::POST, "/start"),
        (reqwest::Method::POST, "/stop"),
        (reqwest::Method::GET, "/status"),
        (reqwest::Method::GET, "/logs"),
        (reqwest::Method::POST, "/clear"),
    ];
    for (method, path) in &calls {
        let request = app
            .request(method.clone(), path)
            .json(&json!({"memory_mb": 20}));
        let (code, body) = TestApp::send(request).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(body["error"], "unauthorized", "{path}: {body}");
        let request = app.request(method.clone(), path).bearer_auth("wrong");
        let (code, _) = TestApp::send(request).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{path} with a wrong token");
    }
    let health = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "/health stays open");
    app.token = token;
    assert_eq!(app.status().await["phase"], "idle");
    let (_, logs) = app.get("/logs").await;
    assert_eq!(
        logs["total"], 0,
        "no unauthorized call may have started a test"
    );
}

#[tokio::test]
async fn memory_mb_300_grows_rss_by_300_mb_and_stop_then_clear_returns_it() {
    let _serial = MEMORY_TESTS.lock().await;
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        app.status().await;
    }
    let baseline = app.rss_mb();
    let (code, body) = app
        .start(json!({"memory_mb": 300, "duration_seconds": 30}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    app.wait_for("searching", Duration::from_secs(20), |s| {
        s["phase"] == "searching"
    })
    .await;
    let growth = app.rss_mb() - baseline;
    assert!(
        (270.0..=330.0).contains(&growth),
        "RSS grew by {growth:.1} MiB from {baseline:.1}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = app.rss_mb() - baseline;
    assert!(
        (270.0..=330.0).contains(&held),
        "RSS held at +{held:.1} MiB"
    );

    let stop_started = Instant::now();
    let (code, stopped) = app.post("/stop").await;
    let stop_took = stop_started.elapsed();
    assert_eq!(code, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["phase"], "stopped");
    assert!(
        stop_took < Duration::from_millis(200),
        "stop took {stop_took:?}"
    );

    let clear_started = Instant::now();
    let (code, cleared) = app.post("/clear").await;
    assert_eq!(code, StatusCode::OK, "{cleared}");
    loop {
        let rss = app.rss_mb();
        if rss <= baseline + 20.0 {
            break;
        }
        assert!(
            clear_started.elapsed() < Duration::from_secs(2),
            "RSS {rss:.1} MiB still above baseline {baseline:.1} + 20 MiB 2 s after /clear"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, logs) = app.get("/logs").await;
    let ops = operations(&logs);
    assert!(ops.contains(&"STRESS_TEST_STOPPED".to_owned()), "{ops:?}");
    assert_eq!(ops.last().map(String::as_str), Some("MEMORY_CLEARED"));
}

#[tokio::test]
async fn stop_lands_within_200_ms_mid_build_and_while_freeing_a_previous_tree() {
    let _serial = MEMORY_TESTS.lock().await;
    let app = TestApp::spawn().await;
    // A 2 GB target takes long enough to build that the stop arrives mid-build, once the tree
    // holds a gigabyte (so that the next start has a lot to free).
    let (code, body) = app
        .start(json!({"memory_mb": 2000, "payload_kb": 1024, "duration_seconds": 5}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    app.wait_for("a 1 GB tree", Duration::from_secs(20), |s| {
        s["tree_mb"].as_f64() >= Some(1000.0)
    })
    .await;
    let started = Instant::now();
    let (code, stopped) = app.post("/stop").await;
    let took = started.elapsed();
    assert_eq!(code, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["phase"], "stopped", "{stopped}");
    assert!(
        took < Duration::from_millis(200),
        "stop mid-build took {took:?}"
    );
    let kept = stopped["tree_mb"].as_f64().unwrap();
    assert!(
        (1000.0..2000.0).contains(&kept),
        "stopped mid-build: {stopped}"
    );

    // The next start frees the stopped tree first, slice by slice; a stop lands mid-way.
    let (code, body) = app.start(json!({"memory_mb": 100})).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let started = Instant::now();
    let (code, stopped) = app.post("/stop").await;
    let took = started.elapsed();
    assert_eq!(code, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["phase"], "stopped", "{stopped}");
    assert!(
        took < Duration::from_millis(200),
        "stop while freeing took {took:?}"
    );
    let (_, logs) = app.get("/logs?limit=1").await;
    let last = &logs["logs"][0];
    assert_eq!(last["operation"], "STRESS_TEST_STOPPED", "{logs}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("freeing the previous tree"),
        "the stop should have landed while freeing 1 GB: {last}"
    );
    let (code, cleared) = app.post("/clear").await;
    assert_eq!(code, StatusCode::OK);
    assert!(cleared["nodes_freed"].as_u64() > Some(0), "{cleared}");
}

/// A fresh cgroup (v1 memory+cpu controllers, or v2) holding the spawned app; removed on drop.
struct TestCgroup {
    /// One directory per v1 controller, or the single v2 directory.
    dirs: Vec<PathBuf>,
    v2: bool,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

impl TestCgroup {
    fn create(memory_limit_bytes: Option<u64>, cpu_quota: Option<f64>) -> Self {
        let name = format!("stress-test-{}", uuid::Uuid::new_v4());
        let v2 = Path::new(CGROUP_ROOT).join("cgroup.controllers").exists();
        let cgroup = if v2 {
            let root = Path::new(CGROUP_ROOT);
            write_cgroup(&root.join("cgroup.subtree_control"), "+memory +cpu");
            let dir = root.join(&name);
            make_cgroup_dir(&dir);
            Self {
                dirs: vec![dir],
                v2,
            }
        } else {
            // Nested under this process's own cgroup so that it stays inside whatever
            // hierarchy (CI job, container) runs the tests.
            let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
            let dirs = ["memory", "cpu"]
                .iter()
                .map(|controller| {
                    let path = own
                        .lines()
                        .filter_map(|line| {
                            let mut parts = line.splitn(3, ':').skip(1);
                            Some((parts.next()?, parts.next()?))
                        })
                        .find(|(ctrls, _)| ctrls.split(',').any(|c| c == *controller))
                        .map(|(_, p)| p.trim_start_matches('/').to_owned())
                        .unwrap_or_default();
                    let dir = Path::new(CGROUP_ROOT)
                        .join(controller)
                        .join(path)
                        .join(&name);
                    make_cgroup_dir(&dir);
                    dir
                })
                .collect();
            Self { dirs, v2 }
        };
        if let Some(bytes) = memory_limit_bytes {
            if cgroup.v2 {
                write_cgroup(&cgroup.memory_dir().join("memory.max"), &bytes.to_string());
                // Swap would blur the cap; the file only exists with swap accounting.
                let swap = cgroup.memory_dir().join("memory.swap.max");
                if swap.exists() {
                    write_cgroup(&swap, "0");
                }
            } else {
                write_cgroup(
                    &cgroup.memory_dir().join("memory.limit_in_bytes"),
                    &bytes.to_string(),
                );
                let memsw = cgroup.memory_dir().join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write_cgroup(&memsw, &bytes.to_string());
                }
            }
        }
        if let Some(quota) = cpu_quota {
            let quota_us = (quota * 100_000.0) as u64;
            if cgroup.v2 {
                write_cgroup(
                    &cgroup.cpu_dir().join("cpu.max"),
                    &format!("{quota_us} 100000"),
                );
            } else {
                write_cgroup(&cgroup.cpu_dir().join("cpu.cfs_period_us"), "100000");
                write_cgroup(
                    &cgroup.cpu_dir().join("cpu.cfs_quota_us"),
                    &quota_us.to_string(),
                );
            }
        }
        cgroup
    }

    fn memory_dir(&self) -> &Path {
        &self.dirs[0]
    }

    fn cpu_dir(&self) -> &Path {
        self.dirs.last().expect("a cgroup dir")
    }

    fn add(&self, pid: u32) {
        for dir in &self.dirs {
            write_cgroup(&dir.join("cgroup.procs"), &pid.to_string());
        }
    }

    fn stat(path: &Path, key: &str) -> u64 {
        let text =
            fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {}:\n{text}", path.display()))
    }

    fn nr_throttled(&self) -> u64 {
        Self::stat(&self.cpu_dir().join("cpu.stat"), "nr_throttled ")
    }

    fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        Self::stat(&self.memory_dir().join(file), "oom_kill ")
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // The killed process may take a moment to leave the cgroup.
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn make_cgroup_dir(dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| {
        panic!(
            "cannot create the cgroup {}: {e}. The cgroup tests need root and a writable cgroup \
             hierarchy (v1 memory+cpu controllers or v2); they fail rather than skip.",
            dir.display()
        )
    });
}

fn write_cgroup(path: &Path, value: &str) {
    fs::write(path, value).unwrap_or_else(|e| {
        panic!(
            "cannot write {value:?} to {}: {e}. The cgroup tests need root and a writable \
             cgroup hierarchy; they fail rather than skip.",
            path.display()
        )
    });
}

#[tokio::test]
async fn in_a_300_mb_cgroup_percent_targets_its_share_over_limit_is_refused_and_allow_oom_is_killed(
) {
    let _serial = MEMORY_TESTS.lock().await;
    let cgroup = TestCgroup::create(Some(300 << 20), None);
    let mut app = TestApp::spawn_with(&[], |pid| cgroup.add(pid)).await;
    let expected_source = if cgroup.v2 { "cgroup_v2" } else { "cgroup_v1" };

    let status = app.status().await;
    assert_eq!(status["memory_limit_mb"], 300.0, "{status}");
    assert_eq!(status["memory_limit_source"], expected_source, "{status}");

    let (code, started) = app
        .start(json!({"memory_percent": 50, "duration_seconds": 5}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["target_mb"], 150.0);
    assert_eq!(started["memory_limit_source"], expected_source);
    let status = app.status().await;
    assert_eq!(status["target_mb"], 150.0, "{status}");
    assert_eq!(status["memory_limit_source"], expected_source, "{status}");
    app.wait_for("searching", Duration::from_secs(20), |s| {
        s["phase"] == "searching"
    })
    .await;
    let (code, _) = app.post("/stop").await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = app.post("/clear").await;
    assert_eq!(code, StatusCode::OK);

    let (code, refused) = app.start(json!({"memory_mb": 400})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let problem = refused["fields"]["memory_mb"].as_str().unwrap();
    assert!(
        problem.contains("allow_oom") && problem.contains("300"),
        "{problem}"
    );

    let oom_before = cgroup.oom_kills();
    let (code, body) = app
        .start(json!({"memory_mb": 400, "allow_oom": true}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let exit = app
        .wait_exit(Duration::from_secs(20))
        .expect("the kernel should have killed the app over its 300 MB cap");
    assert_eq!(exit.signal(), Some(9), "expected SIGKILL, got {exit:?}");
    assert!(
        cgroup.oom_kills() > oom_before,
        "the cgroup's oom_kill counter did not rise"
    );
}

#[tokio::test]
async fn at_max_cpu_in_a_0_3_cpu_cgroup_throttling_rises_and_status_still_answers() {
    let cgroup = TestCgroup::create(None, Some(0.3));
    let app = TestApp::spawn_with(&[], |pid| cgroup.add(pid)).await;
    let status = app.status().await;
    let quota = status["cpu_quota"].as_f64().unwrap_or_default();
    assert!((quota - 0.3).abs() < 1e-6, "{status}");
    assert_eq!(status["available_cpus"], 1, "{status}");

    let (code, started) = app
        .start(json!({"memory_mb": 10, "search_threads": "max", "duration_seconds": 30}))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["config"]["search_threads"], 1);
    assert_eq!(started["config"]["search_pause_ms"], 0);
    app.wait_for("searching", Duration::from_secs(20), |s| {
        s["phase"] == "searching"
    })
    .await;
    let throttled_before = cgroup.nr_throttled();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let asked = Instant::now();
        let status = app.status().await;
        slowest = slowest.max(asked.elapsed());
        assert_eq!(status["phase"], "searching");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let throttled_after = cgroup.nr_throttled();
    assert!(
        throttled_after > throttled_before,
        "nr_throttled stayed at {throttled_before}"
    );
    assert!(
        slowest < Duration::from_secs(2),
        "/status took {slowest:?} under the cap"
    );
    let (code, _) = app.post("/stop").await;
    assert_eq!(code, StatusCode::OK);
}

#[test]
fn metrics_export_the_tree_and_openapi_describes_the_five_paths() {
    let manager = app::stress::StressManager::new("metrics-test".to_owned());
    let mut out = String::new();
    manager.write_prometheus(&mut out);
    for line in [
        "stress_running 0",
        "stress_phase{phase=\"idle\"} 1",
        "stress_phase{phase=\"building\"} 0",
        "stress_tree_nodes 0",
        "stress_tree_bytes 0",
        "stress_target_bytes 0",
        "stress_searches_total 0",
        "# TYPE stress_searches_total counter",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }

    let doc = serde_json::to_value(app::stress::openapi()).unwrap();
    for path in ["/start", "/stop", "/status", "/logs", "/clear"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let start = &doc["components"]["schemas"]["StartRequest"]["properties"];
    assert_eq!(start["memory_mb"]["maximum"], 10000, "{start}");
    assert!(start["search_threads"].is_object(), "{start}");
    assert!(start["search_pause_ms"]["description"]
        .as_str()
        .unwrap()
        .contains("seed"));
}
