//! Runs siege and reads its summary. siege 4.0.7 prints its JSON summary on stdout (with `-j`
//! or `json_output`), sometimes after notices such as "New configuration template added", so
//! the parser looks for the object rather than trusting the whole stream. siege's own CPU is
//! taken from the kernel's accounting of the reaped child (all its threads), exactly.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::config::LabConfig;
use crate::results::SiegeSummary;

/// `siege -V`'s version line, e.g. `SIEGE 4.0.7`.
pub fn version(config: &LabConfig) -> Option<String> {
    let output = Command::new(config.siege_bin()).arg("-V").output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find(|l| l.starts_with("SIEGE "))
        .map(|l| l.trim().to_owned())
}

/// siege must be there before anything starts.
pub fn require(config: &LabConfig) -> anyhow::Result<()> {
    if version(config).is_none() {
        bail!(
            "siege not found (`{}`): install Debian's `siege` package (apt-get install siege) or set LAB_SIEGE_BIN",
            config.siege_bin().display()
        );
    }
    Ok(())
}

/// One siege invocation.
#[derive(Debug, Clone)]
pub struct SiegeCommand {
    /// The siege binary.
    pub bin: PathBuf,
    /// siegerc passed with `-R`.
    pub rc: PathBuf,
    /// URL file passed with `-f`.
    pub urls: PathBuf,
    /// Concurrent users (`-c`).
    pub users: u32,
    /// Seconds to run (`-t NS`).
    pub secs: u64,
}

impl SiegeCommand {
    /// Arguments: random URL order (`-i`), no delay (`-b`), JSON summary (`-j`), JSON request
    /// bodies (`-T`: siege 4.0.7 reads no content type from a siegerc).
    pub fn args(&self) -> Vec<String> {
        vec![
            "-R".into(),
            self.rc.display().to_string(),
            "-T".into(),
            "application/json".into(),
            "-f".into(),
            self.urls.display().to_string(),
            "-c".into(),
            self.users.to_string(),
            "-t".into(),
            format!("{}S", self.secs),
            "-i".into(),
            "-b".into(),
            "-j".into(),
        ]
    }
}

/// What a finished siege left.
#[derive(Debug, Clone)]
pub struct SiegeOutcome {
    /// Exit status (None when a signal ended it).
    pub exit_code: Option<i32>,
    /// The parsed summary, when siege printed one.
    pub summary: Option<SiegeSummary>,
    /// Wall-clock seconds from spawn to exit.
    pub wall_secs: f64,
    /// User + system CPU seconds of siege and all its threads.
    pub cpu_seconds: f64,
    /// The end of stderr (errors siege printed), for messages.
    pub stderr_tail: String,
    /// True when siege did not end on its own and was stopped past its deadline.
    pub hung: bool,
}

impl SiegeOutcome {
    /// Seconds siege loaded the server: its wall time, but no more than asked for plus one
    /// second (a siege that hung on exit sent nothing while it hung).
    pub fn load_secs(&self, asked_secs: u64) -> f64 {
        self.wall_secs.min(asked_secs as f64 + 1.0).max(1e-3)
    }

    /// Transactions (plus failed ones) per second of load; 0 when siege printed no summary.
    pub fn transactions_per_s(&self, asked_secs: u64) -> f64 {
        let done = self.summary.as_ref().map_or(0.0, |s| {
            s.transactions.unwrap_or(0.0) + s.failed_transactions.unwrap_or(0.0)
        });
        done / self.load_secs(asked_secs)
    }
}

/// A siege process running in the background.
pub struct RunningSiege {
    child: Child,
    started: Instant,
    deadline: Instant,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    hung: bool,
}

fn drain<R: Read + Send + 'static>(mut reader: R) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl RunningSiege {
    /// Starts siege; it is stopped if it overruns its time by more than 10 s (siege 4.0.7
    /// sometimes hangs on exit at a few hundred users).
    pub fn spawn(command: &SiegeCommand) -> anyhow::Result<Self> {
        let mut child = Command::new(&command.bin)
            .args(command.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    anyhow::anyhow!(
                        "siege not found (`{}`): install Debian's `siege` package (apt-get install siege) or set LAB_SIEGE_BIN",
                        command.bin.display()
                    )
                } else {
                    anyhow::anyhow!("cannot start siege: {e}")
                }
            })?;
        let started = Instant::now();
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Ok(Self {
            child,
            started,
            deadline: started + Duration::from_secs(command.secs + 10),
            stdout,
            stderr,
            hung: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reaps siege if it has exited (or kills it past its deadline); None while it runs.
    pub fn try_finish(&mut self) -> anyhow::Result<Option<SiegeOutcome>> {
        let pid = self.child.id() as libc::pid_t;
        if !self.hung && Instant::now() > self.deadline {
            self.hung = true;
            // SIGINT makes siege print its summary before leaving.
            unsafe { libc::kill(pid, libc::SIGINT) };
            std::thread::sleep(Duration::from_secs(2));
            let _ = self.child.kill();
        }
        let mut status: libc::c_int = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // wait4 (not Child::wait) because it also returns the child's CPU accounting.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == 0 {
            return Ok(None);
        }
        if reaped < 0 {
            bail!(
                "waiting for siege failed: {}",
                std::io::Error::last_os_error()
            );
        }
        let wall_secs = self.started.elapsed().as_secs_f64();
        let cpu_seconds = timeval_secs(usage.ru_utime) + timeval_secs(usage.ru_stime);
        let exit_code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        let stdout = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        Ok(Some(SiegeOutcome {
            exit_code,
            summary: parse_summary(&stdout),
            wall_secs,
            cpu_seconds,
            stderr_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            hung: self.hung,
        }))
    }

    /// Blocks until siege ends.
    pub fn finish(mut self) -> anyhow::Result<SiegeOutcome> {
        loop {
            if let Some(outcome) = self.try_finish()? {
                return Ok(outcome);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn timeval_secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// Runs siege to the end.
pub fn run(command: &SiegeCommand) -> anyhow::Result<SiegeOutcome> {
    RunningSiege::spawn(command)?.finish()
}

/// Finds siege's JSON object in its stdout, whatever notices surround it.
pub fn parse_summary(stdout: &str) -> Option<SiegeSummary> {
    let mut search_from = 0;
    while let Some(found) = stdout[search_from..].find('{') {
        let start = search_from + found;
        let end = stdout[start..].find('}').map(|e| start + e + 1)?;
        let candidate = &stdout[start..end];
        if let Ok(summary) = serde_json::from_str::<SiegeSummary>(candidate) {
            if summary.transactions.is_some() {
                return Some(summary);
            }
        }
        search_from = start + 1;
    }
    None
}

/// Writes the siegerc lab uses: the repository's `siege/siegerc` when present, else the
/// embedded copy; either way a copy lands in the run folder so the run records it.
pub fn write_rc(repo_root: &Path, run_dir: &Path) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(repo_root.join("siege/siegerc"))
        .unwrap_or_else(|_| EMBEDDED_SIEGERC.to_owned());
    let path = run_dir.join("siegerc");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `siege/siegerc` as built into lab.
pub const EMBEDDED_SIEGERC: &str = include_str!("../../../siege/siegerc");

#[cfg(test)]
mod tests {
    use super::*;

    const STDOUT: &str = "New configuration template added to /root/.siege\nRun siege -C to view the current settings in that file\n{\t\"transactions\":\t\t\t       49942,\n\t\"availability\":\t\t\t       99.92,\n\t\"elapsed_time\":\t\t\t        1.49,\n\t\"data_transferred\":\t\t        0.14,\n\t\"response_time\":\t\t        0.00,\n\t\"transaction_rate\":\t\t    33518.12,\n\t\"throughput\":\t\t\t        0.10,\n\t\"concurrency\":\t\t\t       18.89,\n\t\"successful_transactions\":\t       49942,\n\t\"failed_transactions\":\t\t          40,\n\t\"longest_transaction\":\t\t        0.02,\n\t\"shortest_transaction\":\t\t        0.00\n}\n";

    #[test]
    fn the_summary_is_found_among_notices() {
        let summary = parse_summary(STDOUT).unwrap();
        assert_eq!(summary.transactions, Some(49942.0));
        assert_eq!(summary.availability, Some(99.92));
        assert_eq!(summary.failed_transactions, Some(40.0));
        assert_eq!(summary.shortest_transaction, Some(0.0));
        assert!(summary.other.is_empty());
    }

    #[test]
    fn unknown_fields_are_kept_and_garbage_is_none() {
        let summary = parse_summary("{\"transactions\": 3, \"new_field\": 1.5}").unwrap();
        assert_eq!(summary.other["new_field"], serde_json::json!(1.5));
        assert!(parse_summary("[error] socket: refused {not json}").is_none());
        assert!(parse_summary("").is_none());
    }

    #[test]
    fn the_command_line_asks_for_random_urls_without_delay_and_json() {
        let command = SiegeCommand {
            bin: "siege".into(),
            rc: "rc".into(),
            urls: "u.txt".into(),
            users: 450,
            secs: 60,
        };
        assert_eq!(
            command.args().join(" "),
            "-R rc -T application/json -f u.txt -c 450 -t 60S -i -b -j"
        );
    }

    #[test]
    fn the_embedded_siegerc_raises_the_limit_keeps_alive_and_prints_json() {
        assert!(EMBEDDED_SIEGERC.contains("limit = 4000"));
        assert!(EMBEDDED_SIEGERC.contains("connection = keep-alive"));
        assert!(
            !EMBEDDED_SIEGERC.contains("\ncontent-type"),
            "not a siege 4.0.7 key"
        );
        assert!(EMBEDDED_SIEGERC.contains("json_output = true"));
    }
}
