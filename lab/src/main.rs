//! `lab`: runs the stack natively under cgroup caps (or through compose), drives siege,
//! measures what siege cannot, and writes results and plots. It knows nothing of SQL.

mod cli;
mod commands;
mod config;
pub mod docker;
mod export;
mod fault;
mod load;
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
