//! nginx's capped ceiling: the stack's own `nginx.conf`, rendered for the profile and run
//! under the profile's nginx caps, proxying to a trivial upstream that answers every path with
//! a disk-sized JSON body at no cost, driven by siege with the `by-id` shape at the step's
//! concurrency. It is what the stack could serve if the replicas and the database cost
//! nothing: a `by-id` step near it is nginx-bound by construction, and the CPU per request it
//! measures is nginx's own price of a proxied request. Measured once per profile and
//! concurrency, in the same run as the steps it is compared with, on either runtime:
//! - native: the same nginx binary in a cgroup of its own with the profile's caps, proxying
//!   to siege's ceiling nginx;
//! - compose: compose.yaml's `ceiling` services, the stack's nginx container (same image,
//!   caps, network, published the same way) proxying to an uncapped stub container
//!   (`nginx/ceiling-upstream.conf`), both removed once measured.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::ceiling::wait_until_answering;
use super::console::spinner;
use super::Bench;
use crate::load::siege::{self, SiegeCommand};
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::profile::{repo_root, Profile};
use crate::results::NginxCeilingPoint;
use crate::stack::cgroup::{self, Limits};
use crate::stack::compose::{ComposeCeiling, ComposeRuntime};
use crate::stack::nginx::{self, Placement};
use crate::stack::process::{self, CommandSpec};
use crate::stack::{CgroupPaths, StackInfo};
use contract::RuntimeKind;

impl Bench {
    /// nginx's capped ceiling for `profile` at `users`, measured once per pair.
    pub(super) fn nginx_ceiling_at(
        &mut self,
        profile: &Profile,
        stack: &StackInfo,
        sizes: SeedSizes,
        users: u32,
        secs: u64,
    ) -> anyhow::Result<Option<NginxCeilingPoint>> {
        if secs == 0 {
            return Ok(None);
        }
        if let Some(point) = self
            .run
            .nginx_ceiling
            .iter()
            .find(|c| c.profile == profile.name && c.users == users)
        {
            return Ok(Some(point.clone()));
        }
        let dir = self.run_dir.join("nginx-ceiling").join(&profile.name);
        let proxy = match stack.runtime {
            RuntimeKind::Native => {
                // The trivial upstream is siege's ceiling nginx.
                if self.ceiling_at(users, secs)?.is_none() {
                    return Ok(None);
                }
                let Some(upstream) = self.ceiling.as_ref().map(|c| c.addr.clone()) else {
                    return Ok(None);
                };
                Proxy::Native(CappedNginx::start(self, profile, &upstream, &dir)?)
            }
            RuntimeKind::Compose => {
                fs::create_dir_all(&dir)?;
                let compose = ComposeRuntime {
                    config: self.config.clone(),
                };
                Proxy::Compose(compose.start_ceiling(profile, stack.db)?)
            }
        };
        let urls_file = dir.join("urls.txt");
        fs::write(&urls_file, by_id_urls(sizes, proxy.base_url())?)?;
        let bar = spinner(format!(
            "nginx's capped ceiling ({}) at {users} users ({secs}s)",
            profile.name
        ));
        let before = proxy.cpu_ns();
        let outcome = siege::run(&SiegeCommand {
            bin: self.config.siege_bin(),
            rc: self.rc.clone(),
            urls: urls_file,
            users,
            secs,
        })?;
        let after = proxy.cpu_ns();
        bar.finish_and_clear();
        let requests_per_s = outcome.transactions_per_s(secs);
        let cpu_cores = match (before, after) {
            (Some(b), Some(a)) => {
                Some(a.saturating_sub(b) as f64 / 1e9 / outcome.wall_secs.max(1e-3))
            }
            _ => None,
        };
        let point = NginxCeilingPoint {
            profile: profile.name.clone(),
            users,
            requests_per_s,
            nginx_cpu_limit_cores: proxy.cpu_limit_cores(),
            nginx_cpu_cores: cpu_cores,
            nginx_cpu_us_per_request: cpu_cores
                .filter(|_| requests_per_s > 0.0)
                .map(|cores| cores * 1e6 / requests_per_s),
            wall_secs: outcome.wall_secs,
            siege_cpu_cores: outcome.cpu_seconds / outcome.wall_secs.max(1e-3),
        };
        eprintln!(
            "  nginx's capped ceiling ({}{}) at {users} users: {:.0} req/s{}",
            profile.name,
            if proxy.cpu_limit_cores().is_some() {
                ""
            } else {
                ", UNCAPPED"
            },
            point.requests_per_s,
            point
                .nginx_cpu_us_per_request
                .map_or(String::new(), |us| format!(
                    ", {us:.0} µs of nginx CPU per request"
                )),
        );
        drop(proxy);
        // Its access log (written, as the stack's nginx does, so the cost is the same) is
        // megabytes of trivial lines: not kept in the run folder.
        let _ = fs::remove_file(dir.join("access.json"));
        self.run.nginx_ceiling.push(point.clone());
        Ok(Some(point))
    }
}

/// The capped nginx of either runtime.
enum Proxy {
    Native(CappedNginx),
    Compose(ComposeCeiling),
}

impl Proxy {
    fn base_url(&self) -> &str {
        match self {
            Proxy::Native(nginx) => &nginx.base_url,
            Proxy::Compose(ceiling) => &ceiling.base_url,
        }
    }

    /// CPU it used so far; None when it cannot be read.
    fn cpu_ns(&self) -> Option<u64> {
        match self {
            Proxy::Native(nginx) => nginx.cpu_ns(),
            Proxy::Compose(ceiling) => ceiling.cpu_ns(),
        }
    }

    /// Its CPU cap in cores; None when it runs uncapped (cgroups not writable).
    fn cpu_limit_cores(&self) -> Option<f64> {
        match self {
            Proxy::Native(nginx) => nginx.cgroup.as_ref().map(|_| nginx.limits.cpus),
            Proxy::Compose(ceiling) => ceiling.cpu_limit_cores,
        }
    }
}

/// The stack's nginx under the profile's caps, in a cgroup of its own.
struct CappedNginx {
    child: Child,
    base_url: String,
    cgroup: Option<CgroupPaths>,
    limits: Limits,
}

impl CappedNginx {
    fn start(bench: &Bench, profile: &Profile, upstream: &str, dir: &Path) -> anyhow::Result<Self> {
        let run_dir = dir.join("run");
        fs::create_dir_all(&run_dir)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let error_log = dir.join("error.log");
        let placement = Placement {
            listen: listen.clone(),
            app1_addr: upstream.to_owned(),
            app2_addr: upstream.to_owned(),
            run_dir: run_dir.display().to_string(),
            log_dir: dir.display().to_string(),
            error_log: error_log.display().to_string(),
        };
        let template_path = repo_root().join("nginx.conf");
        let template = fs::read_to_string(&template_path)
            .with_context(|| format!("cannot read {}", template_path.display()))?;
        let conf = dir.join("nginx.conf");
        fs::write(
            &conf,
            nginx::render(&template, &nginx::variables(profile, &placement)?)?,
        )?;
        let limits = profile.caps()?.nginx;
        let cgroup = cgroup::detect_host(&bench.config.cgroup_root()).and_then(|hierarchy| {
            let id = format!("ceiling-{}-{}", std::process::id(), profile.name);
            cgroup::create(&hierarchy, &id, "nginx", &limits)
                .map_err(|err| log::warn!("nginx ceiling uncapped: {err:#}"))
                .ok()
        });
        let nginx_bin = bench.config.nginx_command();
        let conf_text = conf.display().to_string();
        let error_text = error_log.display().to_string();
        let spec = CommandSpec::new(
            &nginx_bin,
            &["-c", &conf_text, "-e", &error_text, "-g", "daemon off;"],
        );
        let child = process::spawn(&spec, cgroup.as_ref(), &dir.join("nginx.out"))?;
        let mut proxy = Self {
            child,
            base_url: format!("http://{listen}"),
            cgroup,
            limits,
        };
        wait_until_answering(
            &mut proxy.child,
            &proxy.base_url,
            contract::routes::NGINX_HEALTH,
            "the capped nginx for nginx's ceiling",
            &error_log,
        )?;
        Ok(proxy)
    }

    /// CPU used so far by every process of its cgroup.
    fn cpu_ns(&self) -> Option<u64> {
        self.cgroup
            .as_ref()
            .and_then(|paths| cgroup::usage(paths).cpu_usage_ns)
    }
}

impl Drop for CappedNginx {
    fn drop(&mut self) {
        process::signal_group(self.child.id(), libc::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            process::signal_group(self.child.id(), libc::SIGKILL);
            let _ = self.child.wait();
        }
        if let Some(paths) = &self.cgroup {
            let _ = cgroup::remove(paths);
        }
    }
}

/// The `by-id` shape (`siege/urls/by-id.txt`): the point lookups of the `read` scenario alone.
fn by_id_urls(sizes: SeedSizes, base_url: &str) -> anyhow::Result<String> {
    let read = urls::generate(Scenario::Read, sizes, base_url)?;
    let is_lookup = |line: &str| {
        line.strip_prefix("$(BASE)/disks/")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    };
    Ok(read
        .lines()
        .filter(|line| line.starts_with("BASE=") || is_lookup(line))
        .map(|line| format!("{line}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_drives_point_lookups_only() {
        let text = by_id_urls(SeedSizes::default(), "http://127.0.0.1:9").unwrap();
        let summary = urls::validate_text(&text, "by-id").unwrap();
        assert!(summary.requests > 600, "{text}");
        assert!(text
            .lines()
            .skip(1)
            .all(|l| l.starts_with("$(BASE)/disks/")));
        assert!(!text.contains('?'));
    }
}
