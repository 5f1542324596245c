//! What a run records about where it ran: the run's header (settings, machine, versions of
//! lab, git, nginx, siege and the app).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;

use super::{BenchArgs, Plan};
use crate::config::LabConfig;
use crate::load::{http, siege};
use crate::results::{Machine, Run, Settings, Versions, SCHEMA_VERSION};
use contract::{DbKind, RuntimeKind};

pub fn new_run(config: &LabConfig, args: &BenchArgs, plan: &Plan) -> Run {
    let settings = Settings {
        runtime: if args.attach {
            "attached".to_owned()
        } else {
            runtime_name(args.runtime).to_owned()
        },
        db: db_name(args.db).to_owned(),
        scenarios: plan.scenarios.clone(),
        users: plan.users.clone(),
        step_secs: args.step_secs,
        warmup_secs: args.warmup_secs,
        ceiling_secs: args.ceiling_secs,
        ramp: args.ramp,
        slo_text: args.slo.clone(),
        slo: plan.slo.clone(),
    };
    Run {
        schema_version: SCHEMA_VERSION,
        label: args.label.clone(),
        started_at: Utc::now(),
        finished_at: None,
        command_line: std::env::args().collect(),
        settings,
        machine: machine(),
        versions: Versions {
            lab: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: git_commit(),
            app: None,
            nginx: nginx_version(config),
            siege: siege::version(config),
        },
        profiles: Vec::new(),
        siege_ceiling: Vec::new(),
        nginx_ceiling: Vec::new(),
        steps: Vec::new(),
        samples: Vec::new(),
        sustainable: Vec::new(),
    }
}

pub fn runtime_name(kind: RuntimeKind) -> &'static str {
    match kind {
        RuntimeKind::Native => "native",
        RuntimeKind::Compose => "compose",
    }
}

pub fn db_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "sqlite",
        DbKind::Postgres => "postgres",
        DbKind::Mysql => "mysql",
    }
}

pub fn app_version(base_url: &str) -> Option<String> {
    let response = http::request(base_url, "GET", "/", &[], None, Duration::from_secs(3)).ok()?;
    let info: serde_json::Value = serde_json::from_str(&response.body).ok()?;
    info.get("version")?.as_str().map(str::to_owned)
}

fn nginx_version(config: &LabConfig) -> Option<String> {
    let output = Command::new(config.nginx_command())
        .arg("-v")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    text.lines()
        .find_map(|l| l.strip_prefix("nginx version: "))
        .map(|v| v.trim().to_owned())
}

fn git_commit() -> Option<String> {
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
    Machine {
        hostname: read("/proc/sys/kernel/hostname"),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_total_bytes,
        kernel: read("/proc/sys/kernel/osrelease"),
        cgroup_version: cgroup_version.to_owned(),
        engine: None,
    }
}
