//! What `lab compare` finds in a set of runs, as data (`compare.json`): the runs grouped into
//! repeats, each group's figures per series and load level (median and range), each group
//! against a baseline group with its interval and verdict, and where the runs' machines or
//! references differ. `lab ab` judges its two sides with the same [`versus`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::machine::differences;
use super::reference::drift;
use super::run::Run;
use super::stats::{self, Direction, MIN_RUNS_PER_SIDE};
use super::step::Step;
use crate::client_path::ClientPath;

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// What a comparison of two samples says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    WithinNoise,
    /// Fewer than [`MIN_RUNS_PER_SIDE`] values on a side: no 95% interval exists.
    TooFewRuns,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::WithinNoise => "within noise",
            Verdict::TooFewRuns => "too few runs to tell",
        }
    }
}

/// B against A for one figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Versus {
    /// B/A: Hodges-Lehmann's estimate with enough runs, else the ratio of the medians.
    pub ratio: f64,
    /// The interval's ends; None without enough runs for one.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// The interval's exact coverage (at least 0.95).
    pub confidence: Option<f64>,
    pub verdict: Verdict,
}

/// The median and range of one figure over a group's runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub runs: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        let median = stats::median(values)?;
        Some(Spread {
            runs: values.len(),
            median,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// `b` against `a`, judged for a figure where `better` is better. None when a side is empty
/// or holds a value that is not positive.
pub fn versus(a: &[f64], b: &[f64], better: Better) -> Option<Versus> {
    if a.len() >= MIN_RUNS_PER_SIDE && b.len() >= MIN_RUNS_PER_SIDE {
        let interval = stats::ratio_interval(a, b, 0.95)?;
        let verdict = match (interval.direction(), better) {
            (Direction::WithinNoise, _) => Verdict::WithinNoise,
            (Direction::Higher, Better::Higher) | (Direction::Lower, Better::Lower) => {
                Verdict::Better
            }
            _ => Verdict::Worse,
        };
        return Some(Versus {
            ratio: interval.ratio,
            low: Some(interval.low),
            high: Some(interval.high),
            confidence: Some(interval.confidence),
            verdict,
        });
    }
    let (ma, mb) = (stats::median(a)?, stats::median(b)?);
    (ma > 0.0 && mb > 0.0).then_some(Versus {
        ratio: mb / ma,
        low: None,
        high: None,
        confidence: None,
        verdict: Verdict::TooFewRuns,
    })
}

/// Runs that are repeats of each other: the same label, runtime, database, driver, profiles
/// and scenarios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub label: String,
    pub runtime: String,
    pub db: String,
    pub driver: String,
    pub profiles: Vec<String>,
    pub scenarios: Vec<String>,
    /// Its runs' folders, as given.
    pub runs: Vec<String>,
}

/// The figures compared per series and load level.
pub const FIGURES: [(&str, &str, Better); 3] = [
    (
        "requests_per_s",
        "throughput (requests/s users got)",
        Better::Higher,
    ),
    ("p50_ms", "p50 latency users saw (ms)", Better::Lower),
    ("p99_ms", "p99 latency users saw (ms)", Better::Lower),
];

/// One figure of one series at one load level, in every group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `requests_per_s`, `p50_ms` or `p99_ms`.
    pub figure: String,
    pub profile: String,
    /// The scenario, ` (open)` added for the open model's series.
    pub scenario: String,
    /// `50 users` or `1000/s`.
    pub load: String,
    /// Per group, in order: its spread over its runs (None: no such step).
    pub groups: Vec<Option<Spread>>,
    /// Per group: against the baseline group (None for the baseline and where either lacks
    /// the step).
    pub versus_baseline: Vec<Option<Versus>>,
}

/// Everything `lab compare` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The index in `groups` every other group is compared with.
    pub baseline: usize,
    pub groups: Vec<Group>,
    pub rows: Vec<Row>,
    /// Where a run's machine or reference differs from the baseline's first run, each as a
    /// sentence naming the run: what makes a ratio between them a ratio between machines.
    pub machine_differences: Vec<String>,
}

fn group_key(run: &Run) -> Group {
    Group {
        label: run.label.clone(),
        runtime: run.settings.runtime.clone(),
        db: run.settings.db.clone(),
        driver: run.settings.driver.clone(),
        profiles: run.profiles.iter().map(|p| p.name.clone()).collect(),
        scenarios: run.settings.scenarios.clone(),
        runs: Vec::new(),
    }
}

fn figure(step: &Step, name: &str) -> f64 {
    let h = step.headline();
    match name {
        "requests_per_s" => h.requests_per_s,
        "p50_ms" => h.p50_ms,
        _ => h.p99_ms,
    }
}

impl Comparison {
    /// Groups `runs` (with the paths they were read from) and compares every group with the
    /// group of run `baseline_run`.
    pub fn of(runs: &[(Run, &Path)], baseline_run: usize) -> Comparison {
        let mut groups: Vec<(Group, Vec<&Run>)> = Vec::new();
        let mut baseline = 0;
        for (i, (run, path)) in runs.iter().enumerate() {
            let key = group_key(run);
            let index = match groups.iter().position(|(g, _)| {
                let mut g = g.clone();
                g.runs.clear();
                g == key
            }) {
                Some(index) => index,
                None => {
                    groups.push((key, Vec::new()));
                    groups.len() - 1
                }
            };
            groups[index].0.runs.push(path.display().to_string());
            groups[index].1.push(run);
            if i == baseline_run {
                baseline = index;
            }
        }
        let rows = rows(&groups, baseline);
        let machine_differences = machine_differences(runs, baseline_run);
        Comparison {
            baseline,
            groups: groups.into_iter().map(|(g, _)| g).collect(),
            rows,
            machine_differences,
        }
    }
}

/// Every (series, load) any group has, for each figure.
fn rows(groups: &[(Group, Vec<&Run>)], baseline: usize) -> Vec<Row> {
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for (_, runs) in groups {
        for run in runs {
            for ((profile, scenario), steps) in run.series() {
                for step in steps {
                    let key = (profile.clone(), scenario.clone(), step.level_label());
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
    }
    let mut rows = Vec::new();
    for (name, _, better) in FIGURES {
        for (profile, scenario, load) in &keys {
            let values: Vec<Vec<f64>> = groups
                .iter()
                .map(|(_, runs)| {
                    runs.iter()
                        .flat_map(|run| {
                            run.series()
                                .into_iter()
                                .filter(|((p, s), _)| p == profile && s == scenario)
                                .flat_map(|(_, steps)| steps)
                                .filter(|step| &step.level_label() == load)
                                .map(|step| figure(step, name))
                                .collect::<Vec<_>>()
                        })
                        .collect()
                })
                .collect();
            let versus_baseline = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    (i != baseline)
                        .then(|| versus(&values[baseline], v, better))
                        .flatten()
                })
                .collect();
            rows.push(Row {
                figure: name.to_owned(),
                profile: profile.clone(),
                scenario: scenario.clone(),
                load: load.clone(),
                groups: values.iter().map(|v| Spread::of(v)).collect(),
                versus_baseline,
            });
        }
    }
    rows
}

fn machine_differences(runs: &[(Run, &Path)], baseline_run: usize) -> Vec<String> {
    let Some((base, base_path)) = runs.get(baseline_run) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (run, path) in runs {
        if std::ptr::eq(run, base) {
            continue;
        }
        let mut found = differences(&base.machine, &run.machine);
        if let (Some(a), Some(b)) = (&base.reference, &run.reference) {
            found.extend(drift(a, b));
        }
        found.extend(client_path_difference(base, run));
        if !found.is_empty() {
            out.push(format!(
                "{} against {}: {}",
                path.display(),
                base_path.display(),
                found.join("; ")
            ));
        }
    }
    out
}

/// The way the load reached nginx, when two compose runs differ in it: a difference of the
/// measurement, not of the stack (docs/results.md, "The client's path into compose"). Runs
/// recorded before lab said are read from their URL (a loopback URL was the published port).
fn client_path_difference(a: &Run, b: &Run) -> Option<String> {
    let path = |run: &Run| {
        let profile = run.profiles.first()?;
        (run.settings.runtime == "compose").then(|| {
            profile
                .client_path
                .unwrap_or_else(|| ClientPath::of_attached_url(&profile.base_url))
        })
    };
    let (from, to) = (path(a)?, path(b)?);
    (from != to).then(|| {
        format!(
            "the load reached nginx through {} against {}",
            to.describe(),
            from.describe()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_runs_that_reached_nginx_differently_are_named_and_native_ones_never() {
        let mut a = crate::results::fixture::run();
        a.settings.runtime = "compose".into();
        a.profiles[0].client_path = None;
        a.profiles[0].base_url = "http://127.0.0.1:8080".into();
        let mut b = a.clone();
        assert_eq!(client_path_difference(&a, &b), None);
        b.profiles[0].client_path = Some(ClientPath::Bridge);
        let found = client_path_difference(&a, &b).unwrap();
        assert!(found.contains("docker-proxy"), "{found}");
        a.settings.runtime = "native".into();
        assert_eq!(client_path_difference(&a, &b), None);
    }

    #[test]
    fn five_runs_a_side_give_a_verdict_and_fewer_give_none() {
        let a = [100.0, 102.0, 98.0, 101.0, 99.0];
        let b = [120.0, 123.0, 118.0, 121.0, 119.0];
        let v = versus(&a, &b, Better::Higher).unwrap();
        assert_eq!(v.verdict, Verdict::Better);
        assert!(v.low.unwrap() > 1.0 && (v.ratio - 1.2).abs() < 0.02);
        let v = versus(&a, &b, Better::Lower).unwrap();
        assert_eq!(v.verdict, Verdict::Worse);
        let v = versus(&a[..2], &b[..2], Better::Higher).unwrap();
        assert_eq!(v.verdict, Verdict::TooFewRuns);
        assert!(v.low.is_none() && (v.ratio - 121.5 / 101.0).abs() < 1e-9);
        let same = versus(&a, &[101.0, 99.5, 100.5, 98.5, 100.0], Better::Higher).unwrap();
        assert_eq!(same.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn repeats_are_grouped_and_compared_with_the_baseline_group() {
        let base = crate::results::fixture::run();
        let mut other = base.clone();
        other.label = "after".into();
        for step in &mut other.steps {
            if let Some(c) = step.client.as_mut() {
                c.achieved_rate_per_s *= 1.5;
            }
        }
        other.machine.cores = 4;
        let paths = [Path::new("a"), Path::new("b"), Path::new("c")];
        let runs = vec![
            (base.clone(), paths[0]),
            (other.clone(), paths[1]),
            (base.clone(), paths[2]),
        ];
        let c = Comparison::of(&runs, 0);
        assert_eq!(c.groups.len(), 2);
        assert_eq!(c.groups[0].runs, ["a", "c"]);
        assert_eq!(c.baseline, 0);
        let row = c
            .rows
            .iter()
            .find(|r| r.figure == "requests_per_s" && r.load == "10 users")
            .unwrap();
        assert_eq!(row.groups[0].unwrap().runs, 2);
        let v = row.versus_baseline[1].unwrap();
        assert!((v.ratio - 1.5).abs() < 1e-9);
        assert_eq!(v.verdict, Verdict::TooFewRuns);
        assert_eq!(c.machine_differences.len(), 1);
        assert!(c.machine_differences[0].starts_with("b against a: cores: 2 -> 4"));
    }
}
