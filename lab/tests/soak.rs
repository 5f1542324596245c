//! `lab soak` for real, short: a native stack (SQLite), the mixed scenario at 10 users for 90 s
//! in 15 s windows. The soak must PASS (nothing grows, no error), and its files must hold
//! what the report says: every window with both replicas' memory, descriptors and pool
//! connections and nginx's descriptors, a trend for every series, and the plot.

mod common;

use common::{app_bin_preferring_release as app_bin, workspace};

#[test]
fn a_short_soak_reads_every_series_in_every_window_and_passes() {
    let state = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let output = assert_cmd::Command::cargo_bin("lab")
        .unwrap()
        .current_dir(workspace())
        .args(["soak", "--db", "sqlite", "--users", "10"])
        .args(["--duration-secs", "90", "--window-secs", "15"])
        .arg("--results")
        .arg(results.path())
        .arg("--state-dir")
        .arg(state.path())
        .env("LAB_APP_BIN", app_bin())
        .env("LAB_HTTP_PORT", "27080")
        .env("LAB_PORT_BASE", "27080")
        .env("RUST_LOG", "warn")
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let (run, soak) = common::passed_run(&output, "lab soak", results.path(), "soak.json");
    for file in ["soak.csv", "report.md", "soak.png", "soak.svg"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let windows = soak["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 6, "90 s in 15 s windows");
    for w in windows {
        assert!(w["requests"].as_u64().unwrap() > 0, "{w}");
        assert!(w["nginx_fds"].as_u64().unwrap() > 0, "{w}");
        let replicas = w["replicas"].as_array().unwrap();
        assert_eq!(replicas.len(), 2);
        for r in replicas {
            assert!(r["rss_bytes"].as_u64().unwrap() > 1 << 20, "{r}");
            assert!(r["fds"].as_u64().unwrap() > 0, "{r}");
            assert!(r["pool_connections"].as_u64().unwrap() > 0, "{r}");
        }
    }
    let verdict = &soak["verdict"];
    assert_eq!(verdict["passed"], true, "{verdict:#}");
    // app1 and app2: memory, descriptors, pool; nginx's descriptors; p99.
    assert_eq!(verdict["trends"].as_array().unwrap().len(), 8);
}
