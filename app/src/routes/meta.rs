//! Service routes: `/` (what is this), `/health` (alive), `/ready` (database answers),
//! `/metrics` (Prometheus), `/openapi.json` and `/docs` (the page that shows it).

use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{Backend, Db};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::Metrics;
use crate::stress::StressManager;

/// How long `/ready` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /`: which service, which build, which replica, which database.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceInfo {
    #[schema(example = "app")]
    pub name: &'static str,
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// The replica (`INSTANCE_NAME`), also sent in every `X-Instance` header.
    #[schema(example = "app1")]
    pub instance: String,
    pub database: Backend,
}

/// `GET /health` and `GET /ready` bodies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The OpenAPI document, rendered once at start-up.
pub struct OpenApiJson(pub String);

/// Service information.
#[utoipa::path(get, path = "/", tag = "service",
    responses((status = 200, description = "Service information", body = ServiceInfo)))]
pub async fn service_info(info: web::Data<ServiceInfo>) -> HttpResponse {
    HttpResponse::Ok().json(info.get_ref())
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = contract::routes::HEALTH, tag = "service",
    responses((status = 200, description = "Alive", body = Status)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Readiness: the database answers `SELECT 1` within one second.
#[utoipa::path(get, path = contract::routes::READY, tag = "service",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn ready(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(Status { status: "ok" })),
        Ok(Err(err)) => {
            log::warn!("readiness check failed: {err}");
            Err(ApiError::unavailable("the database does not answer"))
        }
        Err(_) => {
            log::warn!("readiness check timed out after {READY_TIMEOUT:?}");
            Err(ApiError::unavailable("the database did not answer in time"))
        }
    }
}

/// Prometheus metrics: requests by route pattern and status, latency histogram, in-flight
/// requests, database pool, process RSS and CPU, and the stress module's gauges.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics(
    metrics: web::Data<Metrics>,
    db: web::Data<Db>,
    stress: web::Data<StressManager>,
) -> HttpResponse {
    let mut out = String::with_capacity(8 * 1024);
    metrics.write_prometheus(&mut out, &db.snapshot());
    stress.write_prometheus(&mut out);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out)
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(doc.0.clone())
}

/// The API reference page: drawn in the browser from `openapi.json` (see the file's comment).
pub const DOCS_HTML: &str = include_str!("docs.html");

/// What the page may load: nothing but itself and same-origin requests (`openapi.json` and the
/// "Try it" forms). Its script and style are inline; no asset comes from anywhere else.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// API docs: an HTML page that reads `openapi.json` and shows every route, its parameters,
/// bodies and answers, with a form to try each one.
#[utoipa::path(get, path = "/docs", tag = "service",
    responses((status = 200, description = "HTML page (no external asset)", content_type = "text/html", body = String)))]
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP))
        .body(DOCS_HTML)
}
