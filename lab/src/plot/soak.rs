//! `lab soak`'s plot, drawn from `soak.json` alone.

use std::path::{Path, PathBuf};

use super::canvas::{render, Line, Panel};
use crate::results::soak::{ReplicaReading, SoakRun, Window};

/// `lab soak`'s plot: each replica's resident memory, open descriptors (with nginx's) and pool
/// connections, and the normal users' p99, over the soak's time.
pub fn draw_soak(run: &SoakRun, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let names: Vec<String> = run
        .windows
        .first()
        .map(|w| w.replicas.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    let series = |value: &dyn Fn(&ReplicaReading) -> Option<f64>| replica_lines(run, &names, value);
    let mut fds = series(&|r| r.fds.map(|v| v as f64));
    fds.push(Line {
        label: "nginx".into(),
        points: run
            .windows
            .iter()
            .filter_map(|w| Some((w.end_secs / 60.0, w.nginx_fds? as f64)))
            .collect(),
        color: names.len(),
        dashed: true,
        ..Default::default()
    });
    let warmup = crate::results::soak::analysed(&run.windows)
        .first()
        .map(|w| w.start_secs / 60.0);
    let title = |what: &str| match warmup {
        Some(m) => format!("{what} (warm-up before {m:.1} min is not judged)"),
        None => what.to_owned(),
    };
    let panels = vec![
        Panel {
            title: title("Resident memory per replica"),
            x_label: "minutes".into(),
            y_label: "MiB".into(),
            lines: series(&|r| r.rss_bytes.map(|b| b as f64 / 1048576.0)),
            levels: Vec::new(),
            ..Default::default()
        },
        Panel {
            title: title("Open file descriptors"),
            x_label: "minutes".into(),
            y_label: "descriptors".into(),
            lines: fds,
            levels: Vec::new(),
            ..Default::default()
        },
        Panel {
            title: title("Database pool connections per replica"),
            x_label: "minutes".into(),
            y_label: "connections".into(),
            lines: series(&|r| r.pool_connections.map(|v| v as f64)),
            levels: Vec::new(),
            ..Default::default()
        },
        Panel {
            title: title("Normal users' latency"),
            x_label: "minutes".into(),
            y_label: "ms".into(),
            lines: latency_lines(run, &names),
            levels: Vec::new(),
            ..Default::default()
        },
    ];
    render(dir, "soak", &panels)
}

/// One line per replica (colour by its place in `names`) of one reading over the soak's
/// minutes; a window without that replica or that reading leaves a gap, not a zero.
fn replica_lines(
    run: &SoakRun,
    names: &[String],
    value: &dyn Fn(&ReplicaReading) -> Option<f64>,
) -> Vec<Line> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Line {
            label: name.clone(),
            points: run
                .windows
                .iter()
                .filter_map(|w| {
                    let r = w.replicas.iter().find(|r| &r.name == name)?;
                    Some((w.end_secs / 60.0, value(r)?))
                })
                .collect(),
            color: i,
            dashed: false,
            ..Default::default()
        })
        .collect::<Vec<_>>()
}

/// The p99 and p50 of every request in each window, then each replica's own p99.
fn latency_lines(run: &SoakRun, names: &[String]) -> Vec<Line> {
    let all = |value: fn(&Window) -> f64| {
        run.windows
            .iter()
            .map(|w| (w.end_secs / 60.0, value(w)))
            .collect::<Vec<_>>()
    };
    let mut lines = vec![
        Line {
            label: "p99, all".into(),
            points: all(|w| w.p99_ms),
            color: names.len() + 1,
            dashed: false,
            ..Default::default()
        },
        Line {
            label: "p50, all".into(),
            points: all(|w| w.p50_ms),
            color: names.len() + 1,
            dashed: true,
            ..Default::default()
        },
    ];
    for mut line in replica_lines(run, names, &|r| r.p99_ms) {
        line.label = format!("p99, {}", line.label);
        lines.push(line);
    }
    lines
}
