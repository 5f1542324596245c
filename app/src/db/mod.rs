//! Database access for three backends: Postgres, MySQL/MariaDB and SQLite.
//!
//! # The approach, and why
//! [`Db`] holds an enum of the three concrete sqlx pools ([`AnyPool`]). Every query is written
//! once, as a generic sqlx call, inside [`with_conn!`]: the macro matches the enum and expands
//! the same body three times, once per concrete backend, so each copy is monomorphised against
//! that backend's own driver (native types, native prepared-statement cache, no `Any` layer
//! and no trait objects on the hot path).
//!
//! SQL is written once with `?` placeholders (what MySQL and SQLite accept). Postgres wants
//! `$1, $2…`: [`Sql`] converts a statement the first time Postgres runs it and caches the
//! result for the life of the process, so the conversion costs nothing per request.
//! Only SQL that truly differs is written per backend, and each such place says why:
//! `UPDATE … RETURNING` / `INSERT … RETURNING` (neither MySQL 8 nor MariaDB has the former,
//! MySQL 8 has neither; there the code uses a follow-up `SELECT` and `last_insert_id`), and the
//! bulk reset in [`seed`].
//!
//! sqlx `Any` was rejected because it decodes through a lowest-common-denominator value type
//! (no `DateTime`, extra copies per row) and still needs per-backend placeholders; a trait with
//! one impl per backend would have tripled the SQL for no gain.
//!
//! Pool: sqlx's own (see README, "Why sqlx's pool"). [`Db::acquire`] wraps every acquisition to
//! count the ones that found no idle connection and the time spent waiting (for `/metrics`).
//!
//! Errors: every query returns `sqlx::Error`. What a client is answered (503, 409, 500) is
//! decided once, in the `error` module; this layer knows nothing of HTTP.
//! Inputs arrive as `domain` types, valid by construction.

pub mod batch_queue;
pub mod customers;
pub mod disks;
pub mod explain;
pub mod idempotency;
pub mod list;
pub mod order_batch;
pub mod orders;
pub mod read_batch;
pub mod rows;
pub mod seed;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{Database, Pool};

use crate::config::DatabaseSettings;
use batch_queue::BatchStats;
use order_batch::OrderQueue;
use read_batch::ReadQueue;
use rows::DiskRow;

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/mysql");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long SQLite waits for another connection's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long start-up keeps retrying a database that is not up yet (compose starts them together).
const CONNECT_RETRY_WINDOW: Duration = Duration::from_secs(30);

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Postgres,
    Mysql,
    Sqlite,
}

impl Backend {
    /// The backend named by a `DATABASE_URL`'s scheme.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mysql" | "mariadb" => Ok(Self::Mysql),
            "sqlite" => Ok(Self::Sqlite),
            _ => anyhow::bail!(
                "DATABASE_URL must start with postgres://, mysql:// or sqlite:// (got {scheme:?})"
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
            Self::Sqlite => "sqlite",
        }
    }

    /// Rewrites `?` placeholders as `$1, $2…` for Postgres; other backends keep them.
    /// Used for statements built at run time (list filters); fixed statements use [`Sql`].
    pub fn placeholders(self, sql: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Postgres => numbered_placeholders(sql).into(),
            Self::Mysql | Self::Sqlite => sql.into(),
        }
    }
}

/// One of the three concrete sqlx pools.
#[derive(Clone)]
pub enum AnyPool {
    Postgres(PgPool),
    Mysql(MySqlPool),
    Sqlite(SqlitePool),
}

/// The shared database handle: a pool plus the counters `/metrics` reports. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    stats: Arc<AcquireStats>,
    /// Orders waiting to be placed together (Postgres; see [`order_batch`]).
    orders: Arc<OrderQueue>,
    /// Reads of disks by id waiting to be answered together (Postgres; see [`read_batch`]).
    disk_reads: Arc<ReadQueue<DiskRow>>,
    /// How long an order holds its `Idempotency-Key` (see [`idempotency`]).
    idempotency_ttl: Duration,
}

/// Pool acquisition counters (monotonic).
#[derive(Default)]
struct AcquireStats {
    acquires: AtomicU64,
    waits: AtomicU64,
    wait_micros: AtomicU64,
}

/// A point-in-time view of the pool for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolSnapshot {
    pub size: u32,
    pub idle: usize,
    pub max: u32,
    pub acquires_total: u64,
    /// Acquisitions that found no idle connection (they waited for one, or for a new one).
    pub waits_total: u64,
    pub wait_seconds_total: f64,
    /// Orders placed together (see [`order_batch`]).
    pub order_batches: BatchStats,
    /// Reads of disks by id answered together (see [`read_batch`]).
    pub disk_read_batches: BatchStats,
}

/// Expands `$body` once per backend with `$conn` bound to a pooled connection of that backend
/// (`&mut <Backend>Connection`) and `$backend` to its [`Backend`]. The enclosing function must
/// return `Result<_, sqlx::Error>` (or an error `From<sqlx::Error>`).
macro_rules! with_conn {
    ($db:expr, $backend:ident, $conn:ident => $body:expr) => {
        match $db.pool() {
            $crate::db::AnyPool::Postgres(pool) => {
                #[allow(unused_variables)]
                let $backend = $crate::db::Backend::Postgres;
                let mut guard = $db.acquire(pool).await?;
                let $conn = &mut *guard;
                $body
            }
            $crate::db::AnyPool::Mysql(pool) => {
                #[allow(unused_variables)]
                let $backend = $crate::db::Backend::Mysql;
                let mut guard = $db.acquire(pool).await?;
                let $conn = &mut *guard;
                $body
            }
            $crate::db::AnyPool::Sqlite(pool) => {
                #[allow(unused_variables)]
                let $backend = $crate::db::Backend::Sqlite;
                let mut guard = $db.acquire(pool).await?;
                let $conn = &mut *guard;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

impl Db {
    /// Connects (retrying for a while if the server is not up yet), creating a missing SQLite
    /// file and its folder, then applies this backend's migrations.
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let deadline = Instant::now() + CONNECT_RETRY_WINDOW;
        loop {
            match Self::connect_once(settings).await {
                Ok(db) => return Ok(db),
                Err(err) if Instant::now() < deadline && is_retryable_at_startup(&err) => {
                    log::warn!(
                        "database {} not reachable yet ({err:#}); retrying",
                        settings.redacted_url()
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("connecting to {}", settings.redacted_url()))
                }
            }
        }
    }

    async fn connect_once(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let pool = match Backend::from_url(&settings.url)? {
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(&settings.url)?;
                let pool = pool_options(settings).connect_with(options).await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                AnyPool::Postgres(pool)
            }
            Backend::Mysql => {
                let url = settings.url.replacen("mariadb://", "mysql://", 1);
                let options = MySqlConnectOptions::from_str(&url)?.charset("utf8mb4");
                let pool = pool_options(settings).connect_with(options).await?;
                MYSQL_MIGRATIONS.run(&pool).await?;
                AnyPool::Mysql(pool)
            }
            Backend::Sqlite => {
                let options = sqlite_options(&settings.url)?;
                let pool = pool_options(settings).connect_with(options).await?;
                SQLITE_MIGRATIONS.run(&pool).await?;
                AnyPool::Sqlite(pool)
            }
        };
        Ok(Self::with_pool(pool, settings))
    }

    /// A handle that connects on first use, without migrating: for exercising an unreachable
    /// database (the answer must be a fast 503, never a hang or a 500).
    pub fn connect_lazy(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let pool = match Backend::from_url(&settings.url)? {
            Backend::Postgres => AnyPool::Postgres(
                pool_options(settings)
                    .connect_lazy_with(PgConnectOptions::from_str(&settings.url)?),
            ),
            Backend::Mysql => AnyPool::Mysql(pool_options(settings).connect_lazy_with(
                MySqlConnectOptions::from_str(&settings.url.replacen("mariadb://", "mysql://", 1))?,
            )),
            Backend::Sqlite => AnyPool::Sqlite(
                pool_options(settings).connect_lazy_with(sqlite_options(&settings.url)?),
            ),
        };
        Ok(Self::with_pool(pool, settings))
    }

    fn with_pool(pool: AnyPool, settings: &DatabaseSettings) -> Self {
        // Only Postgres batches orders: MySQL has no `UPDATE … RETURNING` to tell which orders
        // of a batch took their stock, and SQLite has one writer at a time anyway.
        // Reads likewise: `= ANY($1)` with one array parameter is one prepared statement for
        // any batch size; MySQL would need a statement per `IN (?, …)` length, and SQLite's
        // reads cost no round trip to share.
        let (max_orders, max_reads) = match pool {
            AnyPool::Postgres(_) => (settings.order_batch_max, settings.read_batch_max),
            AnyPool::Mysql(_) | AnyPool::Sqlite(_) => (1, 1),
        };
        Self {
            pool,
            stats: Arc::default(),
            orders: Arc::new(OrderQueue::new(max_orders)),
            disk_reads: Arc::new(ReadQueue::new(max_reads)),
            idempotency_ttl: settings.idempotency_ttl,
        }
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            AnyPool::Postgres(_) => Backend::Postgres,
            AnyPool::Mysql(_) => Backend::Mysql,
            AnyPool::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn orders(&self) -> &OrderQueue {
        &self.orders
    }

    pub(crate) fn orders_arc(&self) -> Arc<OrderQueue> {
        self.orders.clone()
    }

    pub(crate) fn disk_reads(&self) -> &Arc<ReadQueue<DiskRow>> {
        &self.disk_reads
    }

    /// Takes a connection from `pool`, counting waits for `/metrics`.
    pub async fn acquire<DB: Database>(
        &self,
        pool: &Pool<DB>,
    ) -> Result<PoolConnection<DB>, sqlx::Error> {
        self.stats.acquires.fetch_add(1, Ordering::Relaxed);
        if pool.num_idle() > 0 {
            if let Some(conn) = pool.try_acquire() {
                return Ok(conn);
            }
        }
        self.stats.waits.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let conn = pool.acquire().await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.wait_micros.fetch_add(micros, Ordering::Relaxed);
        conn
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        let (size, idle, max) = match &self.pool {
            AnyPool::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            AnyPool::Mysql(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            AnyPool::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        PoolSnapshot {
            size,
            idle,
            max,
            acquires_total: self.stats.acquires.load(Ordering::Relaxed),
            waits_total: self.stats.waits.load(Ordering::Relaxed),
            wait_seconds_total: self.stats.wait_micros.load(Ordering::Relaxed) as f64 / 1e6,
            order_batches: self.orders.stats(),
            disk_read_batches: self.disk_reads.stats(),
        }
    }

    /// `SELECT 1`: does the database answer at all?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_conn!(self, _backend, conn => {
            sqlx::query("SELECT 1").execute(conn).await?;
        });
        Ok(())
    }

    /// Closes every pooled connection (tests and shutdown).
    pub async fn close(&self) {
        match &self.pool {
            AnyPool::Postgres(p) => p.close().await,
            AnyPool::Mysql(p) => p.close().await,
            AnyPool::Sqlite(p) => p.close().await,
        }
    }
}

fn pool_options<DB: Database>(settings: &DatabaseSettings) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(settings.pool_max)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        // A ping per acquisition would add a round trip to every request; a connection that
        // died is reported by the query that uses it (answered 503) and then discarded.
        .test_before_acquire(false)
}

fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let file = options.get_filename();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database folder {}", dir.display()))?;
    }
    Ok(options)
}

/// Connection refused and friends while the database is still starting.
fn is_retryable_at_startup(err: &anyhow::Error) -> bool {
    match err.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => true,
        Some(sqlx::Error::Database(db)) => {
            // Postgres "the database system is starting up" (57P03).
            db.code().as_deref() == Some("57P03")
        }
        _ => false,
    }
}

/// The id of the row an `INSERT` just created, from the driver's own result (MySQL's
/// `last_insert_id`, SQLite's `last_insert_rowid`). Postgres reports none: its inserts use
/// `RETURNING id` instead, so its implementation is never asked.
pub trait InsertedId {
    fn inserted_id(&self) -> Option<i64>;
}

impl InsertedId for sqlx::mysql::MySqlQueryResult {
    fn inserted_id(&self) -> Option<i64> {
        i64::try_from(self.last_insert_id())
            .ok()
            .filter(|id| *id > 0)
    }
}

impl InsertedId for sqlx::sqlite::SqliteQueryResult {
    fn inserted_id(&self) -> Option<i64> {
        Some(self.last_insert_rowid()).filter(|id| *id > 0)
    }
}

impl InsertedId for sqlx::postgres::PgQueryResult {
    fn inserted_id(&self) -> Option<i64> {
        None
    }
}

/// An `INSERT` that reported no id: a driver contract broken, never the client's fault.
pub fn missing_inserted_id(table: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("INSERT INTO {table} reported no id"))
}

/// A SQL statement written with `?` placeholders, converted once for Postgres and cached.
pub struct Sql {
    text: &'static str,
    postgres: OnceLock<String>,
}

impl Sql {
    pub const fn new(text: &'static str) -> Self {
        Self {
            text,
            postgres: OnceLock::new(),
        }
    }

    /// The statement in `backend`'s placeholder syntax.
    pub fn on(&'static self, backend: Backend) -> &'static str {
        match backend {
            Backend::Postgres => self
                .postgres
                .get_or_init(|| numbered_placeholders(self.text)),
            Backend::Mysql | Backend::Sqlite => self.text,
        }
    }
}

/// `a = ? AND b = ?` → `a = $1 AND b = $2`, leaving `?` inside quoted literals alone.
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut in_literal = false;
    for ch in sql.chars() {
        match ch {
            '\'' => {
                in_literal = !in_literal;
                out.push(ch);
            }
            '?' if !in_literal => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let sql = "UPDATE t SET a = ? WHERE b = ? AND c = '?'";
        assert_eq!(
            Backend::Postgres.placeholders(sql),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = '?'"
        );
        assert_eq!(Backend::Mysql.placeholders(sql), sql);
        assert_eq!(Backend::Sqlite.placeholders(sql), sql);
    }

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(Backend::from_url("mysql://u@h/db").unwrap(), Backend::Mysql);
        assert_eq!(
            Backend::from_url("mariadb://u@h/db").unwrap(),
            Backend::Mysql
        );
        assert_eq!(
            Backend::from_url("sqlite://data/app.db").unwrap(),
            Backend::Sqlite
        );
        assert!(Backend::from_url("oracle://x").is_err());
    }
}
