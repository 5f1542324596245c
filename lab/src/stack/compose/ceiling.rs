//! nginx's capped ceiling under compose: compose.yaml's `ceiling` services, started beside the
//! running stack (the same project, network, image, nginx.conf and profile caps) on a port of
//! their own, the stack's nginx container proxying to an uncapped stub
//! (`nginx/ceiling-upstream.conf`). Dropping it stops and removes both containers.

use anyhow::anyhow;

use super::cli::ComposeCli;
use super::services::pick;
use crate::client_path::{self, ClientChoice, ClientPath};
use crate::docker::Engine;
use crate::stack::ceiling::{free_port, CappedNginx};

/// The compose profile and services of nginx's capped ceiling (compose.yaml).
pub const CEILING_PROFILE: &str = "ceiling";
const CEILING_NGINX: &str = "nginx-ceiling";
const CEILING_UPSTREAM: &str = "ceiling-upstream";

pub struct ComposeCeiling {
    cli: ComposeCli,
    engine: Engine,
    container: String,
    /// The capped nginx, reached the way the stack's nginx is (`path`): published like the
    /// stack's (`http://127.0.0.1:<port>`) or at its address on the project's network.
    base_url: String,
    /// The CPU cap the engine applied to it, in cores.
    cpu_limit_cores: Option<f64>,
}

impl ComposeCeiling {
    /// Starts both services in `project` with the stack's compose calls (`cli`), reached the
    /// way lab's client reaches the stack's nginx (`path`), so the two compare.
    pub fn start(
        cli: &ComposeCli,
        engine: Engine,
        project: &str,
        path: ClientPath,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut ceiling = ComposeCeiling {
            cli: cli.clone().with_env("LAB_CEILING_PORT", port.to_string()),
            engine,
            container: String::new(),
            base_url: format!("http://127.0.0.1:{port}"),
            cpu_limit_cores: None,
        };
        // From here on, dropping `ceiling` removes whatever was started.
        ceiling.cli.run_quietly(&[
            "--profile",
            CEILING_PROFILE,
            "up",
            "-d",
            "--wait",
            CEILING_NGINX,
            CEILING_UPSTREAM,
        ])?;
        let containers = ceiling.engine.compose_containers(project)?;
        let container = pick(&containers, CEILING_NGINX)
            .ok_or_else(|| anyhow!("no {CEILING_NGINX} container in project {project}"))?;
        let state = ceiling.engine.inspect(&container.id)?;
        ceiling.container = state.id;
        ceiling.cpu_limit_cores = state.cpu_limit_cores;
        if path == ClientPath::Bridge {
            let published = std::mem::take(&mut ceiling.base_url);
            let choice = ClientChoice::Bridge;
            (ceiling.base_url, _) =
                client_path::choose(choice, &published, &state.ip_addresses, nginx_answers)?;
        }
        crate::stack::process::wait_for_nginx(&ceiling.base_url)?;
        Ok(ceiling)
    }
}

/// True when nginx's health route answers 200 at `url` within the bridge probe's time-out:
/// how the stack's nginx and the ceiling's are found on their network (client_path.rs).
pub(super) fn nginx_answers(url: &str) -> bool {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let answer = crate::stack::process::http_get(
        addr,
        contract::routes::NGINX_HEALTH,
        client_path::BRIDGE_PROBE_TIMEOUT,
    );
    matches!(answer, Ok(200))
}

impl CappedNginx for ComposeCeiling {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// CPU the capped nginx's container used so far.
    fn cpu_ns(&self) -> Option<u64> {
        self.engine
            .stats(&self.container)
            .map_err(|err| log::warn!("{CEILING_NGINX}: {err:#}"))
            .ok()
            .map(|stats| stats.cpu_usage_ns)
    }

    fn cpu_limit_cores(&self) -> Option<f64> {
        self.cpu_limit_cores
    }
}

impl Drop for ComposeCeiling {
    fn drop(&mut self) {
        let rm = [
            "--profile",
            CEILING_PROFILE,
            "rm",
            "--stop",
            "--force",
            CEILING_NGINX,
            CEILING_UPSTREAM,
        ];
        if let Err(err) = self.cli.run_quietly(&rm) {
            eprintln!("lab: WARNING: nginx's capped ceiling not removed: {err:#}; `docker compose --profile ceiling down` removes it");
        }
    }
}
