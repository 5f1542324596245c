//! Calling `docker compose` for one stack: the program (the v2 plugin, else Debian's
//! `docker-compose`), the env files every call carries, the project's variables, and the two
//! ways of running it (output shown, or kept and shown only on failure).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use crate::config::LabConfig;
use crate::profile::{repo_root, Profile};
use contract::DbKind;

/// `docker compose` with the arguments and variables every call of one stack carries.
#[derive(Debug, Clone)]
pub struct ComposeCli {
    program: Vec<String>,
    /// The env files and the database's compose profile.
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl ComposeCli {
    /// The calls for the stack `profile` and `db` describe, in the project lab's settings name.
    pub fn new(config: &LabConfig, profile: &Profile, db: DbKind) -> anyhow::Result<Self> {
        // Refused here with the key's name, not by nginx's entrypoint inside its container.
        profile.upstream_transport()?;
        let user_env = repo_root().join(".env");
        Ok(Self {
            program: program()?,
            args: base_args(profile, db, user_env.is_file().then_some(&*user_env)),
            env: project_env(config),
        })
    }

    /// One more variable for every call.
    pub fn with_env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// Runs `docker compose <args>` with its output shown (a build takes minutes: the user
    /// sees it go).
    pub fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = self
            .command(args)
            .status()
            .with_context(|| format!("cannot run {}", self.program.join(" ")))?;
        if !status.success() {
            bail!("`{}` failed ({status})", self.describe(args));
        }
        Ok(())
    }

    /// Runs it with the output kept: stdout is returned, stderr shown only when it fails.
    pub fn run_quietly(&self, args: &[&str]) -> anyhow::Result<Vec<u8>> {
        let output = self
            .command(args)
            .output()
            .with_context(|| format!("cannot run {}", self.program.join(" ")))?;
        if !output.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                self.describe(args),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output.stdout)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program[0]);
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(&self.program[1..])
            .args(&self.args)
            .args(args)
            .current_dir(repo_root());
        command
    }

    fn describe(&self, args: &[&str]) -> String {
        let mut words = self.program.clone();
        words.extend(self.args.iter().cloned());
        words.extend(args.iter().map(|a| (*a).to_owned()));
        words.join(" ")
    }
}

/// `docker compose` (v2 plugin) when it works, else Debian's `docker-compose`.
fn program() -> anyhow::Result<Vec<String>> {
    let answers = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if answers("docker", &["compose", "version"]) {
        return Ok(vec!["docker".into(), "compose".into()]);
    }
    if answers("docker-compose", &["version"]) {
        return Ok(vec!["docker-compose".into()]);
    }
    bail!("docker compose not found: install Docker with its compose plugin, or the Debian package docker-compose")
}

/// Arguments common to every compose call: the user's `.env` (secrets such as STRESS_TOKEN)
/// when the repository has one, then the profile's env file (later files win), then the
/// database profile. A lone `--env-file` would replace `.env` and drop the secrets.
fn base_args(profile: &Profile, db: DbKind, user_env: Option<&Path>) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(path) = user_env {
        args.extend(["--env-file".to_owned(), path.display().to_string()]);
    }
    args.extend(["--env-file".to_owned(), profile.path.display().to_string()]);
    if db == DbKind::Mysql {
        args.extend(["--profile".to_owned(), "mysql".to_owned()]);
    }
    args
}

/// The project, the log folder and the nginx.conf template lab's settings name, for every
/// compose call.
fn project_env(config: &LabConfig) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(project) = config.compose_project.as_ref().filter(|p| !p.is_empty()) {
        env.push(("COMPOSE_PROJECT_NAME".to_owned(), project.clone()));
    }
    if let Some(dir) = &config.log_dir {
        env.push(("LAB_LOG_DIR".to_owned(), dir.display().to_string()));
    }
    // compose.yaml mounts `${LAB_NGINX_CONF:-./nginx.conf}` as nginx's template.
    if let Some(conf) = &config.nginx_conf {
        let conf = conf.canonicalize().unwrap_or_else(|_| conf.clone());
        env.push(("LAB_NGINX_CONF".to_owned(), conf.display().to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_calls_carry_the_profile_env_file_and_the_mysql_profile() {
        let profile = Profile {
            name: "tight".into(),
            path: "profiles/tight.env".into(),
            vars: Default::default(),
        };
        assert_eq!(
            base_args(&profile, DbKind::Postgres, None),
            ["--env-file", "profiles/tight.env"]
        );
        assert_eq!(
            base_args(&profile, DbKind::Mysql, Some(".env".as_ref())),
            [
                "--env-file",
                ".env",
                "--env-file",
                "profiles/tight.env",
                "--profile",
                "mysql",
            ]
        );
    }
}
