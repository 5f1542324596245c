//! The five HTTP handlers. Each reads top to bottom: auth, input, manager call, response.
//! Blocking work (freeing a tree) runs on actix's blocking pool, never on a worker.

use std::future::{ready, Ready};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::logs::{Operation, LOG_CAPACITY};
use super::manager::{ClearResponse, LogsResponse, StartResponse, StatusResponse, StressManager};
use super::memory::{self, to_mib};
use super::request::StartRequest;
use crate::error::{deserialize_error, ApiError, ErrorBody};

/// How long `POST /stop` waits for the worker to acknowledge before answering anyway.
const STOP_WAIT: Duration = Duration::from_secs(1);
const DEFAULT_LOG_LIMIT: usize = 100;

/// Extractor that admits a request when it carries the stress bearer token (if one is set).
pub struct Authorized;

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        let result = match req.app_data::<web::Data<StressManager>>() {
            Some(manager) => manager.authorize(header).map(|()| Authorized),
            None => Err(ApiError::internal(
                "stress authorization",
                "StressManager is not registered as app data",
            )),
        };
        ready(result)
    }
}

/// Start a stress test: build a tree to the memory target, then search it.
#[utoipa::path(
    post,
    path = contract::stress::START,
    tag = "stress",
    security(("stress_token" = [])),
    request_body = StartRequest,
    responses(
        (status = 202, description = "Test started; the resolved configuration", body = StartResponse),
        (status = 400, description = "Body is not valid JSON", body = ErrorBody),
        (status = 401, description = "STRESS_TOKEN is set and the bearer token is missing or wrong", body = ErrorBody),
        (status = 409, description = "A test is already running", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "A field is out of range, of the wrong type or unknown, memory_mb and memory_percent are both or neither given, or the target exceeds the memory limit without allow_oom", body = ErrorBody),
    )
)]
pub async fn start(
    _auth: Authorized,
    manager: web::Data<StressManager>,
    body: web::Json<serde_json::Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    // Through a map: serde would otherwise also accept a JSON array as the struct's fields.
    let request = StartRequest::deserialize(Value::Object(body.into_inner()))
        .map_err(|e| deserialize_error(&e))?;
    let manager = manager.into_inner();
    let started: StartResponse = manager.start(&request)?;
    Ok(HttpResponse::Accepted().json(started))
}

/// Stop the running test (it keeps its tree until `/clear`); answers once it has stopped.
#[utoipa::path(
    post,
    path = contract::stress::STOP,
    tag = "stress",
    security(("stress_token" = [])),
    responses(
        (status = 200, description = "Stopped; the status after stopping", body = StatusResponse),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 409, description = "No test is running", body = ErrorBody),
    )
)]
pub async fn stop(
    _auth: Authorized,
    manager: web::Data<StressManager>,
) -> Result<HttpResponse, ApiError> {
    manager.request_stop()?;
    let deadline = Instant::now() + STOP_WAIT;
    while manager.is_running() && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(HttpResponse::Ok().json(manager.status()))
}

/// The test's phase, progress, memory and limits.
#[utoipa::path(
    get,
    path = contract::stress::STATUS,
    tag = "stress",
    security(("stress_token" = [])),
    responses(
        (status = 200, body = StatusResponse),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    )
)]
pub async fn status(_auth: Authorized, manager: web::Data<StressManager>) -> HttpResponse {
    HttpResponse::Ok().json(manager.status())
}

#[derive(Deserialize)]
struct LogsQuery {
    limit: Option<String>,
}

/// The newest log entries (oldest first); the service keeps at most 1000.
#[utoipa::path(
    get,
    path = "/logs",
    tag = "stress",
    security(("stress_token" = [])),
    params(
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000,
         description = "How many of the newest entries to return (1-1000, default 100)")
    ),
    responses(
        (status = 200, body = LogsResponse),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 422, description = "limit is not an integer from 1 to 1000", body = ErrorBody),
    )
)]
pub async fn logs(
    _auth: Authorized,
    manager: web::Data<StressManager>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit = parse_log_limit(req.query_string())?;
    let logs: LogsResponse = manager.logs(limit);
    Ok(HttpResponse::Ok().json(logs))
}

fn parse_log_limit(query: &str) -> Result<usize, ApiError> {
    let problem = || {
        ApiError::invalid_field(
            "limit",
            format!("must be an integer from 1 to {LOG_CAPACITY}"),
        )
    };
    let query = web::Query::<LogsQuery>::from_query(query).map_err(|_| problem())?;
    match &query.limit {
        None => Ok(DEFAULT_LOG_LIMIT),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LOG_CAPACITY).contains(n))
            .ok_or_else(problem),
    }
}

/// Free the tree and give its memory back to the kernel.
#[utoipa::path(
    post,
    path = contract::stress::CLEAR,
    tag = "stress",
    security(("stress_token" = [])),
    responses(
        (status = 200, description = "Tree freed (or there was none)", body = ClearResponse),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 409, description = "A test is running; POST /stop first", body = ErrorBody),
    )
)]
pub async fn clear(
    _auth: Authorized,
    manager: web::Data<StressManager>,
) -> Result<HttpResponse, ApiError> {
    let tree = manager.take_tree_for_clear()?;
    let nodes_freed = tree.as_ref().map_or(0, |t| t.len() as u64);
    let freed_bytes = tree.as_ref().map_or(0, |t| t.bytes());
    let (rss_before, rss_after) = web::block(move || {
        let before = memory::rss_bytes();
        drop(tree);
        memory::return_free_memory();
        (before, memory::rss_bytes())
    })
    .await
    .map_err(|e| ApiError::internal("freeing the stress tree", e))?;
    let message = format!(
        "freed {nodes_freed} nodes ({} MiB); RSS {} -> {} MiB",
        to_mib(freed_bytes),
        to_mib(rss_before),
        to_mib(rss_after)
    );
    manager.log(Operation::MemoryCleared, message.clone());
    Ok(HttpResponse::Ok().json(ClearResponse {
        message,
        instance: manager.instance().to_owned(),
        nodes_freed,
        freed_mb: to_mib(freed_bytes),
        rss_before_mb: to_mib(rss_before),
        rss_after_mb: to_mib(rss_after),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limit_defaults_and_bounds() {
        assert_eq!(parse_log_limit("").unwrap(), DEFAULT_LOG_LIMIT);
        assert_eq!(parse_log_limit("limit=7&x=1").unwrap(), 7);
        for bad in ["limit=0", "limit=1001", "limit=abc", "limit=-1"] {
            assert_eq!(
                parse_log_limit(bad).unwrap_err().code(),
                "validation_failed"
            );
        }
    }

    #[test]
    fn start_answers_the_status_the_lab_waits_for() {
        assert_eq!(
            HttpResponse::Accepted().finish().status().as_u16(),
            contract::stress::STARTED
        );
    }
}
