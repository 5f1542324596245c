//! Customer queries. Inputs arrive validated (see `routes::customers`).

use serde::Serialize;
use utoipa::ToSchema;

use super::{missing_inserted_id, with_conn, Backend, Db, InsertedId, Sql};

/// A stored customer.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Customer {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "Lea Santos")]
    pub name: String,
    /// Stored lower-cased; unique.
    #[schema(example = "lea@example.com")]
    pub email: String,
}

/// A validated name and (lower-cased) email.
#[derive(Debug, Clone)]
pub struct CustomerFields {
    pub name: String,
    pub email: String,
}

static INSERT: Sql = Sql::new("INSERT INTO customers (name, email) VALUES (?, ?)");
static INSERT_RETURNING: Sql =
    Sql::new("INSERT INTO customers (name, email) VALUES (?, ?) RETURNING id");
static FIND: Sql = Sql::new("SELECT id, name, email FROM customers WHERE id = ?");
static LIST: Sql = Sql::new("SELECT id, name, email FROM customers ORDER BY id LIMIT ? OFFSET ?");
static COUNT: Sql = Sql::new("SELECT COUNT(*) FROM customers");
static UPDATE: Sql = Sql::new("UPDATE customers SET name = ?, email = ? WHERE id = ?");
static DELETE: Sql = Sql::new("DELETE FROM customers WHERE id = ?");

impl Db {
    /// Inserts a customer; a duplicate email fails with a unique violation.
    pub async fn insert_customer(&self, new: CustomerFields) -> Result<Customer, sqlx::Error> {
        let id: i64 = with_conn!(self, backend, conn => {
            if backend == Backend::Postgres {
                sqlx::query_scalar(INSERT_RETURNING.on(backend))
                    .bind(&new.name)
                    .bind(&new.email)
                    .fetch_one(conn)
                    .await?
            } else {
                // MySQL 8 has no INSERT … RETURNING; the driver reports the new id instead.
                sqlx::query(INSERT.on(backend))
                    .bind(&new.name)
                    .bind(&new.email)
                    .execute(conn)
                    .await?
                    .inserted_id()
                    .ok_or_else(|| missing_inserted_id("customers"))?
            }
        });
        Ok(Customer {
            id,
            name: new.name,
            email: new.email,
        })
    }

    pub async fn find_customer(&self, id: i64) -> Result<Option<Customer>, sqlx::Error> {
        with_conn!(self, backend, conn => {
            sqlx::query_as(FIND.on(backend)).bind(id).fetch_optional(conn).await
        })
    }

    /// One page of customers by id, and the total count.
    pub async fn list_customers(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Customer>, i64), sqlx::Error> {
        with_conn!(self, backend, conn => {
            let items = sqlx::query_as(LIST.on(backend))
                .bind(limit)
                .bind(offset)
                .fetch_all(&mut *conn)
                .await?;
            let total: i64 = sqlx::query_scalar(COUNT.on(backend)).fetch_one(conn).await?;
            Ok((items, total))
        })
    }

    /// Replaces a customer's fields; `None` when the id does not exist.
    pub async fn update_customer(
        &self,
        id: i64,
        fields: CustomerFields,
    ) -> Result<Option<Customer>, sqlx::Error> {
        let rows = with_conn!(self, backend, conn => {
            sqlx::query(UPDATE.on(backend))
                .bind(&fields.name)
                .bind(&fields.email)
                .bind(id)
                .execute(conn)
                .await?
                .rows_affected()
        });
        Ok((rows > 0).then_some(Customer {
            id,
            name: fields.name,
            email: fields.email,
        }))
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
