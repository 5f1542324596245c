//! The fault scenarios for real, bounded for CI: `lab fault <scenario>` on a native stack of
//! its own (root for cgroups, nginx, siege, the Postgres and MariaDB server binaries), with
//! short steps. Each test asserts the verdict PASS (exit 0) and the order/stock invariant
//! from `fault.json`. The tests run one at a time (a lock): each loads the 2 cores, and
//! their timing checks would measure each other otherwise.
//!
//! Scaled down from `lab fault`'s defaults: steps of 10-15 s instead of 20, a 5 s database
//! outage instead of 10, and 500 overload users instead of 2,000 (siege 4.0.7 gives no
//! summary at 2,000 users on 2 cores; the full run is committed under results/).

use std::sync::Mutex;

use assert_cmd::Command;
use serde_json::Value;

mod common;

use common::{app_bin_preferring_release as app_bin, workspace};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `lab fault <args>` on ports from `port_base`, returns its `fault.json`.
fn fault(port_base: u16, args: &[&str]) -> Value {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let state = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let output = Command::cargo_bin("lab")
        .unwrap()
        .current_dir(workspace())
        .arg("fault")
        .args(args)
        .arg("--results")
        .arg(results.path())
        .arg("--state-dir")
        .arg(state.path())
        .env("LAB_APP_BIN", app_bin())
        .env("LAB_HTTP_PORT", port_base.to_string())
        .env("LAB_PORT_BASE", port_base.to_string())
        .env("LAB_PG_PORT", (port_base + 50).to_string())
        .env("LAB_MYSQL_PORT", (port_base + 51).to_string())
        .env("RUST_LOG", "warn")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let (run, report) = common::passed_run(
        &output,
        &format!("lab fault {args:?}"),
        results.path(),
        "fault.json",
    );
    assert!(run.join("report.md").is_file());
    assert_eq!(report["passed"], true, "{report:#}");
    assert!(report["checks"].as_array().is_some_and(|c| c.len() >= 2));
    report
}

/// The scenarios that do not need a particular database run on both, each on its own ports,
/// so the order/stock invariant is checked after every scenario on Postgres and MariaDB.
const BACKENDS: [(&str, u16); 2] = [("postgres", 26100), ("mysql", 26600)];

fn assert_invariant(report: &Value) {
    let invariant = &report["invariant"];
    assert_eq!(invariant["passed"], true, "{invariant:#}");
    assert!(invariant["created"].as_u64().unwrap() > 0, "{invariant:#}");
    assert_eq!(invariant["disks_checked"], 500);
    assert_eq!(invariant["customers_checked"], 200);
    assert!(invariant["order_problems"].as_array().unwrap().is_empty());
    assert!(invariant["stock_mismatches"].as_array().unwrap().is_empty());
}

#[test]
fn a_killed_replica_costs_no_reads_and_takes_traffic_again_within_5_s() {
    for (db, port_base) in BACKENDS {
        let report = fault(
            port_base,
            &["replica-loss", "--db", db, "--step-secs", "10"],
        );
        assert!(report["figures"]["availability_percent"].as_f64().unwrap() >= 99.9);
        assert!(
            report["figures"]["traffic_again_after_secs"]
                .as_f64()
                .unwrap()
                <= 5.0
        );
        assert_invariant(&report);
    }
}

#[test]
fn a_postgres_outage_fails_fast_crashes_nothing_and_loses_no_order() {
    let report = fault(
        26200,
        &[
            "db-outage",
            "--db",
            "postgres",
            "--outage-secs",
            "5",
            "--step-secs",
            "13",
        ],
    );
    assert!(report["figures"]["recovered_after_secs"].as_f64().unwrap() <= 5.0);
    assert!(
        report["figures"]["errors_5xx_during_outage"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_invariant(&report);
}

#[test]
fn a_mysql_outage_fails_fast_crashes_nothing_and_loses_no_order() {
    let report = fault(
        26300,
        &[
            "db-outage",
            "--db",
            "mysql",
            "--outage-secs",
            "5",
            "--step-secs",
            "13",
        ],
    );
    assert!(report["figures"]["recovered_after_secs"].as_f64().unwrap() <= 5.0);
    assert_invariant(&report);
}

/// A database SIGKILLed in the middle of a burst of orders: what was answered 201 survives the
/// crash, nothing answered otherwise was written, stock adds up (siege's orders included).
fn database_crash(port_base: u16, db: &str) {
    let report = fault(port_base, &["db-kill", "--db", db, "--step-secs", "15"]);
    assert!(report["figures"]["recovered_after_secs"].as_f64().unwrap() <= 30.0);
    assert!(report["figures"]["orders_201_in_log"].as_u64().unwrap() > 0);
    let timeline = report["timeline"].to_string();
    assert!(
        timeline.contains("SIGKILL every process of the database"),
        "{timeline}"
    );
    assert_invariant(&report);
}

#[test]
fn a_postgres_killed_during_a_burst_of_orders_loses_no_acknowledged_order() {
    database_crash(26700, "postgres");
}

#[test]
fn a_mariadb_killed_during_a_burst_of_orders_loses_no_acknowledged_order() {
    database_crash(26800, "mysql");
}

#[test]
fn slow_and_idle_clients_do_not_starve_normal_users_and_nginx_cuts_them_on_time() {
    let report = fault(
        26900,
        &["slow-clients", "--slow-clients", "150", "--step-secs", "20"],
    );
    assert_eq!(report["figures"]["slow_clients"], 150);
    assert!(report["figures"]["availability_percent"].as_f64().unwrap() >= 99.9);
    // nginx's client_header_timeout ended the unfinished headers (logged as 408).
    assert!(
        report["figures"]["header_timeouts_logged"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_invariant(&report);
}

#[test]
fn a_replica_pushed_past_its_cap_is_oom_killed_and_restarted_while_reads_go_on() {
    for (db, port_base) in BACKENDS {
        let report = fault(port_base + 300, &["oom", "--db", db, "--step-secs", "12"]);
        assert!(report["figures"]["oom_kills"].as_u64().unwrap() >= 1);
        assert!(report["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("OOM-killed")));
        assert_invariant(&report);
    }
}

#[test]
fn an_overloaded_stack_recovers_within_10_s_with_memory_under_its_caps() {
    for (db, port_base) in BACKENDS {
        let args = [
            "overload",
            "--db",
            db,
            "--users",
            "500",
            "--step-secs",
            "10",
        ];
        let report = fault(port_base + 400, &args);
        assert!(report["figures"]["recovered_after_secs"].as_f64().unwrap() <= 10.0);
        assert_invariant(&report);
    }
}

#[test]
fn db_outage_refuses_sqlite_with_a_clear_message() {
    Command::cargo_bin("lab")
        .unwrap()
        .args(["fault", "db-outage", "--db", "sqlite"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("use --db postgres or --db mysql"));
}
