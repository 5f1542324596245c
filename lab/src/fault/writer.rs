//! lab's order writer: places orders for the writer's customers while a scenario's load runs,
//! each with an `Idempotency-Key` of its own, and sends an order whose outcome is unknown again
//! with the same key until the app says what became of it.
//!
//! # Why it retries
//! A 5xx, a timeout or a cut connection leaves an order's outcome unknown: the replica or the
//! database may have died between the COMMIT and the answer. Without a key the invariant could
//! only bound such orders ("no more orders than 201s plus unknowns"), and a client that retried
//! could buy twice. With a key a retry is safe: the app answers a key it already placed an
//! order for with that order (201, `Idempotent-Replayed: true`) and otherwise places it now,
//! once. So a run whose stack recovers ends with every order created or failed, none unknown,
//! and the check of [`super::orders`] is exact.
//!
//! # How
//! One thread, one request at a time, about 40 orders/s. Between two new orders it sends at
//! most one retry that is due, so it never sends more than twice its usual rate, however many
//! outcomes a fault leaves unknown. An order waits [`FIRST_BACKOFF`] before its first retry,
//! twice as long before each next one, up to [`MAX_BACKOFF`]. When the load ends the writer
//! places no new order and sends the unknown ones again until each is known or
//! [`RESOLVE_WINDOW`] has passed (the stack never came back); what is still unknown then is
//! reported as unknown.
//!
//! A retry's answer settles its order only when the app judged the key: a 201 (placed now, or
//! the first order again), or a 4xx of the app (nothing was placed: had an earlier try placed
//! it, the app would have answered with that order). nginx's 429 and a refused connection say
//! only that this try never reached the app, so the order stays unknown and is tried again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contract::orders::{IDEMPOTENCY_KEY_HEADER, MAX_IDEMPOTENCY_KEY_CHARS};

use super::orders::{classify, Attempt, Outcome};
use crate::load::http;

/// How long one try may take before its outcome counts as unknown.
const ORDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two orders of the writer (about 40 orders/s: enough to hit every fault).
const ORDER_PAUSE: Duration = Duration::from_millis(25);
/// Wait before an unknown outcome's first retry: long enough for nginx to pick another replica.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between two tries of one order: a database back from a crash is seen within it.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long after the load ends unknown outcomes are still sent again.
const RESOLVE_WINDOW: Duration = Duration::from_secs(60);

/// The writer, running in its own thread: [`stop_placing`](Self::stop_placing) when the load
/// ends, [`finish`](Self::finish) for its orders. Dropped, it stops placing too.
pub struct OrderWriter {
    placing: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<Attempt>>>,
}

impl OrderWriter {
    /// Places orders for customers `first..=last` on disks `1..=disks`, quantity 1-3, keyed
    /// `fault-<run>-<customer>-<n>`.
    pub fn start(base_url: &str, run: &str, (first, last): (u64, u64), disks: u64) -> Self {
        let placing = Arc::new(AtomicBool::new(true));
        let flag = placing.clone();
        let mut writer = Writer {
            base_url: base_url.to_owned(),
            run: key_safe(run),
            orders: Vec::new(),
            unknown: Vec::new(),
        };
        let handle = std::thread::spawn(move || {
            let mut n: u64 = 0;
            while flag.load(Ordering::SeqCst) {
                writer.retry_one_due();
                writer.place(n, (first, last), disks);
                n += 1;
                std::thread::sleep(ORDER_PAUSE);
            }
            writer.resolve_until(Instant::now() + RESOLVE_WINDOW);
            writer.orders
        });
        Self {
            placing,
            handle: Some(handle),
        }
    }

    /// The load has ended: place no new order; keep resolving unknown outcomes (for up to
    /// [`RESOLVE_WINDOW`]) while the scenario does its own work.
    pub fn stop_placing(&self) {
        self.placing.store(false, Ordering::SeqCst);
    }

    /// Every order, once each outcome is known or the window has passed.
    pub fn finish(mut self) -> Vec<Attempt> {
        self.stop_placing();
        self.handle
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for OrderWriter {
    fn drop(&mut self) {
        self.stop_placing();
    }
}

/// An order whose outcome is unknown, waiting for its next try.
struct Unknown {
    /// Its place in [`Writer::orders`].
    index: usize,
    due: Instant,
    backoff: Duration,
}

/// The writer thread's state.
struct Writer {
    base_url: String,
    run: String,
    orders: Vec<Attempt>,
    unknown: Vec<Unknown>,
}

impl Writer {
    /// Order `n` of a fixed walk over customers, disks and quantities (reproducible runs),
    /// first try.
    fn place(&mut self, n: u64, (first, last): (u64, u64), disks: u64) {
        let customer_id = first + n % (last - first + 1);
        let mut attempt = Attempt {
            customer_id,
            disk_id: 1 + (n * 7919) % disks,
            quantity: 1 + n % 3,
            key: format!("fault-{}-{customer_id}-{n}", self.run),
            tries: 1,
            replayed: false,
            outcome: Outcome::Unknown {
                reason: "not sent".to_owned(),
            },
        };
        attempt.outcome = classify(&send(&self.base_url, &attempt));
        if matches!(attempt.outcome, Outcome::Unknown { .. }) {
            self.unknown.push(Unknown {
                index: self.orders.len(),
                due: Instant::now() + FIRST_BACKOFF,
                backoff: FIRST_BACKOFF,
            });
        }
        self.orders.push(attempt);
    }

    /// Sends again the unknown order due first, if one is due.
    fn retry_one_due(&mut self) {
        let now = Instant::now();
        if let Some(position) = self.next_due().filter(|&p| self.unknown[p].due <= now) {
            let waiting = self.unknown.swap_remove(position);
            self.retry(waiting);
        }
    }

    /// Sends the unknown orders again, each when due, until none is left or `deadline`.
    fn resolve_until(&mut self, deadline: Instant) {
        while let Some(position) = self.next_due() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let due = self.unknown[position].due;
            if due > now {
                std::thread::sleep((due - now).min(deadline - now));
                continue;
            }
            let waiting = self.unknown.swap_remove(position);
            self.retry(waiting);
            std::thread::sleep(ORDER_PAUSE);
        }
    }

    /// The position in [`Self::unknown`] of the order due first.
    fn next_due(&self) -> Option<usize> {
        (0..self.unknown.len()).min_by_key(|&p| self.unknown[p].due)
    }

    /// One more try of an unknown order; it waits again unless the answer settles it.
    fn retry(&mut self, mut waiting: Unknown) {
        let attempt = &mut self.orders[waiting.index];
        let sent = Utc::now();
        let answer = send(&self.base_url, attempt);
        attempt.tries += 1;
        let outcome = classify(&answer);
        match outcome {
            Outcome::Created { .. } => {
                attempt.replayed = placed_before(&answer, sent);
                attempt.outcome = outcome;
                return;
            }
            // The app judged the key afresh and placed nothing.
            Outcome::Failed { status } if status != 0 && status != 429 => {
                attempt.outcome = outcome;
                return;
            }
            // Still unknown, or this try never reached the app: the last unknown reason stays.
            Outcome::Unknown { .. } => attempt.outcome = outcome,
            Outcome::Failed { .. } => {}
        }
        waiting.backoff = (waiting.backoff * 2).min(MAX_BACKOFF);
        waiting.due = Instant::now() + waiting.backoff;
        self.unknown.push(waiting);
    }
}

/// One try of `attempt`: `POST /orders` with its key.
fn send(base_url: &str, attempt: &Attempt) -> anyhow::Result<http::Response> {
    let body = format!(
        "{{\"customer_id\":{},\"disk_id\":{},\"quantity\":{}}}",
        attempt.customer_id, attempt.disk_id, attempt.quantity
    );
    http::request(
        base_url,
        "POST",
        "/orders",
        &[(IDEMPOTENCY_KEY_HEADER, attempt.key.clone())],
        Some(&body),
        ORDER_TIMEOUT,
    )
}

/// Whether a 201's order was created before `sent`, when the try that got it was sent: then an
/// earlier try placed it and this answer is the app's replay. (The app says so in
/// `Idempotent-Replayed`, but lab's HTTP client keeps no response headers; the app and lab
/// read the same clock in every fault stack, native or compose.)
fn placed_before(answer: &anyhow::Result<http::Response>, sent: DateTime<Utc>) -> bool {
    let Ok(response) = answer else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|order| {
            order
                .get("created_at")?
                .as_str()?
                .parse::<DateTime<Utc>>()
                .ok()
        })
        .is_some_and(|created_at| created_at < sent)
}

/// `run` as part of a key: visible ASCII only (the app refuses anything else), short enough
/// that `fault-<run>-<customer>-<n>` stays far below the app's limit.
fn key_safe(run: &str) -> String {
    run.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(MAX_IDEMPOTENCY_KEY_CHARS / 2)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(created_at: &str) -> anyhow::Result<http::Response> {
        Ok(http::Response {
            status: 201,
            body: format!(r#"{{"id":7,"created_at":"{created_at}"}}"#),
        })
    }

    #[test]
    fn a_201_for_an_order_created_before_the_try_was_sent_is_a_replay() {
        let sent: DateTime<Utc> = "2026-12-07T03:00:00.500000Z".parse().unwrap();
        assert!(placed_before(&created("2026-12-07T03:00:00.100000Z"), sent));
        assert!(!placed_before(
            &created("2026-12-07T03:00:00.500300Z"),
            sent
        ));
        assert!(!placed_before(&created("not a time"), sent));
        assert!(!placed_before(&Err(anyhow::anyhow!("cut")), sent));
    }

    #[test]
    fn keys_carry_only_what_the_app_accepts() {
        assert_eq!(
            key_safe("20261207T030000Z-fault-db kill/é"),
            "20261207T030000Z-fault-dbkill"
        );
        assert!(key_safe(&"x".repeat(1000)).len() <= MAX_IDEMPOTENCY_KEY_CHARS / 2);
    }

    /// A writer with one order already sent once, its outcome unknown.
    fn writer_with_one_unknown() -> Writer {
        Writer {
            // Nothing listens on port 1: every try is refused at once.
            base_url: "http://127.0.0.1:1".to_owned(),
            run: "test".to_owned(),
            orders: vec![Attempt {
                customer_id: 181,
                disk_id: 1,
                quantity: 1,
                key: "fault-test-181-0".to_owned(),
                tries: 1,
                replayed: false,
                outcome: Outcome::Unknown {
                    reason: "502 -".to_owned(),
                },
            }],
            unknown: vec![Unknown {
                index: 0,
                due: Instant::now(),
                backoff: FIRST_BACKOFF,
            }],
        }
    }

    /// A stand-in for the stack behind nginx: the first try of every key is placed but
    /// answered 502 (the replica died after the COMMIT), the second is nginx's 429, every
    /// later one is the app's replay of the order the first try placed.
    fn flaky_stack() -> String {
        use std::collections::HashMap;
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut tries: HashMap<String, (u32, DateTime<Utc>)> = HashMap::new();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut key, mut length) = (String::new(), 0);
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Idempotency-Key: ") {
                        key = value.trim().to_owned();
                    }
                    if let Some(value) = line.strip_prefix("Content-Length: ") {
                        length = value.trim().parse().unwrap();
                    }
                }
                // The whole request is read before answering: closing on unread bytes resets.
                reader.read_exact(&mut vec![0; length]).unwrap();
                let seen = tries.entry(key).or_insert((0, Utc::now()));
                seen.0 += 1;
                let (status, body) = match seen.0 {
                    1 => ("502 Bad Gateway", String::new()),
                    2 => ("429 Too Many Requests", "{}".to_owned()),
                    _ => (
                        "201 Created",
                        format!(r#"{{"id":41,"created_at":"{}"}}"#, seen.1.to_rfc3339()),
                    ),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        address
    }

    #[test]
    fn an_unknown_outcome_is_retried_with_its_key_until_the_app_answers_it() {
        let mut writer = Writer {
            base_url: flaky_stack(),
            run: "test".to_owned(),
            orders: Vec::new(),
            unknown: Vec::new(),
        };
        writer.place(0, (181, 200), 500);
        writer.place(1, (181, 200), 500);
        assert_eq!(writer.unknown.len(), 2, "{:?}", writer.orders);
        writer.resolve_until(Instant::now() + Duration::from_secs(10));
        assert!(writer.unknown.is_empty());
        for order in &writer.orders {
            assert_eq!(order.outcome, Outcome::Created { id: 41 }, "{order:?}");
            assert_eq!(
                order.tries, 3,
                "502, then 429 (not the app: still unknown), then 201"
            );
            assert!(order.replayed, "the first try had placed it");
        }
        assert_eq!(writer.orders[1].key, "fault-test-182-1");
        let retried = crate::fault::orders::retries(&writer.orders);
        assert_eq!(
            (retried.retries, retried.orders_retried, retried.replayed),
            (4, 2, 2)
        );
    }

    #[test]
    fn a_retry_that_never_reaches_the_app_leaves_the_order_unknown_and_backs_off() {
        let mut writer = writer_with_one_unknown();
        writer.retry_one_due();
        assert_eq!(writer.orders[0].tries, 2);
        assert_eq!(
            writer.orders[0].outcome,
            Outcome::Unknown {
                reason: "502 -".to_owned()
            },
            "a refused connection says nothing of the first try"
        );
        assert_eq!(writer.unknown.len(), 1);
        assert_eq!(writer.unknown[0].backoff, FIRST_BACKOFF * 2);
        writer.retry_one_due();
        assert_eq!(writer.orders[0].tries, 2, "not due yet");
        let started = Instant::now();
        writer.resolve_until(started + Duration::from_millis(500));
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(writer.orders[0].tries >= 3);
        assert_eq!(
            writer.unknown.len(),
            1,
            "still unknown when the window closed"
        );
    }
}
