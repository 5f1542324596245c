//! Command-line interface: one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "Benchmark lab: run the stack under resource caps, load it with siege, measure and plot"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the stack (replicas, nginx, database) under a profile's caps and return when healthy.
    Up(UpArgs),
    /// Stop exactly what `lab up` started and remove its cgroups.
    Down(StateArgs),
    /// Show each service, its PID, caps and usage.
    Status(StateArgs),
    /// Run siege scenarios over profiles x concurrency steps and write results and plots.
    Bench(BenchArgs),
    /// Compare runs made under different profiles: a Markdown table and overlay plots.
    Compare(CompareArgs),
    /// Redraw a run's report and plots from its data alone.
    Report(ReportArgs),
    /// Break one thing under load (a replica, the database, memory, capacity) on a native
    /// stack and judge what the stack did: PASS/FAIL with figures, written to results/.
    Fault(FaultArgs),
    /// Internal: the supervisor `lab up` leaves running (restarts dead services).
    #[command(name = "__supervise", hide = true)]
    Supervise(StateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Sqlite,
    Postgres,
    Mysql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Native,
    Compose,
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
    /// Scenarios from `siege/` (read, write, mixed, stress).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["read".to_string()])]
    pub scenario: Vec<String>,
    #[arg(long, value_enum, default_value_t = DbKind::Sqlite)]
    pub db: DbKind,
    #[arg(long, value_enum, default_value_t = RuntimeKind::Native)]
    pub runtime: RuntimeKind,
    /// Concurrent siege users per step.
    #[arg(long, value_delimiter = ',', default_values_t = vec![10u32, 50, 100, 250, 450])]
    pub users: Vec<u32>,
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
    /// Seconds per siege-ceiling measurement (siege against a trivial uncapped nginx route),
    /// once per concurrency; 0 skips it (no step can then be flagged siege-bound by it).
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

/// A fault scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultScenario {
    /// SIGKILL one replica under a read load: availability >= 99.9%, back within 5 s.
    ReplicaLoss,
    /// Stop the database under a mixed load: no crash, fast 503s, /ready 503, back within 5 s.
    DbOutage,
    /// Push one capped replica past its memory cap: OOM-killed, restarted, reads keep serving.
    Oom,
    /// 2,000 users against the tight profile: degrades, recovers within 10 s, memory under caps.
    Overload,
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    #[arg(value_enum)]
    pub scenario: FaultScenario,
    /// Profile name (a file `profiles/<name>.env`) or a path to an env file.
    #[arg(long, default_value = "tight")]
    pub profile: String,
    /// The database (db-outage needs a server: postgres or mysql).
    #[arg(long, value_enum, default_value_t = DbKind::Postgres)]
    pub db: DbKind,
    /// siege users (default: replica-loss 100, db-outage 100, oom 50, overload 2000).
    #[arg(long)]
    pub users: Option<u32>,
    /// Seconds of the load step (default: 20; db-outage: 5 before + the outage + 10 after).
    #[arg(long)]
    pub step_secs: Option<u64>,
    /// db-outage: seconds the database stays stopped.
    #[arg(long, default_value_t = 10)]
    pub outage_secs: u64,
    /// overload: the p99 (ms) a probe round must be back under after the load.
    #[arg(long, default_value_t = 250.0)]
    pub recovery_p99_ms: f64,
    /// Where results go: `<results>/<timestamp>-fault-<scenario>/`.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// State folder of the fault run's own stack (its ports: LAB_HTTP_PORT 28080,
    /// LAB_PORT_BASE 28080, LAB_PG_PORT 25432, LAB_MYSQL_PORT 23306 unless set).
    #[arg(long, env = "LAB_FAULT_STATE_DIR", default_value = ".lab/fault")]
    pub state_dir: PathBuf,
}
