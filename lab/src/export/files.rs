//! Writing a report's files: the exporter traits, each file written atomically (temp file +
//! rename) so an interrupted run never leaves half a file, run folders, and the ownership of
//! what lab writes as root into a user's folder.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::results::Run;

/// A file made from a report of type `R`.
pub trait Exporter<R> {
    /// File name inside the report's folder.
    fn file_name(&self) -> &'static str;
    /// The file's whole content.
    fn render(&self, report: &R) -> anyhow::Result<String>;
}

/// A result type and the files it is written as, in order (its JSON first: the data every
/// other file and `lab report` are drawn from).
pub trait Report: Sized {
    fn exporters() -> Vec<Box<dyn Exporter<Self>>>;
}

/// The report itself as pretty JSON, under the given file name.
pub struct Json(pub &'static str);

impl<R: Serialize> Exporter<R> for Json {
    fn file_name(&self) -> &'static str {
        self.0
    }

    fn render(&self, report: &R) -> anyhow::Result<String> {
        let mut text = serde_json::to_string_pretty(report)?;
        text.push('\n');
        Ok(text)
    }
}

/// Writes every file of `report` into `dir`, each atomically.
pub fn write_all<R: Report>(report: &R, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for exporter in R::exporters() {
        let path = dir.join(exporter.file_name());
        write_atomic(&path, &rendered(exporter.as_ref(), report, dir)?)?;
        written.push(path);
    }
    adopt_parent_owner(dir);
    Ok(written)
}

/// Every file of `report` but its JSON (`lab report` redraws from the JSON).
pub fn redraw<R: Report>(report: &R, dir: &Path) -> anyhow::Result<()> {
    for exporter in R::exporters().into_iter().skip(1) {
        let path = dir.join(exporter.file_name());
        write_atomic(&path, &rendered(exporter.as_ref(), report, dir)?)?;
    }
    Ok(())
}

/// A file's text as written into `dir`: a Markdown file links only the images that are there.
fn rendered<R>(exporter: &dyn Exporter<R>, report: &R, dir: &Path) -> anyhow::Result<String> {
    let text = exporter.render(report)?;
    Ok(if exporter.file_name().ends_with(".md") {
        present_images(&text, dir)
    } else {
        text
    })
}

/// Markdown with each image line (`![title](file)`) whose file is not in `dir` replaced by a
/// line saying how to draw it: a kept run keeps its data and report, not every plot (`lab
/// report` redraws them), and a link must never point nowhere.
pub fn present_images(markdown: &str, dir: &Path) -> String {
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.split_inclusive('\n') {
        let image = line
            .trim_end()
            .strip_prefix("![")
            .and_then(|rest| rest.split_once("]("))
            .and_then(|(title, rest)| Some((title, rest.strip_suffix(')')?)));
        match image {
            Some((title, file)) if !file.contains("://") && !dir.join(file).is_file() => {
                let end = if line.ends_with('\n') { "\n" } else { "" };
                out.push_str(&format!(
                    "*{title}: `{file}` is not in this folder; `lab report` draws it from the data.*{end}"
                ));
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// The text a `csv::Writer` over memory holds.
pub fn finish_csv(writer: csv::Writer<Vec<u8>>) -> anyhow::Result<String> {
    let bytes = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    Ok(String::from_utf8(bytes)?)
}

/// The HTML report's title: the run's label and when it started.
pub fn run_title(run: &Run) -> String {
    format!(
        "lab bench: {} ({})",
        run.label,
        run.started_at.format("%Y-%m-%d %H:%M UTC")
    )
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

/// Gives `dir` and everything under it the owner of its parent folder, when lab runs as root
/// and that owner is someone else: the lab container runs as root and writes into the
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
