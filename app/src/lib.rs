//! The record-shop API and the tree stress endpoints: the service that the lab puts under load.
//! It knows nothing of benchmarks.

pub mod cgroup;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod stress;
pub mod telemetry;
