//! `/orders`: place and read orders; `/customers/{id}/orders`: a customer's orders.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{created, JsonObject, Page, PageQuery, Paged, Validator};
use crate::db::orders::{NewOrder, Order, OrderRejected};
use crate::db::{self, Db};
use crate::error::{ApiError, ErrorBody};

/// Body of `POST /orders`. Unknown fields are rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    #[schema(value_type = i64, required = true, example = 1, minimum = 1)]
    pub customer_id: Option<Value>,
    #[schema(value_type = i64, required = true, example = 1, minimum = 1)]
    pub disk_id: Option<Value>,
    /// Units to buy, 1 to 100.
    #[schema(value_type = i32, required = true, example = 2, minimum = 1, maximum = 100)]
    pub quantity: Option<Value>,
}

/// Most units one order may take.
pub const MAX_QUANTITY: i64 = 100;

impl NewOrder {
    /// Validates every field, naming each one that is wrong.
    pub fn parse(input: OrderInput) -> Result<Self, ApiError> {
        let mut v = Validator::default();
        let customer_id = v.int("customer_id", input.customer_id, 1..=i64::MAX);
        let disk_id = v.int("disk_id", input.disk_id, 1..=i64::MAX);
        let quantity = v
            .int("quantity", input.quantity, 1..=MAX_QUANTITY)
            .and_then(|q| i32::try_from(q).ok());
        match (customer_id, disk_id, quantity) {
            (Some(customer_id), Some(disk_id), Some(quantity)) if v.is_empty() => Ok(Self {
                customer_id,
                disk_id,
                quantity,
            }),
            _ => Err(v.into_error()),
        }
    }
}

/// Buy `quantity` units of a disk: stock is taken atomically, never oversold.
#[utoipa::path(post, path = "/orders", tag = "orders",
    request_body = OrderInput,
    responses(
        (status = 201, description = "Order placed; stock taken", body = Order),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "Unknown customer or disk", body = ErrorBody),
        (status = 409, description = "`insufficient_stock`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields (quantity outside 1..=100)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn create(
    db: web::Data<Db>,
    body: JsonObject<OrderInput>,
) -> Result<HttpResponse, ApiError> {
    let new = NewOrder::parse(body.into_inner().0)?;
    let placed = db
        .place_order(new)
        .await
        .map_err(|err| db::failure("placing an order", err))?;
    match placed {
        Ok(order) => Ok(created(format!("/orders/{}", order.id), &order)),
        Err(OrderRejected::UnknownCustomer) => {
            Err(ApiError::not_found("customer", new.customer_id))
        }
        Err(OrderRejected::UnknownDisk) => Err(ApiError::not_found("disk", new.disk_id)),
        Err(OrderRejected::InsufficientStock { available }) => Err(ApiError::conflict(
            "insufficient_stock",
            format!(
                "disk {} has {available} in stock, {} requested",
                new.disk_id, new.quantity
            ),
        )),
    }
}

/// Read one order.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn get(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let order = db
        .find_order(id)
        .await
        .map_err(|err| db::failure("reading an order", err))?
        .ok_or_else(|| ApiError::not_found("order", id))?;
    Ok(HttpResponse::Ok().json(order))
}

/// A customer's orders by id, a page at a time.
#[utoipa::path(get, path = "/customers/{id}/orders", tag = "customers",
    params(("id" = i64, Path, description = "Customer id"), PageQuery),
    responses(
        (status = 200, description = "One page", body = Paged<Order>),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 422, description = "Bad `limit` or `offset`, or unknown parameter", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ))]
pub async fn list_for_customer(
    db: web::Data<Db>,
    id: web::Path<i64>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut v = Validator::default();
    let page = Page::parse(query.limit.as_deref(), query.offset.as_deref(), &mut v)
        .ok_or_else(|| v.into_error())?;
    let exists = db
        .find_customer(id)
        .await
        .map_err(|err| db::failure("reading a customer", err))?
        .is_some();
    if !exists {
        return Err(ApiError::not_found("customer", id));
    }
    let (items, total) = db
        .list_customer_orders(id, page.limit, page.offset)
        .await
        .map_err(|err| db::failure("listing a customer's orders", err))?;
    Ok(HttpResponse::Ok().json(Paged::new(items, page, total)))
}
