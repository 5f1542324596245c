//! `POST /start`'s body and its validation.
//!
//! The body is parsed leniently (each field as raw JSON, unknown fields refused) so that every
//! problem is reported in one 422 naming each offending field and its range; only broken JSON
//! is a 400 (see `error::json_config`). [`StartRequest::validate`] turns it into a
//! [`StressConfig`]: once one exists, it is valid and fully resolved (defaults applied, target
//! in bytes, threads counted).
//!
//! Memory target and limit: the target is the tree's own memory, which adds to what the
//! process already holds. A target is refused unless `allow_oom` when it exceeds the
//! *headroom*: the limit minus the memory the process keeps without the tree (current RSS
//! minus any previous tree, which a new test frees first). Checking against the bare limit
//! would accept targets that the kernel kills anyway once the baseline is added. Without a
//! cgroup limit, the host's RAM is shared with other processes, so the headroom is also
//! capped by the host's available memory.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::memory::{from_mib, to_mib};
use crate::cgroup::{LimitSource, MemoryLimit};
use crate::error::ApiError;

pub const MEMORY_MB: RangeInclusive<u64> = 10..=10_000;
pub const MEMORY_PERCENT: RangeInclusive<f64> = 1.0..=95.0;
pub const DURATION_SECONDS: RangeInclusive<u64> = 5..=3600;
pub const LOG_INTERVAL_SEC: RangeInclusive<u64> = 1..=60;
pub const PAYLOAD_KB: RangeInclusive<u64> = 1..=1024;
pub const SEARCH_PAUSE_MS: RangeInclusive<u64> = 0..=1000;
/// Search threads allowed per CPU the process may use.
pub const THREADS_PER_CPU: usize = 4;

pub const DEFAULT_DURATION_SECONDS: u64 = 60;
pub const DEFAULT_LOG_INTERVAL_SEC: u64 = 5;
pub const DEFAULT_PAYLOAD_KB: u64 = 100;
/// The original documents' pace: one thread, a batch of 100 searches, then 50 ms of sleep.
pub const DEFAULT_SEARCH_THREADS: usize = 1;
pub const DEFAULT_SEARCH_PAUSE_MS: u64 = 50;

/// Body of `POST /start`. Give exactly one of `memory_mb` and `memory_percent`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"memory_mb": 300, "duration_seconds": 60}))]
pub struct StartRequest {
    /// Memory the tree should hold, in MiB (10-10000).
    #[schema(value_type = Option<u64>, minimum = 10, maximum = 10000)]
    pub memory_mb: Option<Value>,
    /// Memory the tree should hold, as a percentage (1-95) of the cgroup memory limit, or of
    /// the host's RAM when no limit is set.
    #[schema(value_type = Option<f64>, minimum = 1, maximum = 95)]
    pub memory_percent: Option<Value>,
    /// Length of the search phase in seconds (5-3600, default 60).
    #[schema(value_type = Option<u64>, minimum = 5, maximum = 3600, default = 60)]
    pub duration_seconds: Option<Value>,
    /// Seconds between SEARCH_TREE_PROGRESS log entries (1-60, default 5).
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 60, default = 5)]
    pub log_interval_sec: Option<Value>,
    /// Payload of each tree node in KiB (1-1024, default 100).
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 1024, default = 100)]
    pub payload_kb: Option<Value>,
    /// CPU knob: threads searching the tree during the search phase, from 1 to 4 x the CPUs
    /// the process may use (default 1), or `"max"`: one thread per available CPU with no
    /// pause, which saturates the CPUs (search_pause_ms must then be omitted or 0).
    #[schema(value_type = Option<SearchThreads>)]
    pub search_threads: Option<Value>,
    /// CPU knob: each search thread sleeps this many milliseconds after every batch of 100
    /// searches (0-1000; default 50, the seed's pace; 0 means busy).
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 1000, default = 50)]
    pub search_pause_ms: Option<Value>,
    /// Accept a target above the memory headroom: the explicit way to provoke an OOM kill.
    #[schema(value_type = Option<bool>, default = false)]
    pub allow_oom: Option<Value>,
}

/// `search_threads`: a thread count (1 to 4 x the available CPUs) or `"max"`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SearchThreads {
    Count(u32),
    Preset(SearchPreset),
}

/// The CPU knob's preset.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchPreset {
    Max,
}

/// What the process may use, measured when a test is requested.
#[derive(Debug, Clone, Copy)]
pub struct Environment {
    pub available_cpus: usize,
    pub limit: MemoryLimit,
    /// Memory the process holds besides the tree it is about to free.
    pub base_rss_bytes: u64,
    /// Bytes a new tree may take before the process reaches its limit.
    pub headroom_bytes: u64,
}

/// A validated, fully resolved stress test configuration.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StressConfig {
    /// As requested (absent when memory_percent was given).
    pub memory_mb: Option<u64>,
    /// As requested (absent when memory_mb was given).
    pub memory_percent: Option<f64>,
    /// The tree's memory target in MiB, resolved from memory_mb or memory_percent.
    pub target_mb: f64,
    #[serde(skip)]
    pub target_bytes: u64,
    pub duration_seconds: u64,
    pub log_interval_sec: u64,
    pub payload_kb: u64,
    /// Threads searching during the search phase ("max" resolved to a number).
    pub search_threads: usize,
    /// Sleep after every batch of 100 searches, per thread.
    pub search_pause_ms: u64,
    pub allow_oom: bool,
}

/// Collects every field problem before answering.
#[derive(Default)]
struct Problems(BTreeMap<String, String>);

impl Problems {
    fn add(&mut self, field: &str, problem: String) {
        self.0.insert(field.to_owned(), problem);
    }

    fn integer(
        &mut self,
        field: &str,
        value: &Option<Value>,
        range: RangeInclusive<u64>,
    ) -> Option<u64> {
        let value = value.as_ref()?;
        match value.as_u64().filter(|v| range.contains(v)) {
            Some(v) => Some(v),
            None => {
                self.add(
                    field,
                    format!(
                        "must be an integer from {} to {}, got {value}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }
}

impl StartRequest {
    pub fn validate(&self, env: &Environment) -> Result<StressConfig, ApiError> {
        let mut problems = Problems::default();
        let memory_mb = problems.integer("memory_mb", &self.memory_mb, MEMORY_MB);
        let memory_percent = self.memory_percent.as_ref().and_then(|value| {
            let percent = value.as_f64().filter(|p| MEMORY_PERCENT.contains(p));
            if percent.is_none() {
                problems.add(
                    "memory_percent",
                    format!("must be a number from 1 to 95, got {value}"),
                );
            }
            percent
        });
        if self.memory_mb.is_some() == self.memory_percent.is_some() {
            let problem = "give exactly one of memory_mb (10-10000) or memory_percent (1-95)";
            problems.add("memory_mb", problem.to_owned());
            problems.add("memory_percent", problem.to_owned());
        }
        let duration_seconds =
            problems.integer("duration_seconds", &self.duration_seconds, DURATION_SECONDS);
        let log_interval_sec =
            problems.integer("log_interval_sec", &self.log_interval_sec, LOG_INTERVAL_SEC);
        let payload_kb = problems.integer("payload_kb", &self.payload_kb, PAYLOAD_KB);
        let search_pause_ms =
            problems.integer("search_pause_ms", &self.search_pause_ms, SEARCH_PAUSE_MS);
        let threads = self.search_threads(env.available_cpus, &mut problems);
        if matches!(threads, Some(Threads::Max)) && search_pause_ms.is_some_and(|p| p > 0) {
            problems.add(
                "search_pause_ms",
                "must be 0 or omitted when search_threads is \"max\" (max means no pause)"
                    .to_owned(),
            );
        }
        let allow_oom = match &self.allow_oom {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                problems.add("allow_oom", format!("must be true or false, got {other}"));
                false
            }
        };
        if !problems.0.is_empty() {
            return Err(ApiError::validation(problems.0));
        }

        let (target_bytes, field) = match (memory_mb, memory_percent) {
            (Some(mb), _) => (from_mib(mb as f64), "memory_mb"),
            (_, Some(percent)) => (
                (env.limit.bytes as f64 * percent / 100.0) as u64,
                "memory_percent",
            ),
            // Unreachable after the checks above; answered as a validation error anyway.
            (None, None) => return Err(ApiError::invalid_field("memory_mb", "missing")),
        };
        if !allow_oom && target_bytes > env.headroom_bytes {
            return Err(ApiError::invalid_field(
                field,
                over_limit_message(target_bytes, env),
            ));
        }
        let (search_threads, default_pause) = match threads {
            None => (DEFAULT_SEARCH_THREADS, DEFAULT_SEARCH_PAUSE_MS),
            Some(Threads::Count(n)) => (n, DEFAULT_SEARCH_PAUSE_MS),
            Some(Threads::Max) => (env.available_cpus, 0),
        };
        Ok(StressConfig {
            memory_mb,
            memory_percent,
            target_mb: to_mib(target_bytes),
            target_bytes,
            duration_seconds: duration_seconds.unwrap_or(DEFAULT_DURATION_SECONDS),
            log_interval_sec: log_interval_sec.unwrap_or(DEFAULT_LOG_INTERVAL_SEC),
            payload_kb: payload_kb.unwrap_or(DEFAULT_PAYLOAD_KB),
            search_threads,
            search_pause_ms: search_pause_ms.unwrap_or(default_pause),
            allow_oom,
        })
    }

    fn search_threads(&self, available_cpus: usize, problems: &mut Problems) -> Option<Threads> {
        let value = self.search_threads.as_ref()?;
        let most = available_cpus * THREADS_PER_CPU;
        let parsed = SearchThreads::deserialize(value).ok();
        let threads = match parsed {
            Some(SearchThreads::Preset(SearchPreset::Max)) => Some(Threads::Max),
            Some(SearchThreads::Count(n)) => Some(n as usize)
                .filter(|n| (1..=most).contains(n))
                .map(Threads::Count),
            None => None,
        };
        if threads.is_none() {
            problems.add(
                "search_threads",
                format!(
                    "must be an integer from 1 to {most} ({THREADS_PER_CPU} x {available_cpus} \
                     available CPUs) or \"max\", got {value}"
                ),
            );
        }
        threads
    }
}

enum Threads {
    Count(usize),
    Max,
}

fn over_limit_message(target_bytes: u64, env: &Environment) -> String {
    let source = match env.limit.source {
        LimitSource::CgroupV2 => "cgroup v2 memory.max",
        LimitSource::CgroupV1 => "cgroup v1 memory.limit_in_bytes",
        LimitSource::HostRam => "host RAM",
    };
    format!(
        "target {} MiB exceeds the {} MiB this process can still use (limit {} MiB from {source}, \
         {} MiB already resident); set allow_oom: true to provoke an OOM kill on purpose",
        to_mib(target_bytes),
        to_mib(env.headroom_bytes),
        to_mib(env.limit.bytes),
        to_mib(env.base_rss_bytes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn env(limit_mb: u64, source: LimitSource) -> Environment {
        Environment {
            available_cpus: 2,
            limit: MemoryLimit {
                bytes: limit_mb * MIB,
                source,
            },
            base_rss_bytes: 10 * MIB,
            headroom_bytes: (limit_mb - 10) * MIB,
        }
    }

    fn request(body: Value) -> StartRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn defaults_are_the_original_documents() {
        let config = request(serde_json::json!({"memory_mb": 300}))
            .validate(&env(24_000, LimitSource::HostRam))
            .unwrap();
        assert_eq!(config.target_bytes, 300 * MIB);
        assert_eq!(config.duration_seconds, 60);
        assert_eq!(config.log_interval_sec, 5);
        assert_eq!(config.payload_kb, 100);
        assert_eq!(config.search_threads, 1);
        assert_eq!(config.search_pause_ms, 50);
        assert!(!config.allow_oom);
    }

    #[test]
    fn percent_is_a_share_of_the_limit_and_max_saturates_the_cpus() {
        let config = request(serde_json::json!({"memory_percent": 50, "search_threads": "max"}))
            .validate(&env(300, LimitSource::CgroupV1))
            .unwrap();
        assert_eq!(config.target_mb, 150.0);
        assert_eq!(config.search_threads, 2);
        assert_eq!(config.search_pause_ms, 0);
    }

    #[test]
    fn a_target_above_the_headroom_needs_allow_oom() {
        let err = request(serde_json::json!({"memory_mb": 400}))
            .validate(&env(300, LimitSource::CgroupV1))
            .unwrap_err();
        assert!(err.fields()["memory_mb"].contains("allow_oom"), "{err}");
        let config = request(serde_json::json!({"memory_mb": 400, "allow_oom": true}))
            .validate(&env(300, LimitSource::CgroupV1))
            .unwrap();
        assert_eq!(config.target_mb, 400.0);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = request(serde_json::json!({
            "memory_mb": 5, "memory_percent": "x", "duration_seconds": 4, "log_interval_sec": 61,
            "payload_kb": 0, "search_threads": 9, "search_pause_ms": -1, "allow_oom": "yes"
        }))
        .validate(&env(300, LimitSource::CgroupV1))
        .unwrap_err();
        let fields: Vec<&str> = err.fields().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "allow_oom",
                "duration_seconds",
                "log_interval_sec",
                "memory_mb",
                "memory_percent",
                "payload_kb",
                "search_pause_ms",
                "search_threads"
            ]
        );
        assert!(err.fields()["search_threads"].contains("from 1 to 8"));
    }

    /// The lab sends `contract::stress::StartBody`; a renamed or retyped field there fails here.
    #[test]
    fn the_labs_start_body_is_a_valid_start_request() {
        let body = contract::stress::StartBody {
            memory_percent: 80,
            duration_seconds: 25,
        };
        let json = serde_json::to_string(&body).unwrap();
        let request: StartRequest = serde_json::from_str(&json).expect("the lab's start body");
        let config = request
            .validate(&env(300, LimitSource::CgroupV2))
            .expect("a valid start request");
        assert_eq!(config.memory_percent, Some(80.0));
        assert_eq!(config.target_mb, 240.0);
        assert_eq!(config.duration_seconds, 25);
    }
}
