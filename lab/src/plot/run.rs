//! The plots of a bench run and of `lab compare`: throughput, latency, availability,
//! replicas, ceilings, resources per step, per-endpoint latency.

use std::path::{Path, PathBuf};

use super::canvas::{render, Level, Line, Panel};
use crate::load::access_log::replica_shares;
use crate::results::{verdict, Run, Step};

/// A series of steps: (name, steps sorted by users).
type Series<'a> = (String, Vec<&'a Step>);

fn run_series<'a>(run: &'a Run, prefix: Option<&str>) -> Vec<Series<'a>> {
    run.series()
        .into_iter()
        .map(|((profile, scenario), steps)| {
            let name = match prefix {
                Some(p) => format!("{p} / {profile} / {scenario}"),
                None => format!("{profile} / {scenario}"),
            };
            (name, steps)
        })
        .collect()
}

fn by_users(steps: &[&Step], value: impl Fn(&Step) -> f64) -> Vec<(f64, f64)> {
    steps.iter().map(|s| (s.users as f64, value(s))).collect()
}

fn throughput_panel(series: &[Series<'_>]) -> Panel {
    Panel {
        title: "Throughput vs users (requests/s at nginx)".into(),
        x_label: "concurrent siege users".into(),
        y_label: "requests/s".into(),
        lines: series
            .iter()
            .enumerate()
            .map(|(i, (name, steps))| Line {
                label: name.clone(),
                points: by_users(steps, |s| s.nginx.requests_per_s),
                color: i,
                dashed: false,
            })
            .collect(),
        levels: Vec::new(),
    }
}

/// siege's throughput as a share of its own ceiling: at the dashed line a step is siege-bound.
fn ceiling_panel(series: &[Series<'_>], run: &Run) -> Panel {
    let mut lines: Vec<Line> = series
        .iter()
        .enumerate()
        .map(|(i, (name, steps))| Line {
            label: name.clone(),
            points: steps
                .iter()
                .filter_map(|s| Some((s.users as f64, s.ceiling_percent?)))
                .collect(),
            color: i,
            dashed: false,
        })
        .collect();
    lines.retain(|l| !l.points.is_empty());
    let ceilings: Vec<String> = run
        .siege_ceiling
        .iter()
        .map(|c| format!("{}: {:.0}/s", c.users, c.transactions_per_s))
        .collect();
    Panel {
        title: format!(
            "Share of siege's own ceiling (ceiling {})",
            ceilings.join(", ")
        ),
        x_label: "concurrent siege users".into(),
        y_label: "% of siege's ceiling".into(),
        lines,
        levels: vec![Level {
            label: format!("siege-bound at {:.0}%", verdict::CEILING_PERCENT),
            value: verdict::CEILING_PERCENT,
            color: 1,
        }],
    }
}

fn latency_panel(series: &[Series<'_>]) -> Panel {
    let mut lines = Vec::new();
    for (i, (name, steps)) in series.iter().enumerate() {
        lines.push(Line {
            label: format!("{name} p99"),
            points: by_users(steps, |s| s.nginx.p99_ms),
            color: i,
            dashed: false,
        });
        lines.push(Line {
            label: format!("{name} p50"),
            points: by_users(steps, |s| s.nginx.p50_ms),
            color: i,
            dashed: true,
        });
    }
    Panel {
        title: "Latency at nginx vs users (p99 solid, p50 dashed)".into(),
        x_label: "concurrent siege users".into(),
        y_label: "ms".into(),
        lines,
        levels: Vec::new(),
    }
}

fn availability_panels(series: &[Series<'_>]) -> Vec<Panel> {
    let availability = Panel {
        title: "Availability (nginx: 2xx+3xx of answered requests)".into(),
        x_label: "concurrent siege users".into(),
        y_label: "%".into(),
        lines: series
            .iter()
            .enumerate()
            .map(|(i, (name, steps))| Line {
                label: name.clone(),
                points: by_users(steps, |s| s.nginx.availability_percent),
                color: i,
                dashed: false,
            })
            .collect(),
        levels: Vec::new(),
    };
    let mut errors = Vec::new();
    for (i, (name, steps)) in series.iter().enumerate() {
        errors.push(Line {
            label: format!("{name} 5xx"),
            points: by_users(steps, |s| s.nginx.errors_5xx_percent),
            color: i,
            dashed: false,
        });
        errors.push(Line {
            label: format!("{name} 429"),
            points: by_users(steps, |s| s.nginx.rate_limited_percent),
            color: i,
            dashed: true,
        });
    }
    let split = Panel {
        title: "Error split (5xx solid, 429 dashed)".into(),
        x_label: "concurrent siege users".into(),
        y_label: "% of requests".into(),
        lines: errors,
        levels: Vec::new(),
    };
    vec![availability, split]
}

fn replica_panel(series: &[Series<'_>]) -> Panel {
    let mut lines = Vec::new();
    let mut color_index = 0;
    for (name, steps) in series {
        let mut replicas: Vec<String> = steps
            .iter()
            .flat_map(|s| s.nginx.replicas.keys().cloned())
            .collect();
        replicas.sort();
        replicas.dedup();
        for replica in replicas {
            lines.push(Line {
                label: format!("{name}: {replica}"),
                points: steps
                    .iter()
                    .map(|s| {
                        let share = replica_shares(&s.nginx).get(&replica).copied();
                        (s.users as f64, share.unwrap_or(0.0))
                    })
                    .collect(),
                color: color_index,
                dashed: false,
            });
            color_index += 1;
        }
    }
    Panel {
        title: "Replica balance: share of requests per replica".into(),
        x_label: "concurrent siege users".into(),
        y_label: "% of requests".into(),
        lines,
        levels: Vec::new(),
    }
}

fn resource_panels(run: &Run, profile: &str, scenario: &str) -> Vec<Panel> {
    let samples: Vec<_> = run
        .samples
        .iter()
        .filter(|s| s.profile == profile && s.scenario == scenario)
        .collect();
    let t0 = samples.first().map_or(0.0, |s| s.t_secs);
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
            });
            // siege's and the machine's memory are not sampled: no flat zero line for them.
            if matches!(*service, "siege" | "host") {
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
            });
        }
        if let Some(caps) = run.caps(profile, service) {
            if let Some(c) = caps.cpu_limit_cores {
                cpu_caps.push(Level {
                    label: format!("{service} cap {c}"),
                    value: c,
                    color: i,
                });
            }
            if let Some(m) = caps.memory_limit_bytes {
                memory_caps.push(Level {
                    label: format!("{service} cap {:.0} MB", m as f64 / 1_048_576.0),
                    value: m as f64 / 1_048_576.0,
                    color: i,
                });
            }
        }
    }
    vec![
        Panel {
            title: format!("CPU per service over time: {profile} / {scenario} (caps dashed)"),
            x_label: "seconds".into(),
            y_label: "CPU (cores)".into(),
            lines: cpu,
            levels: cpu_caps,
        },
        Panel {
            title: format!("Memory per service over time: {profile} / {scenario} (caps dashed)"),
            x_label: "seconds".into(),
            y_label: "MB".into(),
            lines: memory,
            levels: memory_caps,
        },
    ]
}

fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The plots of a run, as (file stem, title), in the order the report shows them.
pub fn run_plot_stems(run: &Run) -> Vec<(String, String)> {
    let mut stems = vec![
        ("throughput".to_owned(), "Throughput vs users".to_owned()),
        (
            "latency".to_owned(),
            "p50 and p99 latency vs users".to_owned(),
        ),
        (
            "availability".to_owned(),
            "Availability and error split".to_owned(),
        ),
        ("replicas".to_owned(), "Replica balance".to_owned()),
    ];
    for ((profile, scenario), _) in run.series() {
        if run
            .samples
            .iter()
            .any(|s| s.profile == profile && s.scenario == scenario)
        {
            stems.push((
                format!("resources-{}-{}", slug(&profile), slug(&scenario)),
                format!("CPU and memory over time: {profile} / {scenario}"),
            ));
        }
    }
    for ((profile, scenario), steps) in run.series() {
        if steps.iter().any(|s| !s.nginx.endpoints.is_empty()) {
            stems.push((
                format!("endpoints-{}-{}", slug(&profile), slug(&scenario)),
                format!("Latency and throughput by endpoint: {profile} / {scenario}"),
            ));
        }
    }
    stems
}

/// Draws every plot of a run into `dir`.
pub fn draw_run(run: &Run, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let series = run_series(run, None);
    let mut written = Vec::new();
    written.extend(render(
        dir,
        "throughput",
        &[throughput_panel(&series), ceiling_panel(&series, run)],
    )?);
    written.extend(render(dir, "latency", &[latency_panel(&series)])?);
    written.extend(render(dir, "availability", &availability_panels(&series))?);
    written.extend(render(dir, "replicas", &[replica_panel(&series)])?);
    for ((profile, scenario), _) in run.series() {
        let panels = resource_panels(run, &profile, &scenario);
        if panels[0].lines.is_empty() {
            continue;
        }
        let stem = format!("resources-{}-{}", slug(&profile), slug(&scenario));
        written.extend(render(dir, &stem, &panels)?);
    }
    for ((profile, scenario), steps) in run.series() {
        if let Some(panels) = endpoint_panels(&profile, &scenario, &steps) {
            let stem = format!("endpoints-{}-{}", slug(&profile), slug(&scenario));
            written.extend(render(dir, &stem, &panels)?);
        }
    }
    Ok(written)
}

/// p99 and requests/s of every endpoint against users, for one profile and scenario; None
/// when its steps recorded no endpoints.
fn endpoint_panels(profile: &str, scenario: &str, steps: &[&Step]) -> Option<Vec<Panel>> {
    let mut names: Vec<&str> = steps
        .iter()
        .flat_map(|s| s.nginx.endpoints.iter().map(|e| e.endpoint.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return None;
    }
    let lines = |value: fn(&crate::results::EndpointStats) -> f64| -> Vec<Line> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Line {
                label: (*name).to_owned(),
                points: steps
                    .iter()
                    .filter_map(|s| {
                        let e = s.nginx.endpoints.iter().find(|e| e.endpoint == *name)?;
                        Some((f64::from(s.users), value(e)))
                    })
                    .collect(),
                color: i,
                dashed: false,
            })
            .collect()
    };
    Some(vec![
        Panel {
            title: format!("p99 latency by endpoint: {profile} / {scenario}"),
            x_label: "concurrent users".into(),
            y_label: "p99 ms".into(),
            lines: lines(|e| e.p99_ms),
            levels: Vec::new(),
        },
        Panel {
            title: format!("Requests/s by endpoint: {profile} / {scenario}"),
            x_label: "concurrent users".into(),
            y_label: "requests/s".into(),
            lines: lines(|e| e.requests_per_s),
            levels: Vec::new(),
        },
    ])
}

/// Overlay plots of several runs into `dir` (`compare-*.png|svg`).
pub fn draw_compare(runs: &[Run], dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let series: Vec<Series<'_>> = runs
        .iter()
        .flat_map(|run| run_series(run, Some(&run.label)))
        .collect();
    let mut written = Vec::new();
    written.extend(render(
        dir,
        "compare-throughput",
        &[throughput_panel(&series)],
    )?);
    written.extend(render(dir, "compare-latency", &[latency_panel(&series)])?);
    written.extend(render(
        dir,
        "compare-availability",
        &availability_panels(&series),
    )?);
    Ok(written)
}
