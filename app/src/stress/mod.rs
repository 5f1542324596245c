//! Tree stress endpoints: the memory/CPU stress test of the original documents, cgroup-aware.
//!
//! `POST /start` grows a binary search tree of nodes carrying payloads until the tree holds
//! the memory target, then searches it for `duration_seconds` so that a user can watch what
//! a memory or CPU cap does. The work runs on a dedicated `stress-run` thread (searches on
//! their own `stress-search-N` threads), never on the HTTP workers, and checks the stop flag
//! between every node and every batch of searches, so `POST /stop` takes effect within
//! milliseconds. `POST /clear` frees the tree and trims the allocator so RSS really drops.
//!
//! One [`StressManager`] per process owns the one test a replica may run; the HTTP workers
//! share it through `web::Data`.
//!
//! Auth: when `STRESS_TOKEN` is set (read once, at start-up), the five endpoints require
//! `Authorization: Bearer <token>` and answer 401 otherwise.
//!
//! The modules: `manager` (the HTTP side: token, start, stop, clear, status), `runner` (the
//! test's own thread), `state` (what the two share), `routes` (the handlers), `request` (the
//! start request and its validation), `tree`, `memory` and `logs`.

mod logs;
mod manager;
mod memory;
mod request;
mod routes;
mod runner;
mod state;
mod tree;

use actix_web::web;
use utoipa::OpenApi;

use crate::cgroup::LimitSource;
use crate::routes::endpoint::Endpoint;
pub use logs::{LogEntry, Operation, LOG_CAPACITY};
pub use manager::{ClearResponse, LogsResponse, StartResponse, StatusResponse, StressManager};
pub use request::{StartRequest, StressConfig};
pub use state::Phase;

/// The five stress routes; the paths the lab calls come from `contract::stress`.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::at(contract::stress::START).post(routes::start),
        Endpoint::at(contract::stress::STOP).post(routes::stop),
        Endpoint::at(contract::stress::STATUS).get(routes::status),
        Endpoint::at("/logs").get(routes::logs),
        Endpoint::at(contract::stress::CLEAR).post(routes::clear),
    ]
}

/// Registers [`endpoints`] with `manager`. Each method is its own route, without the shop's
/// JSON 405: a wrong method falls through to the app's JSON 404.
pub fn configure(manager: web::Data<StressManager>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(manager);
        for endpoint in endpoints() {
            let (path, routes) = endpoint.into_routes();
            for route in routes {
                cfg.route(path, route);
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(routes::start, routes::stop, routes::status, routes::logs, routes::clear),
    components(schemas(
        StartRequest,
        request::SearchThreads,
        request::SearchPreset,
        StressConfig,
        StartResponse,
        StatusResponse,
        ClearResponse,
        LogsResponse,
        LogEntry,
        Operation,
        Phase,
        LimitSource,
        crate::error::ErrorBody
    )),
    tags((name = "stress", description = "Tree stress test: grow a tree to a memory target, \
        then search it. When STRESS_TOKEN is set, every stress endpoint requires \
        `Authorization: Bearer <token>` (401 otherwise)."))
)]
struct StressApi;

/// The stress endpoints' OpenAPI description (merged into `/openapi.json` by the service).
pub fn openapi() -> utoipa::openapi::OpenApi {
    StressApi::openapi()
}
