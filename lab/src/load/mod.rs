//! What a load is made of and what it leaves: the scenarios' URL files (generated from the
//! seeded data, validated before a driver sees them), nginx's access log for exactly one
//! step, the one percentile method, and a tiny HTTP client for lab's own control requests.

pub mod access_log;
pub mod http;
pub mod latency;
pub mod urls;
