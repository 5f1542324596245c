//! `lab up`, `lab down`, `lab status` (owned by the stack work).

use crate::cli::{StateArgs, UpArgs};

pub fn up(_args: UpArgs) -> anyhow::Result<()> {
    anyhow::bail!("lab up: not built yet")
}

pub fn down(_args: StateArgs) -> anyhow::Result<()> {
    anyhow::bail!("lab down: not built yet")
}

pub fn status(_args: StateArgs) -> anyhow::Result<()> {
    anyhow::bail!("lab status: not built yet")
}
