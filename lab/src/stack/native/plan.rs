//! The native stack's plan: every directory, binary, port, command and cap decided before
//! anything starts, written as `plan.json` for the supervisor to run.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::database::database;
use super::tools::{app_binary, find_tool};
use crate::config::LabConfig;
use crate::profile::Profile;
use crate::stack::cgroup::Limits;
use crate::stack::info::{UpOptions, STACK_FILE};
use crate::stack::nginx::{self, Placement};
use crate::stack::process::CommandSpec;
use crate::stack::supervisor::{Plan, Probe, ServicePlan, HOLD_DIR};
use contract::env;
use contract::profile::Transport;

/// Decides the whole stack: directories, binaries, ports, commands and caps.
/// Long: one decision after another in the order the stack starts (database, replicas, nginx,
/// seed); split up, the plan would be read in pieces.
pub fn plan(config: &LabConfig, opts: &UpOptions, state_dir: &Path) -> anyhow::Result<Plan> {
    let profile = &opts.profile;
    let ports = opts.ports;
    let caps = profile.caps()?;
    let replicas = caps.replicas as u16;
    let (app_limits, db_limits, nginx_limits) = (caps.app, caps.db, caps.nginx);

    let logs_dir = state_dir.join("logs");
    let nginx_dir = state_dir.join("nginx");
    let run_dir = nginx_dir.join("run");
    let socket_dir = state_dir.join("sock");
    prepare_state_dir(state_dir, &[&logs_dir, &nginx_dir, &run_dir, &socket_dir])?;
    let transport = profile.upstream_transport()?;

    let app_bin = app_binary(config)?;
    let nginx_bin = find_tool(
        config.nginx_bin.as_deref(),
        "LAB_NGINX_BIN",
        "nginx",
        "nginx-light",
    )?;
    let (database_url, db_service) = database(config, opts.db, state_dir, ports, db_limits)?;

    let mut services: Vec<ServicePlan> = db_service.into_iter().collect();
    let mut upstreams = Vec::new();
    for n in 1..=replicas {
        let addr = format!("127.0.0.1:{}", ports.replica_base + n);
        let socket = unix_socket_path(&socket_dir, n)?;
        let replica = replica_service(
            opts,
            n,
            (&addr, &socket),
            &app_bin,
            &database_url,
            app_limits,
        );
        services.push(replica);
        upstreams.push(match transport {
            Transport::Tcp => addr,
            Transport::Unix => format!("unix:{socket}"),
        });
    }

    let http_addr = format!("127.0.0.1:{}", ports.http);
    let access_log = logs_dir.join("access.json");
    let placement = Placement {
        listen: http_addr.clone(),
        app1_addr: upstreams[0].clone(),
        app2_addr: upstreams.last().cloned().unwrap_or_default(),
        run_dir: run_dir.display().to_string(),
        log_dir: logs_dir.display().to_string(),
        error_log: logs_dir.join("nginx-error.log").display().to_string(),
    };
    let conf_path = render_nginx_conf(
        &config.nginx_template(),
        profile,
        &placement,
        &nginx_dir,
        &nginx_bin,
    )?;
    services.push(nginx_service(
        &nginx_bin,
        &conf_path,
        &placement,
        replicas,
        nginx_limits,
    ));

    let seed = seed_command(config, opts, &app_bin, database_url);

    Ok(Plan {
        stack_id: format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3f"),
            std::process::id()
        ),
        profile: profile.name.clone(),
        db: opts.db,
        base_url: format!("http://{http_addr}"),
        access_log,
        logs_dir,
        services,
        seed,
        seed_limits: app_limits,
        ready_timeout_secs: config.ready_timeout_secs(),
        seed_timeout_secs: config.seed_timeout_secs(),
        cgroup_root: config.cgroup_root(),
    })
}

/// Replica `n`'s Unix socket, which it listens on besides its port (nginx uses it under
/// `UPSTREAM_TRANSPORT=unix`). The kernel takes at most 107 bytes of path.
fn unix_socket_path(socket_dir: &Path, n: u16) -> anyhow::Result<String> {
    // Absolute: nginx would read a relative one from its own prefix.
    let socket_dir = fs::canonicalize(socket_dir)
        .with_context(|| format!("cannot resolve {}", socket_dir.display()))?;
    let path = socket_dir
        .join(format!("app{n}.sock"))
        .display()
        .to_string();
    if path.len() > MAX_SOCKET_PATH {
        bail!(
            "the replicas' socket {path} is {} bytes long, over the kernel's {MAX_SOCKET_PATH}: use a shorter --state-dir (LAB_STATE_DIR)",
            path.len()
        );
    }
    Ok(path)
}

/// `sizeof(sockaddr_un.sun_path)` less its terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Creates the state dir and its folders, opens it to the services' users, and removes what
/// a previous stack left in it (its events, its `stack.json`, its held folder).
fn prepare_state_dir(state_dir: &Path, subdirs: &[&Path]) -> anyhow::Result<()> {
    for dir in std::iter::once(state_dir).chain(subdirs.iter().copied()) {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Unprivileged children (nginx workers, the database user) must reach their files.
    fs::set_permissions(state_dir, fs::Permissions::from_mode(0o755))?;
    for stale in ["events.jsonl", STACK_FILE] {
        let _ = fs::remove_file(state_dir.join(stale));
    }
    let _ = fs::remove_dir_all(state_dir.join(HOLD_DIR));
    Ok(())
}

/// Replica `n` (`app{n}`) on `addr` and the Unix socket `socket`: the app binary with the profile's workers and pool size,
/// ready once its health route answers.
fn replica_service(
    opts: &UpOptions,
    n: u16,
    (addr, socket): (&str, &str),
    app_bin: &Path,
    database_url: &str,
    limits: Limits,
) -> ServicePlan {
    let profile = &opts.profile;
    let name = format!("app{n}");
    let mut command = CommandSpec::new(app_bin, &[]);
    command.env = BTreeMap::from([
        (env::DATABASE_URL.into(), database_url.to_owned()),
        (env::APP_LISTEN.into(), addr.to_owned()),
        (env::APP_UNIX_SOCKET.into(), socket.to_owned()),
        (env::INSTANCE_NAME.into(), name.clone()),
        (
            env::APP_WORKERS.into(),
            profile.value(env::APP_WORKERS).into(),
        ),
        (
            env::DB_POOL_MAX.into(),
            profile.value(env::DB_POOL_MAX).into(),
        ),
    ]);
    command.env.extend(opts.app_env.iter().cloned());
    ServicePlan {
        name,
        command,
        limits,
        addr: Some(addr.to_owned()),
        init: Vec::new(),
        ready: vec![Probe::Http {
            addr: addr.to_owned(),
            path: contract::routes::HEALTH.into(),
        }],
        after_ready: Vec::new(),
        stop_signal: libc::SIGTERM,
        is_db: false,
    }
}

/// nginx in the foreground with the rendered conf, listening where `placement` says.
fn nginx_service(
    nginx_bin: &Path,
    conf_path: &Path,
    placement: &Placement,
    replicas: u16,
    limits: Limits,
) -> ServicePlan {
    let conf = conf_path.display().to_string();
    let error_log = placement.error_log.clone();
    ServicePlan {
        name: "nginx".into(),
        command: CommandSpec::new(
            nginx_bin,
            &["-c", &conf, "-e", &error_log, "-g", "daemon off;"],
        ),
        limits,
        addr: Some(placement.listen.clone()),
        init: Vec::new(),
        ready: nginx_ready(&placement.listen, replicas),
        after_ready: Vec::new(),
        stop_signal: libc::SIGTERM,
        is_db: false,
    }
}

/// nginx is ready once its own health route answers and, through it, every replica's.
fn nginx_ready(http_addr: &str, replicas: u16) -> Vec<Probe> {
    let mut ready = vec![Probe::Http {
        addr: http_addr.to_owned(),
        path: contract::routes::NGINX_HEALTH.into(),
    }];
    for n in 1..=replicas {
        ready.push(Probe::Http {
            addr: http_addr.to_owned(),
            path: contract::routes::on_replica(&format!("app{n}"), contract::routes::HEALTH),
        });
    }
    ready
}

/// The seed job (the app binary with the seed's arguments), unless seeding is skipped.
fn seed_command(
    config: &LabConfig,
    opts: &UpOptions,
    app_bin: &Path,
    database_url: String,
) -> Option<CommandSpec> {
    if config.skip_seed {
        None
    } else {
        let args = opts.seed.args(true);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = CommandSpec::new(app_bin, &args);
        command.env.insert(env::DATABASE_URL.into(), database_url);
        Some(command)
    }
}

/// Renders nginx.conf into the state dir and has nginx check it, so a bad profile fails here
/// with nginx's own message instead of in the supervisor's log.
fn render_nginx_conf(
    template_path: &Path,
    profile: &Profile,
    placement: &Placement,
    nginx_dir: &Path,
    nginx_bin: &Path,
) -> anyhow::Result<PathBuf> {
    let template = fs::read_to_string(template_path)
        .with_context(|| format!("cannot read {}", template_path.display()))?;
    let vars = nginx::variables(profile, placement)?;
    let conf_path = nginx_dir.join("nginx.conf");
    fs::write(&conf_path, nginx::render(&template, &vars)?)?;
    let output = Command::new(nginx_bin)
        .args(["-t", "-q", "-c"])
        .arg(&conf_path)
        .arg("-e")
        .arg(&placement.error_log)
        .output()
        .context("cannot run nginx -t")?;
    if !output.status.success() {
        bail!(
            "nginx rejects the rendered {}:\n{}",
            conf_path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(conf_path)
}
