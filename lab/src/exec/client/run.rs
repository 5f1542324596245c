//! The load itself, in the driver's process (`lab __drive`): a tokio runtime on as many
//! threads as there are cores, the closed model as one task per user with its own connection,
//! the open model as a dispatcher that starts each request at its intended time on a free
//! connection (opening one, up to the cap, when none is free). A sampler reads the requests
//! in the system every 10 ms; SIGINT ends the schedule early and the load still reports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout, timeout_at, Instant};

use super::conn::{connect, exchange, failure_kind, Sender};
use super::recorder::{Counters, Recorder};
use super::schedule::Schedule;
use super::target::Target;
use super::timer::PreciseTimer;
use crate::results::Arrivals;

/// What the load is.
#[derive(Debug, Clone, Copy)]
pub enum Model {
    Closed {
        users: u32,
    },
    Open {
        rate: f64,
        arrivals: Arrivals,
        max_connections: usize,
    },
}

/// Everything the load's tasks share.
pub struct Shared {
    pub target: Target,
    pub recorder: Mutex<Recorder>,
    pub counters: Counters,
    /// Set by SIGINT or the end of the schedule: no new request starts.
    pub stop: AtomicBool,
    pub timeout: Duration,
}

impl Shared {
    fn record(&self, f: impl FnOnce(&mut Recorder)) {
        let mut recorder = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut recorder);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Runs the load for `secs`; returns the seconds from its start to its last answer.
pub async fn load(shared: Arc<Shared>, model: Model, secs: f64, seed: u64) -> f64 {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    // The open model's requests are in the system from their intended start, when the
    // dispatcher may not have reached them yet: the sampler counts them by the schedule.
    let schedule = match model {
        Model::Closed { .. } => None,
        Model::Open { rate, arrivals, .. } => Some(Schedule::new(rate, arrivals, secs, seed)),
    };
    let sampler = sample_in_flight(
        Arc::clone(&shared),
        start.into_std(),
        end.into_std(),
        schedule,
    );
    let stopper = tokio::spawn(stop_on_interrupt(Arc::clone(&shared)));
    match model {
        Model::Closed { users } => closed(&shared, users, end, seed).await,
        Model::Open {
            rate,
            arrivals,
            max_connections,
        } => {
            open(&shared, rate, arrivals, max_connections, secs, seed).await;
        }
    }
    let _ = sampler.join();
    stopper.abort();
    start.elapsed().as_secs_f64()
}

/// About every 10 ms until `end`, the requests in the system (Little's law's L, measured).
/// On a thread of its own at uneven intervals (5 to 15 ms): a tokio timer would wake on the
/// same millisecond ticks as the dispatcher and always look just before (or after) a batch
/// of arrivals, which biases the mean.
fn sample_in_flight(
    shared: Arc<Shared>,
    start: std::time::Instant,
    end: std::time::Instant,
    mut schedule: Option<Schedule>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let c = &shared.counters;
        let mut rng = StdRng::seed_from_u64(0x5a_3d1e);
        let mut due = 0u64;
        let mut next = schedule.as_mut().and_then(Iterator::next);
        while std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_micros(rng.random_range(5_000..15_000)));
            let in_flight = match schedule.as_mut() {
                None => Counters::get(&c.outstanding),
                Some(schedule) => {
                    let elapsed = start.elapsed();
                    while next.is_some_and(|offset| offset <= elapsed) {
                        due += 1;
                        next = schedule.next();
                    }
                    due.saturating_sub(Counters::get(&c.finished))
                }
            };
            c.in_flight_sum.fetch_add(in_flight, Ordering::Relaxed);
            Counters::add(&c.in_flight_samples);
        }
    })
}

async fn stop_on_interrupt(shared: Arc<Shared>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        shared.stop.store(true, Ordering::Relaxed);
    }
}

/// `users` tasks, each sending its next request as soon as the last is answered, until
/// `end`; the requests under way at `end` are waited for.
async fn closed(shared: &Arc<Shared>, users: u32, end: Instant, seed: u64) {
    let tasks: Vec<_> = (0..users)
        .map(|u| {
            tokio::spawn(user(
                Arc::clone(shared),
                end,
                seed.wrapping_add(u64::from(u)),
            ))
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

async fn user(shared: Arc<Shared>, end: Instant, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sender: Option<Sender> = None;
    let c = &shared.counters;
    while Instant::now() < end && !shared.stopped() {
        let request = &shared.target.requests[rng.random_range(0..shared.target.requests.len())];
        Counters::add(&c.due);
        let mut conn = match sender.take().filter(|s| !s.is_closed()) {
            Some(conn) => conn,
            None => match connect(shared.target.addr).await {
                Ok(conn) => {
                    Counters::add(&c.connections);
                    conn
                }
                Err(err) => {
                    // Refused: the user's request failed; try again shortly, not in a spin.
                    let why = failure_kind(&err);
                    shared.record(|r| r.failed(request.endpoint, why));
                    sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        Counters::add(&c.sent);
        Counters::add(&c.outstanding);
        let started = Instant::now();
        let outcome = timeout(shared.timeout, exchange(&mut conn, &shared.target, request)).await;
        let latency = started.elapsed();
        Counters::sub(&c.outstanding);
        match outcome {
            Ok(Ok(status)) => {
                shared.record(|r| r.answered(request.endpoint, latency, status));
                sender = Some(conn);
            }
            Ok(Err(err)) => {
                let why = failure_kind(&err);
                shared.record(|r| r.failed(request.endpoint, why));
            }
            Err(_) => shared.record(|r| r.timed_out(request.endpoint, latency, true)),
        }
    }
}

/// Connections free for the next request, and how many may exist at once.
struct Pool {
    idle: Mutex<Vec<Sender>>,
    slots: Semaphore,
}

/// Starts each request at its intended time, whatever the stack does, for `secs`; then
/// waits until every request is answered or past its timeout.
async fn open(
    shared: &Arc<Shared>,
    rate: f64,
    arrivals: Arrivals,
    max_connections: usize,
    secs: f64,
    seed: u64,
) {
    let pool = Arc::new(Pool {
        idle: Mutex::new(Vec::new()),
        slots: Semaphore::new(max_connections.max(1)),
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let dispatched = dispatch(
        Schedule::new(rate, arrivals, secs, seed),
        std::time::Instant::now(),
        &shared.stop,
        |intended| {
            let index = rng.random_range(0..shared.target.requests.len());
            Counters::add(&shared.counters.due);
            Counters::add(&shared.counters.outstanding);
            tokio::spawn(one_request(
                Arc::clone(shared),
                Arc::clone(&pool),
                index,
                Instant::from_std(intended),
            ));
        },
    )
    .await;
    if let Err(e) = dispatched {
        eprintln!("lab __drive: the open model's timer failed: {e}");
        shared.stop.store(true, Ordering::Relaxed);
    }
    let drain_until = Instant::now() + shared.timeout + Duration::from_secs(1);
    while Counters::get(&shared.counters.outstanding) > 0 && Instant::now() < drain_until {
        sleep(Duration::from_millis(5)).await;
    }
}

/// Calls `start` at each intended time of `schedule` (several at once when the runtime woke
/// late: the times stay the schedule's), until it ends or `stop` is set. Its clock is a
/// [`PreciseTimer`]: any lateness of the dispatcher is added to every request's latency.
pub async fn dispatch(
    schedule: Schedule,
    origin: std::time::Instant,
    stop: &AtomicBool,
    mut start: impl FnMut(std::time::Instant),
) -> std::io::Result<()> {
    let timer = PreciseTimer::new()?;
    for offset in schedule {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let intended = origin + offset;
        timer.sleep_until(intended).await?;
        start(intended);
    }
    Ok(())
}

/// One request of an open load: a connection (waiting for a free one counts), the exchange,
/// all within its timeout from its intended start.
async fn one_request(shared: Arc<Shared>, pool: Arc<Pool>, index: usize, intended: Instant) {
    let request = &shared.target.requests[index];
    let sent = AtomicBool::new(false);
    let outcome = timeout_at(intended + shared.timeout, async {
        let _slot = pool.slots.acquire().await?;
        let idle = pool
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .filter(|s| !s.is_closed());
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = connect(shared.target.addr).await?;
                Counters::add(&shared.counters.connections);
                conn
            }
        };
        shared.record(|r| r.sent(intended.elapsed()));
        sent.store(true, Ordering::Relaxed);
        Counters::add(&shared.counters.sent);
        let status = exchange(&mut conn, &shared.target, request).await?;
        if !conn.is_closed() {
            pool.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        anyhow::Ok(status)
    })
    .await;
    let latency = intended.elapsed();
    Counters::sub(&shared.counters.outstanding);
    Counters::add(&shared.counters.finished);
    match outcome {
        Ok(Ok(status)) => shared.record(|r| r.answered(request.endpoint, latency, status)),
        Ok(Err(err)) => {
            let why = failure_kind(&err);
            shared.record(|r| r.failed(request.endpoint, why));
        }
        Err(_) => {
            let sent = sent.load(Ordering::Relaxed);
            shared.record(|r| r.timed_out(request.endpoint, latency, sent));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatcher keeps the schedule's clock, not its own: 10,000 requests at 1,000/s
    /// take 10 s within 1%, whatever it costs to start each one.
    #[test]
    fn ten_thousand_requests_at_a_thousand_a_second_take_ten_seconds() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let origin = std::time::Instant::now();
        let stop = AtomicBool::new(false);
        let mut started = 0u32;
        let mut lags = Vec::with_capacity(10_000);
        runtime
            .block_on(dispatch(
                Schedule::new(1000.0, Arrivals::Constant, 10.0, 1),
                origin,
                &stop,
                |intended| {
                    started += 1;
                    lags.push(std::time::Instant::now().saturating_duration_since(intended));
                    // A little work per request, as the real dispatcher does.
                    std::hint::black_box((0..200).sum::<u64>());
                },
            ))
            .unwrap();
        let secs = origin.elapsed().as_secs_f64();
        assert_eq!(started, 10_000);
        assert!((secs - 10.0).abs() <= 0.1, "took {secs:.3} s");
        // Scheduling on a shared machine, never a drift: most starts within half a
        // millisecond of their time (tokio's timer alone is up to a millisecond late for each).
        lags.sort();
        let median = lags[lags.len() / 2];
        assert!(median < Duration::from_micros(500), "median lag {median:?}");
        assert!(
            lags[lags.len() - 1] < Duration::from_millis(50),
            "{:?}",
            lags.last()
        );
    }
}
