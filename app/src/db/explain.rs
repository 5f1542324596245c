//! `EXPLAIN` of every list and search the API runs, on the connected backend (`app explain`).
//!
//! Each shape is a real request's query string, parsed and validated by the same domain types
//! and turned into SQL by the same builders as the routes, so what is explained is exactly what
//! a request runs. The plans for the default seed are committed in `docs/explain/`.
//!
//! - Postgres: `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF)`: the plan with
//!   the rows each node really produced and the pages it touched, without timings (figures
//!   come from bench runs, not from here).
//! - MySQL/MariaDB: `EXPLAIN FORMAT=JSON` (both servers have it; `EXPLAIN ANALYZE` differs).
//! - SQLite: `EXPLAIN QUERY PLAN`.

use std::fmt::Write as _;

use actix_web::web::Query;
use sqlx::Row;

use super::list::{bind_args, Arg, ListQuery};
use super::{with_conn, Backend, Db};
use crate::domain::{DiskQuery, DiskSearch, Page, PageQuery};

/// One request shape and the statements it runs.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The request, e.g. `GET /disks?limit=50&after=8450`.
    pub request: String,
    pub query: ListQuery,
}

/// Which list a shape reads.
enum List {
    Disks,
    Customers,
    CustomerOrders(i64),
}

/// The request shapes explained: every list, first and deep pages by offset and by cursor,
/// each filter with a common and a rare value, and the optional count. `disks` and
/// `customers` are the seeded sizes (the deep pages sit near their ends).
pub fn shapes(backend: Backend, disks: i64, customers: i64) -> anyhow::Result<Vec<Shape>> {
    let deep_disk = (disks * 85 / 100).max(1);
    let deep_customer = (customers / 2).max(1);
    let requests = [
        (List::Disks, "limit=50".to_owned()),
        (List::Disks, format!("limit=50&offset={deep_disk}")),
        (List::Disks, format!("limit=50&after={deep_disk}")),
        (List::Disks, "limit=20&total=true".to_owned()),
        (List::Disks, "genre=jazz&in_stock=true&limit=20".to_owned()),
        (
            List::Disks,
            format!("genre=jazz&in_stock=true&limit=20&after={deep_disk}"),
        ),
        // Common and rare substrings; `in` is too short for a trigram (3 characters).
        (List::Disks, "title=blue&limit=20".to_owned()),
        (List::Disks, "title=in&limit=20".to_owned()),
        (List::Disks, "artist=zappa&limit=20".to_owned()),
        (List::Disks, "title=love&limit=20&total=true".to_owned()),
        (
            List::Disks,
            "min_price_cents=3100&max_price_cents=4500&in_stock=true&limit=20".to_owned(),
        ),
        (List::Customers, format!("limit=20&after={deep_customer}")),
        (List::Customers, "limit=20&total=true".to_owned()),
        (List::CustomerOrders(7), "limit=20".to_owned()),
        (
            List::CustomerOrders(7),
            "limit=20&after=1&total=true".to_owned(),
        ),
    ];
    requests
        .into_iter()
        .map(|(list, query)| {
            let (path, built) = match list {
                List::Disks => {
                    let raw = Query::<DiskQuery>::from_query(&query)?;
                    let search = DiskSearch::try_from(&*raw)?;
                    (
                        "/disks".to_owned(),
                        super::disks::list_query(search.filter(), search.page(), backend),
                    )
                }
                List::Customers => (
                    "/customers".to_owned(),
                    super::customers::list_query(page(&query)?),
                ),
                List::CustomerOrders(id) => (
                    format!("/customers/{id}/orders"),
                    super::orders::list_query(id, page(&query)?),
                ),
            };
            Ok(Shape {
                request: format!("GET {path}?{query}"),
                query: built,
            })
        })
        .collect()
}

fn page(query: &str) -> anyhow::Result<Page> {
    Ok(Page::try_from(&*Query::<PageQuery>::from_query(query)?)?)
}

impl Backend {
    /// What to put before a statement to explain it.
    fn explain_prefix(self) -> &'static str {
        match self {
            Self::Postgres => "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) ",
            Self::Mysql => "EXPLAIN FORMAT=JSON ",
            Self::Sqlite => "EXPLAIN QUERY PLAN ",
        }
    }
}

impl Db {
    /// The plan of one statement, as text.
    pub async fn explain_statement(&self, sql: &str, args: &[Arg]) -> Result<String, sqlx::Error> {
        let backend = self.backend();
        let statement = format!("{}{sql}", backend.explain_prefix());
        let statement = backend.placeholders(&statement);
        // Postgres and MySQL answer with the plan in the first column (one line per row on
        // Postgres); SQLite's `detail` is the fourth, with `parent` giving the tree.
        let lines: Vec<String> = with_conn!(self, backend, conn => {
            let rows = bind_args!(sqlx::query(&statement), args).fetch_all(&mut *conn).await?;
            rows.iter()
                .map(|row| {
                    if backend == Backend::Sqlite {
                        row.try_get::<String, _>(3).map(|detail| format!("`-- {detail}"))
                    } else {
                        row.try_get_unchecked::<String, _>(0)
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(lines.join("\n"))
    }

    /// Markdown: every shape's statements and their plans on this backend.
    pub async fn explain(&self, disks: i64, customers: i64) -> anyhow::Result<String> {
        let backend = self.backend();
        let mut out = String::new();
        writeln!(
            out,
            "# EXPLAIN on {} ({disks} disks, {customers} customers)\n\n\
             Printed by `app explain` (see `app/src/db/explain.rs`).\n",
            backend.as_str()
        )?;
        for shape in shapes(backend, disks, customers)? {
            writeln!(out, "## `{}`\n", shape.request)?;
            let mut statements = vec![(&shape.query.select, shape.query.select_args())];
            if let Some(count) = &shape.query.count {
                statements.push((count, shape.query.count_args()));
            }
            for (sql, args) in statements {
                let plan = self.explain_statement(sql, args).await?;
                writeln!(
                    out,
                    "```sql\n{}\n-- {}\n```\n\n```\n{plan}\n```\n",
                    backend.placeholders(sql),
                    describe(args)
                )?;
            }
        }
        Ok(out)
    }
}

fn describe(args: &[Arg]) -> String {
    let values: Vec<String> = args
        .iter()
        .map(|arg| match arg {
            Arg::Text(text) => format!("'{text}'"),
            Arg::Int(n) => n.to_string(),
            Arg::Int32(n) => n.to_string(),
        })
        .collect();
    format!("arguments: {}", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_parses_and_deep_pages_sit_near_the_end() {
        for backend in [Backend::Postgres, Backend::Mysql, Backend::Sqlite] {
            let shapes = shapes(backend, 10_000, 1_000).expect("valid shapes");
            assert_eq!(shapes.len(), 15);
            let keyset = &shapes[2];
            assert_eq!(keyset.request, "GET /disks?limit=50&after=8500");
            assert!(
                keyset.query.select.contains("id > ?"),
                "{}",
                keyset.query.select
            );
            assert_eq!(shapes.iter().filter(|s| s.query.count.is_some()).count(), 4);
        }
    }
}
