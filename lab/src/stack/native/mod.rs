//! The native runtime: the stack as local processes (the release `app` binary twice, the
//! system's nginx with the repository's nginx.conf, and SQLite or a private Postgres/MariaDB
//! server started from the installed binaries), each in its own cgroup with the profile's caps.
//!
//! `up` decides everything (binaries, ports, commands, caps) into `plan.json`, then starts a
//! detached supervisor (`lab __supervise`) that runs the plan and keeps it running; `up`
//! returns once the supervisor reports the stack ready. `down` asks the supervisor to stop and
//! then makes sure, from `stack.json` alone, that no process and no cgroup is left.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};

mod control;
mod database;
mod plan;
mod tools;

use self::control::absolute;
use self::plan::plan;
use crate::config::LabConfig;
use crate::profile::Profile;
use crate::stack::ceiling::{CappedNginx, CgroupNginx};
use crate::stack::cgroup;
use crate::stack::handle::{Handle, Runtime, Stack, StackEvent};
use crate::stack::info::{load_info, CgroupPaths, StackInfo, UpOptions, STACK_FILE};
use crate::stack::process;
use crate::stack::supervisor::{self, PLAN_FILE};
use contract::StackState;

/// Runs the stack as local processes under cgroup caps.
pub struct NativeRuntime {
    pub config: LabConfig,
}

impl Runtime for NativeRuntime {
    fn up(&self, opts: &UpOptions) -> anyhow::Result<Stack> {
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
            stop(&state_dir)?;
        }
        let plan = plan(&self.config, opts, &state_dir)?;
        fs::write(state_dir.join(PLAN_FILE), serde_json::to_vec_pretty(&plan)?)?;
        let timeout = Duration::from_secs(
            plan.ready_timeout_secs * (plan.services.len() as u64 + 1) + plan.seed_timeout_secs,
        );
        start_supervisor(&state_dir)?;
        // From here on, a failed start-up leaves nothing behind: the handle stops it.
        let mut stack = NativeStack {
            config: self.config.clone(),
            state_dir: state_dir.clone(),
            info: StackInfo::starting(opts, contract::RuntimeKind::Native),
        };
        match wait_until_ready(&state_dir, &plan.logs_dir, timeout) {
            Ok(info) => {
                stack.info = info;
                Ok(Stack::owned(Box::new(stack)))
            }
            Err(err) => {
                if let Err(stop_err) = stack.down() {
                    eprintln!("lab: warning: cleaning up after a failed start: {stop_err:#}");
                }
                Err(err)
            }
        }
    }

    fn open(&self, info: StackInfo, state_dir: &Path) -> Box<dyn Handle> {
        Box::new(NativeStack {
            config: self.config.clone(),
            state_dir: absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf()),
            info,
        })
    }
}

/// The stack recorded at `state_dir` as it runs now (dead services without a PID).
pub fn status(state_dir: &Path) -> anyhow::Result<StackInfo> {
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

/// Stops exactly what `stack.json` at `state_dir` names and removes its cgroups.
pub fn stop(state_dir: &Path) -> anyhow::Result<()> {
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

/// A native stack lab started (or found at its state folder): the supervisor's files are its
/// record, signals and hold files its controls.
pub struct NativeStack {
    config: LabConfig,
    state_dir: PathBuf,
    info: StackInfo,
}

impl Handle for NativeStack {
    fn info(&self) -> &StackInfo {
        &self.info
    }

    fn status(&self) -> anyhow::Result<StackInfo> {
        status(&self.state_dir)
    }

    /// The supervisor's `events.jsonl` lines written since `since`.
    fn events(&self, since: SystemTime) -> Vec<StackEvent> {
        let since: DateTime<Utc> = since.into();
        fs::read_to_string(self.state_dir.join("events.jsonl"))
            .map(|text| {
                text.lines()
                    .filter_map(|line| serde_json::from_str::<StackEvent>(line).ok())
                    .filter(|e| DateTime::parse_from_rfc3339(&e.t).is_ok_and(|t| t >= since))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn kill(&self, service: &str) -> anyhow::Result<u32> {
        control::signal_service(&self.state_dir, service, libc::SIGKILL)
    }

    fn crash(&self, service: &str) -> anyhow::Result<u32> {
        control::kill_service_group(&self.state_dir, service)
    }

    fn stop_service(&self, service: &str, timeout: Duration) -> anyhow::Result<()> {
        control::stop_service(&self.state_dir, service, timeout)
    }

    fn start_service(&self, service: &str, timeout: Duration) -> anyhow::Result<u32> {
        control::start_service(&self.state_dir, service, timeout)
    }

    fn nginx_ceiling(
        &self,
        profile: &Profile,
        upstream: &str,
        dir: &Path,
    ) -> anyhow::Result<Box<dyn CappedNginx>> {
        Ok(Box::new(CgroupNginx::start(
            &self.config,
            profile,
            upstream,
            dir,
        )?))
    }

    fn down(&mut self) -> anyhow::Result<()> {
        stop(&self.state_dir)
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
