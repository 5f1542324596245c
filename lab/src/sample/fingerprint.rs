//! The machine's fingerprint: what a reader needs to tell a faster machine from a better stack.
//! CPU model and flags from `/proc/cpuinfo`, and the platform the stack ran on, named: native
//! Linux, WSL 2 (its kernel says `microsoft-standard-WSL2`), Docker Desktop (the engine's
//! `OperatingSystem`, with its VM's kernel: linuxkit on macOS and Windows' Hyper-V backend,
//! WSL 2 on its WSL backend), or a plain engine on Linux.
//!
//! The parsing is pure and tested on recorded files (`lab/tests/fixtures/fingerprint/`); the
//! readers only fetch the files.

use std::fs;

use crate::docker::EngineInfo;

/// CPU model and flags, from `/proc/cpuinfo`'s first processor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpu {
    /// `model name` (x86), else the first of `Model`, `Hardware`, `CPU part` (Arm), else empty.
    pub model: String,
    /// `flags` (x86) or `Features` (Arm), as the kernel lists them.
    pub flags: String,
}

/// The first processor's model and flags from a `/proc/cpuinfo` text.
pub fn parse_cpuinfo(text: &str) -> Cpu {
    let first = text.split("\n\n").next().unwrap_or_default();
    let field = |names: &[&str]| {
        names.iter().find_map(|name| {
            first.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == *name).then(|| value.trim().to_owned())
            })
        })
    };
    Cpu {
        model: field(&["model name", "Model", "Hardware", "CPU part"]).unwrap_or_default(),
        flags: field(&["flags", "Features"]).unwrap_or_default(),
    }
}

/// This machine's CPU.
pub fn cpu() -> Cpu {
    parse_cpuinfo(&fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

/// Where lab and the stack ran, named as a user knows it. `kernel` is where lab runs
/// (`/proc/sys/kernel/osrelease`); `engine` is the Docker engine of a compose stack.
pub fn platform(kernel: &str, engine: Option<&EngineInfo>) -> String {
    let wsl = |release: &str| {
        let lower = release.to_ascii_lowercase();
        if lower.contains("microsoft-standard-wsl2") || lower.contains("wsl2") {
            Some("WSL 2")
        } else if lower.contains("microsoft") {
            Some("WSL 1")
        } else {
            None
        }
    };
    let host = wsl(kernel).unwrap_or("native Linux");
    let Some(engine) = engine else {
        return host.to_owned();
    };
    if engine.operating_system.contains("Docker Desktop") {
        let vm = match wsl(&engine.kernel_version) {
            Some(_) => "its WSL 2 backend",
            None if engine.kernel_version.contains("linuxkit") => "its linuxkit VM",
            None => "its VM",
        };
        return format!("Docker Desktop ({vm}, kernel {})", engine.kernel_version);
    }
    let engine_host = wsl(&engine.kernel_version).unwrap_or("native Linux");
    format!(
        "Docker engine {} on {engine_host} ({})",
        engine.server_version, engine.operating_system
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fingerprint")
            .join(name);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn engine(dir: &str) -> EngineInfo {
        crate::docker::engine_info_from_json(
            fixture(&format!("{dir}/version.json")).as_bytes(),
            fixture(&format!("{dir}/info.json")).as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn an_x86_cpuinfo_gives_the_first_processors_model_and_flags() {
        let cpu = parse_cpuinfo(&fixture("native/cpuinfo"));
        assert_eq!(cpu.model, "AMD EPYC");
        assert!(cpu.flags.split_whitespace().any(|f| f == "avx2"));
        let arm = parse_cpuinfo(&fixture("arm/cpuinfo"));
        assert_eq!(arm.model, "0xd0c");
        assert!(arm.flags.contains("asimd"));
    }

    #[test]
    fn native_linux_wsl_2_and_docker_desktop_are_told_apart() {
        assert_eq!(
            platform(fixture("native/osrelease").trim(), None),
            "native Linux"
        );
        assert_eq!(platform(fixture("wsl2/osrelease").trim(), None), "WSL 2");
        assert_eq!(
            platform(fixture("native/osrelease").trim(), Some(&engine("native"))),
            "Docker engine 20.10.24+dfsg1 on native Linux (Debian GNU/Linux 12 (bookworm))"
        );
        assert_eq!(
            platform(fixture("wsl2/osrelease").trim(), Some(&engine("wsl2"))),
            "Docker Desktop (its WSL 2 backend, kernel 5.15.153.1-microsoft-standard-WSL2)"
        );
        assert_eq!(
            platform("23.6.0", Some(&engine("docker-desktop-mac"))),
            "Docker Desktop (its linuxkit VM, kernel 6.10.0-linuxkit)"
        );
    }
}
