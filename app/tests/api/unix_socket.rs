//! `APP_UNIX_SOCKET`: the replica answers on a Unix-domain socket besides its TCP port, as
//! nginx reaches it under `UPSTREAM_TRANSPORT=unix`.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use app::startup::Application;

use crate::helpers::{test_settings, Backend, TestApp, TestDatabase};

/// A fresh folder under the system's temp dir (short: a socket path has ~107 bytes).
fn socket_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("uds-{}", &uuid::Uuid::new_v4().to_string()[..8]));
    std::fs::create_dir_all(&dir).expect("creating the socket folder");
    dir
}

/// One HTTP/1.1 request over the socket; the whole answer.
fn get(socket: &Path, path: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("connecting to the replica's socket");
    let request = format!("GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("sending");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reading");
    answer
}

#[tokio::test]
async fn a_replica_answers_on_its_unix_socket_and_replaces_a_stale_one() {
    let dir = socket_dir();
    let socket = dir.join("app.sock");
    // What a killed replica leaves behind: a socket file nobody listens on.
    drop(UnixListener::bind(&socket).expect("a stale socket"));
    let path = socket.clone();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        TestDatabase::create(Backend::Sqlite).await,
        |s| s.unix_socket = Some(path),
    )
    .await;
    let mode = std::fs::metadata(&socket)
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o666, "nginx's workers run as another user");
    let answers = {
        let socket = socket.clone();
        tokio::task::spawn_blocking(move || (get(&socket, "/health"), get(&socket, "/disks/1")))
            .await
            .expect("joining the client")
    };
    assert!(answers.0.starts_with("HTTP/1.1 200"), "{}", answers.0);
    assert!(answers.0.contains("x-instance:"), "{}", answers.0);
    // Same routes, same JSON errors as over TCP (the test database is empty).
    assert!(answers.1.starts_with("HTTP/1.1 404"), "{}", answers.1);
    assert!(
        answers.1.contains(r#""error":"not_found""#),
        "{}",
        answers.1
    );
    // The TCP port still answers.
    assert_eq!(app.get("/health").await.status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_never_replaced() {
    let dir = socket_dir();
    let path = dir.join("app.sock");
    std::fs::write(&path, "keep me").expect("a regular file");
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(database.url.clone());
    settings.unix_socket = Some(path.clone());
    let err = match Application::build(settings).await {
        Ok(_) => panic!("the app replaced a regular file with its socket"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    let _ = std::fs::remove_dir_all(dir);
}
