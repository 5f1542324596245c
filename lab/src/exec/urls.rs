//! The URL file a step reads: a built-in scenario's committed file when it is what this
//! stack's seed sizes and address generate, else a fresh one in the run folder; a user's file
//! as it is, or a copy pointed at the stack when its `BASE=` names another address.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::load::urls::{self, SeedSizes};
use crate::plan::ScenarioSource;
use crate::profile;
use crate::stack::StackInfo;

/// The URL file for a scenario of `profile` on `stack`, validated.
pub fn for_step(
    run_dir: &Path,
    profile: &str,
    sizes: SeedSizes,
    stack: &StackInfo,
    scenario: &ScenarioSource,
) -> anyhow::Result<PathBuf> {
    let path = match scenario {
        ScenarioSource::File(path) => pointed_at_stack(run_dir, profile, stack, path)?,
        ScenarioSource::Builtin(builtin) => {
            let text = urls::generate(*builtin, sizes, &stack.base_url)?;
            let name = builtin.name();
            let committed = profile::repo_root()
                .join("siege/urls")
                .join(format!("{name}.txt"));
            if fs::read_to_string(&committed).is_ok_and(|t| t == text) {
                committed
            } else {
                let dir = run_dir.join("urls");
                fs::create_dir_all(&dir)?;
                let path = dir.join(format!("{profile}-{name}.txt"));
                fs::write(&path, text)?;
                path
            }
        }
    };
    let summary = urls::validate(&path)?;
    log::debug!("{}: {} requests", path.display(), summary.requests);
    Ok(path)
}

/// A URL file given by path, as it is when its `BASE=` line names the stack's address (or it
/// has none); else a copy in the run folder whose `BASE=` is the stack's, so a file written
/// for the default port drives a stack published on another.
fn pointed_at_stack(
    run_dir: &Path,
    profile: &str,
    stack: &StackInfo,
    path: &Path,
) -> anyhow::Result<PathBuf> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the URL file {}", path.display()))?;
    let base = stack.base_url.trim_end_matches('/');
    let Some(text) = urls::with_base(&text, base) else {
        return Ok(path.to_path_buf());
    };
    let dir = run_dir.join("urls");
    fs::create_dir_all(&dir)?;
    let stem = path
        .file_stem()
        .map_or_else(|| "urls".into(), |s| s.to_string_lossy().into_owned());
    let copy = dir.join(format!("{profile}-{stem}.txt"));
    fs::write(&copy, text)?;
    eprintln!(
        "  {}: BASE pointed at the stack ({base}) in {}",
        path.display(),
        copy.display()
    );
    Ok(copy)
}
