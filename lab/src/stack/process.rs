//! Starting processes straight into their cgroup (before `exec`, so not one instruction runs
//! uncapped), optionally as an unprivileged user, in their own process group; signalling whole
//! groups; and the small blocking HTTP probe the runtime uses for readiness.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};

use super::cgroup;
use super::info::CgroupPaths;

/// A command line with its environment and the user to run it as.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Run as this user (dropping root) when `lab` runs as root.
    #[serde(default)]
    pub user: Option<String>,
}

impl CommandSpec {
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: BTreeMap::new(),
            user: None,
        }
    }

    pub fn display(&self) -> String {
        let mut text = self.program.display().to_string();
        for arg in &self.args {
            text.push(' ');
            text.push_str(arg);
        }
        text
    }
}

/// A user's uid and gid, looked up before forking (getpwnam is not async-signal-safe).
#[derive(Debug, Clone, Copy)]
struct Ids {
    uid: libc::uid_t,
    gid: libc::gid_t,
}

fn lookup_user(name: &str) -> anyhow::Result<Ids> {
    let c_name = std::ffi::CString::new(name)?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy the two ids out
    // immediately and never keep the pointer.
    let entry = unsafe { libc::getpwnam(c_name.as_ptr()) };
    if entry.is_null() {
        bail!("user {name:?} does not exist on this machine");
    }
    // SAFETY: non-null pointer returned by getpwnam, read before any other libc call.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Ids { uid, gid })
}

pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Starts `spec` in its own process group, inside `cgroup` when given, with stdout and stderr
/// appended to `log`.
pub fn spawn(
    spec: &CommandSpec,
    cgroup: Option<&CgroupPaths>,
    log: &Path,
) -> anyhow::Result<Child> {
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open log {}", log.display()))?;
    let procs: Vec<File> = match cgroup {
        Some(paths) => cgroup::procs_files(paths)
            .iter()
            .map(|p| {
                OpenOptions::new()
                    .write(true)
                    .open(p)
                    .with_context(|| format!("cannot open {}", p.display()))
            })
            .collect::<anyhow::Result<_>>()?,
        None => Vec::new(),
    };
    let ids = match (&spec.user, running_as_root()) {
        (Some(user), true) => Some(lookup_user(user)?),
        _ => None,
    };
    let procs_fds: Vec<i32> = procs.iter().map(AsRawFd::as_raw_fd).collect();

    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (getpid, write, setgroups, setgid, setuid) on data
    // prepared before the fork; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let mut digits = [0u8; 20];
            let pid_text = format_pid(libc::getpid() as u32, &mut digits);
            for &fd in &procs_fds {
                if libc::write(fd, pid_text.as_ptr().cast(), pid_text.len()) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some(ids) = ids {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(ids.gid) != 0
                    || libc::setuid(ids.uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", spec.display()))?;
    drop(procs);
    Ok(child)
}

/// Writes `pid` in decimal into `buf` without allocating; returns the digits.
fn format_pid(mut pid: u32, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (pid % 10) as u8;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    &buf[start..]
}

/// Runs a one-shot command (initdb, seed...) to completion within `timeout`, in `cgroup`.
pub fn run_to_completion(
    spec: &CommandSpec,
    cgroup: Option<&CgroupPaths>,
    log: &Path,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut child = spawn(spec, cgroup, log)?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!(
                "`{}` failed ({status}); see {}",
                spec.display(),
                log.display()
            );
        }
        if Instant::now() >= deadline {
            signal_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
            bail!(
                "`{}` did not finish within {} s; see {}",
                spec.display(),
                timeout.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `signal` to the process group led by `pid` (every service leads its own group).
pub fn signal_group(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions; a stale group only yields ESRCH.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}

/// Sends `signal` to one process.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: as above.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Whether a process with this PID exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The kernel's start time of a process (clock ticks since boot): with the PID it identifies
/// a process even after PIDs wrap around.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // Fields after the command: state is field 3; starttime is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `GET path` on `addr` with `Connection: close`, bounded by `timeout`: the status code.
pub fn http_get(addr: &str, path: &str, timeout: Duration) -> anyhow::Result<u16> {
    let socket: SocketAddr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("{addr} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head)?;
    let text = String::from_utf8_lossy(&head[..read]);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{addr}{path}: not an HTTP answer"))
}

/// How long a just-started nginx (a compose stack's, or its ceiling's) may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// Waits until nginx at `base_url` answers its own health route, at most `READY_TIMEOUT`.
pub fn wait_for_nginx(base_url: &str) -> anyhow::Result<()> {
    let addr = base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match http_get(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_format_without_allocating() {
        let mut buf = [0u8; 20];
        assert_eq!(format_pid(0, &mut buf), b"0");
        assert_eq!(format_pid(4_194_304, &mut buf), b"4194304");
    }

    #[test]
    fn our_own_process_is_alive_with_a_start_time() {
        let pid = std::process::id();
        assert!(alive(pid));
        assert!(start_time(pid).is_some());
    }
}
