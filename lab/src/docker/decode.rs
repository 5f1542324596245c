//! JSON: private shapes with every field optional, mapped to the public types.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::types::*;

pub(super) type Labels = Option<BTreeMap<String, String>>;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawVersion {
    pub(super) version: Option<String>,
    pub(super) api_version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawInfo {
    pub(super) server_version: Option<String>,
    #[serde(rename = "NCPU")]
    pub(super) ncpu: Option<u32>,
    pub(super) mem_total: Option<u64>,
    pub(super) operating_system: Option<String>,
    pub(super) kernel_version: Option<String>,
    pub(super) cgroup_version: Option<String>,
    pub(super) cgroup_driver: Option<String>,
}

pub(super) fn decode<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> anyhow::Result<T> {
    serde_json::from_slice(body).with_context(|| format!("docker engine: decoding {what}"))
}

pub(super) fn engine_info_from(version: &[u8], info: &[u8]) -> anyhow::Result<EngineInfo> {
    let version: RawVersion = decode(version, "/version")?;
    let info: RawInfo = decode(info, "/info")?;
    Ok(EngineInfo {
        server_version: version.version.or(info.server_version).unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        cores: info.ncpu.unwrap_or(0),
        memory_total_bytes: info.mem_total.unwrap_or(0),
        operating_system: info.operating_system.unwrap_or_default(),
        kernel_version: info.kernel_version.unwrap_or_default(),
        cgroup_version: info.cgroup_version.filter(|v| !v.is_empty()),
        cgroup_driver: info.cgroup_driver.unwrap_or_default(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawSummary {
    pub(super) id: Option<String>,
    pub(super) names: Option<Vec<String>>,
    pub(super) state: Option<String>,
    pub(super) labels: Labels,
}

pub(super) fn strip_slash(name: &str) -> String {
    name.strip_prefix('/').unwrap_or(name).to_owned()
}

pub(super) fn containers_from(body: &[u8]) -> anyhow::Result<Vec<ContainerSummary>> {
    let raw: Option<Vec<RawSummary>> = decode(body, "/containers/json")?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let labels = c.labels.unwrap_or_default();
            ContainerSummary {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .first()
                    .map(|n| strip_slash(n))
                    .unwrap_or_default(),
                service: labels.get(SERVICE_LABEL).cloned(),
                state: c.state.unwrap_or_default(),
                labels,
            }
        })
        .collect())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawInspect {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) restart_count: Option<u32>,
    pub(super) state: Option<RawState>,
    pub(super) host_config: Option<RawHostConfig>,
    pub(super) config: Option<RawConfig>,
    pub(super) network_settings: Option<RawNetworkSettings>,
}

/// `NetworkSettings`: the container's address on each network it joined.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawNetworkSettings {
    pub(super) networks: Option<BTreeMap<String, RawEndpoint>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawEndpoint {
    #[serde(rename = "IPAddress")]
    pub(super) ip_address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawState {
    pub(super) status: Option<String>,
    pub(super) running: Option<bool>,
    #[serde(rename = "OOMKilled")]
    pub(super) oom_killed: Option<bool>,
    pub(super) pid: Option<i64>,
    pub(super) exit_code: Option<i64>,
    pub(super) started_at: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawHostConfig {
    pub(super) nano_cpus: Option<i64>,
    pub(super) cpu_quota: Option<i64>,
    pub(super) cpu_period: Option<i64>,
    pub(super) memory: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawConfig {
    pub(super) labels: Labels,
    pub(super) env: Option<Vec<String>>,
}

pub(super) fn cpu_limit_cores(host: &RawHostConfig) -> Option<f64> {
    let nano = host.nano_cpus.unwrap_or(0);
    if nano > 0 {
        return Some(nano as f64 / 1e9);
    }
    let quota = host.cpu_quota.unwrap_or(0);
    let period = match host.cpu_period.unwrap_or(0) {
        p if p > 0 => p,
        _ => DEFAULT_CFS_PERIOD_US,
    };
    (quota > 0).then(|| quota as f64 / period as f64)
}

pub(super) fn state_from(body: &[u8]) -> anyhow::Result<ContainerState> {
    let raw: RawInspect = decode(body, "/containers/{id}/json")?;
    let state = raw.state.unwrap_or_default();
    let host = raw.host_config.unwrap_or_default();
    let config = raw.config.unwrap_or_default();
    Ok(ContainerState {
        id: raw.id.unwrap_or_default(),
        name: strip_slash(raw.name.as_deref().unwrap_or_default()),
        status: state.status.unwrap_or_default(),
        running: state.running.unwrap_or(false),
        pid: state
            .pid
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p > 0),
        oom_killed: state.oom_killed.unwrap_or(false),
        restart_count: raw.restart_count.unwrap_or(0),
        started_at: state.started_at.unwrap_or_default(),
        exit_code: state.exit_code.unwrap_or(0),
        cpu_limit_cores: cpu_limit_cores(&host),
        cpu_period_us: cpu_limit_cores(&host).map(|_| match host.cpu_period.unwrap_or(0) {
            p if p > 0 && host.nano_cpus.unwrap_or(0) == 0 => p as u64,
            _ => DEFAULT_CFS_PERIOD_US as u64,
        }),
        memory_limit_bytes: host
            .memory
            .and_then(|m| u64::try_from(m).ok())
            .filter(|&m| m > 0),
        labels: config.labels.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        ip_addresses: ip_addresses(raw.network_settings),
    })
}

/// The container's IPv4 address on each network, by network name (none under
/// `network_mode: host` or before it starts).
fn ip_addresses(settings: Option<RawNetworkSettings>) -> Vec<String> {
    let networks = settings.and_then(|s| s.networks).unwrap_or_default();
    networks
        .into_values()
        .filter_map(|endpoint| endpoint.ip_address.filter(|ip| !ip.is_empty()))
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawStats {
    pub(super) read: Option<String>,
    pub(super) cpu_stats: Option<RawCpuStats>,
    pub(super) memory_stats: Option<RawMemoryStats>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawCpuStats {
    pub(super) cpu_usage: Option<RawCpuUsage>,
    pub(super) system_cpu_usage: Option<u64>,
    pub(super) online_cpus: Option<u32>,
    pub(super) throttling_data: Option<RawThrottling>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawCpuUsage {
    pub(super) total_usage: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawThrottling {
    pub(super) periods: Option<u64>,
    pub(super) throttled_periods: Option<u64>,
    pub(super) throttled_time: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawMemoryStats {
    pub(super) usage: Option<u64>,
    pub(super) max_usage: Option<u64>,
    pub(super) limit: Option<u64>,
    pub(super) stats: Option<RawMemoryDetail>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawMemoryDetail {
    pub(super) total_inactive_file: Option<u64>,
    pub(super) inactive_file: Option<u64>,
}

/// An RFC 3339 time after the epoch (the engine writes `0001-01-01T00:00:00Z` for "none").
pub(super) fn parse_time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(text?)
        .ok()?
        .with_timezone(&Utc);
    (time.timestamp() > 0).then_some(time)
}

pub(super) fn stats_from(body: &[u8]) -> anyhow::Result<ContainerStats> {
    let raw: RawStats = decode(body, "/containers/{id}/stats")?;
    let cpu = raw.cpu_stats.unwrap_or_default();
    let throttling = cpu.throttling_data.unwrap_or_default();
    let memory = raw.memory_stats.unwrap_or_default();
    let detail = memory.stats.unwrap_or_default();
    Ok(ContainerStats {
        read_at: parse_time(raw.read.as_deref()),
        cpu_usage_ns: cpu.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
        system_cpu_ns: cpu.system_cpu_usage,
        online_cpus: cpu.online_cpus.filter(|&n| n > 0),
        periods: throttling.periods.unwrap_or(0),
        throttled_periods: throttling.throttled_periods.unwrap_or(0),
        throttled_ns: throttling.throttled_time.unwrap_or(0),
        memory_usage_bytes: memory.usage.unwrap_or(0),
        memory_max_usage_bytes: memory.max_usage,
        memory_limit_bytes: memory.limit.filter(|&l| l > 0),
        inactive_file_bytes: detail.total_inactive_file.or(detail.inactive_file),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawEvent {
    pub(super) id: Option<String>,
    pub(super) status: Option<String>,
    #[serde(rename = "Action")]
    pub(super) action: Option<String>,
    #[serde(rename = "Actor")]
    pub(super) actor: Option<RawActor>,
    pub(super) time: Option<i64>,
    #[serde(rename = "timeNano")]
    pub(super) time_nano: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub(super) struct RawActor {
    #[serde(rename = "ID")]
    pub(super) id: Option<String>,
    pub(super) attributes: Labels,
}

/// Events are JSON objects one after another (one a line from the engine).
pub(super) fn events_from(body: &[u8]) -> anyhow::Result<Vec<Event>> {
    let mut events = Vec::new();
    for (index, raw) in serde_json::Deserializer::from_slice(body)
        .into_iter::<RawEvent>()
        .enumerate()
    {
        let raw = raw.with_context(|| format!("docker engine: decoding event {}", index + 1))?;
        let actor = raw.actor.unwrap_or_default();
        events.push(Event {
            id: actor.id.or(raw.id).unwrap_or_default(),
            action: raw.action.or(raw.status).unwrap_or_default(),
            time_nano: raw
                .time_nano
                .or_else(|| raw.time.map(|t| t.saturating_mul(1_000_000_000)))
                .unwrap_or(0),
            attributes: actor.attributes.unwrap_or_default(),
        });
    }
    Ok(events)
}
