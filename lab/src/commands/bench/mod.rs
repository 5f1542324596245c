//! `lab bench`: reads like the job. Check the tools, then for each profile start the stack
//! (or attach to a running one), and for each scenario warm up and measure step after step
//! with the shared step runner, writing every result file after every step so an interrupted
//! run keeps what it measured. Its concerns live beside it: siege's ceiling (`ceiling`), the
//! stress scenario's side job (`stress`), the run's header (`probes`), the concurrency plan
//! (`users`) and the terminal (`console`).

mod ceiling;
mod console;
mod nginx_ceiling;
mod probes;
mod stress;
mod users;

pub(crate) use probes::machine;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;

use self::ceiling::CeilingNginx;
use self::console::{print_final_table, spinner, step_bar, step_line};
use self::users::UsersPlan;
use crate::cli::BenchArgs;
use crate::config::{LabConfig, Ports};
use crate::export;
use crate::load::siege::{self, SiegeCommand};
use crate::load::step::StepRunner;
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::plot;
use crate::profile::{self, Profile};
use crate::results::{slo, verdict, ProfileRecord, Run, Sample, ServiceCaps, Step};
use crate::stack::{self, Runtime, StackInfo, UpOptions};
use contract::RuntimeKind;

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

pub(crate) fn catch_interrupts() {
    // A plain flag store is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn bench(config: &LabConfig, args: BenchArgs) -> anyhow::Result<()> {
    if args.write_urls {
        return write_committed_urls(config, &args, &profile::repo_root());
    }
    let (bench, outcome) = execute(config, &args)?;
    print_final_table(&bench.run);
    println!("{}", bench.run_dir.join("report.md").display());
    println!("{}", bench.run_dir.join("report.html").display());
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

/// A bench that ran to its end: its folder and what it measured.
pub(crate) struct Finished {
    pub run_dir: PathBuf,
    pub run: Run,
}

/// A whole bench (every file written, the stack stopped) without the summary table and
/// without judging its SLOs (each step still records its SLO outcome): `lab tune` runs one
/// per candidate and judges them itself. Interrupted: an error naming the folder.
pub(crate) fn run_quietly(config: &LabConfig, args: &BenchArgs) -> anyhow::Result<Finished> {
    let (bench, outcome) = execute(config, args)?;
    outcome?;
    if interrupted() {
        bail!(
            "interrupted: the bench in {} is incomplete",
            bench.run_dir.display()
        );
    }
    Ok(Finished {
        run_dir: bench.run_dir,
        run: bench.run,
    })
}

/// Plans, runs every profile and writes the results; the run's own outcome comes back beside
/// the bench so the files are written whatever happened.
fn execute(config: &LabConfig, args: &BenchArgs) -> anyhow::Result<(Bench, anyhow::Result<()>)> {
    let repo = profile::repo_root();
    let plan = Plan::from_args(args)?;
    siege::require(config)?;
    let run_dir = export::create_run_dir(&args.results, &args.label)?;
    let rc = siege::write_rc(&repo, &run_dir)?;
    catch_interrupts();
    eprintln!("lab bench: results in {}", run_dir.display());

    let mut bench = Bench {
        run: probes::new_run(config, args, &plan),
        config: config.clone(),
        run_dir,
        repo,
        rc,
        clock: Instant::now(),
        ceiling: None,
        plan,
    };
    bench.save()?;
    let outcome = bench.run_profiles(args);
    if outcome.is_ok() && !interrupted() {
        bench.run.finished_at = Some(Utc::now());
    }
    bench.save()?;
    bench.draw_plots();
    Ok((bench, outcome))
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
    config: LabConfig,
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

    /// Draws the plots, then report.html from report.md with them inlined.
    fn draw_plots(&self) {
        if let Err(err) = plot::draw_run(&self.run, &self.run_dir) {
            eprintln!("lab bench: warning: plots not drawn: {err:#}");
        }
        let title = super::report::run_title(&self.run);
        if let Err(err) = export::html::write_from_markdown(&self.run_dir, "report", &title) {
            eprintln!("lab bench: warning: report.html not written: {err:#}");
        }
        export::adopt_parent_owner(&self.run_dir);
    }

    fn run_profiles(&mut self, args: &BenchArgs) -> anyhow::Result<()> {
        let runtime = stack::runtime(args.runtime, &self.config);
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
                        seed: self.config.seed(&profile)?,
                        profile: profile.clone(),
                        db: args.db,
                        state_dir: args.state.state_dir.clone(),
                        ports: self.config.ports(Ports::STACK),
                        app_env: Vec::new(),
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
        let sizes = SeedSizes::of(self.config.seed(profile)?);
        if self.run.versions.app.is_none() {
            self.run.versions.app = probes::app_version(&stack.base_url);
        }
        // Under compose the bench container learns the database from the running app.
        self.run.settings.db = probes::db_name(stack.db).to_owned();
        if stack.runtime == RuntimeKind::Compose && self.run.machine.engine.is_none() {
            match self.config.engine().and_then(|e| e.info()) {
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
            // nginx's capped ceiling: lab starts the capped nginx itself (natively in a
            // cgroup, under compose as the `ceiling` services), so not on an attached stack
            // nor from inside the bench container.
            if !args.attach && self.config.base_url.as_ref().is_none_or(|u| u.is_empty()) {
                let sizes = SeedSizes::of(self.config.seed(profile)?);
                if let Err(err) =
                    self.nginx_ceiling_at(profile, stack, sizes, users, args.ceiling_secs)
                {
                    eprintln!("lab bench: warning: nginx's capped ceiling not measured: {err:#}");
                }
            }
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
                    stress_token: self.config.stress_token(profile),
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
            None => self.pointed_at_stack(profile, stack, Path::new(scenario))?,
            Some(builtin) => {
                let sizes = SeedSizes::of(self.config.seed(profile)?);
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

    /// A URL file given by path, as it is when its `BASE=` line names the stack's address (or
    /// it has none); else a copy in the run folder whose `BASE=` is the stack's, so a file
    /// written for the default port drives a stack published on another.
    fn pointed_at_stack(
        &self,
        profile: &Profile,
        stack: &StackInfo,
        path: &Path,
    ) -> anyhow::Result<PathBuf> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the URL file {}", path.display()))?;
        let base = stack.base_url.trim_end_matches('/');
        let Some(text) = urls::with_base(&text, base) else {
            return Ok(path.to_path_buf());
        };
        let dir = self.run_dir.join("urls");
        fs::create_dir_all(&dir)?;
        let stem = path
            .file_stem()
            .map_or_else(|| "urls".into(), |s| s.to_string_lossy().into_owned());
        let copy = dir.join(format!("{}-{stem}.txt", profile.name));
        fs::write(&copy, text)?;
        eprintln!(
            "  {}: BASE pointed at the stack ({base}) in {}",
            path.display(),
            copy.display()
        );
        Ok(copy)
    }

    fn warm_up(&self, urls_file: &Path, users: u32, secs: u64) -> anyhow::Result<()> {
        let bar = spinner(format!("warm-up {users} users {secs}s (not counted)"));
        let outcome = siege::run(&SiegeCommand {
            bin: self.config.siege_bin(),
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

    /// One measured step: the shared runner, the stress side job when asked, one sample row
    /// per service and second, then the verdict. `refresh` reads the stack again after the
    /// load (restart counts).
    fn measure_step(
        &mut self,
        plan: &StepPlan<'_>,
        stack: &StackInfo,
        refresh: &dyn Fn() -> Option<StackInfo>,
    ) -> anyhow::Result<Step> {
        let index = self.run.steps.len();
        let token = plan.stress_token.as_deref();
        let stress_start_status = plan
            .stress
            .then(|| stress::start(&stack.base_url, plan.secs, token));
        let started_at = Utc::now();
        let start_offset_secs = self.clock.elapsed().as_secs_f64();
        let mut runner = StepRunner::start(
            stack,
            &SiegeCommand {
                bin: self.config.siege_bin(),
                rc: self.rc.clone(),
                urls: plan.urls_file.to_path_buf(),
                users: plan.users,
                secs: plan.secs,
            },
        )?;
        let bar = step_bar(plan);
        let outcome = loop {
            if let Some(outcome) = runner.try_finish()? {
                break outcome;
            }
            std::thread::sleep(Duration::from_millis(100));
            bar.set_position((runner.elapsed_secs() as u64).min(plan.secs));
            let Some(reading) = runner.tick() else {
                continue;
            };
            bar.set_message(format!("{:.0} req/s", reading.live_requests_per_s));
            let t_secs = self.clock.elapsed().as_secs_f64();
            let row = |service: &str, cpu_cores: f64, throttled: f64, memory_bytes: u64| Sample {
                t_secs,
                step: index,
                profile: plan.profile.to_owned(),
                scenario: plan.scenario.to_owned(),
                service: service.to_owned(),
                cpu_cores,
                cpu_throttled_percent: throttled,
                memory_bytes,
            };
            for (name, cores, throttled, memory) in &reading.services {
                self.run
                    .samples
                    .push(row(name, *cores, *throttled, *memory));
            }
            if let Some(cores) = reading.host_cpu_cores {
                self.run.samples.push(row("host", cores, 0.0, 0));
            }
            if let Some(cores) = reading.siege_cpu_cores {
                self.run.samples.push(row("siege", cores, 0.0, 0));
            }
        };
        bar.finish_and_clear();
        let wall_secs = outcome.wall_secs;
        let m = runner.measure(outcome, refresh)?;
        if stress_start_status.is_some() {
            stress::stop(&stack.base_url, token);
        }
        let ceiling_percent = plan
            .ceiling
            .filter(|c| *c > 0.0)
            .map(|c| 100.0 * m.siege_transactions_per_s / c);
        let verdict = verdict::decide(&verdict::VerdictInput {
            nginx: &m.nginx,
            services: &m.services,
            ceiling_percent,
            siege_cpu_cores: m.siege_cpu_cores,
            machine_cores: self.run.machine.cores,
            host: m.host.as_ref(),
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
            siege_exit_code: m.siege.exit_code,
            siege_hung: m.siege.hung,
            siege: m.siege.summary,
            siege_transactions_per_s: m.siege_transactions_per_s,
            siege_cpu_seconds: m.siege.cpu_seconds,
            siege_cpu_cores: m.siege_cpu_cores,
            nginx: m.nginx,
            services: m.services,
            ceiling_transactions_per_s: plan.ceiling,
            ceiling_percent,
            siege_bound,
            host: m.host,
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

pub(crate) struct StepPlan<'a> {
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

/// `lab bench --write-urls`: the committed scenario files for the first profile's sizes.
fn write_committed_urls(config: &LabConfig, args: &BenchArgs, repo: &Path) -> anyhow::Result<()> {
    let sizes = match args.profile.first().map(|p| Profile::load(p)) {
        Some(Ok(profile)) => SeedSizes::of(config.seed(&profile)?),
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
