//! What a run records about where it ran: the machine (cores, memory, kernel, cgroup
//! version) and the versions of the programs involved (git, nginx, the app).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::LabConfig;
use crate::load::http;
use crate::results::Machine;

pub fn app_version(base_url: &str) -> Option<String> {
    let response = http::request(base_url, "GET", "/", &[], None, Duration::from_secs(3)).ok()?;
    let info: serde_json::Value = serde_json::from_str(&response.body).ok()?;
    info.get("version")?.as_str().map(str::to_owned)
}

pub fn nginx_version(config: &LabConfig) -> Option<String> {
    let output = Command::new(config.nginx_command())
        .arg("-v")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    text.lines()
        .find_map(|l| l.strip_prefix("nginx version: "))
        .map(|v| v.trim().to_owned())
}

pub fn git_commit() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub fn machine() -> Machine {
    let read = |path: &str| {
        fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let memory_total_bytes = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let cgroup_version = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2"
    } else if Path::new("/sys/fs/cgroup/memory").is_dir() {
        "v1"
    } else {
        "none"
    };
    let cpu = super::fingerprint::cpu();
    let kernel = read("/proc/sys/kernel/osrelease");
    Machine {
        hostname: read("/proc/sys/kernel/hostname"),
        cpu_model: cpu.model,
        cpu_flags: cpu.flags,
        platform: super::fingerprint::platform(&kernel, None),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_total_bytes,
        kernel,
        cgroup_version: cgroup_version.to_owned(),
        engine: None,
    }
}
