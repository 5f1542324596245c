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
/// Each replica's CFS period, in µs: its CPU cap is enforced over windows this long.
pub const APP_CPU_PERIOD_US: &str = "APP_CPU_PERIOD_US";
/// The database's CFS period, in µs.
pub const DB_CPU_PERIOD_US: &str = "DB_CPU_PERIOD_US";
/// nginx's CFS period, in µs.
pub const NGINX_CPU_PERIOD_US: &str = "NGINX_CPU_PERIOD_US";
/// Each replica's CFS quota per period, in µs: `APP_CPUS` x `APP_CPU_PERIOD_US`. compose caps
/// the containers with it (`cpu_quota`), so a profile that changes the CPUs or the period
/// states it too; lab checks the three agree.
pub const APP_CPU_QUOTA_US: &str = "APP_CPU_QUOTA_US";
/// The database's CFS quota per period, in µs.
pub const DB_CPU_QUOTA_US: &str = "DB_CPU_QUOTA_US";
/// nginx's CFS quota per period, in µs.
pub const NGINX_CPU_QUOTA_US: &str = "NGINX_CPU_QUOTA_US";

/// The kernel's default CFS period: 100 ms.
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;
/// The shortest CFS period and the smallest quota the kernel takes: 1 ms.
pub const MIN_CPU_PERIOD_US: u64 = 1_000;
/// The longest CFS period the kernel takes: 1 s.
pub const MAX_CPU_PERIOD_US: u64 = 1_000_000;
/// How nginx reaches the replicas: `tcp` (their TCP port) or `unix` (a Unix-domain socket
/// each replica also listens on); see [`Transport`].
pub use crate::transport::UPSTREAM_TRANSPORT;
/// Requests per second per client IP, 0 = no limit.
pub const RATE_LIMIT_RPS: &str = "RATE_LIMIT_RPS";
/// Burst above the rate per client IP.
pub const RATE_LIMIT_BURST: &str = "RATE_LIMIT_BURST";
/// The stress endpoints' own, tighter rate per client IP.
pub const STRESS_RATE_LIMIT_RPS: &str = "STRESS_RATE_LIMIT_RPS";

/// Every key a profile may set, with its default: the one table. A quota's default is the
/// default CPUs over the default period; a profile that sets neither CPUs nor period may omit
/// it, any other states it (compose reads it as it is).
pub const KEYS: [Key; 23] = [
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
        name: APP_CPU_PERIOD_US,
        default: "100000",
        meaning: "each replica's CFS period in µs: its CPU cap is enforced per window this long",
    },
    Key {
        name: APP_CPU_QUOTA_US,
        default: "30000",
        meaning: "each replica's CPU time per period in µs, = APP_CPUS x APP_CPU_PERIOD_US",
    },
    Key {
        name: DB_CPU_PERIOD_US,
        default: "100000",
        meaning: "the database's CFS period in µs",
    },
    Key {
        name: DB_CPU_QUOTA_US,
        default: "30000",
        meaning: "the database's CPU time per period in µs, = DB_CPUS x DB_CPU_PERIOD_US",
    },
    Key {
        name: NGINX_CPU_PERIOD_US,
        default: "100000",
        meaning: "nginx's CFS period in µs",
    },
    Key {
        name: NGINX_CPU_QUOTA_US,
        default: "10000",
        meaning: "nginx's CPU time per period in µs, = NGINX_CPUS x NGINX_CPU_PERIOD_US",
    },
    Key {
        name: UPSTREAM_TRANSPORT,
        default: "tcp",
        meaning: "how nginx reaches the replicas: tcp, or unix (a Unix-domain socket each)",
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

pub use crate::transport::Transport;

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

    pub fn cpu_period_key(self) -> &'static str {
        match self {
            Role::Nginx => NGINX_CPU_PERIOD_US,
            Role::App => APP_CPU_PERIOD_US,
            Role::Db => DB_CPU_PERIOD_US,
        }
    }

    pub fn cpu_quota_key(self) -> &'static str {
        match self {
            Role::Nginx => NGINX_CPU_QUOTA_US,
            Role::App => APP_CPU_QUOTA_US,
            Role::Db => DB_CPU_QUOTA_US,
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
    /// The CFS period the CPU cap is enforced over, in µs (the kernel's 100 ms by default):
    /// a service over its quota waits for the next period, so a shorter one bounds that wait.
    #[serde(default = "default_period")]
    pub cpu_period_us: u64,
}

fn default_period() -> u64 {
    DEFAULT_CPU_PERIOD_US
}

impl Cap {
    /// The CPU time the service may use per period, in µs: `cpus` x the period.
    pub fn cpu_quota_us(&self) -> u64 {
        (self.cpus * self.cpu_period_us as f64).round() as u64
    }
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
            let cap = Cap {
                cpus: parse_cpus(value(cpus_key)).map_err(|e| format!("{cpus_key}: {e}"))?,
                memory_bytes: parse_memory(value(memory_key))
                    .map_err(|e| format!("{memory_key}: {e}"))?,
                cpu_period_us: parse_period(role.cpu_period_key(), value(role.cpu_period_key()))?,
            };
            check_quota(
                role,
                &cap,
                lookup(role.cpu_quota_key()).filter(|v| !v.trim().is_empty()),
            )?;
            Ok(cap)
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

/// A CFS period in µs, within the kernel's 1 ms to 1 s.
fn parse_period(key: &str, raw: &str) -> Result<u64, String> {
    let period: u64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{key}={raw:?}: expected whole microseconds, e.g. 100000"))?;
    if !(MIN_CPU_PERIOD_US..=MAX_CPU_PERIOD_US).contains(&period) {
        return Err(format!(
            "{key}={period}: the kernel takes a CFS period from {MIN_CPU_PERIOD_US} µs (1 ms) to {MAX_CPU_PERIOD_US} µs (1 s)"
        ));
    }
    Ok(period)
}

/// The quota the CPUs and period give must be one the kernel takes (at least 1 ms), and a
/// quota the profile states must be that one: compose caps the container with the stated
/// quota, native runs with the computed one, and the two must not differ.
fn check_quota(role: Role, cap: &Cap, stated: Option<&str>) -> Result<(), String> {
    let (cpus_key, period_key, quota_key) =
        (role.cpus_key(), role.cpu_period_key(), role.cpu_quota_key());
    let quota = cap.cpu_quota_us();
    if quota < MIN_CPU_PERIOD_US {
        return Err(format!(
            "{cpus_key}={} over {period_key}={} gives {quota} µs of CPU per period, below the kernel's smallest quota of {MIN_CPU_PERIOD_US} µs: lengthen the period",
            cap.cpus, cap.cpu_period_us
        ));
    }
    let default_quota = default_of(quota_key).and_then(|d| d.parse::<u64>().ok());
    match stated {
        Some(raw) => {
            let stated: u64 = raw.trim().parse().map_err(|_| {
                format!("{quota_key}={raw:?}: expected whole microseconds, e.g. {quota}")
            })?;
            if stated != quota {
                return Err(format!(
                    "{quota_key}={stated} disagrees with {cpus_key}={} x {period_key}={} = {quota} µs: set {quota_key}={quota} (compose caps the container with the quota)",
                    cap.cpus, cap.cpu_period_us
                ));
            }
        }
        // Unstated, compose falls back to the table's quota: only right when it is this one.
        None if Some(quota) != default_quota => {
            return Err(format!(
                "{cpus_key}={} over {period_key}={} needs {quota_key}={quota} in the profile: compose caps the container with the quota, whose default ({}) is another",
                cap.cpus,
                cap.cpu_period_us,
                default_quota.unwrap_or_default()
            ));
        }
        None => {}
    }
    Ok(())
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
                memory_bytes: 200 << 20,
                cpu_period_us: 100_000,
            }
        );
        assert_eq!(
            caps.app,
            Cap {
                cpus: 0.3,
                memory_bytes: 400 << 20,
                cpu_period_us: 100_000,
            }
        );
        assert_eq!(
            caps.db,
            Cap {
                cpus: 0.3,
                memory_bytes: 1 << 30,
                cpu_period_us: 100_000,
            }
        );
        assert_eq!(caps.nginx.cpu_quota_us(), 10_000);
        let set = |key: &str| match key {
            APP_CPUS => Some("0.5"),
            APP_CPU_QUOTA_US => Some("50000"),
            _ => None,
        };
        assert_eq!(Caps::read(set).unwrap().app.cpus, 0.5);
        let bad = |key: &str| (key == DB_MEMORY).then_some("lots");
        assert!(Caps::read(bad).unwrap_err().starts_with("DB_MEMORY"));
        let three = |key: &str| (key == APP_REPLICAS).then_some("3");
        assert!(Caps::read(three).is_err());
    }

    #[test]
    fn the_cfs_period_and_quota_agree_with_the_cpus_or_the_profile_is_refused() {
        let read = |pairs: &'static [(&'static str, &'static str)]| {
            Caps::read(move |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
        };
        // nginx's 0.1 CPU over 10 ms: 1 ms per period, the kernel's smallest quota.
        let caps = read(&[(NGINX_CPU_PERIOD_US, "10000"), (NGINX_CPU_QUOTA_US, "1000")]).unwrap();
        assert_eq!(
            (caps.nginx.cpu_period_us, caps.nginx.cpu_quota_us()),
            (10_000, 1_000)
        );
        // A period without its quota: compose would cap with the default 10000 µs.
        let err = read(&[(NGINX_CPU_PERIOD_US, "10000")]).unwrap_err();
        assert!(err.contains("needs NGINX_CPU_QUOTA_US=1000"), "{err}");
        // CPUs without the quota, and a quota that disagrees.
        assert!(read(&[(DB_CPUS, "0.5")])
            .unwrap_err()
            .contains("DB_CPU_QUOTA_US=50000"));
        let err = read(&[(APP_CPU_QUOTA_US, "25000")]).unwrap_err();
        assert!(err.contains("set APP_CPU_QUOTA_US=30000"), "{err}");
        // Below the kernel's 1 ms quota, and periods out of its range.
        let err = read(&[(NGINX_CPU_PERIOD_US, "5000"), (NGINX_CPU_QUOTA_US, "500")]).unwrap_err();
        assert!(err.contains("smallest quota"), "{err}");
        assert!(read(&[(APP_CPU_PERIOD_US, "500")])
            .unwrap_err()
            .contains("from 1000"));
        assert!(read(&[(APP_CPU_PERIOD_US, "2000000")]).is_err());
        assert!(read(&[(APP_CPU_PERIOD_US, "fast")]).is_err());
    }

    #[test]
    fn every_key_is_in_the_table_once() {
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
        assert_eq!(
            Transport::parse(default_of(UPSTREAM_TRANSPORT)),
            Ok(Transport::default())
        );
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
