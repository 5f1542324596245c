//! Exporters: every result type is a [`Report`] written as several files behind one trait
//! ([`Exporter`]): a bench `Run` as `run.json`, `steps.csv`, `samples.csv`, `endpoints.csv`
//! and `report.md`; a soak, a tune and a fault as their JSON, CSV and Markdown. Each file is
//! written atomically (temp file + rename) so an interrupted run never leaves half a file.
//! `compare` renders several runs side by side. `report.html`/`compare.html` are made from
//! the Markdown once the plots are drawn (`html`). Tables go through [`table::Table`], CSV
//! through the `csv` crate.

pub mod ab;
pub mod compare;
mod csv_files;
pub mod fault;
mod files;
pub mod html;
pub mod index;
mod run_report;
pub mod soak;
pub mod table;
pub mod tune;

pub use compare::compare_markdown;
pub use files::{
    adopt_parent_owner, create_run_dir, load_run, redraw, run_title, write_all, write_atomic,
};

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::csv_files::{SamplesCsv, StepsCsv};
    use super::files::{Exporter, Json};
    use super::run_report::MarkdownReport;
    use super::*;
    use crate::results::{fixture, Run};

    #[test]
    fn a_run_folder_takes_the_owner_of_the_results_folder() {
        use std::os::unix::fs::MetadataExt;
        let results = tempfile::tempdir().unwrap();
        let run = results.path().join("run");
        std::fs::create_dir_all(run.join("urls")).unwrap();
        std::fs::write(run.join("urls/read.txt"), "x").unwrap();
        // As root (CI, the lab container) the results folder is given away first, like a
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
        let text = Json("run.json").render(&run).unwrap();
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

    /// Committed runs (their `run.json` kept under `lab/tests/fixtures/runs/`), redrawn: the
    /// report and the step and endpoint tables a reader of each sees, pinned. A change of any
    /// exporter shows here as a diff to review (`INSTA_UPDATE=always`, then `git diff`).
    #[test]
    fn committed_runs_redraw_to_their_snapshots() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runs");
        let mut folders: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        folders.sort();
        assert!(folders.len() >= 5, "{folders:?}");
        for folder in folders {
            let name = folder.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(folder.join("run.json")).unwrap();
            let run: Run = serde_json::from_str(&text).unwrap();
            for (file, rendered) in [
                ("report_md", MarkdownReport.render(&run).unwrap()),
                ("steps_csv", StepsCsv.render(&run).unwrap()),
                (
                    "endpoints_csv",
                    csv_files::EndpointsCsv.render(&run).unwrap(),
                ),
            ] {
                insta::assert_snapshot!(format!("committed__{name}__{file}"), rendered);
            }
        }
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
            if let Some(c) = step.client.as_mut() {
                c.achieved_rate_per_s *= 2.0;
                c.latency.p99_ms /= 2.0;
            }
        }
        let runs = vec![
            (a, PathBuf::from("results/a")),
            (b, PathBuf::from("results/b")),
        ];
        insta::assert_snapshot!("compare_md", compare_markdown(&runs, 0));
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
