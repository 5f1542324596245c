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

mod database;

use self::database::database;
use crate::config::{self, LabConfig, Ports};
use crate::profile::{repo_root, Profile};
use crate::stack::cgroup::{self, Limits};
use crate::stack::nginx::{self, Placement};
use crate::stack::process::{self, CommandSpec};
use crate::stack::supervisor::{self, Plan, Probe, ServicePlan, HOLD_DIR, PLAN_FILE};
use crate::stack::{load_info, CgroupPaths, Runtime, StackInfo, UpOptions, STACK_FILE};
use contract::env;
use contract::{DbKind, StackState};

/// Runs the stack as local processes under cgroup caps.
pub struct NativeRuntime {
    pub config: LabConfig,
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
        let plan = plan(&self.config, opts, &state_dir)?;
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
        if !info.supervisor_pid.is_some_and(is_supervisor) && info.state == StackState::Ready {
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

/// SIGKILLs every process of a running service at once (its process group), as a crash
/// would; the supervisor sees the death and restarts it. Returns the main PID.
pub fn kill_service_group(state_dir: &Path, name: &str) -> anyhow::Result<u32> {
    let pid = signal_service(state_dir, name, 0)?;
    process::signal_group(pid, libc::SIGKILL);
    Ok(pid)
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
            match info.state {
                StackState::Ready => return Ok(info),
                StackState::Failed => bail!(
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

/// Decides the whole stack: directories, binaries, ports, commands and caps.
pub fn plan(config: &LabConfig, opts: &UpOptions, state_dir: &Path) -> anyhow::Result<Plan> {
    let profile = &opts.profile;
    let ports = opts.ports;
    let caps = profile.caps()?;
    let replicas = caps.replicas as u16;
    let (app_limits, db_limits, nginx_limits) = (caps.app, caps.db, caps.nginx);

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

    let app_bin = app_binary(config)?;
    let nginx_bin = find_tool(
        config.nginx_bin.as_deref(),
        "LAB_NGINX_BIN",
        "nginx",
        "nginx-light",
    )?;
    let (database_url, db_service) = database(config, opts.db, state_dir, ports, db_limits)?;

    let mut services: Vec<ServicePlan> = db_service.into_iter().collect();
    let mut replica_addrs = Vec::new();
    for n in 1..=replicas {
        let name = format!("app{n}");
        let addr = format!("127.0.0.1:{}", ports.replica_base + n);
        let mut command = CommandSpec::new(&app_bin, &[]);
        command.env = BTreeMap::from([
            (env::DATABASE_URL.into(), database_url.clone()),
            (env::APP_LISTEN.into(), addr.clone()),
            (env::INSTANCE_NAME.into(), name.clone()),
            (
                env::APP_WORKERS.into(),
                profile.value(env::APP_WORKERS).into(),
            ),
            (
                env::DB_POOL_MAX.into(),
                profile.value(env::DB_POOL_MAX).into(),
            ),
        ]);
        command.env.extend(opts.app_env.iter().cloned());
        services.push(ServicePlan {
            name,
            command,
            limits: app_limits,
            addr: Some(addr.clone()),
            init: Vec::new(),
            ready: vec![Probe::Http {
                addr: addr.clone(),
                path: contract::routes::HEALTH.into(),
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
        path: contract::routes::NGINX_HEALTH.into(),
    }];
    for n in 1..=replicas {
        ready.push(Probe::Http {
            addr: http_addr.clone(),
            path: contract::routes::on_replica(&format!("app{n}"), contract::routes::HEALTH),
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

    let seed = if config.skip_seed {
        None
    } else {
        let args = opts.seed.args(true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = CommandSpec::new(&app_bin, &args);
        command.env.insert(env::DATABASE_URL.into(), database_url);
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
        ready_timeout_secs: config.ready_timeout_secs(),
        seed_timeout_secs: config.seed_timeout_secs(),
        cgroup_root: config.cgroup_root(),
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
fn app_binary(config: &LabConfig) -> anyhow::Result<PathBuf> {
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
