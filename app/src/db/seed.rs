//! `app seed`: a deterministic bulk load for benchmarks.
//!
//! Rows get explicit ids `1..=N` (so load generators can build URLs from the counts alone) and
//! contents drawn from a fixed-seed generator (the same command always writes the same data).
//! They are written with multi-row `INSERT`s of [`BATCH_ROWS`] rows inside one transaction:
//! one round trip and one prepared statement per batch instead of one per row, which makes
//! 100k disks a matter of seconds on every backend.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Connection;

use super::list::{bind_args, Arg};
use super::{with_conn, Backend, Db};

/// Rows per `INSERT`: 1000 × 7 columns stays far below every backend's bind-parameter limit
/// (SQLite 32766, Postgres and MySQL 65535).
const BATCH_ROWS: u64 = 1000;
/// Fixed generator seed: the data set depends only on the requested counts.
const RNG_SEED: u64 = 0x5EED_D15C;

/// What `app seed` was asked to load.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub customers: u64,
    pub disks: u64,
    /// Stock of every seeded disk.
    pub stock: i64,
    /// Empty the tables (and restart their ids) first; without it the tables must be empty.
    pub reset: bool,
}

/// What `app seed` did.
#[derive(Debug, Clone, Copy)]
pub struct SeedReport {
    pub customers: u64,
    pub disks: u64,
    pub elapsed: Duration,
}

const FIRST_NAMES: &[&str] = &[
    "Lea", "Ana", "Bruno", "Carla", "Diego", "Elis", "Fabio", "Gal", "Hugo", "Iara", "Jorge",
    "Marisa", "Milton", "Nara", "Rita", "Tom",
];
const LAST_NAMES: &[&str] = &[
    "Santos", "Silva", "Souza", "Costa", "Lima", "Gomes", "Ribeiro", "Alves", "Rocha", "Moreira",
];
const ARTISTS: &[&str] = &[
    "Miles Davis",
    "Elis Regina",
    "Nina Simone",
    "Caetano Veloso",
    "John Coltrane",
    "Gal Costa",
    "Kraftwerk",
    "Radiohead",
    "Tim Maia",
    "Björk",
    "Os Mutantes",
    "Aretha Franklin",
    "Jorge Ben",
    "Massive Attack",
    "Clara Nunes",
    "Talking Heads",
];
const GENRES: &[&str] = &[
    "jazz",
    "mpb",
    "soul",
    "rock",
    "electronic",
    "samba",
    "funk",
    "pop",
    "blues",
    "classical",
];
const TITLE_WORDS: &[&str] = &[
    "Blue", "Night", "Sun", "River", "Kind", "Electric", "Silent", "Golden", "Waves", "Dream",
    "City", "Fire", "Garden", "Echoes", "Rain", "Stars",
];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// `VALUES (?, ?), (?, ?)…` for `rows` rows of `columns` columns.
fn values_clause(rows: u64, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; usize::try_from(rows).unwrap_or(0)].join(", ")
}

/// One table the seed job fills: its `INSERT` up to the value groups, and one row's values.
struct SeededTable {
    /// `INSERT INTO t (columns) VALUES `.
    insert: &'static str,
    columns: usize,
    /// The values of the row with this id, in column order, drawn from the generator.
    row: fn(u64, &SeedPlan, &mut StdRng) -> Vec<Arg>,
}

const CUSTOMERS: SeededTable = SeededTable {
    insert: "INSERT INTO customers (id, name, email) VALUES ",
    columns: 3,
    row: customer_row,
};

const DISKS: SeededTable = SeededTable {
    insert: "INSERT INTO disks (id, title, artist, genre, year, price_cents, stock) VALUES ",
    columns: 7,
    row: disk_row,
};

fn customer_row(id: u64, _plan: &SeedPlan, rng: &mut StdRng) -> Vec<Arg> {
    let name = format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES));
    vec![
        Arg::Int(i64::try_from(id).unwrap_or(i64::MAX)),
        Arg::Text(name),
        Arg::Text(format!("customer{id}@example.com")),
    ]
}

fn disk_row(id: u64, plan: &SeedPlan, rng: &mut StdRng) -> Vec<Arg> {
    let title = format!(
        "{} {} #{id}",
        pick(rng, TITLE_WORDS),
        pick(rng, TITLE_WORDS)
    );
    vec![
        Arg::Int(i64::try_from(id).unwrap_or(i64::MAX)),
        Arg::Text(title),
        Arg::Text(pick(rng, ARTISTS).to_owned()),
        Arg::Text(pick(rng, GENRES).to_owned()),
        Arg::Int32(rng.random_range(1950..=2024_i32)),
        Arg::Int(rng.random_range(500..=9_990_i64)),
        Arg::Int(plan.stock),
    ]
}

impl SeededTable {
    /// The next multi-row `INSERT` of a table of `count` rows: the rows from id `first` on, at
    /// most [`BATCH_ROWS`] of them. Returns the statement, its values and how many rows it holds.
    fn batch(
        &self,
        first: u64,
        count: u64,
        plan: &SeedPlan,
        rng: &mut StdRng,
    ) -> (String, Vec<Arg>, u64) {
        let rows = BATCH_ROWS.min(count - first + 1);
        let sql = format!("{}{}", self.insert, values_clause(rows, self.columns));
        let values = (first..first + rows)
            .flat_map(|id| (self.row)(id, plan, rng))
            .collect();
        (sql, values, rows)
    }
}

impl Db {
    /// Loads `plan` in one transaction (see the module doc): empties the tables first with
    /// `--reset`, else refuses a database that holds any row.
    pub async fn seed(&self, plan: SeedPlan) -> anyhow::Result<SeedReport> {
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(RNG_SEED);
        let tables = [(CUSTOMERS, plan.customers), (DISKS, plan.disks)];
        let result: Result<anyhow::Result<()>, sqlx::Error> = async {
            Ok(with_conn!(self, backend, conn => {
                if plan.reset {
                    for sql in RESET_BEFORE_TRANSACTION.on(backend) {
                        sqlx::query(sql).execute(&mut *conn).await?;
                    }
                }
                let mut tx = conn.begin().await?;
                if plan.reset {
                    for sql in RESET_IN_TRANSACTION.on(backend) {
                        sqlx::query(sql).execute(&mut *tx).await?;
                    }
                } else {
                    let rows: i64 = sqlx::query_scalar(COUNT_ROWS).fetch_one(&mut *tx).await?;
                    if rows > 0 {
                        return Ok(Err(anyhow::anyhow!(
                            "the database already holds {rows} rows; pass --reset to replace them"
                        )));
                    }
                }
                for (table, count) in &tables {
                    let mut next_id = 1;
                    while next_id <= *count {
                        let (sql, values, rows) = table.batch(next_id, *count, &plan, &mut rng);
                        let sql = backend.placeholders(&sql);
                        bind_args!(sqlx::query(&sql), &values).execute(&mut *tx).await?;
                        next_id += rows;
                    }
                }
                for sql in RESYNC_SEQUENCES.on(backend) {
                    sqlx::query(sql).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                // A bulk load leaves the planner's statistics (and Postgres' visibility map)
                // describing empty tables; refresh them so the first benchmark step does not
                // run on plans made for zero rows.
                for sql in REFRESH_STATISTICS.on(backend) {
                    sqlx::query(sql).execute(&mut *conn).await?;
                }
                Ok(())
            }))
        }
        .await;
        result.context("seeding the database")??;
        Ok(SeedReport {
            customers: plan.customers,
            disks: plan.disks,
            elapsed: started.elapsed(),
        })
    }
}

/// Statements that differ per backend.
struct PerBackend {
    postgres: &'static [&'static str],
    mysql: &'static [&'static str],
    sqlite: &'static [&'static str],
}

impl PerBackend {
    fn on(&self, backend: Backend) -> &'static [&'static str] {
        match backend {
            Backend::Postgres => self.postgres,
            Backend::Mysql => self.mysql,
            Backend::Sqlite => self.sqlite,
        }
    }
}

/// `--reset`, before the load's transaction. MySQL only: TRUNCATE commits implicitly there,
/// and refuses tables that foreign keys point at unless the check is off for this session.
const RESET_BEFORE_TRANSACTION: PerBackend = PerBackend {
    postgres: &[],
    mysql: &[
        "SET FOREIGN_KEY_CHECKS = 0",
        "TRUNCATE TABLE orders",
        "TRUNCATE TABLE disks",
        "TRUNCATE TABLE customers",
        "SET FOREIGN_KEY_CHECKS = 1",
    ],
    sqlite: &[],
};

/// `--reset`, inside the load's transaction. SQLite: an INTEGER PRIMARY KEY without
/// AUTOINCREMENT restarts at max(id) + 1, so deleting the rows restarts the ids too.
const RESET_IN_TRANSACTION: PerBackend = PerBackend {
    postgres: &["TRUNCATE orders, disks, customers RESTART IDENTITY"],
    mysql: &[],
    sqlite: &[
        "DELETE FROM orders",
        "DELETE FROM disks",
        "DELETE FROM customers",
    ],
};

/// Without `--reset`: the rows already there (the load refuses any).
const COUNT_ROWS: &str = "SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM disks) \
                          + (SELECT COUNT(*) FROM orders)";

/// Postgres only: explicit ids do not advance identity sequences, so each is moved past its
/// table's largest id (later inserts must not collide with the seeded rows).
const RESYNC_SEQUENCES: PerBackend = PerBackend {
    postgres: &[
        "SELECT setval(pg_get_serial_sequence('customers', 'id'), COALESCE(MAX(id), 0) + 1, false) \
         FROM customers",
        "SELECT setval(pg_get_serial_sequence('disks', 'id'), COALESCE(MAX(id), 0) + 1, false) \
         FROM disks",
    ],
    mysql: &[],
    sqlite: &[],
};

/// After the load, outside the transaction (`VACUUM` cannot run inside one): planner
/// statistics for the new rows.
const REFRESH_STATISTICS: PerBackend = PerBackend {
    postgres: &["VACUUM (ANALYZE) customers, disks, orders"],
    mysql: &["ANALYZE TABLE customers, disks, orders"],
    sqlite: &["ANALYZE"],
};

#[cfg(test)]
mod tests {
    use super::values_clause;

    #[test]
    fn values_clause_has_one_group_per_row() {
        assert_eq!(values_clause(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values_clause(0, 3), "");
    }
}
