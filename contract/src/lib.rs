//! The contract between the lab and the app, written once. The lab starts the app's
//! processes and drives them over HTTP but shares no other code with it; everything the two
//! must agree on lives here, so a rename fails to compile on one side or fails a test on the
//! other (the app's tests parse [`seed::Sizes::args`] with its own command line and
//! [`stress::StartBody`] with its own request type).

pub mod kinds;
pub mod profile;
pub mod transport;

pub use kinds::{DbKind, RuntimeKind, StackState};

/// Environment variables the app reads and the lab (or compose) sets.
pub mod env {
    /// `postgres://…`, `mysql://…` or `sqlite://…`.
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// Address the replica binds.
    pub const APP_LISTEN: &str = "APP_LISTEN";
    /// A Unix-domain socket the replica listens on besides `APP_LISTEN` (unset: none).
    pub const APP_UNIX_SOCKET: &str = "APP_UNIX_SOCKET";
    /// Replica name, sent back in the `X-Instance` header and nginx's log.
    pub const INSTANCE_NAME: &str = "INSTANCE_NAME";
    /// HTTP worker threads.
    pub const APP_WORKERS: &str = "APP_WORKERS";
    /// Most connections the pool opens.
    pub const DB_POOL_MAX: &str = "DB_POOL_MAX";
    /// How long a request waits for a pooled connection before it is answered 503 (ms).
    pub const DB_ACQUIRE_TIMEOUT_MS: &str = "DB_ACQUIRE_TIMEOUT_MS";
    /// Bearer token of the stress endpoints (empty: open).
    pub const STRESS_TOKEN: &str = "STRESS_TOKEN";
    /// The seed job's sizes, as profile keys and variables (the job itself takes flags).
    pub const SEED_CUSTOMERS: &str = "SEED_CUSTOMERS";
    pub const SEED_DISKS: &str = "SEED_DISKS";
    pub const SEED_STOCK: &str = "SEED_STOCK";
}

/// HTTP between nginx and a replica.
pub mod http {
    /// Seconds a replica keeps an idle kept-alive connection open before closing it.
    /// nginx.conf's upstream `keepalive_timeout` must be shorter: else nginx can send a
    /// request on a connection the replica is closing that very moment, and a POST that
    /// meets the closed socket fails (nginx never passes a non-idempotent request on).
    pub const APP_KEEP_ALIVE_SECS: u64 = 5;
}

/// `POST /orders` retried safely: the request header that names one order, and the response
/// header of an answer given again (the app reads and writes them, lab's order writer sends
/// the key).
pub mod orders {
    /// Request header: the client's key for one order. The same customer sending the same key
    /// again gets the first answer again instead of a second order.
    pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
    /// Longest key accepted, in characters (visible ASCII, 0x21-0x7E).
    pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
    /// Response header, `true` on an answer replayed for a key already used.
    pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
}

/// The seed job: `app seed --customers N --disks N --stock N [--reset]`.
pub mod seed {
    pub const SUBCOMMAND: &str = "seed";
    pub const CUSTOMERS: &str = "customers";
    pub const DISKS: &str = "disks";
    pub const STOCK: &str = "stock";
    pub const RESET: &str = "reset";

    /// How much the seed job loads: customers and disks with ids 1..=N, each disk's stock.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct Sizes {
        pub customers: u64,
        pub disks: u64,
        pub stock: u64,
    }

    impl Sizes {
        /// The original documents' sizes: what `app seed` loads without flags.
        pub const DEFAULT: Sizes = Sizes {
            customers: 1000,
            disks: 10_000,
            stock: 1_000_000,
        };

        /// The seed job's arguments (after the program name).
        pub fn args(&self, reset: bool) -> Vec<String> {
            let mut args = vec![
                SUBCOMMAND.to_owned(),
                format!("--{CUSTOMERS}"),
                self.customers.to_string(),
                format!("--{DISKS}"),
                self.disks.to_string(),
                format!("--{STOCK}"),
                self.stock.to_string(),
            ];
            if reset {
                args.push(format!("--{RESET}"));
            }
            args
        }
    }
}

/// Paths both sides name: the app's probes and nginx's own routes.
pub mod routes {
    /// Liveness: 200 while the process serves.
    pub const HEALTH: &str = "/health";
    /// Readiness: 200 when the database answers, else 503.
    pub const READY: &str = "/ready";
    /// nginx's own health route (not proxied).
    pub const NGINX_HEALTH: &str = "/nginx-health";
    /// nginx routes `/replicas/<name>/<path>` to one replica's `<path>`: lab's control
    /// requests (stress, per-replica health), left out of every measurement.
    pub const REPLICAS_PREFIX: &str = "/replicas/";
    /// Response header naming the replica that answered.
    pub const INSTANCE_HEADER: &str = "X-Instance";

    /// A path on one replica through nginx.
    pub fn on_replica(replica: &str, path: &str) -> String {
        format!("{REPLICAS_PREFIX}{replica}{path}")
    }

    /// True for lab's own requests, which no step counts.
    pub fn is_control(uri: &str) -> bool {
        uri.starts_with(REPLICAS_PREFIX) || uri.starts_with(NGINX_HEALTH)
    }
}

/// The binary-tree stress endpoints (one replica's `/start`, `/stop`, `/clear`, `/status`).
pub mod stress {
    pub const START: &str = "/start";
    pub const STOP: &str = "/stop";
    pub const CLEAR: &str = "/clear";
    pub const STATUS: &str = "/status";
    /// `POST /start` answers this when the tree starts growing.
    pub const STARTED: u16 = 202;

    /// The part of `POST /start`'s body the lab sends (the app accepts more fields).
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct StartBody {
        /// Share of the replica's memory cap the tree grows to, 1-95.
        pub memory_percent: u32,
        /// Seconds of the search phase, 5-3600.
        pub duration_seconds: u64,
    }
}

/// The Prometheus metrics a replica exports on `GET /metrics`, by name: the app writes them,
/// the lab's soak reads some, the Grafana dashboard queries them (the app's tests check both).
pub mod metrics {
    /// Counter: requests answered, by route pattern, method and status.
    pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
    /// Histogram (`_bucket`, `_sum`, `_count`): seconds from request to response, by route.
    pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
    /// Gauge: requests being served now, the scrape itself left out.
    pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
    /// Gauge: open database connections.
    pub const DB_POOL_CONNECTIONS: &str = "db_pool_connections";
    /// Gauge: open database connections not in use.
    pub const DB_POOL_IDLE_CONNECTIONS: &str = "db_pool_idle_connections";
    /// Gauge: the pool's cap (`DB_POOL_MAX`).
    pub const DB_POOL_MAX_CONNECTIONS: &str = "db_pool_max_connections";
    /// Counter: connections taken from the pool.
    pub const DB_POOL_ACQUIRES_TOTAL: &str = "db_pool_acquires_total";
    /// Counter: acquisitions that found no idle connection and waited.
    pub const DB_POOL_WAITS_TOTAL: &str = "db_pool_waits_total";
    /// Counter: seconds spent waiting for a connection.
    pub const DB_POOL_WAIT_SECONDS_TOTAL: &str = "db_pool_wait_seconds_total";
    /// Counter: statements that placed two or more orders together (Postgres).
    pub const DB_ORDER_BATCHES_TOTAL: &str = "db_order_batches_total";
    /// Counter: orders placed by those statements.
    pub const DB_ORDERS_BATCHED_TOTAL: &str = "db_orders_batched_total";
    /// Counter: statements that answered two or more reads of a disk by id (Postgres).
    pub const DB_READ_BATCHES_TOTAL: &str = "db_read_batches_total";
    /// Counter: reads of a disk by id answered by those statements.
    pub const DB_READS_BATCHED_TOTAL: &str = "db_reads_batched_total";
    /// Gauge: the process's resident set size, in bytes.
    pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
    /// Counter: the process's user and system CPU time, in seconds.
    pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
    /// Gauge: 1 while a stress test is building or searching its tree.
    pub const STRESS_RUNNING: &str = "stress_running";
    /// Gauge by `phase`: 1 for the stress test's current phase, 0 for the others.
    pub const STRESS_PHASE: &str = "stress_phase";
    /// Gauge: nodes in the stress tree.
    pub const STRESS_TREE_NODES: &str = "stress_tree_nodes";
    /// Gauge: heap bytes the stress tree holds (payloads and arena).
    pub const STRESS_TREE_BYTES: &str = "stress_tree_bytes";
    /// Gauge: memory target of the current or last stress test, in bytes.
    pub const STRESS_TARGET_BYTES: &str = "stress_target_bytes";
    /// Counter: tree searches since the process started.
    pub const STRESS_SEARCHES_TOTAL: &str = "stress_searches_total";

    /// Every metric above, in the order `/metrics` writes them.
    pub const ALL: &[&str] = &[
        HTTP_REQUESTS_TOTAL,
        HTTP_REQUEST_DURATION_SECONDS,
        HTTP_REQUESTS_IN_FLIGHT,
        DB_POOL_CONNECTIONS,
        DB_POOL_IDLE_CONNECTIONS,
        DB_POOL_MAX_CONNECTIONS,
        DB_POOL_ACQUIRES_TOTAL,
        DB_POOL_WAITS_TOTAL,
        DB_POOL_WAIT_SECONDS_TOTAL,
        DB_ORDER_BATCHES_TOTAL,
        DB_ORDERS_BATCHED_TOTAL,
        DB_READ_BATCHES_TOTAL,
        DB_READS_BATCHED_TOTAL,
        PROCESS_RESIDENT_MEMORY_BYTES,
        PROCESS_CPU_SECONDS_TOTAL,
        STRESS_RUNNING,
        STRESS_PHASE,
        STRESS_TREE_NODES,
        STRESS_TREE_BYTES,
        STRESS_TARGET_BYTES,
        STRESS_SEARCHES_TOTAL,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_args_name_every_size_once() {
        let args = seed::Sizes::DEFAULT.args(true);
        assert_eq!(
            args,
            [
                "seed",
                "--customers",
                "1000",
                "--disks",
                "10000",
                "--stock",
                "1000000",
                "--reset"
            ]
        );
        assert!(!seed::Sizes::DEFAULT
            .args(false)
            .contains(&"--reset".to_owned()));
    }

    #[test]
    fn control_paths_are_recognised() {
        assert!(routes::is_control(&routes::on_replica(
            "app1",
            stress::START
        )));
        assert!(routes::is_control("/nginx-health"));
        assert!(!routes::is_control("/disks/1"));
    }

    #[test]
    fn the_start_body_is_plain_json() {
        let body = stress::StartBody {
            memory_percent: 80,
            duration_seconds: 25,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"memory_percent":80,"duration_seconds":25}"#
        );
    }
}
