//! Lists built at run time: a table's filters plus a [`Page`], as one `SELECT` (and a
//! `COUNT(*)` only when the client asked for the total).
//!
//! Every list is ordered by id. A keyset page adds `id > ?` to the filters, so the database
//! seeks to the cursor through the primary key (or through an index that ends in id: every
//! secondary index does on InnoDB, and the filter indexes do on Postgres and SQLite) and stops
//! after `limit + 1` rows; the extra row says whether a next page exists, so no count is needed
//! for that either. `EXPLAIN` of each shape is printed by `app explain` (see `explain.rs`).

use crate::domain::{Page, Start};

/// A value bound to a run-time-built statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Int(i64),
    /// For an `INTEGER` column (`disks.year`), bound as its own 32-bit type.
    Int32(i32),
}

/// The statements of one list request and their arguments, with `?` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The page: filters, the cursor, `ORDER BY id LIMIT ? [OFFSET ?]`.
    pub select: String,
    /// `SELECT COUNT(*)` over the filters, when the total was asked for.
    pub count: Option<String>,
    args: Vec<Arg>,
    /// How many of `args` belong to the filters (the count binds only those).
    filter_args: usize,
}

impl ListQuery {
    /// `SELECT {columns} FROM {table}` with `conditions` (each with its `?`s, whose values are
    /// `args` in order) and `page`.
    pub fn new(
        columns: &str,
        table: &str,
        conditions: &[&str],
        args: Vec<Arg>,
        page: Page,
    ) -> Self {
        let filter_args = args.len();
        let mut args = args;
        let mut all: Vec<&str> = conditions.to_vec();
        if let Start::After(id) = page.start() {
            all.push("id > ?");
            args.push(Arg::Int(id));
        }
        args.push(Arg::Int(page.fetch()));
        let offset = match page.start() {
            Start::Offset(n) if n > 0 => {
                args.push(Arg::Int(n));
                " OFFSET ?"
            }
            _ => "",
        };
        let select = format!(
            "SELECT {columns} FROM {table}{} ORDER BY id LIMIT ?{offset}",
            where_sql(&all)
        );
        let count = page
            .count_total()
            .then(|| format!("SELECT COUNT(*) FROM {table}{}", where_sql(conditions)));
        Self {
            select,
            count,
            args,
            filter_args,
        }
    }

    pub fn select_args(&self) -> &[Arg] {
        &self.args
    }

    pub fn count_args(&self) -> &[Arg] {
        &self.args[..self.filter_args]
    }
}

fn where_sql(conditions: &[&str]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// One page as read: at most `limit` rows, whether more exist, and the total when counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<R> {
    pub rows: Vec<R>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<i64>,
    pub total: Option<i64>,
}

/// Rows with an id (what keyset pagination needs).
pub trait HasId {
    fn id(&self) -> i64;
}

impl<R: HasId> Listed<R> {
    /// From the `limit + 1` rows fetched: the extra row only says that a next page exists.
    pub fn new(mut rows: Vec<R>, page: Page, total: Option<i64>) -> Self {
        let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_after = if more {
            rows.last().map(HasId::id)
        } else {
            None
        };
        Self {
            rows,
            next_after,
            total,
        }
    }
}

/// Binds `args` in order onto a sqlx query of any backend.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::db::list::Arg::Text(text) => query.bind(text.as_str()),
                $crate::db::list::Arg::Int(value) => query.bind(*value),
                $crate::db::list::Arg::Int32(value) => query.bind(*value),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

/// Runs a [`ListQuery`] on `$conn` (inside [`with_conn!`](super::with_conn)) and evaluates to
/// `Result<Listed<_>, sqlx::Error>`.
macro_rules! run_list {
    ($backend:expr, $conn:expr, $query:expr, $page:expr) => {{
        let query: &$crate::db::list::ListQuery = $query;
        let select = $backend.placeholders(&query.select);
        let rows = $crate::db::list::bind_args!(sqlx::query_as(&select), query.select_args())
            .fetch_all(&mut *$conn)
            .await?;
        let total: Option<i64> = match &query.count {
            Some(count) => {
                let count = $backend.placeholders(count);
                Some(
                    $crate::db::list::bind_args!(sqlx::query_scalar(&count), query.count_args())
                        .fetch_one(&mut *$conn)
                        .await?,
                )
            }
            None => None,
        };
        Ok::<_, sqlx::Error>($crate::db::list::Listed::new(rows, $page, total))
    }};
}
pub(crate) use run_list;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PageQuery;

    fn page(query: PageQuery) -> Page {
        Page::try_from(&query).expect("a valid page")
    }

    struct Row(i64);
    impl HasId for Row {
        fn id(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn a_first_page_fetches_one_extra_row_and_counts_nothing() {
        let q = ListQuery::new("id", "t", &[], vec![], page(PageQuery::default()));
        assert_eq!(q.select, "SELECT id FROM t ORDER BY id LIMIT ?");
        assert_eq!(q.select_args(), &[Arg::Int(21)]);
        assert_eq!(q.count, None);
    }

    #[test]
    fn a_keyset_page_seeks_past_the_cursor_and_counts_only_the_filters() {
        let q = ListQuery::new(
            "id",
            "t",
            &["a = ?"],
            vec![Arg::Text("x".into())],
            page(PageQuery {
                after: Some("40".into()),
                limit: Some("10".into()),
                total: Some("true".into()),
                ..PageQuery::default()
            }),
        );
        assert_eq!(
            q.select,
            "SELECT id FROM t WHERE a = ? AND id > ? ORDER BY id LIMIT ?"
        );
        assert_eq!(
            q.select_args(),
            &[Arg::Text("x".into()), Arg::Int(40), Arg::Int(11)]
        );
        assert_eq!(
            q.count.as_deref(),
            Some("SELECT COUNT(*) FROM t WHERE a = ?")
        );
        assert_eq!(q.count_args(), &[Arg::Text("x".into())]);
    }

    #[test]
    fn an_offset_page_skips_rows() {
        let q = ListQuery::new(
            "id",
            "t",
            &[],
            vec![],
            page(PageQuery {
                offset: Some("300".into()),
                ..PageQuery::default()
            }),
        );
        assert_eq!(q.select, "SELECT id FROM t ORDER BY id LIMIT ? OFFSET ?");
        assert_eq!(q.select_args(), &[Arg::Int(21), Arg::Int(300)]);
    }

    #[test]
    fn the_extra_row_becomes_the_next_cursor_and_is_not_returned() {
        let p = Page::first(2);
        let listed = Listed::new(vec![Row(3), Row(5), Row(9)], p, None);
        assert_eq!(listed.rows.len(), 2);
        assert_eq!(listed.next_after, Some(5));
        let last = Listed::new(vec![Row(3), Row(5)], p, Some(2));
        assert_eq!((last.next_after, last.total), (None, Some(2)));
    }
}
