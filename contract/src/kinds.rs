//! The kinds every part names: which database a stack runs on, how it runs, and the state a
//! running stack is in. Each is an enum with one spelling, used in command lines (`--db
//! postgres`), in files (`stack.json`, `run.json`) and in tables alike, so a typo is a parse
//! error instead of a string that matches nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Defines `name()`, `Display`, `FromStr` and `ALL` from one list of (variant, spelling).
macro_rules! spelled {
    ($kind:ident, $what:literal, [$(($variant:ident, $name:literal)),+ $(,)?]) => {
        impl $kind {
            /// Every value, in declaration order.
            pub const ALL: &'static [$kind] = &[$($kind::$variant),+];

            /// The one spelling of this value.
            pub fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $kind {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($name => Ok($kind::$variant),)+
                    other => Err(format!(
                        "unknown {} {other:?}: use {}",
                        $what,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
    };
}

/// The database a stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    /// A file inside the replicas' reach (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    Mysql,
}

spelled!(
    DbKind,
    "database",
    [(Sqlite, "sqlite"), (Postgres, "postgres"), (Mysql, "mysql")]
);

impl DbKind {
    /// The backend a database URL names by its scheme (`postgres://`, `mysql://`,
    /// `mariadb://`, `sqlite:`); None for any other scheme.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres") {
            Some(DbKind::Postgres)
        } else if url.starts_with("mysql") || url.starts_with("mariadb") {
            Some(DbKind::Mysql)
        } else if url.starts_with("sqlite") {
            Some(DbKind::Sqlite)
        } else {
            None
        }
    }

    /// True for a database that runs as a service of its own (it has caps and can fail).
    pub fn is_server(self) -> bool {
        self != DbKind::Sqlite
    }
}

/// How a stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Local processes, each in its own cgroup with the profile's caps.
    Native,
    /// docker compose with the profile's env file.
    Compose,
}

spelled!(
    RuntimeKind,
    "runtime",
    [(Native, "native"), (Compose, "compose")]
);

/// Where a stack is in its life, as its runtime records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StackState {
    /// Started, not yet answering (the native supervisor is bringing services up).
    #[default]
    Starting,
    /// Every service answers.
    Ready,
    /// Start-up failed; the stack records why.
    Failed,
    /// Stopped on purpose.
    Stopped,
}

spelled!(
    StackState,
    "stack state",
    [
        (Starting, "starting"),
        (Ready, "ready"),
        (Failed, "failed"),
        (Stopped, "stopped")
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_one_spelling() {
        for db in DbKind::ALL {
            assert_eq!(db.name().parse::<DbKind>(), Ok(*db));
            let json = serde_json::to_string(db).unwrap();
            assert_eq!(json, format!("\"{db}\""));
        }
        for runtime in RuntimeKind::ALL {
            assert_eq!(runtime.to_string().parse::<RuntimeKind>(), Ok(*runtime));
        }
        for state in StackState::ALL {
            let json = serde_json::to_string(state).unwrap();
            assert_eq!(serde_json::from_str::<StackState>(&json).unwrap(), *state);
        }
        let err = "postgre".parse::<DbKind>().unwrap_err();
        assert!(err.contains("sqlite, postgres, mysql"), "{err}");
    }

    #[test]
    fn the_database_is_read_from_a_url_scheme() {
        assert_eq!(
            DbKind::of_url("postgres://lab:lab@postgres:5432/lab"),
            Some(DbKind::Postgres)
        );
        assert_eq!(DbKind::of_url("mysql://lab@mysql/lab"), Some(DbKind::Mysql));
        assert_eq!(DbKind::of_url("sqlite://data/app.db"), Some(DbKind::Sqlite));
        assert_eq!(DbKind::of_url("redis://x"), None);
    }
}
