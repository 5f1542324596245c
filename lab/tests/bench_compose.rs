//! `lab bench --runtime compose` on the host, on a real Docker engine: the stack comes up as a
//! compose project of its own (its own name, port and log folder), a short `by-id` step runs,
//! and nginx's capped ceiling is measured in the same run by compose.yaml's `ceiling` services
//! (the stack's nginx container, under the profile's nginx cap, proxying to a stub). The
//! report sets the step beside that ceiling, the ceiling's containers are gone once it is
//! measured, and the bench takes the stack down. It fails, never skips, without an engine.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// The first `up --build` may compile the app image from nothing.
const TIMEOUT: Duration = Duration::from_secs(45 * 60);

struct Project {
    name: String,
    logs: tempfile::TempDir,
}

impl Project {
    fn containers(&self, service: Option<&str>) -> String {
        let mut args = vec![
            "ps".to_owned(),
            "-aq".to_owned(),
            "--filter".to_owned(),
            format!("label=com.docker.compose.project={}", self.name),
        ];
        if let Some(service) = service {
            args.push("--filter".to_owned());
            args.push(format!("label=com.docker.compose.service={service}"));
        }
        let out = Command::new("docker").args(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Whatever happened, leave nothing of the project (its database volume included).
        let _ = Command::new("docker")
            .current_dir(common::workspace())
            .args(["compose", "--env-file", "profiles/tight.env"])
            .args(["--profile", "ceiling", "down", "-v"])
            .env("COMPOSE_PROJECT_NAME", &self.name)
            .env("LAB_LOG_DIR", self.logs.path())
            .output();
    }
}

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {value}"))
}

/// The profile's value of `key` (profiles/<name>.env).
fn profile_value(profile: &str, key: &str) -> String {
    let path = common::workspace().join(format!("profiles/{profile}.env"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing from {}", path.display()))
        .trim()
        .to_owned()
}

#[test]
fn a_compose_bench_measures_nginxs_capped_ceiling_in_the_same_run_and_removes_it() {
    let engine = Command::new("docker").arg("info").output();
    assert!(
        engine.is_ok_and(|o| o.status.success()),
        "no Docker engine answers `docker info`: start one (scripts/docker-engine.sh)"
    );
    let project = Project {
        name: format!("labbench{}", std::process::id()),
        logs: tempfile::tempdir().unwrap(),
    };
    let state = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let output = assert_cmd::Command::cargo_bin("lab")
        .unwrap()
        .current_dir(common::workspace())
        .args(["bench", "--runtime", "compose", "--db", "postgres"])
        .args(["--profile", "tight", "--scenario", "siege/urls/by-id.txt"])
        .args(["--users", "20", "--step-secs", "5", "--warmup-secs", "1"])
        .args(["--ceiling-secs", "5"])
        .arg("--results")
        .arg(results.path())
        .arg("--state-dir")
        .arg(state.path())
        .env("COMPOSE_PROJECT_NAME", &project.name)
        .env("LAB_HTTP_PORT", port.to_string())
        .env("LAB_LOG_DIR", project.logs.path())
        // The daemon's own open-file limit caps the containers' (20000 on CI's machines).
        .env(
            "LAB_NOFILE",
            std::env::var("LAB_NOFILE").unwrap_or_else(|_| "16384".into()),
        )
        .env("RUST_LOG", "warn")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let stdout = common::succeeded(&output, "lab bench --runtime compose");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("capped ceiling not measured"),
        "the ceiling must be measured:\n{stderr}"
    );

    let report = stdout.lines().last().unwrap_or_default();
    let run_dir = Path::new(report).parent().unwrap();
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["settings"]["runtime"], "compose");

    // lab's client went to nginx's address on the project's network (no docker-proxy) on a
    // Linux engine; Docker Desktop routes no container address to the host (published port).
    let profile = &run["profiles"][0];
    let desktop = Command::new("docker")
        .args(["info", "--format", "{{.OperatingSystem}}"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Docker Desktop"));
    let url = profile["base_url"].as_str().unwrap();
    if desktop {
        assert_eq!(profile["client_path"], "published", "{profile:#}");
        assert_eq!(url, format!("http://127.0.0.1:{port}"));
    } else {
        assert_eq!(profile["client_path"], "bridge", "{profile:#}");
        let addr: std::net::SocketAddrV4 = url.trim_start_matches("http://").parse().unwrap();
        assert!(
            addr.ip().is_private() && addr.port() == 8080,
            "nginx's own address and port on the stack's network: {url}"
        );
    }

    // The ceiling: one point, for this profile and concurrency, under the profile's cap (as
    // the engine applied it), with nginx's CPU read from its container.
    let points = run["nginx_ceiling"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{points:#?}");
    let point = &points[0];
    assert_eq!(point["profile"], "tight");
    assert_eq!(point["users"], 20);
    let cap: f64 = profile_value("tight", "NGINX_CPUS").parse().unwrap();
    assert!(
        (number(&point["nginx_cpu_limit_cores"]) - cap).abs() < 1e-9,
        "the ceiling runs under the profile's nginx cap: {point:#}"
    );
    let ceiling = number(&point["requests_per_s"]);
    assert!(ceiling > 50.0, "{point:#}");
    let cores = number(&point["nginx_cpu_cores"]);
    assert!(
        cores > 0.0 && cores <= cap * 1.2,
        "nginx's CPU, held to its cap: {point:#}"
    );
    assert!(number(&point["nginx_cpu_us_per_request"]) > 0.0);

    // The step, through the stack's nginx, is set beside it in the report.
    let step = &run["steps"][0];
    assert_eq!(step["users"], 20);
    assert!(number(&step["nginx"]["requests_per_s"]) > 0.0, "{step:#}");
    // Each container's CPU is over the load's own seconds: the engine's readings wait for
    // its once-a-second collector, and dividing by their span counted idle seconds as load
    // (nginx pinned at its cap read as 80% of it).
    // The load's seconds as lab counts them: the driver's own time sending and answering
    // (at least the step's), never more than its process's wall time, which also holds its
    // start-up and exit (a second more on a busy machine).
    let client = &step["client"];
    let load_secs = number(&client["active_secs"])
        .max(number(&client["load_secs"]))
        .min(number(&step["wall_secs"]));
    for service in step["services"].as_array().unwrap() {
        let (cores, seconds) = (
            number(&service["cpu_cores"]),
            number(&service["cpu_seconds"]),
        );
        assert!(
            (cores * load_secs - seconds).abs() <= 0.02 * seconds + 1e-6,
            "CPU over the {load_secs:.2} s of load: {service:#}"
        );
        if service["name"] == "nginx" && number(&service["cpu_throttled_percent"]) >= 90.0 {
            assert!(
                cores >= 0.85 * cap,
                "nginx throttled in nearly every period uses nearly all of its cap: {service:#}"
            );
        }
    }
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("## nginx's capped ceiling"), "{md}");
    assert!(md.contains("The load reached nginx through"), "{md}");
    assert!(md.contains("% of nginx's ceiling"), "{md}");

    // Gone once measured, and the bench took the stack down.
    assert_eq!(project.containers(Some("nginx-ceiling")), "");
    assert_eq!(project.containers(Some("ceiling-upstream")), "");
    assert_eq!(
        project.containers(None),
        "",
        "the bench takes the stack down"
    );
}
