//! Group commit for orders on Postgres: orders that arrive while earlier ones are being written
//! are placed together, in one statement.
//!
//! # Why
//! Under load the database's CPU, not the app's, decides how many orders per second the stack
//! takes. Most of what Postgres spends on a one-order statement is paid per statement, not per
//! order: the bind/execute round trip, a snapshot, the executor's start-up, the commit record and
//! the WAL flush. Measured with pgbench on the same schema (20 clients, prepared statements),
//! ten orders in one statement cost Postgres about a third of the CPU per order of one order per
//! statement; ten single-order statements in one transaction saved only a quarter (the per-statement
//! work stays). So the queue below batches into one statement, not one transaction.
//!
//! # How
//! Every order joins a process-wide queue. At most [`DRAINERS`] drain tasks run at a time: when
//! an order arrives and fewer run, it starts one. A drainer takes whatever is waiting (up to
//! `ORDER_BATCH_MAX` orders, never two for the same disk), places it, answers each order, and
//! repeats until the queue is empty. Nothing waits for a batch to fill: under light load every
//! batch holds one order and takes the one-order statement, so latency does not change; under
//! load, orders pile up while a batch is in the database and the next batch takes them all.
//!
//! # What stays true
//! - **Never oversold.** Each order's stock is taken by the same conditional update
//!   (`stock >= quantity`) under the row lock. A batch holds at most one order per disk, because
//!   an `UPDATE … FROM` updates a row once however many joined rows match it; orders for a disk
//!   already in the batch wait for the next one, in arrival order.
//! - **Acknowledged means committed.** An order is answered only after the statement that holds
//!   it committed. A statement is atomic: when the server rejects it (a customer deleted in the
//!   meantime, a deadlock between two replicas' batches), nothing of it happened, and each of its
//!   orders is placed again on its own, so each gets its own answer. When the connection fails
//!   instead, the outcome is unknown and every order in it is answered 503, as a lone order
//!   would be.
//! - **Deadlocks are avoided, not just survived.** A batch lists its disks in id order, so two
//!   batches lock shared disks in the same order.
//! - **A client that goes away cancels nothing**: the drainer, not the request, owns the
//!   statement, so an order is either placed or not, never cut off half-way.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::orders::{OrderRejected, OrderRow};
use crate::domain::NewOrder;

/// Drain tasks per process. Two keep a batch in the database while the next one forms (one
/// alone would leave the database idle between a batch's answer and the next statement);
/// more would only split the same orders into smaller, costlier batches.
pub const DRAINERS: usize = 2;

/// What placing one order gives: `Ok(Err(_))` is a business rejection, `Err(_)` a database
/// failure.
pub type Placed = Result<Result<OrderRow, OrderRejected>, sqlx::Error>;

/// An order waiting in the queue, and where its outcome goes.
pub struct Pending {
    pub order: NewOrder,
    pub created_at: DateTime<Utc>,
    reply: oneshot::Sender<Placed>,
}

impl Pending {
    /// Answers the order's request (which may have gone away: then nobody listens).
    pub fn answer(self, placed: Placed) {
        let _ = self.reply.send(placed);
    }
}

/// The process-wide order queue (see the module doc).
pub struct OrderQueue {
    max_batch: usize,
    state: Mutex<State>,
    batches: AtomicU64,
    batched_orders: AtomicU64,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<Pending>,
    drainers: usize,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchStats {
    /// Statements that placed two or more orders.
    pub batches_total: u64,
    /// Orders placed by those statements.
    pub batched_orders_total: u64,
}

impl OrderQueue {
    /// A queue whose batches hold at most `max_batch` orders (1: no batching).
    pub fn new(max_batch: usize) -> Self {
        Self {
            max_batch: max_batch.max(1),
            state: Mutex::default(),
            batches: AtomicU64::new(0),
            batched_orders: AtomicU64::new(0),
        }
    }

    /// Whether orders go through the queue at all.
    pub fn batching(&self) -> bool {
        self.max_batch > 1
    }

    /// Queues an order. Returns the receiver of its outcome, and whether the caller must start
    /// a drainer (fewer than [`DRAINERS`] run).
    pub fn push(
        &self,
        order: NewOrder,
        created_at: DateTime<Utc>,
    ) -> (oneshot::Receiver<Placed>, bool) {
        let (reply, outcome) = oneshot::channel();
        let mut state = self.lock();
        state.waiting.push_back(Pending {
            order,
            created_at,
            reply,
        });
        let start = state.drainers < DRAINERS;
        if start {
            state.drainers += 1;
        }
        (outcome, start)
    }

    /// The next batch for a drainer: the oldest waiting orders, one per disk, up to the maximum.
    /// `None` when nothing waits; the drainer is then counted out, under the same lock, so an
    /// order queued from now on starts a new one.
    fn next_batch(&self) -> Option<Vec<Pending>> {
        let mut state = self.lock();
        let batch = take_batch(&mut state.waiting, self.max_batch);
        if batch.is_empty() {
            state.drainers -= 1;
            None
        } else {
            Some(batch)
        }
    }

    /// Counts a statement that placed `orders` orders together.
    pub fn record_batch(&self, orders: usize) {
        if orders > 1 {
            self.batches.fetch_add(1, Ordering::Relaxed);
            self.batched_orders
                .fetch_add(orders as u64, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> BatchStats {
        BatchStats {
            batches_total: self.batches.load(Ordering::Relaxed),
            batched_orders_total: self.batched_orders.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A drain task's hold on the queue. Its batches come from [`Drainer::next_batch`]; if the task
/// ends any other way (a panic), dropping it still counts it out, so later orders start a new
/// drainer instead of waiting forever.
pub struct Drainer {
    queue: Arc<OrderQueue>,
    counted_out: bool,
}

impl Drainer {
    /// For a caller that [`OrderQueue::push`] told to start one.
    pub fn new(queue: Arc<OrderQueue>) -> Self {
        Self {
            queue,
            counted_out: false,
        }
    }

    pub fn next_batch(&mut self) -> Option<Vec<Pending>> {
        let batch = self.queue.next_batch();
        self.counted_out = batch.is_none();
        batch
    }

    pub fn queue(&self) -> &OrderQueue {
        &self.queue
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        if !self.counted_out {
            self.queue.lock().drainers -= 1;
        }
    }
}

/// Takes up to `max` orders from the front of `waiting`, skipping (and keeping, in order) any
/// for a disk already taken; the batch comes back sorted by disk id, the order its rows are
/// locked in.
fn take_batch(waiting: &mut VecDeque<Pending>, max: usize) -> Vec<Pending> {
    let mut batch: Vec<Pending> = Vec::new();
    let mut disks = HashSet::new();
    let mut kept = VecDeque::new();
    while let Some(pending) = waiting.pop_front() {
        if batch.len() == max {
            waiting.push_front(pending);
            break;
        }
        if disks.insert(pending.order.disk_id()) {
            batch.push(pending);
        } else {
            kept.push_back(pending);
        }
    }
    // What was skipped goes back in front of what was not looked at, in arrival order.
    while let Some(pending) = kept.pop_back() {
        waiting.push_front(pending);
    }
    batch.sort_by_key(|pending| pending.order.disk_id());
    batch
}

/// A copy of a connection-level failure for each order of a failed batch (`sqlx::Error` is not
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
    use crate::domain::OrderInput;

    fn order(customer: i64, disk: i64) -> NewOrder {
        NewOrder::try_from(OrderInput {
            customer_id: Some(customer.into()),
            disk_id: Some(disk.into()),
            quantity: Some(1.into()),
        })
        .unwrap()
    }

    fn queue_of(disks: &[i64]) -> (OrderQueue, Vec<oneshot::Receiver<Placed>>) {
        let queue = OrderQueue::new(3);
        let outcomes = disks
            .iter()
            .enumerate()
            .map(|(i, &disk)| queue.push(order(i as i64 + 1, disk), Utc::now()).0)
            .collect();
        (queue, outcomes)
    }

    fn disks(batch: &[Pending]) -> Vec<i64> {
        batch.iter().map(|p| p.order.disk_id()).collect()
    }

    fn customers(waiting: &VecDeque<Pending>) -> Vec<i64> {
        waiting.iter().map(|p| p.order.customer_id()).collect()
    }

    #[test]
    fn a_batch_holds_one_order_per_disk_sorted_and_keeps_the_rest_in_arrival_order() {
        let (queue, _outcomes) = queue_of(&[9, 4, 9, 9, 2, 7, 5]);
        let mut state = queue.lock();
        // Customers number the orders: 1→disk 9, 2→4, 3→9, 4→9, 5→2, 6→7, 7→5.
        let first = take_batch(&mut state.waiting, 3);
        assert_eq!(disks(&first), [2, 4, 9]);
        assert_eq!(customers(&state.waiting), [3, 4, 6, 7]);
        let second = take_batch(&mut state.waiting, 3);
        assert_eq!(disks(&second), [5, 7, 9]);
        assert_eq!(customers(&state.waiting), [4]);
        let third = take_batch(&mut state.waiting, 3);
        assert_eq!(disks(&third), [9]);
        assert!(take_batch(&mut state.waiting, 3).is_empty());
    }

    #[test]
    fn at_most_two_drainers_run_and_an_empty_queue_counts_one_out() {
        let queue = Arc::new(OrderQueue::new(2));
        let (_a, start_a) = queue.push(order(1, 1), Utc::now());
        let (_b, start_b) = queue.push(order(2, 2), Utc::now());
        let (_c, start_c) = queue.push(order(3, 3), Utc::now());
        assert_eq!((start_a, start_b, start_c), (true, true, false));
        let mut drainer = Drainer::new(queue.clone());
        assert_eq!(disks(&drainer.next_batch().unwrap()), [1, 2]);
        assert_eq!(disks(&drainer.next_batch().unwrap()), [3]);
        assert!(drainer.next_batch().is_none());
        assert_eq!(queue.lock().drainers, 1);
        // The other drainer never ran: dropping it counts it out too.
        drop(Drainer::new(queue.clone()));
        assert_eq!(queue.lock().drainers, 0);
        let (_d, start_d) = queue.push(order(4, 4), Utc::now());
        assert!(
            start_d,
            "an order queued after every drainer left starts a new one"
        );
    }

    #[test]
    fn each_order_of_a_failed_batch_gets_a_copy_of_the_transient_error() {
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

    #[test]
    fn no_batching_with_a_maximum_of_one() {
        assert!(!OrderQueue::new(1).batching());
        assert!(!OrderQueue::new(0).batching());
        assert!(OrderQueue::new(2).batching());
    }
}
