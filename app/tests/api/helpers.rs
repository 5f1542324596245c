//! `TestApp`: the real application on port 0 over a fresh database of one backend, with one
//! method per endpoint.
//!
//! Postgres and MySQL databases are created through the admin URLs in `TEST_POSTGRES_URL`
//! and `TEST_MYSQL_URL` (uniquely named, dropped best-effort when the test ends). Those
//! variables are required: a missing one fails the test with a clear message, it never skips
//! (README, "Tests").

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use app::config::{DatabaseSettings, Settings};
use app::db::Db;
use app::startup::Application;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;

pub use app::db::Backend;

pub const INSTANCE: &str = "test-replica";

/// Runs each test body once per backend: `name::sqlite`, `name::postgres`, `name::mysql`, each
/// on a fresh database. `async fn name(app: TestApp, settings: |s| ...)` changes the app's
/// settings first (a short TTL, a pool size...).
macro_rules! on_every_backend {
    (@tweak) => { |_| {} };
    (@tweak $tweak:expr) => { $tweak };
    ($(async fn $name:ident($app:ident: TestApp $(, settings: $tweak:expr)?) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($app: $crate::helpers::TestApp) $body

                async fn spawn(backend: $crate::helpers::Backend) -> $crate::helpers::TestApp {
                    let database = $crate::helpers::TestDatabase::create(backend).await;
                    $crate::helpers::TestApp::spawn_with(
                        backend,
                        database,
                        on_every_backend!(@tweak $($tweak)?),
                    )
                    .await
                }

                #[tokio::test]
                async fn sqlite() {
                    body(spawn($crate::helpers::Backend::Sqlite).await).await
                }

                #[tokio::test]
                async fn postgres() {
                    body(spawn($crate::helpers::Backend::Postgres).await).await
                }

                #[tokio::test]
                async fn mysql() {
                    body(spawn($crate::helpers::Backend::Mysql).await).await
                }
            }
        )*
    };
}

/// An HTTP answer, body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the one error shape and returns its `error` code.
    pub fn error_code(&self) -> &str {
        let obj = self
            .json
            .as_object()
            .unwrap_or_else(|| panic!("error body is not a JSON object: {}", self.text));
        assert!(obj["message"].is_string(), "no message: {}", self.text);
        assert!(obj["fields"].is_object(), "no fields: {}", self.text);
        assert_eq!(obj.len(), 3, "unexpected keys: {}", self.text);
        obj["error"].as_str().expect("error code is a string")
    }

    /// The names in an error's `fields`.
    pub fn error_fields(&self) -> Vec<String> {
        self.json["fields"]
            .as_object()
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn id(&self) -> i64 {
        self.json["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
    }
}

pub struct TestApp {
    pub address: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    /// The application's own database handle, to check what HTTP cannot show.
    pub db: Db,
    handle: ServerHandle,
    pub database: TestDatabase,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        let database = TestDatabase::create(backend).await;
        Self::spawn_with(backend, database, |_| {}).await
    }

    /// Like [`spawn`](Self::spawn) with a settings tweak (body limit, pool size…).
    pub async fn spawn_with(
        backend: Backend,
        database: TestDatabase,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            app::telemetry::init_logging();
        }
        let mut settings = test_settings(database.url.clone());
        tweak(&mut settings);
        let app = Application::build(settings)
            .await
            .unwrap_or_else(|e| panic!("building the app on {backend:?}: {e:#}"));
        Self::serve(app, backend, database)
    }

    /// Serves an already built application (e.g. one over an unreachable database).
    pub fn serve(app: Application, backend: Backend, database: TestDatabase) -> Self {
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db().clone();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("building the HTTP client");
        Self {
            address,
            backend,
            client,
            db,
            handle,
            database,
        }
    }

    /// Any request; `body` is sent as-is with `content_type` when given.
    pub async fn send(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some((content_type, bytes)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        Self::reply(request).await
    }

    /// Sends `request` and reads its answer.
    async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("sending the request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("reading the body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serialising the body");
        self.send(method, path, Some(("application/json", bytes)))
            .await
    }

    // Service
    pub async fn service_info(&self) -> Reply {
        self.get("/").await
    }
    pub async fn health(&self) -> Reply {
        self.get("/health").await
    }
    pub async fn ready(&self) -> Reply {
        self.get("/ready").await
    }
    pub async fn metrics(&self) -> Reply {
        self.get("/metrics").await
    }
    pub async fn openapi(&self) -> Reply {
        self.get("/openapi.json").await
    }

    // Customers
    pub async fn post_customer(&self, body: &Value) -> Reply {
        self.send_json(Method::POST, "/customers", body).await
    }
    pub async fn list_customers(&self, query: &str) -> Reply {
        self.get(&format!("/customers{query}")).await
    }
    pub async fn get_customer(&self, id: i64) -> Reply {
        self.get(&format!("/customers/{id}")).await
    }
    pub async fn put_customer(&self, id: i64, body: &Value) -> Reply {
        self.send_json(Method::PUT, &format!("/customers/{id}"), body)
            .await
    }
    pub async fn delete_customer(&self, id: i64) -> Reply {
        self.send(Method::DELETE, &format!("/customers/{id}"), None)
            .await
    }
    pub async fn customer_orders(&self, id: i64, query: &str) -> Reply {
        self.get(&format!("/customers/{id}/orders{query}")).await
    }

    // Disks
    pub async fn post_disk(&self, body: &Value) -> Reply {
        self.send_json(Method::POST, "/disks", body).await
    }
    pub async fn list_disks(&self, query: &str) -> Reply {
        self.get(&format!("/disks{query}")).await
    }
    pub async fn get_disk(&self, id: i64) -> Reply {
        self.get(&format!("/disks/{id}")).await
    }
    pub async fn put_disk(&self, id: i64, body: &Value) -> Reply {
        self.send_json(Method::PUT, &format!("/disks/{id}"), body)
            .await
    }
    pub async fn delete_disk(&self, id: i64) -> Reply {
        self.send(Method::DELETE, &format!("/disks/{id}"), None)
            .await
    }

    // Orders
    pub async fn post_order(&self, body: &Value) -> Reply {
        self.send_json(Method::POST, "/orders", body).await
    }
    pub async fn get_order(&self, id: i64) -> Reply {
        self.get(&format!("/orders/{id}")).await
    }
    /// `POST /orders` with an `Idempotency-Key`.
    pub async fn post_order_with_key(&self, body: &Value, key: &str) -> Reply {
        self.post_order_with_key_values(body, &[key.as_bytes()])
            .await
    }
    /// `POST /orders` with one `Idempotency-Key` header per value, sent byte for byte (invalid
    /// keys included, as far as HTTP lets them through).
    pub async fn post_order_with_key_values(&self, body: &Value, keys: &[&[u8]]) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/orders", self.address))
            .json(body);
        for key in keys {
            let value = reqwest::header::HeaderValue::from_bytes(key).expect("a header value");
            request = request.header(contract::orders::IDEMPOTENCY_KEY_HEADER, value);
        }
        Self::reply(request).await
    }

    /// Creates a customer and returns its id.
    pub async fn customer(&self, name: &str, email: &str) -> i64 {
        let reply = self
            .post_customer(&serde_json::json!({"name": name, "email": email}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.id()
    }

    /// Creates a disk with `stock` units at `price_cents` and returns its id.
    pub async fn disk(&self, title: &str, price_cents: i64, stock: i64) -> i64 {
        let reply = self.post_disk(&disk_body(title, price_cents, stock)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.id()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command now; the returned future only waits for it.
        drop(self.handle.stop(false));
        self.database.drop_best_effort();
    }
}

/// A disk body that passes validation.
/// A counter's value in a `/metrics` text (`name` with its trailing space or labels).
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

pub fn disk_body(title: &str, price_cents: i64, stock: i64) -> Value {
    serde_json::json!({
        "title": title,
        "artist": "Miles Davis",
        "genre": "jazz",
        "year": 1959,
        "price_cents": price_cents,
        "stock": stock,
    })
}

pub fn test_settings(database_url: String) -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        unix_socket: None,
        workers: 2,
        instance: INSTANCE.to_owned(),
        body_limit_bytes: app::config::DEFAULT_BODY_LIMIT_BYTES,
        access_log: false,
        database: DatabaseSettings {
            url: database_url,
            pool_max: 10,
            acquire_timeout: Duration::from_secs(15),
            order_batch_max: app::config::DEFAULT_ORDER_BATCH_MAX,
            read_batch_max: app::config::DEFAULT_READ_BATCH_MAX,
            idempotency_ttl: Duration::from_secs(app::config::DEFAULT_IDEMPOTENCY_TTL_SECS),
        },
    }
}

/// A database that exists for one test only.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    name: String,
    admin_url: Option<String>,
}

fn required_env(name: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "{name} is not set. Every API test also runs on Postgres and MySQL/MariaDB, so the \
             suite needs admin URLs, e.g. TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
             TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/mysql (the README's test command sets \
             up both servers)"
        )
    })
}

/// `scheme://authority/old?query` → `scheme://authority/name?query`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        let name = format!("shop_test_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Self {
                    url: format!("sqlite://{}", path.display()),
                    backend,
                    name: path.display().to_string(),
                    admin_url: None,
                }
            }
            Backend::Postgres => {
                let admin_url = required_env("TEST_POSTGRES_URL");
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("connecting to TEST_POSTGRES_URL: {e}"));
                sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .await
                    .expect("creating the test database");
                let _ = conn.close().await;
                Self {
                    url: with_database(&admin_url, &name),
                    backend,
                    name,
                    admin_url: Some(admin_url),
                }
            }
            Backend::Mysql => {
                let admin_url = required_env("TEST_MYSQL_URL");
                let mut conn = sqlx::MySqlConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("connecting to TEST_MYSQL_URL: {e}"));
                sqlx::raw_sql(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
                    .execute(&mut conn)
                    .await
                    .expect("creating the test database");
                let _ = conn.close().await;
                Self {
                    url: with_database(&admin_url, &name),
                    backend,
                    name,
                    admin_url: Some(admin_url),
                }
            }
        }
    }

    /// Ends every server session on this database (Postgres and MySQL), as a database restart
    /// or a network cut would: the application's pooled connections die under it.
    pub async fn kill_connections(&self) {
        let Some(admin_url) = &self.admin_url else {
            return;
        };
        match self.backend {
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("admin");
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&self.name)
                .execute(&mut conn)
                .await
                .expect("terminating sessions");
            }
            Backend::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(admin_url)
                    .await
                    .expect("admin");
                let ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?",
                )
                .bind(&self.name)
                .fetch_all(&mut conn)
                .await
                .expect("listing sessions");
                for id in ids {
                    let _ = sqlx::raw_sql(&format!("KILL {id}"))
                        .execute(&mut conn)
                        .await;
                }
            }
            Backend::Sqlite => {}
        }
    }

    /// Removes the database; failures are ignored (a leftover `shop_test_*` is harmless).
    fn drop_best_effort(&self) {
        if self.backend == Backend::Sqlite {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
            }
            return;
        }
        let Some(admin_url) = self.admin_url.clone() else {
            return;
        };
        let (backend, name) = (self.backend, self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let work = async {
                    match backend {
                        Backend::Postgres => {
                            let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                            sqlx::raw_sql(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await?;
                        }
                        Backend::Mysql => {
                            let mut conn = sqlx::MySqlConnection::connect(&admin_url).await?;
                            sqlx::raw_sql(&format!(
                                "SET SESSION lock_wait_timeout = 5; DROP DATABASE IF EXISTS `{name}`"
                            ))
                            .execute(&mut conn)
                            .await?;
                        }
                        Backend::Sqlite => {}
                    }
                    Ok::<_, sqlx::Error>(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), work).await;
            });
        });
        let _ = dropper.join();
    }
}

#[test]
fn database_names_replace_the_admin_urls_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("mysql://root@127.0.0.1:3306/mysql?ssl-mode=disabled", "x"),
        "mysql://root@127.0.0.1:3306/x?ssl-mode=disabled"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
