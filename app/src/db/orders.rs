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

use super::list::{run_list, Arg, HasId, ListQuery, Listed};
use super::{missing_inserted_id, with_conn, AnyPool, Backend, Db, InsertedId, Sql};
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

impl HasId for OrderRow {
    fn id(&self) -> i64 {
        self.id
    }
}

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
/// Postgres: the whole order in one statement (one round trip, no BEGIN/COMMIT). The
/// data-modifying CTE takes the stock under the row lock exactly as the transaction does; the
/// insert only sees a row when the stock was taken, and a failing insert (an unknown customer's
/// foreign key) undoes the update with the statement.
static PLACE_IN_ONE_STATEMENT: Sql = Sql::new(
    "WITH taken AS (\
         UPDATE disks SET stock = stock - ? WHERE id = ? AND stock >= ? RETURNING price_cents\
     ) \
     INSERT INTO orders (customer_id, disk_id, quantity, unit_price_cents, total_cents, \
     created_at) SELECT ?, ?, ?, price_cents, price_cents * ?, ? FROM taken \
     RETURNING id, unit_price_cents",
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
    /// Places an order atomically (see the module doc). `Ok(Err(_))` is a business rejection;
    /// `Err(_)` a database failure.
    pub async fn place_order(
        &self,
        new: NewOrder,
    ) -> Result<Result<OrderRow, OrderRejected>, sqlx::Error> {
        // Microseconds: what every backend stores, so the answer equals what a later GET reads.
        let created_at = Utc::now().trunc_subsecs(6);
        let quantity = i64::from(new.quantity());
        if let AnyPool::Postgres(pool) = self.pool() {
            let mut conn = self.acquire(pool).await?;
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
                    .fetch_optional(&mut *conn)
                    .await;
            return match placed {
                Ok(Some((id, unit_price_cents))) => Ok(Ok(OrderRow {
                    id,
                    customer_id: new.customer_id(),
                    disk_id: new.disk_id(),
                    quantity: new.quantity(),
                    unit_price_cents,
                    total_cents: unit_price_cents.saturating_mul(quantity),
                    created_at,
                })),
                Ok(None) => {
                    let (stock, customers): (Option<i64>, i64) =
                        sqlx::query_as(WHY_REJECTED.on(Backend::Postgres))
                            .bind(new.disk_id())
                            .bind(new.customer_id())
                            .fetch_one(&mut *conn)
                            .await?;
                    Ok(Err(rejection(stock, customers)))
                }
                Err(err) if is_foreign_key_violation(&err) => {
                    Ok(Err(OrderRejected::UnknownCustomer))
                }
                Err(err) => Err(err),
            };
        }
        // MySQL/MariaDB (no UPDATE … RETURNING) and SQLite (no data-modifying CTE): a
        // transaction whose first statement takes the stock.
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
