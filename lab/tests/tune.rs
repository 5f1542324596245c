//! `lab tune` end to end on the native runtime: a short real search (three candidates of a
//! few seconds each, SQLite) under cgroup caps, then its files and the winner profile used by
//! `lab bench`. Needs root (cgroups), nginx and siege, like the bench tests; fails, never
//! skips, without. Bad budgets and names are refused before anything starts.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

mod common;

use common::{app_bin, workspace};

fn lab(state: &Path, port_base: u16) -> Command {
    let mut cmd = Command::cargo_bin("lab").unwrap();
    cmd.current_dir(workspace())
        .env("LAB_STATE_DIR", state)
        .env("LAB_APP_BIN", app_bin())
        .env("LAB_HTTP_PORT", port_base.to_string())
        .env("LAB_PORT_BASE", port_base.to_string())
        .env("SEED_CUSTOMERS", "50")
        .env("SEED_DISKS", "200")
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn a_short_real_tune_measures_each_candidate_and_writes_a_winner_profile_bench_can_run() {
    let state = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let output = lab(state.path(), 24380)
        .args(["tune", "--base", "tight", "--db", "sqlite"])
        .args(["--scenario", "read", "--users", "8", "--candidates", "3"])
        .args([
            "--step-secs",
            "3",
            "--warmup-secs",
            "1",
            "--ceiling-secs",
            "1",
        ])
        .args(["--slo", "availability>=99", "--name", "tuned-test"])
        .arg("--results")
        .arg(results.path())
        .timeout(Duration::from_secs(240))
        .output()
        .unwrap();
    let stdout = common::succeeded(&output, "lab tune");
    let html = stdout.lines().last().unwrap_or_default();
    assert!(
        html.ends_with("report.html"),
        "last line should name the HTML report: {stdout}"
    );
    let dir = Path::new(html).parent().unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("<figure><svg"), "the search plot is inline");

    let tune: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tune.json")).unwrap()).unwrap();
    let candidates = tune["candidates"].as_array().unwrap();
    assert!(
        (2..=3).contains(&candidates.len()),
        "three measurements make two or three candidates: {}",
        candidates.len()
    );
    let budget = &tune["settings"]["budget"];
    // SQLite: the split is nginx's and the replicas' part of tight, 0.7 CPU and 1000 MiB.
    assert_eq!(budget["millicpus"], 700);
    assert_eq!(budget["memory_mib"], 1000);
    assert!(tune["stop_reason"].as_str().is_some() && tune["finished_at"].is_string());
    for c in candidates {
        let a = &c["allocation"];
        let replicas = a["replicas"].as_u64().unwrap();
        let cpus = a["nginx_millicpus"].as_u64().unwrap()
            + replicas * a["app_millicpus"].as_u64().unwrap();
        assert_eq!(
            cpus, 700,
            "candidate {} does not spend the budget: {a}",
            c["id"]
        );
        assert!(
            c["discarded"].is_null(),
            "candidate {} discarded: {}",
            c["id"],
            c["discarded"]
        );
        let observations = c["observations"].as_array().unwrap();
        assert!(!observations.is_empty());
        for o in observations {
            assert!(o["requests_per_s"].as_f64().unwrap() > 0.0, "{o}");
            assert!(o["bottleneck"].is_string());
        }
        // Each measurement is a real bench folder with its own run.json.
        for run in c["runs"].as_array().unwrap() {
            let run_dir = dir.join(run.as_str().unwrap());
            let run: Value =
                serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap())
                    .unwrap();
            assert_eq!(
                run["profiles"][0]["capped"], true,
                "candidates run under the caps"
            );
            assert_eq!(run["steps"].as_array().unwrap().len(), 1);
        }
    }
    assert_eq!(candidates[0]["reason"], "the base profile's split");
    assert_eq!(candidates[0]["allocation"]["nginx_millicpus"], 100);
    assert_eq!(candidates[0]["allocation"]["app_millicpus"], 300);
    assert_eq!(
        candidates[1]["allocation"]["replicas"], 1,
        "the other replica count comes second"
    );

    let winner = tune["winner"].as_u64().expect("a winner");
    assert_eq!(tune["winner_profile"], "tuned-test.env");
    let csv = std::fs::read_to_string(dir.join("tune.csv")).unwrap();
    let measurements: usize = candidates
        .iter()
        .map(|c| c["observations"].as_array().unwrap().len())
        .sum();
    assert!(
        (2..=3).contains(&measurements),
        "{measurements} measurements: {}",
        tune["stop_reason"]
    );
    assert_eq!(
        csv.lines().count(),
        1 + measurements,
        "one row per measurement"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains(&format!("**Winner: candidate {winner}**")),
        "{md}"
    );
    for plot in ["search.png", "search.svg"] {
        assert!(dir.join(plot).is_file(), "{plot} missing");
    }

    // `lab report` draws it all again from tune.json alone.
    for file in ["report.md", "report.html", "search.png", "tune.csv"] {
        std::fs::remove_file(dir.join(file)).unwrap();
    }
    let output = lab(state.path(), 24380)
        .arg("report")
        .arg(dir)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "lab report: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(dir.join("report.md")).unwrap(), md);
    assert_eq!(std::fs::read_to_string(dir.join("tune.csv")).unwrap(), csv);
    assert!(dir.join("report.html").is_file() && dir.join("search.png").is_file());

    // The winner is a profile lab bench runs as it is, with the caps the tune chose.
    let profile = dir.join("tuned-test.env");
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(text.starts_with("# generated by lab tune"), "{text}");
    let bench_results = tempfile::tempdir().unwrap();
    let output = lab(state.path(), 24380)
        .args([
            "bench",
            "--db",
            "sqlite",
            "--scenario",
            "read",
            "--users",
            "4",
        ])
        .args([
            "--step-secs",
            "2",
            "--warmup-secs",
            "0",
            "--ceiling-secs",
            "1",
        ])
        .arg("--profile")
        .arg(&profile)
        .arg("--results")
        .arg(bench_results.path())
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "lab bench on the winner failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run_dir = Path::new(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap(),
    )
    .parent()
    .unwrap()
    .to_path_buf();
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    let winner_alloc = &candidates.iter().find(|c| c["id"] == winner).unwrap()["allocation"];
    let nginx = run["profiles"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nginx")
        .unwrap();
    let cap = nginx["cpu_limit_cores"].as_f64().unwrap();
    let chosen = winner_alloc["nginx_millicpus"].as_f64().unwrap() / 1000.0;
    assert!(
        (cap - chosen).abs() < 1e-6,
        "nginx capped at {cap}, the tune chose {chosen}"
    );
}

#[test]
fn bad_budgets_and_names_are_refused_before_anything_starts() {
    let state = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["--budget", "cpus=1"], "names both"),
        (vec!["--budget", "cpus=lots,memory=1G"], "CPU count"),
        (vec!["--budget", "cpus=1,memory=2G,disk=9"], "unknown key"),
        (vec!["--budget", "cpus=0.05,memory=2G"], "too small"),
        (vec!["--budget", "cpus=1,memory=100M"], "memory floors"),
        (vec!["--name", "../escape"], "--name"),
        (vec!["--slo", "p99_ms<<3"], "SLO"),
        (vec!["--base", "no-such-profile"], "cannot read profile"),
        (vec!["--candidates", "0"], "at least 1"),
    ] {
        let output = lab(state.path(), 24390)
            .arg("tune")
            .args(&args)
            .arg("--results")
            .arg(results.path())
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?} gave {:?}: {stderr}",
            output.status
        );
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
    }
    // Nothing was started or written.
    assert_eq!(std::fs::read_dir(results.path()).unwrap().count(), 0);
}
