//! Orders: the one place where concurrency matters.
//!
//! Placing an order is one transaction whose **first** statement is the conditional, atomic
//! stock update `UPDATE disks SET stock = stock - q WHERE id = d AND stock >= q`. The database
//! evaluates the condition and the decrement under the row's write lock, so two buyers can never
//! both take the last unit, stock never goes negative, and the order row is inserted in the
//! same transaction (both happen or neither does). Being first matters on SQLite: the
//! transaction takes the database write lock straight away instead of starting as a reader
//! and failing to upgrade (`SQLITE_BUSY`) when another writer got there first.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::Connection;

use super::{missing_inserted_id, with_conn, Backend, Db, InsertedId, Sql};
use crate::domain::{NewOrder, Page};

/// A placed order, as read from the `orders` table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub disk_id: i64,
    pub quantity: i32,
    /// The disk's price when the order was placed, in cents.
    pub unit_price_cents: i64,
    /// `quantity * unit_price_cents`.
    pub total_cents: i64,
    pub created_at: DateTime<Utc>,
}

/// Why an order was not placed (the caller maps these to 404/409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRejected {
    UnknownCustomer,
    UnknownDisk,
    /// Fewer units than asked for; `available` is the stock seen after the attempt.
    InsufficientStock {
        available: i64,
    },
}

static TAKE_STOCK_RETURNING_PRICE: Sql = Sql::new(
    "UPDATE disks SET stock = stock - ? WHERE id = ? AND stock >= ? RETURNING price_cents",
);
static TAKE_STOCK: Sql = Sql::new("UPDATE disks SET stock = stock - ? WHERE id = ? AND stock >= ?");
static PRICE: Sql = Sql::new("SELECT price_cents FROM disks WHERE id = ?");
static INSERT: Sql = Sql::new(
    "INSERT INTO orders (customer_id, disk_id, quantity, unit_price_cents, total_cents, \
     created_at) VALUES (?, ?, ?, ?, ?, ?)",
);
static INSERT_RETURNING: Sql = Sql::new(
    "INSERT INTO orders (customer_id, disk_id, quantity, unit_price_cents, total_cents, \
     created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
);
static WHY_REJECTED: Sql = Sql::new(
    "SELECT (SELECT stock FROM disks WHERE id = ?), (SELECT COUNT(*) FROM customers WHERE id = ?)",
);
static FIND: Sql = Sql::new(
    "SELECT id, customer_id, disk_id, quantity, unit_price_cents, total_cents, created_at \
     FROM orders WHERE id = ?",
);
static LIST_FOR_CUSTOMER: Sql = Sql::new(
    "SELECT id, customer_id, disk_id, quantity, unit_price_cents, total_cents, created_at \
     FROM orders WHERE customer_id = ? ORDER BY id LIMIT ? OFFSET ?",
);
static COUNT_FOR_CUSTOMER: Sql = Sql::new("SELECT COUNT(*) FROM orders WHERE customer_id = ?");
static COUNT_ALL: Sql = Sql::new("SELECT COUNT(*) FROM orders");

impl Db {
    /// Places an order atomically (see the module doc). `Ok(Err(_))` is a business rejection;
    /// `Err(_)` a database failure.
    pub async fn place_order(
        &self,
        new: NewOrder,
    ) -> Result<Result<OrderRow, OrderRejected>, sqlx::Error> {
        // Microseconds: what every backend stores, so the answer equals what a later GET reads.
        let created_at = Utc::now().trunc_subsecs(6);
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
                return Ok(Err(match (stock, customers) {
                    (_, 0) => OrderRejected::UnknownCustomer,
                    (None, _) => OrderRejected::UnknownDisk,
                    (Some(available), _) => OrderRejected::InsufficientStock { available },
                }));
            };
            // Validation bounds price (≤ 10^8) and quantity (≤ 100): this cannot overflow.
            let total_cents = unit_price_cents.saturating_mul(quantity);
            let insert = if backend == Backend::Postgres {
                sqlx::query_scalar(INSERT_RETURNING.on(backend))
                    .bind(new.customer_id())
                    .bind(new.disk_id())
                    .bind(new.quantity())
                    .bind(unit_price_cents)
                    .bind(total_cents)
                    .bind(created_at)
                    .fetch_one(&mut *tx)
                    .await
            } else {
                sqlx::query(INSERT.on(backend))
                    .bind(new.customer_id())
                    .bind(new.disk_id())
                    .bind(new.quantity())
                    .bind(unit_price_cents)
                    .bind(total_cents)
                    .bind(created_at)
                    .execute(&mut *tx)
                    .await
                    .and_then(|done| done.inserted_id().ok_or_else(|| missing_inserted_id("orders")))
            };
            let id = match insert {
                Ok(id) => id,
                // The customer does not exist: the stock taken above is rolled back with the
                // transaction when `tx` is dropped.
                Err(err) if is_foreign_key_violation(&err) => {
                    tx.rollback().await?;
                    return Ok(Err(OrderRejected::UnknownCustomer));
                }
                Err(err) => return Err(err),
            };
            tx.commit().await?;
            Ok(Ok(OrderRow {
                id,
                customer_id: new.customer_id(),
                disk_id: new.disk_id(),
                quantity: new.quantity(),
                unit_price_cents,
                total_cents,
                created_at,
            }))
        })
    }

    pub async fn find_order(&self, id: i64) -> Result<Option<OrderRow>, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_as(FIND.on(backend)).bind(id).fetch_optional(conn).await
        })
    }

    /// One page of a customer's orders by id, and their total count.
    pub async fn list_customer_orders(
        &self,
        customer_id: i64,
        page: Page,
    ) -> Result<(Vec<OrderRow>, i64), sqlx::Error> {
        with_conn!(self, backend, conn => {
            let items = sqlx::query_as(LIST_FOR_CUSTOMER.on(backend))
                .bind(customer_id)
                .bind(page.limit())
                .bind(page.offset())
                .fetch_all(&mut *conn)
                .await?;
            let total: i64 = sqlx::query_scalar(COUNT_FOR_CUSTOMER.on(backend))
                .bind(customer_id)
                .fetch_one(conn)
                .await?;
            Ok((items, total))
        })
    }

    /// How many orders exist (for tests).
    pub async fn count_orders(&self) -> Result<i64, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_scalar(COUNT_ALL.on(backend)).fetch_one(conn).await
        })
    }
}

/// The insert named a customer that does not exist (deleted since the stock was taken).
fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}
