//! The stack and what holds it. A [`Runtime`] (native: local processes under cgroup caps;
//! compose: `docker compose` with the profile's env file) starts a stack and returns a
//! [`Stack`]: the one handle bench, soak, tune and the faults talk to. It answers what the
//! stack is now ([`Handle::status`]), what happened to it ([`Handle::events`]), controls its
//! services (kill, crash, stop, start), starts nginx's capped ceiling beside it, and stops
//! the stack when dropped. Three implementations: [`native::NativeStack`],
//! [`compose::ComposeStack`] and [`Attached`], a stack lab did not start (`bench --attach`,
//! or the compose stack seen from its lab container), which lab reads and may break on
//! purpose but never stops.

pub mod ceiling;
pub mod cgroup;
pub mod compose;
mod handle;
mod info;
pub mod native;
pub mod nginx;
pub(crate) mod process;
pub mod supervisor;
pub mod units;

use std::path::Path;

use anyhow::Context;

pub use self::handle::{Attached, Handle, Runtime, Stack, StackEvent};
pub use self::info::{load_info, CgroupPaths, ServiceInfo, StackInfo, UpOptions, STACK_FILE};
use crate::config::LabConfig;
use contract::RuntimeKind;

/// The runtime of a given kind.
pub fn runtime(kind: RuntimeKind, config: &LabConfig) -> Box<dyn Runtime> {
    let config = config.clone();
    match kind {
        RuntimeKind::Native => Box::new(native::NativeRuntime { config }),
        RuntimeKind::Compose => Box::new(compose::ComposeRuntime { config }),
    }
}

/// The stack recorded at `state_dir` (its `stack.json`), owned: dropping it stops it. None
/// when nothing is recorded there.
pub fn open(config: &LabConfig, state_dir: &Path) -> anyhow::Result<Option<Stack>> {
    let Some(info) = load_info(state_dir)? else {
        return Ok(None);
    };
    let handle = runtime(info.runtime, config).open(info, state_dir);
    Ok(Some(Stack::owned(handle)))
}

/// The stack recorded at `state_dir`, attached: read and controlled, never stopped by lab.
pub fn attach(config: &LabConfig, state_dir: &Path) -> anyhow::Result<Stack> {
    let info = load_info(state_dir)?.with_context(|| {
        format!(
            "--attach: no stack recorded in {} (start one with `lab up`, or write its stack.json there)",
            state_dir.join(STACK_FILE).display()
        )
    })?;
    let inner = runtime(info.runtime, config).open(info, state_dir);
    Ok(Stack::owned(Box::new(Attached { inner })))
}
