//! Logging through env_logger (`RUST_LOG`, default `info`): start-up, configuration summary,
//! warnings and errors. Requests are not logged unless `APP_ACCESS_LOG` is on (nginx logs
//! them in the lab), in which case `startup` adds actix's `Logger` middleware.

/// Installs the global logger once; later calls (tests) are ignored.
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env).try_init();
}

/// The access-log line format when `APP_ACCESS_LOG` is on: peer, request line, status, bytes,
/// seconds.
pub const ACCESS_LOG_FORMAT: &str = r#"%a "%r" %s %b %Ts"#;
