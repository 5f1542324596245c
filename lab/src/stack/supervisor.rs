//! The supervisor `lab up` leaves running (`lab __supervise`, detached with setsid): it creates
//! the cgroups, starts the services in order, seeds the database, then restarts any service
//! that dies, like compose's `restart: unless-stopped`, recording each death (OOM kills
//! included) in `events.jsonl` and `stack.json`. SIGTERM makes it stop everything it started,
//! remove the cgroups and exit.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::cgroup::{self, Hierarchy, Limits};
use super::info::{save_info, CgroupPaths, ServiceInfo, StackInfo};
use super::process::{self, CommandSpec};
use contract::{DbKind, RuntimeKind, StackState};

/// File name of the plan `lab up` writes for the supervisor.
pub const PLAN_FILE: &str = "plan.json";
/// Folder of hold files: while `<state>/hold/<service>` exists, a dead service is not
/// restarted (`native::stop_service` stops one on purpose; `native::start_service` removes
/// the file and the supervisor starts it again at its next poll).
pub const HOLD_DIR: &str = "hold";
/// Grace between SIGTERM and SIGKILL when stopping a service.
const STOP_GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(200);

/// Everything the supervisor needs, decided by `lab up` (so the supervisor makes no choices).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub stack_id: String,
    pub profile: String,
    pub db: DbKind,
    pub base_url: String,
    pub access_log: PathBuf,
    pub logs_dir: PathBuf,
    /// Services in start order (database, replicas, nginx); stopped in reverse.
    pub services: Vec<ServicePlan>,
    /// `app seed ...`, run once the database is ready and before the replicas start.
    pub seed: Option<CommandSpec>,
    pub seed_limits: Limits,
    pub ready_timeout_secs: u64,
    pub seed_timeout_secs: u64,
    /// The cgroup filesystem the services are capped under.
    pub cgroup_root: PathBuf,
}

/// One long-running service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServicePlan {
    pub name: String,
    pub command: CommandSpec,
    pub limits: Limits,
    pub addr: Option<String>,
    /// One-shot commands before the first start (initdb).
    pub init: Vec<CommandSpec>,
    /// Every probe must pass for the service to count as ready.
    pub ready: Vec<Probe>,
    /// One-shot commands after the first readiness (create the database).
    pub after_ready: Vec<CommandSpec>,
    /// Signal for a clean, fast stop (SIGINT for Postgres's fast shutdown, else SIGTERM).
    pub stop_signal: i32,
    /// Whether it is the database (the seed runs right after it is ready).
    pub is_db: bool,
}

/// A readiness check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Probe {
    /// `GET path` answers 200.
    Http { addr: String, path: String },
    /// The command exits 0 (pg_isready, mariadb-admin ping).
    Command { command: CommandSpec },
}

/// One line of `events.jsonl`.
#[derive(Debug, Serialize)]
struct Event<'a> {
    t: String,
    service: &'a str,
    event: &'a str,
    detail: String,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: i32) {
    STOP.store(true, Ordering::SeqCst);
}

struct Running {
    plan: ServicePlan,
    child: Option<Child>,
    cgroup: Option<CgroupPaths>,
    info: ServiceInfo,
    /// The cgroup's oom_kill counter when last looked at: a death by SIGKILL while it rose is
    /// an OOM kill (the counter also counts other processes of the cgroup, hence not copied).
    oom_counter_seen: u64,
    /// When the current process was started.
    started_at: Instant,
    /// Deaths in a row that came soon after a start (a crash loop): they space out restarts.
    quick_deaths: u32,
    /// When a dead service is due to be started again.
    restart_due: Option<Instant>,
}

/// A death this soon after a start counts towards a crash loop.
const QUICK_DEATH: Duration = Duration::from_secs(10);
/// The longest pause between restarts of a crash-looping service.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// No pause after a single death (a killed replica is back at once); then 0.5 s, 1 s, 2 s...
/// up to 5 s while the service keeps dying right after starting.
fn backoff(quick_deaths: u32) -> Duration {
    match quick_deaths {
        0 | 1 => Duration::ZERO,
        n => (Duration::from_millis(250) * 2u32.saturating_pow(n - 1)).min(MAX_BACKOFF),
    }
}

/// Entry point of `lab __supervise`.
pub fn run(state_dir: &Path) -> anyhow::Result<()> {
    let plan: Plan = serde_json::from_slice(
        &std::fs::read(state_dir.join(PLAN_FILE))
            .with_context(|| format!("no {PLAN_FILE} in {}", state_dir.display()))?,
    )?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut supervisor = Supervisor::new(state_dir, plan);
    match supervisor.start() {
        Ok(()) => {
            supervisor.info.state = StackState::Ready;
            supervisor.save();
            log::info!("stack ready at {}", supervisor.info.base_url);
            supervisor.watch();
            supervisor.stop_all();
            supervisor.info.state = StackState::Stopped;
            supervisor.save();
            Ok(())
        }
        Err(err) => {
            log::error!("start-up failed: {err:#}");
            supervisor.stop_all();
            supervisor.info.state = StackState::Failed;
            supervisor.info.error = Some(format!("{err:#}"));
            supervisor.save();
            Err(err)
        }
    }
}

struct Supervisor {
    state_dir: PathBuf,
    plan: Plan,
    hierarchy: Option<Hierarchy>,
    services: Vec<Running>,
    info: StackInfo,
    events_log: PathBuf,
}

impl Supervisor {
    fn new(state_dir: &Path, plan: Plan) -> Self {
        let events_log = state_dir.join("events.jsonl");
        let info = StackInfo {
            profile: plan.profile.clone(),
            profile_path: None,
            db: plan.db,
            base_url: plan.base_url.clone(),
            access_log: plan.access_log.clone(),
            capped: false,
            services: Vec::new(),
            runtime: RuntimeKind::Native,
            supervisor_pid: Some(std::process::id()),
            state: StackState::Starting,
            error: None,
            events_log: Some(events_log.clone()),
            warnings: Vec::new(),
            client_path: Some(crate::client_path::ClientPath::Loopback),
            published_url: None,
        };
        Self {
            state_dir: state_dir.to_path_buf(),
            hierarchy: cgroup::detect_host(&plan.cgroup_root),
            plan,
            services: Vec::new(),
            info,
            events_log,
        }
    }

    fn save(&mut self) {
        self.info.services = self.services.iter().map(|s| s.info.clone()).collect();
        if let Err(err) = save_info(&self.state_dir, &self.info) {
            log::error!("cannot write stack.json: {err:#}");
        }
    }

    fn event(&self, service: &str, event: &str, detail: String) {
        log::info!("{service}: {event} {detail}");
        let line = Event {
            t: chrono::Utc::now().to_rfc3339(),
            service,
            event,
            detail,
        };
        let written = serde_json::to_string(&line).map(|json| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.events_log)
                .and_then(|mut f| writeln!(f, "{json}"))
        });
        if !matches!(written, Ok(Ok(()))) {
            log::error!("cannot append to {}", self.events_log.display());
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.plan.logs_dir.join(format!("{name}.log"))
    }

    /// A cgroup for `name`, or None (and the run marked uncapped, loudly) when the machine
    /// has no writable cgroups.
    fn make_cgroup(&mut self, name: &str, limits: &Limits) -> Option<CgroupPaths> {
        let reason = match &self.hierarchy {
            None => "no cgroup hierarchy with cpu and memory controllers was found".to_owned(),
            Some(h) => match cgroup::create(h, &self.plan.stack_id, name, limits) {
                Ok(paths) => return Some(paths),
                Err(err) => format!("{err:#}"),
            },
        };
        let warning = format!("{name} runs UNCAPPED: {reason}");
        log::warn!("{warning}");
        self.info.warnings.push(warning);
        None
    }

    fn start(&mut self) -> anyhow::Result<()> {
        self.info.capped = true;
        self.save();
        let plans = self.plan.services.clone();
        let has_db = plans.iter().any(|s| s.is_db);
        if !has_db {
            self.seed()?;
        }
        for plan in plans {
            let cgroup = self.make_cgroup(&plan.name, &plan.limits);
            self.info.capped &= cgroup.is_some();
            let log = self.log_path(&plan.name);
            for init in &plan.init {
                process::run_to_completion(init, cgroup.as_ref(), &log, Duration::from_secs(120))
                    .with_context(|| format!("preparing {}", plan.name))?;
            }
            let info = ServiceInfo {
                name: plan.name.clone(),
                pid: None,
                cpu_limit: cgroup.as_ref().map(|_| plan.limits.cpus),
                cpu_period_us: cgroup.as_ref().map(|_| plan.limits.cpu_period_us),
                memory_limit_bytes: cgroup.as_ref().map(|_| plan.limits.memory_bytes),
                cgroup: cgroup.clone(),
                restarts: 0,
                oom_kills: 0,
                addr: plan.addr.clone(),
                start_time: None,
                container: None,
                engine_socket: None,
            };
            self.services.push(Running {
                plan: plan.clone(),
                child: None,
                cgroup,
                info,
                oom_counter_seen: 0,
                started_at: Instant::now(),
                quick_deaths: 0,
                restart_due: None,
            });
            let index = self.services.len() - 1;
            self.launch(index)?;
            self.save();
            self.wait_ready(index)?;
            for step in &plan.after_ready {
                process::run_to_completion(step, None, &log, Duration::from_secs(60))
                    .with_context(|| format!("setting up {}", plan.name))?;
            }
            self.event(&plan.name, "ready", String::new());
            if plan.is_db {
                self.seed()?;
            }
        }
        Ok(())
    }

    fn seed(&mut self) -> anyhow::Result<()> {
        let Some(seed) = self.plan.seed.clone() else {
            return Ok(());
        };
        let limits = self.plan.seed_limits;
        let cgroup = self.make_cgroup("seed", &limits);
        self.info.capped &= cgroup.is_some();
        let log = self.log_path("seed");
        self.event("seed", "start", seed.display());
        let result = process::run_to_completion(
            &seed,
            cgroup.as_ref(),
            &log,
            Duration::from_secs(self.plan.seed_timeout_secs),
        );
        if let Some(paths) = &cgroup {
            kill_cgroup_members(paths);
            if let Err(err) = cgroup::remove(paths) {
                log::warn!("{err:#}");
            }
        }
        result.context("seeding the database")?;
        self.event("seed", "done", String::new());
        Ok(())
    }

    fn launch(&mut self, index: usize) -> anyhow::Result<()> {
        let log = self.log_path(&self.services[index].plan.name);
        let running = &mut self.services[index];
        let child = process::spawn(&running.plan.command, running.cgroup.as_ref(), &log)?;
        running.info.pid = Some(child.id());
        running.info.start_time = process::start_time(child.id());
        running.child = Some(child);
        running.started_at = Instant::now();
        running.restart_due = None;
        Ok(())
    }

    fn wait_ready(&mut self, index: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.plan.ready_timeout_secs);
        let name = self.services[index].plan.name.clone();
        let log = self.log_path(&name);
        loop {
            if STOP.load(Ordering::SeqCst) {
                bail!("stopped while waiting for {name}");
            }
            if let Some(child) = self.services[index].child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "{name} exited during start-up ({status}); its log {} ends with:\n{}",
                        log.display(),
                        tail(&log, 15)
                    );
                }
            }
            let probes = &self.services[index].plan.ready;
            if probes.iter().all(|p| probe(p, &log)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{name} was not ready within {} s; its log {} ends with:\n{}",
                    self.plan.ready_timeout_secs,
                    log.display(),
                    tail(&log, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Restarts whatever dies until asked to stop.
    fn watch(&mut self) {
        while !STOP.load(Ordering::SeqCst) {
            for index in 0..self.services.len() {
                let exited = match self.services[index].child.as_mut().map(Child::try_wait) {
                    Some(Ok(Some(status))) => {
                        Some((status.to_string(), status.signal() == Some(libc::SIGKILL)))
                    }
                    Some(Err(err)) => Some((format!("wait failed: {err}"), false)),
                    _ => None,
                };
                if let Some((status, killed)) = exited {
                    self.record_death(index, status, killed);
                }
                if self.services[index]
                    .restart_due
                    .is_some_and(|due| Instant::now() >= due)
                    && !self.held(&self.services[index].plan.name)
                {
                    self.relaunch(index);
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether the service is stopped on purpose (a hold file exists): not restarted.
    fn held(&self, name: &str) -> bool {
        self.state_dir.join(HOLD_DIR).join(name).exists()
    }

    /// Notes a death (OOM or not), clears what the process left and schedules its restart.
    fn record_death(&mut self, index: usize, status: String, killed: bool) {
        let name = self.services[index].plan.name.clone();
        let oom = {
            let running = &mut self.services[index];
            let counter = running.cgroup.as_ref().map_or(0, cgroup::oom_kills);
            let oom = killed && counter > running.oom_counter_seen;
            running.oom_counter_seen = counter;
            if oom {
                running.info.oom_kills += 1;
            }
            // Leftovers of the dead process's group (nginx workers, database backends) would
            // hold its port or data: clear them before starting again.
            if let Some(pid) = running.info.pid {
                process::signal_group(pid, libc::SIGKILL);
            }
            if let Some(paths) = &running.cgroup {
                kill_cgroup_members(paths);
            }
            running.child = None;
            running.info.pid = None;
            if running.started_at.elapsed() < QUICK_DEATH {
                running.quick_deaths += 1;
            } else {
                running.quick_deaths = 1;
            }
            running.restart_due = Some(Instant::now() + backoff(running.quick_deaths));
            oom
        };
        let detail = if oom {
            format!("{status}, OOM-killed")
        } else if self.held(&name) {
            format!("{status}, stopped on purpose (held until started again)")
        } else {
            status
        };
        self.event(&name, "exited", detail);
        self.save();
    }

    fn relaunch(&mut self, index: usize) {
        let name = self.services[index].plan.name.clone();
        match self.launch(index) {
            Ok(()) => {
                self.services[index].info.restarts += 1;
                let pid = self.services[index].info.pid.unwrap_or_default();
                self.event(&name, "restarted", format!("pid {pid}"));
            }
            Err(err) => {
                let running = &mut self.services[index];
                running.quick_deaths += 1;
                running.restart_due = Some(Instant::now() + backoff(running.quick_deaths));
                self.event(&name, "restart_failed", format!("{err:#}"));
            }
        }
        self.save();
    }

    /// Stops every service in reverse start order and removes the cgroups.
    fn stop_all(&mut self) {
        for running in self.services.iter_mut().rev() {
            stop_service(running);
        }
        for running in &self.services {
            if let Some(paths) = &running.cgroup {
                if let Err(err) = cgroup::remove(paths) {
                    log::error!("{err:#}");
                }
            }
        }
        for running in &mut self.services {
            running.info.pid = None;
        }
        self.save();
    }
}

fn stop_service(running: &mut Running) {
    let Some(mut child) = running.child.take() else {
        if let Some(paths) = &running.cgroup {
            kill_cgroup_members(paths);
        }
        return;
    };
    process::signal_group(child.id(), running.plan.stop_signal);
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    process::signal_group(child.id(), libc::SIGKILL);
    let _ = child.wait();
    if let Some(paths) = &running.cgroup {
        kill_cgroup_members(paths);
    }
}

/// SIGKILLs every process left in a cgroup and waits (briefly) until it is empty.
pub fn kill_cgroup_members(paths: &CgroupPaths) {
    for _ in 0..50 {
        let pids = cgroup::pids(paths);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            process::signal(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn probe(probe: &Probe, log: &Path) -> bool {
    match probe {
        Probe::Http { addr, path } => {
            process::http_get(addr, path, Duration::from_secs(2)).is_ok_and(|status| status == 200)
        }
        Probe::Command { command } => {
            process::run_to_completion(command, None, log, Duration::from_secs(5)).is_ok()
        }
    }
}

/// The last `lines` lines of a log, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_death_restarts_at_once_and_a_crash_loop_backs_off_to_five_seconds() {
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(9), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
