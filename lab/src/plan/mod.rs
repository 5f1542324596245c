//! Validated plans: what a command asked for, checked before anything starts (profiles
//! load, URL files parse, SLO rules parse, numbers are in range), so a bad input fails in a
//! second with a message instead of minutes into a run. `tune` and `soak` build the plans they
//! run directly, never through a command line's structs.

pub mod ab;
pub mod bench;
mod driver;
pub mod fault;
pub mod levels;
pub mod scenario;
pub mod soak;
pub mod tune;

pub use bench::BenchPlan;
pub use driver::DriverKind;
pub use scenario::ScenarioSource;
pub use soak::SoakPlan;
