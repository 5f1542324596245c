//! Dispatch from the parsed command line to the job that implements it.

mod ab;
mod bench;
mod drive;
mod fault;
mod report;
mod soak;
mod stack;
mod tune;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let config = &cli.config;
    match cli.command {
        Command::Up(args) => stack::up(config, args),
        Command::Down(args) => stack::down(config, args),
        Command::Status(args) => stack::status(config, args),
        Command::Bench(args) => bench::bench(config, args),
        Command::Compare(args) => report::compare(args),
        Command::Ab(args) => ab::ab(config, args),
        Command::Index(args) => report::index(args),
        Command::Report(args) => report::report(args),
        Command::Fault(args) => fault::fault(config, args),
        Command::Soak(args) => soak::soak(config, args),
        Command::Tune(args) => tune::tune(config, args),
        Command::Supervise(args) => stack::supervise(args),
        Command::Drive(args) => drive::drive(args),
        Command::Engine(args) => {
            let (status, body) = config.engine()?.call(&args.method, &args.path)?;
            println!("{status}\n{body}");
            if (200..300).contains(&status) {
                Ok(())
            } else {
                anyhow::bail!("the engine answered {status}")
            }
        }
        Command::Completions(args) => {
            crate::cli::print_completions(args.shell);
            Ok(())
        }
    }
}

/// Exit status for an error: 2 when a bench met its SLOs nowhere it had to, or a fault
/// scenario's or a soak's verdict is FAIL (CI gates), else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<bench::SloFailed>().is_some()
        || err.downcast_ref::<ab::AbWorse>().is_some()
        || err.downcast_ref::<fault::FaultFailed>().is_some()
        || err.downcast_ref::<soak::SoakFailed>().is_some()
    {
        2
    } else {
        1
    }
}
