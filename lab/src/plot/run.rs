//! The plots of a bench run and of `lab compare`: throughput, latency, availability,
//! replicas, ceilings, resources per step, per-endpoint latency.

use std::path::{Path, PathBuf};

use super::canvas::{render, Level, Line, Panel, XScale};
use super::resources::{resource_keys, resource_panels, rightsizing_panel};
use crate::load::access_log::replica_shares;
use crate::results::{verdict, LoadModel, Run, Step};

/// A series of steps: (name, steps sorted by load level).
type Series<'a> = (String, Vec<&'a Step>);

/// The x axis of a series: closed steps vary users, open steps the offered rate. The two never
/// share a panel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Axis {
    Users,
    Rate,
}

impl Axis {
    fn of(step: &Step) -> Axis {
        match step.model {
            LoadModel::Closed => Axis::Users,
            LoadModel::Open => Axis::Rate,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Axis::Users => "concurrent users (closed model)",
            Axis::Rate => "offered requests/s (open model)",
        }
    }

    /// `vs users` or `vs offered rate`, for titles.
    fn versus(self) -> &'static str {
        match self {
            Axis::Users => "vs users",
            Axis::Rate => "vs offered rate",
        }
    }
}

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

/// The series split by axis, closed model first; an axis without series is left out.
fn by_axis<'a, 'b>(series: &'b [Series<'a>]) -> Vec<(Axis, Vec<&'b Series<'a>>)> {
    [Axis::Users, Axis::Rate]
        .into_iter()
        .map(|axis| {
            let mine: Vec<_> = series
                .iter()
                .filter(|(_, steps)| steps.first().is_some_and(|s| Axis::of(s) == axis))
                .collect();
            (axis, mine)
        })
        .filter(|(_, mine)| !mine.is_empty())
        .collect()
}

fn by_level(steps: &[&Step], value: impl Fn(&Step) -> f64) -> Vec<(f64, f64)> {
    steps.iter().map(|s| (s.level(), value(s))).collect()
}

/// Whose latency the series show: the client's when lab's driver measured every step.
fn latency_source(series: &[&Series<'_>]) -> &'static str {
    let all_client = series
        .iter()
        .all(|(_, steps)| steps.iter().all(|s| s.client.is_some()));
    if all_client {
        "at the client"
    } else {
        "at the client, or nginx's where siege drove"
    }
}

fn throughput_panel(axis: Axis, series: &[&Series<'_>]) -> Panel {
    let mut lines: Vec<Line> = series
        .iter()
        .enumerate()
        .map(|(i, (name, steps))| Line {
            label: name.clone(),
            points: by_level(steps, |s| s.headline().requests_per_s),
            color: i,
            dashed: false,
            ..Default::default()
        })
        .collect();
    if axis == Axis::Rate {
        // What was offered: a series on this line kept up.
        let mut rates: Vec<f64> = series
            .iter()
            .flat_map(|(_, steps)| steps.iter().map(|s| s.level()))
            .collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        lines.push(Line {
            label: "offered".into(),
            points: rates.iter().map(|r| (*r, *r)).collect(),
            color: series.len(),
            dashed: true,
            ..Default::default()
        });
    }
    Panel {
        title: format!(
            "Throughput {} (requests/s answered, {})",
            axis.versus(),
            latency_source(series)
        ),
        x_label: axis.label().into(),
        x_scale: XScale::Levels,
        y_label: "requests/s".into(),
        lines,
        levels: Vec::new(),
        ..Default::default()
    }
}

/// The driver's throughput as a share of its own ceiling: at the dashed line a step is
/// driver-bound.
fn ceiling_panel(axis: Axis, series: &[&Series<'_>]) -> Option<Panel> {
    let mut lines: Vec<Line> = series
        .iter()
        .enumerate()
        .map(|(i, (name, steps))| Line {
            label: name.clone(),
            points: steps
                .iter()
                .filter_map(|s| Some((s.level(), s.ceiling_percent?)))
                .collect(),
            color: i,
            dashed: false,
            ..Default::default()
        })
        .collect();
    lines.retain(|l| !l.points.is_empty());
    if lines.is_empty() {
        return None;
    }
    Some(Panel {
        title: "Share of the load driver's own ceiling (the report lists each ceiling)".into(),
        x_label: axis.label().into(),
        x_scale: XScale::Levels,
        y_label: "% of the driver's ceiling".into(),
        lines,
        levels: vec![Level {
            label: format!("driver-bound at {:.0}%", verdict::CEILING_PERCENT),
            value: verdict::CEILING_PERCENT,
            color: 1,
        }],
        ..Default::default()
    })
}

fn latency_panel(axis: Axis, series: &[&Series<'_>]) -> Panel {
    let mut lines = Vec::new();
    for (i, (name, steps)) in series.iter().enumerate() {
        lines.push(Line {
            label: format!("{name} p99"),
            points: by_level(steps, |s| s.headline().p99_ms),
            color: i,
            dashed: false,
            ..Default::default()
        });
        lines.push(Line {
            label: format!("{name} p50"),
            points: by_level(steps, |s| s.headline().p50_ms),
            color: i,
            dashed: true,
            ..Default::default()
        });
    }
    Panel {
        title: format!(
            "Latency {} {} (p99 solid, p50 dashed)",
            latency_source(series),
            axis.versus()
        ),
        x_label: axis.label().into(),
        x_scale: XScale::Levels,
        y_label: "ms".into(),
        lines,
        levels: Vec::new(),
        ..Default::default()
    }
}

fn availability_panels(axis: Axis, series: &[&Series<'_>]) -> Vec<Panel> {
    let availability = Panel {
        title: format!(
            "Availability {} (2xx+3xx of requests, {})",
            axis.versus(),
            latency_source(series)
        ),
        x_label: axis.label().into(),
        x_scale: XScale::Levels,
        y_label: "%".into(),
        flat_unit: Some("%"),
        lines: series
            .iter()
            .enumerate()
            .map(|(i, (name, steps))| Line {
                label: name.clone(),
                points: by_level(steps, |s| s.headline().availability_percent),
                color: i,
                dashed: false,
                ..Default::default()
            })
            .collect(),
        levels: Vec::new(),
        ..Default::default()
    };
    let mut errors = Vec::new();
    for (i, (name, steps)) in series.iter().enumerate() {
        errors.push(Line {
            label: format!("{name} 5xx"),
            points: by_level(steps, |s| s.nginx.errors_5xx_percent),
            color: i,
            dashed: false,
            ..Default::default()
        });
        errors.push(Line {
            label: format!("{name} 429"),
            points: by_level(steps, |s| s.nginx.rate_limited_percent),
            color: i,
            dashed: true,
            ..Default::default()
        });
    }
    let split = Panel {
        title: format!(
            "Error split at nginx {} (5xx solid, 429 dashed)",
            axis.versus()
        ),
        x_label: axis.label().into(),
        x_scale: XScale::Levels,
        y_label: "% of requests".into(),
        flat_unit: Some("% of requests"),
        lines: errors,
        levels: Vec::new(),
        ..Default::default()
    };
    vec![availability, split]
}

fn replica_panel(axis: Axis, series: &[&Series<'_>]) -> Panel {
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
                points: by_level(steps, |s| {
                    replica_shares(&s.nginx)
                        .get(&replica)
                        .copied()
                        .unwrap_or(0.0)
                }),
                color: color_index,
                dashed: false,
                ..Default::default()
            });
            color_index += 1;
        }
    }
    Panel {
        title: format!(
            "Replica balance {}: share of requests per replica",
            axis.versus()
        ),
        x_label: axis.label().into(),
        x_scale: XScale::Levels,
        y_label: "% of requests".into(),
        flat_unit: Some("% of requests"),
        lines,
        levels: Vec::new(),
        ..Default::default()
    }
}

/// One panel per axis that has series, from `panel`.
fn per_axis(
    series: &[Series<'_>],
    panel: impl Fn(Axis, &[&Series<'_>]) -> Vec<Panel>,
) -> Vec<Panel> {
    by_axis(series)
        .into_iter()
        .flat_map(|(axis, mine)| panel(axis, &mine))
        .collect()
}

/// `read (open)` -> `read-open`: lower-case letters and digits, one `-` between words.
fn slug(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The plots of a run, as (file stem, title), in the order the report shows them.
pub fn run_plot_stems(run: &Run) -> Vec<(String, String)> {
    let mut stems = vec![
        ("throughput".to_owned(), "Throughput vs load".to_owned()),
        (
            "latency".to_owned(),
            "p50 and p99 latency vs load".to_owned(),
        ),
        (
            "availability".to_owned(),
            "Availability and error split".to_owned(),
        ),
        ("replicas".to_owned(), "Replica balance".to_owned()),
    ];
    if rightsizing_panel(run).is_some() {
        stems.push((
            "rightsizing".to_owned(),
            "Rightsizing: each service against its caps".to_owned(),
        ));
    }
    for (profile, scenario) in resource_keys(run) {
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
    let throughput = per_axis(&series, |axis, mine| {
        let mut panels = vec![throughput_panel(axis, mine)];
        panels.extend(ceiling_panel(axis, mine));
        panels
    });
    written.extend(render(dir, "throughput", &throughput)?);
    let latency = per_axis(&series, |axis, mine| vec![latency_panel(axis, mine)]);
    written.extend(render(dir, "latency", &latency)?);
    written.extend(render(
        dir,
        "availability",
        &per_axis(&series, availability_panels),
    )?);
    let replicas = per_axis(&series, |axis, mine| vec![replica_panel(axis, mine)]);
    written.extend(render(dir, "replicas", &replicas)?);
    if let Some(panel) = rightsizing_panel(run) {
        written.extend(render(dir, "rightsizing", &[panel])?);
    }
    for (profile, scenario) in resource_keys(run) {
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

/// p99 (the client's where lab's driver measured it, else nginx's) and requests/s of every
/// endpoint against the load level, for one series; None when its steps recorded no endpoints.
fn endpoint_panels(profile: &str, scenario: &str, steps: &[&Step]) -> Option<Vec<Panel>> {
    let mut names: Vec<&str> = steps
        .iter()
        .flat_map(|s| s.nginx.endpoints.iter().map(|e| e.endpoint.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let axis = Axis::of(steps.first()?);
    if names.is_empty() {
        return None;
    }
    let lines = |value: &dyn Fn(&Step, &str) -> Option<f64>| -> Vec<Line> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Line {
                label: (*name).to_owned(),
                points: steps
                    .iter()
                    .filter_map(|s| Some((s.level(), value(s, name)?)))
                    .collect(),
                color: i,
                dashed: false,
                ..Default::default()
            })
            .collect()
    };
    let p99 = |s: &Step, name: &str| -> Option<f64> { Some(s.endpoint_headline(name)?.1) };
    let rate = |s: &Step, name: &str| -> Option<f64> {
        Some(
            s.nginx
                .endpoints
                .iter()
                .find(|e| e.endpoint == name)?
                .requests_per_s,
        )
    };
    let whose = if steps.iter().all(|s| s.client.is_some()) {
        "at the client"
    } else {
        "at nginx"
    };
    Some(vec![
        Panel {
            title: format!("p99 latency by endpoint {whose}: {profile} / {scenario}"),
            x_label: axis.label().into(),
            x_scale: XScale::Levels,
            y_label: "p99 ms".into(),
            lines: lines(&p99),
            levels: Vec::new(),
            ..Default::default()
        },
        Panel {
            title: format!("Requests/s by endpoint at nginx: {profile} / {scenario}"),
            x_label: axis.label().into(),
            x_scale: XScale::Levels,
            y_label: "requests/s".into(),
            lines: lines(&rate),
            levels: Vec::new(),
            ..Default::default()
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
    let throughput = per_axis(&series, |axis, mine| vec![throughput_panel(axis, mine)]);
    written.extend(render(dir, "compare-throughput", &throughput)?);
    let latency = per_axis(&series, |axis, mine| vec![latency_panel(axis, mine)]);
    written.extend(render(dir, "compare-latency", &latency)?);
    written.extend(render(
        dir,
        "compare-availability",
        &per_axis(&series, availability_panels),
    )?);
    Ok(written)
}
