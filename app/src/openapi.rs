//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request/response types, so it cannot drift from the code. The stress endpoints are
//! documented by the stress module's own document, merged in here.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

use crate::error::ErrorBody;
use crate::routes::body::Paged;
use crate::routes::customers::{self, Customer};
use crate::routes::disks::{self, Disk};
use crate::routes::meta;
use crate::routes::orders::{self, Order};

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
        meta::service_info, meta::health, meta::ready, meta::metrics, meta::openapi, meta::docs,
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
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(STRESS_TOKEN_SCHEME, stress_token_scheme());
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The name the stress paths' `security` requirement refers to.
pub const STRESS_TOKEN_SCHEME: &str = "stress_token";

/// `Authorization: Bearer <STRESS_TOKEN>`. Declared required because every deployed stack
/// sets a token (compose reads it from `.env`); a replica started without `STRESS_TOKEN`
/// does not check it.
fn stress_token_scheme() -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The replica's STRESS_TOKEN; without it (or with a wrong one) the stress \
                 endpoints answer 401. Not checked when the replica has no STRESS_TOKEN.",
            ))
            .build(),
    )
}

/// [`document`] as JSON, rendered once at start-up.
pub fn document_json() -> anyhow::Result<String> {
    Ok(serde_json::to_string(&document())?)
}
