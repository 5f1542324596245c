//! `/customers`: create, list, read, replace and delete customers.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use sqlx::error::ErrorKind;
use utoipa::ToSchema;

use super::{created, JsonObject, Page, PageQuery, Paged, Validator};
use crate::db::customers::{Customer, CustomerFields};
use crate::db::{self, Db};
use crate::error::{ApiError, ErrorBody};

/// Body of `POST /customers` and `PUT /customers/{id}`. Unknown fields are rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// 1 to 200 characters, stored as sent.
    #[schema(value_type = String, required = true, example = "Lea Santos", min_length = 1, max_length = 200)]
    pub name: Option<Value>,
    /// A plausible address, at most 254 characters; stored lower-cased and unique.
    #[schema(value_type = String, required = true, example = "lea@example.com", min_length = 3, max_length = 254)]
    pub email: Option<Value>,
}

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;

impl CustomerFields {
    /// Validates every field, naming each one that is wrong.
    pub fn parse(input: CustomerInput) -> Result<Self, ApiError> {
        let mut v = Validator::default();
        let name = v.text("name", input.name, MAX_NAME_CHARS);
        let email = v
            .text("email", input.email, MAX_EMAIL_CHARS)
            .and_then(|email| parse_email(&email, &mut v));
        match (name, email) {
            (Some(name), Some(email)) if v.is_empty() => Ok(Self { name, email }),
            _ => Err(v.into_error()),
        }
    }
}

/// `local@domain.tld`, no spaces; lower-cased so uniqueness ignores case on every backend.
fn parse_email(raw: &str, v: &mut Validator) -> Option<String> {
    let email = raw.trim();
    let plausible = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !plausible {
        v.reject("email", "must be an email address such as name@example.com");
        return None;
    }
    Some(email.to_lowercase())
}

fn email_taken(email: &str) -> ApiError {
    ApiError::conflict(
        "email_taken",
        format!("a customer with email {email} already exists"),
    )
}

/// Create a customer.
#[utoipa::path(post, path = "/customers", tag = "customers",
    request_body = CustomerInput,
    responses(
        (status = 201, description = "Created", body = Customer),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn create(
    db: web::Data<Db>,
    body: JsonObject<CustomerInput>,
) -> Result<HttpResponse, ApiError> {
    let fields = CustomerFields::parse(body.into_inner().0)?;
    let email = fields.email.clone();
    let customer = db
        .insert_customer(fields)
        .await
        .map_err(|err| match db::violation(&err) {
            Some(ErrorKind::UniqueViolation) => email_taken(&email),
            _ => db::failure("creating a customer", err),
        })?;
    Ok(created(format!("/customers/{}", customer.id), &customer))
}

/// List customers by id, a page at a time.
#[utoipa::path(get, path = "/customers", tag = "customers",
    params(PageQuery),
    responses(
        (status = 200, description = "One page", body = Paged<Customer>),
        (status = 422, description = "Bad `limit` or `offset`, or unknown parameter", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn list(
    db: web::Data<Db>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let page = Page::parse(query.limit.as_deref(), query.offset.as_deref(), &mut v)
        .ok_or_else(|| v.into_error())?;
    let (items, total) = db
        .list_customers(page.limit, page.offset)
        .await
        .map_err(|err| db::failure("listing customers", err))?;
    Ok(HttpResponse::Ok().json(Paged::new(items, page, total)))
}

/// Read one customer.
#[utoipa::path(get, path = "/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = Customer),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn get(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let customer = db
        .find_customer(id)
        .await
        .map_err(|err| db::failure("reading a customer", err))?
        .ok_or_else(|| ApiError::not_found("customer", id))?;
    Ok(HttpResponse::Ok().json(customer))
}

/// Replace a customer's name and email.
#[utoipa::path(put, path = "/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = CustomerInput,
    responses(
        (status = 200, description = "The updated customer", body = Customer),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn replace(
    db: web::Data<Db>,
    id: web::Path<i64>,
    body: JsonObject<CustomerInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let fields = CustomerFields::parse(body.into_inner().0)?;
    let email = fields.email.clone();
    let customer = db
        .update_customer(id, fields)
        .await
        .map_err(|err| match db::violation(&err) {
            Some(ErrorKind::UniqueViolation) => email_taken(&email),
            _ => db::failure("updating a customer", err),
        })?
        .ok_or_else(|| ApiError::not_found("customer", id))?;
    Ok(HttpResponse::Ok().json(customer))
}

/// Delete a customer that has no orders.
#[utoipa::path(delete, path = "/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 409, description = "`has_orders`: the customer has orders", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn delete(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let deleted = db
        .delete_customer(id)
        .await
        .map_err(|err| match db::violation(&err) {
            Some(ErrorKind::ForeignKeyViolation) => ApiError::conflict(
                "has_orders",
                format!("customer {id} has orders and cannot be deleted"),
            ),
            _ => db::failure("deleting a customer", err),
        })?;
    if !deleted {
        return Err(ApiError::not_found("customer", id));
    }
    Ok(HttpResponse::NoContent().finish())
}
