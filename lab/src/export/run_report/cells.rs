//! Cells the report's sections share: a step's replica shares, its SLO outcome, the run's
//! load driver by name.

use crate::load::access_log::replica_shares;
use crate::results::{Run, Step};

pub fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_owned())
}

pub fn shares(step: &Step) -> String {
    replica_shares(&step.nginx)
        .iter()
        .map(|(name, share)| format!("{name} {share:.0}%"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn slo_cell(step: &Step) -> String {
    match &step.slo {
        None => "-".into(),
        Some(o) if o.passed => "pass".into(),
        Some(o) => format!("FAIL: {}", o.failures.join("; ")),
    }
}

/// The run's load driver as a reader knows it.
pub fn driver_name(run: &Run) -> &str {
    match run.settings.driver.as_str() {
        "lab" => "lab's own client",
        other => other,
    }
}
