//! The contract between the lab and the app, written once. The lab starts the app's
//! processes and drives them over HTTP but shares no other code with it; everything the two
//! must agree on lives here, so a rename fails to compile on one side or fails a test on the
//! other (the app's tests parse [`seed::Sizes::args`] with its own command line and
//! [`stress::StartBody`] with its own request type).

pub mod kinds;
pub mod profile;

pub use kinds::{DbKind, RuntimeKind, StackState};

/// Environment variables the app reads and the lab (or compose) sets.
pub mod env {
    /// `postgres://…`, `mysql://…` or `sqlite://…`.
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// Address the replica binds.
    pub const APP_LISTEN: &str = "APP_LISTEN";
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
    fn the_seed_defaults_are_the_profile_tables() {
        let d = seed::Sizes::DEFAULT;
        for (key, value) in [
            (env::SEED_CUSTOMERS, d.customers),
            (env::SEED_DISKS, d.disks),
            (env::SEED_STOCK, d.stock),
        ] {
            assert_eq!(profile::default_of(key), Some(value.to_string().as_str()));
        }
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
