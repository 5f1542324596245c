//! `/`, `/health`, `/ready`, `/metrics`, `/openapi.json`, `X-Instance`, database outages
//! (`/docs` has its own file, docs_page.rs).

use std::time::{Duration, Instant};

use app::config::DatabaseSettings;
use app::db::Db;
use app::startup::Application;
use reqwest::StatusCode;

use crate::helpers::{test_settings, Backend, TestApp, TestDatabase, INSTANCE};

on_every_backend! {
    async fn service_info_names_the_replica_and_the_database_backend(app: TestApp) {
        let reply = app.service_info().await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json["name"], "app");
        assert_eq!(reply.json["instance"], INSTANCE);
        assert_eq!(reply.json["database"], app.backend.as_str());
        assert!(reply.json["version"].is_string());
    }

    async fn health_and_ready_answer_ok_when_the_database_answers(app: TestApp) {
        assert_eq!(app.health().await.status, StatusCode::OK);
        let ready = app.ready().await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
        assert_eq!(ready.json["status"], "ok");
    }

    async fn every_response_carries_x_instance_errors_included(app: TestApp) {
        for reply in [
            app.health().await,
            app.get_disk(424242).await,
            app.get("/no/such/route").await,
            app.send(reqwest::Method::PATCH, "/disks", None).await,
            app.metrics().await,
        ] {
            assert_eq!(reply.header("x-instance"), Some(INSTANCE), "{:?}", reply.status);
        }
    }

    async fn metrics_count_requests_by_route_pattern_not_raw_path(app: TestApp) {
        let id = app.disk("Metered", 100, 1).await;
        assert_eq!(app.get_disk(id).await.status, StatusCode::OK);
        assert_eq!(app.get_disk(id + 1000).await.status, StatusCode::NOT_FOUND);
        let reply = app.metrics().await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.header("content-type").unwrap_or_default().starts_with("text/plain"));
        let text = &reply.text;
        for expected in [
            r#"http_requests_total{route="/disks/{id}",method="GET",status="200"} 1"#,
            r#"http_requests_total{route="/disks/{id}",method="GET",status="404"} 1"#,
            r#"http_requests_total{route="/disks",method="POST",status="201"} 1"#,
            r#"http_request_duration_seconds_count{route="/disks/{id}",method="GET"} 2"#,
            "# TYPE http_request_duration_seconds histogram",
            "http_requests_in_flight 0",
            "db_pool_connections ",
            "db_pool_idle_connections ",
            "db_pool_waits_total ",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains(&format!("/disks/{id}\"")), "raw path used as a label");
    }

    async fn openapi_document_describes_every_endpoint_and_the_error_shape(app: TestApp) {
        let reply = app.openapi().await;
        assert_eq!(reply.status, StatusCode::OK);
        let doc = &reply.json;
        assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3."), "{}", reply.text);
        let paths = doc["paths"].as_object().expect("paths");
        for (path, method) in [
            ("/", "get"), ("/health", "get"), ("/ready", "get"), ("/metrics", "get"),
            ("/openapi.json", "get"), ("/docs", "get"),
            ("/customers", "get"), ("/customers", "post"), ("/customers/{id}", "get"),
            ("/customers/{id}", "put"), ("/customers/{id}", "delete"),
            ("/customers/{id}/orders", "get"),
            ("/disks", "get"), ("/disks", "post"), ("/disks/{id}", "get"),
            ("/disks/{id}", "put"), ("/disks/{id}", "delete"),
            ("/orders", "post"), ("/orders/{id}", "get"),
            // Merged from the stress module's own document.
            ("/start", "post"), ("/stop", "post"), ("/clear", "post"), ("/status", "get"),
            ("/logs", "get"),
        ] {
            assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} undocumented");
        }
        let error = &doc["components"]["schemas"]["ErrorBody"]["properties"];
        for field in ["error", "message", "fields"] {
            assert!(error.get(field).is_some(), "ErrorBody lacks {field}");
        }
        let disk_input = &doc["components"]["schemas"]["DiskInput"];
        assert_eq!(disk_input["required"].as_array().map(Vec::len), Some(6), "{disk_input}");
    }
}

/// Connections killed under the pool (a database restart): never a 500, and it recovers.
async fn killed_connections_are_a_503_at_worst_and_the_pool_recovers(app: TestApp) {
    let disk = app.disk("Survivor", 100, 5).await;
    // Open several pooled connections, then kill them all server-side.
    let warm = (0..8).map(|_| app.get_disk(disk));
    futures_util::future::join_all(warm).await;
    app.database.kill_connections().await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let reply = app.get_disk(disk).await;
        statuses.push(reply.status);
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(reply.error_code(), "unavailable");
        }
    }
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert!(
        statuses[20..].iter().all(|s| *s == StatusCode::OK),
        "no recovery: {statuses:?}"
    );
    let order = app.post_order(&serde_json::json!({"customer_id": app.customer("A", "a@example.com").await, "disk_id": disk, "quantity": 1})).await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.text);
}

#[tokio::test]
async fn killed_postgres_connections_are_a_503_at_worst_and_the_pool_recovers() {
    killed_connections_are_a_503_at_worst_and_the_pool_recovers(
        TestApp::spawn(Backend::Postgres).await,
    )
    .await;
}

#[tokio::test]
async fn killed_mysql_connections_are_a_503_at_worst_and_the_pool_recovers() {
    killed_connections_are_a_503_at_worst_and_the_pool_recovers(
        TestApp::spawn(Backend::Mysql).await,
    )
    .await;
}

/// An application whose database is a closed port: requests must fail fast with 503.
async fn app_over_unreachable_database(url: &str) -> TestApp {
    let mut settings = test_settings(url.to_owned());
    settings.database = DatabaseSettings {
        url: url.to_owned(),
        pool_max: 2,
        acquire_timeout: Duration::from_millis(300),
        order_batch_max: app::config::DEFAULT_ORDER_BATCH_MAX,
        read_batch_max: app::config::DEFAULT_READ_BATCH_MAX,
        idempotency_ttl: Duration::from_secs(app::config::DEFAULT_IDEMPOTENCY_TTL_SECS),
    };
    let db = Db::connect_lazy(&settings.database).expect("lazy pool");
    let listener = std::net::TcpListener::bind(settings.listen).expect("binding port 0");
    let app = Application::build_with(settings, db, listener).expect("building the app");
    let backend = Backend::from_url(url).expect("backend");
    TestApp::serve(app, backend, TestDatabase::create(Backend::Sqlite).await)
}

async fn unreachable_database_is_a_fast_503_with_retry_after(url: &str) {
    let app = app_over_unreachable_database(url).await;
    let started = Instant::now();
    let reply = app.get_disk(1).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert_eq!(reply.error_code(), "unavailable");
    assert_eq!(reply.header("retry-after"), Some("1"));
    let reply = app
        .post_order(&serde_json::json!({"customer_id": 1, "disk_id": 1, "quantity": 1}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    let ready = app.ready().await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(
        app.health().await.status,
        StatusCode::OK,
        "liveness does not need the database"
    );
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn unreachable_postgres_is_a_fast_503_with_retry_after() {
    let url = format!("postgres://postgres@127.0.0.1:{}/shop", closed_port());
    unreachable_database_is_a_fast_503_with_retry_after(&url).await;
}

#[tokio::test]
async fn unreachable_mysql_is_a_fast_503_with_retry_after() {
    let url = format!("mysql://root@127.0.0.1:{}/shop", closed_port());
    unreachable_database_is_a_fast_503_with_retry_after(&url).await;
}
