//! Builds the HTTP server: connects the database (applying migrations), binds a listener
//! (port 0 in tests), wires shared state into every worker's `App`, and exposes the real port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders, Logger};
use actix_web::{web, App, HttpServer};

use crate::config::Settings;
use crate::db::Db;
use crate::error::json_config;
use crate::metrics::Metrics;
use crate::openapi;
use crate::routes::{self, meta};
use crate::stress::{self, StressManager};
use crate::telemetry::ACCESS_LOG_FORMAT;

/// A bound, not yet awaited server and the port it really listens on.
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
}

impl Application {
    /// Connects to the database, then binds `settings.listen`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings.database).await?;
        log::info!("database ready: {}", db.backend().as_str());
        let listener = TcpListener::bind(settings.listen)?;
        Self::build_with(settings, db, listener)
    }

    /// Serves `db` on an already bound `listener` (tests bind port 0 themselves).
    pub fn build_with(settings: Settings, db: Db, listener: TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let info = web::Data::new(meta::ServiceInfo {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            instance: settings.instance.clone(),
            database: db.backend(),
        });
        let openapi = web::Data::new(meta::OpenApiJson(openapi::document_json()?));
        // One of each for the whole process, shared by every worker.
        let stress = web::Data::from(StressManager::new(settings.instance.clone()));
        let metrics: Arc<Metrics> = Metrics::new();
        let metrics_data = web::Data::from(metrics.clone());
        let db_data = web::Data::new(db.clone());
        let instance = settings.instance.clone();
        let body_limit = settings.body_limit_bytes;
        let access_log = settings.access_log;
        let server = HttpServer::new(move || {
            let metrics = metrics.clone();
            App::new()
                .wrap(Condition::new(access_log, Logger::new(ACCESS_LOG_FORMAT)))
                .wrap(from_fn(move |req, next| metrics.clone().track(req, next)))
                .wrap(DefaultHeaders::new().add(("X-Instance", instance.clone())))
                .app_data(json_config(body_limit))
                .app_data(db_data.clone())
                .app_data(metrics_data.clone())
                .app_data(info.clone())
                .app_data(openapi.clone())
                .app_data(stress.clone())
                .configure(routes::configure)
                .configure(stress::configure(stress.clone()))
                .default_service(web::to(routes::unknown_route))
        })
        .workers(settings.workers)
        // Docker stops a container 10 s after SIGTERM: finish in-flight requests well before.
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        Ok(Self { port, server, db })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database handle the server uses (tests inspect it directly).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stops the server from elsewhere (tests).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
