//! Does a step's figures agree with each other? Three views of one load meet in a step: the
//! client's (what users see), nginx's access log, and the services' counters. Each rule
//! here compares two of them, says whether they agree within a stated tolerance, and where
//! they do not, which view to trust and why:
//!
//! 1. **Little's law at the client**: requests in the system L = achieved rate λ x mean
//!    latency W. lab's driver measures L itself (sampled every 10 ms); with siege, L is its
//!    users. A closed load whose λW falls short of its users spent time outside requests.
//! 2. **The client's latency against nginx's**: nginx's `$request_time` starts when nginx
//!    reads the request, so the wait in front of it (the listen queue and socket buffers, long
//!    while a CPU cap holds nginx back) is only in the client's. With siege the client's mean
//!    is Little's law from siege's own figures (users / transactions per second).
//! 3. **Requests sent against requests logged**: what the client sent should be in nginx's
//!    log, give or take the requests in flight at the step's two edges.

use serde::{Deserialize, Serialize};

use super::figures::{ClientStats, LoadModel, NginxStats, SiegeSummary};

/// Agreement within this share (of the larger side) counts as agreement ...
pub const SHARE: f64 = 0.10;
/// ... or within this many requests in the system (Little's law, small loads).
pub const IN_FLIGHT_SLACK: f64 = 0.5;
/// The client's mean may exceed nginx's by this much (ms) with nothing in between worth
/// naming: its own parsing and the loopback.
pub const QUEUE_SLACK_MS: f64 = 2.0;
/// nginx throttled in at least this share of its CFS periods explains a queue in front of it.
pub const THROTTLED_EXPLAINS_PERCENT: f64 = 20.0;

/// One comparison of two views of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// What is compared, e.g. `Little's law at the client`.
    pub check: String,
    /// What the first view says.
    pub expected: String,
    /// What the second view says.
    pub seen: String,
    /// True when the two agree within the rule's tolerance.
    pub agrees: bool,
    /// Where they do not: which view to trust, and why.
    pub note: Option<String>,
}

/// What the rules read from a step.
pub struct Views<'a> {
    pub model: LoadModel,
    pub users: u32,
    pub rate_per_s: Option<f64>,
    pub client: Option<&'a ClientStats>,
    pub siege: Option<&'a SiegeSummary>,
    /// The driver's requests done per second of load.
    pub driver_requests_per_s: f64,
    pub nginx: &'a NginxStats,
    /// nginx's throttled share of CFS periods over the step, when measured.
    pub nginx_throttled_percent: Option<f64>,
    /// The driver's CPU in cores, and the machine's busy share (percent), when measured.
    pub driver_cpu_cores: f64,
    pub host_busy_percent: Option<f64>,
}

/// Every rule that applies to the step.
pub fn check(v: &Views<'_>) -> Vec<Agreement> {
    let mut out = Vec::new();
    if let Some(a) = littles_law(v) {
        out.push(a);
    }
    if let Some(a) = queue_in_front_of_nginx(v) {
        out.push(a);
    }
    if let Some(a) = sent_against_logged(v) {
        out.push(a);
    }
    out
}

fn close(a: f64, b: f64, slack: f64) -> bool {
    (a - b).abs() <= (SHARE * a.max(b)).max(slack)
}

/// L = λW at the client.
fn littles_law(v: &Views<'_>) -> Option<Agreement> {
    let (l, lambda, w_secs, what) = match (v.client, v.siege) {
        (Some(c), _) if c.responses > 0 => (
            c.mean_in_flight,
            c.achieved_rate_per_s,
            c.latency.mean_ms / 1000.0,
            "requests in the system, sampled every 10 ms",
        ),
        (None, Some(s)) => (
            f64::from(v.users),
            v.driver_requests_per_s,
            s.response_time?,
            "siege's users",
        ),
        _ => return None,
    };
    let lw = lambda * w_secs;
    let agrees = close(l, lw, IN_FLIGHT_SLACK);
    let note = (!agrees).then(|| {
        if v.model == LoadModel::Closed && lw < l {
            format!(
                "the users were in a request {:.0}% of the time: the rest went to connecting, refused connections or the driver itself; the throughput is what the driver sent, not what the stack could serve",
                100.0 * lw / l.max(1e-9)
            )
        } else {
            "requests waited or timed out in the driver's own queue; its mean latency is over the answered ones: trust the percentiles and the time-out count".to_owned()
        }
    });
    Some(Agreement {
        check: "Little's law at the client (L = λW)".to_owned(),
        expected: format!("L = {l:.1} ({what})"),
        seen: format!("λW = {lambda:.0}/s x {:.1} ms = {lw:.1}", w_secs * 1000.0),
        agrees,
        note,
    })
}

/// The client's mean against nginx's: the wait before nginx reads a request.
fn queue_in_front_of_nginx(v: &Views<'_>) -> Option<Agreement> {
    if v.nginx.requests == 0 {
        return None;
    }
    let (client_ms, how) = match (v.client, v.siege) {
        (Some(c), _) if c.responses > 0 => (c.latency.mean_ms, "measured per request"),
        (None, Some(_)) if v.driver_requests_per_s > 0.0 && v.model == LoadModel::Closed => (
            1000.0 * f64::from(v.users) / v.driver_requests_per_s,
            "users / rate, by Little's law",
        ),
        _ => return None,
    };
    let nginx_ms = v.nginx.mean_ms;
    let queue = client_ms - nginx_ms;
    let agrees = queue <= QUEUE_SLACK_MS.max(SHARE * nginx_ms);
    let note = (!agrees).then(|| queue_note(v, queue));
    Some(Agreement {
        check: "the client's latency against nginx's (mean)".to_owned(),
        expected: format!("nginx {nginx_ms:.1} ms (its request_time)"),
        seen: format!("client {client_ms:.1} ms ({how}): {queue:.1} ms more"),
        agrees,
        note,
    })
}

fn queue_note(v: &Views<'_>, queue: f64) -> String {
    if let Some(t) = v
        .nginx_throttled_percent
        .filter(|t| *t >= THROTTLED_EXPLAINS_PERCENT)
    {
        return format!(
            "{queue:.0} ms queued in front of nginx: nginx was throttled in {t:.0}% of its CPU periods, and while its cap holds it, requests wait in the kernel (listen queue, socket buffers) before nginx reads them; its request_time starts after that wait. Trust the client's view: it is what users see."
        );
    }
    if v.host_busy_percent.is_some_and(|b| b >= 85.0) || v.driver_cpu_cores >= 1.0 {
        return format!(
            "{queue:.0} ms between the client and nginx while the machine was busy (driver {:.2} cores{}): part of it is the client's own wait for CPU. Trust nginx's view for the stack, the client's for what users on this machine saw.",
            v.driver_cpu_cores,
            v.host_busy_percent
                .map_or_else(String::new, |b| format!(", machine {b:.0}% busy"))
        );
    }
    let delay = v
        .client
        .filter(|c| c.model == LoadModel::Open)
        .map_or_else(String::new, |c| {
            format!(
                " (the open load's send delay p99 was {:.1} ms)",
                c.send_delay_p99_ms
            )
        });
    format!(
        "{queue:.0} ms between the client and nginx with nginx not throttled: connection set-up, the listen queue, or the client's own queue{delay}. The client's view is what users see."
    )
}

/// What the client sent against what nginx logged.
fn sent_against_logged(v: &Views<'_>) -> Option<Agreement> {
    let sent = match (v.client, v.siege) {
        (Some(c), _) => c.requests_sent as f64,
        (None, Some(s)) => s.transactions.unwrap_or(0.0) + s.failed_transactions.unwrap_or(0.0),
        _ => return None,
    };
    let logged = v.nginx.requests as f64;
    // At each edge of the step, what was in flight may land on either side.
    let edges = match v.model {
        LoadModel::Closed => 2.0 * f64::from(v.users),
        LoadModel::Open => v.rate_per_s.unwrap_or(0.0) * 0.2,
    };
    let agrees = (sent - logged).abs() <= (0.01 * sent.max(logged)).max(edges).max(1.0);
    let note = (!agrees).then(|| {
        if sent > logged {
            format!(
                "{:.0} requests the client sent are not in nginx's log: refused before nginx read them (a full listen queue), cut at the step's end, or the log was read before nginx wrote them. The client's count is what was offered",
                sent - logged
            )
        } else {
            format!(
                "nginx logged {:.0} more requests than the client sent: another client loaded the stack during the step. Its figures are not this load's alone",
                logged - sent
            )
        }
    });
    Some(Agreement {
        check: "requests sent against requests in nginx's log".to_owned(),
        expected: format!("{sent:.0} sent by the client"),
        seen: format!("{logged:.0} logged by nginx"),
        agrees,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::figures::LatencyMs;

    fn nginx(requests: u64, mean_ms: f64) -> NginxStats {
        NginxStats {
            requests,
            mean_ms,
            ..Default::default()
        }
    }

    fn client(rate: f64, mean_ms: f64, in_flight: f64, sent: u64) -> ClientStats {
        ClientStats {
            model: LoadModel::Closed,
            responses: sent,
            requests_sent: sent,
            achieved_rate_per_s: rate,
            mean_in_flight: in_flight,
            latency: LatencyMs {
                count: sent,
                mean_ms,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn views<'a>(c: &'a ClientStats, n: &'a NginxStats, throttled: f64) -> Views<'a> {
        Views {
            model: LoadModel::Closed,
            users: 100,
            rate_per_s: None,
            client: Some(c),
            siege: None,
            driver_requests_per_s: c.achieved_rate_per_s,
            nginx: n,
            nginx_throttled_percent: Some(throttled),
            driver_cpu_cores: 0.2,
            host_busy_percent: Some(60.0),
        }
    }

    #[test]
    fn a_consistent_step_agrees_on_every_rule() {
        // 100 users at 2,000/s wait 50 ms; nginx saw 49 ms and logged what was sent.
        let c = client(2000.0, 50.0, 99.5, 20_000);
        let n = nginx(20_050, 49.0);
        let all = check(&views(&c, &n, 5.0));
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|a| a.agrees && a.note.is_none()), "{all:#?}");
    }

    #[test]
    fn a_throttled_nginx_explains_the_queue_in_front_of_it() {
        // The committed compose step of issue 26: 49 ms at the client, 31 ms in nginx's log,
        // nginx throttled in 98% of its periods.
        let c = client(2012.0, 49.0, 98.6, 20_120);
        let n = nginx(20_100, 31.0);
        let all = check(&views(&c, &n, 98.0));
        let queue = &all[1];
        assert!(!queue.agrees);
        let note = queue.note.as_deref().unwrap();
        assert!(note.starts_with("18 ms queued in front of nginx"), "{note}");
        assert!(note.contains("throttled in 98%") && note.contains("Trust the client's view"));
    }

    #[test]
    fn users_idle_outside_requests_break_littles_law_and_say_so() {
        // 100 users, but λW is 40: the driver, not the stack, held them back.
        let c = client(1000.0, 40.0, 99.0, 10_000);
        let n = nginx(10_000, 39.0);
        let little = &check(&views(&c, &n, 0.0))[0];
        assert!(!little.agrees);
        assert!(little
            .note
            .as_deref()
            .unwrap()
            .contains("in a request 40% of the time"));
    }

    #[test]
    fn requests_missing_from_the_log_or_extra_in_it_are_named() {
        let c = client(2000.0, 50.0, 100.0, 20_000);
        let missing = nginx(15_000, 49.0);
        let rule = &check(&views(&c, &missing, 0.0))[2];
        assert!(!rule.agrees);
        assert!(rule
            .note
            .as_deref()
            .unwrap()
            .starts_with("5000 requests the client sent"));
        let extra = nginx(30_000, 49.0);
        let rule = &check(&views(&c, &extra, 0.0))[2];
        assert!(rule.note.as_deref().unwrap().contains("another client"));
    }

    #[test]
    fn with_siege_the_clients_mean_comes_from_littles_law() {
        let summary = SiegeSummary {
            transactions: Some(20_120.0),
            failed_transactions: Some(0.0),
            response_time: Some(0.049),
            ..Default::default()
        };
        let n = nginx(20_120, 31.0);
        let v = Views {
            model: LoadModel::Closed,
            users: 99,
            rate_per_s: None,
            client: None,
            siege: Some(&summary),
            driver_requests_per_s: 2012.0,
            nginx: &n,
            nginx_throttled_percent: Some(98.0),
            driver_cpu_cores: 0.4,
            host_busy_percent: None,
        };
        let all = check(&v);
        assert_eq!(all.len(), 3);
        assert!(all[0].agrees, "{:?}", all[0]);
        assert!(
            all[1].seen.starts_with("client 49.2 ms (users / rate"),
            "{}",
            all[1].seen
        );
        assert!(!all[1].agrees && all[2].agrees);
    }
}
