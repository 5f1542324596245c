//! `lab ab`'s result (`ab.json`): every run of both sides with the figures it gave, each figure
//! of B against A (and of A' against A, the noise floor, when asked) with its interval and
//! verdict, the latency percentiles of each side's pooled histograms, and where the machine or
//! its reference moved during the session.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::comparison::{versus, Better, Spread, Verdict, Versus};
use super::figures::LatencyMs;
use super::machine::Machine;
use super::reference::Reference;
use super::step::Step;

/// Version of `ab.json`'s layout.
pub const AB_SCHEMA_VERSION: u32 = 1;

/// One side as asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbSide {
    /// `A` or `B`.
    pub name: String,
    /// As given: `profile:tight`, `nginx:PATH`, `git:REV`, `base`...
    pub spec: String,
    /// In words: `profile tight`, `the app at git 3a351df`...
    pub description: String,
}

/// What was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbSettings {
    pub a: AbSide,
    pub b: AbSide,
    /// Runs per side (and per phase).
    pub rounds: usize,
    /// True when an A/A phase ran first: the noise floor.
    pub aa: bool,
    pub profile: String,
    pub scenario: String,
    pub db: String,
    pub runtime: String,
    pub driver: String,
    /// `50 users` or `1000/s`.
    pub load: String,
    /// Open model: the offered rate every run was given; None for users (closed model) and in
    /// A/Bs recorded before lab kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_per_s: Option<f64>,
    pub step_secs: u64,
    pub warmup_secs: u64,
    /// The intervals' level (0.95).
    pub level: f64,
}

/// One run: a full bench run folder of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbRun {
    /// `A`, `A'` or `B`.
    pub side: String,
    /// True in the A/A phase.
    pub aa: bool,
    pub round: usize,
    /// Its bench folder, relative to the ab folder.
    pub folder: String,
    pub started_at: DateTime<Utc>,
    /// Each figure the run gave, by name (see [`AbComparison::figure`]).
    pub figures: BTreeMap<String, f64>,
    /// The run's reference (the CPU loop, each service's CPU per reference request).
    pub reference: Option<Reference>,
    /// The run's latency histogram at the client (V2 deflate, base64), when lab's driver ran.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub histogram: String,
}

/// One figure, B (or A') against A.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbComparison {
    /// `requests_per_s`, `p50_ms`, `p99_ms`, `<service>_cpu_us_per_request`,
    /// `<service>_memory_peak_mib`.
    pub figure: String,
    /// Which way is better.
    pub better: Better,
    pub a: Spread,
    pub b: Spread,
    /// None when a value is not positive (a ratio of zeros says nothing).
    pub versus: Option<Versus>,
}

/// Each side's latency from all its runs' histograms merged (not an average of percentiles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pooled {
    pub side: String,
    pub latency: LatencyMs,
}

/// The whole of `ab.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbReport {
    pub schema_version: u32,
    pub label: String,
    pub started_at: DateTime<Utc>,
    /// None while running, and when interrupted.
    pub finished_at: Option<DateTime<Utc>>,
    pub command_line: Vec<String>,
    pub settings: AbSettings,
    /// The machine's fingerprint at the start.
    pub machine: Machine,
    /// Every run so far, in the order they ran.
    pub runs: Vec<AbRun>,
    /// A' against A, figure by figure (empty without the A/A phase).
    pub aa: Vec<AbComparison>,
    /// B against A.
    pub ab: Vec<AbComparison>,
    /// Each side's pooled client latency (A, B; A' in the A/A phase).
    pub pooled: Vec<Pooled>,
    /// Where the reference moved between runs of the session (the CPU loop, a service's CPU
    /// per reference request): a machine that changed under the comparison.
    pub drift: Vec<String>,
}

/// The figures `lab ab` compares, taken from a run's one step, with which way is better.
pub fn figures_of(step: &Step) -> Vec<(String, f64, Better)> {
    let h = step.headline();
    let mut out = vec![
        (
            "requests_per_s".to_owned(),
            h.requests_per_s,
            Better::Higher,
        ),
        ("p50_ms".to_owned(), h.p50_ms, Better::Lower),
        ("p99_ms".to_owned(), h.p99_ms, Better::Lower),
    ];
    let requests = step.nginx.requests;
    for s in &step.services {
        if s.source == "none" {
            continue;
        }
        if requests > 0 {
            out.push((
                format!("{}_cpu_us_per_request", s.name),
                1e6 * s.cpu_seconds / requests as f64,
                Better::Lower,
            ));
        }
        out.push((
            format!("{}_memory_peak_mib", s.name),
            s.memory_peak_bytes as f64 / 1_048_576.0,
            Better::Lower,
        ));
    }
    out
}

/// Which way is better for a figure name `figures_of` gives.
pub fn better(figure: &str) -> Better {
    if figure == "requests_per_s" {
        Better::Higher
    } else {
        Better::Lower
    }
}

/// How short of the offered rate a run may fall and still count as having achieved it.
const ACHIEVED_SHARE: f64 = 0.99;

/// Each figure present in both sides' runs, `b_side` against `a_side`, in `phase_aa`. Under
/// the open model (`offered_per_s`) throughput is the offered rate unless a run fell short of
/// it: when every run of both sides achieved it (within 1%), its verdict is within noise
/// whatever the ratio's interval, since a 749 against a 750 is a count, not a finding.
pub fn compare(
    runs: &[AbRun],
    phase_aa: bool,
    a_side: &str,
    b_side: &str,
    offered_per_s: Option<f64>,
) -> Vec<AbComparison> {
    let pick = |side: &str| -> Vec<&AbRun> {
        runs.iter()
            .filter(|r| r.aa == phase_aa && r.side == side)
            .collect()
    };
    let (a, b) = (pick(a_side), pick(b_side));
    let mut names: Vec<&String> = a.iter().flat_map(|r| r.figures.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let values = |runs: &[&AbRun]| -> Vec<f64> {
                runs.iter()
                    .filter_map(|r| r.figures.get(name).copied())
                    .collect()
            };
            let (va, vb) = (values(&a), values(&b));
            let better = better(name);
            let mut versus = versus(&va, &vb, better);
            let achieved = |rate: f64| va.iter().chain(&vb).all(|v| *v >= ACHIEVED_SHARE * rate);
            if name == "requests_per_s" && offered_per_s.is_some_and(achieved) {
                if let Some(v) = versus.as_mut().filter(|v| v.verdict != Verdict::TooFewRuns) {
                    v.verdict = Verdict::WithinNoise;
                }
            }
            Some(AbComparison {
                figure: name.clone(),
                better,
                a: Spread::of(&va)?,
                b: Spread::of(&vb)?,
                versus,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(side: &str, aa: bool, rps: f64, p99: f64) -> AbRun {
        AbRun {
            side: side.into(),
            aa,
            round: 0,
            folder: String::new(),
            started_at: Utc::now(),
            figures: [("requests_per_s".into(), rps), ("p99_ms".into(), p99)]
                .into_iter()
                .collect(),
            reference: None,
            histogram: String::new(),
        }
    }

    #[test]
    fn b_faster_with_a_flat_noise_floor_is_better_and_a_against_a_is_within_noise() {
        let mut runs = Vec::new();
        for i in 0..5 {
            let wobble = [0.99, 1.01, 1.0, 0.98, 1.02][i];
            runs.push(run("A", true, 1000.0 * wobble, 50.0 / wobble));
            runs.push(run("A'", true, 1000.0 / wobble, 50.0 * wobble));
            runs.push(run("A", false, 1000.0 * wobble, 50.0 / wobble));
            runs.push(run("B", false, 1300.0 * wobble, 40.0 / wobble));
        }
        let aa = compare(&runs, true, "A", "A'", None);
        assert!(aa
            .iter()
            .all(|c| c.versus.unwrap().verdict == Verdict::WithinNoise));
        let ab = compare(&runs, false, "A", "B", None);
        let rps = ab.iter().find(|c| c.figure == "requests_per_s").unwrap();
        assert_eq!(rps.versus.unwrap().verdict, Verdict::Better);
        assert!((rps.versus.unwrap().ratio - 1.3).abs() < 0.02);
        let p99 = ab.iter().find(|c| c.figure == "p99_ms").unwrap();
        assert_eq!(p99.versus.unwrap().verdict, Verdict::Better);
        assert!(p99.b.median < p99.a.median);
    }

    #[test]
    fn at_an_offered_rate_both_sides_achieved_throughput_is_no_finding_and_a_shortfall_is() {
        let mut runs = Vec::new();
        let a = [749.0, 749.2, 748.9, 749.1, 748.8];
        let b = [750.0, 750.1, 749.9, 750.2, 750.05];
        for (a, b) in a.into_iter().zip(b) {
            runs.push(run("A", false, a, 50.0));
            runs.push(run("B", false, b, 50.0));
        }
        let rps = |runs: &[AbRun], offered| {
            let ab = compare(runs, false, "A", "B", offered);
            ab.into_iter()
                .find(|c| c.figure == "requests_per_s")
                .unwrap()
                .versus
                .unwrap()
        };
        // Without the rate the test sees every B above every A: "better".
        assert_eq!(rps(&runs, None).verdict, Verdict::Better);
        let v = rps(&runs, Some(750.0));
        assert_eq!(v.verdict, Verdict::WithinNoise);
        assert!(v.low.unwrap() > 1.0, "the interval itself is kept: {v:?}");
        // B falling short of the rate is a finding again.
        for r in runs.iter_mut().filter(|r| r.side == "B") {
            r.figures.insert("requests_per_s".into(), 600.0);
        }
        assert_eq!(rps(&runs, Some(750.0)).verdict, Verdict::Worse);
    }
}
