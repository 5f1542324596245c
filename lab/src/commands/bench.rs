//! `lab bench`, `lab compare`, `lab report`.
//!
//! `bench` reads like the job: check the tools, measure siege's own ceiling, then for each
//! profile start the stack, and for each scenario warm up and measure step after step,
//! writing every result file after every step so an interrupted run keeps what it measured.

use std::fmt;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{BenchArgs, CompareArgs, DbKind, ReportArgs, RuntimeKind};
use crate::export;
use crate::load::access_log;
use crate::load::http;
use crate::load::siege::{self, RunningSiege, SiegeCommand};
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::plot;
use crate::profile::{self, Profile};
use crate::results::{
    slo, verdict, CeilingPoint, Machine, ProfileRecord, Run, Sample, ServiceCaps, Settings, Step,
    Versions, SCHEMA_VERSION,
};
use crate::sample::{self, HostCpu, Tracked};
use crate::stack::{self, Runtime, StackInfo, UpOptions};

/// The error `main` turns into exit code 2: the run completed, an SLO did not hold.
#[derive(Debug)]
pub struct SloFailed(pub String);

impl fmt::Display for SloFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SLO not met: {}", self.0)
    }
}

impl std::error::Error for SloFailed {}

/// Set by SIGINT/SIGTERM: finish the current step, write, stop the stack, leave.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_interrupts() {
    // A plain flag store is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Stress scenario: share of the replica's memory cap its tree grows to.
const STRESS_MEMORY_PERCENT: u32 = 80;
/// The replica that grows the tree in the stress scenario.
const STRESS_REPLICA: &str = "app1";

// ---------------------------------------------------------------------------------------
// lab bench
// ---------------------------------------------------------------------------------------

pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let repo = profile::repo_root();
    if args.write_urls {
        return write_committed_urls(&args, &repo);
    }
    let plan = Plan::from_args(&args)?;
    check_tools()?;
    let run_dir = create_run_dir(&args.results, &args.label)?;
    let rc = siege::write_rc(&repo, &run_dir)?;
    catch_interrupts();
    eprintln!("lab bench: results in {}", run_dir.display());

    let mut bench = Bench {
        run: new_run(&args, &plan),
        run_dir,
        repo,
        rc,
        clock: Instant::now(),
        ceiling: None,
        plan,
    };
    bench.save()?;
    let outcome = bench.run_profiles(&args);
    if outcome.is_ok() && !interrupted() {
        bench.run.finished_at = Some(Utc::now());
    }
    bench.save()?;
    bench.draw_plots();
    print_final_table(&bench.run);
    println!("{}", bench.run_dir.join("report.md").display());
    outcome?;
    if interrupted() {
        bail!(
            "interrupted: {} steps kept in {}",
            bench.run.steps.len(),
            bench.run_dir.display()
        );
    }
    bench.check_slo()
}

/// The validated plan of a bench.
struct Plan {
    profiles: Vec<Profile>,
    scenarios: Vec<String>,
    users: Vec<u32>,
    slo: Vec<slo::SloRule>,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> anyhow::Result<Self> {
        let slo = match &args.slo {
            Some(text) => slo::parse(text)?,
            None => Vec::new(),
        };
        if args.ramp && slo.is_empty() {
            bail!("--ramp raises users until an SLO breaks: give one with --slo (e.g. --slo 'p99_ms<250,availability>=99.9')");
        }
        let mut users = args.users.clone();
        if users.is_empty() || users.contains(&0) {
            bail!("--users needs positive concurrency values, e.g. --users 10,50,100");
        }
        users.sort_unstable();
        users.dedup();
        if args.step_secs == 0 {
            bail!("--step-secs must be at least 1");
        }
        if args.attach && args.profile.len() != 1 {
            bail!("--attach benches the one running stack: give exactly one --profile (the env file it runs under)");
        }
        for scenario in &args.scenario {
            if Scenario::parse(scenario).is_some() {
                continue;
            }
            if !Path::new(scenario).is_file() {
                bail!(
                    "unknown scenario {scenario:?}: use read, write, mixed, stress, or a path to a siege URL file"
                );
            }
            // A hand-written file is checked before anything starts.
            urls::validate(Path::new(scenario))?;
        }
        let profiles = args
            .profile
            .iter()
            .map(|name| Profile::load(name))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            profiles,
            scenarios: args.scenario.clone(),
            users,
            slo,
        })
    }
}

struct Bench {
    run: Run,
    run_dir: PathBuf,
    repo: PathBuf,
    rc: PathBuf,
    /// Zero of every `t_secs`.
    clock: Instant,
    /// The trivial nginx siege's ceiling is measured against (started on first need).
    ceiling: Option<CeilingNginx>,
    plan: Plan,
}

/// Stops the stack when the profile is done, even on error.
struct StackGuard<'a> {
    runtime: &'a dyn Runtime,
    state_dir: PathBuf,
}

impl Drop for StackGuard<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.runtime.down(&self.state_dir) {
            eprintln!("lab bench: warning: stopping the stack failed: {err:#}");
        }
    }
}

impl Bench {
    fn save(&mut self) -> anyhow::Result<()> {
        self.run.update_sustainable();
        export::write_all(&self.run, &self.run_dir)?;
        export::adopt_parent_owner(&self.run_dir);
        Ok(())
    }

    fn draw_plots(&self) {
        if let Err(err) = plot::draw_run(&self.run, &self.run_dir) {
            eprintln!("lab bench: warning: plots not drawn: {err:#}");
        }
        export::adopt_parent_owner(&self.run_dir);
    }

    fn run_profiles(&mut self, args: &BenchArgs) -> anyhow::Result<()> {
        let runtime = stack::runtime(args.runtime);
        for index in 0..self.plan.profiles.len() {
            if interrupted() {
                break;
            }
            let profile = self.plan.profiles[index].clone();
            eprintln!("lab bench: profile {}", profile.name);
            let (stack, _guard) = if args.attach {
                (read_attached_stack(&args.state.state_dir)?, None)
            } else {
                let stack = runtime
                    .up(&UpOptions {
                        profile: profile.clone(),
                        db: args.db,
                        state_dir: args.state.state_dir.clone(),
                    })
                    .with_context(|| format!("starting the stack for profile {}", profile.name))?;
                let guard = StackGuard {
                    runtime: runtime.as_ref(),
                    state_dir: args.state.state_dir.clone(),
                };
                (stack, Some(guard))
            };
            self.record_profile(&profile, &stack)?;
            for scenario in self.plan.scenarios.clone() {
                if interrupted() {
                    break;
                }
                self.run_scenario(args, runtime.as_ref(), &profile, &stack, &scenario)?;
            }
        }
        Ok(())
    }

    fn record_profile(&mut self, profile: &Profile, stack: &StackInfo) -> anyhow::Result<()> {
        let sizes = SeedSizes::from_profile(profile)?;
        if self.run.versions.app.is_none() {
            self.run.versions.app = app_version(&stack.base_url);
        }
        // Under compose the bench container learns the database from the running app.
        self.run.settings.db = db_name(stack.db).to_owned();
        if stack.runtime == RuntimeKind::Compose && self.run.machine.engine.is_none() {
            match crate::docker::Engine::from_env().and_then(|e| e.info()) {
                Ok(info) => self.run.machine.engine = Some(info),
                Err(err) => eprintln!("lab bench: warning: no Docker engine information: {err:#}"),
            }
        }
        if !stack.capped {
            eprintln!(
                "lab bench: WARNING: profile {} runs UNCAPPED (cgroups not writable): its figures do not show the caps",
                profile.name
            );
        }
        self.run.profiles.push(ProfileRecord {
            name: profile.name.clone(),
            vars: profile.vars.clone(),
            base_url: stack.base_url.clone(),
            capped: stack.capped,
            services: stack
                .services
                .iter()
                .map(|s| ServiceCaps {
                    name: s.name.clone(),
                    cpu_limit_cores: s.cpu_limit,
                    memory_limit_bytes: s.memory_limit_bytes,
                })
                .collect(),
            seed_customers: sizes.customers,
            seed_disks: sizes.disks,
        });
        self.save()
    }

    fn run_scenario(
        &mut self,
        args: &BenchArgs,
        runtime: &dyn Runtime,
        profile: &Profile,
        stack: &StackInfo,
        scenario: &str,
    ) -> anyhow::Result<()> {
        let urls_file = self.urls_file(profile, stack, scenario)?;
        // A URL file given by path is named by its stem in tables and plots.
        let label = match Scenario::parse(scenario) {
            Some(_) => scenario.to_owned(),
            None => Path::new(scenario)
                .file_stem()
                .map_or_else(|| scenario.to_owned(), |s| s.to_string_lossy().into_owned()),
        };
        let stress = Scenario::parse(scenario) == Some(Scenario::Stress);
        if args.warmup_secs > 0 {
            self.warm_up(&urls_file, self.plan.users[0], args.warmup_secs)?;
        }
        let mut users_iter = UsersPlan::new(&self.plan.users, args.ramp);
        while let Some(users) = users_iter.next() {
            if interrupted() {
                break;
            }
            let ceiling = self.ceiling_at(users, args.ceiling_secs)?;
            let current = if args.attach {
                read_attached_stack(&args.state.state_dir).unwrap_or_else(|_| stack.clone())
            } else {
                runtime.status(&args.state.state_dir).unwrap_or_else(|err| {
                    eprintln!("lab bench: warning: stack status failed ({err:#}); using the services as started");
                    stack.clone()
                })
            };
            let refresh = || {
                if args.attach {
                    read_attached_stack(&args.state.state_dir).ok()
                } else {
                    runtime.status(&args.state.state_dir).ok()
                }
            };
            let step = self.measure_step(
                &StepPlan {
                    profile: &profile.name,
                    scenario: &label,
                    stress,
                    users,
                    secs: args.step_secs,
                    urls_file: &urls_file,
                    ceiling,
                    stress_token: stress_token(profile),
                },
                &current,
                &refresh,
            )?;
            let passed = step.slo.as_ref().is_none_or(|o| o.passed);
            eprintln!("  {}", step_line(&step));
            self.run.steps.push(step);
            self.save()?;
            users_iter.record(passed);
        }
        Ok(())
    }

    /// The URL file for a scenario: the committed `siege/urls/<name>.txt` when it matches
    /// what the profile's seed sizes and nginx address generate, else a fresh one in the run
    /// folder; a path is used as given. Either way it is validated first.
    fn urls_file(
        &self,
        profile: &Profile,
        stack: &StackInfo,
        scenario: &str,
    ) -> anyhow::Result<PathBuf> {
        let path = match Scenario::parse(scenario) {
            None => PathBuf::from(scenario),
            Some(builtin) => {
                let sizes = SeedSizes::from_profile(profile)?;
                let text = urls::generate(builtin, sizes, &stack.base_url)?;
                let committed = self.repo.join("siege/urls").join(format!("{scenario}.txt"));
                if fs::read_to_string(&committed).is_ok_and(|t| t == text) {
                    committed
                } else {
                    let dir = self.run_dir.join("urls");
                    fs::create_dir_all(&dir)?;
                    let path = dir.join(format!("{}-{scenario}.txt", profile.name));
                    fs::write(&path, text)?;
                    path
                }
            }
        };
        let summary = urls::validate(&path)?;
        log::debug!("{}: {} requests", path.display(), summary.requests);
        Ok(path)
    }

    fn warm_up(&self, urls_file: &Path, users: u32, secs: u64) -> anyhow::Result<()> {
        let bar = spinner(format!("warm-up {users} users {secs}s (not counted)"));
        let outcome = siege::run(&SiegeCommand {
            rc: self.rc.clone(),
            urls: urls_file.to_path_buf(),
            users,
            secs,
        })?;
        bar.finish_and_clear();
        if outcome.hung {
            eprintln!("lab bench: warning: siege hung on exit after the warm-up and was stopped");
        } else if outcome.summary.is_none() {
            bail!(
                "siege printed no summary during warm-up against {}: {}",
                urls_file.display(),
                outcome.stderr_tail
            );
        }
        Ok(())
    }

    /// siege's ceiling at a concurrency, measured once per concurrency.
    fn ceiling_at(&mut self, users: u32, secs: u64) -> anyhow::Result<Option<f64>> {
        if secs == 0 {
            return Ok(None);
        }
        if let Some(point) = self.run.siege_ceiling.iter().find(|c| c.users == users) {
            return Ok(Some(point.transactions_per_s));
        }
        if self.ceiling.is_none() {
            self.ceiling = Some(CeilingNginx::start(&self.run_dir.join("ceiling"))?);
        }
        let Some(nginx) = self.ceiling.as_ref() else {
            return Ok(None);
        };
        let bar = spinner(format!("siege ceiling at {users} users ({secs}s)"));
        let command = SiegeCommand {
            rc: self.rc.clone(),
            urls: nginx.urls_file.clone(),
            users,
            secs,
        };
        let mut outcome = siege::run(&command)?;
        if outcome.summary.is_none() {
            // siege 4.0.7 sometimes hangs on exit at high concurrency: one more try.
            eprintln!("  siege gave no summary for its ceiling at {users} users (hung: {}); retrying once", outcome.hung);
            outcome = siege::run(&command)?;
        }
        bar.finish_and_clear();
        let done = outcome.summary.as_ref().map_or(0.0, |s| {
            s.transactions.unwrap_or(0.0) + s.failed_transactions.unwrap_or(0.0)
        });
        let load_secs = outcome.load_secs(secs);
        let point = CeilingPoint {
            users,
            transactions_per_s: done / load_secs,
            wall_secs: outcome.wall_secs,
            siege_cpu_cores: outcome.cpu_seconds / outcome.wall_secs.max(1e-3),
            siege: outcome.summary,
        };
        eprintln!(
            "  siege ceiling at {users} users: {:.0} transactions/s ({:.2} cores)",
            point.transactions_per_s, point.siege_cpu_cores
        );
        let tps = point.transactions_per_s;
        self.run.siege_ceiling.push(point);
        self.run.siege_ceiling.sort_by_key(|c| c.users);
        Ok(Some(tps))
    }

    /// One measured step. `refresh` reads the stack again after the load (restart counts).
    fn measure_step(
        &mut self,
        plan: &StepPlan<'_>,
        stack: &StackInfo,
        refresh: &dyn Fn() -> Option<StackInfo>,
    ) -> anyhow::Result<Step> {
        let index = self.run.steps.len();
        let mut tracked: Vec<Tracked> = stack.services.iter().map(Tracked::start).collect();
        let host_start = HostCpu::read();
        let mut host_last = host_start;
        let log_start = access_log::offset(&stack.access_log);
        let stress_start_status = if plan.stress {
            Some(start_stress(
                &stack.base_url,
                plan.secs,
                plan.stress_token.as_deref(),
            ))
        } else {
            None
        };
        let started_at = Utc::now();
        let start_offset_secs = self.clock.elapsed().as_secs_f64();
        let mut siege = RunningSiege::spawn(&SiegeCommand {
            rc: self.rc.clone(),
            urls: plan.urls_file.to_path_buf(),
            users: plan.users,
            secs: plan.secs,
        })?;
        let bar = step_bar(plan);
        let mut last_log = log_start;
        let mut last_sample = Instant::now();
        let mut siege_cpu_last = 0.0;
        let outcome = loop {
            if let Some(outcome) = siege.try_finish()? {
                break outcome;
            }
            std::thread::sleep(Duration::from_millis(100));
            bar.set_position(siege.elapsed().as_secs().min(plan.secs));
            if last_sample.elapsed() < Duration::from_secs(1) {
                continue;
            }
            let interval = last_sample.elapsed().as_secs_f64();
            last_sample = Instant::now();
            let now_log = access_log::offset(&stack.access_log);
            let new_lines = access_log::read_slice(&stack.access_log, last_log, now_log)
                .map(|b| access_log::count_lines(&b))
                .unwrap_or(0);
            last_log = now_log;
            bar.set_message(format!("{:.0} req/s", new_lines as f64 / interval));
            let t_secs = self.clock.elapsed().as_secs_f64();
            let readings = sample::sample_all(&mut tracked);
            for (service, (now, delta, secs)) in tracked.iter().zip(readings) {
                self.run.samples.push(Sample {
                    t_secs,
                    step: index,
                    profile: plan.profile.to_owned(),
                    scenario: plan.scenario.to_owned(),
                    service: service.service.name.clone(),
                    cpu_cores: delta.cpu_seconds / if secs > 0.0 { secs } else { interval },
                    cpu_throttled_percent: delta.throttled_percent(),
                    memory_bytes: now.memory_current_bytes,
                });
            }
            if let (Some(last), Some(now)) = (host_last, HostCpu::read()) {
                self.run.samples.push(Sample {
                    t_secs,
                    step: index,
                    profile: plan.profile.to_owned(),
                    scenario: plan.scenario.to_owned(),
                    service: "host".into(),
                    cpu_cores: last.usage_until(&now).cpu_busy_cores,
                    cpu_throttled_percent: 0.0,
                    memory_bytes: 0,
                });
                host_last = Some(now);
            }
            if let Some(cpu) = sample::process_cpu_seconds(siege.pid()) {
                self.run.samples.push(Sample {
                    t_secs,
                    step: index,
                    profile: plan.profile.to_owned(),
                    scenario: plan.scenario.to_owned(),
                    service: "siege".into(),
                    cpu_cores: (cpu - siege_cpu_last).max(0.0) / interval,
                    cpu_throttled_percent: 0.0,
                    memory_bytes: 0,
                });
                siege_cpu_last = cpu;
            }
        };
        bar.finish_and_clear();
        // The services' last reading as the load ends, before waiting for nginx's log.
        sample::finish_all(&mut tracked);
        let log_end = access_log::settled_offset(&stack.access_log);
        let bytes = access_log::read_slice(&stack.access_log, log_start, log_end)
            .with_context(|| format!("reading {}", stack.access_log.display()))?;
        let wall_secs = outcome.wall_secs;
        let load_secs = outcome.load_secs(plan.secs);
        if outcome.hung {
            eprintln!(
                "lab bench: warning: siege hung on exit and was stopped; rates use {load_secs:.1} s"
            );
        }
        let nginx = access_log::stats(&bytes, load_secs);
        let host = host_start
            .zip(HostCpu::read())
            .map(|(start, end)| start.usage_until(&end));
        let latest = refresh();
        let services: Vec<_> = tracked
            .iter_mut()
            .map(|t| {
                let now = latest
                    .as_ref()
                    .and_then(|l| l.services.iter().find(|s| s.name == t.service.name));
                t.usage(load_secs, now)
            })
            .collect();
        if stress_start_status.is_some() {
            stop_stress(&stack.base_url, plan.stress_token.as_deref());
        }
        if nginx.requests == 0 {
            eprintln!(
                "lab bench: warning: nginx logged no request during the step (siege said: {})",
                outcome.stderr_tail
            );
        }

        let siege_done = outcome.summary.as_ref().map_or(0.0, |s| {
            s.transactions.unwrap_or(0.0) + s.failed_transactions.unwrap_or(0.0)
        });
        // Without siege's summary (it hung on exit), what nginx logged is what siege sent.
        let siege_transactions_per_s = if outcome.summary.is_some() {
            siege_done / load_secs
        } else {
            nginx.requests_per_s
        };
        let ceiling_percent = plan
            .ceiling
            .filter(|c| *c > 0.0)
            .map(|c| 100.0 * siege_transactions_per_s / c);
        let siege_cpu_cores = outcome.cpu_seconds / wall_secs.max(1e-3);
        let verdict = verdict::decide(&verdict::VerdictInput {
            nginx: &nginx,
            services: &services,
            ceiling_percent,
            siege_cpu_cores,
            machine_cores: self.run.machine.cores,
            host: host.as_ref(),
        });
        let siege_bound = verdict.bottleneck == verdict::Bottleneck::LoadGenerator
            || ceiling_percent.is_some_and(|p| p >= verdict::CEILING_PERCENT);
        let mut step = Step {
            index,
            profile: plan.profile.to_owned(),
            scenario: plan.scenario.to_owned(),
            users: plan.users,
            started_at,
            start_offset_secs,
            wall_secs,
            urls_file: plan.urls_file.display().to_string(),
            siege_exit_code: outcome.exit_code,
            siege_hung: outcome.hung,
            siege: outcome.summary,
            siege_transactions_per_s,
            siege_cpu_seconds: outcome.cpu_seconds,
            siege_cpu_cores,
            nginx,
            services,
            ceiling_transactions_per_s: plan.ceiling,
            ceiling_percent,
            siege_bound,
            host,
            verdict,
            slo: None,
            stress_start_status,
        };
        if !self.plan.slo.is_empty() {
            step.slo = Some(slo::evaluate(&step, &self.plan.slo));
        }
        Ok(step)
    }

    /// Exit with `SloFailed` when a required SLO did not hold: in a fixed matrix, any step;
    /// in ramp mode (which runs until an SLO breaks), a series where no step met them.
    fn check_slo(&self) -> anyhow::Result<()> {
        if self.plan.slo.is_empty() {
            return Ok(());
        }
        let failures: Vec<String> = if self.run.settings.ramp {
            self.run
                .sustainable
                .iter()
                .filter(|s| s.max_users.is_none())
                .map(|s| {
                    format!(
                        "{} / {}: no concurrency met the SLOs",
                        s.profile, s.scenario
                    )
                })
                .collect()
        } else {
            self.run
                .steps
                .iter()
                .filter_map(|s| {
                    let o = s.slo.as_ref()?;
                    (!o.passed).then(|| {
                        format!(
                            "{} / {} / {} users: {}",
                            s.profile,
                            s.scenario,
                            s.users,
                            o.failures.join("; ")
                        )
                    })
                })
                .collect()
        };
        if failures.is_empty() {
            Ok(())
        } else {
            Err(SloFailed(failures.join(" | ")).into())
        }
    }
}

struct StepPlan<'a> {
    profile: &'a str,
    scenario: &'a str,
    /// Grow a memory tree in one replica during the step.
    stress: bool,
    users: u32,
    secs: u64,
    urls_file: &'a Path,
    ceiling: Option<f64>,
    stress_token: Option<String>,
}

/// Concurrency steps: the list as given, or in ramp mode doubling from its lowest value up
/// to its highest, stopping at the first step that breaks an SLO (the knee lies below).
struct UsersPlan {
    fixed: Vec<u32>,
    ramp: bool,
    next_ramp: Option<u32>,
    max: u32,
    stopped: bool,
}

impl UsersPlan {
    fn new(users: &[u32], ramp: bool) -> Self {
        Self {
            fixed: users.iter().rev().copied().collect(),
            ramp,
            next_ramp: users.first().copied(),
            max: users.last().copied().unwrap_or(1),
            stopped: false,
        }
    }

    fn next(&mut self) -> Option<u32> {
        if self.stopped {
            return None;
        }
        if !self.ramp {
            return self.fixed.pop();
        }
        let current = self.next_ramp?;
        self.next_ramp = (current < self.max).then(|| (current * 2).min(self.max));
        Some(current)
    }

    fn record(&mut self, passed: bool) {
        if self.ramp && !passed {
            self.stopped = true;
        }
    }
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn step_bar(plan: &StepPlan<'_>) -> ProgressBar {
    let bar = ProgressBar::new(plan.secs);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos:>3}/{len}s {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!(
        "{} / {} / {} users",
        plan.profile, plan.scenario, plan.users
    ));
    bar
}

fn step_line(step: &Step) -> String {
    format!(
        "{} / {} / {} users: {:.0} req/s, p50 {} ms, p99 {} ms, availability {:.2}%, 429 {}, 5xx {}, bottleneck {}{}{}",
        step.profile,
        step.scenario,
        step.users,
        step.nginx.requests_per_s,
        step.nginx.p50_ms,
        step.nginx.p99_ms,
        step.nginx.availability_percent,
        step.nginx.status_429,
        step.nginx.status_5xx,
        step.verdict.bottleneck.label(),
        if step.siege_bound { " (siege-bound)" } else { "" },
        match &step.slo {
            Some(o) if o.passed => ", SLO pass".to_owned(),
            Some(o) => format!(", SLO FAIL ({})", o.failures.join("; ")),
            None => String::new(),
        }
    )
}

fn print_final_table(run: &Run) {
    if run.steps.is_empty() {
        return;
    }
    println!(
        "{:<10} {:<8} {:>6} {:>9} {:>7} {:>7} {:>8} {:>6} {:>6} {:<15} {:<5}",
        "profile",
        "scenario",
        "users",
        "req/s",
        "p50 ms",
        "p99 ms",
        "avail %",
        "429",
        "5xx",
        "bottleneck",
        "SLO"
    );
    for s in &run.steps {
        println!(
            "{:<10} {:<8} {:>6} {:>9.0} {:>7} {:>7} {:>8.2} {:>6} {:>6} {:<15} {:<5}",
            s.profile,
            s.scenario,
            s.users,
            s.nginx.requests_per_s,
            s.nginx.p50_ms,
            s.nginx.p99_ms,
            s.nginx.availability_percent,
            s.nginx.status_429,
            s.nginx.status_5xx,
            format!(
                "{}{}",
                s.verdict.bottleneck.label(),
                if s.siege_bound { "*" } else { "" }
            ),
            s.slo
                .as_ref()
                .map_or("-", |o| if o.passed { "pass" } else { "FAIL" })
        );
    }
    for s in &run.sustainable {
        println!(
            "max sustainable users {} / {}: {}",
            s.profile,
            s.scenario,
            s.max_users
                .map_or_else(|| "none".to_owned(), |u| u.to_string())
        );
    }
    if run.steps.iter().any(|s| s.siege_bound) {
        println!("* siege-bound: siege, not the stack, was the limit of that step");
    }
}

fn new_run(args: &BenchArgs, plan: &Plan) -> Run {
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
            nginx: nginx_version(),
            siege: siege::version(),
        },
        profiles: Vec::new(),
        siege_ceiling: Vec::new(),
        steps: Vec::new(),
        samples: Vec::new(),
        sustainable: Vec::new(),
    }
}

fn runtime_name(kind: RuntimeKind) -> &'static str {
    match kind {
        RuntimeKind::Native => "native",
        RuntimeKind::Compose => "compose",
    }
}

fn db_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => "sqlite",
        DbKind::Postgres => "postgres",
        DbKind::Mysql => "mysql",
    }
}

pub fn check_tools() -> anyhow::Result<()> {
    if siege::version().is_none() {
        bail!(
            "siege not found (`{}`): install Debian's `siege` package (apt-get install siege) or set LAB_SIEGE_BIN",
            siege::binary()
        );
    }
    Ok(())
}

pub fn create_run_dir(results: &Path, label: &str) -> anyhow::Result<PathBuf> {
    let slug: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut dir = results.join(format!("{stamp}-{slug}"));
    let mut n = 2;
    while dir.exists() {
        dir = results.join(format!("{stamp}-{slug}-{n}"));
        n += 1;
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Absolute, because nginx resolves the ceiling config's paths against its own prefix.
    fs::canonicalize(&dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

fn read_attached_stack(state_dir: &Path) -> anyhow::Result<StackInfo> {
    let path = state_dir.join("stack.json");
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "--attach: cannot read {} (start a stack with `lab up` or write its StackInfo there)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a stack.json", path.display()))
}

fn stress_token(profile: &Profile) -> Option<String> {
    std::env::var("STRESS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| profile.get("STRESS_TOKEN").map(str::to_owned))
}

fn auth(token: Option<&str>) -> Vec<(&'static str, String)> {
    token
        .map(|t| vec![("Authorization", format!("Bearer {t}"))])
        .unwrap_or_default()
}

/// Makes the stress replica grow its tree towards its cap; returns the HTTP status.
fn start_stress(base_url: &str, step_secs: u64, token: Option<&str>) -> u16 {
    let body = serde_json::json!({
        "memory_percent": STRESS_MEMORY_PERCENT,
        "duration_seconds": (step_secs + 5).clamp(5, 3600),
    })
    .to_string();
    match http::request(
        base_url,
        "POST",
        &format!("/replicas/{STRESS_REPLICA}/start"),
        &auth(token),
        Some(&body),
        Duration::from_secs(5),
    ) {
        Ok(response) => {
            if response.status != 202 {
                eprintln!(
                    "lab bench: warning: starting the stress tree answered {}: {}",
                    response.status, response.body
                );
            }
            response.status
        }
        Err(err) => {
            eprintln!("lab bench: warning: cannot start the stress tree: {err:#}");
            0
        }
    }
}

fn stop_stress(base_url: &str, token: Option<&str>) {
    for action in ["stop", "clear"] {
        let path = format!("/replicas/{STRESS_REPLICA}/{action}");
        if let Err(err) = http::request(
            base_url,
            "POST",
            &path,
            &auth(token),
            None,
            Duration::from_secs(5),
        ) {
            eprintln!("lab bench: warning: {path}: {err:#}");
        }
    }
}

fn app_version(base_url: &str) -> Option<String> {
    let response = http::request(base_url, "GET", "/", &[], None, Duration::from_secs(3)).ok()?;
    let info: serde_json::Value = serde_json::from_str(&response.body).ok()?;
    info.get("version")?.as_str().map(str::to_owned)
}

fn nginx_binary() -> String {
    std::env::var("LAB_NGINX_BIN").unwrap_or_else(|_| "nginx".to_owned())
}

fn nginx_version() -> Option<String> {
    let output = Command::new(nginx_binary()).arg("-v").output().ok()?;
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

fn machine() -> Machine {
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

/// `lab bench --write-urls`: the committed scenario files for the first profile's sizes.
fn write_committed_urls(args: &BenchArgs, repo: &Path) -> anyhow::Result<()> {
    let sizes = match args.profile.first().map(|p| Profile::load(p)) {
        Some(Ok(profile)) => SeedSizes::from_profile(&profile)?,
        _ => SeedSizes::default(),
    };
    let dir = repo.join("siege/urls");
    fs::create_dir_all(&dir)?;
    for scenario in Scenario::ALL {
        let path = dir.join(format!("{}.txt", scenario.name()));
        fs::write(
            &path,
            urls::generate(scenario, sizes, urls::DEFAULT_BASE_URL)?,
        )?;
        println!("{}", path.display());
    }
    Ok(())
}

/// A trivial nginx (one route answering 200, no caps, no log) on a free port: what siege can
/// drive on this machine when the server costs nothing.
struct CeilingNginx {
    child: Child,
    urls_file: PathBuf,
}

impl CeilingNginx {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir.join("tmp"))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        fs::write(
            &conf,
            format!(
                "# siege's ceiling: a route that costs nothing, uncapped.\n\
                 worker_processes auto;\nworker_rlimit_nofile 20000;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 8192; }}\n\
                 http {{\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
                 \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{ default_type application/json; return 200 '{{\"ok\":true}}'; }}\n  }}\n}}\n"
            ),
        )?;
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start nginx for siege's ceiling (`{}`: {e}): install Debian's `nginx-light` or set LAB_NGINX_BIN",
                    nginx_binary()
                )
            })?;
        let mut nginx = Self {
            child,
            urls_file: dir.join("urls.txt"),
        };
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while http::request(&base, "GET", "/", &[], None, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                bail!(
                    "nginx for siege's ceiling exited ({status}); see {}",
                    dir.join("error.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("nginx for siege's ceiling did not answer on {base} within 5 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The read scenario's shape (paths do not matter: every path answers 200).
        let text = urls::generate(Scenario::Read, SeedSizes::default(), &base)?;
        fs::write(&nginx.urls_file, text)?;
        Ok(nginx)
    }
}

impl Drop for CeilingNginx {
    fn drop(&mut self) {
        // SIGQUIT: nginx's graceful stop; then reap it.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// lab report, lab compare
// ---------------------------------------------------------------------------------------

/// `lab report <run>`: rewrites the CSVs, report.md and every plot from run.json alone.
pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    let (run, dir) = export::load_run(&args.run)?;
    for exporter in export::all() {
        if exporter.file_name() == "run.json" {
            continue;
        }
        export::write_atomic(&dir.join(exporter.file_name()), &exporter.render(&run)?)?;
    }
    plot::draw_run(&run, &dir)?;
    export::adopt_parent_owner(&dir);
    println!("{}", dir.join("report.md").display());
    Ok(())
}

/// `lab compare <run> <run>...`: a side-by-side table and overlay plots.
pub fn compare(args: CompareArgs) -> anyhow::Result<()> {
    let runs = args
        .runs
        .iter()
        .map(|path| export::load_run(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let out = match args.out {
        Some(out) => out,
        None => {
            let parent = runs[0]
                .1
                .parent()
                .map_or_else(|| PathBuf::from("results"), Path::to_path_buf);
            parent.join(format!("compare-{}", Utc::now().format("%Y%m%dT%H%M%SZ")))
        }
    };
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("compare.md");
    export::write_atomic(&path, &export::compare_markdown(&runs))?;
    let only_runs: Vec<Run> = runs.into_iter().map(|(run, _)| run).collect();
    plot::draw_compare(&only_runs, &out)?;
    export::adopt_parent_owner(&out);
    println!("{}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(plan: &mut UsersPlan, fail_at: Option<u32>) -> Vec<u32> {
        let mut seen = Vec::new();
        while let Some(users) = plan.next() {
            seen.push(users);
            plan.record(fail_at.is_none_or(|f| users < f));
        }
        seen
    }

    #[test]
    fn a_fixed_matrix_runs_every_step_in_order() {
        let mut plan = UsersPlan::new(&[10, 50, 450], false);
        assert_eq!(steps(&mut plan, Some(50)), vec![10, 50, 450]);
    }

    #[test]
    fn ramp_doubles_up_to_the_cap_and_stops_at_the_first_failure() {
        let mut plan = UsersPlan::new(&[10, 450], true);
        assert_eq!(steps(&mut plan, None), vec![10, 20, 40, 80, 160, 320, 450]);
        let mut plan = UsersPlan::new(&[10, 450], true);
        assert_eq!(steps(&mut plan, Some(70)), vec![10, 20, 40, 80]);
    }
}
