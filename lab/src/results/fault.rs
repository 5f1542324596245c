//! A fault run's result (`fault.json`): named checks with what was expected and what was
//! seen, the load step the fault happened under (the same [`Step`] a bench measures), the
//! order/stock invariant, the stack's events and the scenario's own figures.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::step::Step;
use crate::stack::StackEvent;
use contract::{DbKind, RuntimeKind};

/// Version of the `fault.json` layout; bumped when a field changes meaning.
pub const FAULT_SCHEMA_VERSION: u32 = 2;

/// One pass/fail criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is checked, e.g. `availability over the step`.
    pub name: String,
    /// The threshold, e.g. `>= 99.9%`.
    pub expected: String,
    /// The figure seen, e.g. `100.000% of 7412 requests`.
    pub observed: String,
    /// True when the figure met the threshold.
    pub passed: bool,
}

impl Check {
    pub fn new(name: &str, expected: &str, observed: String, passed: bool) -> Self {
        Self {
            name: name.to_owned(),
            expected: expected.to_owned(),
            observed,
            passed,
        }
    }
}

/// Everything a fault run found (`fault.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    /// Version of this file's layout (see `FAULT_SCHEMA_VERSION`).
    #[serde(default)]
    pub schema_version: u32,
    /// `replica-loss`, `db-outage`, `oom`, `overload`, `db-kill`, `slow-clients`.
    pub scenario: String,
    /// The profile the stack ran under.
    pub profile: String,
    /// The database the stack ran on.
    pub db: DbKind,
    /// `native` or `compose`.
    #[serde(default = "native")]
    pub runtime: RuntimeKind,
    /// False when cgroups could not be written (caps and OOM kills then do not apply).
    pub capped: bool,
    /// When the scenario started (UTC).
    pub started_at: DateTime<Utc>,
    /// When it ended (UTC).
    pub finished_at: DateTime<Utc>,
    /// PASS when every check passed.
    pub passed: bool,
    /// Each criterion, in the order checked.
    pub checks: Vec<Check>,
    /// What happened when, in seconds from the load's start (`kill app2 at 6.0 s`, ...).
    pub timeline: Vec<String>,
    /// The load step the fault happened under, measured as a bench step is.
    pub step: Option<Step>,
    /// The order/stock invariant, checked through the HTTP API after the load.
    pub invariant: Option<InvariantReport>,
    /// What the stack's runtime recorded during the run (exits, restarts, OOM kills).
    pub events: Vec<StackEvent>,
    /// Scenario-specific figures, each with its unit in its name (`_secs`, `_ms`,
    /// `_percent`, a count otherwise; whole numbers written without a fraction); null when
    /// not seen (e.g. never recovered).
    #[serde(serialize_with = "whole_numbers_plain")]
    pub figures: BTreeMap<String, Option<f64>>,
    /// Honest remarks (e.g. the load driver's own limits).
    pub notes: Vec<String>,
}

fn native() -> RuntimeKind {
    RuntimeKind::Native
}

/// Writes a count as `150`, not `150.0`: readers of `fault.json` take counts as integers.
fn whole_numbers_plain<S: serde::Serializer>(
    figures: &BTreeMap<String, Option<f64>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(figures.len()))?;
    for (name, value) in figures {
        match value {
            Some(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => {
                map.serialize_entry(name, &(*v as i64))?
            }
            other => map.serialize_entry(name, other)?,
        }
    }
    map.end()
}

impl FaultReport {
    /// `PASS` or `FAIL`.
    pub fn verdict(&self) -> &'static str {
        if self.passed {
            "PASS"
        } else {
            "FAIL"
        }
    }

    /// Records a figure (None: not seen).
    pub fn figure(&mut self, name: &str, value: impl Into<Option<f64>>) {
        self.figures.insert(name.to_owned(), value.into());
    }
}

/// The invariant check's findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvariantReport {
    /// True when every order the writer got 201 for exists once, no failed one exists, and
    /// the stock of every disk adds up.
    pub passed: bool,
    /// The writer's customers, first and last id.
    pub writer_customers: (u64, u64),
    /// Orders the writer tried.
    pub attempts: u64,
    /// Answered 201.
    pub created: u64,
    /// Answered a definite error (a 4xx, or no connection at all).
    pub failed: u64,
    /// Outcome unknown (a timeout, a cut connection, a 5xx) when the run ended, after the
    /// writer's retries with the order's `Idempotency-Key` (0 when the stack recovered).
    pub unknown: u64,
    /// Unknown outcomes whose order exists after all.
    pub unknown_materialized: u64,
    /// Failed attempts by HTTP status (0: could not connect).
    pub failed_by_status: BTreeMap<u16, u64>,
    /// Orders read back by id.
    pub orders_checked: u64,
    /// Customers whose order lists were read.
    pub customers_checked: u64,
    /// Disks whose stock was checked.
    pub disks_checked: u64,
    /// Each disk's stock at the seed.
    pub seed_stock: u64,
    /// Units ordered over every customer.
    pub units_ordered: u64,
    /// Orders lost, doubled or invented (empty when the invariant holds).
    pub order_problems: Vec<String>,
    /// Disks where seed stock != stock + ordered units.
    pub stock_mismatches: Vec<String>,
}
