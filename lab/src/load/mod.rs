//! The load side: siege scenarios (URL files generated from the seeded data, validated before
//! siege sees them), the siege runner and its summary parser, nginx's access log for exactly
//! one step, the one percentile method, the step runner `bench` and `fault` share, and a tiny
//! HTTP client for lab's own control requests.

pub mod access_log;
pub mod http;
pub mod latency;
pub mod siege;
pub mod step;
pub mod urls;
