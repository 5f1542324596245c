//! `lab report` and `lab compare`: results redrawn from their data alone (no stack, no load).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;

use crate::cli::{CompareArgs, IndexArgs, ReportArgs};
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
    plot::draw_run(&run, &dir)?;
    export::redraw(&run, &dir)?;
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
    // One run given twice (as its folder and as its run.json, say) would count as two
    // repeats of itself and narrow every interval: refuse it.
    let mut seen = std::collections::BTreeSet::new();
    for (_, dir) in &runs {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !seen.insert(canonical) {
            anyhow::bail!(
                "{} is given twice: each run counts once in a comparison",
                dir.display()
            );
        }
    }
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
    let baseline = args.baseline.saturating_sub(1);
    if baseline >= runs.len() {
        anyhow::bail!(
            "--baseline {} names no run: give 1 to {} (the runs' order on the command line)",
            args.baseline,
            runs.len()
        );
    }
    let refs: Vec<(Run, &Path)> = runs
        .iter()
        .map(|(run, path)| (run.clone(), path.as_path()))
        .collect();
    let comparison = crate::results::comparison::Comparison::of(&refs, baseline);
    export::write_atomic(
        &out.join("compare.json"),
        &(serde_json::to_string_pretty(&comparison)? + "\n"),
    )?;
    for warning in &comparison.machine_differences {
        eprintln!("lab compare: warning: {warning}");
    }
    let path = out.join("compare.md");
    export::write_atomic(&path, &export::compare_markdown(&runs, baseline))?;
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

/// `lab index`: results/README.md from the folders and where they are cited.
pub fn index(args: IndexArgs) -> anyhow::Result<()> {
    let root = crate::profile::repo_root();
    let results = if args.results.is_absolute() {
        args.results.clone()
    } else {
        root.join(&args.results)
    };
    let mut entries = export::index::scan(&root, &results)?;
    let kept: Vec<String> = export::index::kept(&entries)
        .iter()
        .map(|e| e.folder.clone())
        .collect();
    let uncited: Vec<String> = entries
        .iter()
        .filter(|e| !kept.contains(&e.folder))
        .map(|e| e.folder.clone())
        .collect();
    let page = results.join("README.md");
    if args.check {
        let mut problems = Vec::new();
        if !uncited.is_empty() {
            problems.push(format!(
                "cited nowhere (cite them in the docs or delete them: lab index --prune): {}",
                uncited.join(", ")
            ));
        }
        let current = fs::read_to_string(&page).unwrap_or_default();
        if current != export::index::render(&entries) {
            problems.push(format!("{} is stale: run lab index", page.display()));
        }
        if !problems.is_empty() {
            anyhow::bail!("lab index --check: {}", problems.join("; "));
        }
        println!(
            "{}: {} folders, every one cited, the index current",
            page.display(),
            entries.len()
        );
        return Ok(());
    }
    if args.prune {
        for folder in &uncited {
            fs::remove_dir_all(results.join(folder))
                .with_context(|| format!("cannot delete {folder}"))?;
            eprintln!("lab index: deleted {folder} (cited nowhere)");
        }
        entries.retain(|e| kept.contains(&e.folder));
    } else {
        for folder in &uncited {
            eprintln!(
                "lab index: warning: {folder} is cited nowhere (lab index --prune deletes it)"
            );
        }
    }
    export::write_atomic(&page, &export::index::render(&entries))?;
    println!("{}", page.display());
    Ok(())
}
