//! Controls of a running native stack, through its state folder alone: a hold file tells
//! the supervisor to leave a service stopped, signals go to PIDs checked against their
//! recorded start times (a stranger that reused a PID is never hit).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::stack::info::load_info;
use crate::stack::process;
use crate::stack::supervisor::{Plan, HOLD_DIR, PLAN_FILE};

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

/// `path`, made absolute against the current folder.
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}
