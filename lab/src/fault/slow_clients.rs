//! Slow and idle clients: hundreds of connections that send their headers a line at a time,
//! trickle a request body a byte at a time, or go idle after one request, while normal users
//! (siege's `read` scenario) keep reading. First a baseline step with the normal users alone,
//! then the same step with the slow clients connected. nginx must keep serving the normal
//! users (availability >= 99.9%, p99 at most twice the baseline's plus 100 ms) and must cut
//! what its timeouts promise: an unfinished header after `client_header_timeout` (10 s; nginx
//! logs a 408 and closes without an answer), an idle kept-alive connection after `keepalive_timeout` (15 s). A trickled body
//! resets `client_body_timeout` at every byte, so nginx holds it; it never reaches a replica
//! (nginx buffers request bodies) and costs one connection out of `worker_connections`.
//!
//! The slow clients mark their requests with `?lab-slow=<kind>` so their log lines are told
//! apart from siege's; a 408 with no request line is theirs too (siege never times out).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::context::{availability_percent, quantile, Fault, FaultScenario};
use crate::exec::step::Measured;
use crate::load::access_log::LogLine;
use crate::load::urls::Scenario;
use crate::results::fault::{Check, FaultReport};

/// nginx.conf's `client_header_timeout`, `keepalive_timeout` (seconds).
pub const HEADER_TIMEOUT_SECS: f64 = 10.0;
pub const KEEPALIVE_TIMEOUT_SECS: f64 = 15.0;
/// Slack over a timeout before a cut counts as late (nginx checks timers coarsely).
pub const CUT_MARGIN_SECS: f64 = 3.0;
/// Seconds of the baseline step (normal users alone).
pub const BASELINE_SECS: u64 = 10;
pub const MIN_AVAILABILITY_PERCENT: f64 = 99.9;
/// The normal users' p99 may grow to twice the baseline's plus this (ms).
pub const P99_SLACK_MS: f64 = 100.0;
/// The pause between two trickled header lines or body bytes.
const TRICKLE_EVERY: Duration = Duration::from_secs(2);

/// What a slow client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The request line, then one header line every 2 s, never the blank line.
    Header,
    /// Complete headers announcing 1,000 bytes of body, then one byte every 2 s.
    Body,
    /// One complete request, its answer read, then nothing.
    Idle,
}

const KINDS: [Kind; 3] = [Kind::Header, Kind::Body, Kind::Idle];

/// What happened to one slow client.
#[derive(Debug, Clone, Serialize)]
pub struct SlowOutcome {
    pub kind: Kind,
    pub connected: bool,
    /// Seconds from the start of its slow phase (connect, or the idle client's answer) until
    /// nginx closed the connection; None if it was still open at the end.
    pub cut_after_secs: Option<f64>,
    /// The status line nginx sent before closing, if any (e.g. `HTTP/1.1 408 Request Time-out`).
    pub answer: Option<String>,
}

/// The slow clients, each a thread with a small stack, until `stop`.
pub struct Clients {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<SlowOutcome>>,
}

impl Clients {
    pub fn start(addr: SocketAddr, count: usize) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let kind = KINDS[i % KINDS.len()];
            let stop = Arc::clone(&stop);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("slow-{i}"))
                    .stack_size(64 * 1024)
                    .spawn(move || slow_client(addr, kind, i, &stop))?,
            );
        }
        Ok(Self { stop, threads })
    }

    pub fn stop(self) -> Vec<SlowOutcome> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .into_iter()
            .filter_map(|t| t.join().ok())
            .collect()
    }
}

fn slow_client(addr: SocketAddr, kind: Kind, index: usize, stop: &AtomicBool) -> SlowOutcome {
    let mut outcome = SlowOutcome {
        kind,
        connected: false,
        cut_after_secs: None,
        answer: None,
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return outcome;
    };
    outcome.connected = true;
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let host = format!("Host: {addr}\r\n");
    let first = match kind {
        Kind::Header => format!("GET /disks/{}?lab-slow=header HTTP/1.1\r\n{host}", index % 400 + 1),
        Kind::Body => format!(
            "POST /orders?lab-slow=body HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        ),
        Kind::Idle => format!(
            "GET /disks/{}?lab-slow=idle HTTP/1.1\r\n{host}\r\n",
            index % 400 + 1
        ),
    };
    if stream.write_all(first.as_bytes()).is_err() {
        outcome.cut_after_secs = Some(0.0);
        return outcome;
    }
    let mut started = Instant::now();
    let mut answered = kind != Kind::Idle;
    let mut last_trickle = Instant::now();
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buffer) {
            Ok(0) => {
                outcome.cut_after_secs = Some(started.elapsed().as_secs_f64());
                return outcome;
            }
            Ok(n) => {
                let text = String::from_utf8_lossy(&buffer[..n]);
                if !answered {
                    // The idle client's one answer: from now on it only waits.
                    answered = true;
                    started = Instant::now();
                } else if let Some(line) = text.lines().find(|l| l.starts_with("HTTP/")) {
                    outcome.answer = Some(line.to_owned());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                outcome.cut_after_secs = Some(started.elapsed().as_secs_f64());
                return outcome;
            }
        }
        if kind != Kind::Idle && last_trickle.elapsed() >= TRICKLE_EVERY {
            last_trickle = Instant::now();
            let piece: &[u8] = match kind {
                Kind::Header => b"X-Lab-Slow: 1\r\n",
                _ => b" ",
            };
            if stream.write_all(piece).is_err() {
                outcome.cut_after_secs = Some(started.elapsed().as_secs_f64());
                return outcome;
            }
        }
    }
    outcome
}

fn is_slow(line: &LogLine) -> bool {
    line.uri.contains("lab-slow=") || (line.status == 408 && line.uri.is_empty())
}

/// Availability, p99 (ms) and count of the normal users' lines.
fn normal(lines: &[LogLine]) -> (f64, f64, u64) {
    let normal: Vec<&LogLine> = lines.iter().filter(|l| !is_slow(l)).collect();
    let (availability, answered) = availability_percent(normal.iter().copied());
    let p99 = quantile(normal.iter().map(|l| l.request_time * 1000.0), 0.99);
    (availability, p99, answered)
}

/// The normal users alone, then with the slow clients connected.
#[derive(Default)]
pub struct SlowClients {
    /// Availability, p99 and count of the normal users in the baseline step.
    baseline: (f64, f64, u64),
    running: Option<Clients>,
    outcomes: Vec<SlowOutcome>,
}

impl FaultScenario for SlowClients {
    fn load(&self) -> Scenario {
        Scenario::Read
    }

    /// The baseline step, then every slow client connected and in its slow phase.
    fn before(&mut self, fault: &Fault) -> anyhow::Result<()> {
        let baseline = fault
            .start_step(self.load(), BASELINE_SECS)?
            .finish(|| None)?;
        self.baseline = normal(&baseline.lines);
        let addr: SocketAddr = fault
            .info
            .base_url
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: {e}", fault.info.base_url))?;
        self.running = Some(Clients::start(addr, fault.plan.slow_clients)?);
        // Let every slow client connect and start its slow phase before the measured step.
        std::thread::sleep(Duration::from_secs(2));
        Ok(())
    }

    fn after(&mut self, _fault: &Fault) -> anyhow::Result<()> {
        if let Some(clients) = self.running.take() {
            self.outcomes = clients.stop();
        }
        Ok(())
    }

    fn judge(&self, fault: &Fault, result: &Measured, report: &mut FaultReport) {
        let (base_availability, base_p99, base_n) = self.baseline;
        let (availability, p99, answered) = normal(&result.lines);
        let connected = self.outcomes.iter().filter(|o| o.connected).count();
        let wanted = fault.plan.slow_clients;
        report.checks.push(Check::new(
            "every slow client connected",
            &wanted.to_string(),
            connected.to_string(),
            connected == wanted,
        ));
        report.checks.push(Check::new(
            "normal users' availability with the slow clients connected (access log, 2xx / answered)",
            &format!(">= {MIN_AVAILABILITY_PERCENT}%"),
            format!("{availability:.3}% of {answered} requests (baseline {base_availability:.3}% of {base_n})"),
            availability >= MIN_AVAILABILITY_PERCENT && answered > 0,
        ));
        let p99_limit = (2.0 * base_p99).max(base_p99 + P99_SLACK_MS);
        report.checks.push(Check::new(
            "normal users' p99 with the slow clients connected",
            &format!("<= {p99_limit:.0} ms (2 x baseline, or baseline + {P99_SLACK_MS} ms)"),
            format!("{p99:.0} ms (baseline {base_p99:.0} ms)"),
            p99 <= p99_limit,
        ));
        report.checks.push(self.cut_check(
            Kind::Header,
            "unfinished headers cut by nginx (client_header_timeout)",
            HEADER_TIMEOUT_SECS,
        ));
        report.checks.push(self.cut_check(
            Kind::Idle,
            "idle kept-alive connections closed by nginx (keepalive_timeout)",
            KEEPALIVE_TIMEOUT_SECS,
        ));
        let bodies_at_a_replica = result
            .lines
            .iter()
            .filter(|l| l.uri.contains("lab-slow=body") && !l.instance.is_empty())
            .count();
        report.checks.push(Check::new(
            "no trickled body reached a replica (nginx buffers request bodies)",
            "0",
            bodies_at_a_replica.to_string(),
            bodies_at_a_replica == 0,
        ));
        self.record(fault, result, report, (availability, p99));
    }
}

impl SlowClients {
    fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &SlowOutcome> {
        self.outcomes
            .iter()
            .filter(move |o| o.kind == kind && o.connected)
    }

    /// Every connected client of `kind` cut within `timeout` plus the margin.
    fn cut_check(&self, kind: Kind, name: &str, timeout: f64) -> Check {
        let cuts: Vec<f64> = self
            .of_kind(kind)
            .filter_map(|o| o.cut_after_secs)
            .collect();
        let n = self.of_kind(kind).count();
        let late = cuts
            .iter()
            .filter(|s| **s > timeout + CUT_MARGIN_SECS)
            .count();
        Check::new(
            name,
            &format!("all {n} within {:.0} s", timeout + CUT_MARGIN_SECS),
            format!(
                "{} cut (median {:.1} s, max {:.1} s), {late} late, {} never",
                cuts.len(),
                quantile(cuts.iter().map(|s| s * 1000.0), 0.5) / 1000.0,
                cuts.iter().copied().fold(0.0, f64::max),
                n - cuts.len()
            ),
            cuts.len() == n && late == 0 && n > 0,
        )
    }

    /// The timeline and the figures.
    fn record(&self, fault: &Fault, result: &Measured, report: &mut FaultReport, seen: (f64, f64)) {
        let (base_availability, base_p99, _) = self.baseline;
        let (availability, p99) = seen;
        let body_open = self
            .of_kind(Kind::Body)
            .filter(|o| o.cut_after_secs.is_none())
            .count();
        report.timeline = vec![
            format!(
                "baseline: {} users, read scenario, {BASELINE_SECS} s: availability {base_availability:.3}%, p99 {base_p99:.0} ms",
                fault.plan.users
            ),
            format!(
                "{} slow clients connect ({} trickling headers, {} trickling bodies, {} idle after one request)",
                fault.plan.slow_clients,
                self.of_kind(Kind::Header).count(),
                self.of_kind(Kind::Body).count(),
                self.of_kind(Kind::Idle).count()
            ),
            format!(
                "2 s later: {} users, read scenario, {} s, with the slow clients connected",
                fault.plan.users, fault.plan.step_secs
            ),
            format!("{:.1} s: the load ends; {body_open} trickled bodies still open", result.load_secs),
        ];
        report.figure("baseline_p99_ms", base_p99);
        report.figure("p99_ms", p99);
        report.figure("availability_percent", availability);
        report.figure("slow_clients", fault.plan.slow_clients as f64);
        report.figure("slow_bodies_still_open", body_open as f64);
        let timeouts = result.lines.iter().filter(|l| l.status == 408).count();
        report.figure("header_timeouts_logged", timeouts as f64);
        for outcome in &self.outcomes {
            if let Some(answer) = &outcome.answer {
                let key = format!("slow_answers: {answer}");
                let count = report.figures.get(&key).copied().flatten().unwrap_or(0.0);
                report.figure(&key, count + 1.0);
            }
        }
    }
}
