//! Resource profiles: the keys of `profiles/<name>.env`, one table of their defaults, and the
//! caps they set, parsed once. `compose.yaml` writes the same defaults as `${KEY:-default}`,
//! the Kubernetes base as requests and limits, the native runtime reads them from here: tests
//! check the first two against [`KEYS`], so the four places cannot drift.
//!
//! Sizes are read as Docker reads them: CPUs as a decimal (`0.3`), memory in bytes with an
//! optional 1024-based suffix (`400M`, `1G`, `0.5gb`), so both runtimes read a profile alike.

/// One profile key: its name, its default, and what it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    /// The value a profile that does not set the key gets (the original documents' numbers).
    pub default: &'static str,
    /// One line of meaning.
    pub meaning: &'static str,
}

/// Replicas natively, 1 or 2.
pub const APP_REPLICAS: &str = "APP_REPLICAS";
/// Each replica's CPU cap.
pub const APP_CPUS: &str = "APP_CPUS";
/// Each replica's memory cap.
pub const APP_MEMORY: &str = "APP_MEMORY";
/// HTTP worker threads per replica.
pub const APP_WORKERS: &str = "APP_WORKERS";
/// Database connections per replica.
pub const DB_POOL_MAX: &str = "DB_POOL_MAX";
/// The database's CPU cap.
pub const DB_CPUS: &str = "DB_CPUS";
/// The database's memory cap.
pub const DB_MEMORY: &str = "DB_MEMORY";
/// nginx's CPU cap.
pub const NGINX_CPUS: &str = "NGINX_CPUS";
/// nginx's memory cap.
pub const NGINX_MEMORY: &str = "NGINX_MEMORY";
/// Connections per nginx worker.
pub const NGINX_WORKER_CONNECTIONS: &str = "NGINX_WORKER_CONNECTIONS";
/// Requests per second per client IP, 0 = no limit.
pub const RATE_LIMIT_RPS: &str = "RATE_LIMIT_RPS";
/// Burst above the rate per client IP.
pub const RATE_LIMIT_BURST: &str = "RATE_LIMIT_BURST";
/// The stress endpoints' own, tighter rate per client IP.
pub const STRESS_RATE_LIMIT_RPS: &str = "STRESS_RATE_LIMIT_RPS";

/// Every key a profile may set, with its default: the one table.
pub const KEYS: [Key; 16] = [
    Key {
        name: APP_REPLICAS,
        default: "2",
        meaning: "replicas natively, 1 or 2",
    },
    Key {
        name: APP_CPUS,
        default: "0.3",
        meaning: "each replica's CPU cap (and the seed job's)",
    },
    Key {
        name: APP_MEMORY,
        default: "400M",
        meaning: "each replica's memory cap (and the seed job's)",
    },
    Key {
        name: APP_WORKERS,
        default: "2",
        meaning: "HTTP worker threads per replica",
    },
    Key {
        name: DB_POOL_MAX,
        default: "10",
        meaning: "database connections per replica",
    },
    Key {
        name: DB_CPUS,
        default: "0.3",
        meaning: "the database's CPU cap",
    },
    Key {
        name: DB_MEMORY,
        default: "1G",
        meaning: "the database's memory cap",
    },
    Key {
        name: NGINX_CPUS,
        default: "0.1",
        meaning: "nginx's CPU cap",
    },
    Key {
        name: NGINX_MEMORY,
        default: "200M",
        meaning: "nginx's memory cap",
    },
    Key {
        name: NGINX_WORKER_CONNECTIONS,
        default: "4096",
        meaning: "connections per nginx worker",
    },
    Key {
        name: RATE_LIMIT_RPS,
        default: "10",
        meaning: "requests per second per client IP, 0 = off",
    },
    Key {
        name: RATE_LIMIT_BURST,
        default: "20",
        meaning: "burst above the rate per client IP",
    },
    Key {
        name: STRESS_RATE_LIMIT_RPS,
        default: "2",
        meaning: "the stress endpoints' rate per client IP",
    },
    Key {
        name: crate::env::SEED_CUSTOMERS,
        default: "1000",
        meaning: "customers the seed job loads (ids 1..=N)",
    },
    Key {
        name: crate::env::SEED_DISKS,
        default: "10000",
        meaning: "disks the seed job loads (ids 1..=N)",
    },
    Key {
        name: crate::env::SEED_STOCK,
        default: "1000000",
        meaning: "each seeded disk's stock",
    },
];

/// The default of a profile key; None for a name that is not a profile key.
pub fn default_of(name: &str) -> Option<&'static str> {
    KEYS.iter().find(|k| k.name == name).map(|k| k.default)
}

/// A part of the stack that gets caps of its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Nginx,
    /// Each replica (the caps are per replica).
    App,
    Db,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Nginx, Role::App, Role::Db];

    /// The name the stack's services carry (`nginx`, `app1`/`app2` are `app`, `db`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Nginx => "nginx",
            Role::App => "app",
            Role::Db => "db",
        }
    }

    /// Its position in [`Role::ALL`], for per-role arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The role of a service by its name: `nginx`, the database (`db`, `postgres`, `mysql`),
    /// else a replica.
    pub fn of_service(service: &str) -> Role {
        match service {
            "nginx" => Role::Nginx,
            "db" | "database" | "postgres" | "mysql" => Role::Db,
            _ => Role::App,
        }
    }

    pub fn cpus_key(self) -> &'static str {
        match self {
            Role::Nginx => NGINX_CPUS,
            Role::App => APP_CPUS,
            Role::Db => DB_CPUS,
        }
    }

    pub fn memory_key(self) -> &'static str {
        match self {
            Role::Nginx => NGINX_MEMORY,
            Role::App => APP_MEMORY,
            Role::Db => DB_MEMORY,
        }
    }
}

/// One service's caps.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cap {
    /// CPU cap in cores (e.g. 0.3).
    pub cpus: f64,
    /// Memory cap in bytes.
    pub memory_bytes: u64,
}

/// The caps of a whole stack, as a profile sets them (defaults where it is silent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Caps {
    /// App replicas, 1 or 2.
    pub replicas: u32,
    pub nginx: Cap,
    /// Each replica's.
    pub app: Cap,
    pub db: Cap,
}

impl Caps {
    /// Reads the caps through `lookup` (a profile's value for a key, None or empty when it
    /// does not set it). The error names the key and the value.
    pub fn read<'a>(lookup: impl Fn(&str) -> Option<&'a str>) -> Result<Caps, String> {
        let value = |key: &str| {
            lookup(key)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| default_of(key))
                .unwrap_or_default()
        };
        let cap = |role: Role| -> Result<Cap, String> {
            let (cpus_key, memory_key) = (role.cpus_key(), role.memory_key());
            Ok(Cap {
                cpus: parse_cpus(value(cpus_key)).map_err(|e| format!("{cpus_key}: {e}"))?,
                memory_bytes: parse_memory(value(memory_key))
                    .map_err(|e| format!("{memory_key}: {e}"))?,
            })
        };
        let replicas: u32 = value(APP_REPLICAS)
            .trim()
            .parse()
            .map_err(|_| format!("{APP_REPLICAS}={:?} is not 1 or 2", value(APP_REPLICAS)))?;
        if !(1..=2).contains(&replicas) {
            return Err(format!("{APP_REPLICAS} must be 1 or 2, not {replicas}"));
        }
        Ok(Caps {
            replicas,
            nginx: cap(Role::Nginx)?,
            app: cap(Role::App)?,
            db: cap(Role::Db)?,
        })
    }

    /// The caps of one role.
    pub fn of(&self, role: Role) -> Cap {
        match role {
            Role::Nginx => self.nginx,
            Role::App => self.app,
            Role::Db => self.db,
        }
    }

    /// The defaults' caps (what a profile that sets nothing gets).
    pub fn defaults() -> Caps {
        Caps::read(|_| None).expect("the default table parses")
    }
}

/// Parses a memory size as `docker run --memory` does: `400M` is 400 MiB.
pub fn parse_memory(raw: &str) -> Result<u64, String> {
    let text = raw.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let number: f64 = number.parse().map_err(|_| {
        format!("memory size {raw:?}: expected a number with an optional k/m/g suffix")
    })?;
    let scale: u64 = match suffix.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "memory size {raw:?}: unknown suffix {other:?} (use k, m or g)"
            ))
        }
    };
    let bytes = number * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("memory size {raw:?} must be positive"));
    }
    Ok(bytes as u64)
}

/// Parses a CPU count such as `0.3` (a fraction of one CPU's time).
pub fn parse_cpus(raw: &str) -> Result<f64, String> {
    let cpus: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("CPU count {raw:?}: expected a decimal such as 0.3"))?;
    if !(cpus.is_finite() && cpus > 0.0) {
        return Err(format!("CPU count {raw:?} must be positive"));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_like_docker() {
        assert_eq!(parse_memory("400M").unwrap(), 400 << 20);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("0.5gb").unwrap(), 512 << 20);
        assert_eq!(parse_memory("200MB").unwrap(), 200 << 20);
        assert_eq!(parse_memory("1048576").unwrap(), 1 << 20);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("10X").is_err());
        assert!(parse_memory("0").is_err());
    }

    #[test]
    fn cpu_counts_must_be_positive_decimals() {
        assert_eq!(parse_cpus("0.3").unwrap(), 0.3);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("one").is_err());
    }

    #[test]
    fn caps_fall_back_to_the_one_table_and_name_a_bad_key() {
        let caps = Caps::defaults();
        assert_eq!(caps.replicas, 2);
        assert_eq!(
            caps.nginx,
            Cap {
                cpus: 0.1,
                memory_bytes: 200 << 20
            }
        );
        assert_eq!(
            caps.app,
            Cap {
                cpus: 0.3,
                memory_bytes: 400 << 20
            }
        );
        assert_eq!(
            caps.db,
            Cap {
                cpus: 0.3,
                memory_bytes: 1 << 30
            }
        );
        let set = |key: &str| (key == APP_CPUS).then_some("0.5");
        assert_eq!(Caps::read(set).unwrap().app.cpus, 0.5);
        let bad = |key: &str| (key == DB_MEMORY).then_some("lots");
        assert!(Caps::read(bad).unwrap_err().starts_with("DB_MEMORY"));
        let three = |key: &str| (key == APP_REPLICAS).then_some("3");
        assert!(Caps::read(three).is_err());
    }

    #[test]
    fn every_key_is_in_the_table_once() {
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
        for role in Role::ALL {
            assert!(default_of(role.cpus_key()).is_some());
            assert!(default_of(role.memory_key()).is_some());
        }
    }

    #[test]
    fn the_seed_defaults_are_the_profile_tables() {
        let d = crate::seed::Sizes::DEFAULT;
        for (key, value) in [
            (crate::env::SEED_CUSTOMERS, d.customers),
            (crate::env::SEED_DISKS, d.disks),
            (crate::env::SEED_STOCK, d.stock),
        ] {
            assert_eq!(default_of(key), Some(value.to_string().as_str()));
        }
    }
}
