//! A load driver's process, followed as a measurement: its stdout and stderr drained in the
//! background (a full pipe would stall it), stopped past its deadline (asked to stop first,
//! so it can still print what it measured), and reaped with `wait4`, which also returns the
//! kernel's exact accounting of its CPU (every thread included).

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::bail;

/// A driver process under way.
pub struct MeasuredChild {
    child: Child,
    started: Instant,
    deadline: Instant,
    /// The signal that asks it to stop and report (siege: SIGINT).
    stop_signal: i32,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    hung: bool,
}

/// How a driver process ended.
#[derive(Debug, Clone)]
pub struct ChildExit {
    /// Exit status (None when a signal ended it).
    pub exit_code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// The last lines of its stderr.
    pub stderr_tail: String,
    /// Wall-clock seconds from spawn to exit.
    pub wall_secs: f64,
    /// User + system CPU seconds of the process and all its threads.
    pub cpu_seconds: f64,
    /// True when it overran its deadline and was stopped.
    pub hung: bool,
}

fn drain<R: Read + Send + 'static>(mut reader: R) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl MeasuredChild {
    /// Starts `command` with piped output; past `deadline` from now it gets `stop_signal`,
    /// then SIGKILL two seconds later.
    pub fn spawn(
        mut command: Command,
        deadline: Duration,
        stop_signal: i32,
    ) -> std::io::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let started = Instant::now();
        Ok(Self {
            stdout: child.stdout.take().map(drain),
            stderr: child.stderr.take().map(drain),
            child,
            started,
            deadline: started + deadline,
            stop_signal,
            hung: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reaps the process if it has exited (or stops it past its deadline); None while it
    /// runs.
    pub fn try_finish(&mut self) -> anyhow::Result<Option<ChildExit>> {
        let pid = self.child.id() as libc::pid_t;
        if !self.hung && Instant::now() > self.deadline {
            self.hung = true;
            // SAFETY: kill(2) of our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, self.stop_signal) };
            std::thread::sleep(Duration::from_secs(2));
            let _ = self.child.kill();
        }
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data that wait4 fills.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // wait4 (not Child::wait) because it also returns the child's CPU accounting.
        // SAFETY: waiting for our own child with valid pointers.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == 0 {
            return Ok(None);
        }
        if reaped < 0 {
            bail!(
                "waiting for process {pid} failed: {}",
                std::io::Error::last_os_error()
            );
        }
        let joined = |handle: Option<JoinHandle<String>>| {
            handle.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        let stdout = joined(self.stdout.take());
        let stderr = joined(self.stderr.take());
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        Ok(Some(ChildExit {
            exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
            stdout,
            stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            wall_secs: self.started.elapsed().as_secs_f64(),
            cpu_seconds: timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime),
            hung: self.hung,
        }))
    }
}

fn timeval_secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// Raises the soft descriptor limit to the hard one (a load opens a socket per user or
/// connection); returns the limit now.
pub fn raise_fd_limit() -> anyhow::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            anyhow::bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            anyhow::bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}
