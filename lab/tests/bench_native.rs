//! `lab bench` end to end on the native runtime: the real stack (two replicas of the app,
//! nginx, SQLite) started under the `tight` profile's cgroup caps, a real siege, a tiny matrix.
//! Needs root (cgroups), nginx and siege, like the stack tests; fails, never skips, without.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

mod common;

use common::{app_bin, workspace};

fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {value}"))
}

#[test]
fn a_native_bench_on_the_tight_profile_measures_every_service_and_takes_the_stack_down() {
    let state = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let port_base: u16 = 24180;
    let output = Command::cargo_bin("lab")
        .unwrap()
        .current_dir(workspace())
        .env("LAB_STATE_DIR", state.path())
        .env("LAB_APP_BIN", app_bin())
        .env("LAB_HTTP_PORT", port_base.to_string())
        .env("LAB_PORT_BASE", port_base.to_string())
        .env("SEED_CUSTOMERS", "50")
        .env("SEED_DISKS", "200")
        .env("RUST_LOG", "warn")
        .args(["bench", "--profile", "tight", "--db", "sqlite"])
        .args(["--scenario", "read,mixed", "--users", "4"])
        .args([
            "--step-secs",
            "3",
            "--warmup-secs",
            "1",
            "--ceiling-secs",
            "1",
        ])
        .args(["--slo", "availability>=99"])
        .arg("--results")
        .arg(results.path())
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    let stdout = common::succeeded(&output, "lab bench");
    let report_line = stdout.lines().last().unwrap_or_default();
    assert!(
        report_line.ends_with("report.html"),
        "last line should name the HTML report: {stdout}"
    );
    assert!(Path::new(report_line).is_file());
    let html = std::fs::read_to_string(report_line).unwrap();
    assert!(
        html.contains("<figure><svg") && html.contains("<table>"),
        "report.html holds the tables and the plots inline"
    );

    let run_dir = Path::new(report_line).parent().unwrap();
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["settings"]["runtime"], "native");
    let profile = &run["profiles"][0];
    assert_eq!(profile["name"], "tight");
    assert_eq!(profile["capped"], true, "tight must run under cgroup caps");
    assert_eq!(profile["seed_disks"], 200);

    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "one step per scenario");
    for step in steps {
        let nginx = &step["nginx"];
        assert!(
            number(&nginx["requests"]) > 20.0,
            "too few requests: {step}"
        );
        assert_eq!(number(&nginx["availability_percent"]), 100.0, "{step}");
        assert_eq!(number(&nginx["status_5xx"]), 0.0);
        let replicas = nginx["replicas"].as_object().unwrap();
        for name in ["app1", "app2"] {
            assert!(
                replicas.get(name).map_or(0.0, number) > 0.0,
                "{name} served nothing: {replicas:?}"
            );
        }
        let services = step["services"].as_array().unwrap();
        for name in ["app1", "app2", "nginx"] {
            let service = services
                .iter()
                .find(|s| s["name"] == name)
                .unwrap_or_else(|| panic!("no usage for {name}: {services:?}"));
            assert!(number(&service["cpu_seconds"]) > 0.0, "{service}");
            assert!(number(&service["memory_peak_bytes"]) > 0.0, "{service}");
            assert!(service["cpu_limit_cores"].as_f64().is_some(), "{service}");
        }
        let app1 = services.iter().find(|s| s["name"] == "app1").unwrap();
        assert!((number(&app1["cpu_limit_cores"]) - 0.3).abs() < 1e-9);
        assert!(step["verdict"].is_object(), "{step}");
    }
    for file in ["steps.csv", "samples.csv", "throughput.png", "latency.svg"] {
        assert!(
            run_dir.join(file).is_file(),
            "{file} missing in {}",
            run_dir.display()
        );
    }

    // The bench took its stack down: no supervisor, replica or nginx of it is left.
    let state_text = state.path().display().to_string();
    let leftovers = std::process::Command::new("pgrep")
        .args(["-f", &state_text])
        .output()
        .unwrap();
    assert!(
        leftovers.stdout.is_empty(),
        "processes of the bench's stack are still running: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
}
