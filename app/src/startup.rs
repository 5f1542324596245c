//! Builds the HTTP server: binds a listener (port 0 in tests), wires shared state into every
//! worker's `App`, and exposes the real port.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::config::Settings;
use crate::error::{json_config, ApiError};
use crate::stress::{self, StressManager};

/// A bound, not yet awaited server and the port it really listens on.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)?;
        let port = listener.local_addr()?.port();
        let stress = web::Data::from(StressManager::new(settings.instance.clone()));
        let instance = settings.instance.clone();
        let body_limit = settings.body_limit_bytes;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(DefaultHeaders::new().add(("X-Instance", instance.clone())))
                .app_data(json_config(body_limit))
                .route("/health", web::get().to(health))
                .configure(stress::configure(stress.clone()))
                .default_service(web::to(not_found))
        })
        .workers(settings.workers)
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route",
    ))
}
