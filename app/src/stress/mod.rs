//! Tree stress endpoints (the seed's memory/CPU stress contract). Placeholder seam: the
//! implementation replaces the body of this module, keeping these three entry points.

use std::sync::Arc;

use actix_web::web;

/// Owns the one stress test a replica may run; shared by all HTTP workers.
pub struct StressManager {
    #[allow(dead_code)]
    instance: String,
}

impl StressManager {
    pub fn new(instance: String) -> Arc<Self> {
        Arc::new(Self { instance })
    }

    /// Appends this module's Prometheus metrics to `out` (called by `GET /metrics`).
    pub fn write_prometheus(&self, _out: &mut String) {}
}

/// Registers `/start`, `/stop`, `/status`, `/logs`, `/clear`.
pub fn configure(manager: web::Data<StressManager>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(manager);
    }
}

/// The stress endpoints' OpenAPI document, merged into `/openapi.json` by the shop.
pub fn openapi() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}
