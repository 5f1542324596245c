//! The readers behind a `Source`: cgroup v1/v2 files, the Docker Engine API, /proc.

use std::fs;
use std::path::Path;

use super::counters::Counters;
use crate::docker::Engine;

/// A container's counters from one `stats` call. `usage` is the same figure as cgroup v1's
/// `memory.usage_in_bytes` (v2: `memory.current`) that native runs read; the engine's
/// `max_usage` counts from the container's start, so a step's peak comes from the samples.
pub(super) fn read_container(engine: &Engine, container: &str) -> Counters {
    match engine.stats(container) {
        Ok(stats) => Counters {
            cpu_usage_ns: stats.cpu_usage_ns,
            periods: stats.periods,
            throttled_periods: stats.throttled_periods,
            throttled_ns: stats.throttled_ns,
            memory_current_bytes: stats.memory_usage_bytes,
            memory_peak_bytes: stats.memory_max_usage_bytes,
            oom_kills: 0,
            read_at: stats.read_at,
        },
        Err(err) => {
            // A container being restarted has no stats for a moment: read as zero, like a
            // cgroup file that is missing.
            log::debug!("{container}: {err:#}");
            Counters::default()
        }
    }
}

pub(super) fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (cpu.stat, memory.events, memory.oom_control).
pub(super) fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(char::is_whitespace)?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

pub(super) fn read_v1(cpu: &Path, cpuacct: &Path, memory: &Path) -> Counters {
    let stat = cpu.join("cpu.stat");
    Counters {
        cpu_usage_ns: read_u64(&cpuacct.join("cpuacct.usage")).unwrap_or(0),
        periods: read_keyed(&stat, "nr_periods").unwrap_or(0),
        throttled_periods: read_keyed(&stat, "nr_throttled").unwrap_or(0),
        throttled_ns: read_keyed(&stat, "throttled_time").unwrap_or(0),
        memory_current_bytes: read_u64(&memory.join("memory.usage_in_bytes")).unwrap_or(0),
        memory_peak_bytes: read_u64(&memory.join("memory.max_usage_in_bytes")),
        oom_kills: read_keyed(&memory.join("memory.oom_control"), "oom_kill").unwrap_or(0),
        read_at: None,
    }
}

pub(super) fn read_v2(dir: &Path) -> Counters {
    let stat = dir.join("cpu.stat");
    Counters {
        cpu_usage_ns: read_keyed(&stat, "usage_usec").unwrap_or(0) * 1000,
        periods: read_keyed(&stat, "nr_periods").unwrap_or(0),
        throttled_periods: read_keyed(&stat, "nr_throttled").unwrap_or(0),
        throttled_ns: read_keyed(&stat, "throttled_usec").unwrap_or(0) * 1000,
        memory_current_bytes: read_u64(&dir.join("memory.current")).unwrap_or(0),
        memory_peak_bytes: read_u64(&dir.join("memory.peak")),
        oom_kills: read_keyed(&dir.join("memory.events"), "oom_kill").unwrap_or(0),
        read_at: None,
    }
}

/// Clock ticks per second for /proc's CPU fields.
pub(super) fn ticks_per_second() -> u64 {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// `/proc/<pid>/stat`: (parent pid, user + system ticks of the whole thread group).
pub(super) fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// (RSS, peak RSS) in bytes from /proc/<pid>/status.
pub(super) fn proc_memory(pid: u32) -> (u64, u64) {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (0, 0);
    };
    let kb = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// A process and its descendants (nginx's workers, postgres' backends).
pub(crate) fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some((ppid, _)) = proc_stat(pid) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        index += 1;
    }
    tree
}

pub(super) fn read_proc_tree(root: u32) -> Counters {
    let ns_per_tick = 1_000_000_000 / ticks_per_second();
    let mut counters = Counters {
        memory_peak_bytes: Some(0),
        ..Counters::default()
    };
    for pid in process_tree(root) {
        let Some((_, ticks)) = proc_stat(pid) else {
            continue;
        };
        let (rss, hwm) = proc_memory(pid);
        counters.cpu_usage_ns += ticks * ns_per_tick;
        counters.memory_current_bytes += rss;
        counters.memory_peak_bytes = counters.memory_peak_bytes.map(|p| p + hwm);
    }
    counters
}

/// CPU time of one process (all threads), seconds: siege's CPU while it runs.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let (_, ticks) = proc_stat(pid)?;
    Some(ticks as f64 / ticks_per_second() as f64)
}
