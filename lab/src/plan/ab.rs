//! `lab ab`'s plan: two sides that differ in one thing (a profile, an nginx.conf, a scenario,
//! the runtime, the app's git revision or binary), the one load both get, how many rounds, and
//! the order the runs alternate in. Checked before anything starts.

use std::path::PathBuf;

use anyhow::{bail, Context};

use super::bench::{BenchPlan, BenchRequest};
use super::driver::DriverKind;
use crate::client_path::ClientChoice;
use crate::plan::levels::Offered;
use crate::results::stats::MIN_RUNS_PER_SIDE;
use crate::results::Arrivals;
use contract::{DbKind, RuntimeKind};

/// What one side changes against the base settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Variant {
    /// The base settings as they are (the A side when B changes something).
    Base,
    /// A profile (`profiles/<name>.env` or a path).
    Profile(String),
    /// An nginx.conf template to use instead of the repository's.
    NginxConf(PathBuf),
    /// A scenario (a built-in name or a URL file).
    Scenario(String),
    Runtime(RuntimeKind),
    /// The app built from this git revision (native runtime).
    Git(String),
    /// This app binary (native runtime).
    App(PathBuf),
    /// How lab's client reaches nginx under compose (`LAB_CLIENT_PATH`).
    Client(ClientChoice),
}

impl Variant {
    /// `profile:tight`, `nginx:PATH`, `scenario:read`, `runtime:compose`, `git:REV`,
    /// `app:PATH`, `client:bridge|published`, or `base`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text == "base" {
            return Ok(Variant::Base);
        }
        let Some((kind, value)) = text.split_once(':').filter(|(_, v)| !v.is_empty()) else {
            bail!("{text:?}: a side is KIND:VALUE (profile:tight, nginx:PATH, scenario:read, runtime:compose, git:REV, app:PATH, client:published) or base");
        };
        Ok(match kind {
            "profile" => Variant::Profile(value.to_owned()),
            "nginx" => {
                let path = PathBuf::from(value);
                if !path.is_file() {
                    bail!("{text:?}: no nginx.conf at {value}");
                }
                Variant::NginxConf(path.canonicalize()?)
            }
            "scenario" => Variant::Scenario(value.to_owned()),
            "runtime" => Variant::Runtime(match value {
                "native" => RuntimeKind::Native,
                "compose" => RuntimeKind::Compose,
                other => bail!("{text:?}: runtime {other:?} is native or compose"),
            }),
            "git" => Variant::Git(value.to_owned()),
            "app" => {
                let path = PathBuf::from(value);
                if !path.is_file() {
                    bail!("{text:?}: no app binary at {value}");
                }
                Variant::App(path.canonicalize()?)
            }
            "client" => Variant::Client(match value {
                "bridge" => ClientChoice::Bridge,
                "published" => ClientChoice::Published,
                other => bail!("{text:?}: client {other:?} is bridge or published (how lab's client reaches nginx under compose)"),
            }),
            other => bail!("{text:?}: {other:?} is not a kind of side (profile, nginx, scenario, runtime, git, app, client)"),
        })
    }

    /// How the side is named in reports.
    pub fn describe(&self) -> String {
        match self {
            Variant::Base => "the base settings".to_owned(),
            Variant::Profile(p) => format!("profile {p}"),
            Variant::NginxConf(p) => format!("nginx.conf {}", p.display()),
            Variant::Scenario(s) => format!("scenario {s}"),
            Variant::Runtime(r) => format!("runtime {r}"),
            Variant::Git(rev) => format!("the app at git {rev}"),
            Variant::App(p) => format!("the app binary {}", p.display()),
            Variant::Client(c) => format!("client path {c}"),
        }
    }

    /// True when the side needs the native runtime (it swaps the app binary).
    fn needs_native(&self) -> bool {
        matches!(self, Variant::Git(_) | Variant::App(_))
    }
}

/// Which side a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Side {
    /// A, in the A/A phase: the noise floor's first half.
    #[serde(rename = "A")]
    A,
    /// A again, the A/A phase's second half.
    #[serde(rename = "A'")]
    APrime,
    #[serde(rename = "B")]
    B,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::A => "A",
            Side::APrime => "A'",
            Side::B => "B",
        }
    }

    /// The folder-name form: `a`, `a2`, `b`.
    pub fn slug(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::APrime => "a2",
            Side::B => "b",
        }
    }
}

/// One run of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// True in the A/A phase.
    pub aa: bool,
    pub round: usize,
    pub side: Side,
}

/// The runs in order: the A/A rounds first when asked (A A', then A' A, ...), then the A/B
/// rounds, each round's order the reverse of the last (A B, B A, A B, ...), so a drift of the
/// machine over the session falls on both sides alike.
pub fn order(rounds: usize, aa: bool) -> Vec<Slot> {
    let mut slots = Vec::new();
    let phases: &[(bool, Side)] = if aa {
        &[(true, Side::APrime), (false, Side::B)]
    } else {
        &[(false, Side::B)]
    };
    for &(is_aa, other) in phases {
        for round in 0..rounds {
            let pair = if round % 2 == 0 {
                [Side::A, other]
            } else {
                [other, Side::A]
            };
            for side in pair {
                slots.push(Slot {
                    aa: is_aa,
                    round,
                    side,
                });
            }
        }
    }
    slots
}

/// What `lab ab` is asked for, before it is checked.
#[derive(Debug, Clone)]
pub struct AbRequest {
    pub a: String,
    pub b: String,
    pub rounds: usize,
    pub aa: bool,
    pub profile: String,
    pub scenario: String,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub users: Option<u32>,
    pub rate: Option<f64>,
    pub arrivals: Arrivals,
    pub driver: DriverKind,
    pub step_secs: u64,
    pub warmup_secs: u64,
    pub label: String,
    pub results: PathBuf,
    pub state_dir: PathBuf,
}

/// A checked `lab ab`.
#[derive(Debug, Clone)]
pub struct AbPlan {
    pub a: Variant,
    pub b: Variant,
    pub rounds: usize,
    pub aa: bool,
    /// The one step every run measures, under the base settings.
    pub base: BenchRequest,
    pub offered: Offered,
    pub label: String,
    pub results: PathBuf,
}

impl AbPlan {
    pub fn new(request: AbRequest) -> anyhow::Result<Self> {
        if request.rounds < MIN_RUNS_PER_SIDE {
            bail!(
                "--rounds {}: a 95% interval needs at least {MIN_RUNS_PER_SIDE} runs of each side (5 is a good default)",
                request.rounds
            );
        }
        let a = Variant::parse(&request.a).context("--a")?;
        let b = Variant::parse(&request.b).context("--b")?;
        if a == b && !request.aa {
            bail!("--a and --b are the same side: for the noise floor of one side, give --aa");
        }
        for side in [&a, &b] {
            if side.needs_native() && request.runtime != RuntimeKind::Native {
                bail!(
                    "{}: swapping the app's binary needs --runtime native (under compose the image is built from the checkout)",
                    side.describe()
                );
            }
            if matches!(side, Variant::Client(_)) && request.runtime != RuntimeKind::Compose {
                bail!(
                    "{}: the client's path is a choice under compose only (natively nginx is on a loopback port): add --runtime compose",
                    side.describe()
                );
            }
        }
        let offered = match (request.users, request.rate) {
            (Some(_), Some(_)) => {
                bail!("give --users (closed model) or --rate (open model), not both")
            }
            (Some(0), None) => bail!("--users must be at least 1"),
            (Some(users), None) => Offered::Users(users),
            (None, Some(rate)) if rate.is_finite() && rate > 0.0 => Offered::Rate {
                per_s: rate,
                arrivals: request.arrivals,
            },
            (None, Some(_)) => bail!("--rate must be a positive number of requests per second"),
            (None, None) => Offered::Users(50),
        };
        if request.rate.is_some() && request.driver == DriverKind::Siege {
            bail!("--rate runs the open model, which siege cannot drive: use --driver lab (the default)");
        }
        let base = BenchRequest {
            label: request.label.clone(),
            results: request.results.clone(),
            profiles: vec![request.profile],
            scenarios: vec![request.scenario],
            db: request.db,
            runtime: request.runtime,
            attach: false,
            state_dir: request.state_dir,
            users: Some(offered.users().into_iter().collect()),
            ramp: false,
            rates: offered.rate().map(|r| r.to_string()),
            arrivals: request.arrivals,
            driver: request.driver,
            step_secs: request.step_secs,
            warmup_secs: request.warmup_secs,
            ceiling_secs: 0,
            slo: None,
        };
        // Every side's bench must be valid before the first run starts.
        for side in [&a, &b] {
            BenchPlan::new(side_request(&base, side, "check"))?;
        }
        Ok(Self {
            a,
            b,
            rounds: request.rounds,
            aa: request.aa,
            base,
            offered,
            label: request.label,
            results: request.results,
        })
    }

    /// The variant a side runs.
    pub fn variant(&self, side: Side) -> &Variant {
        match side {
            Side::A | Side::APrime => &self.a,
            Side::B => &self.b,
        }
    }
}

/// The base bench with a side's variant applied (the app binary and nginx.conf variants act
/// on lab's settings instead: `exec::ab`).
pub fn side_request(base: &BenchRequest, variant: &Variant, label: &str) -> BenchRequest {
    let mut request = base.clone();
    request.label = label.to_owned();
    match variant {
        Variant::Profile(p) => request.profiles = vec![p.clone()],
        Variant::Scenario(s) => request.scenarios = vec![s.clone()],
        Variant::Runtime(r) => request.runtime = *r,
        // Another build of the app may have another schema: its private database (kept in
        // the state folder between runs) must not be the other side's, whose migrations
        // it does not know.
        Variant::Git(rev) => request.state_dir = own_state_dir(base, "git", rev),
        Variant::App(path) => {
            request.state_dir = own_state_dir(base, "app", &path.display().to_string())
        }
        Variant::Base | Variant::NginxConf(_) | Variant::Client(_) => {}
    }
    request
}

/// `<state>/ab-<kind>-<name>`, the name reduced to letters, digits and `-`.
fn own_state_dir(base: &BenchRequest, kind: &str, name: &str) -> PathBuf {
    let name: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base.state_dir.join(format!("ab-{kind}-{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sides(slots: &[Slot]) -> String {
        slots
            .iter()
            .map(|s| s.side.name())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn runs_alternate_and_each_round_reverses_the_last() {
        let slots = order(4, false);
        assert_eq!(sides(&slots), "A B B A A B B A");
        assert!(slots.iter().all(|s| !s.aa));
        assert_eq!(slots[2].round, 1);
        let with_aa = order(2, true);
        assert_eq!(sides(&with_aa), "A A' A' A A B B A");
        assert_eq!(with_aa.iter().filter(|s| s.aa).count(), 4);
        // Each side runs as often as the other, in every phase.
        for side in [Side::A, Side::B] {
            assert_eq!(slots.iter().filter(|s| s.side == side).count(), 4);
        }
    }

    #[test]
    fn sides_are_parsed_strictly() {
        assert_eq!(
            Variant::parse("profile:tight").unwrap(),
            Variant::Profile("tight".into())
        );
        assert_eq!(
            Variant::parse("runtime:compose").unwrap(),
            Variant::Runtime(RuntimeKind::Compose)
        );
        assert_eq!(
            Variant::parse("git:HEAD~1").unwrap(),
            Variant::Git("HEAD~1".into())
        );
        assert!(Variant::parse("tight").is_err());
        assert!(Variant::parse("nginx:/no/such/file").is_err());
        assert!(Variant::parse("runtime:k8s").is_err());
        assert_eq!(
            Variant::parse("client:published").unwrap(),
            Variant::Client(ClientChoice::Published)
        );
        assert!(Variant::parse("client:auto").is_err());
        assert!(Variant::parse("colour:red").is_err());
    }

    #[test]
    fn a_client_path_side_needs_compose_and_a_binary_side_needs_native() {
        let request = |b: &str, runtime| AbRequest {
            a: "base".into(),
            b: b.into(),
            rounds: 5,
            aa: false,
            profile: "tight".into(),
            scenario: "read".into(),
            db: DbKind::Postgres,
            runtime,
            users: Some(50),
            rate: None,
            arrivals: Arrivals::Constant,
            driver: DriverKind::Lab,
            step_secs: 10,
            warmup_secs: 3,
            label: "ab".into(),
            results: "results".into(),
            state_dir: ".lab/stack".into(),
        };
        let err = AbPlan::new(request("client:published", RuntimeKind::Native)).unwrap_err();
        assert!(format!("{err:#}").contains("--runtime compose"), "{err:#}");
        let plan = AbPlan::new(request("client:published", RuntimeKind::Compose)).unwrap();
        assert_eq!(plan.b, Variant::Client(ClientChoice::Published));
        let app = std::env::current_exe().unwrap().display().to_string();
        let err = AbPlan::new(request(&format!("app:{app}"), RuntimeKind::Compose)).unwrap_err();
        assert!(format!("{err:#}").contains("--runtime native"), "{err:#}");
    }

    #[test]
    fn each_build_of_the_app_keeps_its_own_database() {
        let base = BenchRequest {
            label: "ab".into(),
            results: "results".into(),
            profiles: vec!["tight".into()],
            scenarios: vec!["write".into()],
            db: contract::DbKind::Postgres,
            runtime: RuntimeKind::Native,
            attach: false,
            state_dir: PathBuf::from(".lab/stack"),
            users: Some(vec![50]),
            ramp: false,
            rates: None,
            arrivals: Arrivals::Constant,
            driver: DriverKind::Lab,
            step_secs: 10,
            warmup_secs: 3,
            ceiling_secs: 0,
            slo: None,
        };
        let state = |v: &str| side_request(&base, &Variant::parse(v).unwrap(), "x").state_dir;
        assert_eq!(
            state("git:f1e547c"),
            PathBuf::from(".lab/stack/ab-git-f1e547c")
        );
        assert_eq!(
            state("git:HEAD~1"),
            PathBuf::from(".lab/stack/ab-git-HEAD-1")
        );
        assert_eq!(state("profile:roomy"), PathBuf::from(".lab/stack"));
        assert_eq!(state("base"), PathBuf::from(".lab/stack"));
    }
}
