//! lab's load driver (`lab __drive`) against a real nginx that stops for one second in the
//! middle of the load (SIGSTOP, then SIGCONT): the closed model's users wait with the stall, so
//! few requests meet it and its p99 hides it; the open model keeps its schedule, so every
//! request due during the stall counts its wait, and its p99 shows it. This is the measurement
//! the client's latency exists for (coordinated omission); docs/bench.md, "Closed and open
//! load".

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// An nginx of one process (no master), so one SIGSTOP stops all of it.
struct StoppableNginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl StoppableNginx {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let port = common::free_port();
        let conf = format!(
            "master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n\
             client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
             server {{\n    listen 127.0.0.1:{port} backlog=4096;\n\
                 location / {{ default_type application/json; return 200 '{{\"id\":1,\"title\":\"Kind of Blue\"}}'; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(std::env::var("LAB_NGINX_BIN").unwrap_or("nginx".into()))
            .args(["-p", &d, "-c", &format!("{d}/nginx.conf"), "-e"])
            .arg(format!("{d}/error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx (Debian's nginx-light) is needed for this test");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "test nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: a signal to our own child.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({signal}) failed");
    }
}

impl Drop for StoppableNginx {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `lab __drive` with `load` for 6 s, stopping nginx from 2.5 s to 3.5 s; returns the
/// driver's report.
fn drive_through_a_stall(nginx: &StoppableNginx, urls: &Path, load: &[&str]) -> Value {
    let driver = Command::cargo_bin("lab")
        .unwrap()
        .args(["__drive", "--secs", "6", "--urls"])
        .arg(urls)
        .args(load)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    nginx.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    nginx.signal(libc::SIGCONT);
    // The driver ends by itself: its 6 s, then at most its 10 s time-out for the last answers.
    let output = driver.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "lab __drive {load:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the driver prints its report as JSON")
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn a_one_second_stall_hides_in_the_closed_models_p99_and_shows_in_the_open_models() {
    let nginx = StoppableNginx::start();
    let dir = tempfile::tempdir().unwrap();
    let urls = dir.path().join("urls.txt");
    std::fs::write(
        &urls,
        format!("BASE=http://127.0.0.1:{}\n$(BASE)/disks/1\n", nginx.port),
    )
    .unwrap();

    let closed = drive_through_a_stall(&nginx, &urls, &["--users", "5"]);
    let open = drive_through_a_stall(&nginx, &urls, &["--rate", "500"]);
    let (c, o) = (&closed["latency"], &open["latency"]);
    eprintln!("closed: {c}\nopen:   {o}");

    // Both saw the stall: their slowest requests waited through it.
    assert!(f(&c["max_ms"]) >= 900.0, "closed max: {c}");
    assert!(f(&o["max_ms"]) >= 900.0, "open max: {o}");
    // The closed users sent a handful of requests into the stall among thousands: its p99
    // says nothing happened.
    assert!(f(&closed["responses"]) > 1000.0, "{closed}");
    assert!(f(&c["p99_ms"]) < 100.0, "closed p99 hides the stall: {c}");
    // The open load had ~500 requests due during the stall, 1 in 6 of its 3000: their waits
    // (from ~1000 ms down to ~0) are in its percentiles.
    assert!((f(&open["requests_due"]) - 3000.0).abs() <= 2.0, "{open}");
    assert_eq!(f(&open["timeouts"]), 0.0, "{open}");
    assert!(f(&o["p99_ms"]) >= 800.0, "open p99 shows the stall: {o}");
    assert!(f(&o["p90_ms"]) >= 200.0, "open p90 shows the stall: {o}");
    assert!(
        f(&o["p99_ms"]) > 10.0 * f(&c["p99_ms"]),
        "closed {c}, open {o}"
    );
    // Little's law saw the queue build: in flight, averaged, well above a calm 500/s x ~1 ms.
    assert!(f(&open["mean_in_flight"]) > 10.0, "{open}");
}
