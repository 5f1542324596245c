//! What a step loads: a built-in scenario (its URL file generated from the seed sizes) or a
//! URL file the user wrote, validated when the plan is made.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::load::urls::{self, Scenario};

/// A scenario as asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioSource {
    /// read, write, mixed, stress.
    Builtin(Scenario),
    /// A siege URL file by path.
    File(PathBuf),
}

impl ScenarioSource {
    /// A built-in name or the path of a URL file (checked now: before anything starts).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if let Some(builtin) = Scenario::parse(text) {
            return Ok(Self::Builtin(builtin));
        }
        let path = Path::new(text);
        if !path.is_file() {
            bail!(
                "unknown scenario {text:?}: use {}, or a path to a siege URL file",
                Scenario::ALL.map(Scenario::name).join(", ")
            );
        }
        urls::validate(path)?;
        Ok(Self::File(path.to_path_buf()))
    }

    /// Its name in tables and plots: the built-in's name, a file's stem.
    pub fn label(&self) -> String {
        match self {
            Self::Builtin(s) => s.name().to_owned(),
            Self::File(path) => path.file_stem().map_or_else(
                || path.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            ),
        }
    }

    /// As the user gave it (run.json's `settings.scenarios`).
    pub fn as_given(&self) -> String {
        match self {
            Self::Builtin(s) => s.name().to_owned(),
            Self::File(path) => path.display().to_string(),
        }
    }

    /// The built-in scenario, if it is one.
    pub fn builtin(&self) -> Option<Scenario> {
        match self {
            Self::Builtin(s) => Some(*s),
            Self::File(_) => None,
        }
    }
}
