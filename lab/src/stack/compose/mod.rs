//! The compose runtime: the same stack through `docker compose` and the profile's env file.
//!
//! Two situations: on a host with docker, `up` runs `docker compose --env-file profiles/<p>.env
//! up -d --build --wait` (and `down` stops it); inside compose's own `bench` container
//! (LAB_BASE_URL set), `up` attaches to the stack that is already running.
//!
//! Either way each service is then found as a container through the Docker Engine API (by its
//! compose project and service labels), with the caps the engine really applied, so the
//! sampler can read its CPU, throttling and memory like a native cgroup. Without the engine's
//! socket the run still works, with every service unmeasured and a loud warning.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::process;
use super::{load_info, save_info, Runtime, ServiceInfo, StackInfo, UpOptions, STACK_FILE};
use crate::config::LabConfig;
use crate::docker::{ContainerSummary, Engine};
use crate::profile::{repo_root, Profile};
use contract::{DbKind, RuntimeKind, StackState};

/// Runs the stack with docker compose.
pub struct ComposeRuntime {
    pub config: LabConfig,
}

const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Compose's labels on every container it creates.
const PROJECT_LABEL: &str = "com.docker.compose.project";

impl ComposeRuntime {
    /// Inside the bench container: the stack's nginx URL (compose.yaml sets it).
    fn attached_url(&self) -> Option<String> {
        self.config.base_url.clone().filter(|u| !u.is_empty())
    }
}

impl Runtime for ComposeRuntime {
    fn up(&self, opts: &UpOptions) -> anyhow::Result<StackInfo> {
        std::fs::create_dir_all(&opts.state_dir)?;
        let config = &self.config;
        let attached = self.attached_url();
        let mut db = opts.db;
        let (base_url, access_log) = match &attached {
            Some(url) => (url.clone(), config.container_access_log()),
            None => {
                let compose = compose_command()?;
                start(&compose, opts, &compose_env(config, opts))?;
                let port = opts.ports.http;
                let log_dir = config
                    .log_dir
                    .clone()
                    .unwrap_or_else(|| repo_root().join(".lab/compose-logs"));
                (
                    format!("http://127.0.0.1:{port}"),
                    log_dir.join("access.json"),
                )
            }
        };
        wait_for_nginx(&base_url)?;
        let mut warnings = Vec::new();
        let project = match project_name(config, attached.is_some(), &opts.profile, opts.db) {
            Ok(project) => Some(project),
            Err(err) => {
                warnings.push(unmeasured_warning(&err));
                None
            }
        };
        if attached.is_some() {
            if let Some(found) = project
                .as_deref()
                .and_then(|p| running_db(config, p).ok().flatten())
            {
                db = found;
            }
        }
        let services = services(config, &opts.profile, db, project.as_deref(), &mut warnings)?;
        for warning in &warnings {
            eprintln!("lab: WARNING: {warning}");
        }
        let info = StackInfo {
            profile: opts.profile.name.clone(),
            profile_path: Some(opts.profile.path.clone()),
            db,
            base_url,
            access_log,
            capped: true,
            services,
            runtime: RuntimeKind::Compose,
            supervisor_pid: None,
            state: StackState::Ready,
            error: None,
            events_log: None,
            warnings,
        };
        save_info(&opts.state_dir, &info)?;
        Ok(info)
    }

    /// The stack as recorded, with its containers looked up again: a container that compose
    /// recreated has a new ID, a restarted one a new restart count.
    fn status(&self, state_dir: &Path) -> anyhow::Result<StackInfo> {
        let mut info = load_info(state_dir)?
            .ok_or_else(|| anyhow!("no compose stack recorded in {}", state_dir.display()))?;
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
        Ok(info)
    }

    fn down(&self, state_dir: &Path) -> anyhow::Result<()> {
        let Some(info) = load_info(state_dir)? else {
            return Ok(());
        };
        if self.attached_url().is_none() {
            let compose = compose_command()?;
            let profile = recorded_profile(&info)?;
            let env = project_env(&self.config);
            // With the ceiling's profile, so a ceiling left by a killed run goes too (its
            // containers would keep the project's network).
            let down = ["--profile", CEILING_PROFILE, "down"];
            run(&compose, &compose_args(&profile, info.db, &down), &env)?;
        }
        std::fs::remove_file(state_dir.join(STACK_FILE))?;
        Ok(())
    }
}

impl ComposeRuntime {
    /// `down -v`: the stack and its volumes (a fault stack's database leaves nothing).
    pub fn down_with_volumes(&self, state_dir: &Path) -> anyhow::Result<()> {
        let Some(info) = load_info(state_dir)? else {
            return Ok(());
        };
        let compose = compose_command()?;
        let profile = recorded_profile(&info)?;
        let env = project_env(&self.config);
        run(
            &compose,
            &compose_args(
                &profile,
                info.db,
                &["--profile", CEILING_PROFILE, "down", "-v"],
            ),
            &env,
        )?;
        std::fs::remove_file(state_dir.join(STACK_FILE))?;
        Ok(())
    }
}

/// The compose profile and services of nginx's capped ceiling (compose.yaml).
const CEILING_PROFILE: &str = "ceiling";
const CEILING_NGINX: &str = "nginx-ceiling";
const CEILING_UPSTREAM: &str = "ceiling-upstream";

/// nginx's capped ceiling under compose: compose.yaml's `ceiling` services, started beside the
/// running stack (the same project, network, image, nginx.conf and profile caps) on a port of
/// their own. Dropping it stops and removes both containers.
pub struct ComposeCeiling {
    compose: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    engine: Engine,
    container: String,
    /// `http://127.0.0.1:<port>`: the capped nginx, published like the stack's.
    pub base_url: String,
    /// The CPU cap the engine applied to it, in cores.
    pub cpu_limit_cores: Option<f64>,
}

impl ComposeRuntime {
    /// Starts nginx's capped ceiling beside the stack `profile` and `db` describe. Only where
    /// lab runs compose itself: inside the bench container there is no compose to ask.
    pub fn start_ceiling(&self, profile: &Profile, db: DbKind) -> anyhow::Result<ComposeCeiling> {
        if self.attached_url().is_some() {
            bail!("inside the bench container lab starts no containers: run `lab bench --runtime compose` on the host to measure it");
        }
        let compose = compose_command()?;
        let engine = self.config.engine()?;
        let project = project_name(&self.config, false, profile, db)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut env = project_env(&self.config);
        env.push(("LAB_CEILING_PORT".to_owned(), port.to_string()));
        let services = [CEILING_NGINX, CEILING_UPSTREAM];
        let mut ceiling = ComposeCeiling {
            args: compose_args(profile, db, &["--profile", CEILING_PROFILE]),
            compose,
            env,
            engine,
            container: String::new(),
            base_url: format!("http://127.0.0.1:{port}"),
            cpu_limit_cores: None,
        };
        // From here on, dropping `ceiling` removes whatever was started.
        let mut up = ceiling.args.clone();
        up.extend(["up", "-d", "--wait"].map(str::to_owned));
        up.extend(services.map(str::to_owned));
        run_quietly(&ceiling.compose, &up, &ceiling.env)?;
        let containers = ceiling.engine.compose_containers(&project)?;
        let container = pick(&containers, CEILING_NGINX)
            .ok_or_else(|| anyhow!("no {CEILING_NGINX} container in project {project}"))?;
        let state = ceiling.engine.inspect(&container.id)?;
        ceiling.container = state.id;
        ceiling.cpu_limit_cores = state.cpu_limit_cores;
        wait_for_nginx(&ceiling.base_url)?;
        Ok(ceiling)
    }
}

impl ComposeCeiling {
    /// CPU the capped nginx's container used so far.
    pub fn cpu_ns(&self) -> Option<u64> {
        self.engine
            .stats(&self.container)
            .map_err(|err| log::warn!("{CEILING_NGINX}: {err:#}"))
            .ok()
            .map(|stats| stats.cpu_usage_ns)
    }
}

impl Drop for ComposeCeiling {
    fn drop(&mut self) {
        let mut rm = self.args.clone();
        rm.extend(["rm", "--stop", "--force", CEILING_NGINX, CEILING_UPSTREAM].map(str::to_owned));
        if let Err(err) = run_quietly(&self.compose, &rm, &self.env) {
            eprintln!("lab: WARNING: nginx's capped ceiling not removed: {err:#}; `docker compose --profile ceiling down` removes it");
        }
    }
}

/// The profile a recorded stack was started with: its file when recorded, else its name.
fn recorded_profile(info: &StackInfo) -> anyhow::Result<Profile> {
    match &info.profile_path {
        Some(path) => Profile::load(&path.display().to_string()),
        None => Profile::load(&info.profile),
    }
}

/// The project (and the log folder) lab's settings name, for every compose call.
fn project_env(config: &LabConfig) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(project) = config.compose_project.as_ref().filter(|p| !p.is_empty()) {
        env.push(("COMPOSE_PROJECT_NAME".to_owned(), project.clone()));
    }
    if let Some(dir) = &config.log_dir {
        env.push(("LAB_LOG_DIR".to_owned(), dir.display().to_string()));
    }
    env
}

/// What `up` gives compose on top of the env files: the project, the published port and the
/// seed sizes lab generates its URL files for (so the two cannot disagree), and the
/// variables asked for the replicas.
fn compose_env(config: &LabConfig, opts: &UpOptions) -> Vec<(String, String)> {
    let mut env = project_env(config);
    env.push(("LAB_HTTP_PORT".to_owned(), opts.ports.http.to_string()));
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

fn unmeasured_warning(err: &anyhow::Error) -> String {
    format!(
        "containers are NOT measured (CPU, throttling, memory read as 0): {err:#}. \
         lab reads them from the Docker Engine API: run lab where the engine's socket is \
         (the bench container mounts it as /var/run/docker.sock; DOCKER_HOST=unix://... \
         names another)"
    )
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
    let compose = compose_command()?;
    let args = compose_args(profile, db, &["config", "--format", "json"]);
    let stdout = run_quietly(&compose, &args, &[])?;
    let config: serde_json::Value =
        serde_json::from_slice(&stdout).context("reading `docker compose config --format json`")?;
    config
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("`docker compose config` names no project"))
}

/// The project a recorded stack's containers belong to, read back from one of them.
fn project_of(config: &LabConfig, info: &StackInfo) -> Option<String> {
    let engine = config.engine().ok()?;
    let id = info.services.iter().find_map(|s| s.container.clone())?;
    engine.inspect(&id).ok()?.labels.get(PROJECT_LABEL).cloned()
}

/// Which database the replicas use, from app1's DATABASE_URL (the bench container cannot
/// know which compose profile started the stack).
fn running_db(config: &LabConfig, project: &str) -> anyhow::Result<Option<DbKind>> {
    let engine = config.engine()?;
    let containers = engine.compose_containers(project)?;
    let Some(app) = pick(&containers, "app1") else {
        return Ok(None);
    };
    let state = engine.inspect(&app.id)?;
    Ok(state
        .env
        .iter()
        .find_map(|e| e.strip_prefix("DATABASE_URL="))
        .and_then(DbKind::of_url))
}

/// The running container of a compose service (a stopped one when none runs).
fn pick<'a>(containers: &'a [ContainerSummary], service: &str) -> Option<&'a ContainerSummary> {
    let matching: Vec<_> = containers
        .iter()
        .filter(|c| c.service.as_deref() == Some(service))
        .collect();
    matching
        .iter()
        .find(|c| c.state == "running")
        .or_else(|| matching.first())
        .copied()
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

fn start(compose: &[String], opts: &UpOptions, env: &[(String, String)]) -> anyhow::Result<()> {
    // --wait: back once every service is healthy (the seed job has completed); --build: the
    // images follow the sources (a no-op when nothing changed).
    let up = ["up", "-d", "--build", "--wait"];
    match opts.db {
        DbKind::Sqlite => bail!(
            "the compose stack runs Postgres (default) or MySQL: use --db postgres or --db mysql"
        ),
        // With --profile mysql (compose_args), MySQL starts and the app and the seed job
        // wait for it (Postgres still starts, idle: compose cannot drop a service by
        // variable); compose_env points DATABASE_URL at it.
        DbKind::Postgres | DbKind::Mysql => {
            run(compose, &compose_args(&opts.profile, opts.db, &up), env)
        }
    }
}

/// The app's DATABASE_URL for compose's MySQL service.
pub const MYSQL_URL: &str = "mysql://lab:lab@mysql:3306/lab";

fn run(compose: &[String], args: &[String], env: &[(String, String)]) -> anyhow::Result<()> {
    let mut command = Command::new(&compose[0]);
    command.envs(env.iter().map(|(k, v)| (k, v)));
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

/// `run` with compose's output kept: its stdout is returned, its stderr shown only when the
/// command fails.
fn run_quietly(
    compose: &[String],
    args: &[String],
    env: &[(String, String)],
) -> anyhow::Result<Vec<u8>> {
    let output = Command::new(&compose[0])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(&compose[1..])
        .args(args)
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("cannot run {}", compose.join(" ")))?;
    if !output.status.success() {
        bail!(
            "`{} {}` failed ({}): {}",
            compose.join(" "),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

fn wait_for_nginx(base_url: &str) -> anyhow::Result<()> {
    let addr = base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match process::http_get(
            &addr,
            contract::routes::NGINX_HEALTH,
            Duration::from_secs(2),
        ) {
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

/// The compose service that is the stack's database.
fn db_service(db: DbKind) -> &'static str {
    match db {
        DbKind::Mysql => "mysql",
        DbKind::Postgres | DbKind::Sqlite => "postgres",
    }
}

/// The services compose runs: caps from the profile (compose.yaml's defaults where it is
/// silent), then, where the engine can be asked, each service's container and the caps the
/// engine really applied.
fn services(
    config: &LabConfig,
    profile: &Profile,
    db: DbKind,
    project: Option<&str>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Vec<ServiceInfo>> {
    let mut services = profile_caps(profile)?;
    let Some(project) = project else {
        return Ok(services);
    };
    let found = config.engine().and_then(|engine| {
        let containers = engine.compose_containers(project)?;
        Ok((engine, containers))
    });
    let (engine, containers) = match found {
        Ok(found) => found,
        Err(err) => {
            warnings.push(unmeasured_warning(&err));
            return Ok(services);
        }
    };
    for service in &mut services {
        let compose_name = if service.name == "db" {
            db_service(db)
        } else {
            service.name.as_str()
        };
        let Some(container) = pick(&containers, compose_name) else {
            warnings.push(format!(
                "{}: no container of compose service {compose_name} in project {project}: not measured",
                service.name
            ));
            continue;
        };
        match engine.inspect(&container.id) {
            Ok(state) => {
                apply_container(
                    service,
                    &state.id,
                    state.cpu_limit_cores,
                    state.memory_limit_bytes,
                    warnings,
                );
                service.restarts = state.restart_count;
                service.pid = state.pid.filter(|_| state.running);
                service.engine_socket = Some(engine.socket().to_path_buf());
            }
            Err(err) => warnings.push(format!("{}: {err:#}: not measured", service.name)),
        }
    }
    Ok(services)
}

/// Records a service's container, with the caps the engine applied; a cap that differs from
/// the profile's (a stack started under another profile) is reported and the engine's wins.
fn apply_container(
    service: &mut ServiceInfo,
    id: &str,
    cpus: Option<f64>,
    memory: Option<u64>,
    warnings: &mut Vec<String>,
) {
    let differs = (service.cpu_limit.unwrap_or(0.0) - cpus.unwrap_or(0.0)).abs() > 1e-6
        || service.memory_limit_bytes != memory;
    if differs {
        warnings.push(format!(
            "{}: the container runs with {} CPU / {} bytes, the profile says {} / {}: the stack was started under another profile; figures use the container's caps",
            service.name,
            cpus.map_or("no".into(), |c| c.to_string()),
            memory.map_or("no".into(), |m| m.to_string()),
            service.cpu_limit.map_or("no".into(), |c| c.to_string()),
            service.memory_limit_bytes.map_or("no".into(), |m| m.to_string()),
        ));
    }
    service.container = Some(id.to_owned());
    service.cpu_limit = cpus;
    service.memory_limit_bytes = memory;
}

/// The caps compose.yaml gives each service from the profile (compose starts app2 whatever
/// the replica count; with one replica nginx sends it nothing).
fn profile_caps(profile: &Profile) -> anyhow::Result<Vec<ServiceInfo>> {
    let caps = profile.caps()?;
    Ok([
        ("app1", caps.app),
        ("app2", caps.app),
        ("nginx", caps.nginx),
        ("db", caps.db),
    ]
    .into_iter()
    .map(|(name, cap)| ServiceInfo::capped(name, cap))
    .collect())
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
        let services = profile_caps(&profile).unwrap();
        assert_eq!(services[0].cpu_limit, Some(0.5));
        assert_eq!(services[2].memory_limit_bytes, Some(200 << 20));
    }

    #[test]
    fn the_engine_caps_win_over_the_profile_and_a_difference_is_reported() {
        let mut service = profile_caps(&Profile {
            name: "p".into(),
            path: "p.env".into(),
            vars: Default::default(),
        })
        .unwrap()
        .remove(0);
        let mut warnings = Vec::new();
        apply_container(
            &mut service,
            "abc",
            Some(0.3),
            Some(400 << 20),
            &mut warnings,
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(service.container.as_deref(), Some("abc"));
        apply_container(&mut service, "abc", Some(1.0), Some(1 << 30), &mut warnings);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("app1: the container runs with 1 CPU"));
        assert_eq!(service.cpu_limit, Some(1.0));
    }
}
