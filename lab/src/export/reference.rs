//! `docs/results.md` against the types it documents: every field `run.json`, `soak.json`,
//! `tune.json`, `fault.json`, `ab.json` and `compare.json` can hold and every column of
//! `steps.csv`, `samples.csv` and `endpoints.csv` has a row there (its first cell the field's
//! path in backticks), and no row names a field that no longer exists. Adding a field to one
//! of those types without documenting it fails a test here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::csv_files::{EndpointsCsv, SamplesCsv, StepsCsv};
use super::files::Exporter;
use crate::results::ab::{self, AbReport, AbRun, AbSettings, AbSide, Pooled};
use crate::results::comparison::Comparison;
use crate::results::fault::{Check, FaultReport, InvariantReport, FAULT_SCHEMA_VERSION};
use crate::results::fixture;
use crate::results::soak::SoakRun;
use crate::results::tune::TuneFile;
use crate::results::{Run, AB_SCHEMA_VERSION};
use crate::stack::StackEvent;
use contract::{DbKind, RuntimeKind};

/// Objects whose keys are data (names), documented as one row.
const MAPS: [&str; 3] = [
    "profiles[].vars",
    "steps[].nginx.replicas",
    "steps[].client.failures",
];
/// `tune.json`'s: each role's memory floor.
const TUNE_MAPS: [&str; 1] = ["floors_mib"];
/// `fault.json`'s: the scenario's figures, failed orders by HTTP status.
const FAULT_MAPS: [&str; 2] = ["figures", "invariant.failed_by_status"];
/// `ab.json`'s: each run's figures.
const AB_MAPS: [&str; 1] = ["runs[].figures"];

/// An object written with a type another table already documents, named by one row in its
/// file's table ("the same fields as run.json's `steps[]`") instead of that table repeated.
/// Its path stops there like a map's, and its fields are checked against the other table
/// instead: one table per type in the docs, and still no field that can go undocumented.
struct Shared {
    /// Its path in the file that holds it.
    here: &'static str,
    /// The section whose table documents the type.
    heading: &'static str,
    /// The same object's path in that table.
    there: &'static str,
    /// That table's maps.
    maps: &'static [&'static str],
}

/// A soak's machine and each window's step are a bench run's `Machine` and `Step`.
const SOAK_SHARED: [Shared; 2] = [
    Shared {
        here: "machine",
        heading: "## run.json",
        there: "machine",
        maps: &MAPS,
    },
    Shared {
        here: "windows[].step",
        heading: "## run.json",
        there: "steps[]",
        maps: &MAPS,
    },
];
/// A fault run's step is a bench `Step`.
const FAULT_SHARED: [Shared; 1] = [Shared {
    here: "step",
    heading: "## run.json",
    there: "steps[]",
    maps: &MAPS,
}];
/// An A/B session's machine and each run's reference are a bench run's `Machine` and
/// `Reference`; the A/A comparisons are the same type as the A/B ones.
const AB_SHARED: [Shared; 3] = [
    Shared {
        here: "machine",
        heading: "## run.json",
        there: "machine",
        maps: &MAPS,
    },
    Shared {
        here: "runs[].reference",
        heading: "## run.json",
        there: "reference",
        maps: &MAPS,
    },
    Shared {
        here: "aa[]",
        heading: "### ab.json",
        there: "ab[]",
        maps: &[],
    },
];

/// A committed run with what the fixture leaves empty (engine information, siege summaries).
const RECORDED_RUN: &str = "tests/fixtures/runs/20261129T132008Z-compose-tight-postgres/run.json";
/// A committed soak (recorded before windows kept their step).
const RECORDED_SOAK: &str = "tests/fixtures/results/20261129T160828Z-soak-tight-postgres/soak.json";
/// A committed tune, with a winner.
const RECORDED_TUNE: &str = "tests/fixtures/results/20261206T032931Z-tune-tight-postgres/tune.json";

/// Collects the field paths of `value` under `path`; a path in `stops` (a map, a shared
/// object) is one field, and so is an empty object (a map with nothing in it, or a field
/// that would otherwise go unseen).
fn walk(value: &Value, path: String, stops: &[&str], out: &mut BTreeSet<String>) {
    if stops.contains(&path.as_str()) {
        out.insert(path);
        return;
    }
    match value {
        Value::Object(map) if map.is_empty() && !path.is_empty() => {
            out.insert(path);
        }
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(child, child_path, stops, out);
            }
        }
        Value::Array(items) => {
            let child_path = format!("{path}[]");
            if items.is_empty() {
                out.insert(child_path.clone());
            }
            for item in items {
                walk(item, child_path.clone(), stops, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// True when `q` is a field inside `p`.
fn inside(q: &str, p: &str) -> bool {
    q.len() > p.len() && (q.starts_with(&format!("{p}.")) || q.starts_with(&format!("{p}[]")))
}

/// `paths` without those that have fields of their own among them: a path that is a leaf in
/// one value (a null) and an object in another keeps only the object's fields.
fn leaves(paths: BTreeSet<String>) -> BTreeSet<String> {
    let parents: BTreeSet<String> = paths
        .iter()
        .filter(|p| paths.iter().any(|q| inside(q, p)))
        .cloned()
        .collect();
    &paths - &parents
}

/// Every field path of `values` as their current types write them.
fn field_paths(values: &[Value], stops: &[&str]) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for value in values {
        walk(value, String::new(), stops, &mut paths);
    }
    leaves(paths)
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// The values at `path` (`windows[].step`: every window's step).
fn at<'v>(value: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut found = vec![value];
    for segment in path.split('.') {
        let key = segment.trim_end_matches("[]");
        let arrays = (segment.len() - key.len()) / 2;
        found = found.into_iter().filter_map(|v| v.get(key)).collect();
        for _ in 0..arrays {
            found = found
                .into_iter()
                .flat_map(|v| v.as_array().into_iter().flatten())
                .collect();
        }
    }
    found
}

/// The first-cell backticked names of the table rows under `heading`, a whole heading line
/// (`## run.json`, `### tune.json`), down to the next heading of its level or above.
fn documented(doc: &str, heading: &str) -> BTreeSet<String> {
    let level = heading.chars().take_while(|&c| c == '#').count();
    let start = doc
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("docs/results.md has no `{heading}` section"));
    let section = &doc[start + heading.len() + 1..];
    let end = (2..=level)
        .filter_map(|k| section.find(&format!("\n{} ", "#".repeat(k))))
        .min()
        .unwrap_or(section.len());
    section[..end]
        .lines()
        .filter_map(|line| {
            let cell = line.trim().strip_prefix('|')?.split('|').next()?.trim();
            let name = cell.strip_prefix('`')?.strip_suffix('`')?;
            Some(name.to_owned())
        })
        .collect()
}

fn compare(what: &str, actual: &BTreeSet<String>, documented: &BTreeSet<String>) {
    let missing: Vec<_> = actual.difference(documented).collect();
    let stale: Vec<_> = documented.difference(actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/results.md, {what}: undocumented {missing:?}; documented but not written {stale:?}"
    );
}

/// `values` (one file's contents) against the table under `heading`: each field has a row
/// and each row a field, a map or a shared object being one row; then each shared object's
/// fields against the table that documents its type (a null there standing for an object
/// whose fields that table lists).
fn check(doc: &str, what: &str, heading: &str, values: &[Value], maps: &[&str], shared: &[Shared]) {
    let mut stops: Vec<&str> = maps.to_vec();
    stops.extend(shared.iter().map(|s| s.here));
    compare(
        what,
        &field_paths(values, &stops),
        &documented(doc, heading),
    );
    for s in shared {
        let objects: Vec<&Value> = values
            .iter()
            .flat_map(|v| at(v, s.here))
            .filter(|v| !v.is_null())
            .collect();
        assert!(
            !objects.is_empty(),
            "{what}: the test's values hold no `{}` to check",
            s.here
        );
        let mut paths = BTreeSet::new();
        for object in objects {
            walk(object, s.there.to_owned(), s.maps, &mut paths);
        }
        let table = documented(doc, s.heading);
        let missing: Vec<_> = leaves(paths)
            .into_iter()
            .filter(|p| !table.contains(p) && !table.iter().any(|d| inside(d, p)))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/results.md, {what}: `{}` is `{}` of `{}`, whose table lacks {missing:?}",
            s.here,
            s.there,
            s.heading
        );
    }
}

/// A file of the lab crate (its test fixtures); `docs/...` from the repository's root.
fn repo_file(path: &str) -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let full: PathBuf = if path.starts_with("docs/") {
        crate_dir.join("..").join(path)
    } else {
        crate_dir.join(path)
    };
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn every_run_json_field_is_documented() {
    let recorded: Run = serde_json::from_str(&repo_file(RECORDED_RUN)).unwrap();
    let paths = field_paths(&[json(&fixture::run()), json(&recorded)], &MAPS);
    let doc = repo_file("docs/results.md");
    compare("run.json", &paths, &documented(&doc, "## run.json"));
}

#[test]
fn every_soak_json_field_is_documented() {
    let mut soak: SoakRun = serde_json::from_str(&repo_file(RECORDED_SOAK)).unwrap();
    // Recorded before a window kept its step: give one window the fixture's.
    soak.windows[0].step = Some(fixture::run().steps[0].clone());
    let doc = repo_file("docs/results.md");
    check(
        &doc,
        "soak.json",
        "## soak.json",
        &[json(&soak)],
        &[],
        &SOAK_SHARED,
    );
}

#[test]
fn every_tune_json_field_is_documented() {
    let tune: TuneFile = serde_json::from_str(&repo_file(RECORDED_TUNE)).unwrap();
    let doc = repo_file("docs/results.md");
    check(
        &doc,
        "tune.json",
        "### tune.json",
        &[json(&tune)],
        &TUNE_MAPS,
        &[],
    );
}

/// A fault run with every optional part present. Built here: the committed `fault.json`
/// files predate the current layout (their step has another shape, their events are
/// strings) and do not read into `FaultReport`.
fn fault_report() -> FaultReport {
    let run = fixture::run();
    FaultReport {
        schema_version: FAULT_SCHEMA_VERSION,
        scenario: "db-kill".into(),
        profile: "tight".into(),
        db: DbKind::Postgres,
        runtime: RuntimeKind::Native,
        capped: true,
        started_at: run.started_at,
        finished_at: run.started_at,
        passed: false,
        checks: vec![Check::new(
            "serving again after the kill",
            "<= 30 s",
            "1.03 s".into(),
            true,
        )],
        timeline: vec!["7.1 s: SIGKILL every process of the database".into()],
        step: Some(run.steps[0].clone()),
        invariant: Some(InvariantReport {
            passed: false,
            writer_customers: (181, 200),
            attempts: 481,
            created: 479,
            failed: 1,
            unknown: 1,
            unknown_materialized: 1,
            failed_by_status: [(503, 1)].into_iter().collect(),
            orders_checked: 480,
            customers_checked: 200,
            disks_checked: 500,
            seed_stock: 100_000,
            units_ordered: 39_164,
            order_problems: vec!["order 17 exists twice".into()],
            stock_mismatches: vec!["disk 3: 100 != 97 + 2".into()],
        }),
        events: vec![StackEvent {
            t: "2025-01-02T03:04:12Z".into(),
            service: "db".into(),
            event: "restart".into(),
            detail: "PID 18124".into(),
        }],
        figures: [
            ("recovered_after_secs".to_owned(), Some(1.03)),
            ("writer_unknown".to_owned(), None),
        ]
        .into_iter()
        .collect(),
        notes: vec!["the load driver shares the machine's 2 cores".into()],
    }
}

#[test]
fn every_fault_json_field_is_documented() {
    let doc = repo_file("docs/results.md");
    check(
        &doc,
        "fault.json",
        "## fault.json",
        &[json(&fault_report())],
        &FAULT_MAPS,
        &FAULT_SHARED,
    );
}

/// An A/B session with both phases, four rounds a side (so every comparison has its
/// interval), every run with its reference and histogram.
fn ab_report() -> AbReport {
    let run = fixture::run();
    let step = &run.steps[0];
    let latency = step.client.as_ref().unwrap().latency.clone();
    let mut runs = Vec::new();
    for round in 0..4 {
        for (side, aa, scale) in [
            ("A", true, 1.0),
            ("A'", true, 1.01),
            ("A", false, 1.0),
            ("B", false, 1.2),
        ] {
            let wobble = scale * (1.0 + round as f64 / 100.0);
            runs.push(AbRun {
                side: side.into(),
                aa,
                round,
                folder: format!("runs/{round:02}-{side}"),
                started_at: run.started_at,
                figures: ab::figures_of(step)
                    .into_iter()
                    .map(|(name, value, _)| (name, value * wobble))
                    .collect(),
                reference: run.reference.clone(),
                // Only stored text here, never decoded.
                histogram: "HISTFAAAAB54nJNpmSzMwMDAxQABzFCaEUoz2X+AMIKsAQBQ5gOp".into(),
            });
        }
    }
    let side = |name: &str, spec: &str| AbSide {
        name: name.into(),
        spec: spec.into(),
        description: spec.replace(':', " "),
    };
    AbReport {
        schema_version: AB_SCHEMA_VERSION,
        label: "ab".into(),
        started_at: run.started_at,
        finished_at: run.finished_at,
        command_line: vec!["lab".into(), "ab".into()],
        settings: AbSettings {
            a: side("A", "base"),
            b: side("B", "profile:roomy"),
            rounds: 4,
            aa: true,
            profile: "tight".into(),
            scenario: "read".into(),
            db: "postgres".into(),
            runtime: "native".into(),
            driver: "lab".into(),
            load: "1000/s".into(),
            offered_per_s: Some(1000.0),
            step_secs: 10,
            warmup_secs: 2,
            level: 0.95,
        },
        machine: run.machine.clone(),
        aa: ab::compare(&runs, true, "A", "A'", None),
        ab: ab::compare(&runs, false, "A", "B", None),
        runs,
        pooled: vec![Pooled {
            side: "A".into(),
            latency,
        }],
        drift: vec!["runs/01-B against runs/00-A: CPU loop: 1.25 -> 1.60 ns (+28%)".into()],
    }
}

#[test]
fn every_ab_json_field_is_documented() {
    let report = ab_report();
    assert!(report
        .ab
        .iter()
        .all(|c| c.versus.is_some_and(|v| v.low.is_some())));
    let doc = repo_file("docs/results.md");
    check(
        &doc,
        "ab.json",
        "### ab.json",
        &[json(&report)],
        &AB_MAPS,
        &AB_SHARED,
    );
}

#[test]
fn every_compare_json_field_is_documented() {
    // Four runs a side (every ratio with its interval) on two machines.
    let base = fixture::run();
    let mut other = base.clone();
    other.label = "after".into();
    other.machine.cores = 4;
    for step in &mut other.steps {
        if let Some(c) = step.client.as_mut() {
            c.achieved_rate_per_s *= 1.5;
        }
    }
    let paths: Vec<PathBuf> = (0..8).map(|i| PathBuf::from(format!("run{i}"))).collect();
    let runs: Vec<(Run, &Path)> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            (
                if i < 4 { base.clone() } else { other.clone() },
                path.as_path(),
            )
        })
        .collect();
    let comparison = Comparison::of(&runs, 0);
    assert!(comparison.rows.iter().any(|r| r
        .versus_baseline
        .iter()
        .flatten()
        .any(|v| v.low.is_some())));
    let doc = repo_file("docs/results.md");
    check(
        &doc,
        "compare.json",
        "### compare.json",
        &[json(&comparison)],
        &[],
        &[],
    );
}

#[test]
fn every_csv_column_is_documented() {
    let doc = repo_file("docs/results.md");
    let run = fixture::run();
    let services: Vec<String> = run.steps[0]
        .services
        .iter()
        .map(|s| format!("{}_", s.name))
        .collect();
    let header = |text: String| -> BTreeSet<String> {
        text.lines()
            .next()
            .unwrap()
            .split(',')
            .map(|column| {
                match services
                    .iter()
                    .find(|prefix| column.starts_with(prefix.as_str()))
                {
                    Some(prefix) => format!("<service>_{}", &column[prefix.len()..]),
                    None => column.to_owned(),
                }
            })
            .collect()
    };
    compare(
        "steps.csv",
        &header(StepsCsv.render(&run).unwrap()),
        &documented(&doc, "## steps.csv"),
    );
    compare(
        "samples.csv",
        &header(SamplesCsv.render(&run).unwrap()),
        &documented(&doc, "## samples.csv"),
    );
    compare(
        "endpoints.csv",
        &header(EndpointsCsv.render(&run).unwrap()),
        &documented(&doc, "## endpoints.csv"),
    );
}
