//! The machine a run ran on, as its fingerprint: what a reader needs to tell a faster machine
//! from a better stack (with the run's reference, `super::reference`), and the differences
//! between two fingerprints, named.

use serde::{Deserialize, Serialize};

/// The machine that ran the bench (the load driver and the stack share it): its fingerprint,
/// so that a reader can tell a faster machine from a better stack.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// CPU model (`/proc/cpuinfo`'s `model name`; on Arm its `CPU part`); empty in runs made
    /// before it was recorded.
    #[serde(default)]
    pub cpu_model: String,
    /// CPU flags as the kernel lists them (`flags`, on Arm `Features`).
    #[serde(default)]
    pub cpu_flags: String,
    /// Where lab and the stack ran: `native Linux`, `WSL 2`, `Docker Desktop (...)` or
    /// `Docker engine <version> on ...`; empty in runs made before it was recorded.
    #[serde(default)]
    pub platform: String,
    /// CPUs available to lab (and to its load driver).
    pub cores: usize,
    /// Total RAM in bytes (`MemTotal`).
    pub memory_total_bytes: u64,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// `v1` or `v2` (hierarchy mounted at /sys/fs/cgroup), `none` when absent.
    pub cgroup_version: String,
    /// The Docker engine the compose stack ran on (its cores and memory are the machine's,
    /// or the Docker VM's on Docker Desktop); None for native runs or without the socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::docker::EngineInfo>,
}

/// The fields of two fingerprints that differ, each as `what: one -> other`; empty when the
/// two runs ran on the same kind of machine.
pub fn differences(a: &Machine, b: &Machine) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} -> {y}"));
        }
    };
    check("CPU", a.cpu_model.clone(), b.cpu_model.clone());
    check("cores", a.cores.to_string(), b.cores.to_string());
    check(
        "memory",
        format!("{} MiB", a.memory_total_bytes >> 20),
        format!("{} MiB", b.memory_total_bytes >> 20),
    );
    check("kernel", a.kernel.clone(), b.kernel.clone());
    check("cgroup", a.cgroup_version.clone(), b.cgroup_version.clone());
    check("platform", a.platform.clone(), b.platform.clone());
    if a.cpu_flags != b.cpu_flags && !a.cpu_flags.is_empty() && !b.cpu_flags.is_empty() {
        let fa: std::collections::BTreeSet<&str> = a.cpu_flags.split_whitespace().collect();
        let fb: std::collections::BTreeSet<&str> = b.cpu_flags.split_whitespace().collect();
        let only_a: Vec<&str> = fa.difference(&fb).copied().collect();
        let only_b: Vec<&str> = fb.difference(&fa).copied().collect();
        out.push(format!(
            "CPU flags: only the first has [{}], only the second [{}]",
            only_a.join(" "),
            only_b.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_fingerprints_name_each_difference() {
        let a = Machine {
            cpu_model: "AMD EPYC 7B13".into(),
            cores: 2,
            cpu_flags: "sse avx2".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        assert!(differences(&a, &b).is_empty());
        b.cpu_model = "Intel Xeon".into();
        b.cores = 4;
        b.cpu_flags = "sse avx512f".into();
        let d = differences(&a, &b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(d[0], "CPU: AMD EPYC 7B13 -> Intel Xeon");
        assert!(d[2].contains("only the first has [avx2], only the second [avx512f]"));
    }
}
