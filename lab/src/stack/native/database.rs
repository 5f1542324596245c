//! The database of a native stack: SQLite (a file), or a private Postgres or MariaDB server
//! started from the installed binaries in its own data folder, port and cgroup.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context};

use super::tools::find_tool;
use crate::config::{LabConfig, Ports};
use crate::stack::cgroup::Limits;
use crate::stack::process::{self, CommandSpec};
use crate::stack::supervisor::{Probe, ServicePlan};
use contract::DbKind;

/// The database URL the app gets and, for Postgres/MySQL, the private server to run.
pub(super) fn database(
    config: &LabConfig,
    kind: DbKind,
    state_dir: &Path,
    ports: Ports,
    limits: Limits,
) -> anyhow::Result<(String, Option<ServicePlan>)> {
    let db_dir = state_dir.join("db");
    match kind {
        DbKind::Sqlite => {
            let data = state_dir.join("data");
            fs::create_dir_all(&data)?;
            let url = format!("sqlite://{}?mode=rwc", data.join("lab.db").display());
            Ok((url, None))
        }
        DbKind::Postgres => postgres(config, &db_dir, ports.postgres, limits),
        DbKind::Mysql => mariadb(config, &db_dir, ports.mysql, limits),
    }
}

/// A private Postgres server in `db_dir` (initialised and given a `lab` database on first
/// use), and its URL.
fn postgres(
    config: &LabConfig,
    db_dir: &Path,
    port: u16,
    limits: Limits,
) -> anyhow::Result<(String, Option<ServicePlan>)> {
    let bin = postgres_bin_dir(config)?;
    let data = db_dir.join("pgdata");
    let fresh = !data.join("PG_VERSION").exists();
    prepare_db_dir(db_dir, "postgres")?;
    let port = port.to_string();
    let (d, s) = (data.display().to_string(), db_dir.display().to_string());
    let init = if fresh {
        vec![as_postgres(CommandSpec::new(
            bin.join("initdb"),
            &[
                "-D",
                &d,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        ))]
    } else {
        Vec::new()
    };
    let server = as_postgres(CommandSpec::new(
        bin.join("postgres"),
        &[
            "-D",
            &d,
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-k",
            &s,
            "-c",
            "max_connections=500",
        ],
    ));
    let ready = vec![Probe::Command {
        command: CommandSpec::new(
            bin.join("pg_isready"),
            &["-q", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"],
        ),
    }];
    let create = CommandSpec::new(
        bin.join("psql"),
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "CREATE DATABASE lab",
        ],
    );
    let url = format!("postgres://postgres@127.0.0.1:{port}/lab");
    Ok((
        url,
        Some(db_service(
            server,
            limits,
            &port,
            init,
            ready,
            if fresh { vec![create] } else { vec![] },
            libc::SIGINT,
        )),
    ))
}

/// A command run as the `postgres` user (Postgres refuses to run as root).
fn as_postgres(mut spec: CommandSpec) -> CommandSpec {
    spec.user = Some("postgres".into());
    spec
}

/// The MariaDB programs lab runs: the server, its installer, its admin tool and its client.
struct MariadbTools {
    server: PathBuf,
    install: PathBuf,
    admin: PathBuf,
    client: PathBuf,
}

/// Finds the MariaDB programs (configured, from the environment, or on the PATH).
fn mariadb_tools(config: &LabConfig) -> anyhow::Result<MariadbTools> {
    Ok(MariadbTools {
        server: find_tool(
            config.mariadbd_bin.as_deref(),
            "LAB_MARIADBD_BIN",
            "mariadbd",
            "mariadb-server",
        )?,
        install: find_tool(
            config.mariadb_install_db_bin.as_deref(),
            "LAB_MARIADB_INSTALL_DB_BIN",
            "mariadb-install-db",
            "mariadb-server",
        )?,
        admin: find_tool(
            config.mariadb_admin_bin.as_deref(),
            "LAB_MARIADB_ADMIN_BIN",
            "mariadb-admin",
            "mariadb-client",
        )?,
        client: find_tool(
            config.mariadb_bin.as_deref(),
            "LAB_MARIADB_BIN",
            "mariadb",
            "mariadb-client",
        )?,
    })
}

/// A private MariaDB server in `db_dir` (installed on first use; the `lab` database created
/// if missing at every start), and its URL.
fn mariadb(
    config: &LabConfig,
    db_dir: &Path,
    port: u16,
    limits: Limits,
) -> anyhow::Result<(String, Option<ServicePlan>)> {
    let tools = mariadb_tools(config)?;
    let data = db_dir.join("mysql");
    let fresh = !data.join("mysql").exists();
    prepare_db_dir(db_dir, "mysql")?;
    let port = port.to_string();
    let d = format!("--datadir={}", data.display());
    let socket = format!("--socket={}", db_dir.join("mysqld.sock").display());
    let pid_file = format!("--pid-file={}", db_dir.join("mysqld.pid").display());
    let root = process::running_as_root();
    let mut install_args = vec![
        "--no-defaults",
        d.as_str(),
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
    ];
    let mut server_args = vec![
        "--no-defaults",
        d.as_str(),
        "--bind-address=127.0.0.1",
        socket.as_str(),
        pid_file.as_str(),
        "--max-connections=500",
        "--skip-name-resolve",
    ];
    let port_arg = format!("--port={port}");
    server_args.push(&port_arg);
    if root {
        // mariadbd drops to this user itself and refuses to run as root.
        install_args.push("--user=mysql");
        server_args.push("--user=mysql");
    }
    let init = if fresh {
        vec![CommandSpec::new(&tools.install, &install_args)]
    } else {
        Vec::new()
    };
    let url = format!("mysql://root@127.0.0.1:{port}/lab");
    Ok((
        url,
        Some(db_service(
            CommandSpec::new(&tools.server, &server_args),
            limits,
            &port,
            init,
            mariadb_ready(&tools.admin, &port),
            vec![mariadb_create(&tools.client, &port)],
            libc::SIGTERM,
        )),
    ))
}

/// MariaDB is ready once its admin tool's `ping` gets an answer on the TCP port.
fn mariadb_ready(admin: &Path, port: &str) -> Vec<Probe> {
    vec![Probe::Command {
        command: CommandSpec::new(
            admin,
            &[
                "--no-defaults",
                "-h",
                "127.0.0.1",
                "-P",
                port,
                "-u",
                "root",
                "ping",
            ],
        ),
    }]
}

/// Creates the `lab` database unless it exists, once the server answers.
fn mariadb_create(client: &Path, port: &str) -> CommandSpec {
    CommandSpec::new(
        client,
        &[
            "--no-defaults",
            "-h",
            "127.0.0.1",
            "-P",
            port,
            "-u",
            "root",
            "-e",
            "CREATE DATABASE IF NOT EXISTS lab",
        ],
    )
}

fn db_service(
    command: CommandSpec,
    limits: Limits,
    port: &str,
    init: Vec<CommandSpec>,
    ready: Vec<Probe>,
    after_ready: Vec<CommandSpec>,
    stop_signal: i32,
) -> ServicePlan {
    ServicePlan {
        name: "db".into(),
        command,
        limits,
        addr: Some(format!("127.0.0.1:{port}")),
        init,
        ready,
        after_ready,
        stop_signal,
        is_db: true,
    }
}

/// The database's folder, owned by the server's user when we run as root.
fn prepare_db_dir(dir: &Path, user: &str) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    if process::running_as_root() {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:"))
            .arg(dir)
            .status()
            .context("cannot run chown")?;
        if !status.success() {
            bail!("cannot give {} to user {user}", dir.display());
        }
    }
    Ok(())
}

/// The Postgres server binaries: `LAB_PG_BIN_DIR`, else the newest /usr/lib/postgresql/*/bin.
fn postgres_bin_dir(config: &LabConfig) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &config.pg_bin_dir {
        return Ok(dir.clone());
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file())
                .then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!("Postgres server binaries not found: install the Debian package postgresql (apt-get install postgresql) or set LAB_PG_BIN_DIR")
    })
}
