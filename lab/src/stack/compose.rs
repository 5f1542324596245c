//! The compose runtime: the same stack through `docker compose` and the profile's env file.
//!
//! Two situations: on a host with docker, `up` runs `docker compose --env-file profiles/<p>.env
//! up -d` (and `down` stops it); inside compose's own `bench` container (LAB_BASE_URL set), `up`
//! attaches to the stack that is already running, since there is no engine to drive there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::process;
use super::units::{parse_cpus, parse_memory};
use super::{load_info, save_info, Runtime, ServiceInfo, StackInfo, UpOptions, STACK_FILE};
use crate::cli::{DbKind, RuntimeKind};
use crate::profile::{repo_root, Profile};

/// Runs the stack with docker compose.
pub struct ComposeRuntime;

const READY_TIMEOUT: Duration = Duration::from_secs(300);

impl Runtime for ComposeRuntime {
    fn up(&self, opts: &UpOptions) -> anyhow::Result<StackInfo> {
        std::fs::create_dir_all(&opts.state_dir)?;
        let attached = std::env::var("LAB_BASE_URL").ok().filter(|u| !u.is_empty());
        let (base_url, access_log) = match attached {
            Some(url) => (
                url,
                std::env::var_os("LAB_ACCESS_LOG")
                    .map_or_else(|| PathBuf::from("/var/log/lab/access.json"), PathBuf::from),
            ),
            None => {
                let compose = compose_command()?;
                start(&compose, opts)?;
                let port = std::env::var("LAB_HTTP_PORT").unwrap_or_else(|_| "8080".into());
                let log_dir = std::env::var_os("LAB_LOG_DIR")
                    .map_or_else(|| repo_root().join(".lab/compose-logs"), PathBuf::from);
                (
                    format!("http://127.0.0.1:{port}"),
                    log_dir.join("access.json"),
                )
            }
        };
        wait_for_nginx(&base_url)?;
        let info = StackInfo {
            profile: opts.profile.name.clone(),
            db: opts.db,
            base_url,
            access_log,
            capped: true,
            services: services(&opts.profile)?,
            runtime: RuntimeKind::Compose,
            supervisor_pid: None,
            state: "ready".into(),
            error: None,
            events_log: None,
            warnings: Vec::new(),
        };
        save_info(&opts.state_dir, &info)?;
        Ok(info)
    }

    fn status(&self, state_dir: &Path) -> anyhow::Result<StackInfo> {
        load_info(state_dir)?
            .ok_or_else(|| anyhow!("no compose stack recorded in {}", state_dir.display()))
    }

    fn down(&self, state_dir: &Path) -> anyhow::Result<()> {
        let Some(info) = load_info(state_dir)? else {
            return Ok(());
        };
        if std::env::var("LAB_BASE_URL").map_or(true, |u| u.is_empty()) {
            let compose = compose_command()?;
            let profile = Profile::load(&info.profile)?;
            run(&compose, &compose_args(&profile, info.db, &["down"]), None)?;
        }
        std::fs::remove_file(state_dir.join(STACK_FILE))?;
        Ok(())
    }
}

/// `docker compose` (v2 plugin) when it works, else Debian's `docker-compose`.
fn compose_command() -> anyhow::Result<Vec<String>> {
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if plugin {
        return Ok(vec!["docker".into(), "compose".into()]);
    }
    let standalone = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if standalone {
        return Ok(vec!["docker-compose".into()]);
    }
    bail!("docker compose not found: install Docker with its compose plugin, or the Debian package docker-compose")
}

/// Arguments common to every compose call: the user's `.env` (secrets such as STRESS_TOKEN)
/// when the repository has one, then the profile's env file (later files win), then the
/// database profile. A lone `--env-file` would replace `.env` and drop the secrets.
fn compose_args(profile: &Profile, db: DbKind, rest: &[&str]) -> Vec<String> {
    let user_env = crate::profile::repo_root().join(".env");
    compose_args_with(profile, db, user_env.is_file().then_some(&*user_env), rest)
}

fn compose_args_with(
    profile: &Profile,
    db: DbKind,
    user_env: Option<&std::path::Path>,
    rest: &[&str],
) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(path) = user_env {
        args.extend(["--env-file".to_owned(), path.display().to_string()]);
    }
    args.extend(["--env-file".to_owned(), profile.path.display().to_string()]);
    if db == DbKind::Mysql {
        args.extend(["--profile".to_owned(), "mysql".to_owned()]);
    }
    args.extend(rest.iter().map(|s| (*s).to_owned()));
    args
}

fn start(compose: &[String], opts: &UpOptions) -> anyhow::Result<()> {
    match opts.db {
        DbKind::Sqlite => bail!(
            "the compose stack runs Postgres (default) or MySQL: use --db postgres or --db mysql"
        ),
        DbKind::Postgres => run(
            compose,
            &compose_args(&opts.profile, opts.db, &["up", "-d"]),
            None,
        ),
        DbKind::Mysql => {
            // The app and seed wait for Postgres only (compose cannot make that conditional):
            // start MySQL first and point the app at it.
            run(
                compose,
                &compose_args(&opts.profile, opts.db, &["up", "-d", "mysql"]),
                None,
            )?;
            run(
                compose,
                &compose_args(&opts.profile, opts.db, &["up", "-d"]),
                Some(("DATABASE_URL", "mysql://lab:lab@mysql:3306/lab")),
            )
        }
    }
}

fn run(compose: &[String], args: &[String], env: Option<(&str, &str)>) -> anyhow::Result<()> {
    let mut command = Command::new(&compose[0]);
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    let status = command
        .args(&compose[1..])
        .args(args)
        .current_dir(repo_root())
        .status()
        .with_context(|| format!("cannot run {}", compose.join(" ")))?;
    if !status.success() {
        bail!(
            "`{} {}` failed ({status})",
            compose.join(" "),
            args.join(" ")
        );
    }
    Ok(())
}

fn wait_for_nginx(base_url: &str) -> anyhow::Result<()> {
    let addr = base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match process::http_get(&addr, "/nginx-health", Duration::from_secs(2)) {
            Ok(200) => return Ok(()),
            _ if Instant::now() >= deadline => {
                bail!(
                    "nginx at {base_url} did not answer within {} s",
                    READY_TIMEOUT.as_secs()
                )
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The services compose runs, with the caps compose.yaml gives them from the profile.
fn services(profile: &Profile) -> anyhow::Result<Vec<ServiceInfo>> {
    let cap = |name: &str,
               cpus_key: &str,
               memory_key: &str,
               cpus: &str,
               memory: &str|
     -> anyhow::Result<ServiceInfo> {
        Ok(ServiceInfo {
            name: name.to_owned(),
            pid: None,
            cpu_limit: Some(parse_cpus(profile.get(cpus_key).unwrap_or(cpus))?),
            memory_limit_bytes: Some(parse_memory(profile.get(memory_key).unwrap_or(memory))?),
            cgroup: None,
            restarts: 0,
            oom_kills: 0,
            addr: None,
            start_time: None,
        })
    };
    Ok(vec![
        cap("app1", "APP_CPUS", "APP_MEMORY", "0.3", "400M")?,
        cap("app2", "APP_CPUS", "APP_MEMORY", "0.3", "400M")?,
        cap("nginx", "NGINX_CPUS", "NGINX_MEMORY", "0.1", "200M")?,
        cap("db", "DB_CPUS", "DB_MEMORY", "0.3", "1G")?,
    ])
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
            compose_args_with(&profile, DbKind::Postgres, None, &["up", "-d"]),
            ["--env-file", "profiles/tight.env", "up", "-d"]
        );
        assert_eq!(
            compose_args_with(&profile, DbKind::Mysql, Some(".env".as_ref()), &["down"]),
            [
                "--env-file",
                ".env",
                "--env-file",
                "profiles/tight.env",
                "--profile",
                "mysql",
                "down"
            ]
        );
    }

    #[test]
    fn service_caps_come_from_the_profile_with_the_seed_defaults() {
        let profile = Profile {
            name: "p".into(),
            path: "p.env".into(),
            vars: [("APP_CPUS".to_owned(), "0.5".to_owned())].into(),
        };
        let services = services(&profile).unwrap();
        assert_eq!(services[0].cpu_limit, Some(0.5));
        assert_eq!(services[2].memory_limit_bytes, Some(200 << 20));
    }
}
