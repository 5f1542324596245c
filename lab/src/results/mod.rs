//! Every result type lab writes, each field documented (`docs/results.md`, checked by the
//! reference test) and each file drawn from one of them: a bench's [`Run`] (`run.json`),
//! a soak's [`soak::SoakRun`], a tune's [`tune::TuneFile`], a fault's
//! [`fault::FaultReport`]. Beside them the judgements made of a step: its bottleneck
//! [`verdict`] and its [`slo`] outcome. Figures carry their unit in the field name.

pub mod ab;
pub mod comparison;
pub mod consistency;
pub mod fault;
mod figures;
#[cfg(test)]
pub(crate) mod fixture;
pub mod machine;
pub mod reference;
pub mod rightsizing;
mod run;
pub mod slo;
pub mod soak;
pub mod stats;
mod step;
pub mod tune;
pub mod verdict;

pub use ab::AB_SCHEMA_VERSION;
pub use reference::{Reference, ServiceCost};
pub use run::*;
pub use slo::SloRule;
pub use step::*;
