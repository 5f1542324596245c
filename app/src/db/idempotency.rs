//! Orders placed with an `Idempotency-Key`: one customer's key places one order, however many
//! times and however concurrently it is sent (docs/service.md, "Retrying an order safely").
//!
//! # How
//! The key is stored with the order it placed (`orders.idempotency_key`), under a unique index
//! on `(customer_id, idempotency_key)`. A keyed request first looks its key up:
//! - found on an order younger than `IDEMPOTENCY_TTL_SECS`: that order is the answer, a replay
//!   when the body asks for the same disk and quantity, [`KeyedOrder::KeyReused`] when not.
//!   Nothing is written.
//! - found on an older order: the key has expired. It is released (set to NULL on that order,
//!   which stays as it is) and the request goes on as a new one.
//! - not found: the order is placed as any other (the same statements as in [`super::orders`]),
//!   with the key in its insert.
//!
//! Two requests with one key that both miss the lookup race to the insert, and the unique
//! index settles it. The loser's insert waits on the winner's index entry until the winner
//! commits, then fails with a unique violation, and the stock the loser took goes back with
//! it: on Postgres the order is one statement, on MySQL/MariaDB and SQLite a transaction that
//! is rolled back. The loser looks the key up again and answers as a replay (or
//! [`KeyedOrder::KeyReused`]). Had the winner rolled back instead, the loser's insert would
//! have gone through: one order either way.
//!
//! A rejected request (unknown customer or disk, not enough stock) inserts nothing, so its key
//! is recorded nowhere, and a retry is judged afresh (the stock may have come back). Before
//! answering a refusal the key is looked up once more: a request that waited on the disk's row
//! lock behind another with its key may find the stock that one took gone, and the order that
//! exists is the truer answer.
//!
//! # Alternatives rejected
//! - A table of keys written beside the order: a second insert per keyed order, and on
//!   Postgres a transaction instead of one statement. The order row already records what the
//!   key did, and it *is* the first answer (`GET /orders/{id}` reads the same body), so there
//!   is no response to store.
//! - Locking the key before placing (`SELECT … FOR UPDATE` on a key row, advisory locks): a
//!   round trip more on every keyed order, and not portable; the unique index already makes
//!   the loser wait for the winner on all three databases.
//! - Keyed orders in the Postgres order batch: see [`super::order_batch`].

use chrono::{DateTime, SubsecRound, Utc};

use super::order_batch::Placed;
use super::orders::{is_unique_violation, place_one_on_postgres};
use super::rows::{OrderRejected, OrderRow};
use super::{with_conn, AnyPool, Db, Sql};
use crate::domain::{IdempotencyKey, NewOrder};

/// What a request with an `Idempotency-Key` got.
#[derive(Debug)]
pub enum KeyedOrder {
    /// Placed now; the key is recorded with it.
    Placed(OrderRow),
    /// The key placed this very order before (same disk and quantity): the first answer again.
    Replayed(OrderRow),
    /// The key placed another order before (another disk or quantity): that first order.
    KeyReused(OrderRow),
    /// Not placed, and the key recorded nowhere.
    Rejected(OrderRejected),
}

/// Lookups and placements one request makes at most. Each round after the first follows a
/// unique violation, after which the lookup finds the order that won; a third is needed only
/// when that order's key expired in between.
const ROUNDS: u32 = 3;

static FIND_BY_KEY: Sql = Sql::new(
    "SELECT id, customer_id, disk_id, quantity, unit_price_cents, total_cents, created_at \
     FROM orders WHERE customer_id = ? AND idempotency_key = ?",
);
/// By id: the request compared that order's age with the TTL itself, so no timestamp is
/// compared in SQL (SQLite keeps them as text). The key condition makes a second release of
/// the same order, by a request racing this one, change nothing.
static RELEASE_KEY: Sql =
    Sql::new("UPDATE orders SET idempotency_key = NULL WHERE id = ? AND idempotency_key = ?");

impl Db {
    /// Places `new` unless `key` already placed an order for the customer (see the module
    /// doc). `Err(_)` is a database failure: the outcome is then unknown, and the client may
    /// send the same request again.
    pub async fn place_keyed_order(
        &self,
        new: NewOrder,
        key: &IdempotencyKey,
    ) -> Result<KeyedOrder, sqlx::Error> {
        let mut round = 1;
        loop {
            if let Some(first) = self.find_keyed_order(new.customer_id(), key).await? {
                if first.created_at >= self.idempotency_cutoff() {
                    return Ok(answer_again(first, new));
                }
                self.release_key(first.id, key).await?;
            }
            match self.place_with_key(new, key).await {
                Ok(Ok(row)) => return Ok(KeyedOrder::Placed(row)),
                Ok(Err(rejected)) => return self.rejected(new, key, rejected).await,
                // Another request with this key placed its order first (and took no stock of
                // ours): the next lookup finds it.
                Err(err) if is_unique_violation(&err) && round < ROUNDS => {
                    log::debug!(
                        "customer {}: a request with the same Idempotency-Key placed its order \
                         first; answering with that order",
                        new.customer_id()
                    );
                    round += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// A refusal (no stock, unknown disk or customer), unless a request with the same key
    /// placed the order meanwhile: waiting on the disk's row lock behind it, this one found
    /// the stock that order took gone. That order is the answer then, as for a replay.
    async fn rejected(
        &self,
        new: NewOrder,
        key: &IdempotencyKey,
        rejected: OrderRejected,
    ) -> Result<KeyedOrder, sqlx::Error> {
        match self.find_keyed_order(new.customer_id(), key).await? {
            Some(first) if first.created_at >= self.idempotency_cutoff() => {
                Ok(answer_again(first, new))
            }
            _ => Ok(KeyedOrder::Rejected(rejected)),
        }
    }

    /// Orders created before this time no longer hold their key.
    fn idempotency_cutoff(&self) -> DateTime<Utc> {
        let now = Utc::now();
        chrono::Duration::from_std(self.idempotency_ttl)
            .ok()
            .and_then(|ttl| now.checked_sub_signed(ttl))
            // A TTL reaching before any representable time: no key ever expires.
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    async fn find_keyed_order(
        &self,
        customer_id: i64,
        key: &IdempotencyKey,
    ) -> Result<Option<OrderRow>, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_as(FIND_BY_KEY.on(backend))
                .bind(customer_id)
                .bind(key.as_str())
                .fetch_optional(conn)
                .await
        })
    }

    async fn release_key(&self, order_id: i64, key: &IdempotencyKey) -> Result<(), sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query(RELEASE_KEY.on(backend))
                .bind(order_id)
                .bind(key.as_str())
                .execute(conn)
                .await?;
        });
        Ok(())
    }

    /// One order with its key. On Postgres its own statement, never the order batch (see
    /// [`super::order_batch`], "Only orders without an `Idempotency-Key`").
    async fn place_with_key(&self, new: NewOrder, key: &IdempotencyKey) -> Placed {
        // Microseconds, as in `place_order`: the answer equals what a replay reads back.
        let created_at = Utc::now().trunc_subsecs(6);
        if let AnyPool::Postgres(pool) = self.pool() {
            let mut conn = self.acquire(pool).await?;
            return place_one_on_postgres(&mut conn, new, Some(key), created_at).await;
        }
        self.place_in_transaction(new, Some(key), created_at).await
    }
}

/// The answer for a key that already placed `first`: the same order again, or the news that
/// the key was used for another one.
fn answer_again(first: OrderRow, new: NewOrder) -> KeyedOrder {
    if first.disk_id == new.disk_id() && first.quantity == new.quantity() {
        KeyedOrder::Replayed(first)
    } else {
        KeyedOrder::KeyReused(first)
    }
}
