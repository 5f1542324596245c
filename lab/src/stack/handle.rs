//! The handle on a running stack: what every command asks of it and does to it, the owner
//! that stops it when dropped, and the way to hold a stack lab did not start.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::ceiling::CappedNginx;
use super::info::{StackInfo, UpOptions};
use crate::profile::Profile;

/// A way to start the stack.
pub trait Runtime {
    /// Starts everything and returns once nginx answers and every replica is ready; the
    /// handle stops the stack when dropped.
    fn up(&self, opts: &UpOptions) -> anyhow::Result<Stack>;
    /// A handle on the stack this runtime started from `state_dir` (for `lab down` and
    /// `lab status`: it stops the stack when dropped unless kept running).
    fn open(&self, info: StackInfo, state_dir: &Path) -> Box<dyn Handle>;
}

/// What a running stack answers and what can be done to it.
pub trait Handle {
    /// The stack as it was last seen (as started, or the last `status`).
    fn info(&self) -> &StackInfo;
    /// The stack as it runs now: fresh PIDs, containers, restart and OOM-kill counts.
    fn status(&self) -> anyhow::Result<StackInfo>;
    /// What its runtime recorded since `since`: exits, restarts, OOM kills, stops, starts.
    fn events(&self, since: SystemTime) -> Vec<StackEvent>;
    /// SIGKILLs a service's main process, as a crash of that process would; its runtime
    /// (the native supervisor, the engine's restart policy) must bring it back. Returns the
    /// PID killed.
    fn kill(&self, service: &str) -> anyhow::Result<u32>;
    /// SIGKILLs every process of a service at once, as a crash or an OOM kill of its
    /// container would. Returns the main PID.
    fn crash(&self, service: &str) -> anyhow::Result<u32>;
    /// Stops a service on purpose (its clean-stop signal first, SIGKILL after `timeout`) and
    /// keeps it stopped.
    fn stop_service(&self, service: &str, timeout: Duration) -> anyhow::Result<()>;
    /// Starts a service stopped by `stop_service`; returns its new main PID.
    fn start_service(&self, service: &str, timeout: Duration) -> anyhow::Result<u32>;
    /// Starts nginx's capped ceiling beside the stack: its nginx.conf under `profile`'s
    /// nginx caps, proxying to a trivial upstream (`upstream`, natively: siege's ceiling
    /// nginx). Dropping it removes it.
    fn nginx_ceiling(
        &self,
        profile: &Profile,
        upstream: &str,
        dir: &Path,
    ) -> anyhow::Result<Box<dyn CappedNginx>>;
    /// Stops exactly what `up` started; a second call does nothing.
    fn down(&mut self) -> anyhow::Result<()>;
}

/// A handle that stops its stack when dropped (unless [`Stack::keep_running`]).
pub struct Stack {
    handle: Option<Box<dyn Handle>>,
}

impl Stack {
    pub fn owned(handle: Box<dyn Handle>) -> Self {
        Self {
            handle: Some(handle),
        }
    }

    /// Stops the stack now, reporting a failure (dropping it only warns).
    pub fn down(mut self) -> anyhow::Result<()> {
        match self.handle.take() {
            Some(mut handle) => handle.down(),
            None => Ok(()),
        }
    }

    /// Leaves the stack running (`lab up`) and returns what it is.
    pub fn keep_running(mut self) -> StackInfo {
        self.handle
            .take()
            .map(|h| h.info().clone())
            .expect("a stack's handle lives until it is dropped")
    }
}

impl std::ops::Deref for Stack {
    type Target = dyn Handle;

    fn deref(&self) -> &(dyn Handle + 'static) {
        self.handle
            .as_deref()
            .expect("a stack's handle lives until it is dropped")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut handle) = self.handle.take() {
            if let Err(err) = handle.down() {
                eprintln!("lab: warning: stopping the stack failed: {err:#}");
            }
        }
    }
}

/// A stack lab did not start: every question and every fault goes to the runtime that did,
/// but nothing stops it, and no capped ceiling is started beside it (lab cannot know how it
/// was placed).
pub struct Attached {
    pub inner: Box<dyn Handle>,
}

impl Handle for Attached {
    fn info(&self) -> &StackInfo {
        self.inner.info()
    }
    fn status(&self) -> anyhow::Result<StackInfo> {
        self.inner.status()
    }
    fn events(&self, since: SystemTime) -> Vec<StackEvent> {
        self.inner.events(since)
    }
    fn kill(&self, service: &str) -> anyhow::Result<u32> {
        self.inner.kill(service)
    }
    fn crash(&self, service: &str) -> anyhow::Result<u32> {
        self.inner.crash(service)
    }
    fn stop_service(&self, service: &str, timeout: Duration) -> anyhow::Result<()> {
        self.inner.stop_service(service, timeout)
    }
    fn start_service(&self, service: &str, timeout: Duration) -> anyhow::Result<u32> {
        self.inner.start_service(service, timeout)
    }
    fn nginx_ceiling(
        &self,
        _: &Profile,
        _: &str,
        _: &Path,
    ) -> anyhow::Result<Box<dyn CappedNginx>> {
        anyhow::bail!("an attached stack gets no capped ceiling: lab did not place its nginx")
    }
    fn down(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// One thing a stack's runtime recorded: a service exited, was restarted, OOM-killed,
/// stopped or started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackEvent {
    /// When, RFC 3339 (UTC).
    pub t: String,
    /// The service (`app1`, `nginx`, `db`, ...).
    pub service: String,
    /// What happened: the supervisor's `exit`, `restart`, `ready`...; the engine's `die`,
    /// `oom`, `restart`, `start`, `stop`, `kill`.
    pub event: String,
    /// Exit code, signal, container id or PID, as the runtime gave them.
    #[serde(default)]
    pub detail: String,
}
