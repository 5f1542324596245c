//! The queue shape that orders ([`super::order_batch`]) and reads by id
//! ([`super::read_batch`]) share on Postgres: requests that arrive while earlier ones are in
//! the database wait here, and one statement serves them together.
//!
//! Every request joins a process-wide queue. At most [`DRAINERS`] drain tasks run at a time:
//! a request that finds fewer starts one. A drainer takes the next batch (which waiting jobs,
//! and how many, is the job type's [`Job::take_batch`]), has it served, answers each job, and
//! repeats until the queue is empty; then it is counted out under the queue's lock, so a job
//! queued from that moment on starts a new drainer. Nothing waits for a batch to fill: under
//! light load every batch holds one job, so latency does not change; under load, jobs pile up
//! while a batch is in the database and the next batch takes them all.
//!
//! What a batch runs and how a failure is answered stays with each user: an order and a read
//! differ in both. A job type parameter, not a trait object, so each queue is compiled for its
//! own job as the two separate queues were.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// Drain tasks per queue. Two keep a batch in the database while the next one forms (one
/// alone would leave the database idle between a batch's answer and the next statement);
/// more would only split the same jobs into smaller, costlier batches.
pub const DRAINERS: usize = 2;

/// What a queue carries: the job, what it is answered, and how a batch is taken.
pub trait Job: Sized {
    /// What the drainer sends back to the job's request.
    type Answer;

    /// Moves the next batch, at most `max` jobs, out of `waiting` (the oldest at the front).
    /// By default the oldest `max`.
    fn take_batch(waiting: &mut VecDeque<Waiting<Self>>, max: usize) -> Vec<Waiting<Self>> {
        let n = waiting.len().min(max);
        waiting.drain(..n).collect()
    }
}

/// A job waiting in the queue, and where its answer goes.
pub struct Waiting<J: Job> {
    pub job: J,
    reply: oneshot::Sender<J::Answer>,
}

impl<J: Job> Waiting<J> {
    /// Answers the job's request (which may have gone away: then nobody listens).
    pub fn answer(self, answer: J::Answer) {
        let _ = self.reply.send(answer);
    }
}

/// A process-wide queue of one kind of job (see the module doc).
pub struct BatchQueue<J: Job> {
    max_batch: usize,
    state: Mutex<State<J>>,
    batches: AtomicU64,
    batched: AtomicU64,
}

struct State<J: Job> {
    waiting: VecDeque<Waiting<J>>,
    drainers: usize,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchStats {
    /// Statements that served two or more jobs.
    pub batches_total: u64,
    /// Jobs served by those statements.
    pub batched_total: u64,
}

impl<J: Job> BatchQueue<J> {
    /// A queue whose batches hold at most `max_batch` jobs (1: no batching).
    pub fn new(max_batch: usize) -> Self {
        Self {
            max_batch: max_batch.max(1),
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                drainers: 0,
            }),
            batches: AtomicU64::new(0),
            batched: AtomicU64::new(0),
        }
    }

    /// Whether jobs go through the queue at all.
    pub fn batching(&self) -> bool {
        self.max_batch > 1
    }

    /// Queues a job. Returns the receiver of its answer, and whether the caller must start a
    /// drainer (fewer than [`DRAINERS`] run).
    pub fn push(&self, job: J) -> (oneshot::Receiver<J::Answer>, bool) {
        let (reply, answer) = oneshot::channel();
        let mut state = self.lock();
        state.waiting.push_back(Waiting { job, reply });
        let start = state.drainers < DRAINERS;
        if start {
            state.drainers += 1;
        }
        (answer, start)
    }

    /// The next batch for a drainer. `None` when nothing waits; the drainer is then counted
    /// out, under the same lock, so a job queued from now on starts a new one.
    fn next_batch(&self) -> Option<Vec<Waiting<J>>> {
        let mut state = self.lock();
        let batch = J::take_batch(&mut state.waiting, self.max_batch);
        if batch.is_empty() {
            state.drainers -= 1;
            None
        } else {
            Some(batch)
        }
    }

    /// Counts a statement that served `jobs` jobs together.
    pub fn record_batch(&self, jobs: usize) {
        if jobs > 1 {
            self.batches.fetch_add(1, Ordering::Relaxed);
            self.batched.fetch_add(jobs as u64, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> BatchStats {
        BatchStats {
            batches_total: self.batches.load(Ordering::Relaxed),
            batched_total: self.batched.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A drain task's hold on a queue. Its batches come from [`Drainer::next_batch`]; if the task
/// ends any other way (a panic), dropping it still counts it out, so later jobs start a new
/// drainer instead of waiting forever (and the jobs of the batch it held see their sender
/// dropped).
pub struct Drainer<J: Job> {
    queue: Arc<BatchQueue<J>>,
    counted_out: bool,
}

impl<J: Job> Drainer<J> {
    /// For a caller that [`BatchQueue::push`] told to start one.
    pub fn new(queue: Arc<BatchQueue<J>>) -> Self {
        Self {
            queue,
            counted_out: false,
        }
    }

    pub fn next_batch(&mut self) -> Option<Vec<Waiting<J>>> {
        let batch = self.queue.next_batch();
        self.counted_out = batch.is_none();
        batch
    }

    pub fn queue(&self) -> &BatchQueue<J> {
        &self.queue
    }

    /// Takes every job waiting now, whatever the batch size (to fail them all at once).
    pub fn take_all_waiting(&self) -> Vec<Waiting<J>> {
        self.queue.lock().waiting.drain(..).collect()
    }
}

impl<J: Job> Drop for Drainer<J> {
    fn drop(&mut self) {
        if !self.counted_out {
            self.queue.lock().drainers -= 1;
        }
    }
}

/// A copy of a connection-level failure for each job of a failed batch (`sqlx::Error` is not
/// `Clone`). Every variant that reaches here is answered 503, as the original would be.
pub fn replicate(err: &sqlx::Error) -> sqlx::Error {
    match err {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job answered with its own number; batches take the oldest.
    struct Numbered(u32);

    impl Job for Numbered {
        type Answer = u32;
    }

    fn numbers(batch: &[Waiting<Numbered>]) -> Vec<u32> {
        batch.iter().map(|w| w.job.0).collect()
    }

    #[test]
    fn at_most_two_drainers_run_and_an_empty_queue_counts_one_out() {
        let queue = Arc::new(BatchQueue::new(2));
        let starts: Vec<bool> = (1..=3).map(|n| queue.push(Numbered(n)).1).collect();
        assert_eq!(starts, [true, true, false]);
        let mut drainer = Drainer::new(queue.clone());
        assert_eq!(numbers(&drainer.next_batch().unwrap()), [1, 2]);
        assert_eq!(numbers(&drainer.next_batch().unwrap()), [3]);
        assert!(drainer.next_batch().is_none());
        assert_eq!(queue.lock().drainers, 1);
        drop(drainer);
        assert_eq!(queue.lock().drainers, 1, "not counted out twice");
        // The other drainer never ran: dropping it counts it out too.
        drop(Drainer::new(queue.clone()));
        assert_eq!(queue.lock().drainers, 0);
        assert!(
            queue.push(Numbered(4)).1,
            "a job queued after every drainer left starts a new one"
        );
    }

    #[test]
    fn a_drainer_that_dies_counts_itself_out_and_its_jobs_see_a_dropped_sender() {
        let queue = Arc::new(BatchQueue::new(64));
        let (mut answer, start) = queue.push(Numbered(1));
        assert!(start);
        {
            let mut drainer = Drainer::new(queue.clone());
            let _batch = drainer.next_batch().expect("a batch");
            // Dropped here without answering, as a panicking task would.
        }
        assert!(answer.try_recv().is_err());
        assert_eq!(queue.lock().drainers, 0);
        assert!(
            queue.push(Numbered(2)).1,
            "the next job starts a new drainer"
        );
    }

    #[test]
    fn only_batches_of_two_or_more_are_counted() {
        let queue = BatchQueue::<Numbered>::new(8);
        queue.record_batch(1);
        queue.record_batch(3);
        queue.record_batch(2);
        let stats = queue.stats();
        assert_eq!((stats.batches_total, stats.batched_total), (2, 5));
    }

    #[test]
    fn a_maximum_of_one_turns_batching_off() {
        assert!(!BatchQueue::<Numbered>::new(1).batching());
        assert!(!BatchQueue::<Numbered>::new(0).batching());
        assert!(BatchQueue::<Numbered>::new(2).batching());
    }

    #[test]
    fn each_job_of_a_failed_batch_gets_a_copy_of_the_transient_error() {
        assert!(matches!(
            replicate(&sqlx::Error::PoolTimedOut),
            sqlx::Error::PoolTimedOut
        ));
        let io = replicate(&sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert!(
            matches!(io, sqlx::Error::Io(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset)
        );
        assert!(matches!(
            replicate(&sqlx::Error::WorkerCrashed),
            sqlx::Error::Protocol(_)
        ));
    }
}
