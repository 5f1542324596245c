//! Command-line interface: one subcommand per job, every flag with its help, examples and
//! exit codes in `--help`, and shell completions (`lab completions <shell>`).

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::LabConfig;

mod args;

pub use self::args::*;

const EXIT_CODES: &str = "\
Exit codes:
  0  done (bench: every SLO held; tune: a winner met the SLO; fault: PASS)
  1  error: bad input (flags, variables, files), a missing tool, a stack that would not start
     (the message says which)
  2  bench: the run completed but an SLO did not hold; tune: no candidate met the SLO;
     fault or soak: the verdict is FAIL";

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "Benchmark lab: run the stack under resource caps, load it with siege, measure and plot",
    long_about = "Benchmark lab: starts the record-shop stack (two app replicas, nginx, a database) \
natively under cgroup caps or through docker compose, loads it with siege, measures what siege \
cannot (percentiles, 2xx/429/5xx, replica balance, CPU throttling and memory per service) and \
writes results/<time>-<label>/ as JSON, CSV, Markdown and plots.",
    after_help = "Examples:
  lab bench --profile tight,roomy --scenario read,mixed --users 10,50,150
  lab up --profile tight --db postgres && lab status && lab down
  lab fault replica-loss --db postgres
  lab compare results/<run-a> results/<run-b>

See `lab <command> --help` for each command's flags and examples.",
    after_long_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub config: LabConfig,
}

/// Parses the command line and the environment. A variable set to an empty string counts as
/// not set (compose's `${VAR:-}` leaves such variables), not as an empty value.
pub fn parse() -> Cli {
    let parsed = without_empty_env(Cli::command())
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    parsed.unwrap_or_else(|err| {
        use clap::error::ErrorKind;
        if matches!(
            err.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            err.exit()
        }
        // Bad input is exit code 1, as every other error: 2 means an SLO or a fault failed.
        let _ = err.print();
        std::process::exit(1)
    })
}

fn without_empty_env(mut command: clap::Command) -> clap::Command {
    let empty: Vec<clap::Id> = command
        .get_arguments()
        .filter(|arg| {
            arg.get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.to_string_lossy().trim().is_empty())
        })
        .map(|arg| arg.get_id().clone())
        .collect();
    for id in empty {
        command = command.mut_arg(id, |arg| arg.env(None));
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, without_empty_env);
    }
    command
}

/// Writes the completion script for `shell` to stdout.
pub fn print_completions(shell: clap_complete::Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "lab", &mut std::io::stdout());
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the stack (replicas, nginx, database) under a profile's caps and return when healthy.
    #[command(after_help = "Examples:
  lab up                                   # tight profile, SQLite, native
  lab up --profile roomy --db postgres     # a private Postgres under the profile's caps
  lab up --runtime compose --db mysql      # docker compose, with the mysql profile")]
    Up(UpArgs),
    /// Stop exactly what `lab up` started and remove its cgroups.
    #[command(after_help = "Example:\n  lab down")]
    Down(StateArgs),
    /// Show each service, its PID, caps and usage.
    #[command(after_help = "Example:\n  lab status")]
    Status(StateArgs),
    /// Run scenarios over profiles x load levels (users or rates) and write results and plots.
    #[command(
        after_help = "Examples:
  lab bench                                              # tight and roomy, read, SQLite
  lab bench --db postgres --profile tight --scenario read,mixed --users 10,50,100
  lab bench --ramp --users 10,800 --slo 'p99_ms<250,availability>=99.9'
  lab bench --scenario siege/urls/my-scenario.txt        # a hand-written URL file
  lab bench --rate 500,1000 --scenario mixed             # open model: requests per second
  lab bench --runtime compose                            # from the lab container",
        after_long_help = EXIT_CODES
    )]
    Bench(BenchArgs),
    /// Compare runs made under different profiles: a Markdown table and overlay plots.
    #[command(after_help = "Example:
  lab compare results/20261123T050358Z-tight-vs-roomy-postgres results/20261123T051140Z-tight-by-id-postgres")]
    Compare(CompareArgs),
    /// A against B, alternated and repeated: two profiles, nginx.conf variants, scenarios,
    /// runtimes or git revisions, each figure's ratio with its 95% interval and a verdict
    /// (better, worse, within noise), the noise floor (A against A) when asked.
    #[command(after_help = "Examples:
  lab ab --a profile:tight --b profile:results/20261206T032931Z-tune-tight-postgres/tuned.env
  lab ab --a base --b nginx:nginx/experiments/keepalive.conf --scenario siege/urls/by-id.txt
  lab ab --a git:HEAD~3 --b git:HEAD --rounds 5 --aa
  lab ab --a runtime:native --b runtime:compose --rate 1000")]
    Ab(AbArgs),
    /// Write results/README.md, the index of the kept runs (each with where it is cited);
    /// with --check, fail when a folder is cited nowhere or the index is stale.
    #[command(
        after_help = "Examples:\n  lab index            # rewrite results/README.md\n  lab index --check    # CI: every folder cited, the index current\n  lab index --prune    # delete the folders cited nowhere"
    )]
    Index(IndexArgs),
    /// Redraw a run's report and plots from its data alone.
    #[command(
        after_help = "Example:\n  lab report results/20261129T132008Z-compose-tight-postgres"
    )]
    Report(ReportArgs),
    /// Break one thing under load (a replica, the database, memory, capacity) on a native
    /// stack and judge what the stack did: PASS/FAIL with figures, written to results/.
    #[command(
        after_help = "Examples:
  lab fault replica-loss --db postgres
  lab fault db-outage --db mysql --outage-secs 5
  lab fault overload --users 2000
  lab fault db-kill --db mysql
  lab fault slow-clients --slow-clients 300
  lab fault replica-loss --runtime compose --db postgres",
        after_long_help = EXIT_CODES
    )]
    Fault(FaultArgs),
    /// Load one profile's stack for a long time and fail when a replica's memory, descriptors
    /// or pool connections, nginx's descriptors or latency keep growing, or errors appear.
    #[command(
        after_help = "Examples:
  lab soak                                           # tight, Postgres, mixed, 50 users, 10 minutes
  lab soak --duration-secs 3600 --window-secs 60     # an hour
  lab soak --runtime compose --db mysql",
        after_long_help = EXIT_CODES
    )]
    Soak(SoakArgs),
    /// Search how to split a resource budget across nginx, the replicas (1 or 2) and the
    /// database: each candidate a real bench step, guided by the bottleneck verdicts; writes
    /// the winner as a ready-to-use profile.
    #[command(
        after_help = "Examples:
  lab tune --base tight --db postgres --scenario mixed --users 100 --slo 'p99_ms<150'
  lab tune --budget cpus=1,memory=2G --candidates 12 --write-profile
  lab tune --runtime compose --time-budget-secs 1200",
        after_long_help = EXIT_CODES
    )]
    Tune(TuneArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(after_help = "Examples:
  lab completions bash > /etc/bash_completion.d/lab
  lab completions zsh > \"${fpath[1]}/_lab\"
  lab completions fish > ~/.config/fish/completions/lab.fish")]
    Completions(CompletionsArgs),
    /// Internal: the supervisor `lab up` leaves running (restarts dead services).
    #[command(name = "__supervise", hide = true)]
    Supervise(StateArgs),
    /// Internal: lab's load driver, run by bench, soak, tune and fault in its own process.
    #[command(name = "__drive", hide = true)]
    Drive(DriveArgs),
    /// Internal: one Engine API request as it is (method, path), its status and body printed:
    /// what the lab container's engine proxy lets through, and what it refuses.
    #[command(name = "__engine", hide = true)]
    Engine(EngineArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undocumented(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            let name = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() {
                out.push(format!("{name}: no description"));
            }
            if sub.get_after_help().is_none() {
                out.push(format!("{name}: no examples"));
            }
            undocumented(sub, &name, out);
        }
    }

    #[test]
    fn every_flag_and_command_has_help_and_every_command_examples() {
        let command = Cli::command();
        command.clone().debug_assert();
        let mut missing = Vec::new();
        undocumented(&command, "lab", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
        assert!(command
            .get_after_long_help()
            .is_some_and(|h| h.to_string().contains("Exit codes")));
    }

    #[test]
    fn completions_are_generated_for_every_shell() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "lab", &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("bench") && text.contains("scenario"),
                "{shell}"
            );
        }
    }
}
