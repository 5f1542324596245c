//! siege's own ceiling: how many transactions per second siege drives on this machine
//! against a trivial, uncapped nginx route, once per concurrency. A step whose siege rate
//! comes close to it was limited by siege, not by the stack.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::console::spinner;
use super::Bench;
use crate::config::LabConfig;
use crate::load::http;
use crate::load::siege::{self, SiegeCommand};
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::results::CeilingPoint;

impl Bench {
    /// siege's ceiling at a concurrency, measured once per concurrency.
    pub(super) fn ceiling_at(&mut self, users: u32, secs: u64) -> anyhow::Result<Option<f64>> {
        if secs == 0 {
            return Ok(None);
        }
        if let Some(point) = self.run.siege_ceiling.iter().find(|c| c.users == users) {
            return Ok(Some(point.transactions_per_s));
        }
        if self.ceiling.is_none() {
            self.ceiling = Some(CeilingNginx::start(
                &self.config,
                &self.run_dir.join("ceiling"),
            )?);
        }
        let Some(nginx) = self.ceiling.as_ref() else {
            return Ok(None);
        };
        let bar = spinner(format!("siege ceiling at {users} users ({secs}s)"));
        let command = SiegeCommand {
            bin: self.config.siege_bin(),
            rc: self.rc.clone(),
            urls: nginx.urls_file.clone(),
            users,
            secs,
        };
        let mut outcome = siege::run(&command)?;
        if outcome.summary.is_none() {
            // siege 4.0.7 sometimes hangs on exit at high concurrency: one more try.
            eprintln!("  siege gave no summary for its ceiling at {users} users (hung: {}); retrying once", outcome.hung);
            outcome = siege::run(&command)?;
        }
        bar.finish_and_clear();
        let point = CeilingPoint {
            users,
            transactions_per_s: outcome.transactions_per_s(secs),
            wall_secs: outcome.wall_secs,
            siege_cpu_cores: outcome.cpu_seconds / outcome.wall_secs.max(1e-3),
            siege: outcome.summary,
        };
        eprintln!(
            "  siege ceiling at {users} users: {:.0} transactions/s ({:.2} cores)",
            point.transactions_per_s, point.siege_cpu_cores
        );
        let tps = point.transactions_per_s;
        self.run.siege_ceiling.push(point);
        self.run.siege_ceiling.sort_by_key(|c| c.users);
        Ok(Some(tps))
    }
}

/// What `GET /disks/{id}` answers, in size and shape (the bodies nginx relays matter to its cost).
const DISK_BODY: &str = r#"{"id":4242,"title":"Golden Rain","artist":"Miles Davis","genre":"jazz","year":1971,"price_cents":2990,"stock":100}"#;

/// A trivial nginx (one route answering 200, no caps, no log) on a free port: what siege can
/// drive on this machine when the server costs nothing.
pub(super) struct CeilingNginx {
    child: Child,
    urls_file: PathBuf,
    /// `127.0.0.1:<port>`: also the trivial upstream of nginx's capped ceiling.
    pub(super) addr: String,
}

impl CeilingNginx {
    fn start(config: &LabConfig, dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir.join("tmp"))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        fs::write(
            &conf,
            format!(
                "# siege's ceiling (and the trivial upstream of nginx's capped ceiling): every path\n\
                 # answers a disk-sized JSON body, uncapped, at no cost.\n\
                 worker_processes auto;\nworker_rlimit_nofile 20000;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 8192; }}\n\
                 http {{\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
                 \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{ default_type application/json; add_header X-Instance ceiling; return 200 '{DISK_BODY}'; }}\n  }}\n}}\n"
            ),
        )?;
        let child = Command::new(config.nginx_command())
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start nginx for siege's ceiling (`{}`: {e}): install Debian's `nginx-light` or set LAB_NGINX_BIN",
                    config.nginx_command().display()
                )
            })?;
        let mut nginx = Self {
            child,
            urls_file: dir.join("urls.txt"),
            addr: format!("127.0.0.1:{port}"),
        };
        let base = format!("http://127.0.0.1:{port}");
        wait_until_answering(
            &mut nginx.child,
            &base,
            "/",
            "nginx for siege's ceiling",
            &dir.join("error.log"),
        )?;
        // The read scenario's shape (paths do not matter: every path answers 200).
        let text = urls::generate(Scenario::Read, SeedSizes::default(), &base)?;
        fs::write(&nginx.urls_file, text)?;
        Ok(nginx)
    }
}

/// Waits up to 5 s for a just-started nginx to answer `path` on `base`; fails early, naming
/// its error log, when it exits.
pub(super) fn wait_until_answering(
    child: &mut Child,
    base: &str,
    path: &str,
    what: &str,
    error_log: &Path,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while http::request(base, "GET", path, &[], None, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited ({status}); see {}", error_log.display());
        }
        if Instant::now() > deadline {
            bail!("{what} did not answer on {base} within 5 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl Drop for CeilingNginx {
    fn drop(&mut self) {
        // SIGQUIT: nginx's graceful stop; then reap it.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::DISK_BODY;

    /// The compose ceiling's upstream (nginx/ceiling-upstream.conf) answers what the native one
    /// answers: nginx's cost per request depends on the body it relays.
    #[test]
    fn the_compose_ceiling_upstream_answers_the_same_body() {
        let conf = include_str!("../../../../nginx/ceiling-upstream.conf");
        assert!(
            conf.contains(&format!("return 200 '{DISK_BODY}';")),
            "nginx/ceiling-upstream.conf must answer {DISK_BODY}"
        );
        assert!(conf.contains("add_header X-Instance ceiling;"));
    }
}
