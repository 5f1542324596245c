//! `/orders`: place orders (with an optional `Idempotency-Key`) and read them;
//! `/customers/{id}/orders`: a customer's orders.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use contract::orders::IDEMPOTENCY_KEY_HEADER;
use serde::Serialize;
use utoipa::ToSchema;

use super::body::{created, DatabaseUnavailable, JsonBodyRejected, JsonObject, Paged};
use crate::db::idempotency::KeyedOrder;
use crate::db::rows::{OrderRejected, OrderRow};
use crate::db::Db;
use crate::domain::{IdempotencyKey, NewOrder, OrderInput, Page, PageQuery};
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
///
/// Send an `Idempotency-Key` to retry safely: the same customer sending the same key again
/// with the same body gets the first answer again (201, same body and `Location`, plus
/// `Idempotent-Replayed: true`) and no second order, however often and however concurrently
/// it is sent, for `IDEMPOTENCY_TTL_SECS` (a day by default) after the first order. The same
/// key with another disk or quantity is a 422 `idempotency_key_reused`. A rejected request
/// (404, 409, 422) records no key: a retry is judged afresh.
#[utoipa::path(post, path = "/orders", tag = "orders",
    request_body = OrderInput,
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false,
            min_length = 1, max_length = 255,
            pattern = "^[!-~]{1,255}$",
            description = "Optional. 1 to 255 visible ASCII characters (0x21-0x7E), e.g. a \
                UUID; a new key for each new order. A request with a key already used by the \
                same customer places nothing: it gets the first answer again (same body), or a \
                422 `idempotency_key_reused` when the body differs."),
    ),
    responses(
        JsonBodyRejected,
        DatabaseUnavailable,
        (status = 201, description = "Order placed; stock taken. Or, for an `Idempotency-Key` \
            already used with this body, the first answer again", body = Order,
            headers(
                ("Location" = String, description = "`/orders/{id}`"),
                ("Idempotent-Replayed" = String, description = "`true` when this is the first \
                    answer again for an `Idempotency-Key` already used; absent otherwise"),
            )),
        (status = 404, description = "Unknown customer or disk", body = ErrorBody),
        (status = 409, description = "`insufficient_stock`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: invalid or unknown fields (quantity \
            outside 1..=100) or an invalid `Idempotency-Key` header; \
            `idempotency_key_reused`: the key placed an order with another disk or quantity",
            body = ErrorBody),
    ))]
pub async fn create(
    db: web::Data<Db>,
    request: HttpRequest,
    body: JsonObject<OrderInput>,
) -> Result<HttpResponse, ApiError> {
    let (new, key) = parse_order(&request, body.into_inner().0)?;
    let Some(key) = key else {
        let placed = db.place_order(new).await.context("placing an order")?;
        return placed.map(created_order).map_err(|why| rejected(new, why));
    };
    let keyed = db
        .place_keyed_order(new, &key)
        .await
        .context("placing an order with an Idempotency-Key")?;
    match keyed {
        KeyedOrder::Placed(row) => Ok(created_order(row)),
        KeyedOrder::Replayed(row) => Ok(replayed_order(row)),
        KeyedOrder::KeyReused(first) => Err(key_reused(&first, new)),
        KeyedOrder::Rejected(why) => Err(rejected(new, why)),
    }
}

/// The body and the `Idempotency-Key` header, validated together: one 422 names every bad
/// field of both.
fn parse_order(
    request: &HttpRequest,
    input: OrderInput,
) -> Result<(NewOrder, Option<IdempotencyKey>), ApiError> {
    let values = request
        .headers()
        .get_all(IDEMPOTENCY_KEY_HEADER)
        .map(HeaderValue::as_bytes);
    match (
        NewOrder::try_from(input),
        IdempotencyKey::from_values(values),
    ) {
        (Ok(new), Ok(key)) => Ok((new, key)),
        (Err(body), Err(key)) => Err(body.merge(key).into()),
        (Err(err), Ok(_)) | (Ok(_), Err(err)) => Err(err.into()),
    }
}

/// `201 Created` with the order and its `Location`.
fn created_order(row: OrderRow) -> HttpResponse {
    let order = Order::from(row);
    created(format!("/orders/{}", order.id), &order)
}

/// The first answer again, saying so.
fn replayed_order(row: OrderRow) -> HttpResponse {
    let mut response = created_order(row);
    response.headers_mut().insert(
        HeaderName::from_static(REPLAYED_HEADER_LOWER),
        HeaderValue::from_static("true"),
    );
    response
}

/// `contract::orders::REPLAYED_HEADER` as `HeaderName::from_static` takes it (lower case; a
/// test checks they agree).
const REPLAYED_HEADER_LOWER: &str = "idempotent-replayed";

/// Why `new` was not placed, as the client is told.
fn rejected(new: NewOrder, why: OrderRejected) -> ApiError {
    match why {
        OrderRejected::UnknownCustomer => ApiError::not_found("customer", new.customer_id()),
        OrderRejected::UnknownDisk => ApiError::not_found("disk", new.disk_id()),
        OrderRejected::InsufficientStock { available } => ApiError::conflict(
            "insufficient_stock",
            format!(
                "disk {} has {available} in stock, {} requested",
                new.disk_id(),
                new.quantity()
            ),
        ),
    }
}

/// The key already placed `first`, for another disk or quantity than `new` asks for.
fn key_reused(first: &OrderRow, new: NewOrder) -> ApiError {
    ApiError::unprocessable(
        "idempotency_key_reused",
        format!(
            "this Idempotency-Key already placed order {} for disk {}, quantity {}; this request \
             asks for disk {}, quantity {}: use a new key for a new order",
            first.id,
            first.disk_id,
            first.quantity,
            new.disk_id(),
            new.quantity()
        ),
    )
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

#[cfg(test)]
mod tests {
    use contract::orders::REPLAYED_HEADER;

    use super::*;

    #[test]
    fn the_replayed_header_is_the_contracts() {
        assert!(REPLAYED_HEADER.eq_ignore_ascii_case(REPLAYED_HEADER_LOWER));
    }
}
