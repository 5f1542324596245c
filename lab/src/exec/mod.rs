//! Running plans: the load drivers (executors) that put a load on the stack, the step runner
//! that measures the stack while one does, and the jobs built on them (bench, soak, tune).
//!
//! A [`Driver`] starts one [`Load`] and reports a [`LoadOutcome`]; it knows nothing of the
//! stack. [`step::StepRunner`] follows the stack's services while a load runs and turns the
//! outcome, nginx's log and the readings into one [`crate::results::Step`], the one
//! measurement every command reports. A new driver is one more `Driver` implementation
//! (siege's is [`siege::SiegeDriver`]); nothing else changes.

pub mod ab;
pub mod bench;
pub mod ceiling;
mod child;
pub mod client;
mod load;
pub mod reference;
pub mod siege;
pub mod soak;
pub mod step;
pub mod stress;
pub mod tune;
mod urls;

use std::time::Duration;

pub use self::child::raise_fd_limit;
pub use self::load::{Driver, Load, LoadOutcome, Offered, RunningLoad};
use crate::config::LabConfig;
use crate::plan::DriverKind;

/// The driver a plan names. siege reads the run folder's copy of the siegerc (`rc`), which
/// `siege::write_rc` wrote; it must be installed.
pub fn driver(
    kind: DriverKind,
    config: &LabConfig,
    rc: &std::path::Path,
) -> anyhow::Result<Box<dyn Driver>> {
    Ok(match kind {
        DriverKind::Lab => Box::new(client::ClientDriver::new()?),
        DriverKind::Siege => {
            siege::require(config)?;
            Box::new(siege::SiegeDriver {
                bin: config.siege_bin(),
                rc: rc.to_path_buf(),
            })
        }
    })
}

/// Runs a load to its end.
pub fn run(driver: &dyn Driver, load: &Load) -> anyhow::Result<LoadOutcome> {
    let mut running = driver.start(load)?;
    loop {
        if let Some(outcome) = running.try_finish()? {
            return Ok(outcome);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
