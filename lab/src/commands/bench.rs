//! `lab bench`, `lab compare`, `lab report` (owned by the bench work).

use crate::cli::{BenchArgs, CompareArgs, ReportArgs};

pub fn bench(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("lab bench: not built yet")
}

pub fn compare(_args: CompareArgs) -> anyhow::Result<()> {
    anyhow::bail!("lab compare: not built yet")
}

pub fn report(_args: ReportArgs) -> anyhow::Result<()> {
    anyhow::bail!("lab report: not built yet")
}
