//! lab's own settings: every environment variable lab reads, parsed once by clap (each one is
//! a flag too, shown under "Environment" in `lab --help`) into [`LabConfig`], then passed
//! down to what needs it. Defaults are written here and nowhere else, and nothing writes the
//! environment: what a native stack's processes get is decided in its plan.
//!
//! The variables the *app* reads (DATABASE_URL, SEED_*, DB_*...) are the app's contract and
//! live in the `contract` crate; lab only sets them on the processes it starts.

use std::path::{Path, PathBuf};

use crate::client_path::ClientChoice;
use clap::Args;

/// Everything lab takes from its environment.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Environment (each flag can also be set by its variable)")]
pub struct LabConfig {
    /// siege's binary.
    #[arg(long, env = "LAB_SIEGE_BIN", global = true, value_name = "PATH")]
    pub siege_bin: Option<PathBuf>,
    /// nginx's binary, for native stacks and siege's ceiling [default: nginx on PATH or in
    /// /usr/sbin].
    #[arg(long, env = "LAB_NGINX_BIN", global = true, value_name = "PATH")]
    pub nginx_bin: Option<PathBuf>,
    /// The app binary of native stacks [default: target/release/app, built when missing].
    #[arg(long, env = "LAB_APP_BIN", global = true, value_name = "PATH")]
    pub app_bin: Option<PathBuf>,
    /// The nginx.conf template the stack's nginx renders (native, compose and the capped
    /// ceiling alike): a variant to try without editing the repository's [default:
    /// nginx.conf of the repository].
    #[arg(long, env = "LAB_NGINX_CONF", global = true, value_name = "PATH")]
    pub nginx_conf: Option<PathBuf>,
    /// Folder of the Postgres server binaries of native stacks [default: the newest
    /// /usr/lib/postgresql/*/bin].
    #[arg(long, env = "LAB_PG_BIN_DIR", global = true, value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// MariaDB's server binary [default: mariadbd on PATH or in /usr/sbin].
    #[arg(long, env = "LAB_MARIADBD_BIN", global = true, value_name = "PATH")]
    pub mariadbd_bin: Option<PathBuf>,
    /// MariaDB's data-folder initialiser [default: mariadb-install-db on PATH].
    #[arg(
        long,
        env = "LAB_MARIADB_INSTALL_DB_BIN",
        global = true,
        value_name = "PATH"
    )]
    pub mariadb_install_db_bin: Option<PathBuf>,
    /// MariaDB's admin client [default: mariadb-admin on PATH].
    #[arg(
        long,
        env = "LAB_MARIADB_ADMIN_BIN",
        global = true,
        value_name = "PATH"
    )]
    pub mariadb_admin_bin: Option<PathBuf>,
    /// MariaDB's client [default: mariadb on PATH].
    #[arg(long, env = "LAB_MARIADB_BIN", global = true, value_name = "PATH")]
    pub mariadb_bin: Option<PathBuf>,
    /// Root of the cgroup filesystem native stacks are capped under [default: /sys/fs/cgroup].
    #[arg(long, env = "LAB_CGROUP_ROOT", global = true, value_name = "DIR")]
    pub cgroup_root: Option<PathBuf>,
    /// nginx's port on a native stack (and where compose publishes it) [default: 8080;
    /// lab fault: 28080].
    #[arg(long, env = "LAB_HTTP_PORT", global = true, value_name = "PORT")]
    pub http_port: Option<u16>,
    /// Replica N of a native stack listens on this + N [default: 18080; lab fault: 28080].
    #[arg(long, env = "LAB_PORT_BASE", global = true, value_name = "PORT")]
    pub port_base: Option<u16>,
    /// Port of a native stack's private Postgres [default: 15432; lab fault: 25432].
    #[arg(long, env = "LAB_PG_PORT", global = true, value_name = "PORT")]
    pub pg_port: Option<u16>,
    /// Port of a native stack's private MariaDB [default: 13306; lab fault: 23306].
    #[arg(long, env = "LAB_MYSQL_PORT", global = true, value_name = "PORT")]
    pub mysql_port: Option<u16>,
    /// Skip the seed job of native stacks (the database already holds the data).
    /// (the variable takes 1/0, true/false, yes/no, on/off).
    #[arg(
        long,
        env = "LAB_SKIP_SEED",
        global = true,
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub skip_seed: bool,
    /// Seconds each native service has to become ready [default: 60].
    #[arg(
        long,
        env = "LAB_READY_TIMEOUT_SECS",
        global = true,
        value_name = "SECS"
    )]
    pub ready_timeout_secs: Option<u64>,
    /// Seconds the seed job of a native stack may take [default: 600].
    #[arg(
        long,
        env = "LAB_SEED_TIMEOUT_SECS",
        global = true,
        value_name = "SECS"
    )]
    pub seed_timeout_secs: Option<u64>,
    /// Customers the seed job creates, over the profile's SEED_CUSTOMERS [default: 1000].
    #[arg(long, env = "SEED_CUSTOMERS", global = true, value_name = "N")]
    pub seed_customers: Option<u64>,
    /// Disks the seed job creates, over the profile's SEED_DISKS [default: 10000].
    #[arg(long, env = "SEED_DISKS", global = true, value_name = "N")]
    pub seed_disks: Option<u64>,
    /// Stock per disk the seed job sets, over the profile's SEED_STOCK [default: 1000000].
    #[arg(long, env = "SEED_STOCK", global = true, value_name = "N")]
    pub seed_stock: Option<u64>,
    /// Pool acquire timeout (ms) of the replicas lab fault starts [default: 1000].
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", global = true, value_name = "MS")]
    pub db_acquire_timeout_ms: Option<u64>,
    /// Bearer token of the stress endpoints [default: the profile's STRESS_TOKEN].
    #[arg(
        long,
        env = "STRESS_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub stress_token: Option<String>,
    /// Under compose from the host, how lab's client reaches nginx: `auto` (nginx's address on
    /// the stack's network when this host reaches it, as on a Linux engine, else the published
    /// port), `bridge` (that address, or an error) or `published` (127.0.0.1:LAB_HTTP_PORT,
    /// through Docker's docker-proxy on a Linux engine). Recorded in run.json.
    #[arg(
        long,
        env = "LAB_CLIENT_PATH",
        global = true,
        value_enum,
        default_value_t = ClientChoice::Auto
    )]
    pub client_path: ClientChoice,
    /// Inside the lab container: the stack's nginx URL (compose.yaml sets it); lab then
    /// benches the running compose stack instead of starting one.
    #[arg(long, env = "LAB_BASE_URL", global = true, value_name = "URL")]
    pub base_url: Option<String>,
    /// Inside the lab container: the env files compose read (compose.yaml passes on
    /// `COMPOSE_ENV_FILES`); the last `profiles/<name>.env` among them is the profile the stack
    /// runs, and a bench's default.
    #[arg(long, env = "LAB_ENV_FILES", global = true, value_name = "FILES")]
    pub env_files: Option<String>,
    /// Inside the lab container: nginx's access log [default: /var/log/lab/access.json].
    #[arg(long, env = "LAB_ACCESS_LOG", global = true, value_name = "PATH")]
    pub access_log: Option<PathBuf>,
    /// On the host: the folder compose's nginx writes its logs to [default: .lab/compose-logs].
    #[arg(long, env = "LAB_LOG_DIR", global = true, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// The compose project to measure [default: the lab container's own project, else the
    /// name `docker compose config` gives].
    #[arg(long, env = "COMPOSE_PROJECT_NAME", global = true, value_name = "NAME")]
    pub compose_project: Option<String>,
    /// The Docker engine: `unix:///path/to/docker.sock` [default: /var/run/docker.sock].
    #[arg(long, env = "DOCKER_HOST", global = true, value_name = "URL")]
    pub docker_host: Option<String>,
}

/// Ports of a native stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ports {
    /// nginx.
    pub http: u16,
    /// Replica N listens on base + N.
    pub replica_base: u16,
    /// The private Postgres.
    pub postgres: u16,
    /// The private MariaDB.
    pub mysql: u16,
}

impl Ports {
    /// `lab up` and `lab bench`.
    pub const STACK: Ports = Ports {
        http: 8080,
        replica_base: 18080,
        postgres: 15432,
        mysql: 13306,
    };
    /// `lab fault`: its own stack beside a running one.
    pub const FAULT: Ports = Ports {
        http: 28080,
        replica_base: 28080,
        postgres: 25432,
        mysql: 23306,
    };
}

/// The seed job's sizes: the contract's type.
pub use contract::seed::Sizes as SeedPlan;

/// Native stacks' readiness and seed time limits.
pub const DEFAULT_READY_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_SEED_TIMEOUT_SECS: u64 = 600;
/// The pool acquire timeout of a fault stack (ms): a replica waiting on a dead database
/// answers 503 after this.
pub const DEFAULT_FAULT_ACQUIRE_TIMEOUT_MS: u64 = 1000;
/// Where the cgroup file systems are mounted.
pub const DEFAULT_CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// nginx's access log inside the lab container (compose.yaml mounts it there).
pub const CONTAINER_ACCESS_LOG: &str = "/var/log/lab/access.json";

impl LabConfig {
    /// The profile compose started the stack under, from the env files it read: the last
    /// `*.env` of `LAB_ENV_FILES` other than `.env` (a `profiles/<name>.env` by its name, any
    /// other file by its path); None when none is named.
    pub fn compose_profile(&self) -> Option<String> {
        let files = self.env_files.as_deref()?;
        let file = files
            .split(',')
            .map(str::trim)
            .rfind(|f| f.ends_with(".env") && Path::new(f).file_name() != Some(".env".as_ref()))?;
        let path = Path::new(file);
        match (path.parent(), path.file_stem()) {
            (Some(dir), Some(stem)) if dir.ends_with("profiles") => {
                Some(stem.to_string_lossy().into_owned())
            }
            _ => Some(file.to_owned()),
        }
    }

    /// The nginx.conf template to render: `LAB_NGINX_CONF`, else the repository's.
    pub fn nginx_template(&self) -> PathBuf {
        self.nginx_conf
            .clone()
            .unwrap_or_else(|| crate::profile::repo_root().join("nginx.conf"))
    }

    /// Ports: each variable over `defaults`.
    pub fn ports(&self, defaults: Ports) -> Ports {
        Ports {
            http: self.http_port.unwrap_or(defaults.http),
            replica_base: self.port_base.unwrap_or(defaults.replica_base),
            postgres: self.pg_port.unwrap_or(defaults.postgres),
            mysql: self.mysql_port.unwrap_or(defaults.mysql),
        }
    }

    /// The seed sizes a stack under `profile` gets: the variable, else the profile's key,
    /// else the default. The runtime and the bench's URL files both read them here, so they
    /// cannot disagree.
    pub fn seed(&self, profile: &crate::profile::Profile) -> anyhow::Result<SeedPlan> {
        let pick = |set: Option<u64>, key: &str, default: u64| -> anyhow::Result<u64> {
            match (set, profile.get(key)) {
                (Some(n), _) => Ok(n),
                (None, Some(text)) => text.trim().parse().map_err(|_| {
                    anyhow::anyhow!(
                        "profile {}: {key}={text:?} is not a whole number",
                        profile.name
                    )
                }),
                (None, None) => Ok(default),
            }
        };
        let d = SeedPlan::DEFAULT;
        Ok(SeedPlan {
            customers: pick(
                self.seed_customers,
                contract::env::SEED_CUSTOMERS,
                d.customers,
            )?,
            disks: pick(self.seed_disks, contract::env::SEED_DISKS, d.disks)?,
            stock: pick(self.seed_stock, contract::env::SEED_STOCK, d.stock)?,
        })
    }

    /// The stress endpoints' token: the variable, else the profile's STRESS_TOKEN.
    pub fn stress_token(&self, profile: &crate::profile::Profile) -> Option<String> {
        self.stress_token
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| profile.get(contract::env::STRESS_TOKEN).map(str::to_owned))
    }

    pub fn siege_bin(&self) -> PathBuf {
        self.siege_bin
            .clone()
            .unwrap_or_else(|| PathBuf::from("siege"))
    }

    pub fn cgroup_root(&self) -> PathBuf {
        self.cgroup_root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CGROUP_ROOT))
    }

    pub fn ready_timeout_secs(&self) -> u64 {
        self.ready_timeout_secs
            .unwrap_or(DEFAULT_READY_TIMEOUT_SECS)
    }

    pub fn seed_timeout_secs(&self) -> u64 {
        self.seed_timeout_secs.unwrap_or(DEFAULT_SEED_TIMEOUT_SECS)
    }

    /// The access log of the attached compose stack, seen from the lab container.
    pub fn container_access_log(&self) -> PathBuf {
        self.access_log
            .clone()
            .unwrap_or_else(|| PathBuf::from(CONTAINER_ACCESS_LOG))
    }

    /// The nginx binary: the configured one, else `nginx` (resolved on PATH when run).
    pub fn nginx_command(&self) -> PathBuf {
        self.nginx_bin
            .clone()
            .unwrap_or_else(|| PathBuf::from("nginx"))
    }

    /// The Docker engine this configuration names.
    pub fn engine(&self) -> anyhow::Result<crate::docker::Engine> {
        crate::docker::Engine::from_host(self.docker_host.as_deref())
    }
}

/// A path given by a variable must exist.
pub fn existing(path: &Path, variable: &str) -> anyhow::Result<PathBuf> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        anyhow::bail!("{variable}={} does not exist", path.display())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::Parser;

    use super::*;
    use crate::profile::Profile;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        config: LabConfig,
    }

    fn profile(vars: &[(&str, &str)]) -> Profile {
        Profile {
            name: "test".into(),
            path: PathBuf::from("test.env"),
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn sizes_come_from_profile_variables() {
        let config = LabConfig::default();
        assert_eq!(config.seed(&profile(&[])).unwrap(), SeedPlan::DEFAULT);
        assert_eq!(
            config
                .seed(&profile(&[("SEED_DISKS", "50")]))
                .unwrap()
                .disks,
            50
        );
        assert!(config
            .seed(&profile(&[("SEED_CUSTOMERS", "many")]))
            .is_err());
        // A value given to lab wins over the profile's.
        let config = LabConfig {
            seed_disks: Some(7),
            ..LabConfig::default()
        };
        assert_eq!(
            config
                .seed(&profile(&[("SEED_DISKS", "50")]))
                .unwrap()
                .disks,
            7
        );
    }

    #[test]
    fn ports_move_with_the_settings_and_reject_garbage() {
        let config = LabConfig::default();
        assert_eq!(config.ports(Ports::STACK).http, 8080);
        assert_eq!(config.ports(Ports::FAULT).http, 28080);
        let moved = Only::try_parse_from(["lab", "--http-port", "9090"]).unwrap();
        assert_eq!(moved.config.ports(Ports::STACK).http, 9090);
        assert_eq!(moved.config.ports(Ports::FAULT).http, 9090);
        assert!(Only::try_parse_from(["lab", "--http-port", "eighty"]).is_err());
    }

    #[test]
    fn the_lab_container_takes_its_profile_from_compose_env_files() {
        let with = |files: &str| {
            Only::parse_from(["lab", "--env-files", files])
                .config
                .compose_profile()
        };
        assert_eq!(with("profiles/tight.env"), Some("tight".into()));
        assert_eq!(with(".env,profiles/roomy.env"), Some("roomy".into()));
        assert_eq!(with("profiles/tight.env,.env"), Some("tight".into()));
        assert_eq!(with(".env, my/caps.env"), Some("my/caps.env".into()));
        assert_eq!(with(".env"), None);
        assert_eq!(Only::parse_from(["lab"]).config.compose_profile(), None);
    }
}
