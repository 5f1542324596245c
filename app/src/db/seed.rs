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

impl Db {
    /// Loads `plan` in one transaction (see the module doc).
    pub async fn seed(&self, plan: SeedPlan) -> anyhow::Result<SeedReport> {
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(RNG_SEED);
        let result: Result<anyhow::Result<()>, sqlx::Error> = async {
            Ok(with_conn!(self, backend, conn => {
                if plan.reset && backend == Backend::Mysql {
                    // TRUNCATE commits implicitly on MySQL and refuses tables that foreign
                    // keys point at unless the check is off for this session.
                    for sql in [
                        "SET FOREIGN_KEY_CHECKS = 0",
                        "TRUNCATE TABLE orders",
                        "TRUNCATE TABLE disks",
                        "TRUNCATE TABLE customers",
                        "SET FOREIGN_KEY_CHECKS = 1",
                    ] {
                        sqlx::query(sql).execute(&mut *conn).await?;
                    }
                }
                let mut tx = conn.begin().await?;
                match (plan.reset, backend) {
                    (true, Backend::Postgres) => {
                        sqlx::query("TRUNCATE orders, disks, customers RESTART IDENTITY")
                            .execute(&mut *tx)
                            .await?;
                    }
                    (true, Backend::Sqlite) => {
                        // INTEGER PRIMARY KEY without AUTOINCREMENT restarts at max(id) + 1.
                        for sql in ["DELETE FROM orders", "DELETE FROM disks", "DELETE FROM customers"] {
                            sqlx::query(sql).execute(&mut *tx).await?;
                        }
                    }
                    (true, Backend::Mysql) => {}
                    (false, _) => {
                        let rows: i64 = sqlx::query_scalar(
                            "SELECT (SELECT COUNT(*) FROM customers) + (SELECT COUNT(*) FROM disks) \
                             + (SELECT COUNT(*) FROM orders)",
                        )
                        .fetch_one(&mut *tx)
                        .await?;
                        if rows > 0 {
                            return Ok(Err(anyhow::anyhow!(
                                "the database already holds {rows} rows; pass --reset to replace them"
                            )));
                        }
                    }
                }

                let mut next_id = 1;
                while next_id <= plan.customers {
                    let rows = BATCH_ROWS.min(plan.customers - next_id + 1);
                    let sql = format!(
                        "INSERT INTO customers (id, name, email) VALUES {}",
                        values_clause(rows, 3)
                    );
                    let sql = backend.placeholders(&sql);
                    let mut query = sqlx::query(&sql);
                    for id in next_id..next_id + rows {
                        let name = format!("{} {}", pick(&mut rng, FIRST_NAMES), pick(&mut rng, LAST_NAMES));
                        query = query
                            .bind(i64::try_from(id).unwrap_or(i64::MAX))
                            .bind(name)
                            .bind(format!("customer{id}@example.com"));
                    }
                    query.execute(&mut *tx).await?;
                    next_id += rows;
                }

                let mut next_id = 1;
                while next_id <= plan.disks {
                    let rows = BATCH_ROWS.min(plan.disks - next_id + 1);
                    let sql = format!(
                        "INSERT INTO disks (id, title, artist, genre, year, price_cents, stock) VALUES {}",
                        values_clause(rows, 7)
                    );
                    let sql = backend.placeholders(&sql);
                    let mut query = sqlx::query(&sql);
                    for id in next_id..next_id + rows {
                        let title = format!(
                            "{} {} #{id}",
                            pick(&mut rng, TITLE_WORDS),
                            pick(&mut rng, TITLE_WORDS)
                        );
                        query = query
                            .bind(i64::try_from(id).unwrap_or(i64::MAX))
                            .bind(title)
                            .bind(pick(&mut rng, ARTISTS))
                            .bind(pick(&mut rng, GENRES))
                            .bind(rng.random_range(1950..=2024_i32))
                            .bind(rng.random_range(500..=9_990_i64))
                            .bind(plan.stock);
                    }
                    query.execute(&mut *tx).await?;
                    next_id += rows;
                }

                if backend == Backend::Postgres {
                    // Explicit ids do not advance identity sequences; later inserts must not
                    // collide with the seeded rows.
                    for sql in RESYNC_SEQUENCES {
                        sqlx::query(sql).execute(&mut *tx).await?;
                    }
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

/// Statements that refresh planner statistics after the load, per backend (outside the
/// transaction: `VACUUM` cannot run inside one).
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

const REFRESH_STATISTICS: PerBackend = PerBackend {
    postgres: &["VACUUM (ANALYZE) customers, disks, orders"],
    mysql: &["ANALYZE TABLE customers, disks, orders"],
    sqlite: &["ANALYZE"],
};

/// Postgres only: move each identity sequence past the table's largest id.
const RESYNC_SEQUENCES: [&str; 2] = [
    "SELECT setval(pg_get_serial_sequence('customers', 'id'), COALESCE(MAX(id), 0) + 1, false) \
     FROM customers",
    "SELECT setval(pg_get_serial_sequence('disks', 'id'), COALESCE(MAX(id), 0) + 1, false) \
     FROM disks",
];

#[cfg(test)]
mod tests {
    use super::values_clause;

    #[test]
    fn values_clause_has_one_group_per_row() {
        assert_eq!(values_clause(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values_clause(0, 3), "");
    }
}
