//! Exporters: one `Run`, several files (`run.json`, `steps.csv`, `samples.csv`,
//! `report.md`) behind one trait, each written atomically (temp file + rename) so an
//! interrupted run never leaves half a file. `compare` renders several runs side by side.
//! `report.html`/`compare.html` are made from the Markdown once the plots are drawn (`html`).

mod csv_files;
pub mod html;
mod markdown;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::results::Run;

pub use csv_files::{EndpointsCsv, SamplesCsv, StepsCsv};
pub use markdown::{compare_markdown, MarkdownReport};

/// A file made from a run.
pub trait Exporter {
    /// File name inside the run folder.
    fn file_name(&self) -> &'static str;
    /// The file's whole content.
    fn render(&self, run: &Run) -> anyhow::Result<String>;
}

/// `run.json`: everything, the source `lab report` and `lab compare` read.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn file_name(&self) -> &'static str {
        "run.json"
    }

    fn render(&self, run: &Run) -> anyhow::Result<String> {
        let mut text = serde_json::to_string_pretty(run)?;
        text.push('\n');
        Ok(text)
    }
}

/// Every exporter, in the order they are written.
pub fn all() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(JsonExporter),
        Box::new(StepsCsv),
        Box::new(SamplesCsv),
        Box::new(EndpointsCsv),
        Box::new(MarkdownReport),
    ]
}

/// Writes `text` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))?;
    Ok(())
}

/// Writes every exporter's file into `dir`.
pub fn write_all(run: &Run, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for exporter in all() {
        let path = dir.join(exporter.file_name());
        write_atomic(&path, &exporter.render(run)?)?;
        written.push(path);
    }
    Ok(written)
}

/// Gives `dir` and everything under it the owner of its parent folder, when lab runs as root
/// and that owner is someone else: the bench container runs as root and writes into the
/// bind-mounted `./results`, which belongs to the user on the host. Best effort: a failure is
/// logged, never fatal (the files are there either way).
pub fn adopt_parent_owner(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let Some(owner) = dir
        .parent()
        .and_then(|p| fs::metadata(p).ok())
        .filter(|m| m.uid() != 0)
    else {
        return;
    };
    chown_tree(dir, owner.uid(), owner.gid());
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    if let Err(err) = std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
        log::warn!("cannot give {} to {uid}:{gid}: {err}", path.display());
        return;
    }
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).into_iter().flatten().flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

/// Reads a run from its folder or its `run.json`.
pub fn load_run(path: &Path) -> anyhow::Result<(Run, PathBuf)> {
    let (file, dir) = if path.is_dir() {
        (path.join("run.json"), path.to_path_buf())
    } else {
        (
            path.to_path_buf(),
            path.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        )
    };
    let text = fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read {} (a run folder holds run.json)",
            file.display()
        )
    })?;
    let run: Run = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a lab run.json", file.display()))?;
    Ok((run, dir))
}

/// A new run folder `<results>/<UTC timestamp>-<label>/` (with `-2`, `-3`... when taken),
/// returned absolute.
pub fn create_run_dir(results: &Path, label: &str) -> anyhow::Result<PathBuf> {
    let slug: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut dir = results.join(format!("{stamp}-{slug}"));
    let mut n = 2;
    while dir.exists() {
        dir = results.join(format!("{stamp}-{slug}-{n}"));
        n += 1;
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Absolute, because nginx resolves the ceiling config's paths against its own prefix.
    fs::canonicalize(&dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_takes_the_owner_of_the_results_folder() {
        use std::os::unix::fs::MetadataExt;
        let results = tempfile::tempdir().unwrap();
        let run = results.path().join("run");
        std::fs::create_dir_all(run.join("urls")).unwrap();
        std::fs::write(run.join("urls/read.txt"), "x").unwrap();
        // As root (CI, the bench container) the results folder is given away first, like a
        // bind-mounted folder of a host user; otherwise ownership must simply stay as it is.
        let root = unsafe { libc::geteuid() } == 0;
        let want = if root {
            std::os::unix::fs::chown(results.path(), Some(1234), Some(2345)).unwrap();
            (1234, 2345)
        } else {
            let m = std::fs::metadata(results.path()).unwrap();
            (m.uid(), m.gid())
        };
        adopt_parent_owner(&run);
        for path in [run.clone(), run.join("urls"), run.join("urls/read.txt")] {
            let m = std::fs::metadata(&path).unwrap();
            assert_eq!((m.uid(), m.gid()), want, "{}", path.display());
        }
    }

    #[test]
    fn run_json_round_trips() {
        let run = fixture::run();
        let text = JsonExporter.render(&run).unwrap();
        let back: Run = serde_json::from_str(&text).unwrap();
        assert_eq!(back, run);
        insta::assert_snapshot!("run_json", text);
    }

    #[test]
    fn steps_csv_snapshot() {
        insta::assert_snapshot!("steps_csv", StepsCsv.render(&fixture::run()).unwrap());
    }

    #[test]
    fn samples_csv_snapshot() {
        insta::assert_snapshot!("samples_csv", SamplesCsv.render(&fixture::run()).unwrap());
    }

    #[test]
    fn markdown_report_snapshot() {
        insta::assert_snapshot!("report_md", MarkdownReport.render(&fixture::run()).unwrap());
    }

    #[test]
    fn compare_snapshot() {
        let a = fixture::run();
        let mut b = fixture::run();
        b.label = "roomy-only".into();
        for step in &mut b.steps {
            step.nginx.requests_per_s *= 2.0;
            step.nginx.p99_ms /= 2.0;
        }
        let runs = vec![
            (a, PathBuf::from("results/a")),
            (b, PathBuf::from("results/b")),
        ];
        insta::assert_snapshot!("compare_md", compare_markdown(&runs));
    }

    #[test]
    fn files_are_written_whole_and_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(&fixture::run(), dir.path()).unwrap();
        // run.json, steps.csv, samples.csv, endpoints.csv, report.md.
        assert_eq!(written.len(), 5);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().any(|n| n == "endpoints.csv"), "{names:?}");
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        let (run, folder) = load_run(dir.path()).unwrap();
        assert_eq!(run, fixture::run());
        assert_eq!(folder, dir.path());
        let err = load_run(&dir.path().join("steps.csv")).unwrap_err();
        assert!(format!("{err:#}").contains("is not a lab run.json"));
    }
}
