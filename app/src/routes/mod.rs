//! HTTP routes of the record shop, one file per resource, plus what they share: the route
//! table ([`endpoint`]), the JSON bodies ([`body`]: object-only requests, paged answers) and
//! the JSON 404/405 answers.
//!
//! A handler reads top to bottom: parse (serde, into the `domain` input shapes), validate
//! (`TryFrom` into a `domain` type, a 422 naming every bad field), query (`db`), answer (the
//! response types defined next to the handlers, so the stored rows never reach a client as
//! they are). Database failures become answers through `error`'s `From` impls and `?`.
//!
//! Every route is listed once, in [`endpoints`]: the router registers exactly that list, the
//! metrics table is built from it (see `startup::route_patterns`), and a test checks that the
//! OpenAPI document describes the same paths and methods.

pub mod body;
pub mod customers;
pub mod disks;
pub mod endpoint;
pub mod meta;
pub mod orders;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use endpoint::Endpoint;

/// Every shop route (the stress routes are listed by `stress::endpoints`).
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::at("/").get(meta::service_info),
        Endpoint::at(contract::routes::HEALTH).get(meta::health),
        Endpoint::at(contract::routes::READY).get(meta::ready),
        Endpoint::at("/metrics").get(meta::metrics),
        Endpoint::at("/openapi.json").get(meta::openapi),
        Endpoint::at("/docs").get(meta::docs),
        Endpoint::at("/customers")
            .get(customers::list)
            .post(customers::create),
        Endpoint::at("/customers/{id}")
            .get(customers::get)
            .put(customers::replace)
            .delete(customers::delete),
        Endpoint::at("/customers/{id}/orders").get(orders::list_for_customer),
        Endpoint::at("/disks").get(disks::list).post(disks::create),
        Endpoint::at("/disks/{id}")
            .get(disks::get)
            .put(disks::replace)
            .delete(disks::delete),
        Endpoint::at("/orders").post(orders::create),
        Endpoint::at("/orders/{id}").get(orders::get),
    ]
}

/// Registers every shop route; other methods on a shop path get a JSON 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(path_config()).app_data(query_config());
    for endpoint in endpoints() {
        cfg.service(endpoint.into_resource());
    }
}

/// The app's default service: a JSON 404 for any unknown route.
pub async fn unknown_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}

/// A malformed id in the path (`/disks/abc`, `/disks/99999999999999999999`) names nothing: 404.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} does not exist (ids are positive integers)", req.path()),
        )
        .into()
    })
}

/// Unknown or repeated query parameters are a 422 naming the parameter.
fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = err.to_string();
        let field = backticked(&message).unwrap_or("query").to_owned();
        ApiError::invalid_field(&field, message).into()
    })
}

/// The first `` `name` `` in a serde message.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}
