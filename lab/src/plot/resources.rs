//! The plots over time and against the caps: CPU and memory per service with each step
//! marked (axes scaled to what was used), and the rightsizing bars (each service's highest use
//! as a share of its caps).

use super::canvas::{Level, Line, Mark, Panel};
use crate::results::{Run, Sample};

/// CPU and memory per service over time for one profile and scenario, caps dashed (those far
/// above what was used noted instead), each step's start marked with its load.
pub(super) fn resource_panels(run: &Run, profile: &str, scenario: &str) -> Vec<Panel> {
    let samples: Vec<&Sample> = run
        .samples
        .iter()
        .filter(|s| s.profile == profile && s.scenario == scenario)
        .collect();
    let t0 = samples.first().map_or(0.0, |s| s.t_secs);
    let (cpu, memory, cpu_caps, memory_caps) = service_lines(run, profile, &samples, t0);
    // Where each step starts, labelled with its load.
    let marks: Vec<Mark> = run
        .steps
        .iter()
        .filter(|s| s.profile == profile && s.scenario == scenario)
        .map(|s| Mark {
            x: s.start_offset_secs - t0,
            label: s.level_label(),
        })
        .collect();
    let (memory_caps, memory_off) = within_scale(memory_caps, &memory);
    let (cpu_caps, cpu_off) = within_scale(cpu_caps, &cpu);
    vec![
        Panel {
            title: format!(
                "CPU per service over time: {profile} / {scenario} (caps dashed){cpu_off}"
            ),
            x_label: "seconds".into(),
            y_label: "CPU (cores)".into(),
            lines: cpu,
            levels: cpu_caps,
            marks: marks.clone(),
            ..Default::default()
        },
        Panel {
            title: format!(
                "Memory per service over time: {profile} / {scenario} (caps dashed){memory_off}"
            ),
            x_label: "seconds".into(),
            y_label: "MB".into(),
            lines: memory,
            levels: memory_caps,
            marks,
            ..Default::default()
        },
    ]
}

/// Each service's CPU and memory lines (one per step, so the gaps between steps are not drawn
/// as data) and its caps, from the samples of one profile and scenario.
fn service_lines(
    run: &Run,
    profile: &str,
    samples: &[&Sample],
    t0: f64,
) -> (Vec<Line>, Vec<Line>, Vec<Level>, Vec<Level>) {
    let mut services: Vec<&str> = samples.iter().map(|s| s.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let mut cpu = Vec::new();
    let mut memory = Vec::new();
    let mut cpu_caps = Vec::new();
    let mut memory_caps = Vec::new();
    let mut steps: Vec<usize> = samples.iter().map(|s| s.step).collect();
    steps.dedup();
    for (i, service) in services.iter().enumerate() {
        // One line per step, so the gaps between steps (warm-up, ceiling) are not drawn as data.
        for (n, step) in steps.iter().enumerate() {
            let mine: Vec<_> = samples
                .iter()
                .filter(|s| s.service == *service && s.step == *step)
                .collect();
            let label = if n == 0 {
                service.to_string()
            } else {
                String::new()
            };
            cpu.push(Line {
                label: if *service == "host" && n == 0 {
                    "machine (all processes)".to_owned()
                } else {
                    label.clone()
                },
                points: mine.iter().map(|s| (s.t_secs - t0, s.cpu_cores)).collect(),
                color: i,
                dashed: false,
                ..Default::default()
            });
            // The driver's and the machine's memory are not sampled: no flat zero line for them.
            if matches!(*service, "driver" | "siege" | "host") {
                continue;
            }
            memory.push(Line {
                label,
                points: mine
                    .iter()
                    .map(|s| (s.t_secs - t0, s.memory_bytes as f64 / 1_048_576.0))
                    .collect(),
                color: i,
                dashed: false,
                ..Default::default()
            });
        }
        let (cpu_cap, memory_cap) = cap_levels(run, profile, service, i);
        cpu_caps.extend(cpu_cap);
        memory_caps.extend(memory_cap);
    }
    (cpu, memory, cpu_caps, memory_caps)
}

/// The caps worth drawing on an axis scaled to what was used (at most 3 times the highest
/// value), and a note naming those left off the scale: a 1,100 MB cap would flatten the 7 MB a
/// replica uses.
fn within_scale(caps: Vec<Level>, lines: &[Line]) -> (Vec<Level>, String) {
    let used = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let (kept, off): (Vec<Level>, Vec<Level>) = caps
        .into_iter()
        .partition(|c| used <= 0.0 || c.value <= 3.0 * used);
    if off.is_empty() {
        return (kept, String::new());
    }
    let names: Vec<String> = off.iter().map(|c| c.label.clone()).collect();
    (kept, format!("; off the scale: {}", names.join(", ")))
}

/// A service's CPU and memory caps in `profile`, as dashed levels in its line colour.
fn cap_levels(
    run: &Run,
    profile: &str,
    service: &str,
    color: usize,
) -> (Option<Level>, Option<Level>) {
    let Some(caps) = run.caps(profile, service) else {
        return (None, None);
    };
    let cpu = caps.cpu_limit_cores.map(|c| Level {
        label: format!("{service} cap {c}"),
        value: c,
        color,
    });
    let memory = caps.memory_limit_bytes.map(|m| Level {
        label: format!("{service} cap {:.0} MB", m as f64 / 1_048_576.0),
        value: m as f64 / 1_048_576.0,
        color,
    });
    (cpu, memory)
}

/// Each profile and scenario once, in the order they ran: the resource plots are over time,
/// whatever the load model of their steps.
pub(super) fn resource_keys(run: &Run) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for step in &run.steps {
        let key = (step.profile.clone(), step.scenario.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Each service's highest CPU and memory peak as a share of its caps, bars against the cap
/// (100%): the report's rightsizing table drawn. None when no service had a cap.
pub(super) fn rightsizing_panel(run: &Run) -> Option<Panel> {
    let mut lines = Vec::new();
    for (i, r) in crate::results::rightsizing::of(run).iter().enumerate() {
        let name = if run.profiles.len() > 1 {
            format!("{} / {}", r.profile, r.service)
        } else {
            r.service.clone()
        };
        if let Some(cap) = r.cpu_cap_cores.filter(|c| *c > 0.0) {
            lines.push(Line {
                label: format!("{name} CPU (throttled {:.0}%)", r.throttled_percent),
                points: vec![(0.0, 100.0 * r.cpu_used_cores / cap)],
                color: i,
                ..Default::default()
            });
        }
        if let Some(cap) = r.memory_cap_bytes.filter(|c| *c > 0) {
            lines.push(Line {
                label: format!("{name} memory"),
                points: vec![(0.0, 100.0 * r.memory_peak_bytes as f64 / cap as f64)],
                color: i,
                dashed: true,
                ..Default::default()
            });
        }
    }
    (!lines.is_empty()).then(|| Panel {
        title: "Rightsizing: highest CPU used (solid) and memory peak (light) as % of each cap"
            .into(),
        y_label: "% of the cap".into(),
        lines,
        levels: vec![Level {
            label: "the cap".into(),
            value: 100.0,
            color: 1,
        }],
        bars: true,
        ..Default::default()
    })
}
