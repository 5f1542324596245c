//! Disk queries, including the filtered, paged list. Inputs arrive validated
//! (see `domain::DiskFields` and `domain::DiskSearch`).

use super::list::{run_list, Arg, ListQuery, Listed};
use super::read_batch::{Answer, ReadById, ReadDrainer};
use super::rows::DiskRow;
use super::{missing_inserted_id, with_conn, AnyPool, Backend, Db, InsertedId, Sql};
use crate::domain::{DiskFields, DiskFilter, Page};

const COLUMNS: &str = "id, title, artist, genre, year, price_cents, stock";
static INSERT: Sql = Sql::new(
    "INSERT INTO disks (title, artist, genre, year, price_cents, stock) VALUES (?, ?, ?, ?, ?, ?)",
);
static INSERT_RETURNING: Sql = Sql::new(
    "INSERT INTO disks (title, artist, genre, year, price_cents, stock) \
     VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
);
static FIND: Sql =
    Sql::new("SELECT id, title, artist, genre, year, price_cents, stock FROM disks WHERE id = ?");
/// Postgres only: the reads of a batch ([`super::read_batch`]), one array parameter.
const FIND_MANY_ON_POSTGRES: &str =
    "SELECT id, title, artist, genre, year, price_cents, stock FROM disks WHERE id = ANY($1)";
static UPDATE: Sql = Sql::new(
    "UPDATE disks SET title = ?, artist = ?, genre = ?, year = ?, price_cents = ?, stock = ? \
     WHERE id = ?",
);
static DELETE: Sql = Sql::new("DELETE FROM disks WHERE id = ?");

/// Binds a disk's fields onto a query of any backend, in the column order of [`INSERT`],
/// [`INSERT_RETURNING`] and [`UPDATE`].
macro_rules! bind_fields {
    ($query:expr, $fields:expr) => {
        $query
            .bind($fields.title())
            .bind($fields.artist())
            .bind($fields.genre())
            .bind($fields.year())
            .bind($fields.price_cents())
            .bind($fields.stock())
    };
}

/// The conditions (with `?` placeholders) and their arguments for `filter` on `backend`.
///
/// Postgres and SQLite compare `LOWER(column)`, which their expression indexes serve
/// (`pg_trgm` GIN indexes for the substrings on Postgres; see the migrations). MySQL and
/// MariaDB compare the bare column: its case-insensitive collation already ignores case, and
/// `LOWER()` would keep the `genre` index from being used (MariaDB has no expression indexes).
pub(crate) fn conditions(filter: &DiskFilter, backend: Backend) -> (Vec<&'static str>, Vec<Arg>) {
    // `!` escapes LIKE wildcards: the same literal on every backend (a backslash would not be).
    // Each text filter: its value as bound, its condition on MySQL, and on the others.
    let text_filters = [
        (
            filter.artist().map(contains_pattern),
            "artist LIKE ? ESCAPE '!'",
            "LOWER(artist) LIKE ? ESCAPE '!'",
        ),
        (
            filter.title().map(contains_pattern),
            "title LIKE ? ESCAPE '!'",
            "LOWER(title) LIKE ? ESCAPE '!'",
        ),
        (
            filter.genre().map(str::to_owned),
            "genre = ?",
            "LOWER(genre) = ?",
        ),
    ];
    let price_filters = [
        (filter.min_price_cents(), "price_cents >= ?"),
        (filter.max_price_cents(), "price_cents <= ?"),
    ];
    let mut conditions: Vec<&'static str> = Vec::new();
    let mut args = Vec::new();
    for (value, on_mysql, lowered) in text_filters {
        if let Some(value) = value {
            conditions.push(if backend == Backend::Mysql {
                on_mysql
            } else {
                lowered
            });
            args.push(Arg::Text(value));
        }
    }
    for (value, condition) in price_filters {
        if let Some(value) = value {
            conditions.push(condition);
            args.push(Arg::Int(value));
        }
    }
    match filter.in_stock() {
        Some(true) => conditions.push("stock > 0"),
        Some(false) => conditions.push("stock = 0"),
        None => {}
    }
    (conditions, args)
}

/// The list query for `filter` and `page` on `backend`.
pub(crate) fn list_query(filter: &DiskFilter, page: Page, backend: Backend) -> ListQuery {
    let (conditions, args) = conditions(filter, backend);
    ListQuery::new(COLUMNS, "disks", &conditions, args, page)
}

/// `%text%` with LIKE's wildcards in `text` escaped, so user input matches literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

impl Db {
    pub async fn insert_disk(&self, new: &DiskFields) -> Result<DiskRow, sqlx::Error> {
        let id: i64 = with_conn!(self, backend, conn => {
            if backend == Backend::Postgres {
                bind_fields!(sqlx::query_scalar(INSERT_RETURNING.on(backend)), new)
                    .fetch_one(conn)
                    .await?
            } else {
                // MySQL 8 has no INSERT … RETURNING; the driver reports the new id instead.
                bind_fields!(sqlx::query(INSERT.on(backend)), new)
                    .execute(conn)
                    .await?
                    .inserted_id()
                    .ok_or_else(|| missing_inserted_id("disks"))?
            }
        });
        Ok(DiskRow::new(id, new))
    }

    /// The disk with this id. On Postgres, reads that wait together are answered by one
    /// statement ([`super::read_batch`]).
    pub async fn find_disk(&self, id: i64) -> Result<Option<DiskRow>, sqlx::Error> {
        if self.disk_reads().batching() {
            let (answer, start_drainer) = self.disk_reads().push(ReadById::new(id));
            if start_drainer {
                tokio::spawn(self.clone().drain_disk_reads());
            }
            match answer.await {
                Ok(Answer::Found(row)) => return Ok(row),
                Ok(Answer::Failed(err)) => return Err(err),
                // The batch's statement failed, or its drainer died: this read runs alone.
                Ok(Answer::Alone) | Err(_) => {}
            }
        }
        self.find_disk_alone(id).await
    }

    async fn find_disk_alone(&self, id: i64) -> Result<Option<DiskRow>, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_as(FIND.on(backend)).bind(id).fetch_optional(conn).await
        })
    }

    /// A drain task of the disk read queue: answers batches until none waits.
    async fn drain_disk_reads(self) {
        let AnyPool::Postgres(pool) = self.pool() else {
            unreachable!("only Postgres batches reads");
        };
        let mut drainer = ReadDrainer::new(self.disk_reads().clone());
        while let Some((batch, ids)) = drainer.next_batch() {
            match self.acquire(pool).await {
                Ok(mut conn) => {
                    let rows = sqlx::query_as(FIND_MANY_ON_POSTGRES)
                        .bind(&ids)
                        .fetch_all(&mut *conn)
                        .await;
                    drainer.answer(batch, rows);
                }
                Err(err) => drainer.fail(batch, &err),
            }
        }
    }

    /// One page of the disks matching `filter`, by id (and how many match, if asked).
    pub async fn list_disks(
        &self,
        filter: &DiskFilter,
        page: Page,
    ) -> Result<Listed<DiskRow>, sqlx::Error> {
        let query = list_query(filter, page, self.backend());
        with_conn!(self, backend, conn => run_list!(backend, conn, &query, page))
    }

    /// Replaces a disk's fields; `None` when the id does not exist.
    pub async fn update_disk(
        &self,
        id: i64,
        fields: &DiskFields,
    ) -> Result<Option<DiskRow>, sqlx::Error> {
        let rows = with_conn!(self, backend, conn => {
            bind_fields!(sqlx::query(UPDATE.on(backend)), fields)
                .bind(id)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok((rows > 0).then(|| DiskRow::new(id, fields)))
    }

    /// Deletes a disk; `false` when the id does not exist. A disk with orders fails with a
    /// foreign-key violation.
    pub async fn delete_disk(&self, id: i64) -> Result<bool, sqlx::Error> {
        with_conn!(self, backend, conn => {
            let done = sqlx::query(DELETE.on(backend)).bind(id).execute(conn).await?;
            Ok(done.rows_affected() > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DiskQuery, DiskSearch};

    #[test]
    fn like_wildcards_in_user_text_match_literally() {
        assert_eq!(contains_pattern("50%_off!"), "%50!%!_off!!%");
    }

    #[test]
    fn no_filter_means_no_condition() {
        let (conditions, args) = conditions(&DiskFilter::default(), Backend::Postgres);
        assert!(conditions.is_empty());
        assert!(args.is_empty());
    }

    #[test]
    fn every_filter_adds_one_condition_and_its_arguments() {
        let search = DiskSearch::try_from(&DiskQuery {
            artist: Some("miles".into()),
            title: Some("blue".into()),
            genre: Some("jazz".into()),
            min_price_cents: Some("100".into()),
            max_price_cents: Some("200".into()),
            in_stock: Some("true".into()),
            ..DiskQuery::default()
        })
        .expect("a valid search");
        for backend in [Backend::Postgres, Backend::Mysql, Backend::Sqlite] {
            let (conditions, args) = conditions(search.filter(), backend);
            assert_eq!(conditions.len(), 6);
            assert_eq!(conditions.join(" ").matches('?').count(), 5);
            assert_eq!(args.len(), 5);
            let lowered = conditions
                .iter()
                .filter(|c| c.starts_with("LOWER("))
                .count();
            assert_eq!(lowered, if backend == Backend::Mysql { 0 } else { 3 });
        }
    }
}
