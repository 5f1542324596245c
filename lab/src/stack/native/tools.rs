//! The programs a native stack runs: found where their variable says, else on PATH (and in
//! the sbin folders, often missing from a non-root PATH); the app built when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context};

use crate::config::{self, LabConfig};
use crate::profile::repo_root;

/// A tool given by its variable (`configured`, named `env_var` in messages), else from PATH
/// (plus the sbin folders, often missing for non-root).
pub fn find_tool(
    configured: Option<&Path>,
    env_var: &str,
    name: &str,
    package: &str,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = configured {
        return config::existing(path, env_var);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!("{name} not found: install the Debian package {package} (apt-get install {package}) or set {env_var}")
        })
}

/// The app binary: `LAB_APP_BIN`, else target/release/app, built when missing.
pub fn app_binary(config: &LabConfig) -> anyhow::Result<PathBuf> {
    if let Some(path) = &config.app_bin {
        return config::existing(path, "LAB_APP_BIN");
    }
    let root = repo_root();
    let path = root.join("target/release/app");
    if !path.is_file() {
        eprintln!("lab: building the app (cargo build --release -p app)...");
        let status = Command::new("cargo")
            .args(["build", "--release", "-p", "app"])
            .current_dir(&root)
            .status()
            .context("cannot run cargo to build the app; set LAB_APP_BIN to a built binary")?;
        if !status.success() || !path.is_file() {
            bail!("building the app failed; set LAB_APP_BIN to a built binary");
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_the_debian_package_to_install() {
        let err = find_tool(
            None,
            "LAB_TEST_UNSET_TOOL",
            "no-such-tool-anywhere",
            "some-package",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("apt-get install some-package"),
            "{err}"
        );
    }
}
