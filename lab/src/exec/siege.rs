//! Runs siege and reads its summary. siege 4.0.7 prints its JSON summary on stdout (with `-j`
//! or `json_output`), sometimes after notices such as "New configuration template added", so
//! the parser looks for the object rather than trusting the whole stream. siege's own CPU is
//! taken from the kernel's accounting of the reaped child (all its threads), exactly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::child::MeasuredChild;
#[cfg(test)]
use super::load::Offered;
use super::load::{Driver, Load, LoadOutcome, RunningLoad};
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

/// siege as a load driver: the binary and the siegerc every run reads.
#[derive(Debug, Clone)]
pub struct SiegeDriver {
    /// The siege binary.
    pub bin: PathBuf,
    /// siegerc passed with `-R`.
    pub rc: PathBuf,
}

impl SiegeDriver {
    /// Arguments: random URL order (`-i`), no delay (`-b`), JSON summary (`-j`), JSON request
    /// bodies (`-T`: siege 4.0.7 reads no content type from a siegerc).
    pub fn args(&self, load: &Load, users: u32) -> Vec<String> {
        vec![
            "-R".into(),
            self.rc.display().to_string(),
            "-T".into(),
            "application/json".into(),
            "-f".into(),
            load.urls.display().to_string(),
            "-c".into(),
            users.to_string(),
            "-t".into(),
            format!("{}S", load.secs),
            "-i".into(),
            "-b".into(),
            "-j".into(),
        ]
    }
}

impl Driver for SiegeDriver {
    fn name(&self) -> &'static str {
        "siege"
    }

    fn start(&self, load: &Load) -> anyhow::Result<Box<dyn RunningLoad>> {
        let Some(users) = load.offered.users() else {
            bail!("siege drives a closed model only (users); an open-model load (--rate) needs lab's driver (--driver lab)");
        };
        Ok(Box::new(RunningSiege::spawn(self, load, users)?))
    }
}

/// siege running in the background.
pub struct RunningSiege {
    child: MeasuredChild,
}

impl RunningSiege {
    /// Starts siege; it is stopped if it overruns its time by more than 10 s (siege 4.0.7
    /// sometimes hangs on exit at a few hundred users). SIGINT makes it print its summary
    /// before leaving.
    pub fn spawn(driver: &SiegeDriver, load: &Load, users: u32) -> anyhow::Result<Self> {
        let mut command = Command::new(&driver.bin);
        command.args(driver.args(load, users));
        let child = MeasuredChild::spawn(command, Duration::from_secs(load.secs + 10), libc::SIGINT)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    anyhow::anyhow!(
                        "siege not found (`{}`): install Debian's `siege` package (apt-get install siege) or set LAB_SIEGE_BIN",
                        driver.bin.display()
                    )
                } else {
                    anyhow::anyhow!("cannot start siege: {e}")
                }
            })?;
        Ok(Self { child })
    }
}

impl RunningLoad for RunningSiege {
    fn pid(&self) -> u32 {
        self.child.pid()
    }

    fn elapsed(&self) -> Duration {
        self.child.elapsed()
    }

    fn try_finish(&mut self) -> anyhow::Result<Option<LoadOutcome>> {
        Ok(self.child.try_finish()?.map(|exit| LoadOutcome {
            exit_code: exit.exit_code,
            siege: parse_summary(&exit.stdout),
            client: None,
            wall_secs: exit.wall_secs,
            cpu_seconds: exit.cpu_seconds,
            stderr_tail: exit.stderr_tail,
            hung: exit.hung,
        }))
    }
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
        let driver = SiegeDriver {
            bin: "siege".into(),
            rc: "rc".into(),
        };
        let load = Load {
            urls: "u.txt".into(),
            offered: Offered::Users(450),
            secs: 60,
        };
        assert_eq!(
            driver.args(&load, 450).join(" "),
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
