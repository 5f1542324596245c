//! `lab up`, `lab down`, `lab status` and the hidden `lab __supervise`.

use crate::cli::{StateArgs, UpArgs};
use crate::config::{LabConfig, Ports};
use crate::profile::Profile;
use crate::stack::units::human_bytes;
use crate::stack::{self, cgroup, StackInfo, UpOptions};

pub fn up(config: &LabConfig, args: UpArgs) -> anyhow::Result<()> {
    let profile = Profile::load(&args.profile)?;
    let opts = UpOptions {
        discard_data: false,
        seed: config.seed(&profile)?,
        profile,
        db: args.db,
        state_dir: args.state.state_dir,
        ports: config.ports(Ports::STACK),
        app_env: Vec::new(),
    };
    // Left running: `lab down` stops it.
    let info = stack::runtime(args.runtime, config)
        .up(&opts)?
        .keep_running();
    warn_if_uncapped(&info);
    print!("{}", table(&info));
    println!(
        "stack ready: {} (profile {}, db {:?}, {:?}); access log {}",
        info.published_url.as_deref().unwrap_or(&info.base_url),
        info.profile,
        info.db,
        info.runtime,
        info.access_log.display()
    );
    if info
        .published_url
        .as_deref()
        .is_some_and(|p| p != info.base_url)
    {
        println!(
            "lab's client uses {}: {} (LAB_CLIENT_PATH)",
            info.base_url,
            info.client_path.map_or("", |p| p.describe())
        );
    }
    Ok(())
}

pub fn down(config: &LabConfig, args: StateArgs) -> anyhow::Result<()> {
    let Some(stack) = stack::open(config, &args.state_dir)? else {
        println!("nothing running from {}", args.state_dir.display());
        return Ok(());
    };
    let info = stack.info().clone();
    stack.down()?;
    println!(
        "stopped the {} stack (profile {})",
        info.runtime, info.profile
    );
    Ok(())
}

pub fn status(config: &LabConfig, args: StateArgs) -> anyhow::Result<()> {
    let Some(stack) = stack::open(config, &args.state_dir)? else {
        anyhow::bail!("no stack is running from {}", args.state_dir.display());
    };
    let info = stack.status()?;
    // Asking leaves it running.
    stack.keep_running();
    println!(
        "{} stack, profile {}, db {:?}, state {}: {}",
        info.runtime, info.profile, info.db, info.state, info.base_url
    );
    warn_if_uncapped(&info);
    print!("{}", table(&info));
    Ok(())
}

pub fn supervise(args: StateArgs) -> anyhow::Result<()> {
    stack::supervisor::run(&args.state_dir)
}

fn warn_if_uncapped(info: &StackInfo) {
    for warning in &info.warnings {
        eprintln!("lab: WARNING: {warning}");
    }
    if !info.capped {
        eprintln!(
            "lab: WARNING: THIS STACK RUNS WITHOUT RESOURCE CAPS (cgroups could not be written); \
             its measurements are recorded as uncapped"
        );
    }
}

/// One line per service: PID, caps, CPU time used, memory now and peak, restarts, OOM kills.
fn table(info: &StackInfo) -> String {
    let mut rows = vec![[
        "SERVICE", "PID", "CPU CAP", "MEM CAP", "CPU USED", "MEM", "MEM PEAK", "RESTARTS", "OOM",
    ]
    .map(String::from)];
    for service in &info.services {
        let usage = match (&service.cgroup, &service.container) {
            (Some(paths), _) => cgroup::usage(paths),
            // A compose container: the same counters through the Docker Engine API.
            (None, Some(_)) => {
                let counters = crate::sample::Source::of(service).read();
                cgroup::Usage {
                    cpu_usage_ns: Some(counters.cpu_usage_ns),
                    memory_bytes: Some(counters.memory_current_bytes),
                    memory_peak_bytes: counters.memory_peak_bytes,
                }
            }
            (None, None) => cgroup::Usage::default(),
        };
        // Caps as the kernel holds them, when the service has a cgroup.
        let (cpu_cap, memory_cap) = service.cgroup.as_ref().map_or(
            (service.cpu_limit, service.memory_limit_bytes),
            cgroup::read_limits,
        );
        let dash = || "-".to_owned();
        rows.push([
            service.name.clone(),
            service.pid.map_or_else(dash, |p| p.to_string()),
            cpu_cap.map_or_else(dash, |c| format!("{c:.2}")),
            memory_cap.map_or_else(dash, human_bytes),
            usage
                .cpu_usage_ns
                .map_or_else(dash, |ns| format!("{:.2} s", ns as f64 / 1e9)),
            usage.memory_bytes.map_or_else(dash, human_bytes),
            usage.memory_peak_bytes.map_or_else(dash, human_bytes),
            service.restarts.to_string(),
            service.oom_kills.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|col| rows.iter().map(|r| r[col].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
