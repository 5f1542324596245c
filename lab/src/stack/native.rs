//! The native runtime: the stack as local processes (the release `app` binary twice, the
//! system's nginx with the repository's nginx.conf, and SQLite or a private Postgres/MariaDB
//! server started from the installed binaries), each in its own cgroup with the profile's caps.
//!
//! `up` decides everything (binaries, ports, commands, caps) into `plan.json`, then starts a
//! detached supervisor (`lab __supervise`) that runs the plan and keeps it running; `up`
//! returns once the supervisor reports the stack ready. `down` asks the supervisor to stop and
//! then makes sure, from `stack.json` alone, that no process and no cgroup is left.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::cgroup::{self, Limits};
use super::nginx::{self, Placement};
use super::process::{self, CommandSpec};
use super::supervisor::{self, Plan, Probe, ServicePlan, HOLD_DIR, PLAN_FILE};
use super::units::{parse_cpus, parse_memory};
use super::{load_info, CgroupPaths, Runtime, StackInfo, UpOptions, STACK_FILE};
use crate::cli::DbKind;
use crate::profile::{repo_root, Profile};

/// Runs the stack as local processes under cgroup caps.
pub struct NativeRuntime;

/// Seed sizes when neither the environment nor the profile sets them (BRIEF's contract).
const SEED_DEFAULTS: [(&str, &str); 3] = [
    ("SEED_CUSTOMERS", "1000"),
    ("SEED_DISKS", "10000"),
    ("SEED_STOCK", "1000000"),
];

/// Ports of the native stack; every one can be moved by an environment variable so several
/// stacks (parallel tests) can run side by side.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// nginx: `LAB_HTTP_PORT`, default 8080.
    pub http: u16,
    /// Replica N listens on base + N: `LAB_PORT_BASE`, default 18080 (app1 = 18081).
    pub replica_base: u16,
    /// Private Postgres: `LAB_PG_PORT`, default 15432.
    pub postgres: u16,
    /// Private MariaDB: `LAB_MYSQL_PORT`, default 13306.
    pub mysql: u16,
}

impl Ports {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            http: env_number("LAB_HTTP_PORT", 8080)?,
            replica_base: env_number("LAB_PORT_BASE", 18080)?,
            postgres: env_number("LAB_PG_PORT", 15432)?,
            mysql: env_number("LAB_MYSQL_PORT", 13306)?,
        })
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => raw
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name}={raw:?} is not a valid number")),
        _ => Ok(default),
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
}

impl Runtime for NativeRuntime {
    fn up(&self, opts: &UpOptions) -> anyhow::Result<StackInfo> {
        let state_dir = absolute(&opts.state_dir)?;
        if let Some(info) = load_info(&state_dir)? {
            if info.supervisor_pid.is_some_and(is_supervisor) {
                bail!(
                    "a stack is already running from {} (profile {}); run `lab down` first",
                    state_dir.display(),
                    info.profile
                );
            }
            // A previous run that did not stop cleanly: clear what it left first.
            self.down(&state_dir)?;
        }
        let plan = plan(opts, &state_dir)?;
        fs::write(state_dir.join(PLAN_FILE), serde_json::to_vec_pretty(&plan)?)?;
        let timeout = Duration::from_secs(
            plan.ready_timeout_secs * (plan.services.len() as u64 + 1) + plan.seed_timeout_secs,
        );
        start_supervisor(&state_dir)?;
        wait_until_ready(&state_dir, &plan.logs_dir, timeout)
    }

    fn status(&self, state_dir: &Path) -> anyhow::Result<StackInfo> {
        let state_dir = absolute(state_dir)?;
        let mut info = load_info(&state_dir)?
            .ok_or_else(|| anyhow!("no stack is running from {}", state_dir.display()))?;
        if !info.supervisor_pid.is_some_and(is_supervisor) && info.state == "ready" {
            info.warnings
                .push("the supervisor is not running: dead services will not be restarted".into());
        }
        for service in &mut info.services {
            if !service.pid.is_some_and(process::alive) {
                service.pid = None;
            }
        }
        Ok(info)
    }

    fn down(&self, state_dir: &Path) -> anyhow::Result<()> {
        let state_dir = absolute(state_dir)?;
        let Some(info) = load_info(&state_dir)? else {
            return Ok(());
        };
        if let Some(pid) = info.supervisor_pid.filter(|&pid| is_supervisor(pid)) {
            process::signal(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(30);
            while is_supervisor(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if is_supervisor(pid) {
                process::signal(pid, libc::SIGKILL);
            }
        }
        // Whatever the supervisor did or did not do, stop and remove what stack.json names.
        let mut stack_dirs: Vec<PathBuf> = Vec::new();
        for service in &info.services {
            if let (Some(pid), Some(started)) = (service.pid, service.start_time) {
                if process::start_time(pid) == Some(started) {
                    process::signal_group(pid, libc::SIGKILL);
                }
            }
            if let Some(paths) = &service.cgroup {
                supervisor::kill_cgroup_members(paths);
                for dir in cgroup::dirs(paths) {
                    if let Some(parent) = dir.parent() {
                        stack_dirs.push(parent.to_path_buf());
                    }
                }
                cgroup::remove(paths)?;
            }
        }
        // Siblings the supervisor may have left if it died (the seed's cgroup).
        stack_dirs.sort();
        stack_dirs.dedup();
        for stack_dir in stack_dirs {
            remove_stack_cgroups(&stack_dir)?;
        }
        for file in [STACK_FILE, PLAN_FILE] {
            match fs::remove_file(state_dir.join(file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Stops one service of a running native stack on purpose (a database outage, say) and keeps
/// it stopped: a hold file tells the supervisor not to restart it, then the service's process
/// group gets its clean-stop signal (SIGKILL after `timeout`). Returns once it is gone.
pub fn stop_service(state_dir: &Path, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let state_dir = absolute(state_dir)?;
    let info = load_info(&state_dir)?
        .ok_or_else(|| anyhow!("no stack is running from {}", state_dir.display()))?;
    let plan: Plan = serde_json::from_slice(
        &fs::read(state_dir.join(PLAN_FILE))
            .with_context(|| format!("no {PLAN_FILE} in {}", state_dir.display()))?,
    )?;
    let service = info
        .services
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow!("the stack has no service {name}"))?;
    let stop_signal = plan
        .services
        .iter()
        .find(|s| s.name == name)
        .map_or(libc::SIGTERM, |s| s.stop_signal);
    let hold_dir = state_dir.join(HOLD_DIR);
    fs::create_dir_all(&hold_dir)?;
    fs::write(hold_dir.join(name), b"")?;
    let Some(pid) = service.pid.filter(|&pid| {
        service.start_time.is_some() && process::start_time(pid) == service.start_time
    }) else {
        return Ok(());
    };
    process::signal_group(pid, stop_signal);
    let deadline = Instant::now() + timeout;
    while process::alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if process::alive(pid) {
        process::signal_group(pid, libc::SIGKILL);
        while process::alive(pid) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Sends `signal` to a running service's main process (checked against its recorded start
/// time, so a stranger that reused the PID is never hit); the supervisor sees the death and
/// restarts it. Returns the PID signalled.
pub fn signal_service(state_dir: &Path, name: &str, signal: i32) -> anyhow::Result<u32> {
    let state_dir = absolute(state_dir)?;
    let info = load_info(&state_dir)?
        .ok_or_else(|| anyhow!("no stack is running from {}", state_dir.display()))?;
    let service = info
        .services
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow!("the stack has no service {name}"))?;
    match service.pid {
        Some(pid)
            if service.start_time.is_some() && process::start_time(pid) == service.start_time =>
        {
            process::signal(pid, signal);
            Ok(pid)
        }
        _ => bail!("{name} is not running"),
    }
}

/// Lets the supervisor start a service stopped by [`stop_service`] again and waits until
/// `stack.json` shows it running under a new PID (its readiness is the caller's business).
/// Returns the new PID.
pub fn start_service(state_dir: &Path, name: &str, timeout: Duration) -> anyhow::Result<u32> {
    let state_dir = absolute(state_dir)?;
    let before = load_info(&state_dir)?
        .and_then(|info| info.services.into_iter().find(|s| s.name == name))
        .and_then(|s| s.pid);
    match fs::remove_file(state_dir.join(HOLD_DIR).join(name)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let deadline = Instant::now() + timeout;
    loop {
        let now = load_info(&state_dir)?
            .and_then(|info| info.services.into_iter().find(|s| s.name == name))
            .and_then(|s| s.pid);
        if let Some(pid) = now.filter(|&pid| Some(pid) != before && process::alive(pid)) {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            bail!(
                "{name} was not started again within {} s",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn remove_stack_cgroups(stack_dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = fs::read_dir(stack_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.path().is_dir() {
            let paths = CgroupPaths::V2 { dir: entry.path() };
            supervisor::kill_cgroup_members(&paths);
            cgroup::remove(&paths)?;
        }
    }
    let _ = fs::remove_dir(stack_dir);
    Ok(())
}

/// Whether `pid` is a `lab __supervise` process (not a stranger that reused the PID).
fn is_supervisor(pid: u32) -> bool {
    process::alive(pid)
        && fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).any(|arg| arg == b"__supervise"))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}

/// Starts `lab __supervise` in its own session, detached from the terminal and from our
/// stdout/stderr (a caller waiting for our output must not wait for the supervisor too).
fn start_supervisor(state_dir: &Path) -> anyhow::Result<()> {
    let log_path = state_dir.join("logs").join("supervisor.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let exe = std::env::current_exe().context("cannot find the lab executable")?;
    let mut command = Command::new(exe);
    command
        .arg("__supervise")
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().context("cannot start the supervisor")?;
    Ok(())
}

fn wait_until_ready(
    state_dir: &Path,
    logs_dir: &Path,
    timeout: Duration,
) -> anyhow::Result<StackInfo> {
    let deadline = Instant::now() + timeout;
    let supervisor_log = logs_dir.join("supervisor.log");
    loop {
        if let Some(info) = load_info(state_dir)? {
            match info.state.as_str() {
                "ready" => return Ok(info),
                "failed" => bail!(
                    "the stack did not start: {}",
                    info.error.unwrap_or_else(|| "unknown error".into())
                ),
                _ => {}
            }
            if info.supervisor_pid.is_some_and(|pid| !process::alive(pid)) {
                bail!(
                    "the supervisor died during start-up; {} ends with:\n{}",
                    supervisor_log.display(),
                    supervisor::tail(&supervisor_log, 20)
                );
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "the stack was not ready within {} s; see {}",
                timeout.as_secs(),
                supervisor_log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The profile's value for `key`, or `default`.
fn value<'a>(profile: &'a Profile, key: &str, default: &'a str) -> &'a str {
    profile.get(key).unwrap_or(default)
}

fn limits(
    profile: &Profile,
    cpus_key: &str,
    memory_key: &str,
    cpus: &str,
    memory: &str,
) -> anyhow::Result<Limits> {
    let context = |key: &str| format!("profile {}: {key}", profile.name);
    Ok(Limits {
        cpus: parse_cpus(value(profile, cpus_key, cpus)).with_context(|| context(cpus_key))?,
        memory_bytes: parse_memory(value(profile, memory_key, memory))
            .with_context(|| context(memory_key))?,
    })
}

/// Decides the whole stack: directories, binaries, ports, commands and caps.
pub fn plan(opts: &UpOptions, state_dir: &Path) -> anyhow::Result<Plan> {
    let profile = &opts.profile;
    let ports = Ports::from_env()?;
    let replicas: u16 = value(profile, "APP_REPLICAS", "2")
        .parse()
        .ok()
        .filter(|n| (1..=2).contains(n))
        .ok_or_else(|| anyhow!("profile {}: APP_REPLICAS must be 1 or 2", profile.name))?;
    let app_limits = limits(profile, "APP_CPUS", "APP_MEMORY", "0.3", "400M")?;
    let db_limits = limits(profile, "DB_CPUS", "DB_MEMORY", "0.3", "1G")?;
    let nginx_limits = limits(profile, "NGINX_CPUS", "NGINX_MEMORY", "0.1", "200M")?;

    let logs_dir = state_dir.join("logs");
    let nginx_dir = state_dir.join("nginx");
    let run_dir = nginx_dir.join("run");
    for dir in [state_dir, &logs_dir, &nginx_dir, &run_dir] {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Unprivileged children (nginx workers, the database user) must reach their files.
    fs::set_permissions(state_dir, fs::Permissions::from_mode(0o755))?;
    for stale in ["events.jsonl", STACK_FILE] {
        let _ = fs::remove_file(state_dir.join(stale));
    }
    let _ = fs::remove_dir_all(state_dir.join(HOLD_DIR));

    let app_bin = app_binary()?;
    let nginx_bin = find_tool("LAB_NGINX_BIN", "nginx", "nginx-light")?;
    let (database_url, db_service) = database(opts.db, state_dir, ports, db_limits)?;

    let mut services: Vec<ServicePlan> = db_service.into_iter().collect();
    let mut replica_addrs = Vec::new();
    for n in 1..=replicas {
        let name = format!("app{n}");
        let addr = format!("127.0.0.1:{}", ports.replica_base + n);
        let mut command = CommandSpec::new(&app_bin, &[]);
        command.env = BTreeMap::from([
            ("DATABASE_URL".into(), database_url.clone()),
            ("APP_LISTEN".into(), addr.clone()),
            ("INSTANCE_NAME".into(), name.clone()),
            (
                "APP_WORKERS".into(),
                value(profile, "APP_WORKERS", "2").into(),
            ),
            (
                "DB_POOL_MAX".into(),
                value(profile, "DB_POOL_MAX", "10").into(),
            ),
        ]);
        services.push(ServicePlan {
            name,
            command,
            limits: app_limits,
            addr: Some(addr.clone()),
            init: Vec::new(),
            ready: vec![Probe::Http {
                addr: addr.clone(),
                path: "/health".into(),
            }],
            after_ready: Vec::new(),
            stop_signal: libc::SIGTERM,
            is_db: false,
        });
        replica_addrs.push(addr);
    }

    let http_addr = format!("127.0.0.1:{}", ports.http);
    let access_log = logs_dir.join("access.json");
    let placement = Placement {
        listen: http_addr.clone(),
        app1_addr: replica_addrs[0].clone(),
        app2_addr: replica_addrs.last().cloned().unwrap_or_default(),
        run_dir: run_dir.display().to_string(),
        log_dir: logs_dir.display().to_string(),
        error_log: logs_dir.join("nginx-error.log").display().to_string(),
    };
    let conf_path = render_nginx_conf(profile, &placement, &nginx_dir, &nginx_bin)?;
    let mut ready = vec![Probe::Http {
        addr: http_addr.clone(),
        path: "/nginx-health".into(),
    }];
    for n in 1..=replicas {
        ready.push(Probe::Http {
            addr: http_addr.clone(),
            path: format!("/replicas/app{n}/health"),
        });
    }
    let conf = conf_path.display().to_string();
    let error_log = placement.error_log.clone();
    services.push(ServicePlan {
        name: "nginx".into(),
        command: CommandSpec::new(
            &nginx_bin,
            &["-c", &conf, "-e", &error_log, "-g", "daemon off;"],
        ),
        limits: nginx_limits,
        addr: Some(http_addr.clone()),
        init: Vec::new(),
        ready,
        after_ready: Vec::new(),
        stop_signal: libc::SIGTERM,
        is_db: false,
    });

    let seed = if env_flag("LAB_SKIP_SEED") {
        None
    } else {
        let sizes: Vec<String> = SEED_DEFAULTS
            .iter()
            .map(|(key, default)| {
                profile
                    .setting(key)
                    .unwrap_or_else(|| (*default).to_owned())
            })
            .collect();
        let mut command = CommandSpec::new(
            &app_bin,
            &[
                "seed",
                "--customers",
                &sizes[0],
                "--disks",
                &sizes[1],
                "--stock",
                &sizes[2],
                "--reset",
            ],
        );
        command.env.insert("DATABASE_URL".into(), database_url);
        Some(command)
    };

    Ok(Plan {
        stack_id: format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3f"),
            std::process::id()
        ),
        profile: profile.name.clone(),
        db: opts.db,
        base_url: format!("http://{http_addr}"),
        access_log,
        logs_dir,
        services,
        seed,
        seed_limits: app_limits,
        ready_timeout_secs: env_number("LAB_READY_TIMEOUT_SECS", 60)?,
        seed_timeout_secs: env_number("LAB_SEED_TIMEOUT_SECS", 600)?,
    })
}

/// Renders nginx.conf into the state dir and has nginx check it, so a bad profile fails here
/// with nginx's own message instead of in the supervisor's log.
fn render_nginx_conf(
    profile: &Profile,
    placement: &Placement,
    nginx_dir: &Path,
    nginx_bin: &Path,
) -> anyhow::Result<PathBuf> {
    let template_path = repo_root().join("nginx.conf");
    let template = fs::read_to_string(&template_path)
        .with_context(|| format!("cannot read {}", template_path.display()))?;
    let vars = nginx::variables(profile, placement)?;
    let conf_path = nginx_dir.join("nginx.conf");
    fs::write(&conf_path, nginx::render(&template, &vars)?)?;
    let output = Command::new(nginx_bin)
        .args(["-t", "-q", "-c"])
        .arg(&conf_path)
        .arg("-e")
        .arg(&placement.error_log)
        .output()
        .context("cannot run nginx -t")?;
    if !output.status.success() {
        bail!(
            "nginx rejects the rendered {}:\n{}",
            conf_path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(conf_path)
}

/// The database URL the app gets and, for Postgres/MySQL, the private server to run.
fn database(
    kind: DbKind,
    state_dir: &Path,
    ports: Ports,
    limits: Limits,
) -> anyhow::Result<(String, Option<ServicePlan>)> {
    let db_dir = state_dir.join("db");
    match kind {
        DbKind::Sqlite => {
            let data = state_dir.join("data");
            fs::create_dir_all(&data)?;
            let url = format!("sqlite://{}?mode=rwc", data.join("lab.db").display());
            Ok((url, None))
        }
        DbKind::Postgres => {
            let bin = postgres_bin_dir()?;
            let data = db_dir.join("pgdata");
            let fresh = !data.join("PG_VERSION").exists();
            prepare_db_dir(&db_dir, "postgres")?;
            let port = ports.postgres.to_string();
            let (d, s) = (data.display().to_string(), db_dir.display().to_string());
            let as_postgres = |mut spec: CommandSpec| {
                spec.user = Some("postgres".into());
                spec
            };
            let init = if fresh {
                vec![as_postgres(CommandSpec::new(
                    bin.join("initdb"),
                    &[
                        "-D",
                        &d,
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--no-instructions",
                    ],
                ))]
            } else {
                Vec::new()
            };
            let server = as_postgres(CommandSpec::new(
                bin.join("postgres"),
                &[
                    "-D",
                    &d,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-k",
                    &s,
                    "-c",
                    "max_connections=500",
                ],
            ));
            let ready = vec![Probe::Command {
                command: CommandSpec::new(
                    bin.join("pg_isready"),
                    &["-q", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"],
                ),
            }];
            let create = CommandSpec::new(
                bin.join("psql"),
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    "CREATE DATABASE lab",
                ],
            );
            let url = format!("postgres://postgres@127.0.0.1:{port}/lab");
            Ok((
                url,
                Some(db_service(
                    server,
                    limits,
                    &port,
                    init,
                    ready,
                    if fresh { vec![create] } else { vec![] },
                    libc::SIGINT,
                )),
            ))
        }
        DbKind::Mysql => {
            let server_bin = find_tool("LAB_MARIADBD_BIN", "mariadbd", "mariadb-server")?;
            let install = find_tool(
                "LAB_MARIADB_INSTALL_DB_BIN",
                "mariadb-install-db",
                "mariadb-server",
            )?;
            let admin = find_tool("LAB_MARIADB_ADMIN_BIN", "mariadb-admin", "mariadb-client")?;
            let client = find_tool("LAB_MARIADB_BIN", "mariadb", "mariadb-client")?;
            let data = db_dir.join("mysql");
            let fresh = !data.join("mysql").exists();
            prepare_db_dir(&db_dir, "mysql")?;
            let port = ports.mysql.to_string();
            let d = format!("--datadir={}", data.display());
            let socket = format!("--socket={}", db_dir.join("mysqld.sock").display());
            let pid_file = format!("--pid-file={}", db_dir.join("mysqld.pid").display());
            let root = process::running_as_root();
            let mut install_args = vec![
                "--no-defaults",
                d.as_str(),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ];
            let mut server_args = vec![
                "--no-defaults",
                d.as_str(),
                "--bind-address=127.0.0.1",
                socket.as_str(),
                pid_file.as_str(),
                "--max-connections=500",
                "--skip-name-resolve",
            ];
            let port_arg = format!("--port={port}");
            server_args.push(&port_arg);
            if root {
                // mariadbd drops to this user itself and refuses to run as root.
                install_args.push("--user=mysql");
                server_args.push("--user=mysql");
            }
            let init = if fresh {
                vec![CommandSpec::new(&install, &install_args)]
            } else {
                Vec::new()
            };
            let ready = vec![Probe::Command {
                command: CommandSpec::new(
                    &admin,
                    &[
                        "--no-defaults",
                        "-h",
                        "127.0.0.1",
                        "-P",
                        &port,
                        "-u",
                        "root",
                        "ping",
                    ],
                ),
            }];
            let create = CommandSpec::new(
                &client,
                &[
                    "--no-defaults",
                    "-h",
                    "127.0.0.1",
                    "-P",
                    &port,
                    "-u",
                    "root",
                    "-e",
                    "CREATE DATABASE IF NOT EXISTS lab",
                ],
            );
            let url = format!("mysql://root@127.0.0.1:{port}/lab");
            Ok((
                url,
                Some(db_service(
                    CommandSpec::new(&server_bin, &server_args),
                    limits,
                    &port,
                    init,
                    ready,
                    vec![create],
                    libc::SIGTERM,
                )),
            ))
        }
    }
}

fn db_service(
    command: CommandSpec,
    limits: Limits,
    port: &str,
    init: Vec<CommandSpec>,
    ready: Vec<Probe>,
    after_ready: Vec<CommandSpec>,
    stop_signal: i32,
) -> ServicePlan {
    ServicePlan {
        name: "db".into(),
        command,
        limits,
        addr: Some(format!("127.0.0.1:{port}")),
        init,
        ready,
        after_ready,
        stop_signal,
        is_db: true,
    }
}

/// The database's folder, owned by the server's user when we run as root.
fn prepare_db_dir(dir: &Path, user: &str) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    if process::running_as_root() {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:"))
            .arg(dir)
            .status()
            .context("cannot run chown")?;
        if !status.success() {
            bail!("cannot give {} to user {user}", dir.display());
        }
    }
    Ok(())
}

/// The Postgres server binaries: `LAB_PG_BIN_DIR`, else the newest /usr/lib/postgresql/*/bin.
fn postgres_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LAB_PG_BIN_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file())
                .then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!("Postgres server binaries not found: install the Debian package postgresql (apt-get install postgresql) or set LAB_PG_BIN_DIR")
    })
}

/// A tool from `env_var`, else from PATH (plus the sbin folders, often missing for non-root).
pub fn find_tool(env_var: &str, name: &str, package: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("{env_var}={} does not exist", path.display());
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
fn app_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("LAB_APP_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("LAB_APP_BIN={} does not exist", path.display());
        }
        return Ok(path);
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

    #[test]
    fn ports_move_with_the_environment_and_reject_garbage() {
        assert_eq!(
            env_number::<u16>("LAB_TEST_UNSET_PORT", 8080).unwrap(),
            8080
        );
        std::env::set_var("LAB_TEST_BAD_PORT", "eighty");
        assert!(env_number::<u16>("LAB_TEST_BAD_PORT", 8080).is_err());
    }
}
