//! The `app` binary's subcommands, run as a process.

use std::process::Command;

use crate::helpers::{Backend, TestApp, TestDatabase};

fn app_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_app"));
    command.env("RUST_LOG", "warn");
    command
}

#[tokio::test]
async fn seed_command_loads_the_database_and_refuses_to_run_twice_without_reset() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let seed = |reset: bool| {
        let mut command = app_command();
        command.env("DATABASE_URL", &database.url).args([
            "seed",
            "--customers",
            "3",
            "--disks",
            "5",
            "--stock",
            "9",
        ]);
        if reset {
            command.arg("--reset");
        }
        command.output().expect("running app seed")
    };
    let first = seed(false);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = seed(false);
    assert!(
        !second.status.success(),
        "a second seed without --reset must fail"
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("--reset"));
    let reset = seed(true);
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );

    let app = TestApp::spawn_with(Backend::Sqlite, database, |_| {}).await;
    assert_eq!(app.get_disk(5).await.json["stock"], 9);
    assert_eq!(app.list_customers("?total=true").await.json["total"], 3);
}

#[tokio::test]
async fn healthcheck_exits_zero_only_when_a_replica_answers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let port = app.address.rsplit(':').next().expect("port").to_owned();
    // Run the probe off the test's runtime thread, which also drives the server's future.
    let live = tokio::task::spawn_blocking(move || {
        app_command()
            .env("APP_LISTEN", format!("127.0.0.1:{port}"))
            .arg("healthcheck")
            .output()
    })
    .await
    .expect("joining the probe")
    .expect("running app healthcheck");
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dead = app_command()
        .env("APP_LISTEN", format!("127.0.0.1:{closed}"))
        .arg("healthcheck")
        .output()
        .expect("running app healthcheck");
    assert!(!dead.status.success());
}

#[test]
fn unknown_subcommands_fail_with_usage() {
    let output = app_command().arg("dance").output().expect("running app");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}
