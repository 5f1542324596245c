//! `results/README.md`, the index of the kept runs (`lab index`): each folder with its kind,
//! date, command, headline figures and why it is kept: where the README, the docs or another
//! kept folder cite it. A folder cited nowhere has no reason to be kept, and `lab index
//! --check` (run by CI) fails on it, as it fails when the index is stale.
//!
//! Headlines are read from each folder's data as JSON values, not through the result types:
//! a folder written by an older lab must still be indexed, whatever fields it lacks.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::table::Table;

/// One kept (or to be judged) folder of `results/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub folder: String,
    /// bench, ab, compare, tune, soak, fault, or measurement (a script's folder).
    pub kind: &'static str,
    /// The folder's main page, relative to the folder.
    pub page: Option<&'static str>,
    /// `2026-12-07 02:05` from the folder's timestamp; empty when its name has none.
    pub date: String,
    pub command: String,
    pub headline: String,
    /// Where it is cited: `README.md § Results`, `docs/bench.md § The driver's cost`,
    /// `results/<folder>`.
    pub cited_by: Vec<String>,
}

/// The kinds of folder by the data file they hold, and the page a reader opens.
const KINDS: [(&str, &str, &str); 7] = [
    ("ab.json", "ab", "ab.md"),
    ("tune.json", "tune", "report.md"),
    ("soak.json", "soak", "report.md"),
    ("fault.json", "fault", "report.md"),
    ("run.json", "bench", "report.md"),
    ("compare.md", "compare", "compare.md"),
    ("README.md", "measurement", "README.md"),
];

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn date_of(folder: &str) -> String {
    let stamp = folder.split('-').next().unwrap_or_default();
    if stamp.len() == 16 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z') {
        format!(
            "{}-{}-{} {}:{}",
            &stamp[..4],
            &stamp[4..6],
            &stamp[6..8],
            &stamp[9..11],
            &stamp[11..13]
        )
    } else {
        String::new()
    }
}

fn command_of(data: &Value) -> String {
    data.get("command_line")
        .and_then(Value::as_array)
        .map(|args| {
            let args: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
            let program = args.first().map_or("lab", |p| {
                Path::new(p)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(p)
            });
            std::iter::once(program)
                .chain(args.iter().skip(1).copied())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn f(value: Option<&Value>) -> Option<f64> {
    value.and_then(Value::as_f64)
}

/// A bench's highest throughput users saw, and its step.
fn bench_headline(run: &Value) -> String {
    let steps = run.get("steps").and_then(Value::as_array);
    let Some(steps) = steps.filter(|s| !s.is_empty()) else {
        return "no step measured".to_owned();
    };
    let rate = |s: &Value| {
        f(s.pointer("/client/achieved_rate_per_s")).or(f(s.pointer("/nginx/requests_per_s")))
    };
    let best = steps
        .iter()
        .max_by(|a, b| rate(a).unwrap_or(0.0).total_cmp(&rate(b).unwrap_or(0.0)));
    let Some(best) = best else {
        return String::new();
    };
    let level = match f(best.get("rate_per_s")) {
        Some(r) => format!("{r:.0}/s"),
        None => format!(
            "{} users",
            best.get("users").and_then(Value::as_u64).unwrap_or(0)
        ),
    };
    let p99 = f(best.pointer("/client/latency/p99_ms")).or(f(best.pointer("/nginx/p99_ms")));
    format!(
        "{} steps; at most {:.0} req/s ({} / {} / {level}, p99 {:.0} ms, bottleneck {})",
        steps.len(),
        rate(best).unwrap_or(0.0),
        best.get("profile").and_then(Value::as_str).unwrap_or("?"),
        best.get("scenario").and_then(Value::as_str).unwrap_or("?"),
        p99.unwrap_or(0.0),
        best.pointer("/verdict/bottleneck")
            .and_then(Value::as_str)
            .unwrap_or("?")
    )
}

fn ab_headline(ab: &Value) -> String {
    let find = |name: &str| {
        ab.get("ab")?
            .as_array()?
            .iter()
            .find(|c| c.get("figure").and_then(Value::as_str) == Some(name))
            .and_then(|c| c.get("versus"))
            .cloned()
    };
    let text = |name: &str, v: Option<Value>| match v {
        Some(v) => format!(
            "{name} {:.2}x [{:.2}, {:.2}] {}",
            f(v.get("ratio")).unwrap_or(0.0),
            f(v.get("low")).unwrap_or(0.0),
            f(v.get("high")).unwrap_or(0.0),
            v.get("verdict")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .replace('_', " ")
        ),
        None => format!("{name} not compared"),
    };
    format!(
        "B/A: {}; {}",
        text("throughput", find("requests_per_s")),
        text("p99", find("p99_ms"))
    )
}

fn headline(kind: &str, dir: &Path) -> String {
    match kind {
        "bench" => {
            read_json(&dir.join("run.json")).map_or_else(String::new, |r| bench_headline(&r))
        }
        "ab" => read_json(&dir.join("ab.json")).map_or_else(String::new, |r| ab_headline(&r)),
        "fault" => read_json(&dir.join("fault.json")).map_or_else(String::new, |r| {
            format!(
                "{}: {}",
                r.get("scenario").and_then(Value::as_str).unwrap_or("?"),
                if r.get("passed").and_then(Value::as_bool) == Some(true) {
                    "PASS"
                } else {
                    "FAIL"
                }
            )
        }),
        "soak" => read_json(&dir.join("soak.json")).map_or_else(String::new, |r| {
            match r.pointer("/verdict/passed").and_then(Value::as_bool) {
                Some(true) => "PASS: nothing kept growing".to_owned(),
                Some(false) => "FAIL: a series kept growing".to_owned(),
                None => "not judged".to_owned(),
            }
        }),
        "tune" => read_json(&dir.join("tune.json")).map_or_else(String::new, |r| {
            match r.get("winner").and_then(Value::as_u64) {
                Some(id) => format!(
                    "winner: candidate {id} ({})",
                    r.get("winner_profile")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                ),
                None => "no candidate met the SLO".to_owned(),
            }
        }),
        _ => first_heading(&dir.join(if kind == "compare" {
            "compare.md"
        } else {
            "README.md"
        })),
    }
}

fn first_heading(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("# ").map(|h| h.trim().to_owned()))
        })
        .unwrap_or_default()
}

/// Every `.md` file whose citations count: the README, `docs/`, and each folder's pages.
fn citing_files(root: &Path, results: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut add_dir = |dir: &Path| {
        if let Ok(entries) = fs::read_dir(dir) {
            let mut md: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect();
            md.sort();
            files.extend(md);
        }
    };
    add_dir(&root.join("docs"));
    if let Ok(entries) = fs::read_dir(results) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            add_dir(&dir);
        }
    }
    files
}

/// Where `folder` is cited in `text` (a file named `name`): `name § heading` per citing
/// section.
fn citations(folder: &str, name: &str, text: &str) -> Vec<String> {
    let mut heading = String::new();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('#') {
            heading = h.trim_start_matches('#').trim().to_owned();
            continue;
        }
        let cited = line.match_indices(folder).any(|(at, _)| {
            let after = line[at + folder.len()..].chars().next();
            let before = line[..at].chars().last();
            !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
        if cited {
            let place = if heading.is_empty() {
                name.to_owned()
            } else {
                format!("{name} § {heading}")
            };
            if !out.contains(&place) {
                out.push(place);
            }
        }
    }
    out
}

/// Every folder of `results` with what the index says of it. `root` is the repository.
pub fn scan(root: &Path, results: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut folders: Vec<String> = fs::read_dir(results)
        .with_context(|| format!("cannot read {}", results.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let texts: Vec<(String, String, Option<String>)> = citing_files(root, results)
        .into_iter()
        .filter_map(|path| {
            let text = fs::read_to_string(&path).ok()?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let owner = path
                .parent()
                .filter(|p| p.parent() == Some(results))
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            Some((rel, text, owner))
        })
        .collect();
    let mut entries = Vec::new();
    for folder in folders {
        let dir = results.join(&folder);
        let (kind, page) = KINDS
            .iter()
            .find(|(file, _, _)| dir.join(file).is_file())
            .map_or(("other", None), |(_, kind, page)| (*kind, Some(*page)));
        let data_file = KINDS
            .iter()
            .find(|(_, k, _)| *k == kind)
            .map(|(f, _, _)| *f);
        let command = data_file
            .filter(|f| f.ends_with(".json"))
            .and_then(|f| read_json(&dir.join(f)))
            .map(|d| command_of(&d))
            .unwrap_or_default();
        let cited_by = texts
            .iter()
            .filter(|(_, _, owner)| owner.as_deref() != Some(folder.as_str()))
            .flat_map(|(name, text, owner)| {
                // Another folder's page cites this one as that folder.
                let name = owner
                    .as_ref()
                    .map_or(name.clone(), |o| format!("results/{o}"));
                citations(&folder, &name, text).into_iter().map(move |c| {
                    if owner.is_some() {
                        name.clone()
                    } else {
                        c
                    }
                })
            })
            .fold(Vec::new(), |mut acc: Vec<String>, c| {
                if !acc.contains(&c) {
                    acc.push(c);
                }
                acc
            });
        entries.push(Entry {
            date: date_of(&folder),
            headline: headline(kind, &dir),
            folder,
            kind,
            page,
            command,
            cited_by,
        });
    }
    Ok(entries)
}

/// The folders kept: cited by the README or the docs, or by a kept folder.
pub fn kept(entries: &[Entry]) -> Vec<&Entry> {
    let mut keep: Vec<&str> = Vec::new();
    loop {
        let before = keep.len();
        for e in entries {
            if keep.contains(&e.folder.as_str()) {
                continue;
            }
            let cited = e.cited_by.iter().any(|c| match c.strip_prefix("results/") {
                Some(other) => keep.contains(&other),
                None => true,
            });
            if cited {
                keep.push(&e.folder);
            }
        }
        if keep.len() == before {
            break;
        }
    }
    entries
        .iter()
        .filter(|e| keep.contains(&e.folder.as_str()))
        .collect()
}

/// `results/README.md`.
pub fn render(entries: &[Entry]) -> String {
    let kept = kept(entries);
    let mut md = String::new();
    let _ = writeln!(md, "# Results\n");
    let _ = writeln!(
        md,
        "The runs this repository keeps, each because the README, the docs or another kept folder cites it (the last column says where). A folder keeps its data (JSON, CSV) and its Markdown report; plots and HTML only where a page shows them: `lab report <folder>` draws the rest from the data. Written by `lab index`; `lab index --check` (CI) fails when a folder is cited nowhere or this page is stale. How to read a run: [docs/results.md](../docs/results.md).\n"
    );
    for kind in [
        "bench",
        "ab",
        "compare",
        "tune",
        "soak",
        "fault",
        "measurement",
        "other",
    ] {
        let of_kind: Vec<&&Entry> = kept.iter().filter(|e| e.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {kind} ({})\n", of_kind.len());
        let mut table = Table::new(&[
            "folder",
            "date",
            "command",
            "headline",
            "kept because it is cited by",
        ]);
        for e in of_kind {
            let folder = match e.page {
                Some(page) => format!("[{0}]({0}/{page})", e.folder),
                None => format!("`{}`", e.folder),
            };
            table.row([
                folder,
                e.date.clone(),
                if e.command.is_empty() {
                    "-".to_owned()
                } else {
                    format!("`{}`", e.command)
                },
                e.headline.clone(),
                e.cited_by.join("; "),
            ]);
        }
        md.push_str(&table.render());
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_cited_by_its_whole_name_under_its_heading() {
        let text = "# Results\n## Tight vs roomy\nSee [it](../results/20261123T050358Z-tight/report.md).\n## Other\n20261123T050358Z-tight-vs-roomy is another.\n";
        assert_eq!(
            citations("20261123T050358Z-tight", "docs/results.md", text),
            ["docs/results.md § Tight vs roomy"]
        );
        assert!(citations("20261123T050358Z-tigh", "x", text).is_empty());
        assert_eq!(
            date_of("20261207T021652Z-stall-contrast"),
            "2026-12-07 02:16"
        );
        assert_eq!(date_of("compare-tight"), "");
    }

    #[test]
    fn a_folder_cited_only_by_an_uncited_folder_is_not_kept() {
        let entry = |folder: &str, cited_by: &[&str]| Entry {
            folder: folder.into(),
            kind: "bench",
            page: Some("report.md"),
            date: String::new(),
            command: String::new(),
            headline: String::new(),
            cited_by: cited_by.iter().map(|c| (*c).to_owned()).collect(),
        };
        let entries = [
            entry("a", &["docs/results.md § Runs"]),
            entry("b", &["results/a"]),
            entry("c", &["results/d"]),
            entry("d", &[]),
        ];
        let kept: Vec<&str> = kept(&entries).iter().map(|e| e.folder.as_str()).collect();
        assert_eq!(kept, ["a", "b"]);
        let md = render(&entries);
        assert!(
            md.contains("[a](a/report.md)") && !md.contains("[c]("),
            "{md}"
        );
    }
}
