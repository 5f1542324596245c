//! Creating, limiting, filling and removing the cgroups the native runtime runs services in,
//! on cgroup v1 (one directory per controller) and v2 (one unified directory).
//!
//! Layout: v2 `<root>/lab/<stack-id>/<service>`; v1 `<root>/<controller>/<own>/lab/<stack-id>/
//! <service>` for `cpu`, `cpuacct` and `memory`, where `<own>` is the cgroup `lab` itself runs in
//! for that controller (from /proc/self/cgroup). Nesting under our own v1 cgroup keeps the
//! services inside whatever limits and accounting the caller is under instead of escaping them.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use super::info::CgroupPaths;

/// The default mount point of the cgroup file systems; `LAB_CGROUP_ROOT` overrides it.
pub use crate::config::DEFAULT_CGROUP_ROOT as DEFAULT_ROOT;
const V1_CONTROLLERS: [&str; 3] = ["cpu", "cpuacct", "memory"];

/// Which cgroup hierarchy a machine has, and where the stack's cgroups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// One directory per controller, each `<root>/<controller>/<own path>/lab`.
    V1 {
        cpu: PathBuf,
        cpuacct: PathBuf,
        memory: PathBuf,
    },
    /// `<root>/lab`, plus the root itself (controllers are enabled from there down).
    V2 { root: PathBuf },
}

/// A service's caps: the contract's type, as a profile sets them.
pub use contract::profile::Cap as Limits;

/// Counters read from a service's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used by every process ever in the cgroup, in nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub memory_peak_bytes: Option<u64>,
}

/// Detects the hierarchy under `root`. `own_cgroups` is the text of /proc/self/cgroup (v1
/// parents are nested under it); pass None to place them at the controller roots.
pub fn detect(root: &Path, own_cgroups: Option<&str>) -> Option<Hierarchy> {
    if root.join("cgroup.controllers").is_file() {
        return Some(Hierarchy::V2 {
            root: root.to_path_buf(),
        });
    }
    if !V1_CONTROLLERS.iter().all(|c| root.join(c).is_dir()) {
        return None;
    }
    let parent = |controller: &str| {
        let own = own_cgroups
            .and_then(|text| own_v1_path(text, controller))
            .unwrap_or_default();
        root.join(controller)
            .join(own.trim_start_matches('/'))
            .join("lab")
    };
    Some(Hierarchy::V1 {
        cpu: parent("cpu"),
        cpuacct: parent("cpuacct"),
        memory: parent("memory"),
    })
}

/// The path of our own v1 cgroup for `controller` in /proc/self/cgroup's text.
fn own_v1_path(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_owned())
    })
}

/// Detects the machine's hierarchy (with `lab`'s own cgroups for v1 nesting).
pub fn detect_host(root: &Path) -> Option<Hierarchy> {
    let own = if root == Path::new(DEFAULT_ROOT) {
        fs::read_to_string("/proc/self/cgroup").ok()
    } else {
        None
    };
    detect(root, own.as_deref())
}

/// Creates `<stack_id>/<service>` and writes the caps. On v1 the swap cap
/// (`memory.memsw.limit_in_bytes`) equals the memory cap when the kernel has the file; on v2
/// `memory.swap.max` is 0. Either way swap cannot stretch the cap.
pub fn create(
    hierarchy: &Hierarchy,
    stack_id: &str,
    service: &str,
    limits: &Limits,
) -> anyhow::Result<CgroupPaths> {
    // The profile checked the quota against the kernel's 1 ms floor (contract::profile).
    let (quota_us, period_us) = (limits.cpu_quota_us().max(1_000), limits.cpu_period_us);
    match hierarchy {
        Hierarchy::V1 {
            cpu,
            cpuacct,
            memory,
        } => {
            let paths = CgroupPaths::V1 {
                cpu: cpu.join(stack_id).join(service),
                cpuacct: cpuacct.join(stack_id).join(service),
                memory: memory.join(stack_id).join(service),
            };
            let CgroupPaths::V1 {
                cpu,
                cpuacct,
                memory,
            } = &paths
            else {
                unreachable!("built as V1 just above")
            };
            for dir in [cpu, cpuacct, memory] {
                make_dir(dir)?;
            }
            write(cpu, "cpu.cfs_period_us", &period_us.to_string())?;
            write(cpu, "cpu.cfs_quota_us", &quota_us.to_string())?;
            write(
                memory,
                "memory.limit_in_bytes",
                &limits.memory_bytes.to_string(),
            )?;
            if memory.join("memory.memsw.limit_in_bytes").exists() {
                write(
                    memory,
                    "memory.memsw.limit_in_bytes",
                    &limits.memory_bytes.to_string(),
                )?;
            }
            Ok(paths)
        }
        Hierarchy::V2 { root } => {
            let stack_dir = root.join("lab").join(stack_id);
            let dir = stack_dir.join(service);
            // Controllers must be enabled in every ancestor's subtree_control.
            for ancestor in [root.clone(), root.join("lab"), stack_dir.clone()] {
                make_dir(&ancestor)?;
                write(&ancestor, "cgroup.subtree_control", "+cpu +memory")?;
            }
            make_dir(&dir)?;
            write(&dir, "cpu.max", &format!("{quota_us} {period_us}"))?;
            write(&dir, "memory.max", &limits.memory_bytes.to_string())?;
            if dir.join("memory.swap.max").exists() {
                write(&dir, "memory.swap.max", "0")?;
            }
            Ok(CgroupPaths::V2 { dir })
        }
    }
}

fn make_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow!("cannot create cgroup {}: {e}", dir.display())),
    }
}

fn write(dir: &Path, file: &str, value: &str) -> anyhow::Result<()> {
    let path = dir.join(file);
    fs::write(&path, value).with_context(|| format!("cannot write {value:?} to {}", path.display()))
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// Every distinct directory of a service's cgroup.
pub fn dirs(paths: &CgroupPaths) -> Vec<&Path> {
    match paths {
        CgroupPaths::V1 {
            cpu,
            cpuacct,
            memory,
        } => {
            let mut dirs = vec![cpu.as_path(), cpuacct.as_path(), memory.as_path()];
            dirs.dedup();
            dirs
        }
        CgroupPaths::V2 { dir } => vec![dir.as_path()],
    }
}

/// The `cgroup.procs` files a new process must be written into.
pub fn procs_files(paths: &CgroupPaths) -> Vec<PathBuf> {
    dirs(paths)
        .into_iter()
        .map(|d| d.join("cgroup.procs"))
        .collect()
}

/// PIDs of every process in the cgroup (all controllers' directories together).
pub fn pids(paths: &CgroupPaths) -> Vec<u32> {
    let mut pids: Vec<u32> = dirs(paths)
        .into_iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The caps as the kernel holds them: CPUs and memory bytes.
pub fn read_limits(paths: &CgroupPaths) -> (Option<f64>, Option<u64>) {
    match paths {
        CgroupPaths::V1 { cpu, memory, .. } => {
            let quota: Option<i64> =
                read_trimmed(&cpu.join("cpu.cfs_quota_us")).and_then(|s| s.parse().ok());
            let period: Option<i64> =
                read_trimmed(&cpu.join("cpu.cfs_period_us")).and_then(|s| s.parse().ok());
            let cpus = match (quota, period) {
                (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
                _ => None,
            };
            let memory =
                read_trimmed(&memory.join("memory.limit_in_bytes")).and_then(|s| s.parse().ok());
            (cpus, memory)
        }
        CgroupPaths::V2 { dir } => {
            let cpus = read_trimmed(&dir.join("cpu.max")).and_then(|s| {
                let (quota, period) = s.split_once(' ')?;
                Some(quota.parse::<f64>().ok()? / period.parse::<f64>().ok()?)
            });
            let memory = read_trimmed(&dir.join("memory.max")).and_then(|s| s.parse().ok());
            (cpus, memory)
        }
    }
}

/// CPU and memory counters; None where the kernel lacks a file (e.g. memory.peak before 5.19).
pub fn usage(paths: &CgroupPaths) -> Usage {
    let number = |path: PathBuf| read_trimmed(&path).and_then(|s| s.parse::<u64>().ok());
    match paths {
        CgroupPaths::V1 {
            cpuacct, memory, ..
        } => Usage {
            cpu_usage_ns: number(cpuacct.join("cpuacct.usage")),
            memory_bytes: number(memory.join("memory.usage_in_bytes")),
            memory_peak_bytes: number(memory.join("memory.max_usage_in_bytes")),
        },
        CgroupPaths::V2 { dir } => Usage {
            cpu_usage_ns: read_trimmed(&dir.join("cpu.stat"))
                .and_then(|s| keyed_value(&s, "usage_usec"))
                .map(|us| us * 1_000),
            memory_bytes: number(dir.join("memory.current")),
            memory_peak_bytes: number(dir.join("memory.peak")),
        },
    }
}

/// How many times the kernel's OOM killer has killed a process in this cgroup.
pub fn oom_kills(paths: &CgroupPaths) -> u64 {
    let (file, dir) = match paths {
        CgroupPaths::V1 { memory, .. } => ("memory.oom_control", memory),
        CgroupPaths::V2 { dir } => ("memory.events", dir),
    };
    read_trimmed(&dir.join(file))
        .and_then(|s| keyed_value(&s, "oom_kill"))
        .unwrap_or(0)
}

/// `key value` lines (cpu.stat, memory.events, memory.oom_control).
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Removes a service's cgroup directories, then its stack's directory and the shared `lab`
/// directory when they are empty. The caller has stopped every process in it; processes that
/// are still exiting keep a directory busy for a moment, hence the retries.
pub fn remove(paths: &CgroupPaths) -> anyhow::Result<()> {
    for dir in dirs(paths) {
        remove_dir_patiently(dir)?;
        // The stack directory, then `lab`: shared with other stacks, so only when empty.
        for ancestor in dir.ancestors().skip(1).take(2) {
            if fs::remove_dir(ancestor).is_err() {
                break;
            }
        }
    }
    Ok(())
}

fn remove_dir_patiently(dir: &Path) -> anyhow::Result<()> {
    let mut last_error = None;
    for _ in 0..50 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => last_error = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    match last_error {
        Some(e) => bail!("cannot remove cgroup {}: {e}", dir.display()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_parents_nest_under_our_own_cgroup_per_controller() {
        let root = tempfile::tempdir().unwrap();
        for c in V1_CONTROLLERS {
            fs::create_dir(root.path().join(c)).unwrap();
        }
        let own = "4:memory:/outer/inner\n2:cpuacct:/\n1:cpu:/\n0::/\n";
        let Some(Hierarchy::V1 { cpu, memory, .. }) = detect(root.path(), Some(own)) else {
            panic!("expected v1");
        };
        assert_eq!(cpu, root.path().join("cpu/lab"));
        assert_eq!(memory, root.path().join("memory/outer/inner/lab"));
    }

    #[test]
    fn v1_cgroup_gets_quota_memory_and_equal_memsw() {
        let root = tempfile::tempdir().unwrap();
        for c in V1_CONTROLLERS {
            fs::create_dir(root.path().join(c)).unwrap();
        }
        let hierarchy = detect(root.path(), None).unwrap();
        // A fake kernel: memsw exists only if the file is there, so pre-create it.
        let memory_dir = root.path().join("memory/lab/s1/app1");
        fs::create_dir_all(&memory_dir).unwrap();
        fs::write(memory_dir.join("memory.memsw.limit_in_bytes"), "").unwrap();
        let limits = Limits {
            cpus: 0.3,
            memory_bytes: 400 << 20,
            cpu_period_us: 100_000,
        };
        let paths = create(&hierarchy, "s1", "app1", &limits).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(read("cpu/lab/s1/app1/cpu.cfs_quota_us"), "30000");
        assert_eq!(read("cpu/lab/s1/app1/cpu.cfs_period_us"), "100000");
        assert_eq!(
            read("memory/lab/s1/app1/memory.limit_in_bytes"),
            "419430400"
        );
        assert_eq!(
            read("memory/lab/s1/app1/memory.memsw.limit_in_bytes"),
            "419430400"
        );
        assert_eq!(read_limits(&paths), (Some(0.3), Some(419_430_400)));
    }

    #[test]
    fn v2_cgroup_enables_controllers_and_forbids_swap() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cgroup.controllers"), "cpu memory").unwrap();
        let hierarchy = detect(root.path(), None).unwrap();
        let dir = root.path().join("lab/s1/db");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("memory.swap.max"), "max").unwrap();
        // A 10 ms period: the same 1.5 CPUs as 15 ms of CPU time every 10 ms.
        let limits = Limits {
            cpus: 1.5,
            memory_bytes: 1 << 30,
            cpu_period_us: 10_000,
        };
        let paths = create(&hierarchy, "s1", "db", &limits).unwrap();
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(read("cgroup.subtree_control"), "+cpu +memory");
        assert_eq!(read("lab/s1/cgroup.subtree_control"), "+cpu +memory");
        assert_eq!(read("lab/s1/db/cpu.max"), "15000 10000");
        assert_eq!(read("lab/s1/db/memory.max"), "1073741824");
        assert_eq!(read("lab/s1/db/memory.swap.max"), "0");
        assert_eq!(read_limits(&paths), (Some(1.5), Some(1 << 30)));
    }

    #[test]
    fn counters_parse_from_v2_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\n",
        )
        .unwrap();
        fs::write(dir.path().join("memory.current"), "4096\n").unwrap();
        fs::write(
            dir.path().join("memory.events"),
            "low 0\noom 2\noom_kill 1\n",
        )
        .unwrap();
        let paths = CgroupPaths::V2 {
            dir: dir.path().to_path_buf(),
        };
        let usage = usage(&paths);
        assert_eq!(usage.cpu_usage_ns, Some(1_500_000));
        assert_eq!(usage.memory_bytes, Some(4096));
        assert_eq!(usage.memory_peak_bytes, None);
        assert_eq!(oom_kills(&paths), 1);
    }

    #[test]
    fn no_hierarchy_without_controllers() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(detect(root.path(), None), None);
    }
}
