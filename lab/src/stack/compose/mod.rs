//! The compose runtime: the same stack through `docker compose` and the profile's env file.
//!
//! Two situations: on a host with docker, `up` runs `docker compose --env-file profiles/<p>.env
//! up -d --build --wait` and the handle's `down` stops it; inside compose's own `bench`
//! container (LAB_BASE_URL set), `up` attaches to the stack that is already running and the
//! handle never stops it. Either way each service is found as a container through the Docker
//! Engine API (`services`), so faults go through the engine too.

mod ceiling;
mod cli;
mod services;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context};

use self::ceiling::{nginx_answers, ComposeCeiling, CEILING_PROFILE};
use self::cli::ComposeCli;
use self::services::{project_of, running_db, services, unmeasured_warning, PROJECT_LABEL};
use super::ceiling::CappedNginx;
use super::handle::{Attached, Handle, Runtime, Stack, StackEvent};
use super::info::{save_info, ServiceInfo, StackInfo, UpOptions, STACK_FILE};
use super::process;
use crate::client_path::{self, ClientChoice, ClientPath};
use crate::config::LabConfig;
use crate::profile::{repo_root, Profile};
use contract::{DbKind, RuntimeKind, StackState};

/// Runs the stack with docker compose.
pub struct ComposeRuntime {
    pub config: LabConfig,
}

/// The app's DATABASE_URL for compose's MySQL service.
pub const MYSQL_URL: &str = "mysql://lab:lab@mysql:3306/lab";

impl ComposeRuntime {
    /// Inside the lab container: the stack's nginx URL (compose.yaml sets it).
    fn attached_url(&self) -> Option<String> {
        self.config.base_url.clone().filter(|u| !u.is_empty())
    }
}

impl Runtime for ComposeRuntime {
    fn up(&self, opts: &UpOptions) -> anyhow::Result<Stack> {
        std::fs::create_dir_all(&opts.state_dir)?;
        let config = &self.config;
        if let Some(url) = self.attached_url() {
            let info = self.attach_running(opts, &url)?;
            let inner = self.open(info, &opts.state_dir);
            return Ok(Stack::owned(Box::new(Attached { inner })));
        }
        if opts.db == DbKind::Sqlite {
            bail!("the compose stack runs Postgres (default) or MySQL: use --db postgres or --db mysql");
        }
        let cli = ComposeCli::new(config, &opts.profile, opts.db)?;
        let mut stack = ComposeStack {
            config: config.clone(),
            state_dir: opts.state_dir.clone(),
            info: StackInfo::starting(opts, RuntimeKind::Compose),
            started: SystemTime::now(),
            discard_data: opts.discard_data,
        };
        save_info(&opts.state_dir, &stack.info)?;
        // --wait: back once every service is healthy (the seed job has completed); --build:
        // the images follow the sources (a no-op when nothing changed). With --profile mysql
        // MySQL starts and the app and the seed job wait for it (Postgres still starts,
        // idle); up_env points DATABASE_URL at it. From here on a failure stops the stack.
        let ready = up_env(opts)
            .into_iter()
            .fold(cli, |cli, (key, value)| cli.with_env(&key, value))
            .run(&["up", "-d", "--build", "--wait"])
            .and_then(|_| self.ready(opts));
        match ready {
            Ok(info) => {
                stack.info = info;
                save_info(&opts.state_dir, &stack.info)?;
                Ok(Stack::owned(Box::new(stack)))
            }
            Err(err) => {
                if let Err(down) = stack.down() {
                    eprintln!("lab: warning: stopping the stack that failed to start: {down:#}");
                }
                Err(err)
            }
        }
    }

    fn open(&self, info: StackInfo, state_dir: &Path) -> Box<dyn Handle> {
        Box::new(ComposeStack {
            config: self.config.clone(),
            state_dir: state_dir.to_path_buf(),
            info,
            started: SystemTime::now(),
            discard_data: false,
        })
    }
}

impl ComposeRuntime {
    /// The stack the lab container belongs to, as it runs (the database is read from the
    /// running app: the container cannot know which compose profile started it).
    fn attach_running(&self, opts: &UpOptions, url: &str) -> anyhow::Result<StackInfo> {
        process::wait_for_nginx(url)?;
        let config = &self.config;
        let project = project_name(config, true, &opts.profile, opts.db).ok();
        let db = project
            .as_deref()
            .and_then(|p| running_db(config, p).ok().flatten())
            .unwrap_or(opts.db);
        let info = self.found(
            opts,
            db,
            url.to_owned(),
            config.container_access_log(),
            true,
        )?;
        let info = StackInfo {
            client_path: Some(ClientPath::of_attached_url(url)),
            ..info
        };
        save_info(&opts.state_dir, &info)?;
        Ok(info)
    }

    /// The started stack's record, once nginx answers on its published port and lab's client
    /// has its way to it.
    fn ready(&self, opts: &UpOptions) -> anyhow::Result<StackInfo> {
        let base_url = format!("http://127.0.0.1:{}", opts.ports.http);
        process::wait_for_nginx(&base_url)?;
        let log_dir = self
            .config
            .log_dir
            .clone()
            .unwrap_or_else(|| repo_root().join(".lab/compose-logs"));
        let mut info = self.found(opts, opts.db, base_url, log_dir.join("access.json"), false)?;
        self.choose_client(&mut info)?;
        Ok(info)
    }

    /// Points lab's client at nginx the way `LAB_CLIENT_PATH` asks: nginx's address on the
    /// stack's network when the host reaches it, else the published port (client_path.rs).
    fn choose_client(&self, info: &mut StackInfo) -> anyhow::Result<()> {
        let published = std::mem::take(&mut info.base_url);
        let choice = self.config.client_path;
        let addresses = match choice {
            ClientChoice::Published => Vec::new(),
            ClientChoice::Auto | ClientChoice::Bridge => self.nginx_addresses(info),
        };
        let (url, path) = client_path::choose(choice, &published, &addresses, nginx_answers)?;
        info.base_url = url;
        info.client_path = Some(path);
        info.published_url = Some(published);
        Ok(())
    }

    /// nginx's container's addresses on its networks, as the engine reports them.
    fn nginx_addresses(&self, info: &StackInfo) -> Vec<String> {
        let Some(id) = info
            .services
            .iter()
            .find(|s| s.name == "nginx")
            .and_then(|s| s.container.as_deref())
        else {
            return Vec::new();
        };
        self.config
            .engine()
            .and_then(|engine| engine.inspect(id))
            .map(|state| state.ip_addresses)
            .unwrap_or_default()
    }

    /// The stack's record once nginx answers: every service found through the engine.
    fn found(
        &self,
        opts: &UpOptions,
        db: DbKind,
        base_url: String,
        access_log: PathBuf,
        attached: bool,
    ) -> anyhow::Result<StackInfo> {
        let mut warnings = Vec::new();
        let project = project_name(&self.config, attached, &opts.profile, opts.db)
            .map_err(|err| warnings.push(unmeasured_warning(&err)))
            .ok();
        let services = services(
            &self.config,
            &opts.profile,
            db,
            project.as_deref(),
            &mut warnings,
        )?;
        for warning in &warnings {
            eprintln!("lab: WARNING: {warning}");
        }
        Ok(StackInfo {
            db,
            base_url,
            access_log,
            services,
            state: StackState::Ready,
            warnings,
            ..StackInfo::starting(opts, RuntimeKind::Compose)
        })
    }
}

/// A compose stack: its record, and the engine's answers about its containers.
pub struct ComposeStack {
    config: LabConfig,
    state_dir: PathBuf,
    info: StackInfo,
    /// When lab took hold of it: the window of the engine's OOM events in `status`.
    started: SystemTime,
    /// `down -v`: the volumes go too.
    discard_data: bool,
}

impl ComposeStack {
    fn engine(&self) -> anyhow::Result<crate::docker::Engine> {
        self.config.engine()
    }

    fn service(&self, name: &str) -> anyhow::Result<ServiceInfo> {
        self.status()?
            .services
            .into_iter()
            .find(|s| s.name == name)
            .with_context(|| format!("the stack has no service {name}"))
    }

    fn container(&self, name: &str) -> anyhow::Result<String> {
        self.service(name)?
            .container
            .with_context(|| format!("{name} has no container (is the engine reachable?)"))
    }

    fn cli(&self) -> anyhow::Result<ComposeCli> {
        ComposeCli::new(&self.config, &recorded_profile(&self.info)?, self.info.db)
    }
}

impl Handle for ComposeStack {
    fn info(&self) -> &StackInfo {
        &self.info
    }

    /// The stack as recorded, with its containers looked up again (a container that compose
    /// recreated has a new ID, a restarted one a new restart count) and the engine's `oom`
    /// events since lab took hold of it.
    fn status(&self) -> anyhow::Result<StackInfo> {
        let mut info = self.info.clone();
        let Some(project) = project_of(&self.config, &info) else {
            return Ok(info);
        };
        let profile = recorded_profile(&info)?;
        let mut warnings = Vec::new();
        info.services = services(
            &self.config,
            &profile,
            info.db,
            Some(&project),
            &mut warnings,
        )?;
        if let Ok(ooms) = self
            .engine()
            .and_then(|e| e.events(self.started, SystemTime::now(), &["oom"]))
        {
            for service in &mut info.services {
                if let Some(id) = &service.container {
                    service.oom_kills = ooms.iter().filter(|e| e.is_about(id)).count() as u32;
                }
            }
        }
        Ok(info)
    }

    /// The engine's container events of the stack's containers since `since`.
    fn events(&self, since: SystemTime) -> Vec<StackEvent> {
        let ids: Option<Vec<String>> = self.status().ok().map(|info| {
            info.services
                .iter()
                .filter_map(|s| s.container.clone())
                .collect()
        });
        let actions = ["die", "oom", "restart", "start", "stop", "kill"];
        match self
            .engine()
            .and_then(|e| e.events(since, SystemTime::now(), &actions))
        {
            Ok(events) => events
                .into_iter()
                .filter(|e| {
                    ids.as_ref()
                        .is_none_or(|ids| ids.iter().any(|id| e.is_about(id)))
                })
                .map(|e| StackEvent {
                    t: chrono::DateTime::from_timestamp_nanos(e.time_nano).to_rfc3339(),
                    service: e.service().unwrap_or_default().to_owned(),
                    event: e.action.clone(),
                    detail: match e.exit_code() {
                        Some(code) => format!("exit code {code}, container {}", e.id),
                        None => format!("container {}", e.id),
                    },
                })
                .collect(),
            Err(err) => vec![StackEvent {
                t: chrono::Utc::now().to_rfc3339(),
                service: String::new(),
                event: "unavailable".into(),
                detail: format!("engine events unavailable: {err:#}"),
            }],
        }
    }

    /// The container's main process killed from the host, as a crash would: `docker kill`
    /// counts as a manual stop, after which the engine restarts nothing.
    fn kill(&self, name: &str) -> anyhow::Result<u32> {
        let pid = self
            .service(name)?
            .pid
            .with_context(|| format!("{name} is not running"))?;
        // SAFETY: a plain kill(2) of the PID the engine reports for the container.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } != 0 {
            bail!(
                "cannot SIGKILL {name}'s process {pid} ({}): lab fault --runtime compose runs on the engine's host, as root",
                std::io::Error::last_os_error()
            );
        }
        Ok(pid)
    }

    /// The main process's death ends every process of the container.
    fn crash(&self, name: &str) -> anyhow::Result<u32> {
        self.kill(name)
    }

    fn stop_service(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        let id = self.container(name)?;
        self.engine()?.stop(&id, timeout.as_secs() as u32)
    }

    fn start_service(&self, name: &str, timeout: Duration) -> anyhow::Result<u32> {
        let id = self.container(name)?;
        let engine = self.engine()?;
        engine.start(&id)?;
        let deadline = Instant::now() + timeout;
        loop {
            let state = engine.inspect(&id)?;
            if let Some(pid) = state.pid.filter(|_| state.running) {
                return Ok(pid);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{name} was not running again within {} s",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// compose.yaml's `ceiling` services beside the stack; the stub upstream is their own.
    fn nginx_ceiling(
        &self,
        profile: &Profile,
        _upstream: &str,
        _dir: &Path,
    ) -> anyhow::Result<Box<dyn CappedNginx>> {
        let cli = ComposeCli::new(&self.config, profile, self.info.db)?;
        let project = project_name(&self.config, false, profile, self.info.db)?;
        let path = self.info.client_path.unwrap_or(ClientPath::Published);
        Ok(Box::new(ComposeCeiling::start(
            &cli,
            self.engine()?,
            &project,
            path,
        )?))
    }

    fn down(&mut self) -> anyhow::Result<()> {
        let path = self.state_dir.join(STACK_FILE);
        if !path.exists() {
            return Ok(());
        }
        // With the ceiling's profile, so a ceiling left by a killed run goes too (its
        // containers would keep the project's network).
        let mut args = vec!["--profile", CEILING_PROFILE, "down"];
        if self.discard_data {
            args.push("-v");
        }
        self.cli()?.run(&args)?;
        std::fs::remove_file(path)?;
        Ok(())
    }
}

/// The profile a recorded stack was started with: its file when recorded, else its name.
fn recorded_profile(info: &StackInfo) -> anyhow::Result<Profile> {
    match &info.profile_path {
        Some(path) => Profile::load(&path.display().to_string()),
        None => Profile::load(&info.profile),
    }
}

/// What `up` gives compose on top of the env files: the published port and the seed sizes
/// lab generates its URL files for (so the two cannot disagree), and the variables asked for
/// the replicas.
fn up_env(opts: &UpOptions) -> Vec<(String, String)> {
    let mut env = vec![("LAB_HTTP_PORT".to_owned(), opts.ports.http.to_string())];
    for (key, value) in [
        (contract::env::SEED_CUSTOMERS, opts.seed.customers),
        (contract::env::SEED_DISKS, opts.seed.disks),
        (contract::env::SEED_STOCK, opts.seed.stock),
    ] {
        env.push((key.to_owned(), value.to_string()));
    }
    env.extend(opts.app_env.iter().cloned());
    if opts.db == DbKind::Mysql {
        env.push((contract::env::DATABASE_URL.to_owned(), MYSQL_URL.to_owned()));
    }
    env
}

/// The compose project of the running stack: COMPOSE_PROJECT_NAME when set; inside the bench
/// container, the project label of this very container (its hostname is its ID); on the
/// host, the name `docker compose config` resolves (the folder's name unless .env says
/// otherwise).
fn project_name(
    config: &LabConfig,
    attached: bool,
    profile: &Profile,
    db: DbKind,
) -> anyhow::Result<String> {
    if let Some(name) = config.compose_project.clone().filter(|n| !n.is_empty()) {
        return Ok(name);
    }
    if attached {
        let engine = config.engine()?;
        let hostname = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .context("reading /etc/hostname")?;
        let me = engine.inspect(&hostname).with_context(|| {
            format!("looking up this container ({hostname}) to find its compose project")
        })?;
        return me
            .labels
            .get(PROJECT_LABEL)
            .cloned()
            .ok_or_else(|| anyhow!("this container ({hostname}) was not started by compose"));
    }
    let stdout = ComposeCli::new(&LabConfig::default(), profile, db)?
        .run_quietly(&["config", "--format", "json"])?;
    let config: serde_json::Value =
        serde_json::from_slice(&stdout).context("reading `docker compose config --format json`")?;
    config
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("`docker compose config` names no project"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_started_from_a_profile_file_is_stopped_with_that_file() {
        // A `lab tune` candidate lives in its results folder, not in profiles/.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c01.env");
        std::fs::write(&path, "NGINX_CPUS=0.25\n").unwrap();
        let mut info = StackInfo {
            profile: "c01".into(),
            profile_path: Some(path.clone()),
            db: DbKind::Postgres,
            base_url: String::new(),
            access_log: std::path::PathBuf::new(),
            capped: true,
            services: Vec::new(),
            runtime: RuntimeKind::Compose,
            supervisor_pid: None,
            state: StackState::Ready,
            error: None,
            events_log: None,
            warnings: Vec::new(),
            client_path: None,
            published_url: None,
        };
        let profile = recorded_profile(&info).unwrap();
        assert_eq!(
            (profile.path, profile.vars["NGINX_CPUS"].as_str()),
            (path, "0.25")
        );
        // Recorded before the path was: found by name under profiles/ as before.
        info.profile_path = None;
        assert!(
            recorded_profile(&info).is_err(),
            "there is no profiles/c01.env"
        );
    }
}
