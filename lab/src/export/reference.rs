//! `docs/results.md` against the types it documents: every field `run.json` can hold and
//! every column of `steps.csv`, `samples.csv` and `endpoints.csv` has a row there (its first cell the field's
//! path in backticks), and no row names a field that no longer exists. Adding a field to
//! `Run` without documenting it fails this test.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::csv_files::{EndpointsCsv, SamplesCsv, StepsCsv};
use super::files::Exporter;
use super::fixture;
use crate::results::Run;

/// Objects whose keys are data (names), documented as one row.
const MAPS: [&str; 2] = ["profiles[].vars", "steps[].nginx.replicas"];
/// A committed run with what the fixture leaves empty (engine information, siege summaries).
const RECORDED_RUN: &str = "results/20261129T132008Z-compose-tight-postgres/run.json";

fn walk(value: &Value, path: String, out: &mut BTreeSet<String>) {
    if MAPS.contains(&path.as_str()) {
        out.insert(path);
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(child, child_path, out);
            }
        }
        Value::Array(items) => {
            let child_path = format!("{path}[]");
            if items.is_empty() {
                out.insert(child_path.clone());
            }
            for item in items {
                walk(item, child_path.clone(), out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// Every field path of `runs` as the current `Run` type writes them. A path that is a leaf in
/// one run (a null) and an object in another keeps only the object's fields.
fn field_paths(runs: &[Run]) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for run in runs {
        walk(
            &serde_json::to_value(run).unwrap(),
            String::new(),
            &mut paths,
        );
    }
    let parents: BTreeSet<String> = paths
        .iter()
        .filter(|p| {
            paths.iter().any(|q| {
                q.len() > p.len()
                    && (q.starts_with(&format!("{p}.")) || q.starts_with(&format!("{p}[]")))
            })
        })
        .cloned()
        .collect();
    &paths - &parents
}

/// The first-cell backticked names of the table rows in the `## <heading>` section.
fn documented(doc: &str, heading: &str) -> BTreeSet<String> {
    let start = doc
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/results.md has no `## {heading}` section"));
    let section = &doc[start + heading.len() + 5..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
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

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_run_json_field_is_documented() {
    let recorded: Run = serde_json::from_str(&repo_file(RECORDED_RUN)).unwrap();
    let paths = field_paths(&[fixture::run(), recorded]);
    let doc = repo_file("docs/results.md");
    compare("run.json", &paths, &documented(&doc, "run.json"));
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
        &documented(&doc, "steps.csv"),
    );
    compare(
        "samples.csv",
        &header(SamplesCsv.render(&run).unwrap()),
        &documented(&doc, "samples.csv"),
    );
    compare(
        "endpoints.csv",
        &header(EndpointsCsv.render(&run).unwrap()),
        &documented(&doc, "endpoints.csv"),
    );
}
