//! Builds the HTTP server: connects the database (applying migrations), binds a listener
//! (port 0 in tests), wires shared state into every worker's `App`, and exposes the real port.
//!
//! The router is two lists, `routes::endpoints` (the shop) and `stress::endpoints`; the metrics
//! table is built from the same lists ([`route_patterns`]), and the tests below check that the
//! OpenAPI document describes exactly what is routed and that every routed request is counted
//! under its own pattern.

use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders, Logger};
use actix_web::{web, App, HttpServer};

use crate::config::Settings;
use crate::db::Db;
use crate::error::json_config;
use crate::metrics::Metrics;
use crate::openapi;
use crate::routes::endpoint::Endpoint;
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
        let metrics: Arc<Metrics> = Metrics::new(route_patterns());
        let metrics_data = web::Data::from(metrics.clone());
        let db_data = web::Data::new(db.clone());
        let instance = settings.instance.clone();
        let body_limit = settings.body_limit_bytes;
        let unix_socket = settings.unix_socket.clone();
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
                .configure(configure_routes(stress.clone()))
        })
        .workers(settings.workers)
        // nginx closes its idle upstream connections first (its keepalive_timeout is shorter).
        .keep_alive(Duration::from_secs(contract::http::APP_KEEP_ALIVE_SECS))
        // Docker stops a container 10 s after SIGTERM: finish in-flight requests well before.
        .shutdown_timeout(5)
        .listen(listener)?;
        let server = match &unix_socket {
            Some(path) => server.listen_uds(bind_unix_socket(path)?)?,
            None => server,
        }
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

/// Binds the Unix-domain socket at `path`, replacing a socket a previous run left behind (a
/// killed replica never removes its own), and opens it to every user: nginx's workers run
/// as another user than the app, and the folder holding it is the access control. Anything
/// other than a socket at `path` is left alone, and refused.
pub fn bind_unix_socket(path: &Path) -> anyhow::Result<UnixListener> {
    use anyhow::Context;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?,
        Ok(_) => anyhow::bail!(
            "APP_UNIX_SOCKET={}: a file that is not a socket is there; refusing to replace it",
            path.display()
        ),
        Err(_) => {}
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot listen on the Unix socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("cannot open {} to nginx's user", path.display()))?;
    log::info!("listening on the Unix socket {}", path.display());
    Ok(listener)
}

/// Every route of the service, and a JSON 404 for any other path.
pub fn configure_routes(stress: web::Data<StressManager>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.configure(routes::configure)
            .configure(stress::configure(stress))
            .default_service(web::to(routes::unknown_route));
    }
}

/// The pattern of every route [`configure_routes`] registers, in registration order.
pub fn route_patterns() -> Vec<&'static str> {
    routes::endpoints()
        .iter()
        .chain(&stress::endpoints())
        .map(Endpoint::path)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use actix_web::http::{Method, StatusCode};
    use actix_web::middleware::from_fn;
    use actix_web::{test as actix_test, App};

    use super::*;
    use crate::db::PoolSnapshot;

    /// `(path, METHOD)` pairs.
    type Operations = BTreeSet<(String, String)>;

    fn routed() -> Operations {
        routes::endpoints()
            .iter()
            .chain(&stress::endpoints())
            .flat_map(|endpoint| {
                endpoint
                    .methods()
                    .map(|method| (endpoint.path().to_owned(), method.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn documented() -> Operations {
        const METHODS: [&str; 8] = [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ];
        let doc = serde_json::to_value(openapi::document()).expect("the OpenAPI document");
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("a path item");
                METHODS
                    .iter()
                    .filter(|method| item.contains_key(**method))
                    .map(|method| (path.clone(), method.to_uppercase()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_openapi_document_describes_exactly_the_routed_operations() {
        let routed = routed();
        let documented = documented();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routed but missing from the OpenAPI document: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "in the OpenAPI document but not routed: {unrouted:?}"
        );
        assert!(routed.len() >= 23, "{routed:?}");
    }

    #[test]
    fn metrics_keep_one_series_per_routed_pattern_and_no_other() {
        let metrics = Metrics::new(route_patterns());
        let (unmatched, patterns) = metrics
            .route_patterns()
            .split_first()
            .expect("the unmatched series");
        assert_eq!(*unmatched, "unmatched");
        let metered: BTreeSet<&str> = patterns.iter().copied().collect();
        assert_eq!(metered.len(), patterns.len(), "a pattern listed twice");
        let routed: BTreeSet<String> = routed().into_iter().map(|(path, _)| path).collect();
        let routed: BTreeSet<&str> = routed.iter().map(String::as_str).collect();
        assert_eq!(metered, routed);
    }

    /// Sends every documented operation through the real router and the real metrics
    /// middleware: each must reach a handler (not the JSON 404 or 405) and be counted under its
    /// own pattern, never `unmatched`. No database is configured, so the shop handlers answer
    /// 500 once routed; that is enough here.
    #[actix_web::test]
    async fn every_documented_operation_is_routed_and_counted_under_its_pattern() {
        let metrics = Metrics::new(route_patterns());
        let stress = web::Data::from(StressManager::new("routing-test".to_owned()));
        let tracked = Arc::clone(&metrics);
        let app = actix_test::init_service(
            App::new()
                .wrap(from_fn(move |req, next| tracked.clone().track(req, next)))
                .configure(configure_routes(stress)),
        )
        .await;
        let operations = documented();
        for (path, method) in &operations {
            let request = actix_test::TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).expect("an HTTP method"))
                .uri(&path.replace("{id}", "1"))
                .to_request();
            let response = actix_test::call_service(&app, request).await;
            assert_eq!(
                response.request().match_pattern().as_deref(),
                Some(path.as_str()),
                "{method} {path}"
            );
            assert!(
                ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED]
                    .contains(&response.status()),
                "{method} {path} reached no handler: {}",
                response.status()
            );
        }
        let mut out = String::new();
        let pool = PoolSnapshot {
            size: 0,
            idle: 0,
            max: 1,
            acquires_total: 0,
            waits_total: 0,
            wait_seconds_total: 0.0,
            order_batches: Default::default(),
            disk_read_batches: Default::default(),
        };
        metrics.write_prometheus(&mut out, &pool);
        assert!(!out.contains("route=\"unmatched\""), "{out}");
        for (path, method) in &operations {
            let series = format!("http_requests_total{{route=\"{path}\",method=\"{method}\",");
            assert!(out.contains(&series), "{series} missing in\n{out}");
        }
    }
}
