//! `/customers`: create, list, read, replace and delete customers.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use sqlx::error::ErrorKind;
use utoipa::ToSchema;

use super::body::{created, DatabaseUnavailable, JsonBodyRejected, JsonObject, Paged};
use crate::db::rows::CustomerRow;
use crate::db::Db;
use crate::domain::{CustomerFields, CustomerInput, Email, Page, PageQuery};
use crate::error::{ApiError, DbContext, ErrorBody, OnViolation};

/// A stored customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Customer {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "Lea Santos")]
    pub name: String,
    /// Stored lower-cased; unique.
    #[schema(example = "lea@example.com")]
    pub email: String,
}

impl From<CustomerRow> for Customer {
    fn from(row: CustomerRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            email: row.email,
        }
    }
}

fn email_taken(email: &Email) -> ApiError {
    ApiError::conflict(
        "email_taken",
        format!("a customer with email {email} already exists"),
    )
}

/// Create a customer.
#[utoipa::path(post, path = "/customers", tag = "customers",
    request_body = CustomerInput,
    responses(
        JsonBodyRejected,
        DatabaseUnavailable,
        (status = 201, description = "Created", body = Customer),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
    ))]
pub async fn create(
    db: web::Data<Db>,
    body: JsonObject<CustomerInput>,
) -> Result<HttpResponse, ApiError> {
    let fields = CustomerFields::try_from(body.into_inner().0)?;
    let customer: Customer = db
        .insert_customer(&fields)
        .await
        .context("creating a customer")
        .on_violation(ErrorKind::UniqueViolation, || email_taken(fields.email()))?
        .into();
    Ok(created(format!("/customers/{}", customer.id), &customer))
}

/// List customers by id, a page at a time.
#[utoipa::path(get, path = "/customers", tag = "customers",
    params(PageQuery),
    responses(
        DatabaseUnavailable,
        (status = 200, description = "One page", body = Paged<Customer>),
        (status = 422, description = "Bad `limit`, `offset`, `after` or `total`, or unknown parameter", body = ErrorBody),
    ))]
pub async fn list(
    db: web::Data<Db>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::try_from(&*query)?;
    let listed = db.list_customers(page).await.context("listing customers")?;
    Ok(HttpResponse::Ok().json(Paged::<Customer>::new(listed, page)))
}

/// Read one customer.
#[utoipa::path(get, path = "/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        DatabaseUnavailable,
        (status = 200, description = "The customer", body = Customer),
        (status = 404, description = "No such customer", body = ErrorBody),
    ))]
pub async fn get(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let customer: Customer = db
        .find_customer(id)
        .await
        .context("reading a customer")?
        .ok_or_else(|| ApiError::not_found("customer", id))?
        .into();
    Ok(HttpResponse::Ok().json(customer))
}

/// Replace a customer's name and email.
#[utoipa::path(put, path = "/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = CustomerInput,
    responses(
        JsonBodyRejected,
        DatabaseUnavailable,
        (status = 200, description = "The updated customer", body = Customer),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
    ))]
pub async fn replace(
    db: web::Data<Db>,
    id: web::Path<i64>,
    body: JsonObject<CustomerInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let fields = CustomerFields::try_from(body.into_inner().0)?;
    let customer: Customer = db
        .update_customer(id, &fields)
        .await
        .context("updating a customer")
        .on_violation(ErrorKind::UniqueViolation, || email_taken(fields.email()))?
        .ok_or_else(|| ApiError::not_found("customer", id))?
        .into();
    Ok(HttpResponse::Ok().json(customer))
}

/// Delete a customer that has no orders.
#[utoipa::path(delete, path = "/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        DatabaseUnavailable,
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 409, description = "`has_orders`: the customer has orders", body = ErrorBody),
    ))]
pub async fn delete(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let deleted = db
        .delete_customer(id)
        .await
        .context("deleting a customer")
        .on_violation(ErrorKind::ForeignKeyViolation, || {
            ApiError::conflict(
                "has_orders",
                format!("customer {id} has orders and cannot be deleted"),
            )
        })?;
    if !deleted {
        return Err(ApiError::not_found("customer", id));
    }
    Ok(HttpResponse::NoContent().finish())
}
