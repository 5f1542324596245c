//! Running `lab ab`: each side prepared once (a git revision checked out and built, an app
//! binary or nginx.conf checked), then the runs in the plan's alternating order, each a full
//! one-step bench in `runs/` under the ab folder, and after every run `ab.json` and `ab.md`
//! rewritten with every comparison so far: an interrupted session keeps what it measured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use chrono::Utc;

use crate::config::LabConfig;
use crate::exec::client::histogram;
use crate::export::{self, ab::AbExports};
use crate::interrupt;
use crate::plan::ab::{order, side_request, AbPlan, Side, Slot, Variant};
use crate::plan::bench::BenchPlan;
use crate::profile;
use crate::results::ab::{compare, figures_of, AbReport, AbRun, AbSettings, AbSide, Pooled};
use crate::results::reference::drift;
use crate::results::{LatencyMs, AB_SCHEMA_VERSION};
use crate::sample::machine;

/// A finished (or interrupted) session: its folder and report.
pub struct Finished {
    pub dir: PathBuf,
    pub report: AbReport,
}

/// Runs the plan; `specs` are the sides as the user wrote them (for the report).
pub fn run(config: &LabConfig, plan: &AbPlan, specs: [&str; 2]) -> anyhow::Result<Finished> {
    let dir = export::create_run_dir(&plan.results, &plan.label)?;
    eprintln!("lab ab: results in {}", dir.display());
    interrupt::catch();
    let configs = [side_config(config, &plan.a)?, side_config(config, &plan.b)?];
    let mut report = new_report(plan, specs);
    let exports = AbExports;
    exports.write(&report, &dir)?;
    for slot in order(plan.rounds, plan.aa) {
        if interrupt::interrupted() {
            break;
        }
        let config = match slot.side {
            Side::A | Side::APrime => &configs[0],
            Side::B => &configs[1],
        };
        let run = one_run(config, plan, slot, &dir, report.runs.len())?;
        report.runs.push(run);
        update(&mut report);
        exports.write(&report, &dir)?;
    }
    if !interrupt::interrupted() {
        report.finished_at = Some(Utc::now());
    }
    exports.write(&report, &dir)?;
    exports.draw(&report, &dir);
    export::adopt_parent_owner(&dir);
    Ok(Finished { dir, report })
}

fn new_report(plan: &AbPlan, specs: [&str; 2]) -> AbReport {
    let base = &plan.base;
    AbReport {
        schema_version: AB_SCHEMA_VERSION,
        label: plan.label.clone(),
        started_at: Utc::now(),
        finished_at: None,
        command_line: profile::command_line_in_repository(std::env::args()),
        settings: AbSettings {
            a: AbSide {
                name: "A".into(),
                spec: specs[0].to_owned(),
                description: plan.a.describe(),
            },
            b: AbSide {
                name: "B".into(),
                spec: specs[1].to_owned(),
                description: plan.b.describe(),
            },
            rounds: plan.rounds,
            aa: plan.aa,
            profile: base.profiles[0].clone(),
            scenario: base.scenarios[0].clone(),
            db: base.db.to_string(),
            runtime: base.runtime.to_string(),
            driver: base.driver.name().to_owned(),
            load: plan.offered.describe(),
            offered_per_s: plan.offered.rate(),
            step_secs: base.step_secs,
            warmup_secs: base.warmup_secs,
            level: 0.95,
        },
        machine: machine::machine(),
        runs: Vec::new(),
        aa: Vec::new(),
        ab: Vec::new(),
        pooled: Vec::new(),
        drift: Vec::new(),
    }
}

/// lab's settings for a side: its app binary or nginx.conf in place of the repository's.
fn side_config(config: &LabConfig, variant: &Variant) -> anyhow::Result<LabConfig> {
    let mut config = config.clone();
    match variant {
        Variant::App(path) => config.app_bin = Some(path.clone()),
        Variant::NginxConf(path) => config.nginx_conf = Some(path.clone()),
        Variant::Client(choice) => config.client_path = *choice,
        Variant::Git(rev) => {
            let (app, tree) = build_revision(rev)?;
            config.app_bin = Some(app);
            config.nginx_conf = Some(tree.join("nginx.conf"));
        }
        Variant::Base | Variant::Profile(_) | Variant::Scenario(_) | Variant::Runtime(_) => {}
    }
    Ok(config)
}

fn git(root: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .context("git is needed for a git: side")?;
    if !output.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The app built from `rev`: a worktree at `.lab/ab/<commit>` (kept for the next session),
/// built with one shared target folder (`target/ab`, so a second revision rebuilds only what
/// differs), its binary copied out. Returns the binary and the worktree.
fn build_revision(rev: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let root = profile::repo_root();
    let commit = git(
        &root,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )?;
    let short = &commit[..12];
    let tree = root.join(".lab/ab").join(short);
    if !tree.join("Cargo.toml").is_file() {
        git(
            &root,
            &[
                "worktree",
                "add",
                "--detach",
                &tree.display().to_string(),
                &commit,
            ],
        )?;
    }
    let bin = root.join(".lab/ab/bin").join(short).join("app");
    if !bin.is_file() {
        eprintln!(
            "lab ab: building the app at {rev} ({short}) in {}",
            tree.display()
        );
        let status = Command::new("cargo")
            .current_dir(&tree)
            .args(["build", "--release", "-p", "app"])
            .env("CARGO_TARGET_DIR", root.join("target/ab"))
            .status()
            .context("cargo is needed to build a git: side")?;
        if !status.success() {
            bail!("building the app at {rev} ({short}) failed");
        }
        std::fs::create_dir_all(bin.parent().unwrap_or(&root))?;
        std::fs::copy(root.join("target/ab/release/app"), &bin)
            .with_context(|| format!("copying the app built at {short}"))?;
    }
    Ok((bin, tree))
}

/// One bench run of one side, its figures taken from its one step.
fn one_run(
    config: &LabConfig,
    plan: &AbPlan,
    slot: Slot,
    dir: &Path,
    index: usize,
) -> anyhow::Result<AbRun> {
    let label = format!("{index:02}-{}", slot.side.slug());
    eprintln!(
        "lab ab: run {} of {}: {}{} ({})",
        index + 1,
        order(plan.rounds, plan.aa).len(),
        slot.side.name(),
        if slot.aa { " (A/A)" } else { "" },
        plan.variant(slot.side).describe()
    );
    let mut request = side_request(&plan.base, plan.variant(slot.side), &label);
    request.results = dir.join("runs");
    let mut bench = BenchPlan::new(request)?;
    bench.plots = false;
    let (finished, outcome) = super::bench::run(config, &bench)?;
    outcome.with_context(|| format!("run {label}"))?;
    let Some(step) = finished.run.steps.first() else {
        bail!("run {label} measured no step");
    };
    let figures: BTreeMap<String, f64> = figures_of(step)
        .into_iter()
        .map(|(name, value, _)| (name, value))
        .collect();
    let folder = finished
        .run_dir
        .strip_prefix(dir)
        .unwrap_or(&finished.run_dir)
        .display()
        .to_string();
    Ok(AbRun {
        side: slot.side.name().to_owned(),
        aa: slot.aa,
        round: slot.round,
        folder,
        started_at: finished.run.started_at,
        figures,
        reference: finished.run.reference.clone(),
        histogram: step
            .client
            .as_ref()
            .map(|c| c.histogram.clone())
            .unwrap_or_default(),
    })
}

/// Every comparison, the pooled latencies and the reference's drift, from the runs so far.
fn update(report: &mut AbReport) {
    report.aa = if report.settings.aa {
        compare(&report.runs, true, "A", "A'", report.settings.offered_per_s)
    } else {
        Vec::new()
    };
    report.ab = compare(&report.runs, false, "A", "B", report.settings.offered_per_s);
    report.pooled = ["A", "A'", "B"]
        .iter()
        .filter_map(|side| {
            let histograms: Vec<&str> = report
                .runs
                .iter()
                .filter(|r| r.side == *side && !r.histogram.is_empty())
                .map(|r| r.histogram.as_str())
                .collect();
            Some(Pooled {
                side: (*side).to_owned(),
                latency: pooled(&histograms)?,
            })
        })
        .collect();
    // Each run against the first run of its own side: the sides may differ in what the
    // reference measures (another profile's caps), the machine should not.
    report.drift = report
        .runs
        .iter()
        .filter_map(|run| {
            let first = report.runs.iter().find(|r| r.side == run.side)?;
            Some((first, run))
        })
        .filter(|(first, run)| !std::ptr::eq(*first, *run))
        .flat_map(|(first, run)| {
            let (Some(a), Some(b)) = (&first.reference, &run.reference) else {
                return Vec::new();
            };
            drift(a, b)
                .into_iter()
                .map(|d| format!("{} against {}: {d}", run.folder, first.folder))
                .collect()
        })
        .collect();
}

/// The percentiles of several runs' histograms merged; None without any.
fn pooled(histograms: &[&str]) -> Option<LatencyMs> {
    let decoded: Vec<hdrhistogram::Histogram<u64>> = histograms
        .iter()
        .filter_map(|text| histogram::decode(text).ok())
        .collect();
    (!decoded.is_empty()).then(|| histogram::summary(&histogram::merge(&decoded)))
}
