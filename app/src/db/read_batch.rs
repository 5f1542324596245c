//! Reads by id gathered on Postgres: `GET /disks/{id}` requests that arrive while earlier ones
//! are in the database are answered together, by one `SELECT … WHERE id = ANY($1)`.
//!
//! # Why
//! A one-row read costs little in the database and a lot around it, in the app and in Postgres
//! alike: the pool hand-off, the bind/execute/sync round trip and its parsing, the task wake-ups,
//! the executor's start-up. `siege/service-bench.sh` measured a replica at about 41 µs of CPU per
//! read by id, against 16-19 µs per order once orders were placed together in one statement
//! ([`super::order_batch`]): most of a read's cost was paid per statement, not per row.
//!
//! # How
//! The order queue's shape ([`super::batch_queue`]): every read joins a process-wide queue;
//! at most [`DRAINERS`](super::batch_queue::DRAINERS) drain tasks run at a time, and a read
//! that finds fewer starts one. A drainer takes whatever waits (up to `READ_BATCH_MAX` reads,
//! in arrival order), reads the distinct ids in one statement, answers each read, and repeats
//! until the queue is empty. Nothing waits for a batch to fill: under light load every batch
//! holds one read, so latency does not change; under load, reads pile up while a batch is in
//! the database and the next batch takes them all.
//!
//! # What stays true
//! - **A read sees committed data at least as new as its request**: the statement that answers
//!   it starts after the read joined the queue (read committed, as a lone read's statement).
//! - **A failure is each read's own.** When the batch's statement fails, every read of it runs
//!   alone, so each gets the outcome and the status it would have had on its own; when no
//!   connection could be had, each read of the batch, and each that queued behind it, is
//!   answered with that same failure (503) at once: no read waits longer than one acquire
//!   timeout for a pool that has no connection to give.
//! - **A client that goes away cancels nothing**: the drainer owns the statement.

use std::marker::PhantomData;
use std::sync::Arc;

use super::batch_queue::{replicate, BatchQueue, Drainer, Job, Waiting};
use super::list::HasId;

/// What a drainer tells a read.
#[derive(Debug)]
pub enum Answer<T> {
    /// The row, or `None` when no row has that id.
    Found(Option<T>),
    /// The batch's statement failed: the read runs alone, for its own outcome.
    Alone,
    /// No connection could be had (each read of the batch gets a copy of the failure).
    Failed(sqlx::Error),
}

/// A read of one row of type `T` by its id. Batches take the oldest reads.
pub struct ReadById<T> {
    id: i64,
    row: PhantomData<fn() -> T>,
}

impl<T> ReadById<T> {
    pub fn new(id: i64) -> Self {
        Self {
            id,
            row: PhantomData,
        }
    }
}

impl<T> Job for ReadById<T> {
    type Answer = Answer<T>;
}

/// The process-wide queue of reads by id for one table (see the module doc).
pub type ReadQueue<T> = BatchQueue<ReadById<T>>;

/// A read waiting in the queue, and where its answer goes.
pub type WaitingRead<T> = Waiting<ReadById<T>>;

/// A drain task's hold on a read queue (see [`Drainer`]): it also turns a batch's rows, or
/// its failure, into each read's answer.
pub struct ReadDrainer<T>(Drainer<ReadById<T>>);

impl<T: Clone + HasId> ReadDrainer<T> {
    /// For a caller that [`BatchQueue::push`] told to start one.
    pub fn new(queue: Arc<ReadQueue<T>>) -> Self {
        Self(Drainer::new(queue))
    }

    /// The next batch and its distinct ids, in ascending order.
    pub fn next_batch(&mut self) -> Option<(Vec<WaitingRead<T>>, Vec<i64>)> {
        self.0.next_batch().map(|batch| {
            let mut ids: Vec<i64> = batch.iter().map(|w| w.job.id).collect();
            ids.sort_unstable();
            ids.dedup();
            (batch, ids)
        })
    }

    /// Answers every read of `batch` from the outcome of its statement.
    pub fn answer(&self, batch: Vec<WaitingRead<T>>, rows: Result<Vec<T>, sqlx::Error>) {
        match rows {
            Ok(mut rows) => {
                self.0.queue().record_batch(batch.len());
                rows.sort_unstable_by_key(HasId::id);
                for waiting in batch {
                    let row = rows
                        .binary_search_by_key(&waiting.job.id, HasId::id)
                        .ok()
                        .map(|i| rows[i].clone());
                    waiting.answer(Answer::Found(row));
                }
            }
            Err(_) => {
                for waiting in batch {
                    waiting.answer(Answer::Alone);
                }
            }
        }
    }

    /// Answers every read of `batch`, and every read that queued behind it meanwhile, with a
    /// copy of `err` (no connection could be had). Those later reads would have waited for the
    /// same pool: failing them now keeps a read's wait within one acquire timeout however
    /// long the queue, instead of one timeout per batch ahead of it.
    pub fn fail(&self, batch: Vec<WaitingRead<T>>, err: &sqlx::Error) {
        let behind = self.0.take_all_waiting();
        for waiting in batch.into_iter().chain(behind) {
            waiting.answer(Answer::Failed(replicate(err)));
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Row(i64, &'static str);

    impl HasId for Row {
        fn id(&self) -> i64 {
            self.0
        }
    }

    fn read(id: i64) -> ReadById<Row> {
        ReadById::new(id)
    }

    fn found(answer: Result<Answer<Row>, oneshot::error::TryRecvError>) -> Option<Row> {
        match answer {
            Ok(Answer::Found(row)) => row,
            other => panic!("expected a found answer, got {other:?}"),
        }
    }

    #[test]
    fn only_the_first_reads_start_drainers_and_a_drainer_takes_the_oldest_up_to_the_maximum() {
        let queue = Arc::new(ReadQueue::<Row>::new(3));
        let starts: Vec<bool> = [5, 3, 5, 9, 1]
            .iter()
            .map(|&id| queue.push(read(id)).1)
            .collect();
        assert_eq!(starts, [true, true, false, false, false]);
        let mut drainer = ReadDrainer::new(queue.clone());
        let (batch, ids) = drainer.next_batch().expect("a batch");
        assert_eq!(
            batch.iter().map(|w| w.job.id).collect::<Vec<_>>(),
            [5, 3, 5]
        );
        assert_eq!(ids, [3, 5], "distinct, ascending");
        let (batch, ids) = drainer.next_batch().expect("the rest");
        assert_eq!(batch.len(), 2);
        assert_eq!(ids, [1, 9]);
        assert!(drainer.next_batch().is_none());
    }

    #[test]
    fn each_read_gets_its_own_row_a_repeated_id_twice_and_a_missing_id_none() {
        let queue = Arc::new(ReadQueue::<Row>::new(64));
        let answers: Vec<_> = [7, 2, 7, 404]
            .iter()
            .map(|&id| queue.push(read(id)).0)
            .collect();
        let mut drainer = ReadDrainer::new(queue.clone());
        let (batch, _) = drainer.next_batch().expect("a batch");
        drainer.answer(batch, Ok(vec![Row(2, "two"), Row(7, "seven")]));
        let rows: Vec<_> = answers
            .into_iter()
            .map(|mut a| found(a.try_recv()))
            .collect();
        assert_eq!(
            rows,
            [
                Some(Row(7, "seven")),
                Some(Row(2, "two")),
                Some(Row(7, "seven")),
                None
            ]
        );
        let stats = queue.stats();
        assert_eq!((stats.batches_total, stats.batched_total), (1, 4));
    }

    #[test]
    fn a_failed_statement_sends_every_read_alone_and_no_connection_fails_them_all() {
        let queue = Arc::new(ReadQueue::<Row>::new(64));
        let mut first: Vec<_> = [1, 2].iter().map(|&id| queue.push(read(id)).0).collect();
        let mut drainer = ReadDrainer::new(queue.clone());
        let (batch, _) = drainer.next_batch().expect("a batch");
        drainer.answer(batch, Err(sqlx::Error::Protocol("broken".into())));
        for answer in &mut first {
            assert!(matches!(answer.try_recv(), Ok(Answer::Alone)));
        }
        let mut second: Vec<_> = [3, 4].iter().map(|&id| queue.push(read(id)).0).collect();
        let (batch, _) = drainer.next_batch().expect("a batch");
        // Reads that queue while the batch waits for a connection fail with it.
        second.extend([5, 6].iter().map(|&id| queue.push(read(id)).0));
        drainer.fail(batch, &sqlx::Error::PoolTimedOut);
        assert!(drainer.next_batch().is_none(), "nothing left waiting");
        for answer in &mut second {
            assert!(matches!(
                answer.try_recv(),
                Ok(Answer::Failed(sqlx::Error::PoolTimedOut))
            ));
        }
        assert_eq!(
            queue.stats().batches_total,
            0,
            "failed batches are not counted"
        );
    }
}
