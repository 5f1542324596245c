//! A bench, run from its plan: for each profile hold a stack (started, or attached to), for
//! each scenario warm up and measure step after step, writing every result file after every
//! step so an interrupted run keeps what it measured. The figures of a step come from the
//! shared step runner; the ceilings it is compared with from [`Ceilings`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;

use super::ceiling::Ceilings;
use super::load::{Driver, Load};
use super::siege;
use super::step::{self, StepContext, StepRunner};
use super::stress;
use crate::config::{LabConfig, Ports};
use crate::console::{spinner, step_bar, step_line};
use crate::export;
use crate::interrupt;
use crate::load::urls::{Scenario, SeedSizes};
use crate::plan::levels::{Levels, Offered, Rates};
use crate::plan::{BenchPlan, DriverKind, ScenarioSource};
use crate::plot;
use crate::profile::{self, Profile};
use crate::results::{ProfileRecord, Run, ServiceCaps, Settings, Step, Versions, SCHEMA_VERSION};
use crate::sample::machine;
use crate::stack::{self, Stack, StackInfo, UpOptions};

/// A bench that ran (to its end, or until interrupted): its folder and what it measured.
pub struct Finished {
    pub run_dir: PathBuf,
    pub run: Run,
}

/// Runs the plan and writes its files; the run's own outcome comes back beside what it
/// measured, so the files are written whatever happened.
pub fn run(config: &LabConfig, plan: &BenchPlan) -> anyhow::Result<(Finished, anyhow::Result<()>)> {
    let run_dir = export::create_run_dir(&plan.results, &plan.label)?;
    let run = new_run(config, plan);
    go(config, plan, run_dir, run)
}

/// Finishes an interrupted run in its own folder: the steps it has are kept and skipped (a
/// ramp or `--rate auto` replays their outcomes to find where it stopped), the rest are
/// measured and appended. The caller checked that `plan` is the run's own.
pub fn resume(
    config: &LabConfig,
    plan: &BenchPlan,
    run_dir: PathBuf,
    mut run: Run,
) -> anyhow::Result<(Finished, anyhow::Result<()>)> {
    run.finished_at = None;
    eprintln!(
        "lab bench: resuming {} ({} steps measured)",
        run_dir.display(),
        run.steps.len()
    );
    go(config, plan, run_dir, run)
}

fn go(
    config: &LabConfig,
    plan: &BenchPlan,
    run_dir: PathBuf,
    run: Run,
) -> anyhow::Result<(Finished, anyhow::Result<()>)> {
    // siege reads its siegerc from the run folder, which records it; lab's own client has none.
    let rc = match plan.driver {
        DriverKind::Siege => siege::write_rc(&profile::repo_root(), &run_dir)?,
        DriverKind::Lab => run_dir.join("siegerc"),
    };
    interrupt::catch();
    eprintln!("lab bench: results in {}", run_dir.display());
    // The samples' clock goes on from where a resumed run stopped.
    let elapsed = run
        .samples
        .iter()
        .map(|s| s.t_secs)
        .chain(run.steps.iter().map(|s| s.start_offset_secs + s.wall_secs))
        .fold(0.0_f64, f64::max);
    let clock = Instant::now()
        .checked_sub(Duration::from_secs_f64(elapsed))
        .unwrap_or_else(Instant::now);
    let mut bench = Bench {
        run,
        config: config.clone(),
        ceilings: Ceilings::new(config, &run_dir, plan.ceiling_secs),
        driver: super::driver(plan.driver, config, &rc)?,
        run_dir,
        clock,
        plan: plan.clone(),
    };
    bench.save()?;
    let outcome = bench.run_profiles();
    if outcome.is_ok() && !interrupt::interrupted() {
        bench.run.finished_at = Some(Utc::now());
    }
    bench.save()?;
    if plan.plots {
        bench.draw_plots();
    }
    Ok((
        Finished {
            run_dir: bench.run_dir,
            run: bench.run,
        },
        outcome,
    ))
}

/// The run's header: settings, machine, versions.
fn new_run(config: &LabConfig, plan: &BenchPlan) -> Run {
    Run {
        schema_version: SCHEMA_VERSION,
        label: plan.label.clone(),
        started_at: Utc::now(),
        finished_at: None,
        command_line: profile::command_line_in_repository(std::env::args()),
        settings: Settings {
            runtime: if plan.attach {
                "attached".to_owned()
            } else {
                plan.runtime.to_string()
            },
            db: plan.db.to_string(),
            scenarios: plan
                .scenarios
                .iter()
                .map(ScenarioSource::as_given)
                .collect(),
            driver: plan.driver.name().to_owned(),
            users: plan.users.clone(),
            rates: match &plan.rates {
                Rates::List(rates) => rates.clone(),
                Rates::None | Rates::Auto => Vec::new(),
            },
            rates_auto: plan.rates == Rates::Auto,
            arrivals: (plan.rates != Rates::None).then_some(plan.arrivals),
            step_secs: plan.step_secs,
            warmup_secs: plan.warmup_secs,
            ceiling_secs: plan.ceiling_secs,
            ramp: plan.ramp,
            slo_text: plan.slo_text.clone(),
            slo: plan.slo.clone(),
        },
        machine: machine::machine(),
        versions: Versions {
            lab: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: machine::git_commit(),
            app: None,
            nginx: machine::nginx_version(config),
            siege: siege::version(config),
        },
        reference: None,
        profiles: Vec::new(),
        driver_ceiling: Vec::new(),
        nginx_ceiling: Vec::new(),
        steps: Vec::new(),
        samples: Vec::new(),
        sustainable: Vec::new(),
    }
}

struct Bench {
    run: Run,
    config: LabConfig,
    run_dir: PathBuf,
    driver: Box<dyn Driver>,
    ceilings: Ceilings,
    /// Zero of every `t_secs`.
    clock: Instant,
    plan: BenchPlan,
}

/// One step to measure.
struct StepPlan<'a> {
    profile: &'a Profile,
    scenario: &'a str,
    /// Grow a memory tree in one replica during the step.
    stress: bool,
    offered: Offered,
    urls_file: &'a Path,
    ceiling: Option<f64>,
}

pub use crate::results::OPEN_CEILING_USERS;

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
        // report.md again, now that its images exist to be linked.
        if let Err(err) = export::write_all(&self.run, &self.run_dir) {
            eprintln!("lab bench: warning: report.md not rewritten: {err:#}");
        }
        let title = export::run_title(&self.run);
        if let Err(err) = export::html::write_from_markdown(&self.run_dir, "report", &title) {
            eprintln!("lab bench: warning: report.html not written: {err:#}");
        }
        export::adopt_parent_owner(&self.run_dir);
    }

    fn run_profiles(&mut self) -> anyhow::Result<()> {
        for profile in self.plan.profiles.clone() {
            if interrupt::interrupted() {
                break;
            }
            if self.profile_done(&profile) {
                eprintln!(
                    "lab bench: profile {}: every step measured already",
                    profile.name
                );
                continue;
            }
            eprintln!("lab bench: profile {}", profile.name);
            let stack = self.hold_stack(&profile)?;
            self.record_profile(&profile, stack.info())?;
            if self.run.reference.is_none() && !self.plan.attach {
                self.measure_reference(&profile, stack.info())?;
            }
            for scenario in self.plan.scenarios.clone() {
                if interrupt::interrupted() {
                    break;
                }
                self.run_scenario(&stack, &profile, &scenario)?;
            }
            stack.down()?;
        }
        Ok(())
    }

    /// The run's reference on the first profile's stack, before any warm-up: the machine
    /// as it was, and each service's CPU per request of a fixed load.
    fn measure_reference(&mut self, profile: &Profile, stack: &StackInfo) -> anyhow::Result<()> {
        let bar = spinner("reference: the CPU loop, the machine's busy share, a fixed load".into());
        let sizes = SeedSizes::of(self.config.seed(profile)?);
        let measured = super::reference::measure(
            stack,
            &profile.name,
            sizes,
            self.driver.as_ref(),
            &self.run_dir,
        );
        bar.finish_and_clear();
        match measured {
            Ok(reference) => {
                self.run.reference = Some(reference);
                self.save()
            }
            Err(err) => {
                eprintln!("lab bench: warning: the reference was not measured: {err:#}");
                Ok(())
            }
        }
    }

    /// The stack of a profile: started (stopped again when dropped), or the running one.
    fn hold_stack(&self, profile: &Profile) -> anyhow::Result<Stack> {
        if self.plan.attach {
            return stack::attach(&self.config, &self.plan.state_dir);
        }
        stack::runtime(self.plan.runtime, &self.config)
            .up(&UpOptions {
                discard_data: false,
                seed: self.config.seed(profile)?,
                profile: profile.clone(),
                db: self.plan.db,
                state_dir: self.plan.state_dir.clone(),
                ports: self.config.ports(Ports::STACK),
                app_env: Vec::new(),
            })
            .with_context(|| format!("starting the stack for profile {}", profile.name))
    }

    /// Whether a step of `profile`, `scenario` at `offered` is in the run already (a resumed
    /// run), and if so whether it met the SLO.
    fn recorded(&self, profile: &str, scenario: &str, offered: Offered) -> Option<bool> {
        self.run
            .steps
            .iter()
            .find(|s| {
                s.profile == profile
                    && s.scenario == scenario
                    && match offered {
                        Offered::Users(users) => s.rate_per_s.is_none() && s.users == users,
                        Offered::Rate { per_s, .. } => s.rate_per_s == Some(per_s),
                    }
            })
            .map(|s| s.slo.as_ref().is_none_or(|o| o.passed))
    }

    /// True when every step the plan has for `profile` is in the run already: its levels
    /// replayed against the recorded steps' outcomes reach their end.
    fn profile_done(&self, profile: &Profile) -> bool {
        self.plan.scenarios.iter().all(|scenario| {
            let mut levels = self.levels();
            while let Some(offered) = levels.next() {
                match self.recorded(&profile.name, &scenario.label(), offered) {
                    Some(passed) => levels.record(passed),
                    None => return false,
                }
            }
            true
        })
    }

    fn levels(&self) -> Levels {
        Levels::new(
            &self.plan.users,
            self.plan.ramp,
            &self.plan.rates,
            self.plan.arrivals,
        )
    }

    fn record_profile(&mut self, profile: &Profile, stack: &StackInfo) -> anyhow::Result<()> {
        let sizes = SeedSizes::of(self.config.seed(profile)?);
        if self.run.versions.app.is_none() {
            self.run.versions.app = machine::app_version(&stack.base_url);
        }
        // Under compose the lab container learns the database from the running app.
        self.run.settings.db = stack.db.to_string();
        if stack.runtime == contract::RuntimeKind::Compose && self.run.machine.engine.is_none() {
            match self.config.engine().and_then(|e| e.info()) {
                Ok(info) => {
                    let m = &mut self.run.machine;
                    m.platform = crate::sample::fingerprint::platform(&m.kernel, Some(&info));
                    m.engine = Some(info);
                }
                Err(err) => eprintln!("lab bench: warning: no Docker engine information: {err:#}"),
            }
        }
        if !stack.capped {
            eprintln!(
                "lab bench: WARNING: profile {} runs UNCAPPED (cgroups not writable): its figures do not show the caps",
                profile.name
            );
        }
        // A resumed run has its profiles' records (the stack's caps as first started).
        if self.run.profiles.iter().any(|p| p.name == profile.name) {
            return self.save();
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
                    cpu_period_us: s.cpu_limit.and(s.cpu_period_us),
                    memory_limit_bytes: s.memory_limit_bytes,
                })
                .collect(),
            upstream_transport: Some(profile.upstream_transport()?),
            client_path: stack.client_path,
            seed_customers: sizes.customers,
            seed_disks: sizes.disks,
        });
        self.save()
    }

    fn run_scenario(
        &mut self,
        stack: &Stack,
        profile: &Profile,
        scenario: &ScenarioSource,
    ) -> anyhow::Result<()> {
        let sizes = SeedSizes::of(self.config.seed(profile)?);
        let urls_file =
            super::urls::for_step(&self.run_dir, &profile.name, sizes, stack.info(), scenario)?;
        let label = scenario.label();
        let stress = scenario.builtin() == Some(Scenario::Stress);
        let mut levels = self.levels();
        let mut warmed_up = self.plan.warmup_secs == 0;
        while let Some(offered) = levels.next() {
            if interrupt::interrupted() {
                break;
            }
            if let Some(passed) = self.recorded(&profile.name, &label, offered) {
                levels.record(passed);
                continue;
            }
            if !warmed_up {
                self.warm_up(&urls_file, offered, self.plan.warmup_secs)?;
                warmed_up = true;
            }
            let users = offered.users().unwrap_or(OPEN_CEILING_USERS);
            let ceiling = self.measure_ceilings(stack, profile, users)?;
            let step = self.measure_step(
                &StepPlan {
                    profile,
                    scenario: &label,
                    stress,
                    offered,
                    urls_file: &urls_file,
                    ceiling,
                },
                stack,
            )?;
            let passed = step.slo.as_ref().is_none_or(|o| o.passed);
            eprintln!("  {}", step_line(&step));
            self.run.steps.push(step);
            self.save()?;
            levels.record(passed);
        }
        Ok(())
    }

    /// The driver's ceiling at `users` (returned), and nginx's capped ceiling beside it. lab
    /// places the capped nginx itself, so not on an attached stack nor from inside the bench
    /// container.
    fn measure_ceilings(
        &mut self,
        stack: &Stack,
        profile: &Profile,
        users: u32,
    ) -> anyhow::Result<Option<f64>> {
        let ceiling =
            self.ceilings
                .driver_at(self.driver.as_ref(), users, &mut self.run.driver_ceiling)?;
        let in_bench_container = self.config.base_url.as_ref().is_some_and(|u| !u.is_empty());
        if !self.plan.attach && !in_bench_container {
            let sizes = SeedSizes::of(self.config.seed(profile)?);
            if let Err(err) = self.ceilings.nginx_at(
                self.driver.as_ref(),
                &**stack,
                profile,
                sizes,
                users,
                &mut self.run.nginx_ceiling,
            ) {
                eprintln!("lab bench: warning: nginx's capped ceiling not measured: {err:#}");
            }
        }
        Ok(ceiling)
    }

    fn warm_up(&self, urls_file: &Path, offered: Offered, secs: u64) -> anyhow::Result<()> {
        let bar = spinner(format!(
            "warm-up {} {secs}s (not counted)",
            offered.describe()
        ));
        let outcome = super::run(
            self.driver.as_ref(),
            &Load {
                urls: urls_file.to_path_buf(),
                offered,
                secs,
            },
        )?;
        bar.finish_and_clear();
        if outcome.hung {
            eprintln!("lab bench: warning: the load driver hung on exit after the warm-up and was stopped");
        } else if !outcome.reported() {
            bail!(
                "the load driver printed no summary during warm-up against {}: {}",
                urls_file.display(),
                outcome.stderr_tail
            );
        }
        Ok(())
    }

    /// One measured step: the shared runner, the stress side job when asked, one sample row
    /// per service and second, then the step's record.
    fn measure_step(&mut self, plan: &StepPlan<'_>, stack: &Stack) -> anyhow::Result<Step> {
        let index = self.run.steps.len();
        let current = stack.status().unwrap_or_else(|err| {
            eprintln!(
                "lab bench: warning: stack status failed ({err:#}); using the services as started"
            );
            stack.info().clone()
        });
        let token = self.config.stress_token(plan.profile);
        let base_url = &current.base_url;
        let stress_start_status = plan
            .stress
            .then(|| stress::start(base_url, self.plan.step_secs, token.as_deref()));
        let started_at = Utc::now();
        let start_offset_secs = self.clock.elapsed().as_secs_f64();
        let load = Load {
            urls: plan.urls_file.to_path_buf(),
            offered: plan.offered,
            secs: self.plan.step_secs,
        };
        let mut runner = StepRunner::start(&current, self.driver.as_ref(), &load)?;
        let bar = step_bar(
            &plan.profile.name,
            plan.scenario,
            &plan.offered.describe(),
            load.secs,
        );
        let outcome = loop {
            if let Some(outcome) = runner.try_finish()? {
                break outcome;
            }
            std::thread::sleep(Duration::from_millis(100));
            bar.set_position((runner.elapsed_secs() as u64).min(load.secs));
            let Some(reading) = runner.tick() else {
                continue;
            };
            bar.set_message(format!("{:.0} req/s", reading.live_requests_per_s));
            let t_secs = self.clock.elapsed().as_secs_f64();
            self.run.samples.extend(step::samples(
                &reading,
                t_secs,
                index,
                &plan.profile.name,
                plan.scenario,
            ));
        };
        bar.finish_and_clear();
        let measured = runner.measure(outcome, || stack.status().ok())?;
        if stress_start_status.is_some() {
            stress::stop(base_url, token.as_deref());
        }
        let urls_file = profile::in_repository(&plan.urls_file.display().to_string());
        Ok(step::record(
            measured,
            &StepContext {
                index,
                profile: &plan.profile.name,
                scenario: plan.scenario,
                offered: plan.offered,
                started_at,
                start_offset_secs,
                urls_file: &urls_file,
                ceiling: plan.ceiling,
                machine_cores: self.run.machine.cores,
                slo: &self.plan.slo,
                stress_start_status,
            },
        ))
    }
}

/// The failures that make a bench exit 2: in a fixed matrix, any step that broke an SLO; in
/// ramp mode (which runs until an SLO breaks), a series where no step met them.
pub fn slo_failures(run: &Run) -> Vec<String> {
    if run.settings.slo.is_empty() {
        return Vec::new();
    }
    if run.settings.ramp {
        return run
            .sustainable
            .iter()
            .filter(|s| s.max_users.is_none())
            .map(|s| {
                format!(
                    "{} / {}: no concurrency met the SLOs",
                    s.profile, s.scenario
                )
            })
            .collect();
    }
    run.steps
        .iter()
        .filter_map(|s| {
            let o = s.slo.as_ref()?;
            (!o.passed).then(|| {
                format!(
                    "{} / {} / {}: {}",
                    s.profile,
                    s.scenario,
                    s.level_label(),
                    o.failures.join("; ")
                )
            })
        })
        .collect()
}
