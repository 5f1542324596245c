//! The nginx processes a ceiling is measured against, placed by the stack's runtime:
//! - [`TrivialNginx`]: an uncapped nginx whose every path answers a disk-sized JSON body at
//!   no cost. The load driver's own ceiling is measured against it, and natively it is the
//!   trivial upstream of nginx's capped ceiling.
//! - [`CappedNginx`]: the stack's own `nginx.conf` under a profile's nginx caps, proxying to a
//!   trivial upstream: what the stack could serve if the replicas and the database cost
//!   nothing, and nginx's own CPU price of a proxied request. Natively ([`CgroupNginx`]) the
//!   same binary in a cgroup of its own; under compose, compose.yaml's `ceiling` services
//!   (`compose::ComposeCeiling`). A stack's `Handle` starts the one that fits.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::cgroup::{self, Limits};
use super::info::CgroupPaths;
use super::nginx::{self, Placement};
use super::process::{self, CommandSpec};
use crate::config::LabConfig;
use crate::load::http;
use crate::profile::Profile;

/// What `GET /disks/{id}` answers, in size and shape (the bodies nginx relays matter to its
/// cost).
pub const DISK_BODY: &str = r#"{"id":4242,"title":"Golden Rain","artist":"Miles Davis","genre":"jazz","year":1971,"price_cents":2990,"stock":100}"#;

/// nginx under a profile's caps in front of an upstream that costs nothing.
pub trait CappedNginx {
    /// `http://127.0.0.1:<port>`.
    fn base_url(&self) -> &str;
    /// CPU it used so far, ns; None when it cannot be read.
    fn cpu_ns(&self) -> Option<u64>;
    /// Its CPU cap in cores; None when it runs uncapped (cgroups not writable).
    fn cpu_limit_cores(&self) -> Option<f64>;
}

/// An uncapped nginx (one route answering 200, no log) on a free port: what a load driver
/// can drive on this machine when the server costs nothing.
pub struct TrivialNginx {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// `unix:<path>`: the same server on a Unix-domain socket, the upstream of nginx's capped
    /// ceiling under `UPSTREAM_TRANSPORT=unix` (nginx removes the file when it stops).
    pub unix_addr: String,
}

impl TrivialNginx {
    pub fn start(config: &LabConfig, dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir.join("tmp"))?;
        let port = free_port()?;
        // In the temp dir, not the run's folder: a socket's path has at most 107 bytes.
        let socket =
            std::env::temp_dir().join(format!("lab-trivial-{}-{port}.sock", std::process::id()));
        let _ = fs::remove_file(&socket);
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        let sock = socket.display();
        fs::write(
            &conf,
            format!(
                "# The load driver's ceiling (and the trivial upstream of nginx's capped ceiling):\n\
                 # every path answers a disk-sized JSON body, uncapped, at no cost.\n\
                 worker_processes auto;\nworker_rlimit_nofile 20000;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 8192; }}\n\
                 http {{\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
                 \x20 server {{\n    listen 127.0.0.1:{port};\n    listen unix:{sock};\n    location / {{ default_type application/json; add_header X-Instance ceiling; return 200 '{DISK_BODY}'; }}\n  }}\n}}\n"
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
                    "cannot start a trivial nginx for the ceiling (`{}`: {e}): install Debian's `nginx-light` or set LAB_NGINX_BIN",
                    config.nginx_command().display()
                )
            })?;
        let mut nginx = Self {
            child,
            addr: format!("127.0.0.1:{port}"),
            unix_addr: format!("unix:{sock}"),
        };
        let base_url = nginx.base_url();
        wait_until_answering(
            &mut nginx.child,
            &base_url,
            "/",
            "the trivial nginx of the ceiling",
            &dir.join("error.log"),
        )?;
        Ok(nginx)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TrivialNginx {
    fn drop(&mut self) {
        // SIGQUIT: nginx's graceful stop; then reap it.
        process::signal(self.child.id(), libc::SIGQUIT);
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

/// The stack's nginx under the profile's caps, in a cgroup of its own (native).
pub struct CgroupNginx {
    child: Child,
    base_url: String,
    cgroup: Option<CgroupPaths>,
    limits: Limits,
}

impl CgroupNginx {
    pub fn start(
        config: &LabConfig,
        profile: &Profile,
        upstream: &str,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let run_dir = dir.join("run");
        fs::create_dir_all(&run_dir)?;
        let listen = format!("127.0.0.1:{}", free_port()?);
        let error_log = dir.join("error.log");
        let placement = Placement {
            listen: listen.clone(),
            app1_addr: upstream.to_owned(),
            app2_addr: upstream.to_owned(),
            run_dir: run_dir.display().to_string(),
            log_dir: dir.display().to_string(),
            error_log: error_log.display().to_string(),
        };
        let template_path = config.nginx_template();
        let template = fs::read_to_string(&template_path)
            .with_context(|| format!("cannot read {}", template_path.display()))?;
        let conf = dir.join("nginx.conf");
        fs::write(
            &conf,
            nginx::render(&template, &nginx::variables(profile, &placement)?)?,
        )?;
        let limits = profile.caps()?.nginx;
        let cgroup = cgroup::detect_host(&config.cgroup_root()).and_then(|hierarchy| {
            let id = format!("ceiling-{}-{}", std::process::id(), profile.name);
            cgroup::create(&hierarchy, &id, "nginx", &limits)
                .map_err(|err| log::warn!("nginx ceiling uncapped: {err:#}"))
                .ok()
        });
        let conf_text = conf.display().to_string();
        let error_text = error_log.display().to_string();
        let spec = CommandSpec::new(
            config.nginx_command(),
            &["-c", &conf_text, "-e", &error_text, "-g", "daemon off;"],
        );
        let child = process::spawn(&spec, cgroup.as_ref(), &dir.join("nginx.out"))?;
        let mut nginx = Self {
            child,
            base_url: format!("http://{listen}"),
            cgroup,
            limits,
        };
        wait_until_answering(
            &mut nginx.child,
            &nginx.base_url,
            contract::routes::NGINX_HEALTH,
            "the capped nginx for nginx's ceiling",
            &error_log,
        )?;
        Ok(nginx)
    }
}

impl CappedNginx for CgroupNginx {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// CPU used so far by every process of its cgroup.
    fn cpu_ns(&self) -> Option<u64> {
        self.cgroup
            .as_ref()
            .and_then(|paths| cgroup::usage(paths).cpu_usage_ns)
    }

    fn cpu_limit_cores(&self) -> Option<f64> {
        self.cgroup.as_ref().map(|_| self.limits.cpus)
    }
}

impl Drop for CgroupNginx {
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

/// A free TCP port on 127.0.0.1 (free when asked: the caller binds it right away).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits up to 5 s for a just-started nginx to answer `path` on `base`; fails early, naming
/// its error log, when it exits.
pub fn wait_until_answering(
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

#[cfg(test)]
mod tests {
    use super::DISK_BODY;

    /// The compose ceiling's upstream (nginx/ceiling-upstream.conf) answers what the native one
    /// answers: nginx's cost per request depends on the body it relays.
    #[test]
    fn the_compose_ceiling_upstream_answers_the_same_body() {
        let conf = include_str!("../../../nginx/ceiling-upstream.conf");
        assert!(
            conf.contains(&format!("return 200 '{DISK_BODY}';")),
            "nginx/ceiling-upstream.conf must answer {DISK_BODY}"
        );
        assert!(conf.contains("add_header X-Instance ceiling;"));
    }
}
