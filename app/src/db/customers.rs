//! Customer queries. Inputs arrive validated (see `domain::CustomerFields`).

use super::list::{run_list, ListQuery, Listed};
use super::rows::CustomerRow;
use super::{missing_inserted_id, with_conn, Backend, Db, InsertedId, Sql};
use crate::domain::{CustomerFields, Page};

/// The list query for customers (the primary key serves it on every backend).
pub(crate) fn list_query(page: Page) -> ListQuery {
    ListQuery::new("id, name, email", "customers", &[], vec![], page)
}

static INSERT: Sql = Sql::new("INSERT INTO customers (name, email) VALUES (?, ?)");
static INSERT_RETURNING: Sql =
    Sql::new("INSERT INTO customers (name, email) VALUES (?, ?) RETURNING id");
static FIND: Sql = Sql::new("SELECT id, name, email FROM customers WHERE id = ?");
static UPDATE: Sql = Sql::new("UPDATE customers SET name = ?, email = ? WHERE id = ?");
static DELETE: Sql = Sql::new("DELETE FROM customers WHERE id = ?");

impl Db {
    /// Inserts a customer; a duplicate email fails with a unique violation.
    pub async fn insert_customer(&self, new: &CustomerFields) -> Result<CustomerRow, sqlx::Error> {
        let id: i64 = with_conn!(self, backend, conn => {
            if backend == Backend::Postgres {
                sqlx::query_scalar(INSERT_RETURNING.on(backend))
                    .bind(new.name())
                    .bind(new.email().as_str())
                    .fetch_one(conn)
                    .await?
            } else {
                // MySQL 8 has no INSERT … RETURNING; the driver reports the new id instead.
                sqlx::query(INSERT.on(backend))
                    .bind(new.name())
                    .bind(new.email().as_str())
                    .execute(conn)
                    .await?
                    .inserted_id()
                    .ok_or_else(|| missing_inserted_id("customers"))?
            }
        });
        Ok(CustomerRow::new(id, new))
    }

    pub async fn find_customer(&self, id: i64) -> Result<Option<CustomerRow>, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_as(FIND.on(backend)).bind(id).fetch_optional(conn).await
        })
    }

    /// One page of customers by id (and how many exist, if asked).
    pub async fn list_customers(&self, page: Page) -> Result<Listed<CustomerRow>, sqlx::Error> {
        let query = list_query(page);
        with_conn!(self, backend, conn => run_list!(backend, conn, &query, page))
    }

    /// Replaces a customer's fields; `None` when the id does not exist.
    pub async fn update_customer(
        &self,
        id: i64,
        fields: &CustomerFields,
    ) -> Result<Option<CustomerRow>, sqlx::Error> {
        let rows = with_conn!(self, backend, conn => {
            sqlx::query(UPDATE.on(backend))
                .bind(fields.name())
                .bind(fields.email().as_str())
                .bind(id)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok((rows > 0).then(|| CustomerRow::new(id, fields)))
    }

    /// Deletes a customer; `false` when the id does not exist. A customer with orders fails
    /// with a foreign-key violation.
    pub async fn delete_customer(&self, id: i64) -> Result<bool, sqlx::Error> {
        with_conn!(self, backend, conn => {
            let done = sqlx::query(DELETE.on(backend)).bind(id).execute(conn).await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
