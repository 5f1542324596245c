//! Command-line interface: one subcommand per job, every flag with its help, examples and
//! exit codes in `--help`, and shell completions (`lab completions <shell>`).

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::LabConfig;
use crate::plan::fault::FaultKind;
use crate::plan::DriverKind;
use crate::results::Arrivals;
use contract::{DbKind, RuntimeKind};

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
    /// Run siege scenarios over profiles x concurrency steps and write results and plots.
    #[command(
        after_help = "Examples:
  lab bench                                              # tight and roomy, read, SQLite
  lab bench --db postgres --profile tight --scenario read,mixed --users 10,50,100
  lab bench --ramp --users 10,800 --slo 'p99_ms<250,availability>=99.9'
  lab bench --scenario siege/urls/my-scenario.txt        # a hand-written URL file
  lab bench --runtime compose --profile tight            # from the bench container",
        after_long_help = EXIT_CODES
    )]
    Bench(BenchArgs),
    /// Compare runs made under different profiles: a Markdown table and overlay plots.
    #[command(after_help = "Example:
  lab compare results/20261123T050358Z-tight-vs-roomy-postgres results/20261123T051140Z-tight-by-id-postgres")]
    Compare(CompareArgs),
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
}

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Profile name (a file `profiles/<name>.env`) or a path to an env file.
    #[arg(long, default_value = "tight")]
    pub profile: String,
    /// The database the stack runs on.
    #[arg(long, value_enum, default_value_t = DbKind::Postgres)]
    pub db: DbKind,
    /// Local processes under cgroups, or docker compose (run on the engine's host: lab reads
    /// the containers' processes in /proc).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Native)]
    pub runtime: RuntimeKind,
    /// The load: read, write or mixed.
    #[arg(long, default_value = "mixed")]
    pub scenario: String,
    /// Concurrent siege users.
    #[arg(long, default_value_t = 50)]
    pub users: u32,
    /// Seconds of load: this divided by --window-secs is the number of windows (each followed
    /// by about 2 s of readings).
    #[arg(long, default_value_t = 600)]
    pub duration_secs: u64,
    /// Seconds per window: one siege run, then one reading of every replica and nginx.
    #[arg(long, default_value_t = 30)]
    pub window_secs: u64,
    /// The load driver: lab's own client or siege.
    #[arg(long, value_enum, default_value_t = DriverKind::Lab)]
    pub driver: DriverKind,
    /// Label appended to the results folder name.
    #[arg(long, default_value = "soak")]
    pub label: String,
    /// Where results go: `<results>/<timestamp>-<label>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The total to split, e.g. `cpus=1,memory=2G` (memory in docker's units) [default: the
    /// base profile's totals].
    #[arg(long)]
    pub budget: Option<String>,
    /// The profile every candidate starts from: its split (scaled to the budget) is the first
    /// candidate, and its other settings (workers, pool, rate limits) stay as they are.
    #[arg(long, default_value = "tight")]
    pub base: String,
    /// The load each candidate is measured under: a built-in scenario or a siege URL file.
    #[arg(long, default_value = "mixed")]
    pub scenario: String,
    /// Concurrent siege users.
    #[arg(long, default_value_t = 100)]
    pub users: u32,
    /// The SLO the winner must meet, e.g. `p99_ms<150,availability>=99.9`; without it the
    /// highest throughput wins.
    #[arg(long)]
    pub slo: Option<String>,
    /// The database the stacks run on (SQLite has no database service to give CPU to).
    #[arg(long, value_enum, default_value_t = DbKind::Postgres)]
    pub db: DbKind,
    /// Local processes under cgroups, or docker compose.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Native)]
    pub runtime: RuntimeKind,
    /// At most this many measurements (a repeat of a candidate counts).
    #[arg(long, default_value_t = 8)]
    pub candidates: usize,
    /// Start no candidate that would end past this many seconds (estimated from the ones
    /// measured so far).
    #[arg(long, value_name = "SECS")]
    pub time_budget_secs: Option<u64>,
    /// Seconds each candidate's step measures.
    #[arg(long, default_value_t = 20)]
    pub step_secs: u64,
    /// Seconds of load before each step, not counted.
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Seconds of siege's own ceiling measurement per candidate (0: not measured).
    #[arg(long, default_value_t = 5)]
    pub ceiling_secs: u64,
    /// Two candidates whose throughputs differ by less than this (percent) are both measured
    /// again and judged by their means.
    #[arg(long, default_value_t = 5.0)]
    pub noise_percent: f64,
    /// The load driver: lab's own client or siege.
    #[arg(long, value_enum, default_value_t = DriverKind::Lab)]
    pub driver: DriverKind,
    /// The winner profile's name: `<name>.env` in the results folder.
    #[arg(long, default_value = "tuned")]
    pub name: String,
    /// Also write the winner to `profiles/<name>.env` (not over a profile lab tune did not
    /// write).
    #[arg(long)]
    pub write_profile: bool,
    /// Label appended to the results folder name.
    #[arg(long, default_value = "tune")]
    pub label: String,
    /// Where results go: `<results>/<timestamp>-<label>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// How an open load spaces its arrivals (the command line's spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArrivalsArg {
    /// One request every 1/rate seconds (reproducible; wrk2's way).
    Constant,
    /// Exponential gaps with mean 1/rate, as independent users arrive.
    Poisson,
}

impl From<ArrivalsArg> for Arrivals {
    fn from(arg: ArrivalsArg) -> Self {
        match arg {
            ArrivalsArg::Constant => Arrivals::Constant,
            ArrivalsArg::Poisson => Arrivals::Poisson,
        }
    }
}

/// `lab __drive`: lab's load driver in its own process (lab bench runs it).
#[derive(Debug, Args)]
pub struct DriveArgs {
    /// The scenario's URL file (siege's format).
    #[arg(long)]
    pub urls: PathBuf,
    /// Closed model: concurrent users.
    #[arg(long, conflicts_with = "rate", required_unless_present = "rate")]
    pub users: Option<u32>,
    /// Open model: requests per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open model: how arrivals are spaced.
    #[arg(long, value_enum, default_value_t = ArrivalsArg::Constant)]
    pub arrivals: ArrivalsArg,
    /// Open model: most connections at once.
    #[arg(long, default_value_t = 1000)]
    pub max_connections: usize,
    /// Seconds of load.
    #[arg(long)]
    pub secs: f64,
    /// Per-request timeout, ms.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Threads of its runtime: 1 (the default) is one event loop, which drives more per CPU
    /// second on a small machine and leaves the other cores to the stack.
    #[arg(long, default_value_t = crate::results::verdict::LAB_DRIVER_THREADS)]
    pub threads: usize,
    /// Seed of its random choices (which URL line, Poisson gaps).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Where the running stack keeps its state (PIDs, cgroups, logs).
    #[arg(long, env = "LAB_STATE_DIR", default_value = ".lab/stack")]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Profile name (a file `profiles/<name>.env`) or a path to an env file.
    #[arg(long, default_value = "tight")]
    pub profile: String,
    /// The database: SQLite (a file per replica set), or a server (Postgres, MariaDB/MySQL).
    #[arg(long, value_enum, default_value_t = DbKind::Sqlite)]
    pub db: DbKind,
    /// Local processes under cgroups, or docker compose.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Native)]
    pub runtime: RuntimeKind,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Profiles to run one after another (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["tight".to_string(), "roomy".to_string()])]
    pub profile: Vec<String>,
    /// Scenarios: read, write, mixed, stress, or the path of a siege URL file (repeat or
    /// comma-separate).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["read".to_string()])]
    pub scenario: Vec<String>,
    /// The database the stack runs on (under compose, attached: read from the running app).
    #[arg(long, value_enum, default_value_t = DbKind::Sqlite)]
    pub db: DbKind,
    /// Local processes under cgroups, or docker compose.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Native)]
    pub runtime: RuntimeKind,
    /// Closed model: concurrent users per step, each sending its next request when the last
    /// is answered [default: 10,50,100,250,450 unless --rate is given alone].
    #[arg(long, value_delimiter = ',')]
    pub users: Option<Vec<u32>>,
    /// Open model: requests per second per step, arriving whatever the stack does (latency
    /// counts from each request's intended start), e.g. `500,1000,2000`; or `auto`: the
    /// highest rate that meets --slo (from 100/s, doubling, then closing in on the knee).
    /// Runs after the --users steps.
    #[arg(long, value_name = "RATES")]
    pub rate: Option<String>,
    /// Open model: how arrivals are spaced (evenly, or as Poisson arrivals).
    #[arg(long, value_enum, default_value_t = ArrivalsArg::Constant)]
    pub arrivals: ArrivalsArg,
    /// The load driver: lab's own client (latency per request at the client, both models) or
    /// siege (closed model, its own summary; your siegerc and URL files as they are).
    #[arg(long, value_enum, default_value_t = DriverKind::Lab)]
    pub driver: DriverKind,
    /// Seconds per measured step.
    #[arg(long, default_value_t = 20)]
    pub step_secs: u64,
    /// Seconds of uncounted warm-up before each profile/scenario.
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Ramp mode: raise users step by step until an SLO breaks (finds the knee).
    #[arg(long)]
    pub ramp: bool,
    /// SLO thresholds, e.g. `p99_ms<250,availability>=99.9`.
    #[arg(long)]
    pub slo: Option<String>,
    /// Label appended to the results folder name.
    #[arg(long, default_value = "bench")]
    pub label: String,
    /// Where results go: `<results>/<timestamp>-<label>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Seconds per ceiling measurement, once per concurrency: the load driver's (against a
    /// trivial uncapped nginx) and nginx's capped ceiling (the stack's nginx.conf under the profile's
    /// caps, proxying to a trivial upstream: natively in a cgroup, under compose as the
    /// `ceiling` services; not with --attach nor from the bench container); 0 skips both.
    #[arg(long, default_value_t = 5)]
    pub ceiling_secs: u64,
    /// Bench the stack already running at --state-dir (its stack.json) instead of starting
    /// one per profile; takes exactly one --profile (its env file describes that stack).
    #[arg(long)]
    pub attach: bool,
    /// Only (re)write the scenario URL files in siege/urls/ for the profile's seed sizes.
    #[arg(long)]
    pub write_urls: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folders (or their run.json) to compare.
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// Folder for the comparison's Markdown and plots.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run folder (or its run.json).
    pub run: PathBuf,
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// What to break.
    #[arg(value_enum)]
    pub scenario: FaultKind,
    /// Profile name (a file `profiles/<name>.env`) or a path to an env file.
    #[arg(long, default_value = "tight")]
    pub profile: String,
    /// The database (db-outage and db-kill need a server: postgres or mysql).
    #[arg(long, value_enum, default_value_t = DbKind::Postgres)]
    pub db: DbKind,
    /// A native stack of its own (processes under cgroups), or a compose project of its own
    /// (`labfault`) whose faults go through the Docker engine (run on the engine's host).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Native)]
    pub runtime: RuntimeKind,
    /// siege users (default: replica-loss 100, db-outage 100, oom 50, db-kill 50, overload
    /// 2000, slow-clients 20).
    #[arg(long)]
    pub users: Option<u32>,
    /// Seconds of the load step (default: 20; db-outage: 5 before + the outage + 10 after).
    #[arg(long)]
    pub step_secs: Option<u64>,
    /// db-outage: seconds the database stays stopped.
    #[arg(long, default_value_t = 10)]
    pub outage_secs: u64,
    /// slow-clients: how many slow clients (a third trickle headers, a third trickle bodies,
    /// a third go idle after one request).
    #[arg(long, default_value_t = 300)]
    pub slow_clients: usize,
    /// overload: the p99 (ms) a probe round must be back under after the load.
    #[arg(long, default_value_t = 250.0)]
    pub recovery_p99_ms: f64,
    /// The load driver: lab's own client or siege.
    #[arg(long, value_enum, default_value_t = DriverKind::Lab)]
    pub driver: DriverKind,
    /// Where results go: `<results>/<timestamp>-fault-<scenario>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// State folder of the fault run's own stack (its ports: LAB_HTTP_PORT 28080,
    /// LAB_PORT_BASE 28080, LAB_PG_PORT 25432, LAB_MYSQL_PORT 23306 unless set).
    #[arg(long, env = "LAB_FAULT_STATE_DIR", default_value = ".lab/fault")]
    pub state_dir: PathBuf,
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
