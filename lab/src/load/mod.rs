//! The load side: siege scenarios (URL files generated from the seeded data, validated before
//! siege sees them), the siege runner and its summary parser, nginx's access log for exactly
//! one step, and a tiny HTTP client for lab's own control requests.

pub mod access_log;
pub mod http;
pub mod siege;
pub mod urls;
