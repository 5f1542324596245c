//! `/orders`: place and read orders; `/customers/{id}/orders`: a customer's orders.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::body::{created, DatabaseUnavailable, JsonBodyRejected, JsonObject, Paged};
use crate::db::rows::{OrderRejected, OrderRow};
use crate::db::Db;
use crate::domain::{NewOrder, OrderInput, Page, PageQuery};
use crate::error::{ApiError, DbContext, ErrorBody};

/// A placed order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = 1)]
    pub customer_id: i64,
    #[schema(example = 1)]
    pub disk_id: i64,
    #[schema(example = 2)]
    pub quantity: i32,
    /// The disk's price when the order was placed, in cents.
    #[schema(example = 2990)]
    pub unit_price_cents: i64,
    /// `quantity * unit_price_cents`.
    #[schema(example = 5980)]
    pub total_cents: i64,
    pub created_at: DateTime<Utc>,
}

impl From<OrderRow> for Order {
    fn from(row: OrderRow) -> Self {
        Self {
            id: row.id,
            customer_id: row.customer_id,
            disk_id: row.disk_id,
            quantity: row.quantity,
            unit_price_cents: row.unit_price_cents,
            total_cents: row.total_cents,
            created_at: row.created_at,
        }
    }
}

/// Buy `quantity` units of a disk: stock is taken atomically, never oversold.
#[utoipa::path(post, path = "/orders", tag = "orders",
    request_body = OrderInput,
    responses(
        JsonBodyRejected,
        DatabaseUnavailable,
        (status = 201, description = "Order placed; stock taken", body = Order),
        (status = 404, description = "Unknown customer or disk", body = ErrorBody),
        (status = 409, description = "`insufficient_stock`", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields (quantity outside 1..=100)", body = ErrorBody),
    ))]
pub async fn create(
    db: web::Data<Db>,
    body: JsonObject<OrderInput>,
) -> Result<HttpResponse, ApiError> {
    let new = NewOrder::try_from(body.into_inner().0)?;
    let placed = db.place_order(new).await.context("placing an order")?;
    match placed {
        Ok(row) => {
            let order = Order::from(row);
            Ok(created(format!("/orders/{}", order.id), &order))
        }
        Err(OrderRejected::UnknownCustomer) => {
            Err(ApiError::not_found("customer", new.customer_id()))
        }
        Err(OrderRejected::UnknownDisk) => Err(ApiError::not_found("disk", new.disk_id())),
        Err(OrderRejected::InsufficientStock { available }) => Err(ApiError::conflict(
            "insufficient_stock",
            format!(
                "disk {} has {available} in stock, {} requested",
                new.disk_id(),
                new.quantity()
            ),
        )),
    }
}

/// Read one order.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id")),
    responses(
        DatabaseUnavailable,
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "No such order", body = ErrorBody),
    ))]
pub async fn get(db: web::Data<Db>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let order: Order = db
        .find_order(id)
        .await
        .context("reading an order")?
        .ok_or_else(|| ApiError::not_found("order", id))?
        .into();
    Ok(HttpResponse::Ok().json(order))
}

/// A customer's orders by id, a page at a time.
#[utoipa::path(get, path = "/customers/{id}/orders", tag = "customers",
    params(("id" = i64, Path, description = "Customer id"), PageQuery),
    responses(
        DatabaseUnavailable,
        (status = 200, description = "One page", body = Paged<Order>),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 422, description = "Bad `limit`, `offset`, `after` or `total`, or unknown parameter", body = ErrorBody),
    ))]
pub async fn list_for_customer(
    db: web::Data<Db>,
    id: web::Path<i64>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let page = Page::try_from(&*query)?;
    let listed = db
        .list_customer_orders(id, page)
        .await
        .context("listing a customer's orders")?;
    // An empty page may mean an unknown customer (404); a page with orders proves it exists,
    // which saves the lookup on the common path.
    if listed.rows.is_empty() {
        let exists = db
            .find_customer(id)
            .await
            .context("reading a customer")?
            .is_some();
        if !exists {
            return Err(ApiError::not_found("customer", id));
        }
    }
    Ok(HttpResponse::Ok().json(Paged::<Order>::new(listed, page)))
}
