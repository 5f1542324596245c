//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request/response types, so it cannot drift from the code. The stress endpoints are
//! documented by the stress module's own document, merged in here.

use utoipa::OpenApi;

use crate::db::customers::Customer;
use crate::db::disks::Disk;
use crate::db::orders::Order;
use crate::error::ErrorBody;
use crate::routes::{customers, disks, meta, orders, Paged};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Record shop",
        description = "Customers, disks for sale and orders (stock is never oversold), plus \
                       tree stress endpoints. Every error has the same JSON shape \
                       (`ErrorBody`); request bodies reject unknown fields with 422; every \
                       response carries `X-Instance`."
    ),
    paths(
        meta::service_info, meta::health, meta::ready, meta::metrics, meta::openapi,
        customers::create, customers::list, customers::get, customers::replace, customers::delete,
        orders::list_for_customer,
        disks::create, disks::list, disks::get, disks::replace, disks::delete,
        orders::create, orders::get,
    ),
    components(schemas(ErrorBody, Customer, Disk, Order, Paged<Customer>, Paged<Disk>, Paged<Order>)),
    tags(
        (name = "service", description = "Service information, health, metrics"),
        (name = "customers", description = "Customers"),
        (name = "disks", description = "Disks for sale"),
        (name = "orders", description = "Orders"),
    )
)]
struct ShopApi;

/// The whole API: shop paths plus the stress module's own document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ShopApi::openapi();
    // Stress paths are added by the stress module via its own OpenApi document, merged here.
    doc.merge(crate::stress::openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// [`document`] as JSON, rendered once at start-up.
pub fn document_json() -> anyhow::Result<String> {
    Ok(serde_json::to_string(&document())?)
}
