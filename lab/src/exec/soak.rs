//! A soak, run from its plan: the stack of one profile is loaded window after window; after
//! each window lab reads every replica's resident memory and pool connections from its own
//! `/metrics` (through nginx's `/replicas/<name>/`), every replica's and nginx's open file
//! descriptors from `/proc`, and the window's figures from its measured step, and writes
//! `soak.json` at once. At the end each series' trend is judged (`results::soak`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::siege;
use super::step::{self, StepContext, StepRunner};
use super::{Load, Offered};
use crate::config::{LabConfig, Ports};
use crate::export;
use crate::interrupt;
use crate::load::access_log::LogLine;
use crate::load::urls::{self, SeedSizes};
use crate::load::{http, latency};
use crate::plan::SoakPlan;
use crate::plot;
use crate::profile;
use crate::results::soak::{self, ReplicaReading, SoakRun, SoakSettings, Window};
use crate::results::Step;
use crate::sample::{self, machine};
use crate::stack::{self, Stack, StackInfo, UpOptions};

/// Runs the soak, writing its files after every window; returns the folder and the run.
pub fn run(config: &LabConfig, plan: &SoakPlan) -> anyhow::Result<(PathBuf, SoakRun)> {
    let run_dir = export::create_run_dir(&plan.results, &plan.label)?;
    let rc = siege::write_rc(&profile::repo_root(), &run_dir)?;
    let driver = super::driver(plan.driver, config, &rc)?;
    interrupt::catch();
    eprintln!("lab soak: results in {}", run_dir.display());
    let (stack, urls_file) = start_stack(config, plan, &run_dir)?;
    let info = stack.info().clone();
    let mut run = new_run(plan, &info);
    let load = Load {
        urls: urls_file.clone(),
        offered: Offered::Users(plan.users),
        secs: plan.window_secs,
    };
    // duration / window windows of load, each followed by its readings (about 2 s: nginx's
    // log settling, then /metrics and /proc), so the soak lasts a little longer than asked.
    let clock = Instant::now();
    for _ in 0..plan.duration_secs / plan.window_secs {
        if interrupt::interrupted() {
            break;
        }
        let start_secs = clock.elapsed().as_secs_f64();
        let started_at = Utc::now();
        let measured = StepRunner::start(&info, driver.as_ref(), &load)?.finish(|| None)?;
        let replica_p99 = replica_p99_ms(&measured.lines);
        let urls_text = urls_file.display().to_string();
        let step = step::record(
            measured,
            &StepContext {
                index: run.windows.len(),
                profile: &plan.profile.name,
                scenario: plan.scenario.name(),
                offered: Offered::Users(plan.users),
                started_at,
                start_offset_secs: start_secs,
                urls_file: &urls_text,
                ceiling: None,
                machine_cores: run.machine.cores,
                slo: &[],
                stress_start_status: None,
            },
        );
        let now = stack.status().unwrap_or_else(|_| info.clone());
        let window = window(
            start_secs,
            clock.elapsed().as_secs_f64(),
            step,
            &replica_p99,
            &now,
        );
        eprintln!("  {}", export::soak::window_line(&window));
        run.windows.push(window);
        export::write_all(&run, &run_dir)?;
    }
    stack.down()?;
    run.verdict = Some(soak::judge(&run.windows));
    if !interrupt::interrupted() {
        run.finished_at = Some(Utc::now());
    }
    if let Err(err) = plot::draw_soak(&run, &run_dir) {
        eprintln!("lab soak: warning: plot not drawn: {err:#}");
    }
    // Written after the plot, so report.md links it.
    export::write_all(&run, &run_dir)?;
    export::adopt_parent_owner(&run_dir);
    Ok((run_dir, run))
}

/// Starts the profile's stack, then writes and checks the scenario's URL file against it.
fn start_stack(
    config: &LabConfig,
    plan: &SoakPlan,
    run_dir: &Path,
) -> anyhow::Result<(Stack, PathBuf)> {
    let seed = config.seed(&plan.profile)?;
    let stack = stack::runtime(plan.runtime, config).up(&UpOptions {
        discard_data: false,
        profile: plan.profile.clone(),
        db: plan.db,
        state_dir: plan.state_dir.clone(),
        ports: config.ports(Ports::STACK),
        seed,
        app_env: Vec::new(),
    })?;
    let urls_file = run_dir.join(format!("urls-{}.txt", plan.scenario.name()));
    std::fs::write(
        &urls_file,
        urls::generate(plan.scenario, SeedSizes::of(seed), &stack.info().base_url)?,
    )?;
    urls::validate(&urls_file)?;
    Ok((stack, urls_file))
}

fn new_run(plan: &SoakPlan, info: &StackInfo) -> SoakRun {
    SoakRun {
        schema_version: soak::SOAK_SCHEMA_VERSION,
        started_at: Utc::now(),
        finished_at: None,
        command_line: profile::command_line_in_repository(std::env::args()),
        settings: SoakSettings {
            profile: plan.profile.name.clone(),
            db: info.db,
            runtime: plan.runtime,
            scenario: plan.scenario.name().to_owned(),
            users: plan.users,
            duration_secs: plan.duration_secs,
            window_secs: plan.window_secs,
        },
        machine: machine::machine(),
        windows: Vec::new(),
        verdict: None,
    }
}

/// One window: its step's figures and the readings taken right after it.
fn window(
    start_secs: f64,
    end_secs: f64,
    step: Step,
    replica_p99: &BTreeMap<String, f64>,
    stack: &StackInfo,
) -> Window {
    let replicas = stack
        .services
        .iter()
        .filter(|s| s.name.starts_with("app"))
        .map(|s| {
            let metrics = replica_metrics(&stack.base_url, &s.name);
            let gauge = |name: &str| metrics.as_deref().and_then(|m| metric(m, name));
            ReplicaReading {
                name: s.name.clone(),
                rss_bytes: gauge(contract::metrics::PROCESS_RESIDENT_MEMORY_BYTES),
                fds: s.pid.and_then(sample::open_fds),
                pool_connections: gauge(contract::metrics::DB_POOL_CONNECTIONS),
                pool_idle_connections: gauge(contract::metrics::DB_POOL_IDLE_CONNECTIONS),
                p99_ms: replica_p99.get(&s.name).copied(),
            }
        })
        .collect();
    let nginx_fds = stack
        .services
        .iter()
        .find(|s| s.name == "nginx")
        .and_then(|s| s.pid)
        .and_then(sample::tree_open_fds);
    Window::of(step, start_secs, end_secs, replicas, nginx_fds)
}

/// The p99 of the requests each replica answered in the window (nginx's log), ms.
fn replica_p99_ms(lines: &[LogLine]) -> BTreeMap<String, f64> {
    let mut by_replica: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in lines {
        by_replica
            .entry(line.instance.clone())
            .or_default()
            .push(line.request_time * 1000.0);
    }
    by_replica
        .into_iter()
        .map(|(name, ms)| (name, latency::quantile(ms, 0.99)))
        .collect()
}

/// A replica's own `/metrics`, through nginx (a control path: never counted as load).
fn replica_metrics(base_url: &str, replica: &str) -> Option<String> {
    let path = contract::routes::on_replica(replica, "/metrics");
    let response = http::request(base_url, "GET", &path, &[], None, Duration::from_secs(5)).ok()?;
    (response.status == 200).then_some(response.body)
}

/// The value of an unlabelled sample `name` in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (key, value) = l.split_once(' ')?;
            (key == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .map(|v| v.max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_samples_are_read_by_exact_name() {
        let text = "# HELP db_pool_connections Open.\n# TYPE db_pool_connections gauge\ndb_pool_connections 7\ndb_pool_connections_max 10\nprocess_resident_memory_bytes 1.1534336e7\n";
        assert_eq!(metric(text, "db_pool_connections"), Some(7));
        assert_eq!(
            metric(text, "process_resident_memory_bytes"),
            Some(11_534_336)
        );
        assert_eq!(metric(text, "db_pool_idle_connections"), None);
    }
}
