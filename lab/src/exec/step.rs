//! One measured load step, the same for every command: a driver loads the stack for a fixed
//! time while every service is sampled once a second; when the load ends, the step's slice of
//! nginx's access log gives the request figures ([`access_log::stats`]: one definition of
//! availability, one percentile method) and the samples give each service's usage.
//! [`record`] turns what was measured into the one [`Step`] every command reports: bench
//! keeps it, a soak window and a fault report are built from it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::load::{Driver, Load, LoadOutcome, Offered, RunningLoad};
use crate::load::access_log::{self, LogLine};
use crate::results::{
    verdict, ClientStats, HostUsage, NginxStats, Sample, ServiceUsage, SloRule, Step,
};
use crate::sample::{self, HostCpu, Tracked};
use crate::stack::StackInfo;

/// How often the services are sampled during a step.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// A step under way: the load running, the services followed.
pub struct StepRunner {
    load: Box<dyn RunningLoad>,
    driver: &'static str,
    tracked: Vec<Tracked>,
    access_log: PathBuf,
    log_start: u64,
    last_log: u64,
    /// The machine's CPU counters at the start and at each reading, by seconds since the
    /// load started: the busy share is taken over the load's own seconds, not over a driver
    /// that hung on exit.
    host: Vec<(f64, HostCpu)>,
    driver_cpu_last: f64,
    last_sample: Instant,
    secs: u64,
}

/// One per-second reading: what each service used since the previous one.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Requests nginx logged per second since the previous reading.
    pub live_requests_per_s: f64,
    /// Per service: (name, CPU cores, throttled percent of periods, memory bytes now).
    pub services: Vec<(String, f64, f64, u64)>,
    /// The whole machine's busy cores (None where /proc/stat is unreadable).
    pub host_cpu_cores: Option<f64>,
    /// The load driver's own cores (None when its /proc entry is gone).
    pub driver_cpu_cores: Option<f64>,
}

/// What a finished step measured.
#[derive(Debug)]
pub struct Measured {
    /// The driver's name (`lab`, `siege`).
    pub driver: &'static str,
    /// What the driver reported.
    pub outcome: LoadOutcome,
    /// nginx's figures for the step (lab's control requests left out).
    pub nginx: NginxStats,
    /// The step's log lines, for per-request checks.
    pub lines: Vec<LogLine>,
    pub services: Vec<ServiceUsage>,
    /// The whole machine's CPU over the load's own seconds.
    pub host: Option<HostUsage>,
    /// Seconds the driver loaded the stack.
    pub load_secs: f64,
    /// The driver's own CPU, cores, over its wall time.
    pub driver_cpu_cores: f64,
    /// The driver's requests done per second; nginx's rate when the driver reported nothing
    /// (it hung on exit): what nginx logged is what it sent.
    pub driver_requests_per_s: f64,
}

impl StepRunner {
    /// Starts following every service of `stack`, then starts the load.
    pub fn start(stack: &StackInfo, driver: &dyn Driver, load: &Load) -> anyhow::Result<Self> {
        let tracked = sample::start_all(&stack.services);
        let host = HostCpu::read().map(|h| vec![(0.0, h)]).unwrap_or_default();
        let log_start = access_log::offset(&stack.access_log);
        let running = driver.start(load)?;
        Ok(Self {
            load: running,
            driver: driver.name(),
            tracked,
            access_log: stack.access_log.clone(),
            log_start,
            last_log: log_start,
            host,
            driver_cpu_last: 0.0,
            last_sample: Instant::now(),
            secs: load.secs,
        })
    }

    /// Seconds since the load started.
    pub fn elapsed_secs(&self) -> f64 {
        self.load.elapsed().as_secs_f64()
    }

    /// Samples every service when a second has passed since the last reading (memory peaks
    /// between readings are kept by the trackers); None in between.
    pub fn tick(&mut self) -> Option<Reading> {
        if self.last_sample.elapsed() < SAMPLE_EVERY {
            return None;
        }
        let interval = self.last_sample.elapsed().as_secs_f64();
        self.last_sample = Instant::now();
        let now_log = access_log::offset(&self.access_log);
        let new_lines = access_log::read_slice(&self.access_log, self.last_log, now_log)
            .map(|b| access_log::count_lines(&b))
            .unwrap_or(0);
        self.last_log = now_log;
        let services = sample::sample_all(&mut self.tracked)
            .into_iter()
            .zip(&self.tracked)
            .map(|((now, delta, secs), t)| {
                let secs = if secs > 0.0 { secs } else { interval };
                (
                    t.service.name.clone(),
                    delta.cpu_seconds / secs,
                    delta.throttled_percent(),
                    now.memory_current_bytes,
                )
            })
            .collect();
        let host_cpu_cores = self
            .read_host()
            .map(|(last, now)| last.usage_until(&now).cpu_busy_cores);
        let driver_cpu_cores = sample::process_cpu_seconds(self.load.pid()).map(|cpu| {
            let cores = (cpu - self.driver_cpu_last).max(0.0) / interval;
            self.driver_cpu_last = cpu;
            cores
        });
        Some(Reading {
            live_requests_per_s: new_lines as f64 / interval,
            services,
            host_cpu_cores,
            driver_cpu_cores,
        })
    }

    /// Reads the machine's counters now; the previous reading and this one.
    fn read_host(&mut self) -> Option<(HostCpu, HostCpu)> {
        let now = HostCpu::read()?;
        let last = self.host.last().map(|(_, h)| *h);
        self.host.push((self.elapsed_secs(), now));
        last.map(|last| (last, now))
    }

    /// The machine's CPU from the load's start to the first reading at or after `load_secs`
    /// (the last reading when none is that late).
    fn host_over(&self, load_secs: f64) -> Option<HostUsage> {
        let (_, start) = self.host.first()?;
        let (_, end) = self
            .host
            .iter()
            .find(|(t, _)| *t >= load_secs)
            .or(self.host.last())?;
        (self.host.len() > 1).then(|| start.usage_until(end))
    }

    /// Reaps the load if it has ended; None while it runs.
    pub fn try_finish(&mut self) -> anyhow::Result<Option<LoadOutcome>> {
        self.load.try_finish()
    }

    /// Sleeps until `secs` after the load's start, sampling meanwhile.
    pub fn wait_until(&mut self, secs: f64) {
        while self.elapsed_secs() < secs {
            self.tick();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the load to end (sampling meanwhile), then measures the step.
    pub fn finish(
        mut self,
        refresh: impl FnOnce() -> Option<StackInfo>,
    ) -> anyhow::Result<Measured> {
        let outcome = loop {
            if let Some(outcome) = self.try_finish()? {
                break outcome;
            }
            self.tick();
            std::thread::sleep(Duration::from_millis(50));
        };
        self.measure(outcome, refresh)
    }

    /// The step's figures once the load has ended: the machine's and the services' last
    /// readings right away, then nginx's settled log slice, and the stack as the runtime sees
    /// it now (`refresh`: restart counts).
    pub fn measure(
        mut self,
        outcome: LoadOutcome,
        refresh: impl FnOnce() -> Option<StackInfo>,
    ) -> anyhow::Result<Measured> {
        // The machine's CPU right as the load ended, before the services' last readings
        // (which can wait up to a second for the engine).
        let _ = self.read_host();
        sample::finish_all(&mut self.tracked);
        let log_end = access_log::settled_offset(&self.access_log);
        let bytes = access_log::read_slice(&self.access_log, self.log_start, log_end)
            .with_context(|| format!("reading {}", self.access_log.display()))?;
        let load_secs = outcome.load_secs(self.secs);
        self.warn_about(&outcome, load_secs);
        let nginx = access_log::stats(&bytes, load_secs);
        if nginx.requests == 0 {
            eprintln!(
                "lab: warning: nginx logged no request during the step (the driver said: {})",
                outcome.stderr_tail
            );
        }
        let latest = refresh();
        let services = self
            .tracked
            .iter_mut()
            .map(|t| {
                let now = latest
                    .as_ref()
                    .and_then(|l| l.services.iter().find(|s| s.name == t.service.name));
                t.usage(load_secs, now)
            })
            .collect();
        let driver_requests_per_s = if outcome.reported() {
            outcome.transactions_per_s(self.secs)
        } else {
            nginx.requests_per_s
        };
        Ok(Measured {
            driver: self.driver,
            host: self.host_over(load_secs),
            nginx,
            lines: access_log::entries(&bytes),
            services,
            load_secs,
            driver_cpu_cores: outcome.cpu_cores(),
            driver_requests_per_s,
            outcome,
        })
    }

    fn warn_about(&self, outcome: &LoadOutcome, load_secs: f64) {
        if outcome.hung {
            eprintln!(
                "lab: warning: {} hung on exit and was stopped; rates use {load_secs:.1} s",
                self.driver
            );
        }
        if !outcome.reported() {
            eprintln!(
                "lab: warning: {} reported nothing (exit {:?}); nginx's log is used",
                self.driver, outcome.exit_code
            );
        }
    }
}

/// Where a step stands in its run, and what it is judged against.
pub struct StepContext<'a> {
    /// Position in the run, from 0.
    pub index: usize,
    pub profile: &'a str,
    pub scenario: &'a str,
    /// The load's users or rate.
    pub offered: Offered,
    /// When the load started.
    pub started_at: DateTime<Utc>,
    /// Seconds since the run started, at the load's start.
    pub start_offset_secs: f64,
    pub urls_file: &'a str,
    /// The load driver's ceiling at this level, requests per second.
    pub ceiling: Option<f64>,
    /// The machine's cores (the verdict weighs the driver's CPU against them).
    pub machine_cores: usize,
    /// The SLO rules the step is judged by (none: not judged).
    pub slo: &'a [SloRule],
    /// The stress scenario's tree-growing request's status.
    pub stress_start_status: Option<u16>,
}

/// The one step result every command reports: the figures, the bottleneck verdict, the
/// consistency of its views, the SLO outcome.
pub fn record(m: Measured, at: &StepContext<'_>) -> Step {
    let ceiling_percent = at
        .ceiling
        .filter(|c| *c > 0.0)
        .map(|c| 100.0 * m.driver_requests_per_s / c);
    let verdict = verdict::decide(&verdict::VerdictInput {
        nginx: &m.nginx,
        services: &m.services,
        ceiling_percent,
        driver_cpu_cores: m.driver_cpu_cores,
        driver_cores: verdict::driver_cores(m.driver, at.machine_cores),
        driver_failures_percent: m
            .outcome
            .client
            .as_ref()
            .map_or(0.0, ClientStats::driver_failures_percent),
        machine_cores: at.machine_cores,
        host: m.host.as_ref(),
    });
    let driver_bound = verdict.bottleneck == verdict::Bottleneck::LoadGenerator
        || ceiling_percent.is_some_and(|p| p >= verdict::CEILING_PERCENT);
    let mut step = Step {
        index: at.index,
        profile: at.profile.to_owned(),
        scenario: at.scenario.to_owned(),
        driver: m.driver.to_owned(),
        model: at.offered.model(),
        users: at.offered.users().unwrap_or(0),
        rate_per_s: at.offered.rate(),
        started_at: at.started_at,
        start_offset_secs: at.start_offset_secs,
        wall_secs: m.outcome.wall_secs,
        urls_file: at.urls_file.to_owned(),
        driver_exit_code: m.outcome.exit_code,
        driver_hung: m.outcome.hung,
        siege: m.outcome.siege,
        driver_requests_per_s: m.driver_requests_per_s,
        driver_cpu_seconds: m.outcome.cpu_seconds,
        driver_cpu_cores: m.driver_cpu_cores,
        client: m.outcome.client,
        nginx: m.nginx,
        services: m.services,
        ceiling_transactions_per_s: at.ceiling,
        ceiling_percent,
        driver_bound,
        host: m.host,
        consistency: Vec::new(),
        verdict,
        slo: None,
        stress_start_status: at.stress_start_status,
    };
    step.consistency = step.check_consistency();
    if !at.slo.is_empty() {
        step.slo = Some(step.judge_slo(at.slo));
    }
    step
}

/// One per-second reading as sample rows: one per service, the machine and the driver.
pub fn samples(
    reading: &Reading,
    t_secs: f64,
    step: usize,
    profile: &str,
    scenario: &str,
) -> Vec<Sample> {
    let row = |service: &str, cpu_cores: f64, throttled: f64, memory_bytes: u64| Sample {
        t_secs,
        step,
        profile: profile.to_owned(),
        scenario: scenario.to_owned(),
        service: service.to_owned(),
        cpu_cores,
        cpu_throttled_percent: throttled,
        memory_bytes,
    };
    let mut rows: Vec<Sample> = reading
        .services
        .iter()
        .map(|(name, cores, throttled, memory)| row(name, *cores, *throttled, *memory))
        .collect();
    if let Some(cores) = reading.host_cpu_cores {
        rows.push(row("host", cores, 0.0, 0));
    }
    if let Some(cores) = reading.driver_cpu_cores {
        rows.push(row(DRIVER_SAMPLE, cores, 0.0, 0));
    }
    rows
}

/// The sample rows' name for the load driver (`siege` in runs made before lab had a driver
/// of its own).
pub const DRIVER_SAMPLE: &str = "driver";
