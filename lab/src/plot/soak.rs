//! `lab soak`'s plot, drawn from `soak.json` alone.

use std::path::{Path, PathBuf};

use super::canvas::{render, Line, Panel};

/// `lab soak`'s plot: each replica's resident memory, open descriptors (with nginx's) and pool
/// connections, and the normal users' p99, over the soak's time.
pub fn draw_soak(run: &crate::results::soak::SoakRun, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let names: Vec<String> = run
        .windows
        .first()
        .map(|w| w.replicas.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    let series = |value: &dyn Fn(&crate::results::soak::ReplicaReading) -> Option<f64>| {
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
            })
            .collect::<Vec<_>>()
    };
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
        },
        Panel {
            title: title("Open file descriptors"),
            x_label: "minutes".into(),
            y_label: "descriptors".into(),
            lines: fds,
            levels: Vec::new(),
        },
        Panel {
            title: title("Database pool connections per replica"),
            x_label: "minutes".into(),
            y_label: "connections".into(),
            lines: series(&|r| r.pool_connections.map(|v| v as f64)),
            levels: Vec::new(),
        },
        Panel {
            title: title("Normal users' latency"),
            x_label: "minutes".into(),
            y_label: "ms".into(),
            lines: {
                let all = |value: fn(&crate::results::soak::Window) -> f64| {
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
                    },
                    Line {
                        label: "p50, all".into(),
                        points: all(|w| w.p50_ms),
                        color: names.len() + 1,
                        dashed: true,
                    },
                ];
                for mut line in series(&|r| r.p99_ms) {
                    line.label = format!("p99, {}", line.label);
                    lines.push(line);
                }
                lines
            },
            levels: Vec::new(),
        },
    ];
    render(dir, "soak", &panels)
}
