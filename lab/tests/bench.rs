//! `lab bench`, `lab report` and `lab compare` end to end, against a stack made of parts whose
//! behaviour is known: two test upstreams (std TcpListener threads) that sleep or answer
//! known statuses, behind a real nginx writing the lab's JSON access log, loaded by real
//! siege, and attached to with `lab bench --attach` (the runtime is left out on purpose: the
//! stack work has its own tests). nginx runs in a real cgroup when the machine allows it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::assert::OutputAssertExt;
use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// How an upstream answers its n-th request (counted across both replicas) for a path.
type Behaviour = Arc<dyn Fn(u64, &str) -> (u16, Duration) + Send + Sync>;

/// The log format of the repository's nginx.conf when it exists, else the keys the brief
/// fixes (the stack work owns nginx.conf; both must produce the same lines).
fn log_format() -> String {
    let repo_conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nginx.conf");
    if let Ok(text) = std::fs::read_to_string(repo_conf) {
        if let Some(start) = text.find("log_format lab") {
            if let Some(end) = text[start..].find("';") {
                return text[start..start + end + 2].to_owned();
            }
        }
    }
    r#"log_format lab escape=json '{"t":"$time_iso8601","msec":$msec,"status":$status,"method":"$request_method","uri":"$request_uri","request_time":$request_time,"upstream_response_time":"$upstream_response_time","upstream_addr":"$upstream_addr","upstream_status":"$upstream_status","bytes":$body_bytes_sent,"instance":"$upstream_http_x_instance"}';"#.to_owned()
}

/// Reads one request; returns (path, head).
fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    break;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            return Some((path, head));
        }
    }
}

/// Starts an upstream replica on a free port; returns the port.
fn upstream(name: &'static str, counter: Arc<AtomicU64>, behaviour: Behaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let counter = counter.clone();
            let behaviour = behaviour.clone();
            std::thread::spawn(move || {
                let Some((path, head)) = read_request(&mut stream) else {
                    return;
                };
                // Like the app: a body that is not declared JSON is refused.
                let json_body = head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case("content-type: application/json"));
                let (status, delay) = if path == "/start" {
                    (202, Duration::ZERO)
                } else if path == "/stop" || path == "/clear" {
                    (200, Duration::ZERO)
                } else if head.starts_with("POST") && !json_body {
                    (415, Duration::ZERO)
                } else {
                    behaviour(counter.fetch_add(1, Ordering::SeqCst), &path)
                };
                std::thread::sleep(delay);
                let body = "{}";
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nX-Instance: {name}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// A cgroup for the test nginx (v1 or v2), removed on drop.
struct TestCgroup {
    dirs: Vec<PathBuf>,
    json: Value,
}

impl TestCgroup {
    fn create(name: &str) -> Option<Self> {
        let root = Path::new("/sys/fs/cgroup");
        if root.join("cgroup.controllers").exists() {
            let dir = root.join(name);
            std::fs::create_dir(&dir).ok()?;
            let _ = std::fs::write(dir.join("cpu.max"), "50000 100000");
            let _ = std::fs::write(dir.join("memory.max"), "209715200");
            return Some(Self {
                json: serde_json::json!({"version": "v2", "dir": dir}),
                dirs: vec![dir],
            });
        }
        let dirs: Vec<PathBuf> = ["cpu", "cpuacct", "memory"]
            .iter()
            .map(|c| root.join(c).join(name))
            .collect();
        for dir in &dirs {
            if std::fs::create_dir(dir).is_err() {
                for d in &dirs {
                    let _ = std::fs::remove_dir(d);
                }
                return None;
            }
        }
        std::fs::write(dirs[0].join("cpu.cfs_quota_us"), "50000").ok()?;
        std::fs::write(dirs[2].join("memory.limit_in_bytes"), "209715200").ok()?;
        Some(Self {
            json: serde_json::json!({"version": "v1", "cpu": dirs[0], "cpuacct": dirs[1], "memory": dirs[2]}),
            dirs,
        })
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Two upstreams behind a real nginx, described in `<dir>/state/stack.json`.
struct TestStack {
    dir: tempfile::TempDir,
    nginx: Child,
    cgroup: Option<TestCgroup>,
}

static STACKS: AtomicUsize = AtomicUsize::new(0);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestStack {
    fn start(behaviour: Behaviour) -> Self {
        let counter = Arc::new(AtomicU64::new(0));
        let app1 = upstream("app1", counter.clone(), behaviour.clone());
        let app2 = upstream("app2", counter, behaviour);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        let port = free_port();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  {}\n  access_log {d}/access.log lab;\n\
             client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
             upstream app {{ server 127.0.0.1:{app1}; server 127.0.0.1:{app2}; }}\n\
             server {{\n    listen 127.0.0.1:{port};\n\
                 location = /nginx-health {{ return 200; }}\n\
                 location /replicas/app1/ {{ proxy_pass http://127.0.0.1:{app1}/; }}\n\
                 location / {{ proxy_pass http://app; }}\n  }}\n}}\n",
            log_format()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let name = format!(
            "lab-bench-test-{}-{}",
            std::process::id(),
            STACKS.fetch_add(1, Ordering::SeqCst)
        );
        let cgroup = TestCgroup::create(&name);
        // Join the cgroup before exec so nginx's workers are born inside it.
        let join: String = cgroup
            .iter()
            .flat_map(|c| c.procs_files())
            .map(|f| format!("echo $$ > {} && ", f.display()))
            .collect();
        let nginx = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{join}exec nginx -p {d} -c {d}/nginx.conf -e {d}/error.log"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx (Debian's nginx-light) is needed for this test");
        let base_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "test nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let none = serde_json::json!(null);
        let stack = serde_json::json!({
            "profile": "test",
            "db": "sqlite",
            "base_url": base_url,
            "access_log": dir.path().join("access.log"),
            "capped": cgroup.is_some(),
            "services": [
                {"name": "app1", "pid": none, "cpu_limit": none, "memory_limit_bytes": none, "cgroup": none},
                {"name": "app2", "pid": none, "cpu_limit": none, "memory_limit_bytes": none, "cgroup": none},
                {"name": "nginx", "pid": nginx.id(), "cpu_limit": 0.5, "memory_limit_bytes": 209715200u64,
                 "cgroup": cgroup.as_ref().map(|c| c.json.clone())},
            ],
        });
        std::fs::write(
            dir.path().join("state/stack.json"),
            serde_json::to_string_pretty(&stack).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("test.env"),
            "SEED_CUSTOMERS=20\nSEED_DISKS=100\n",
        )
        .unwrap();
        Self { dir, nginx, cgroup }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn base_url(&self) -> String {
        let stack: Value =
            serde_json::from_str(&std::fs::read_to_string(self.path("state/stack.json")).unwrap())
                .unwrap();
        stack["base_url"].as_str().unwrap().to_owned()
    }

    /// A URL file of GETs to the test nginx.
    fn urls_file(&self) -> PathBuf {
        let path = self.path("urls.txt");
        std::fs::write(
            &path,
            format!(
                "BASE={}\n$(BASE)/disks/1\n$(BASE)/disks/2\n",
                self.base_url()
            ),
        )
        .unwrap();
        path
    }

    /// `lab bench --attach` with the given extra arguments.
    /// `lab bench --attach` to this stack, with `extra` flags.
    fn bench_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::cargo_bin("lab").unwrap();
        command
            .current_dir(self.dir.path())
            .env("RUST_LOG", "warn")
            .args(["bench", "--attach", "--state-dir"])
            .arg(self.path("state"))
            .arg("--profile")
            .arg(self.path("test.env"))
            .arg("--results")
            // Relative on purpose: the ceiling nginx must still find its files.
            .arg("results")
            .args(extra);
        command
    }

    fn bench(&self, extra: &[&str]) -> std::process::Output {
        let output = self.bench_command(extra).output().unwrap();
        eprintln!(
            "lab stdout:\n{}\nlab stderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The only run folder under results/.
    fn run_dir(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.path("results"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("run.json").is_file())
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs.remove(0)
    }

    fn run_json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.run_dir().join("run.json")).unwrap())
            .unwrap()
    }

    /// The run.json of the run whose folder ends with `-<label>`.
    fn run_json_labelled(&self, label: &str) -> Value {
        let dir = self.run_dir_labelled(label);
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
    }

    /// The folder of the run whose name ends with `-<label>`.
    fn run_dir_labelled(&self, label: &str) -> PathBuf {
        std::fs::read_dir(self.path("results"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(&format!("-{label}")))
            .unwrap_or_else(|| panic!("no run labelled {label}"))
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        // SIGQUIT: nginx's graceful stop.
        unsafe { libc::kill(self.nginx.id() as libc::pid_t, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nginx.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
        // Workers leave the cgroup as they exit; give them a moment before rmdir.
        std::thread::sleep(Duration::from_millis(200));
        drop(self.cgroup.take());
    }
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn percentiles_match_a_known_latency_distribution() {
    // Every tenth request sleeps 200 ms, the others 20 ms.
    let stack = TestStack::start(Arc::new(|n, _| {
        let ms = if n % 10 == 0 { 200 } else { 20 };
        (200, Duration::from_millis(ms))
    }));
    let urls = stack.urls_file();
    let output = stack.bench(&[
        "--scenario",
        urls.to_str().unwrap(),
        "--users",
        "20",
        "--step-secs",
        "4",
        "--warmup-secs",
        "0",
        "--ceiling-secs",
        "0",
    ]);
    assert!(output.status.success());
    let run = stack.run_json();
    let step = &run["steps"][0];
    let nginx = &step["nginx"];
    assert!(f(&nginx["requests"]) > 300.0, "{nginx}");
    let p50 = f(&nginx["p50_ms"]);
    let p99 = f(&nginx["p99_ms"]);
    // The known distribution, with room for a busy machine's scheduling delays.
    assert!((20.0..=35.0).contains(&p50), "p50 {p50}");
    assert!((200.0..=300.0).contains(&p99), "p99 {p99}");
    assert!(f(&nginx["max_ms"]) >= 200.0);
    let mean = f(&nginx["mean_ms"]);
    assert!((36.0..=60.0).contains(&mean), "mean {mean} (expected ~38)");
    // And exactly what the log says: sort every request_time of the step (the only one;
    // lab's `GET /` asking the app's version came before it).
    let mut times: Vec<f64> = std::fs::read_to_string(stack.path("access.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["uri"] != "/")
        .map(|v| (f(&v["request_time"]) * 1000.0).round())
        .collect();
    times.sort_by(f64::total_cmp);
    assert_eq!(times.len() as f64, f(&nginx["requests"]));
    let rank = |q: f64| {
        let n = times.len() as f64;
        let low = times[((q * n).floor() as usize).saturating_sub(1)];
        let high = times[((q * n).ceil() as usize).min(times.len() - 1)];
        (low, high)
    };
    for (q, value) in [(0.5, p50), (0.99, p99)] {
        let (low, high) = rank(q);
        assert!(
            low <= value && value <= high,
            "q{q}: {value} not in [{low}, {high}]"
        );
    }
    assert_eq!(f(&nginx["max_ms"]), *times.last().unwrap());
    assert_eq!(f(&nginx["availability_percent"]), 100.0);
    // Both replicas served about half.
    let app1 = f(&nginx["replicas"]["app1"]);
    let app2 = f(&nginx["replicas"]["app2"]);
    assert!((app1 / (app1 + app2) - 0.5).abs() < 0.1, "{app1} vs {app2}");
    // nginx's own cgroup was sampled.
    let nginx_usage = step["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nginx")
        .unwrap();
    let expected = if stack.cgroup.is_some() {
        "cgroup"
    } else {
        "proc"
    };
    assert!(
        nginx_usage["source"]
            .as_str()
            .unwrap()
            .starts_with(expected),
        "{nginx_usage}"
    );
    assert!(f(&nginx_usage["cpu_seconds"]) > 0.0, "{nginx_usage}");
    assert!(f(&nginx_usage["memory_peak_bytes"]) > 0.0, "{nginx_usage}");
    assert!(f(&step["driver_cpu_seconds"]) > 0.0);
}

#[test]
fn rate_limited_and_server_errors_are_split_and_gate_the_exit_code() {
    // 20% 429, 10% 503, 70% 200: the client and nginx count 429 as unavailable, siege does not.
    let stack = TestStack::start(Arc::new(|n, _| {
        let status = match n % 10 {
            0 | 1 => 429,
            2 => 503,
            _ => 200,
        };
        (status, Duration::from_millis(2))
    }));
    let urls = stack.urls_file();
    for driver in ["lab", "siege"] {
        let output = stack.bench(&[
            "--driver",
            driver,
            "--scenario",
            urls.to_str().unwrap(),
            "--users",
            "10",
            "--step-secs",
            "3",
            "--warmup-secs",
            "0",
            "--ceiling-secs",
            "0",
            "--slo",
            "availability>=99",
            "--label",
            driver,
        ]);
        assert_eq!(output.status.code(), Some(2), "an SLO failure exits with 2");
        assert!(String::from_utf8_lossy(&output.stderr).contains("SLO not met"));
        let run = stack.run_json_labelled(driver);
        let step = &run["steps"][0];
        assert_eq!(step["driver"], driver);
        // The run records the siegerc siege read, and only when siege ran.
        assert_eq!(
            stack.run_dir_labelled(driver).join("siegerc").is_file(),
            driver == "siege"
        );
        let nginx = &step["nginx"];
        let answered = f(&nginx["requests"]) - f(&nginx["status_499"]);
        assert!(answered > 200.0, "{nginx}");
        let share = |key: &str| 100.0 * f(&nginx[key]) / answered;
        assert!((share("status_429") - 20.0).abs() < 2.0, "{nginx}");
        assert!((share("status_5xx") - 10.0).abs() < 2.0, "{nginx}");
        assert!(
            (f(&nginx["availability_percent"]) - 70.0).abs() < 2.0,
            "{nginx}"
        );
        if driver == "lab" {
            let client = &step["client"];
            let answers = f(&client["responses"]);
            assert!(
                (100.0 * f(&client["status_429"]) / answers - 20.0).abs() < 2.0,
                "{client}"
            );
            assert!(
                (100.0 * f(&client["status_5xx"]) / answers - 10.0).abs() < 2.0,
                "{client}"
            );
            assert!(
                (f(&client["availability_percent"]) - 70.0).abs() < 2.0,
                "the client counts 429 as unavailable: {client}"
            );
            assert!(step["siege"].is_null());
        } else {
            let siege_availability = f(&step["siege"]["availability"]);
            assert!(
                siege_availability > 85.0,
                "siege counts 429 as available: {siege_availability}"
            );
            assert!(step["client"].is_null());
        }
        assert_eq!(step["verdict"]["bottleneck"], "rate_limiter");
        assert_eq!(step["slo"]["passed"], false);
        assert_eq!(run["sustainable"][0]["max_users"], Value::Null);
    }
}

#[test]
fn a_small_matrix_writes_results_plots_and_redraws_and_compares() {
    let stack = TestStack::start(Arc::new(|_, _| (200, Duration::from_millis(1))));
    let output = stack.bench(&[
        "--scenario",
        "read,stress",
        "--users",
        "4,8",
        "--rate",
        "300",
        "--step-secs",
        "2",
        "--warmup-secs",
        "1",
        "--ceiling-secs",
        "1",
        "--label",
        "e2e",
        "--slo",
        "p99_ms<1000,availability>=99",
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let run_dir = stack.run_dir();
    assert!(
        stdout.trim_end().ends_with("report.html"),
        "ends with the HTML report's path: {stdout}"
    );
    assert!(run_dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .ends_with("-e2e"));
    for file in [
        "run.json",
        "steps.csv",
        "samples.csv",
        "report.md",
        "report.html",
    ] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    assert!(
        !run_dir.join("siegerc").exists(),
        "lab's own client reads no siegerc: none is recorded"
    );
    for stem in [
        "throughput",
        "latency",
        "availability",
        "replicas",
        "resources-test-read",
    ] {
        // A panel whose values are all one number collapses to one line of text, so an SVG
        // can be small: it must still be a whole SVG that says something.
        let png = run_dir.join(format!("{stem}.png"));
        assert!(std::fs::metadata(&png).unwrap().len() > 1000, "{png:?}");
        let svg = std::fs::read_to_string(run_dir.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>") && svg.contains("<text"),
            "{stem}.svg: {svg}"
        );
    }
    let run = stack.run_json();
    assert!(run["finished_at"].is_string());
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    let levels: Vec<String> = steps
        .iter()
        .map(|s| format!("{} {} {}", s["model"], s["users"], s["rate_per_s"]))
        .collect();
    let expected = ["\"closed\" 4 null", "\"closed\" 8 null", "\"open\" 0 300.0"];
    assert_eq!(levels, [expected, expected].concat());
    // The closed steps' users and the open steps' 50 connections.
    assert_eq!(run["driver_ceiling"].as_array().unwrap().len(), 3);
    assert!(f(&run["driver_ceiling"][0]["transactions_per_s"]) > 100.0);
    for step in steps {
        assert!(f(&step["nginx"]["requests"]) > 10.0, "{step}");
        assert!(step["ceiling_percent"].is_number());
        assert_eq!(step["driver"], "lab");
        let client = &step["client"];
        assert!(f(&client["responses"]) > 10.0, "{step}");
        assert!(f(&client["latency"]["p99_ms"]) >= f(&client["latency"]["p50_ms"]));
        assert!(!client["histogram"].as_str().unwrap().is_empty());
        assert!(
            !step["consistency"].as_array().unwrap().is_empty(),
            "{step}"
        );
        assert!(step["verdict"]["bottleneck"].is_string());
        assert_eq!(step["slo"]["passed"], true, "{step}");
    }
    // The open steps kept to their rate: 300/s for 2 s.
    for step in [&steps[2], &steps[5]] {
        let client = &step["client"];
        assert!((f(&client["offered_rate_per_s"]) - 300.0).abs() < 1e-9);
        assert!(f(&client["requests_due"]) >= 590.0, "{client}");
        assert!(f(&client["achieved_rate_per_s"]) > 270.0, "{client}");
    }
    // Built-in scenarios were generated for this stack's address and seed sizes.
    // Recorded relative to the repository (here the stack's folder, lab's working directory).
    let read_urls =
        std::fs::read_to_string(stack.path(steps[0]["urls_file"].as_str().unwrap())).unwrap();
    assert!(read_urls.contains(&format!("BASE={}", stack.base_url())));
    assert!(read_urls.contains("SEED_DISKS=100"));
    // The stress steps made app1 grow its tree.
    assert_eq!(steps[3]["stress_start_status"], 202);
    assert!(!run["samples"].as_array().unwrap().is_empty());
    let read = run["sustainable"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == "read")
        .unwrap();
    assert_eq!(read["max_users"], 8);
    assert_eq!(read["max_rate_per_s"], 300.0);
    let steps_csv = std::fs::read_to_string(run_dir.join("steps.csv")).unwrap();
    assert_eq!(steps_csv.lines().count(), 7);
    // Every step split by endpoint, in run.json, endpoints.csv and a plot per series.
    for step in steps {
        let endpoints = step["nginx"]["endpoints"].as_array().unwrap();
        let total: f64 = endpoints.iter().map(|e| f(&e["requests"])).sum();
        assert_eq!(total, f(&step["nginx"]["requests"]), "{step}");
        assert!(endpoints
            .iter()
            .any(|e| e["endpoint"] == "GET /disks/{id}" && f(&e["p99_ms"]) >= f(&e["p50_ms"])));
    }
    let endpoints_csv = std::fs::read_to_string(run_dir.join("endpoints.csv")).unwrap();
    assert!(endpoints_csv.starts_with("step,profile,scenario,users,endpoint,"));
    assert!(endpoints_csv.contains("GET /disks/{id}"));
    assert!(run_dir.join("endpoints-test-read.png").is_file());

    // `lab report` redraws from run.json alone.
    for file in ["report.md", "throughput.png", "steps.csv"] {
        std::fs::remove_file(run_dir.join(file)).unwrap();
    }
    Command::cargo_bin("lab")
        .unwrap()
        .args(["report"])
        .arg(&run_dir)
        .assert()
        .success();
    for file in ["report.md", "throughput.png", "steps.csv"] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(report.contains("| test | read | 8 users |"), "{report}");
    assert!(report.contains("| test | read | 300/s |"), "{report}");

    // `lab compare` refuses one run given twice: it would count as two repeats of itself.
    Command::cargo_bin("lab")
        .unwrap()
        .args(["compare"])
        .arg(&run_dir)
        .arg(run_dir.join("run.json"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("is given twice"));
    // A copy of the run is another run with the same label: one group of two repeats.
    let copy = stack.path("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(run_dir.join("run.json"), copy.join("run.json")).unwrap();
    let out = stack.path("compare");
    Command::cargo_bin("lab")
        .unwrap()
        .args(["compare"])
        .arg(&run_dir)
        .arg(&copy)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let compare = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(
        compare.contains("| 1 (baseline) | `e2e` | ")
            && compare.contains("| attached | sqlite | lab | test | read, stress |"),
        "{compare}"
    );
    assert!(
        compare.contains("| test / read | 8 users | ")
            && compare.contains("| test / read (open) | 300/s | "),
        "{compare}"
    );
    assert!(
        compare.contains("| endpoint | e2e / test / read (8 users) |"),
        "{compare}"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["groups"].as_array().unwrap().len(), 1, "{json}");
    for stem in [
        "compare-throughput",
        "compare-latency",
        "compare-availability",
    ] {
        assert!(out.join(format!("{stem}.png")).is_file());
        assert!(out.join(format!("{stem}.svg")).is_file());
    }
}

fn steps_of(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

fn users_of(run: &Value) -> Vec<u64> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["users"].as_u64().unwrap())
        .collect()
}

#[test]
fn an_interrupted_run_resumes_to_the_steps_of_an_uninterrupted_one() {
    let stack = TestStack::start(Arc::new(|_, _| (200, Duration::from_millis(1))));
    let plan = [
        "--scenario",
        "read",
        "--users",
        "2,4,6,8",
        "--step-secs",
        "2",
        "--warmup-secs",
        "1",
        "--ceiling-secs",
        "0",
        "--slo",
        "p99_ms<1000",
    ];
    // Interrupted: SIGINT once two steps are in run.json (the step under way is finished
    // and kept, as Ctrl-C does).
    let mut cut = stack
        .bench_command(&[&plan[..], &["--label", "cut"]].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let cut_dir = loop {
        assert!(Instant::now() < deadline, "two steps never written");
        let dir = std::fs::read_dir(stack.path("results"))
            .ok()
            .and_then(|mut d| d.find_map(|e| Some(e.ok()?.path())))
            .filter(|p| p.join("run.json").is_file());
        if let Some(dir) = dir.filter(|d| {
            std::fs::read_to_string(d.join("run.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|r| r["steps"].as_array().is_some_and(|s| s.len() >= 2))
        }) {
            break dir;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    unsafe { libc::kill(cut.id() as libc::pid_t, libc::SIGINT) };
    let status = cut.wait().unwrap();
    assert!(
        !status.success(),
        "an interrupted bench says so in its exit code"
    );
    let interrupted = steps_of(&cut_dir);
    assert!(interrupted["finished_at"].is_null());
    let kept = users_of(&interrupted);
    assert!(kept.len() >= 2 && kept.len() < 4, "{kept:?}");

    // Resumed from the folder alone: the recorded command line is the plan.
    let output = Command::cargo_bin("lab")
        .unwrap()
        .current_dir(stack.path(""))
        .env("RUST_LOG", "warn")
        .args(["bench", "--resume"])
        .arg(&cut_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resumed = steps_of(&cut_dir);
    assert!(resumed["finished_at"].is_string());
    assert_eq!(users_of(&resumed), [2, 4, 6, 8]);
    // The kept steps are the same records, not measured again.
    for (i, step) in interrupted["steps"].as_array().unwrap().iter().enumerate() {
        assert_eq!(&resumed["steps"][i], step);
    }
    for (i, step) in resumed["steps"].as_array().unwrap().iter().enumerate() {
        assert_eq!(step["index"], i);
    }

    // An uninterrupted run of the same plan has the same steps.
    let whole = stack.bench(&[&plan[..], &["--label", "whole"]].concat());
    assert!(whole.status.success());
    let whole_dir = std::fs::read_dir(stack.path("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-whole"))
        .unwrap();
    assert_eq!(users_of(&steps_of(&whole_dir)), users_of(&resumed));

    // A finished run is not resumed again.
    let again = Command::cargo_bin("lab")
        .unwrap()
        .current_dir(stack.path(""))
        .args(["bench", "--resume"])
        .arg(&cut_dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to resume"));
}

#[test]
fn ramp_mode_finds_the_knee() {
    // One request at a time, 10 ms each: latency grows with users (about users x 10 ms).
    let gate = Arc::new(Mutex::new(()));
    let stack = TestStack::start(Arc::new(move |_, _| {
        let _serialised = gate.lock().unwrap();
        std::thread::sleep(Duration::from_millis(10));
        (200, Duration::ZERO)
    }));
    let urls = stack.urls_file();
    let output = stack.bench(&[
        "--scenario",
        urls.to_str().unwrap(),
        "--ramp",
        "--users",
        "2,32",
        "--slo",
        "p99_ms<60",
        "--step-secs",
        "2",
        "--warmup-secs",
        "0",
        "--ceiling-secs",
        "0",
    ]);
    assert!(
        output.status.success(),
        "a ramp that met the SLO somewhere passes"
    );
    let run = stack.run_json();
    let users: Vec<u64> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users.first(), Some(&2));
    assert!(
        users.len() >= 2 && users.len() <= 4,
        "stops at the first failure: {users:?}"
    );
    let sustainable = &run["sustainable"][0];
    let max = sustainable["max_users"].as_u64().unwrap();
    let failing = sustainable["first_failing_users"].as_u64().unwrap();
    assert_eq!(failing, *users.last().unwrap());
    assert_eq!(failing, max * 2, "{sustainable}");
    assert!((2..=4).contains(&max), "knee {max}");
}

#[test]
fn bad_input_stops_before_any_load_with_a_clear_message() {
    let stack = TestStack::start(Arc::new(|_, _| (200, Duration::ZERO)));
    let bad = stack.path("bad.txt");
    std::fs::write(&bad, "# fine\nhttp://127.0.0.1:1/a\n/disks/1\n").unwrap();
    let output = stack.bench(&["--scenario", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.txt:3:"), "{stderr}");

    let output = stack.bench(&["--slo", "p99<250"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown metric \"p99\""));
    let output = stack.bench(&["--ramp"]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--ramp raises users until an SLO breaks")
    );
    let output = stack.bench(&["--scenario", "nope"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown scenario \"nope\""));
    assert!(
        !stack.path("results").exists(),
        "nothing ran, nothing written"
    );
}
