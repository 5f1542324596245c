//! `lab`: runs the stack natively under cgroup caps (or through compose), drives load at it,
//! measures what the load driver cannot, and writes results and plots. It knows nothing of
//! SQL. The layers, each importing only those below it: `commands` (parse, plan, run, print)
//! → `exec` (drivers, the step runner, bench/soak/tune) and `fault` → `stack` (the running
//! stack's handle), `sample`, `load` → `results`; `export` and `plot` read results only.

mod cli;
mod client_path;
mod commands;
mod config;
mod console;
pub mod docker;
mod exec;
mod export;
mod fault;
mod interrupt;
mod load;
mod plan;
mod plot;
mod profile;
mod results;
mod sample;
mod stack;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = cli::parse();
    if let Err(err) = commands::run(cli) {
        eprintln!("lab: error: {err:#}");
        std::process::exit(commands::exit_code(&err));
    }
}
