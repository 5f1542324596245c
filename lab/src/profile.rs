//! Resource profiles: `profiles/<name>.env`, plain `KEY=VALUE` lines read by both
//! `docker compose --env-file` and the native runtime, so the two can never drift.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use contract::profile::{Caps, Transport};
use serde::Serialize;

/// A profile as loaded from its env file: its name and every variable it sets.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    pub path: PathBuf,
    pub vars: BTreeMap<String, String>,
}

impl Profile {
    /// `name_or_path` is a name under `profiles/` or a path to an env file.
    pub fn load(name_or_path: &str) -> anyhow::Result<Self> {
        let as_path = Path::new(name_or_path);
        let path = if as_path.extension().is_some_and(|e| e == "env") || as_path.exists() {
            as_path.to_path_buf()
        } else {
            profiles_dir().join(format!("{name_or_path}.env"))
        };
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read profile {} (profiles are files profiles/<name>.env)",
                path.display()
            )
        })?;
        let name = path.file_stem().map_or_else(
            || name_or_path.to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        Ok(Self {
            name,
            vars: parse_env(&text).with_context(|| format!("in {}", path.display()))?,
            path,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The profile's value for a profile key, else the key's default from the one table
    /// (`contract::profile::KEYS`); empty for a key the table does not know.
    pub fn value(&self, key: &str) -> &str {
        self.get(key)
            .or_else(|| contract::profile::default_of(key))
            .unwrap_or_default()
    }

    /// The caps this profile sets, with the table's defaults where it is silent.
    pub fn caps(&self) -> anyhow::Result<Caps> {
        Caps::read(|key| self.get(key)).map_err(|err| anyhow!("profile {}: {err}", self.name))
    }

    /// How nginx reaches the replicas under this profile (`UPSTREAM_TRANSPORT`).
    pub fn upstream_transport(&self) -> anyhow::Result<Transport> {
        Transport::parse(self.get(contract::profile::UPSTREAM_TRANSPORT))
            .map_err(|err| anyhow!("profile {}: {err}", self.name))
    }
}

/// The `profiles/` folder of the repository (found from the current directory upwards).
pub fn profiles_dir() -> PathBuf {
    repo_root().join("profiles")
}

/// The repository root: the nearest ancestor of the current directory with a `profiles/` and
/// `nginx.conf`, or the current directory.
pub fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| dir.join("profiles").is_dir() && dir.join("nginx.conf").is_file())
        .map_or(cwd.clone(), Path::to_path_buf)
}

/// `path` as a run records it: relative to the repository when inside it (a run's files must
/// read the same on every clone), else as given.
pub fn in_repository(path: &str) -> String {
    let given = Path::new(path);
    if !given.is_absolute() {
        return path.to_owned();
    }
    let root = repo_root();
    let root = root.canonicalize().unwrap_or(root);
    let resolved = given.canonicalize().unwrap_or_else(|_| given.to_path_buf());
    match resolved.strip_prefix(&root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.to_owned(),
    }
}

/// A command line as a run records it: every absolute path inside the repository made
/// relative to it (the program too).
pub fn command_line_in_repository(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter().map(|arg| in_repository(&arg)).collect()
}

/// Parses compose-style env files: `KEY=VALUE`, `#` comments, blank lines, optional quotes.
pub fn parse_env(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected KEY=VALUE, got {line:?}", number + 1);
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("line {}: invalid variable name {key:?}", number + 1);
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        vars.insert(key.to_owned(), value.to_owned());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::profile::{parse_cpus, parse_memory, Role, KEYS};

    fn repo_file(path: &str) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// compose caps with the stated quota, natively lab computes it: every committed profile
    /// states one that agrees with its CPUs and period.
    #[test]
    fn every_committed_profile_states_quotas_that_agree_with_its_cpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut seen = 0;
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "env") {
                continue;
            }
            let profile = Profile::load(&path.display().to_string()).unwrap();
            let caps = profile
                .caps()
                .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            for role in Role::ALL {
                let stated = profile.get(role.cpu_quota_key());
                assert_eq!(
                    stated.map(str::to_owned),
                    Some(caps.of(role).cpu_quota_us().to_string()),
                    "{}: {}",
                    path.display(),
                    role.cpu_quota_key()
                );
            }
            seen += 1;
        }
        assert!(seen >= 6, "{seen} profiles");
    }

    #[test]
    fn compose_yaml_defaults_every_profile_key_as_the_one_table_does() {
        let compose = repo_file("compose.yaml");
        let mut seen = 0;
        for key in KEYS {
            let pattern = format!("${{{}:-", key.name);
            for (at, _) in compose.match_indices(&pattern) {
                let rest = &compose[at + pattern.len()..];
                let default = &rest[..rest.find('}').unwrap()];
                assert_eq!(
                    default, key.default,
                    "compose.yaml's default of {}",
                    key.name
                );
                seen += 1;
            }
        }
        // Every cap of every role is in compose.yaml (twice for the replicas and databases):
        // the CPU as a quota per period, which a profile states beside its CPUs.
        for role in Role::ALL {
            for key in [
                role.cpu_period_key(),
                role.cpu_quota_key(),
                role.memory_key(),
            ] {
                assert!(compose.contains(&format!("${{{key}:-")), "{role:?}: {key}");
            }
        }
        assert!(seen >= 20, "only {seen} defaults found in compose.yaml");
    }

    /// `cpu: 300m` and `memory: 400Mi` of the Kubernetes base are the table's defaults.
    #[test]
    fn the_kubernetes_base_requests_the_one_tables_caps() {
        let caps = Caps::defaults();
        for (file, role) in [
            ("k8s/base/app.yaml", Role::App),
            ("k8s/base/seed-job.yaml", Role::App),
            ("k8s/base/nginx.yaml", Role::Nginx),
            ("k8s/base/postgres.yaml", Role::Db),
        ] {
            let text = repo_file(file);
            let values = |field: &str| -> Vec<String> {
                text.lines()
                    .filter_map(|l| l.trim().strip_prefix(field))
                    .map(|v| v.trim().to_owned())
                    .collect()
            };
            let cap = caps.of(role);
            let cpus = values("cpu:");
            let memory = values("memory:");
            assert_eq!(cpus.len(), 2, "{file}: requests and limits");
            for value in cpus {
                let millicpus: f64 = value.trim_end_matches('m').parse().unwrap();
                assert_eq!(millicpus / 1000.0, cap.cpus, "{file} cpu");
            }
            for value in memory {
                let bytes = parse_memory(value.trim_end_matches('i')).unwrap();
                assert_eq!(bytes, cap.memory_bytes, "{file} memory");
            }
        }
        assert_eq!(parse_cpus("0.3").unwrap(), caps.app.cpus);
    }

    #[test]
    fn env_files_parse_like_compose() {
        let vars = parse_env("# c\nA=1\n\nB=\"two words\"\nC='x'\nD=\n").unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "x");
        assert_eq!(vars["D"], "");
        assert!(parse_env("NOEQUALS").is_err());
    }
}
