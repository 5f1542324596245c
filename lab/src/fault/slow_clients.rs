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
use serde_json::json;

use super::{
    availability_percent, invariant, new_report, quantile, start_writer, Check, Fault, FaultReport,
    StepFigures,
};
use crate::load::access_log::LogLine;
use crate::load::urls::Scenario;

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
pub struct SlowClients {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<SlowOutcome>>,
}

impl SlowClients {
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

pub fn run(fault: &Fault) -> anyhow::Result<FaultReport> {
    let started_at = chrono::Utc::now();
    let urls = fault.urls_file(Scenario::Read)?;
    let addr: SocketAddr = fault
        .stack
        .base_url
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", fault.stack.base_url))?;

    let baseline = fault
        .start_step(&urls, fault.users, BASELINE_SECS)?
        .finish(|| None)?;
    let (base_availability, base_p99, base_n) = normal(&baseline.lines);

    let writer = start_writer(fault);
    let slow = SlowClients::start(addr, fault.slow_clients)?;
    // Let every slow client connect and start its slow phase before the measured step.
    std::thread::sleep(Duration::from_secs(2));
    let result = fault
        .start_step(&urls, fault.users, fault.step_secs)?
        .finish(|| None)?;
    let outcomes = slow.stop();
    let attempts = writer.stop();
    let (availability, p99, answered) = normal(&result.lines);

    let mut report = new_report(fault, "slow-clients", started_at);
    let by_kind = |kind: Kind| {
        outcomes
            .iter()
            .filter(move |o| o.kind == kind && o.connected)
    };
    let connected = outcomes.iter().filter(|o| o.connected).count();
    report.checks.push(Check::new(
        "every slow client connected",
        &format!("{}", fault.slow_clients),
        connected.to_string(),
        connected == fault.slow_clients,
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
    let header_cuts: Vec<f64> = by_kind(Kind::Header)
        .filter_map(|o| o.cut_after_secs)
        .collect();
    let header_n = by_kind(Kind::Header).count();
    let header_late = header_cuts
        .iter()
        .filter(|s| **s > HEADER_TIMEOUT_SECS + CUT_MARGIN_SECS)
        .count();
    report.checks.push(Check::new(
        "unfinished headers cut by nginx (client_header_timeout)",
        &format!(
            "all {header_n} within {:.0} s",
            HEADER_TIMEOUT_SECS + CUT_MARGIN_SECS
        ),
        format!(
            "{} cut (median {:.1} s, max {:.1} s), {header_late} late, {} never",
            header_cuts.len(),
            quantile(header_cuts.iter().map(|s| s * 1000.0), 0.5) / 1000.0,
            header_cuts.iter().copied().fold(0.0, f64::max),
            header_n - header_cuts.len()
        ),
        header_cuts.len() == header_n && header_late == 0 && header_n > 0,
    ));
    let idle_cuts: Vec<f64> = by_kind(Kind::Idle)
        .filter_map(|o| o.cut_after_secs)
        .collect();
    let idle_n = by_kind(Kind::Idle).count();
    let idle_late = idle_cuts
        .iter()
        .filter(|s| **s > KEEPALIVE_TIMEOUT_SECS + CUT_MARGIN_SECS)
        .count();
    report.checks.push(Check::new(
        "idle kept-alive connections closed by nginx (keepalive_timeout)",
        &format!(
            "all {idle_n} within {:.0} s",
            KEEPALIVE_TIMEOUT_SECS + CUT_MARGIN_SECS
        ),
        format!(
            "{} closed (max {:.1} s), {idle_late} late, {} never",
            idle_cuts.len(),
            idle_cuts.iter().copied().fold(0.0, f64::max),
            idle_n - idle_cuts.len()
        ),
        idle_cuts.len() == idle_n && idle_late == 0 && idle_n > 0,
    ));
    let body_lines_answered_by_a_replica = result
        .lines
        .iter()
        .filter(|l| l.uri.contains("lab-slow=body") && !l.instance.is_empty())
        .count();
    report.checks.push(Check::new(
        "no trickled body reached a replica (nginx buffers request bodies)",
        "0",
        body_lines_answered_by_a_replica.to_string(),
        body_lines_answered_by_a_replica == 0,
    ));
    let (invariant_report, invariant_check) = invariant(fault, &attempts);
    report.checks.push(invariant_check);
    report.invariant = invariant_report;

    let body_open = by_kind(Kind::Body)
        .filter(|o| o.cut_after_secs.is_none())
        .count();
    report.timeline = vec![
        format!(
            "baseline: siege {} users, read scenario, {BASELINE_SECS} s: availability {base_availability:.3}%, p99 {base_p99:.0} ms",
            fault.users
        ),
        format!(
            "{} slow clients connect ({} trickling headers, {} trickling bodies, {} idle after one request)",
            fault.slow_clients,
            header_n,
            by_kind(Kind::Body).count(),
            idle_n
        ),
        format!(
            "2 s later: siege {} users, read scenario, {} s, with the slow clients connected",
            fault.users, fault.step_secs
        ),
        format!("{:.1} s: siege ends; {body_open} trickled bodies still open", result.load_secs),
    ];
    report
        .figures
        .insert("baseline_p99_ms".into(), json!(base_p99));
    report.figures.insert("p99_ms".into(), json!(p99));
    report
        .figures
        .insert("availability_percent".into(), json!(availability));
    report
        .figures
        .insert("slow_clients".into(), json!(fault.slow_clients));
    report
        .figures
        .insert("slow_bodies_still_open".into(), json!(body_open));
    report.figures.insert(
        "header_timeouts_logged".into(),
        json!(result.lines.iter().filter(|l| l.status == 408).count()),
    );
    report.figures.insert(
        "slow_answers".into(),
        json!(outcomes.iter().filter_map(|o| o.answer.clone()).fold(
            std::collections::BTreeMap::<String, u64>::new(),
            |mut m, a| {
                *m.entry(a).or_default() += 1;
                m
            }
        )),
    );
    report.step = Some(StepFigures::of(&result, fault.users));
    report.events = fault.events();
    report.finished_at = chrono::Utc::now();
    report.passed = report.checks.iter().all(|c| c.passed);
    Ok(report)
}
