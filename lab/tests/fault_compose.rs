//! The fault scenarios on the compose stack, on a real Docker engine: `lab fault --runtime
//! compose <scenario>` starts a compose project of its own (its own name, port and log
//! folder), breaks one thing through the engine (a replica's or the database's process
//! SIGKILLed from the host, the database stopped and started through the Engine API, a
//! replica pushed past its memory cap through the stress endpoint) and must reach PASS with
//! the order/stock invariant intact; `down -v` leaves nothing of the project.
//!
//! One test runs the scenarios one after another: each loads the 2 cores, and two compose
//! stacks would measure each other. Scaled down for CI like tests/fault.rs (shorter steps, a
//! 5 s outage, 500 overload users). It fails, never skips, without an engine.

mod common;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// The first `up --build` may compile the app image from nothing.
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn project() -> String {
    format!("labfault{}", std::process::id())
}

fn leftovers(project: &str) -> String {
    let label = format!("label=com.docker.compose.project={project}");
    let mut left = String::new();
    for args in [
        vec!["ps", "-aq", "--filter", &label],
        vec!["volume", "ls", "-q", "--filter", &label],
        vec!["network", "ls", "-q", "--filter", &label],
    ] {
        let out = Command::new("docker").args(&args).output().unwrap();
        left.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    left
}

/// Runs `lab fault --runtime compose <args>`, returns its `fault.json`.
fn fault(args: &[&str]) -> Value {
    let state = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let output = assert_cmd::Command::cargo_bin("lab")
        .unwrap()
        .current_dir(common::workspace())
        .arg("fault")
        .args(args)
        .args(["--runtime", "compose"])
        .arg("--results")
        .arg(results.path())
        .arg("--state-dir")
        .arg(state.path())
        .env("COMPOSE_PROJECT_NAME", project())
        .env("LAB_HTTP_PORT", port.to_string())
        // The daemon's own open-file limit caps the containers' (20000 on CI's machines).
        .env(
            "LAB_NOFILE",
            std::env::var("LAB_NOFILE").unwrap_or_else(|_| "16384".into()),
        )
        .env("RUST_LOG", "warn")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let (_, report) = common::passed_run(
        &output,
        &format!("lab fault {args:?} --runtime compose"),
        results.path(),
        "fault.json",
    );
    assert_eq!(
        leftovers(&project()),
        "",
        "down -v left part of the project"
    );
    assert_eq!(report["passed"], true, "{report:#}");
    report
}

fn assert_invariant(report: &Value) {
    let invariant = &report["invariant"];
    assert_eq!(invariant["passed"], true, "{invariant:#}");
    assert!(invariant["created"].as_u64().unwrap() > 0, "{invariant:#}");
    assert_eq!(invariant["disks_checked"], 500);
    assert_eq!(invariant["customers_checked"], 200);
}

#[test]
fn every_fault_scenario_passes_on_the_compose_stack_and_leaves_nothing() {
    let engine = Command::new("docker").arg("info").output();
    assert!(
        engine.is_ok_and(|o| o.status.success()),
        "no Docker engine answers `docker info`: start one (scripts/docker-engine.sh)"
    );

    let report = fault(&["replica-loss", "--db", "postgres", "--step-secs", "12"]);
    assert!(report["figures"]["availability_percent"].as_f64().unwrap() >= 99.9);
    let events = report["events"].to_string();
    assert!(
        events.contains("die"),
        "the engine saw the replica die: {events}"
    );
    assert_invariant(&report);

    let report = fault(&[
        "db-outage",
        "--db",
        "postgres",
        "--outage-secs",
        "5",
        "--step-secs",
        "13",
    ]);
    assert!(report["figures"]["recovered_after_secs"].as_f64().unwrap() <= 5.0);
    assert_invariant(&report);

    let report = fault(&["oom", "--db", "postgres", "--step-secs", "15"]);
    let events = report["events"].to_string();
    assert!(
        events.contains("oom"),
        "the engine saw the OOM kill: {events}"
    );
    assert_invariant(&report);

    let report = fault(&[
        "overload",
        "--db",
        "postgres",
        "--users",
        "500",
        "--step-secs",
        "10",
    ]);
    assert_invariant(&report);

    let report = fault(&["db-kill", "--db", "mysql", "--step-secs", "15"]);
    assert!(report["figures"]["recovered_after_secs"].as_f64().unwrap() <= 30.0);
    assert_invariant(&report);
}
