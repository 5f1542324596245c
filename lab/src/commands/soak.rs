//! `lab soak`: a long run that watches for what grows. The stack of one profile is loaded by
//! siege (the `mixed` scenario by default) window after window; after each window lab reads
//! every replica's resident memory and pool connections from its own `/metrics` (through
//! nginx's `/replicas/<name>/`), every replica's and nginx's open file descriptors from
//! `/proc`, and the window's latency and errors from nginx's log, and writes `soak.json` at
//! once. At the end each series' trend is judged (`results::soak`: the rule and its
//! thresholds), and `soak.csv`, `report.md` and `soak.png`/`.svg` are written. FAIL exits 2.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;

use super::bench::{catch_interrupts, interrupted, machine};
use crate::cli::SoakArgs;
use crate::config::{LabConfig, Ports};
use crate::export;
use crate::load::http;
use crate::load::siege::{self, SiegeCommand};
use crate::load::step::{Measured, StepRunner};
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::plot;
use crate::profile::{self, Profile};
use crate::results::soak::{self, ReplicaReading, SoakRun, SoakSettings, Window};
use crate::sample;
use crate::stack::{self, StackInfo, UpOptions};
use contract::RuntimeKind;

/// The error `main` turns into exit code 2: the soak ran, something grew or failed.
#[derive(Debug)]
pub struct SoakFailed(pub String);

impl std::fmt::Display for SoakFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "soak FAILED: {}", self.0)
    }
}

impl std::error::Error for SoakFailed {}

pub fn soak(config: &LabConfig, args: SoakArgs) -> anyhow::Result<()> {
    if args.window_secs < 5 || args.duration_secs < 3 * args.window_secs {
        anyhow::bail!(
            "--window-secs must be at least 5 and --duration-secs at least three windows (the first third is warm-up)"
        );
    }
    let scenario = Scenario::parse(&args.scenario).with_context(|| {
        format!(
            "unknown scenario {:?}: use read, write or mixed",
            args.scenario
        )
    })?;
    siege::require(config)?;
    let profile = Profile::load(&args.profile)?;
    let run_dir = export::create_run_dir(&args.results, &args.label)?;
    let rc = siege::write_rc(&profile::repo_root(), &run_dir)?;
    catch_interrupts();
    eprintln!("lab soak: results in {}", run_dir.display());

    let runtime = stack::runtime(args.runtime, config);
    let seed = config.seed(&profile)?;
    let info = runtime.up(&UpOptions {
        profile: profile.clone(),
        db: args.db,
        state_dir: args.state.state_dir.clone(),
        ports: config.ports(Ports::STACK),
        seed,
        app_env: Vec::new(),
    })?;
    let _guard = Down {
        runtime: runtime.as_ref(),
        state_dir: &args.state.state_dir,
    };
    let urls_file = run_dir.join(format!("urls-{}.txt", scenario.name()));
    std::fs::write(
        &urls_file,
        urls::generate(scenario, SeedSizes::of(seed), &info.base_url)?,
    )?;
    urls::validate(&urls_file)?;

    let mut run = SoakRun {
        schema_version: soak::SOAK_SCHEMA_VERSION,
        started_at: Utc::now(),
        finished_at: None,
        command_line: std::env::args().collect(),
        settings: SoakSettings {
            profile: profile.name.clone(),
            db: info.db.to_string(),
            runtime: match args.runtime {
                RuntimeKind::Native => "native".into(),
                RuntimeKind::Compose => "compose".into(),
            },
            scenario: scenario.name().to_owned(),
            users: args.users,
            duration_secs: args.duration_secs,
            window_secs: args.window_secs,
        },
        machine: machine(),
        windows: Vec::new(),
        verdict: None,
    };
    // duration / window windows of load, each followed by its readings (about 2 s: nginx's
    // log settling, then /metrics and /proc), so the soak lasts a little longer than asked.
    let clock = Instant::now();
    for _ in 0..args.duration_secs / args.window_secs {
        if interrupted() {
            break;
        }
        let start_secs = clock.elapsed().as_secs_f64();
        let measured = StepRunner::start(
            &info,
            &SiegeCommand {
                bin: config.siege_bin(),
                rc: rc.clone(),
                urls: urls_file.clone(),
                users: args.users,
                secs: args.window_secs,
            },
        )?
        .finish(|| None)?;
        let now = runtime
            .status(&args.state.state_dir)
            .unwrap_or_else(|_| info.clone());
        let window = window(
            run.windows.len(),
            start_secs,
            clock.elapsed().as_secs_f64(),
            &measured,
            &now,
        );
        eprintln!("  {}", window_line(&window));
        run.windows.push(window);
        save(&run, &run_dir)?;
    }
    let verdict = soak::judge(&run.windows);
    run.verdict = Some(verdict.clone());
    if !interrupted() {
        run.finished_at = Some(Utc::now());
    }
    save(&run, &run_dir)?;
    if let Err(err) = plot::draw_soak(&run, &run_dir) {
        eprintln!("lab soak: warning: plot not drawn: {err:#}");
    }
    export::adopt_parent_owner(&run_dir);
    print!("{}", summary(&run));
    println!("{}", run_dir.join("report.md").display());
    if interrupted() {
        anyhow::bail!(
            "interrupted: {} windows kept in {}",
            run.windows.len(),
            run_dir.display()
        );
    }
    if verdict.passed {
        Ok(())
    } else {
        let mut failed: Vec<String> = verdict
            .trends
            .iter()
            .filter(|t| !t.passed)
            .map(|t| {
                format!(
                    "{} grew {:.0} (allowed {:.0})",
                    t.series, t.growth, t.allowed
                )
            })
            .collect();
        failed.extend(verdict.problems.iter().cloned());
        Err(SoakFailed(failed.join("; ")).into())
    }
}

/// `lab report <soak folder>`: the verdict judged again from the windows (the rule may have
/// changed since), then soak.json, soak.csv, report.md and the plot rewritten.
pub fn report(soak_json: &Path) -> anyhow::Result<()> {
    let dir = soak_json.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(soak_json)
        .with_context(|| format!("cannot read {}", soak_json.display()))?;
    let mut run: SoakRun = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a soak.json", soak_json.display()))?;
    run.verdict = Some(soak::judge(&run.windows));
    save(&run, dir)?;
    plot::draw_soak(&run, dir)?;
    export::adopt_parent_owner(dir);
    print!("{}", summary(&run));
    println!("{}", dir.join("report.md").display());
    Ok(())
}

/// Stops the stack when the soak ends, even on error.
struct Down<'a> {
    runtime: &'a dyn stack::Runtime,
    state_dir: &'a Path,
}

impl Drop for Down<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.runtime.down(self.state_dir) {
            eprintln!("lab soak: warning: stopping the stack failed: {err:#}");
        }
    }
}

/// One window's figures and the readings taken right after it.
fn window(index: usize, start_secs: f64, end_secs: f64, m: &Measured, stack: &StackInfo) -> Window {
    let replicas = stack
        .services
        .iter()
        .filter(|s| s.name.starts_with("app"))
        .map(|s| {
            let metrics = replica_metrics(&stack.base_url, &s.name);
            let gauge = |name: &str| metrics.as_deref().and_then(|m| metric(m, name));
            ReplicaReading {
                name: s.name.clone(),
                rss_bytes: gauge("process_resident_memory_bytes"),
                fds: s.pid.and_then(sample::open_fds),
                pool_connections: gauge("db_pool_connections"),
                pool_idle_connections: gauge("db_pool_idle_connections"),
                p99_ms: Some(crate::load::latency::quantile(
                    m.lines
                        .iter()
                        .filter(|l| l.instance == s.name)
                        .map(|l| l.request_time * 1000.0),
                    0.99,
                ))
                .filter(|_| m.lines.iter().any(|l| l.instance == s.name)),
            }
        })
        .collect();
    let nginx_fds = stack
        .services
        .iter()
        .find(|s| s.name == "nginx")
        .and_then(|s| s.pid)
        .and_then(sample::tree_open_fds);
    Window {
        index,
        start_secs,
        end_secs,
        requests: m.nginx.requests,
        requests_per_s: m.nginx.requests_per_s,
        p50_ms: m.nginx.p50_ms,
        p99_ms: m.nginx.p99_ms,
        availability_percent: m.nginx.availability_percent,
        status_5xx: m.nginx.status_5xx,
        replicas,
        nginx_fds,
    }
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

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

fn window_line(w: &Window) -> String {
    let replicas: Vec<String> = w
        .replicas
        .iter()
        .map(|r| {
            format!(
                "{} {} MiB {} fds {} conns",
                r.name,
                mib(r.rss_bytes),
                opt(r.fds),
                opt(r.pool_connections)
            )
        })
        .collect();
    format!(
        "{:>4.0}-{:<4.0} s: {:.0} req/s, p99 {:.0} ms, availability {:.2}%, 5xx {}; {}; nginx {} fds",
        w.start_secs,
        w.end_secs,
        w.requests_per_s,
        w.p99_ms,
        w.availability_percent,
        w.status_5xx,
        replicas.join(", "),
        opt(w.nginx_fds)
    )
}

fn save(run: &SoakRun, dir: &Path) -> anyhow::Result<()> {
    export::write_atomic(&dir.join("soak.json"), &serde_json::to_string_pretty(run)?)?;
    export::write_atomic(&dir.join("soak.csv"), &csv(run))?;
    export::write_atomic(&dir.join("report.md"), &markdown(run))?;
    export::adopt_parent_owner(dir);
    Ok(())
}

fn csv(run: &SoakRun) -> String {
    let names: Vec<String> = run
        .windows
        .first()
        .map(|w| w.replicas.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    let mut out = String::from(
        "index,start_secs,end_secs,requests,requests_per_s,p50_ms,p99_ms,availability_percent,status_5xx,nginx_fds",
    );
    for name in &names {
        let _ = write!(
            out,
            ",{name}_rss_bytes,{name}_fds,{name}_pool_connections,{name}_pool_idle_connections,{name}_p99_ms"
        );
    }
    out.push('\n');
    for w in &run.windows {
        let _ = write!(
            out,
            "{},{:.1},{:.1},{},{:.1},{},{},{:.3},{},{}",
            w.index,
            w.start_secs,
            w.end_secs,
            w.requests,
            w.requests_per_s,
            w.p50_ms,
            w.p99_ms,
            w.availability_percent,
            w.status_5xx,
            w.nginx_fds.map_or(String::new(), |v| v.to_string())
        );
        for name in &names {
            let r = w
                .replicas
                .iter()
                .find(|r| &r.name == name)
                .cloned()
                .unwrap_or_default();
            let cell = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
            let _ = write!(
                out,
                ",{},{},{},{},{}",
                cell(r.rss_bytes),
                cell(r.fds),
                cell(r.pool_connections),
                cell(r.pool_idle_connections),
                r.p99_ms.map_or(String::new(), |v| v.to_string())
            );
        }
        out.push('\n');
    }
    out
}

fn summary(run: &SoakRun) -> String {
    let mut out = String::new();
    let Some(verdict) = &run.verdict else {
        return out;
    };
    let _ = writeln!(
        out,
        "soak {} / {} / {} users, {} windows of {} s: {}",
        run.settings.profile,
        run.settings.scenario,
        run.settings.users,
        run.windows.len(),
        run.settings.window_secs,
        if verdict.passed { "PASS" } else { "FAIL" }
    );
    for t in &verdict.trends {
        let _ = writeln!(
            out,
            "  {} {:<28} mean {:.1}, grew {:.1} over {:.0} s (allowed {:.1})",
            if t.passed { "pass" } else { "FAIL" },
            t.series,
            t.mean,
            t.growth,
            t.span_secs,
            t.allowed
        );
    }
    for p in &verdict.problems {
        let _ = writeln!(out, "  FAIL {p}");
    }
    out
}

fn markdown(run: &SoakRun) -> String {
    let s = &run.settings;
    let mut out = format!(
        "# Soak: {} / {} / {} users, {} s in windows of {} s\n\n\
         {} runtime, {} database; started {}.\n\n",
        s.profile,
        s.scenario,
        s.users,
        s.duration_secs,
        s.window_secs,
        s.runtime,
        s.db,
        run.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(verdict) = &run.verdict {
        let _ = writeln!(
            out,
            "**Verdict: {}.** The first third of the windows is warm-up; over the rest, a series fails when its least-squares slope times the span it covers (its growth) exceeds both its share of the mean and its floor (memory {:.0}% and {:.0} MiB, descriptors {:.0}% and {:.0}, pool connections {:.0}% and {:.0}, p99 {:.0}% and {:.0} ms). Any 5xx, or availability under {}% in a window, fails the soak.\n",
            if verdict.passed { "PASS" } else { "FAIL" },
            100.0 * soak::RSS.share_of_mean,
            soak::RSS.floor / 1048576.0,
            100.0 * soak::FDS.share_of_mean,
            soak::FDS.floor,
            100.0 * soak::POOL.share_of_mean,
            soak::POOL.floor,
            100.0 * soak::P99.share_of_mean,
            soak::P99.floor,
            soak::MIN_AVAILABILITY_PERCENT
        );
        out.push_str("| series | windows | mean | first | last | growth | allowed | |\n|---|---|---|---|---|---|---|---|\n");
        for t in &verdict.trends {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                t.series,
                t.windows,
                t.mean,
                t.first,
                t.last,
                t.growth,
                t.allowed,
                if t.passed { "pass" } else { "**FAIL**" }
            );
        }
        for p in &verdict.problems {
            let _ = writeln!(out, "\n- **{p}**");
        }
        out.push('\n');
    }
    out.push_str("![soak](soak.png)\n\n## Windows\n\n");
    out.push_str("| window | s | req/s | p50 ms | p99 ms | availability % | 5xx | replicas (RSS MiB / fds / pool) | nginx fds |\n|---|---|---|---|---|---|---|---|---|\n");
    for w in &run.windows {
        let replicas: Vec<String> = w
            .replicas
            .iter()
            .map(|r| {
                format!(
                    "{} {} / {} / {}",
                    r.name,
                    mib(r.rss_bytes),
                    opt(r.fds),
                    opt(r.pool_connections)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.0}-{:.0} | {:.0} | {} | {} | {:.3} | {} | {} | {} |",
            w.index,
            w.start_secs,
            w.end_secs,
            w.requests_per_s,
            w.p50_ms,
            w.p99_ms,
            w.availability_percent,
            w.status_5xx,
            replicas.join("; "),
            opt(w.nginx_fds)
        );
    }
    out
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
