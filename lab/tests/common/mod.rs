//! Helpers shared by the lab's integration tests that run the real app binary.

use std::path::{Path, PathBuf};

/// The workspace root (the repository).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The app binary: `LAB_APP_BIN`, else the debug build.
#[allow(dead_code)] // each test binary compiles this module; not every one uses both lookups
pub fn app_bin() -> PathBuf {
    existing(
        std::env::var_os("LAB_APP_BIN")
            .map_or_else(|| workspace().join("target/debug/app"), PathBuf::from),
    )
}

/// The app binary: `LAB_APP_BIN`, else the release build when there is one (closer to what is
/// measured), else the debug build.
#[allow(dead_code)]
pub fn app_bin_preferring_release() -> PathBuf {
    if let Some(path) = std::env::var_os("LAB_APP_BIN") {
        return PathBuf::from(path);
    }
    let release = workspace().join("target/release/app");
    existing(if release.is_file() {
        release
    } else {
        workspace().join("target/debug/app")
    })
}

fn existing(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: build the app first (cargo build -p app)",
        path.display()
    );
    path
}

/// A TCP port free on 127.0.0.1 now (the OS picks it).
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The stdout of a command that must have exited 0; else panics with `what`, stdout and stderr.
#[allow(dead_code)]
pub fn succeeded(output: &std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout.into_owned()
}

/// An HTTP answer as the tests read it: status, the raw head, the body.
#[allow(dead_code)] // not every test binary reads answers
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

#[allow(dead_code)]
impl Answer {
    /// A header's value, its name matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// Checks that a `lab` run (`what`, for messages) exited 0 and printed a PASS verdict, then
/// returns its run folder under `results` (the one holding `file`) and that file parsed.
#[allow(dead_code)]
pub fn passed_run(
    output: &std::process::Output,
    what: &str,
    results: &Path,
    file: &str,
) -> (PathBuf, serde_json::Value) {
    let stdout = succeeded(output, what);
    assert!(stdout.contains(": PASS"), "{stdout}");
    let run = std::fs::read_dir(results)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join(file).is_file())
        .unwrap_or_else(|| panic!("a run folder with {file}"));
    let value = serde_json::from_slice(&std::fs::read(run.join(file)).unwrap()).unwrap();
    (run, value)
}
