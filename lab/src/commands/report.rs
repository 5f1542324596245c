//! `lab report` and `lab compare`: results redrawn from their data alone (no stack, no load).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;

use crate::cli::{CompareArgs, ReportArgs};
use crate::export;
use crate::plot;
use crate::results::Run;

/// `lab report <run>`: rewrites the CSVs, report.md and every plot from run.json alone; for
/// a `lab soak` folder, the verdict too (it is computed from the windows); for a `lab tune`
/// folder, its CSV, report and plot from tune.json.
pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    // A folder, or the data file itself.
    let data = |name: &str| {
        let path = if args.run.is_dir() {
            args.run.join(name)
        } else {
            args.run.clone()
        };
        Some(path).filter(|p| p.file_name().is_some_and(|n| n == name) && p.is_file())
    };
    if let Some(soak_json) = data("soak.json") {
        return super::soak::report(&soak_json);
    }
    if let Some(tune_json) = data("tune.json") {
        return super::tune::report(&tune_json);
    }
    let (run, dir) = export::load_run(&args.run)?;
    export::redraw(&run, &dir)?;
    plot::draw_run(&run, &dir)?;
    let html = export::html::write_from_markdown(&dir, "report", &export::run_title(&run))?;
    export::adopt_parent_owner(&dir);
    println!("{}", dir.join("report.md").display());
    println!("{}", html.display());
    Ok(())
}

/// `lab compare <run> <run>...`: a side-by-side table and overlay plots.
pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let runs = args
        .runs
        .iter()
        .map(|path| export::load_run(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let out = match args.out {
        Some(out) => out,
        None => {
            let parent = runs[0]
                .1
                .parent()
                .map_or_else(|| PathBuf::from("results"), Path::to_path_buf);
            parent.join(format!("compare-{}", Utc::now().format("%Y%m%dT%H%M%SZ")))
        }
    };
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("compare.md");
    export::write_atomic(&path, &export::compare_markdown(&runs))?;
    let only_runs: Vec<Run> = runs.into_iter().map(|(run, _)| run).collect();
    plot::draw_compare(&only_runs, &out)?;
    let labels: Vec<&str> = only_runs.iter().map(|run| run.label.as_str()).collect();
    let html = export::html::write_from_markdown(
        &out,
        "compare",
        &format!("lab compare: {}", labels.join(", ")),
    )?;
    export::adopt_parent_owner(&out);
    println!("{}", path.display());
    println!("{}", html.display());
    Ok(())
}
