//! What every request of a load came to, kept as it happens: per endpoint, a histogram of
//! latencies and counts of statuses, timeouts and failures; for an open load, how late each
//! request was sent. One recorder is shared by the load's tasks (a lock per request, far
//! below the cost of the request itself); the counters the sampler reads are atomics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::histogram;

/// How late a send may be before it counts as late.
pub const LATE: Duration = Duration::from_millis(10);

/// One endpoint's requests.
pub struct Record {
    pub latency: Histogram<u64>,
    pub status_2xx: u64,
    pub status_3xx: u64,
    /// 4xx other than 429.
    pub status_4xx: u64,
    pub status_429: u64,
    pub status_5xx: u64,
    pub timeouts: u64,
    pub errors: u64,
}

impl Record {
    fn new() -> Self {
        Self {
            latency: histogram::new(),
            status_2xx: 0,
            status_3xx: 0,
            status_4xx: 0,
            status_429: 0,
            status_5xx: 0,
            timeouts: 0,
            errors: 0,
        }
    }

    pub fn answers(&self) -> u64 {
        self.status_2xx + self.status_3xx + self.status_4xx + self.status_429 + self.status_5xx
    }
}

/// Every endpoint's record, and how late the sends were.
pub struct Recorder {
    pub endpoints: Vec<Record>,
    /// Intended start to send, µs (open load).
    pub send_delay: Histogram<u64>,
    pub sent_late: u64,
    /// Timed out before they could be sent.
    pub unsent: u64,
    /// Failures below HTTP by why (`conn::failure_kind`).
    pub failures: BTreeMap<&'static str, u64>,
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

impl Recorder {
    pub fn new(endpoints: usize) -> Self {
        Self {
            endpoints: (0..endpoints).map(|_| Record::new()).collect(),
            send_delay: histogram::new(),
            sent_late: 0,
            unsent: 0,
            failures: BTreeMap::new(),
        }
    }

    /// An answer with `status`, `latency` after its start.
    pub fn answered(&mut self, endpoint: usize, latency: Duration, status: u16) {
        let r = &mut self.endpoints[endpoint];
        r.latency.saturating_record(us(latency));
        match status {
            429 => r.status_429 += 1,
            200..=299 => r.status_2xx += 1,
            300..=399 => r.status_3xx += 1,
            500..=599 => r.status_5xx += 1,
            _ => r.status_4xx += 1,
        }
    }

    /// No answer within the timeout: its latency is at least that long, and counts so.
    pub fn timed_out(&mut self, endpoint: usize, latency: Duration, sent: bool) {
        let r = &mut self.endpoints[endpoint];
        r.latency.saturating_record(us(latency));
        r.timeouts += 1;
        if !sent {
            self.unsent += 1;
        }
    }

    /// Failed below HTTP (refused, reset), for `why`: no latency a user would wait for.
    pub fn failed(&mut self, endpoint: usize, why: &'static str) {
        self.endpoints[endpoint].errors += 1;
        *self.failures.entry(why).or_default() += 1;
    }

    /// An open load's request written `delay` after its intended start.
    pub fn sent(&mut self, delay: Duration) {
        self.send_delay.saturating_record(us(delay));
        if delay > LATE {
            self.sent_late += 1;
        }
    }
}

/// Counts the sampler and the report read while the load runs.
#[derive(Default)]
pub struct Counters {
    /// Requests whose time came.
    pub due: AtomicU64,
    /// Requests written to a connection.
    pub sent: AtomicU64,
    /// Requests due and not yet finished.
    pub outstanding: AtomicU64,
    /// Requests finished (answered, failed or timed out).
    pub finished: AtomicU64,
    pub connections: AtomicU64,
    /// Sum of `outstanding` over the samples, and the samples taken.
    pub in_flight_sum: AtomicU64,
    pub in_flight_samples: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sub(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The time-averaged requests in the system over the samples.
    pub fn mean_in_flight(&self) -> f64 {
        let samples = Self::get(&self.in_flight_samples);
        if samples == 0 {
            0.0
        } else {
            Self::get(&self.in_flight_sum) as f64 / samples as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_land_in_their_class_and_timeouts_count_their_wait() {
        let mut r = Recorder::new(2);
        r.answered(0, Duration::from_millis(3), 200);
        r.answered(0, Duration::from_millis(4), 429);
        r.answered(1, Duration::from_millis(5), 503);
        r.answered(1, Duration::from_millis(5), 404);
        r.timed_out(1, Duration::from_secs(10), false);
        r.failed(0, "connection refused");
        r.sent(Duration::from_millis(2));
        r.sent(Duration::from_millis(50));
        assert_eq!(
            (r.endpoints[0].status_2xx, r.endpoints[0].status_429),
            (1, 1)
        );
        assert_eq!(
            (r.endpoints[1].status_5xx, r.endpoints[1].status_4xx),
            (1, 1)
        );
        assert_eq!(r.endpoints[1].answers(), 2);
        assert_eq!(r.endpoints[1].latency.len(), 3);
        assert_eq!((r.unsent, r.sent_late, r.endpoints[0].errors), (1, 1, 1));
    }
}
