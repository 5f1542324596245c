//! Dispatch from the parsed command line to the job that implements it.

mod bench;
mod fault;
mod stack;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => stack::up(args),
        Command::Down(args) => stack::down(args),
        Command::Status(args) => stack::status(args),
        Command::Bench(args) => bench::bench(args),
        Command::Compare(args) => bench::compare(args),
        Command::Report(args) => bench::report(args),
        Command::Fault(args) => fault::fault(args),
        Command::Supervise(args) => stack::supervise(args),
    }
}

/// Exit status for an error: 2 when a bench met its SLOs nowhere it had to or a fault
/// scenario's verdict is FAIL (CI gates), else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<bench::SloFailed>().is_some()
        || err.downcast_ref::<fault::FaultFailed>().is_some()
    {
        2
    } else {
        1
    }
}
