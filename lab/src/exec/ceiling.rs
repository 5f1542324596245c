//! The two ceilings a step is compared with, each measured once per concurrency in the same
//! run as the steps:
//! - the load driver's own: what it drives on this machine against a trivial, uncapped nginx
//!   route. A step whose rate comes close to it was limited by the driver, not the stack.
//! - nginx's capped ceiling: the stack's nginx.conf under the profile's nginx caps, proxying
//!   to an upstream that costs nothing, driven with the `by-id` shape. A `by-id` step near it
//!   is nginx-bound by construction, and the CPU per request it measures is nginx's own
//!   price of a proxied request. The stack's handle starts the capped nginx its runtime
//!   places (natively a cgroup, under compose the `ceiling` services).

use std::fs;
use std::path::{Path, PathBuf};

use super::{run, Driver, Load, Offered};
use crate::config::LabConfig;
use crate::console::spinner;
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::profile::Profile;
use crate::results::{CeilingPoint, NginxCeilingPoint};
use crate::stack::ceiling::TrivialNginx;
use crate::stack::Handle;
use contract::profile::Transport;

/// The ceilings of one run: the trivial nginx (started on first need) and where files go.
pub struct Ceilings {
    config: LabConfig,
    run_dir: PathBuf,
    /// Seconds per measurement; 0 measures nothing.
    secs: u64,
    trivial: Option<TrivialNginx>,
}

impl Ceilings {
    pub fn new(config: &LabConfig, run_dir: &Path, secs: u64) -> Self {
        Self {
            config: config.clone(),
            run_dir: run_dir.to_path_buf(),
            secs,
            trivial: None,
        }
    }

    fn trivial(&mut self) -> anyhow::Result<&TrivialNginx> {
        if self.trivial.is_none() {
            let dir = self.run_dir.join("ceiling");
            self.trivial = Some(TrivialNginx::start(&self.config, &dir)?);
        }
        Ok(self.trivial.as_ref().expect("just started"))
    }

    /// The trivial nginx's address as the stack's nginx reaches its replicas under `profile`
    /// (TCP or a Unix socket): its ceiling pays for the same path.
    fn trivial_upstream(&mut self, profile: &Profile) -> anyhow::Result<String> {
        let trivial = self.trivial()?;
        Ok(match profile.upstream_transport()? {
            Transport::Tcp => trivial.addr.clone(),
            Transport::Unix => trivial.unix_addr.clone(),
        })
    }

    /// The driver's ceiling at `users`, measured once per concurrency into `points`.
    pub fn driver_at(
        &mut self,
        driver: &dyn Driver,
        users: u32,
        points: &mut Vec<CeilingPoint>,
    ) -> anyhow::Result<Option<f64>> {
        if self.secs == 0 {
            return Ok(None);
        }
        if let Some(point) = points.iter().find(|c| c.users == users) {
            return Ok(Some(point.transactions_per_s));
        }
        let secs = self.secs;
        let base = self.trivial()?.base_url();
        // The read scenario's shape (paths do not matter: every path answers 200).
        let urls_file = self.run_dir.join("ceiling").join("urls.txt");
        fs::write(
            &urls_file,
            urls::generate(Scenario::Read, SeedSizes::default(), &base)?,
        )?;
        let bar = spinner(format!(
            "{} ceiling at {users} users ({secs}s)",
            driver.name()
        ));
        let load = Load {
            urls: urls_file,
            offered: Offered::Users(users),
            secs,
        };
        let mut outcome = run(driver, &load)?;
        if !outcome.reported() {
            // siege 4.0.7 sometimes hangs on exit at high concurrency: one more try.
            eprintln!(
                "  {} gave no summary for its ceiling at {users} users (hung: {}); retrying once",
                driver.name(),
                outcome.hung
            );
            outcome = run(driver, &load)?;
        }
        bar.finish_and_clear();
        let point = CeilingPoint {
            users,
            transactions_per_s: outcome.transactions_per_s(secs),
            wall_secs: outcome.wall_secs,
            driver_cpu_cores: outcome.cpu_cores(),
            siege: outcome.siege,
        };
        eprintln!(
            "  {} ceiling at {users} users: {:.0} transactions/s ({:.2} cores)",
            driver.name(),
            point.transactions_per_s,
            point.driver_cpu_cores
        );
        let tps = point.transactions_per_s;
        points.push(point);
        points.sort_by_key(|c| c.users);
        Ok(Some(tps))
    }

    /// nginx's capped ceiling for `profile` at `users`, measured once per pair into `points`.
    pub fn nginx_at(
        &mut self,
        driver: &dyn Driver,
        stack: &dyn Handle,
        profile: &Profile,
        sizes: SeedSizes,
        users: u32,
        points: &mut Vec<NginxCeilingPoint>,
    ) -> anyhow::Result<Option<NginxCeilingPoint>> {
        if self.secs == 0 {
            return Ok(None);
        }
        if let Some(point) = points
            .iter()
            .find(|c| c.profile == profile.name && c.users == users)
        {
            return Ok(Some(point.clone()));
        }
        let dir = self.run_dir.join("nginx-ceiling").join(&profile.name);
        fs::create_dir_all(&dir)?;
        let upstream = self.trivial_upstream(profile)?;
        let proxy = stack.nginx_ceiling(profile, &upstream, &dir)?;
        let urls_file = dir.join("urls.txt");
        fs::write(&urls_file, by_id_urls(sizes, proxy.base_url())?)?;
        let secs = self.secs;
        let bar = spinner(format!(
            "nginx's capped ceiling ({}) at {users} users ({secs}s)",
            profile.name
        ));
        let before = proxy.cpu_ns();
        let outcome = run(
            driver,
            &Load {
                urls: urls_file,
                offered: Offered::Users(users),
                secs,
            },
        )?;
        let after = proxy.cpu_ns();
        bar.finish_and_clear();
        let requests_per_s = outcome.transactions_per_s(secs);
        let cpu_cores = before
            .zip(after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / 1e9 / outcome.wall_secs.max(1e-3));
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
            driver_cpu_cores: outcome.cpu_cores(),
        };
        eprintln!(
            "  nginx's capped ceiling ({}{}) at {users} users: {:.0} req/s{}",
            profile.name,
            if point.nginx_cpu_limit_cores.is_some() {
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
        points.push(point.clone());
        Ok(Some(point))
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
