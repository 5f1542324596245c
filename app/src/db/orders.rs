//! Orders: the one place where concurrency matters.
//!
//! Placing an order is one transaction whose **first** statement is the conditional, atomic
//! stock update `UPDATE disks SET stock = stock - q WHERE id = d AND stock >= q`. The database
//! evaluates the condition and the decrement under the row's write lock, so two buyers can never
//! both take the last unit, stock never goes negative, and the order row is inserted in the
//! same transaction (both happen or neither does). Being first matters on SQLite: the
//! transaction takes the database write lock straight away instead of starting as a reader
//! and failing to upgrade (`SQLITE_BUSY`) when another writer got there first.
//!
//! On Postgres the same update and insert are one statement (a data-modifying CTE: one round
//! trip, the same row lock), and orders that arrive together share a statement: see
//! [`super::order_batch`] for why and what it keeps true.
//!
//! An order sent with an `Idempotency-Key` takes the same statements with its key in the
//! insert, one order at a time; [`super::idempotency`] decides when to place it at all.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::batch_queue::{replicate, Drainer};
use super::list::{run_list, Arg, ListQuery, Listed};
use super::order_batch::{OrderQueue, Pending, PlaceOrder, Placed};
use super::rows::{OrderRejected, OrderRow};
use super::{missing_inserted_id, with_conn, AnyPool, Backend, Db, InsertedId, Sql};
use crate::domain::{IdempotencyKey, NewOrder, Page};

/// The list query for one customer's orders (served by `orders_customer_id_idx (customer_id,
/// id)` on every backend).
pub(crate) fn list_query(customer_id: i64, page: Page) -> ListQuery {
    ListQuery::new(
        COLUMNS,
        "orders",
        &["customer_id = ?"],
        vec![Arg::Int(customer_id)],
        page,
    )
}

static TAKE_STOCK_RETURNING_PRICE: Sql = Sql::new(
    "UPDATE disks SET stock = stock - ? WHERE id = ? AND stock >= ? RETURNING price_cents",
);
static TAKE_STOCK: Sql = Sql::new("UPDATE disks SET stock = stock - ? WHERE id = ? AND stock >= ?");
static PRICE: Sql = Sql::new("SELECT price_cents FROM disks WHERE id = ?");
static INSERT: Sql = Sql::new(
    "INSERT INTO orders (customer_id, disk_id, quantity, unit_price_cents, total_cents, \
     created_at, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
);
/// Postgres: the whole order in one statement (one round trip, no BEGIN/COMMIT). The
/// data-modifying CTE takes the stock under the row lock exactly as the transaction does; the
/// insert only sees a row when the stock was taken, and a failing insert (an unknown customer's
/// foreign key, an `Idempotency-Key` another order holds) undoes the update with the statement.
static PLACE_IN_ONE_STATEMENT: Sql = Sql::new(
    "WITH taken AS (\
         UPDATE disks SET stock = stock - ? WHERE id = ? AND stock >= ? RETURNING price_cents\
     ) \
     INSERT INTO orders (customer_id, disk_id, quantity, unit_price_cents, total_cents, \
     created_at, idempotency_key) SELECT ?, ?, ?, price_cents, price_cents * ?, ?, ? FROM taken \
     RETURNING id, unit_price_cents",
);
/// Postgres: a batch of orders (at most one per disk) in one statement. The customer check
/// keeps an unknown customer from failing the whole statement on the foreign key; the key
/// still guards a customer deleted in between (the statement then fails, and its orders are
/// placed one by one).
static PLACE_BATCH: Sql = Sql::new(
    "WITH req AS (\
         SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::int[], ?::timestamptz[]) \
         AS r(customer_id, disk_id, quantity, created_at)\
     ), taken AS (\
         UPDATE disks d SET stock = d.stock - r.quantity FROM req r \
         WHERE d.id = r.disk_id AND d.stock >= r.quantity \
         AND EXISTS (SELECT 1 FROM customers c WHERE c.id = r.customer_id) \
         RETURNING d.id AS disk_id, d.price_cents, r.customer_id, r.quantity, r.created_at\
     ) \
     INSERT INTO orders (customer_id, disk_id, quantity, unit_price_cents, total_cents, \
     created_at) SELECT customer_id, disk_id, quantity, price_cents, price_cents * quantity, \
     created_at FROM taken \
     RETURNING id, disk_id, unit_price_cents",
);
static WHY_REJECTED: Sql = Sql::new(
    "SELECT (SELECT stock FROM disks WHERE id = ?), (SELECT COUNT(*) FROM customers WHERE id = ?)",
);
static FIND: Sql = Sql::new(
    "SELECT id, customer_id, disk_id, quantity, unit_price_cents, total_cents, created_at \
     FROM orders WHERE id = ?",
);
const COLUMNS: &str =
    "id, customer_id, disk_id, quantity, unit_price_cents, total_cents, created_at";
static COUNT_ALL: Sql = Sql::new("SELECT COUNT(*) FROM orders");

impl Db {
    /// Places an order sent without an `Idempotency-Key` atomically (see the module doc).
    /// `Ok(Err(_))` is a business rejection; `Err(_)` a database failure.
    pub async fn place_order(
        &self,
        new: NewOrder,
    ) -> Result<Result<OrderRow, OrderRejected>, sqlx::Error> {
        // Microseconds: what every backend stores, so the answer equals what a later GET reads.
        let created_at = Utc::now().trunc_subsecs(6);
        if let AnyPool::Postgres(pool) = self.pool() {
            if self.orders().batching() {
                let (outcome, start_drainer) = self.orders().push(PlaceOrder {
                    order: new,
                    created_at,
                });
                if start_drainer {
                    tokio::spawn(self.clone().drain_orders());
                }
                // The drainer always answers; a dropped sender would mean it panicked.
                return outcome.await.unwrap_or(Err(sqlx::Error::WorkerCrashed));
            }
            let mut conn = self.acquire(pool).await?;
            return place_one_on_postgres(&mut conn, new, None, created_at).await;
        }
        self.place_in_transaction(new, None, created_at).await
    }

    /// MySQL/MariaDB (no UPDATE … RETURNING) and SQLite (no data-modifying CTE): a transaction
    /// whose first statement takes the stock. With a `key`, an insert refused because another
    /// order holds it rolls the transaction back (the stock with it) and returns the unique
    /// violation, for [`super::idempotency`] to answer.
    pub(super) async fn place_in_transaction(
        &self,
        new: NewOrder,
        key: Option<&IdempotencyKey>,
        created_at: DateTime<Utc>,
    ) -> Placed {
        let quantity = i64::from(new.quantity());
        with_conn!(self, backend, conn => {
            let mut tx = conn.begin().await?;
            let price: Option<i64> = if backend == Backend::Mysql {
                // Neither MySQL 8 nor MariaDB has UPDATE … RETURNING: read the price back
                // inside the transaction, where the updated row is locked by us.
                let taken = sqlx::query(TAKE_STOCK.on(backend))
                    .bind(quantity)
                    .bind(new.disk_id())
                    .bind(quantity)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if taken == 0 {
                    None
                } else {
                    sqlx::query_scalar(PRICE.on(backend))
                        .bind(new.disk_id())
                        .fetch_optional(&mut *tx)
                        .await?
                }
            } else {
                sqlx::query_scalar(TAKE_STOCK_RETURNING_PRICE.on(backend))
                    .bind(quantity)
                    .bind(new.disk_id())
                    .bind(quantity)
                    .fetch_optional(&mut *tx)
                    .await?
            };
            let Some(unit_price_cents) = price else {
                tx.rollback().await?;
                let (stock, customers): (Option<i64>, i64) =
                    sqlx::query_as(WHY_REJECTED.on(backend))
                        .bind(new.disk_id())
                        .bind(new.customer_id())
                        .fetch_one(&mut *conn)
                        .await?;
                return Ok(Err(rejection(stock, customers)));
            };
            let insert = sqlx::query(INSERT.on(backend))
                .bind(new.customer_id())
                .bind(new.disk_id())
                .bind(new.quantity())
                .bind(unit_price_cents)
                .bind(total_cents(unit_price_cents, new))
                .bind(created_at)
                .bind(key.map(IdempotencyKey::as_str))
                .execute(&mut *tx)
                .await
                .and_then(|done| done.inserted_id().ok_or_else(|| missing_inserted_id("orders")));
            let id = match insert {
                Ok(id) => id,
                // The customer does not exist: the stock taken above is rolled back with the
                // transaction.
                Err(err) if is_foreign_key_violation(&err) => {
                    tx.rollback().await?;
                    return Ok(Err(OrderRejected::UnknownCustomer));
                }
                // Another order holds the key: give the stock back now (SQLite's write lock
                // with it), not when the connection goes back to the pool.
                Err(err) if is_unique_violation(&err) => {
                    tx.rollback().await?;
                    return Err(err);
                }
                Err(err) => return Err(err),
            };
            tx.commit().await?;
            Ok(Ok(placed_row(new, id, unit_price_cents, created_at)))
        })
    }

    pub async fn find_order(&self, id: i64) -> Result<Option<OrderRow>, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_as(FIND.on(backend)).bind(id).fetch_optional(conn).await
        })
    }

    /// One page of a customer's orders by id (and how many they have, if asked).
    pub async fn list_customer_orders(
        &self,
        customer_id: i64,
        page: Page,
    ) -> Result<Listed<OrderRow>, sqlx::Error> {
        let query = list_query(customer_id, page);
        with_conn!(self, backend, conn => run_list!(backend, conn, &query, page))
    }

    /// How many orders exist (for tests).
    pub async fn count_orders(&self) -> Result<i64, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_scalar(COUNT_ALL.on(backend)).fetch_one(conn).await
        })
    }
}

impl Db {
    /// A drain task of the order queue (see `order_batch`): places batches until none waits.
    async fn drain_orders(self) {
        let AnyPool::Postgres(pool) = self.pool() else {
            unreachable!("only Postgres batches orders");
        };
        let mut drainer = Drainer::new(self.orders_arc());
        while let Some(batch) = drainer.next_batch() {
            match self.acquire(pool).await {
                Ok(mut conn) => place_batch_on_postgres(&mut conn, batch, drainer.queue()).await,
                Err(err) => fail_all(batch, &err),
            }
        }
    }
}

/// One order, one statement ([`PLACE_IN_ONE_STATEMENT`]). With a `key` another order holds,
/// the statement fails as a whole (no stock taken) with the unique violation, for
/// [`super::idempotency`] to answer.
pub(super) async fn place_one_on_postgres(
    conn: &mut PgConnection,
    new: NewOrder,
    key: Option<&IdempotencyKey>,
    created_at: DateTime<Utc>,
) -> Placed {
    let quantity = i64::from(new.quantity());
    let placed: Result<Option<(i64, i64)>, sqlx::Error> =
        sqlx::query_as(PLACE_IN_ONE_STATEMENT.on(Backend::Postgres))
            .bind(quantity)
            .bind(new.disk_id())
            .bind(quantity)
            .bind(new.customer_id())
            .bind(new.disk_id())
            .bind(new.quantity())
            .bind(quantity)
            .bind(created_at)
            .bind(key.map(IdempotencyKey::as_str))
            .fetch_optional(&mut *conn)
            .await;
    match placed {
        Ok(Some((id, unit_price_cents))) => {
            Ok(Ok(placed_row(new, id, unit_price_cents, created_at)))
        }
        Ok(None) => Ok(Err(why_rejected_on_postgres(conn, new).await?)),
        Err(err) if is_foreign_key_violation(&err) => Ok(Err(OrderRejected::UnknownCustomer)),
        Err(err) => Err(err),
    }
}

/// A batch (one order per disk, sorted by disk id) in one statement ([`PLACE_BATCH`]); each
/// order is answered as soon as the statement's outcome is known.
async fn place_batch_on_postgres(conn: &mut PgConnection, batch: Vec<Pending>, queue: &OrderQueue) {
    if batch.len() == 1 {
        return place_each_alone(conn, batch).await;
    }
    let customers: Vec<i64> = batch.iter().map(|p| p.job.order.customer_id()).collect();
    let disks: Vec<i64> = batch.iter().map(|p| p.job.order.disk_id()).collect();
    let quantities: Vec<i32> = batch.iter().map(|p| p.job.order.quantity()).collect();
    let created: Vec<DateTime<Utc>> = batch.iter().map(|p| p.job.created_at).collect();
    let placed: Result<Vec<(i64, i64, i64)>, sqlx::Error> =
        sqlx::query_as(PLACE_BATCH.on(Backend::Postgres))
            .bind(&customers)
            .bind(&disks)
            .bind(&quantities)
            .bind(&created)
            .fetch_all(&mut *conn)
            .await;
    match placed {
        Ok(rows) => {
            queue.record_batch(batch.len());
            // One order per disk: the disk id names the order a row belongs to.
            let by_disk: HashMap<i64, (i64, i64)> = rows
                .into_iter()
                .map(|(id, disk_id, unit_price_cents)| (disk_id, (id, unit_price_cents)))
                .collect();
            for pending in batch {
                let placed = match by_disk.get(&pending.job.order.disk_id()) {
                    Some(&(id, unit_price_cents)) => Ok(Ok(placed_row(
                        pending.job.order,
                        id,
                        unit_price_cents,
                        pending.job.created_at,
                    ))),
                    None => why_rejected_on_postgres(conn, pending.job.order)
                        .await
                        .map(Err),
                };
                pending.answer(placed);
            }
        }
        // The server refused the statement (a customer deleted since the check, a deadlock
        // between two batches): being one statement, none of it happened. Each order is placed
        // again on its own and gets its own answer.
        Err(sqlx::Error::Database(err)) => {
            log::warn!(
                "a batch of {} orders was refused ({err}); placing them one by one",
                batch.len()
            );
            place_each_alone(conn, batch).await;
        }
        // The connection failed: whether the statement committed is unknown, as for a lone
        // order. Placing the orders again could place them twice, so each is answered 503.
        Err(err) => fail_all(batch, &err),
    }
}

/// Places each order of `batch` with its own statement, answering each.
async fn place_each_alone(conn: &mut PgConnection, batch: Vec<Pending>) {
    for pending in batch {
        let placed =
            place_one_on_postgres(conn, pending.job.order, None, pending.job.created_at).await;
        pending.answer(placed);
    }
}

/// Answers every order of `batch` with (a copy of) the same database failure.
fn fail_all(batch: Vec<Pending>, err: &sqlx::Error) {
    for pending in batch {
        pending.answer(Err(replicate(err)));
    }
}

async fn why_rejected_on_postgres(
    conn: &mut PgConnection,
    new: NewOrder,
) -> Result<OrderRejected, sqlx::Error> {
    let (stock, customers): (Option<i64>, i64) = sqlx::query_as(WHY_REJECTED.on(Backend::Postgres))
        .bind(new.disk_id())
        .bind(new.customer_id())
        .fetch_one(&mut *conn)
        .await?;
    Ok(rejection(stock, customers))
}

fn placed_row(
    new: NewOrder,
    id: i64,
    unit_price_cents: i64,
    created_at: DateTime<Utc>,
) -> OrderRow {
    OrderRow {
        id,
        customer_id: new.customer_id(),
        disk_id: new.disk_id(),
        quantity: new.quantity(),
        unit_price_cents,
        total_cents: total_cents(unit_price_cents, new),
        created_at,
    }
}

/// Validation bounds price (≤ 10^8) and quantity (≤ 100): this cannot overflow.
fn total_cents(unit_price_cents: i64, new: NewOrder) -> i64 {
    unit_price_cents.saturating_mul(i64::from(new.quantity()))
}

/// Why no stock was taken, from the disk's stock (`None`: no such disk) and whether the
/// customer exists.
fn rejection(stock: Option<i64>, customers: i64) -> OrderRejected {
    match (stock, customers) {
        (_, 0) => OrderRejected::UnknownCustomer,
        (None, _) => OrderRejected::UnknownDisk,
        (Some(available), _) => OrderRejected::InsufficientStock { available },
    }
}

/// The insert named a customer that does not exist (deleted since the stock was taken).
fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}

/// The insert named an `Idempotency-Key` another order of the customer holds: the only unique
/// index an insert into `orders` can violate.
pub(super) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}
