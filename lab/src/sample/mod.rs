//! Resource sampling of the stack's services: cgroup counters (v1 or v2) when the native
//! runtime gives the service's cgroup, the Docker Engine API when the compose runtime gives its
//! container, else /proc for its process tree. Counters are cumulative; `Counters::delta`
//! turns two readings into what a step or a second used. `HostCpu` reads the whole machine.
//!
//! Containers are read through the engine rather than through their cgroup files because the
//! files are only visible from the host, and only on Linux: from the lab container, or with
//! Docker Desktop's VM, the engine is the one reader that works everywhere.

use std::fs;
use std::time::SystemTime;

use chrono::Utc;

use crate::docker::Engine;
use crate::results::{HostUsage, ServiceUsage};
use crate::stack::{CgroupPaths, ServiceInfo};

mod counters;
pub mod fingerprint;
pub mod machine;
mod readers;

pub use readers::process_cpu_seconds;

/// Open file descriptors of a process (entries of `/proc/<pid>/fd`); None where unreadable.
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Open file descriptors of a process and all its descendants (nginx's master and workers).
pub fn tree_open_fds(pid: u32) -> Option<u64> {
    let counts: Vec<u64> = readers::process_tree(pid)
        .into_iter()
        .filter_map(open_fds)
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}
pub use counters::{Counters, Delta};
use readers::*;

/// Where a service's counters come from.
#[derive(Debug, Clone)]
pub enum Source {
    Cgroup(CgroupPaths),
    /// A process and its descendants.
    Proc(u32),
    /// A container, read from the Docker Engine API (`/containers/{id}/stats`).
    Docker {
        engine: Engine,
        container: String,
    },
    /// Nothing to read (e.g. a stopped service): all zeros.
    None,
}

impl Source {
    pub fn of(service: &ServiceInfo) -> Self {
        if let Some(container) = &service.container {
            return match &service.engine_socket {
                Some(socket) => Source::Docker {
                    engine: Engine::at(socket),
                    container: container.clone(),
                },
                None => {
                    log::warn!("{}: not measured: no engine socket recorded", service.name);
                    Source::None
                }
            };
        }
        match (&service.cgroup, service.pid) {
            (Some(paths), _) => Source::Cgroup(paths.clone()),
            (None, Some(pid)) => Source::Proc(pid),
            (None, None) => Source::None,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Source::Cgroup(CgroupPaths::V1 { .. }) => "cgroup v1",
            Source::Cgroup(CgroupPaths::V2 { .. }) => "cgroup v2",
            Source::Proc(_) => "proc",
            Source::Docker { .. } => "docker api",
            Source::None => "none",
        }
    }

    /// Reads the counters; missing files read as zero (a service that just restarted).
    pub fn read(&self) -> Counters {
        let mut counters = self.read_counters();
        counters.read_at = counters.read_at.or_else(|| Some(Utc::now()));
        counters
    }

    fn read_counters(&self) -> Counters {
        match self {
            Source::Cgroup(CgroupPaths::V1 {
                cpu,
                cpuacct,
                memory,
            }) => read_v1(cpu, cpuacct, memory),
            Source::Cgroup(CgroupPaths::V2 { dir }) => read_v2(dir),
            Source::Proc(pid) => read_proc_tree(*pid),
            Source::Docker { engine, container } => read_container(engine, container),
            Source::None => Counters::default(),
        }
    }

    /// Restarts so far, where the source itself knows them (the engine's `RestartCount`).
    fn restarts(&self) -> Option<u64> {
        match self {
            Source::Docker { engine, container } => engine
                .inspect(container)
                .map_err(|err| log::debug!("{container}: {err:#}"))
                .ok()
                .map(|state| u64::from(state.restart_count)),
            _ => None,
        }
    }

    /// OOM kills between two instants, where they are counted as events rather than by a
    /// counter file (the engine's `oom` events; cgroup v1 containers expose no counter).
    fn oom_events(&self, since: SystemTime, until: SystemTime) -> Option<u64> {
        let Source::Docker { engine, container } = self else {
            return None;
        };
        match engine.events(since, until, &["oom"]) {
            Ok(events) => Some(events.iter().filter(|e| e.is_about(container)).count() as u64),
            Err(err) => {
                log::warn!("{container}: OOM events not read: {err:#}");
                None
            }
        }
    }

    /// Starts a new peak window: v1's max_usage_in_bytes is reset by writing 0 (v2's
    /// memory.peak cannot be reset portably; the step's peak then comes from samples).
    pub fn reset_peak(&self) {
        if let Source::Cgroup(CgroupPaths::V1 { memory, .. }) = self {
            if let Err(err) = fs::write(memory.join("memory.max_usage_in_bytes"), "0") {
                log::debug!("cannot reset {}: {err}", memory.display());
            }
        }
    }

    /// True when the kernel's peak is per step (reset at the step's start).
    pub fn peak_is_per_step(&self) -> bool {
        matches!(self, Source::Cgroup(CgroupPaths::V1 { .. }))
    }
}

/// A service followed through a step.
pub struct Tracked {
    pub service: ServiceInfo,
    pub source: Source,
    pub start: Counters,
    pub last: Counters,
    /// Highest memory seen in per-second samples during the step.
    pub sampled_peak_bytes: u64,
    /// When following started (the window of the engine's OOM events).
    started: SystemTime,
    /// Restarts before the step (the engine's count, else the native supervisor's).
    start_restarts: u64,
    /// True once `finish` took the last reading.
    finished: bool,
}

impl Tracked {
    /// Starts following a service: resets its peak window and takes the first reading.
    pub fn start(service: &ServiceInfo) -> Self {
        let source = Source::of(service);
        source.reset_peak();
        let start = source.read();
        Self {
            service: service.clone(),
            sampled_peak_bytes: start.memory_current_bytes,
            last: start,
            start,
            started: SystemTime::now(),
            start_restarts: source.restarts().unwrap_or(u64::from(service.restarts)),
            source,
            finished: false,
        }
    }

    /// Takes a reading; returns it, what the interval since the previous one used, and that
    /// interval's length in seconds (between the two readings' own times).
    pub fn sample(&mut self) -> (Counters, Delta, f64) {
        let now = self.source.read();
        let delta = self.last.delta(&now);
        let secs = self.last.secs_until(&now).unwrap_or(0.0);
        self.sampled_peak_bytes = self.sampled_peak_bytes.max(now.memory_current_bytes);
        self.last = now;
        (now, delta, secs)
    }

    /// Takes the step's last reading now (right as the load ends), for `usage` to use.
    pub fn finish(&mut self) {
        self.sample();
        self.finished = true;
    }

    /// The step's usage. CPU is over the load's own seconds (`load_secs`): the first reading
    /// is taken before siege starts and the last after it ends, with the stack idle on either
    /// side. Not over the span between the two readings: a container's reading waits for the
    /// engine's once-a-second collector, so that span holds up to a second of idle stack at
    /// each end, and dividing by it understated a container's CPU (nginx pinned at its 0.1
    /// cap read as 0.08). `latest` is the service as the runtime sees it now (the native
    /// supervisor's restart count); None keeps the count seen at the start.
    pub fn usage(&mut self, load_secs: f64, latest: Option<&ServiceInfo>) -> ServiceUsage {
        if !self.finished {
            self.finish();
        }
        let end = self.last;
        let delta = self.start.delta(&end);
        let oom_kills = self
            .source
            .oom_events(self.started, SystemTime::now())
            .unwrap_or(delta.oom_kills);
        let restarts_now = self
            .source
            .restarts()
            .unwrap_or_else(|| latest.map_or(self.start_restarts, |s| u64::from(s.restarts)));
        let kernel_peak = end
            .memory_peak_bytes
            .filter(|_| self.source.peak_is_per_step())
            .unwrap_or(0);
        ServiceUsage {
            name: self.service.name.clone(),
            source: self.source.label().to_owned(),
            cpu_seconds: delta.cpu_seconds,
            cpu_cores: if load_secs > 0.0 {
                delta.cpu_seconds / load_secs
            } else {
                0.0
            },
            cpu_limit_cores: self.service.cpu_limit,
            cpu_periods: delta.periods,
            cpu_throttled_periods: delta.throttled_periods,
            cpu_throttled_secs: delta.throttled_secs,
            cpu_throttled_percent: delta.throttled_percent(),
            memory_current_bytes: end.memory_current_bytes,
            memory_peak_bytes: kernel_peak.max(self.sampled_peak_bytes),
            memory_limit_bytes: self.service.memory_limit_bytes,
            oom_kills,
            restarts: restarts_now.saturating_sub(self.start_restarts),
        }
    }
}

/// `f` on every item at once, one thread each, in the items' order: a container's `stats`
/// call can take most of a second, and one service after another would stretch a reading
/// over several. Each result is Err when its thread panicked.
fn at_once<I: Send, R: Send>(
    items: impl IntoIterator<Item = I>,
    f: impl Fn(I) -> R + Sync,
) -> Vec<std::thread::Result<R>> {
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    })
}

/// `Tracked::start` for every service at once: one after another, the engine's stats calls
/// made the stack wait seconds before siege started.
pub fn start_all(services: &[ServiceInfo]) -> Vec<Tracked> {
    at_once(services, Tracked::start)
        .into_iter()
        .zip(services)
        .map(|(started, service)| started.unwrap_or_else(|_| Tracked::start(service)))
        .collect()
}

/// Samples every service at once.
pub fn sample_all(tracked: &mut [Tracked]) -> Vec<(Counters, Delta, f64)> {
    at_once(tracked.iter_mut(), Tracked::sample)
        .into_iter()
        .map(Result::unwrap_or_default)
        .collect()
}

/// `Tracked::finish` for every service at once, right as the load ends.
pub fn finish_all(tracked: &mut [Tracked]) {
    for finished in at_once(tracked.iter_mut(), Tracked::finish) {
        if let Err(panic) = finished {
            std::panic::resume_unwind(panic);
        }
    }
}

/// The whole machine's CPU from `/proc/stat`'s first line: busy and total jiffies.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostCpu {
    busy: u64,
    total: u64,
    cores: usize,
}

impl HostCpu {
    /// Reads `/proc/stat` now; None where it cannot be read (not Linux).
    pub fn read() -> Option<Self> {
        Self::parse(&fs::read_to_string("/proc/stat").ok()?)
    }

    /// `cpu  user nice system idle iowait irq softirq steal guest guest_nice` plus one
    /// `cpuN` line per core. Busy is everything but idle and iowait; guest time is already
    /// inside user and nice, so it is not added twice.
    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let first = lines.next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = first
            .split_whitespace()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let field = |i: usize| fields.get(i).copied().unwrap_or(0);
        let total: u64 = (0..8).map(field).sum();
        let idle = field(3) + field(4);
        let cores = lines
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        Some(Self {
            busy: total - idle,
            total,
            cores,
        })
    }

    /// The machine's CPU between this reading and a later one.
    pub fn usage_until(&self, later: &HostCpu) -> HostUsage {
        let total = later.total.saturating_sub(self.total);
        let busy = later.busy.saturating_sub(self.busy);
        let share = if total == 0 {
            0.0
        } else {
            busy as f64 / total as f64
        };
        let cores = later.cores.max(1);
        HostUsage {
            cores: later.cores,
            cpu_busy_cores: share * cores as f64,
            cpu_busy_percent: 100.0 * share,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::readers::{process_cpu_seconds, process_tree};
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn step_cpu_is_over_the_load_not_over_the_readings_span() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "cpu.stat",
            "usage_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
        );
        write(d, "memory.current", "0\n");
        let service = ServiceInfo {
            name: "nginx".into(),
            pid: None,
            cpu_limit: Some(0.1),
            cpu_period_us: Some(100_000),
            memory_limit_bytes: None,
            cgroup: Some(CgroupPaths::V2 { dir: d.into() }),
            restarts: 0,
            oom_kills: 0,
            addr: None,
            start_time: None,
            container: None,
            engine_socket: None,
        };
        let mut tracked = start_all(std::slice::from_ref(&service));
        assert_eq!(tracked.len(), 1);
        // One second of CPU over a ten-second load, the two readings milliseconds apart (as
        // an engine's readings can be further apart than the load): 0.1 cores, not a second
        // over the readings' own span.
        write(
            d,
            "cpu.stat",
            "usage_usec 1000000\nnr_periods 100\nnr_throttled 99\nthrottled_usec 9000000\n",
        );
        let usage = tracked[0].usage(10.0, None);
        assert_eq!(usage.cpu_seconds, 1.0);
        assert!((usage.cpu_cores - 0.1).abs() < 1e-9, "{}", usage.cpu_cores);
        assert_eq!(usage.cpu_throttled_periods, 99);
    }

    #[test]
    fn v2_counters_are_read_in_their_units() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 100\nnr_throttled 40\nthrottled_usec 1500000\n");
        write(d, "memory.current", "104857600\n");
        write(d, "memory.peak", "209715200\n");
        write(
            d,
            "memory.events",
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        );
        let c = Source::Cgroup(CgroupPaths::V2 { dir: d.into() }).read();
        assert_eq!(c.cpu_usage_ns, 2_500_000_000);
        assert_eq!((c.periods, c.throttled_periods), (100, 40));
        assert_eq!(c.throttled_ns, 1_500_000_000);
        assert_eq!(c.memory_current_bytes, 104_857_600);
        assert_eq!(c.memory_peak_bytes, Some(209_715_200));
        assert_eq!(c.oom_kills, 1);
    }

    #[test]
    fn v1_counters_are_read_from_three_controllers() {
        let dir = tempfile::tempdir().unwrap();
        let (cpu, acct, mem) = (
            dir.path().join("c"),
            dir.path().join("a"),
            dir.path().join("m"),
        );
        for d in [&cpu, &acct, &mem] {
            fs::create_dir(d).unwrap();
        }
        write(
            &cpu,
            "cpu.stat",
            "nr_periods 10\nnr_throttled 5\nthrottled_time 7000000\n",
        );
        write(&acct, "cpuacct.usage", "3000000000\n");
        write(&mem, "memory.usage_in_bytes", "4096\n");
        write(&mem, "memory.max_usage_in_bytes", "8192\n");
        write(
            &mem,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        let source = Source::Cgroup(CgroupPaths::V1 {
            cpu,
            cpuacct: acct,
            memory: mem.clone(),
        });
        let c = source.read();
        assert_eq!(c.cpu_usage_ns, 3_000_000_000);
        assert_eq!(c.throttled_ns, 7_000_000);
        assert_eq!(c.memory_peak_bytes, Some(8192));
        assert_eq!(c.oom_kills, 2);
        source.reset_peak();
        assert_eq!(
            fs::read_to_string(mem.join("memory.max_usage_in_bytes")).unwrap(),
            "0"
        );
    }

    #[test]
    fn deltas_survive_a_restart() {
        let before = Counters {
            cpu_usage_ns: 5_000_000_000,
            periods: 50,
            throttled_periods: 10,
            ..Default::default()
        };
        let after = Counters {
            cpu_usage_ns: 6_500_000_000,
            periods: 150,
            throttled_periods: 60,
            ..Default::default()
        };
        let d = before.delta(&after);
        assert!((d.cpu_seconds - 1.5).abs() < 1e-9);
        assert_eq!(d.throttled_percent(), 50.0);
        let restarted = Counters {
            cpu_usage_ns: 1_000_000_000,
            ..Default::default()
        };
        assert!((before.delta(&restarted).cpu_seconds - 1.0).abs() < 1e-9);
    }

    #[test]
    fn host_cpu_counts_everything_but_idle_and_iowait() {
        let before = HostCpu::parse(
            "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\nintr 1\n",
        )
        .unwrap();
        assert_eq!(before.cores, 2);
        // 200 jiffies later: 150 busy (user 120, system 20, irq 10), 50 idle.
        let after = HostCpu::parse(
            "cpu  220 0 70 850 50 10 0 0 0 0\ncpu0 110 0 35 425 25 5 0 0 0 0\ncpu1 110 0 35 425 25 5 0 0 0 0\n",
        )
        .unwrap();
        let usage = before.usage_until(&after);
        assert_eq!(usage.cores, 2);
        assert!((usage.cpu_busy_percent - 75.0).abs() < 1e-9);
        assert!((usage.cpu_busy_cores - 1.5).abs() < 1e-9);
        assert!(HostCpu::parse("intr 1\n").is_none());
        assert!(HostCpu::read().is_some_and(|h| h.cores >= 1));
    }

    #[test]
    fn a_busy_process_tree_is_seen_in_proc() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        let source = Source::Proc(std::process::id());
        std::thread::sleep(std::time::Duration::from_millis(300));
        let c = source.read();
        assert!(c.memory_current_bytes > 1_000_000);
        assert!(c.cpu_usage_ns > 0);
        assert!(process_tree(std::process::id()).contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(process_cpu_seconds(std::process::id()).is_some());
    }
}
