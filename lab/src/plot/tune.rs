//! `lab tune`'s plot: throughput and p99 of every candidate in the order measured, the winner
//! marked, the SLO's p99 bound drawn in.

use std::path::{Path, PathBuf};

use super::canvas::{render, Level, Line, Panel};

/// One candidate as the plot needs it.
pub struct TunePoint {
    pub id: usize,
    pub requests_per_s: f64,
    pub p99_ms: f64,
    /// False for a discarded candidate (an OOM kill).
    pub counted: bool,
    pub winner: bool,
}

/// `search.png` and `search.svg`.
pub fn draw_tune(
    points: &[TunePoint],
    p99_limit: Option<f64>,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let lines = |value: fn(&TunePoint) -> f64| {
        let mut lines = vec![Line {
            label: "candidates".into(),
            points: points
                .iter()
                .filter(|p| p.counted)
                .map(|p| (p.id as f64, value(p)))
                .collect(),
            color: 0,
            dashed: true,
        }];
        let discarded: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| !p.counted)
            .map(|p| (p.id as f64, value(p)))
            .collect();
        if !discarded.is_empty() {
            lines.push(Line {
                label: "discarded (OOM kill)".into(),
                points: discarded,
                color: 1,
                dashed: false,
            });
        }
        if let Some(w) = points.iter().find(|p| p.winner) {
            lines.push(Line {
                label: format!("winner: candidate {}", w.id),
                points: vec![(w.id as f64, value(w))],
                color: 2,
                dashed: false,
            });
        }
        lines
    };
    // The winner's level across the chart, so its point stands out among the others.
    let winner_level = |value: fn(&TunePoint) -> f64, unit: &str| {
        points.iter().find(|p| p.winner).map(|w| Level {
            label: format!("winner: {:.0} {unit}", value(w)),
            value: value(w),
            color: 2,
        })
    };
    let panels = vec![
        Panel {
            title: "Throughput per candidate (requests/s at nginx; mean of its measurements)"
                .into(),
            x_label: "candidate, in the order measured".into(),
            y_label: "requests/s".into(),
            lines: lines(|p| p.requests_per_s),
            levels: winner_level(|p| p.requests_per_s, "req/s")
                .into_iter()
                .collect(),
        },
        Panel {
            title: "p99 latency per candidate".into(),
            x_label: "candidate, in the order measured".into(),
            y_label: "ms".into(),
            lines: lines(|p| p.p99_ms),
            levels: p99_limit
                .map(|v| Level {
                    label: format!("SLO p99 < {v:.0} ms"),
                    value: v,
                    color: 1,
                })
                .into_iter()
                .chain(winner_level(|p| p.p99_ms, "ms"))
                .collect(),
        },
    ];
    render(dir, "search", &panels)
}
