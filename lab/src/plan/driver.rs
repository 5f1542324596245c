//! Which load driver runs a plan's loads.

/// Which load driver runs a plan's loads.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    /// lab's own client: per-request latency at the client (µs, HDR), closed or open model.
    #[default]
    Lab,
    /// siege 4: the closed model only, its own summary (10 ms resolution, no percentiles).
    Siege,
}

impl DriverKind {
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Lab => "lab",
            DriverKind::Siege => "siege",
        }
    }
}
