//! The stress test's log: the original documents' operation names, bounded to the newest
//! entries.
//!
//! Every entry is also written to the service log (`log` crate) so that it survives the ring.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::memory;

/// Entries kept in memory; older ones are dropped (a long test never grows the log unbounded).
pub const LOG_CAPACITY: usize = 1000;

/// What happened; the names are the original documents', so existing scripts can grep for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    StressTestStart,
    BuildTreeStart,
    BuildTreeTarget,
    BuildTreeComplete,
    SearchTreeStart,
    SearchTreeProgress,
    SearchTreeComplete,
    StressTestComplete,
    StressTestStopped,
    StressTestError,
    MemoryCleared,
}

/// One log entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogEntry {
    /// When it happened (UTC, RFC 3339).
    pub timestamp: DateTime<Utc>,
    pub operation: Operation,
    /// The process's resident memory at that moment, in MiB.
    pub rss_mb: f64,
    pub message: String,
}

/// A ring of the newest [`LOG_CAPACITY`] entries.
#[derive(Debug, Default)]
pub struct LogRing {
    entries: VecDeque<LogEntry>,
    total: u64,
}

impl LogRing {
    pub fn push(&mut self, operation: Operation, message: String) {
        let entry = LogEntry {
            timestamp: Utc::now(),
            operation,
            rss_mb: memory::to_mib(memory::rss_bytes()),
            message,
        };
        log::info!(
            target: "stress",
            "{:?} rss_mb={} {}",
            entry.operation,
            entry.rss_mb,
            entry.message
        );
        if self.entries.len() == LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        self.total += 1;
    }

    /// The newest `limit` entries, oldest first.
    pub fn newest(&self, limit: usize) -> Vec<LogEntry> {
        let skip = self.entries.len().saturating_sub(limit);
        self.entries.iter().skip(skip).cloned().collect()
    }

    /// Entries ever written, including those the ring has dropped.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_only_the_newest_entries_in_order() {
        let mut ring = LogRing::default();
        for i in 0..LOG_CAPACITY + 5 {
            ring.push(Operation::SearchTreeProgress, i.to_string());
        }
        assert_eq!(ring.newest(usize::MAX).len(), LOG_CAPACITY);
        assert_eq!(ring.total(), (LOG_CAPACITY + 5) as u64);
        let newest = ring.newest(3);
        let messages: Vec<&str> = newest.iter().map(|e| e.message.as_str()).collect();
        let last = LOG_CAPACITY + 4;
        assert_eq!(
            messages,
            [
                (last - 2).to_string(),
                (last - 1).to_string(),
                last.to_string()
            ]
        );
        assert_eq!(ring.newest(5000).len(), LOG_CAPACITY);
    }
}
