//! The `stress` scenario's side job: one replica grows its binary tree towards its memory cap
//! while siege runs, through the stress endpoints (paths and body from the `contract` crate).

use std::time::Duration;

use contract::routes::on_replica;
use contract::stress::{StartBody, CLEAR, START, STARTED, STOP};

use crate::load::http;

/// Share of the replica's memory cap its tree grows to.
const MEMORY_PERCENT: u32 = 80;
/// The replica that grows the tree.
const REPLICA: &str = "app1";

fn auth(token: Option<&str>) -> Vec<(&'static str, String)> {
    token
        .map(|t| vec![("Authorization", format!("Bearer {t}"))])
        .unwrap_or_default()
}

/// Makes the stress replica grow its tree towards its cap for the step (plus 5 s); returns
/// the HTTP status (0: no answer).
pub fn start(base_url: &str, step_secs: u64, token: Option<&str>) -> u16 {
    let body = StartBody {
        memory_percent: MEMORY_PERCENT,
        duration_seconds: (step_secs + 5).clamp(5, 3600),
    };
    let body = serde_json::to_string(&body).expect("a plain struct serializes");
    match http::request(
        base_url,
        "POST",
        &on_replica(REPLICA, START),
        &auth(token),
        Some(&body),
        Duration::from_secs(5),
    ) {
        Ok(response) => {
            if response.status != STARTED {
                eprintln!(
                    "lab bench: warning: starting the stress tree answered {}: {}",
                    response.status, response.body
                );
            }
            response.status
        }
        Err(err) => {
            eprintln!("lab bench: warning: cannot start the stress tree: {err:#}");
            0
        }
    }
}

/// Stops the search and frees the tree.
pub fn stop(base_url: &str, token: Option<&str>) {
    for action in [STOP, CLEAR] {
        let path = on_replica(REPLICA, action);
        if let Err(err) = http::request(
            base_url,
            "POST",
            &path,
            &auth(token),
            None,
            Duration::from_secs(5),
        ) {
            eprintln!("lab bench: warning: {path}: {err:#}");
        }
    }
}
