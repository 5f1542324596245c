//! What this process may really use: the cgroup's CPU quota and memory limit.
//!
//! Inside a container the cgroup namespace makes the process's cgroup look like the root
//! (`/sys/fs/cgroup/...` directly); run natively under `lab`, the process sits in a nested
//! cgroup named in `/proc/self/cgroup`. Both cgroup v2 (`cpu.max`, `memory.max`) and v1
//! (`cpu.cfs_quota_us`, `memory.limit_in_bytes`) are read; a missing or unlimited value is `None`.

use std::fs;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// v1 reports "no limit" as a huge number (page-rounded i64::MAX); anything above this is none.
const V1_UNLIMITED_THRESHOLD: u64 = 1 << 60;

/// Where a memory limit came from, reported to users so that a target is explainable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    CgroupV2,
    CgroupV1,
    HostRam,
}

/// The memory this process may use, in bytes, and where that figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: u64,
    pub source: LimitSource,
}

/// The cgroup memory limit if one is set, else the host's RAM.
pub fn memory_limit() -> MemoryLimit {
    if let Some(bytes) = cgroup_memory_limit_bytes(Path::new(CGROUP_ROOT), &own_cgroups()) {
        return bytes;
    }
    MemoryLimit {
        bytes: host_ram_bytes(),
        source: LimitSource::HostRam,
    }
}

/// CPUs the process may really use: the cgroup quota (rounded up, at least 1) when one is set,
/// never more than the CPUs the scheduler lets it run on.
pub fn available_cpus() -> usize {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    match cgroup_cpu_quota(Path::new(CGROUP_ROOT), &own_cgroups()) {
        Some(quota) => (quota.ceil() as usize).clamp(1, online),
        None => online,
    }
}

/// The CPU quota in CPUs (e.g. 0.3), if a cgroup sets one.
pub fn cpu_quota() -> Option<f64> {
    cgroup_cpu_quota(Path::new(CGROUP_ROOT), &own_cgroups())
}

/// Lines of `/proc/self/cgroup`: `(controllers, path)`; v2's unified line has empty controllers.
fn own_cgroups() -> Vec<(String, String)> {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    parse_proc_cgroup(&text)
}

fn parse_proc_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?.to_owned();
            let path = parts.next()?.to_owned();
            Some((controllers, path))
        })
        .collect()
}

/// Candidate directories for a controller: the process's own nested cgroup first, then the
/// mount point itself (what a container with a cgroup namespace sees).
fn candidate_dirs(mount: &Path, own_path: Option<&str>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(path) = own_path {
        let rel = path.trim_start_matches('/');
        if !rel.is_empty() {
            dirs.push(mount.join(rel));
        }
    }
    dirs.push(mount.to_path_buf());
    dirs
}

fn v1_path<'a>(cgroups: &'a [(String, String)], controller: &str) -> Option<&'a str> {
    cgroups
        .iter()
        .find(|(ctrls, _)| ctrls.split(',').any(|c| c == controller))
        .map(|(_, p)| p.as_str())
}

fn v2_path(cgroups: &[(String, String)]) -> Option<&str> {
    cgroups
        .iter()
        .find(|(ctrls, _)| ctrls.is_empty())
        .map(|(_, p)| p.as_str())
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn cgroup_memory_limit_bytes(root: &Path, cgroups: &[(String, String)]) -> Option<MemoryLimit> {
    // v2: a pure unified hierarchy mounts at the root itself.
    if root.join("cgroup.controllers").exists() {
        for dir in candidate_dirs(root, v2_path(cgroups)) {
            if let Some(value) = read_trimmed(&dir.join("memory.max")) {
                return value.parse().ok().map(|bytes| MemoryLimit {
                    bytes,
                    source: LimitSource::CgroupV2,
                });
            }
        }
        return None;
    }
    let mount = root.join("memory");
    for dir in candidate_dirs(&mount, v1_path(cgroups, "memory")) {
        if let Some(value) = read_trimmed(&dir.join("memory.limit_in_bytes")) {
            let bytes: u64 = value.parse().ok()?;
            return (bytes < V1_UNLIMITED_THRESHOLD).then_some(MemoryLimit {
                bytes,
                source: LimitSource::CgroupV1,
            });
        }
    }
    None
}

fn cgroup_cpu_quota(root: &Path, cgroups: &[(String, String)]) -> Option<f64> {
    if root.join("cgroup.controllers").exists() {
        for dir in candidate_dirs(root, v2_path(cgroups)) {
            if let Some(value) = read_trimmed(&dir.join("cpu.max")) {
                let mut parts = value.split_whitespace();
                let quota = parts.next()?;
                let period: f64 = parts.next()?.parse().ok()?;
                return match quota {
                    "max" => None,
                    q => Some(q.parse::<f64>().ok()? / period),
                };
            }
        }
        return None;
    }
    let mount = root.join("cpu");
    for dir in candidate_dirs(&mount, v1_path(cgroups, "cpu")) {
        if let Some(quota) = read_trimmed(&dir.join("cpu.cfs_quota_us")) {
            let quota: i64 = quota.parse().ok()?;
            let period: f64 = read_trimmed(&dir.join("cpu.cfs_period_us"))?.parse().ok()?;
            return (quota > 0).then(|| quota as f64 / period);
        }
    }
    None
}

fn host_ram_bytes() -> u64 {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    sys.total_memory()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("app-cgroup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn v1_nested_memory_limit_and_quota_are_read_from_the_own_cgroup() {
        let root = tempdir("v1");
        let own = parse_proc_cgroup("4:memory:/lab/app1\n1:cpu:/lab/app1\n2:cpuacct:/\n");
        write(
            &root.join("memory/lab/app1/memory.limit_in_bytes"),
            "419430400\n",
        );
        write(
            &root.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(&root.join("cpu/lab/app1/cpu.cfs_quota_us"), "30000\n");
        write(&root.join("cpu/lab/app1/cpu.cfs_period_us"), "100000\n");
        let limit = cgroup_memory_limit_bytes(&root, &own).unwrap();
        assert_eq!(limit.bytes, 419_430_400);
        assert_eq!(limit.source, LimitSource::CgroupV1);
        assert!((cgroup_cpu_quota(&root, &own).unwrap() - 0.3).abs() < 1e-9);
    }

    #[test]
    fn v1_unlimited_is_none() {
        let root = tempdir("v1u");
        let own = parse_proc_cgroup("4:memory:/\n1:cpu,cpuacct:/\n");
        write(
            &root.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(&root.join("cpu/cpu.cfs_quota_us"), "-1\n");
        write(&root.join("cpu/cpu.cfs_period_us"), "100000\n");
        assert_eq!(cgroup_memory_limit_bytes(&root, &own), None);
        assert_eq!(cgroup_cpu_quota(&root, &own), None);
    }

    #[test]
    fn v2_limits_are_read_and_max_means_none() {
        let root = tempdir("v2");
        let own = parse_proc_cgroup("0::/\n");
        write(&root.join("cgroup.controllers"), "cpu memory\n");
        write(&root.join("memory.max"), "314572800\n");
        write(&root.join("cpu.max"), "50000 100000\n");
        assert_eq!(
            cgroup_memory_limit_bytes(&root, &own).unwrap().bytes,
            314_572_800
        );
        assert!((cgroup_cpu_quota(&root, &own).unwrap() - 0.5).abs() < 1e-9);
        write(&root.join("memory.max"), "max\n");
        write(&root.join("cpu.max"), "max 100000\n");
        assert_eq!(cgroup_memory_limit_bytes(&root, &own), None);
        assert_eq!(cgroup_cpu_quota(&root, &own), None);
    }
}
