//! The flags of each job (`lab bench`, `ab`, `soak`, `tune`, `fault`, ...) and the stack's, each
//! with its help; `cli` holds the command itself.

use std::path::PathBuf;

use clap::Args;

use crate::plan::fault::FaultKind;
use crate::plan::DriverKind;
use crate::results::Arrivals;
use contract::{DbKind, RuntimeKind};

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
    /// Fewest app replicas a candidate may have: 2 keeps a spare replica (a replica lost
    /// leaves one serving), whatever one replica would gain.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub min_replicas: u32,
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

/// `lab __engine`: one Engine API request.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// GET, POST, DELETE...
    pub method: String,
    /// The path, e.g. `/containers/json` or `/v1.41/info`.
    pub path: String,
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
    /// Profiles to run one after another (repeat or comma-separate) [default: tight,roomy;
    /// from the lab container, the profile compose started the stack under, else tight].
    #[arg(long, value_delimiter = ',')]
    pub profile: Vec<String>,
    /// Scenarios: read, write, mixed, stress, or the path of a siege URL file (repeat or
    /// comma-separate).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["read".to_string()])]
    pub scenario: Vec<String>,
    /// The database the stack runs on (under compose, attached: read from the running app).
    #[arg(long, value_enum, default_value_t = DbKind::Sqlite)]
    pub db: DbKind,
    /// Local processes under cgroups, or docker compose [default: native; from the lab
    /// container, compose: the running stack].
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeKind>,
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
    /// `ceiling` services; not with --attach nor from the lab container); 0 skips both.
    #[arg(long, default_value_t = 5)]
    pub ceiling_secs: u64,
    /// Bench the stack already running at --state-dir (its stack.json) instead of starting
    /// one per profile; takes exactly one --profile (its env file describes that stack).
    #[arg(long)]
    pub attach: bool,
    /// Only (re)write the scenario URL files in siege/urls/ for the profile's seed sizes.
    #[arg(long)]
    pub write_urls: bool,
    /// Finish an interrupted run in its folder: its recorded command line is the plan (checked
    /// against the profiles as they are now), its steps are kept, the rest measured and
    /// appended, the report redrawn.
    #[arg(
        long,
        value_name = "RUN_FOLDER",
        conflicts_with_all = ["profile", "scenario", "users", "rate", "ramp", "slo", "label", "write_urls", "driver", "arrivals", "db", "runtime"]
    )]
    pub resume: Option<PathBuf>,
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
    /// The run the others are compared with, by its place on the command line (its group of
    /// repeats is the baseline).
    #[arg(long, default_value_t = 1)]
    pub baseline: usize,
}

#[derive(Debug, Args)]
pub struct AbArgs {
    /// Side A: `base` (the settings below), `profile:NAME|PATH`, `nginx:PATH` (an nginx.conf
    /// template), `scenario:NAME|PATH`, `runtime:native|compose`, `git:REV` (the app built
    /// from that commit, natively) or `app:PATH` (an app binary, natively).
    #[arg(long, default_value = "base")]
    pub a: String,
    /// Side B, in the same forms.
    #[arg(long)]
    pub b: String,
    /// Runs of each side (at least 4: fewer give no 95% interval).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// First run A against itself as many rounds: the noise floor every verdict sits on.
    #[arg(long)]
    pub aa: bool,
    /// The profile both sides run (unless a side is a profile).
    #[arg(long, default_value = "tight")]
    pub profile: String,
    /// The scenario both sides run (unless a side is a scenario).
    #[arg(long, default_value = "read")]
    pub scenario: String,
    /// The database both sides run on.
    #[arg(long, value_enum, default_value_t = DbKind::Postgres)]
    pub db: DbKind,
    /// The runtime both sides run on (unless a side is a runtime).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Native)]
    pub runtime: RuntimeKind,
    /// Closed model: concurrent users of the one step [default: 50 unless --rate].
    #[arg(long, conflicts_with = "rate")]
    pub users: Option<u32>,
    /// Open model: requests per second of the one step.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open model: how arrivals are spaced.
    #[arg(long, value_enum, default_value_t = ArrivalsArg::Constant)]
    pub arrivals: ArrivalsArg,
    /// The load driver: lab's own client or siege (closed model only).
    #[arg(long, value_enum, default_value_t = DriverKind::Lab)]
    pub driver: DriverKind,
    /// Seconds of the measured step of each run.
    #[arg(long, default_value_t = 20)]
    pub step_secs: u64,
    /// Seconds of uncounted warm-up before each run's step.
    #[arg(long, default_value_t = 5)]
    pub warmup_secs: u64,
    /// Label appended to the results folder name.
    #[arg(long, default_value = "ab")]
    pub label: String,
    /// Where results go: `<results>/<timestamp>-<label>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The results folder.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Write nothing; fail when a folder is cited nowhere or results/README.md is stale.
    #[arg(long, conflicts_with = "prune")]
    pub check: bool,
    /// Delete the folders cited nowhere, then write the index.
    #[arg(long)]
    pub prune: bool,
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
