//! The compose stack's services as the Docker Engine API sees them: each found as a container
//! by its compose project and service labels, with the caps the engine really applied, so the
//! sampler reads its CPU, throttling and memory like a native cgroup. Without the engine the
//! services keep the profile's caps and are left unmeasured, loudly.

use crate::config::LabConfig;
use crate::docker::ContainerSummary;
use crate::profile::Profile;
use crate::stack::info::{ServiceInfo, StackInfo};
use contract::DbKind;

/// Compose's label naming a container's project.
pub const PROJECT_LABEL: &str = crate::docker::PROJECT_LABEL;

pub fn unmeasured_warning(err: &anyhow::Error) -> String {
    format!(
        "containers are NOT measured (CPU, throttling, memory read as 0): {err:#}. \
         lab reads them from the Docker Engine API: run lab where the engine's socket is \
         (the lab container reaches it through engine-proxy; DOCKER_HOST=unix://... names \
         another socket)"
    )
}

/// The compose service that is the stack's database.
pub fn db_service(db: DbKind) -> &'static str {
    match db {
        DbKind::Mysql => "mysql",
        DbKind::Postgres | DbKind::Sqlite => "postgres",
    }
}

/// The services compose runs: caps from the profile (compose.yaml's defaults where it is
/// silent), then, where the engine can be asked, each service's container and the caps the
/// engine really applied.
pub fn services(
    config: &LabConfig,
    profile: &Profile,
    db: DbKind,
    project: Option<&str>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Vec<ServiceInfo>> {
    let mut services = profile_caps(profile)?;
    let Some(project) = project else {
        return Ok(services);
    };
    let found = config.engine().and_then(|engine| {
        let containers = engine.compose_containers(project)?;
        Ok((engine, containers))
    });
    let (engine, containers) = match found {
        Ok(found) => found,
        Err(err) => {
            warnings.push(unmeasured_warning(&err));
            return Ok(services);
        }
    };
    for service in &mut services {
        let compose_name = if service.name == "db" {
            db_service(db)
        } else {
            service.name.as_str()
        };
        let Some(container) = pick(&containers, compose_name) else {
            warnings.push(format!(
                "{}: no container of compose service {compose_name} in project {project}: not measured",
                service.name
            ));
            continue;
        };
        // By name: compose names are unique and stable across restarts, and the lab
        // container's engine proxy lets through this project's containers by name only.
        match engine.inspect(&container.name) {
            Ok(state) => {
                apply_container(service, &container.name, &state, warnings);
                service.restarts = state.restart_count;
                service.pid = state.pid.filter(|_| state.running);
                service.engine_socket = Some(engine.socket().to_path_buf());
            }
            Err(err) => warnings.push(format!("{}: {err:#}: not measured", service.name)),
        }
    }
    Ok(services)
}

/// Records a service's container, with the caps the engine applied; a cap that differs from
/// the profile's (a stack started under another profile) is reported and the engine's wins.
fn apply_container(
    service: &mut ServiceInfo,
    id: &str,
    state: &crate::docker::ContainerState,
    warnings: &mut Vec<String>,
) {
    let (cpus, memory, period) = (
        state.cpu_limit_cores,
        state.memory_limit_bytes,
        state.cpu_period_us,
    );
    let differs = (service.cpu_limit.unwrap_or(0.0) - cpus.unwrap_or(0.0)).abs() > 1e-6
        || service.memory_limit_bytes != memory
        || (period.is_some() && service.cpu_period_us != period);
    if differs {
        let show = |c: Option<f64>, p: Option<u64>, m: Option<u64>| {
            format!(
                "{} CPU per {} µs / {} bytes",
                c.map_or("no".into(), |c| c.to_string()),
                p.map_or("-".into(), |p| p.to_string()),
                m.map_or("no".into(), |m| m.to_string())
            )
        };
        warnings.push(format!(
            "{}: the container runs with {}, the profile says {}: the stack was started under another profile; figures use the container's caps",
            service.name,
            show(cpus, period, memory),
            show(service.cpu_limit, service.cpu_period_us, service.memory_limit_bytes),
        ));
    }
    service.container = Some(id.to_owned());
    service.cpu_limit = cpus;
    service.cpu_period_us = period;
    service.memory_limit_bytes = memory;
}

/// The caps compose.yaml gives each service from the profile (compose starts app2 whatever
/// the replica count; with one replica nginx sends it nothing).
fn profile_caps(profile: &Profile) -> anyhow::Result<Vec<ServiceInfo>> {
    let caps = profile.caps()?;
    Ok([
        ("app1", caps.app),
        ("app2", caps.app),
        ("nginx", caps.nginx),
        ("db", caps.db),
    ]
    .into_iter()
    .map(|(name, cap)| ServiceInfo::capped(name, cap))
    .collect())
}

/// The project a recorded stack's containers belong to, read back from one of them.
pub fn project_of(config: &LabConfig, info: &StackInfo) -> Option<String> {
    let engine = config.engine().ok()?;
    let id = info.services.iter().find_map(|s| s.container.clone())?;
    engine.inspect(&id).ok()?.labels.get(PROJECT_LABEL).cloned()
}

/// Which database the replicas use, from app1's DATABASE_URL (the lab container cannot
/// know which compose profile started the stack).
pub fn running_db(config: &LabConfig, project: &str) -> anyhow::Result<Option<DbKind>> {
    let engine = config.engine()?;
    let containers = engine.compose_containers(project)?;
    let Some(app) = pick(&containers, "app1") else {
        return Ok(None);
    };
    let state = engine.inspect(&app.name)?;
    Ok(state
        .env
        .iter()
        .find_map(|e| e.strip_prefix("DATABASE_URL="))
        .and_then(DbKind::of_url))
}

/// The running container of a compose service (a stopped one when none runs).
pub fn pick<'a>(containers: &'a [ContainerSummary], service: &str) -> Option<&'a ContainerSummary> {
    let matching: Vec<_> = containers
        .iter()
        .filter(|c| c.service.as_deref() == Some(service))
        .collect();
    matching
        .iter()
        .find(|c| c.state == "running")
        .or_else(|| matching.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_caps_come_from_the_profile_with_the_seed_defaults() {
        let profile = Profile {
            name: "p".into(),
            path: "p.env".into(),
            vars: [
                ("APP_CPUS".to_owned(), "0.5".to_owned()),
                ("APP_CPU_QUOTA_US".to_owned(), "50000".to_owned()),
            ]
            .into(),
        };
        let services = profile_caps(&profile).unwrap();
        assert_eq!(services[0].cpu_limit, Some(0.5));
        assert_eq!(services[2].memory_limit_bytes, Some(200 << 20));
    }

    #[test]
    fn the_engine_caps_win_over_the_profile_and_a_difference_is_reported() {
        let mut service = profile_caps(&Profile {
            name: "p".into(),
            path: "p.env".into(),
            vars: Default::default(),
        })
        .unwrap()
        .remove(0);
        let mut warnings = Vec::new();
        let state = |cpus: f64, period: u64, memory: u64| crate::docker::ContainerState {
            cpu_limit_cores: Some(cpus),
            cpu_period_us: Some(period),
            memory_limit_bytes: Some(memory),
            ..Default::default()
        };
        apply_container(
            &mut service,
            "abc",
            &state(0.3, 100_000, 400 << 20),
            &mut warnings,
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(service.container.as_deref(), Some("abc"));
        apply_container(
            &mut service,
            "abc",
            &state(1.0, 100_000, 1 << 30),
            &mut warnings,
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("app1: the container runs with 1 CPU"));
        // The same CPU over another period is another cap, and says so.
        apply_container(
            &mut service,
            "abc",
            &state(1.0, 10_000, 1 << 30),
            &mut warnings,
        );
        assert_eq!(warnings.len(), 2);
        assert!(warnings[1].contains("per 10000 µs"), "{warnings:?}");
        assert_eq!(service.cpu_period_us, Some(10_000));
        assert_eq!(service.cpu_limit, Some(1.0));
    }
}
