//! `lab tune`'s plot: every candidate as a point of throughput against p99 (the two things a
//! split trades), labelled with its split; the frontier (no other candidate both faster and
//! quicker) joined, the SLO's p99 bound drawn, the winner marked, discarded candidates apart.

use std::path::{Path, PathBuf};

use super::canvas::{render, Line, Mark, Panel};

/// One candidate as the plot needs it.
pub struct TunePoint {
    pub id: usize,
    pub requests_per_s: f64,
    pub p99_ms: f64,
    /// False for a discarded candidate (an OOM kill).
    pub counted: bool,
    pub winner: bool,
    /// On the frontier: no counted candidate has both more throughput and a lower p99.
    pub frontier: bool,
    /// The split, short: `2 x app 250m, nginx 200m, db 300m`.
    pub split: String,
}

fn label(p: &TunePoint) -> String {
    format!("c{}: {}", p.id, p.split)
}

fn group(points: &[&TunePoint], name: &str, color: usize, joined: bool) -> Option<Line> {
    if points.is_empty() {
        return None;
    }
    let mut sorted: Vec<&&TunePoint> = points.iter().collect();
    sorted.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
    Some(Line {
        label: name.to_owned(),
        points: sorted
            .iter()
            .map(|p| (p.p99_ms, p.requests_per_s))
            .collect(),
        color,
        dashed: !joined,
        point_labels: sorted.iter().map(|p| label(p)).collect(),
        points_only: !joined,
    })
}

/// `search.png` and `search.svg`.
pub fn draw_tune(
    points: &[TunePoint],
    p99_limit: Option<f64>,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let frontier: Vec<&TunePoint> = points.iter().filter(|p| p.counted && p.frontier).collect();
    let others: Vec<&TunePoint> = points
        .iter()
        .filter(|p| p.counted && !p.frontier && !p.winner)
        .collect();
    let discarded: Vec<&TunePoint> = points.iter().filter(|p| !p.counted).collect();
    let winner: Vec<&TunePoint> = points.iter().filter(|p| p.winner).collect();
    let lines: Vec<Line> = [
        group(
            &frontier,
            "the frontier (nothing both faster and quicker)",
            0,
            true,
        ),
        group(&others, "other candidates", 7, false),
        group(&discarded, "discarded (OOM kill)", 11, false),
        group(&winner, "winner", 2, false),
    ]
    .into_iter()
    .flatten()
    .collect();
    let panels = vec![Panel {
        title: "Candidates: throughput against p99 (mean of each one's measurements)".into(),
        x_label: "p99 latency, ms (lower is better)".into(),
        y_label: "requests/s (higher is better)".into(),
        lines,
        marks: p99_limit
            .map(|v| Mark {
                x: v,
                label: format!("SLO p99 < {v:.0} ms"),
            })
            .into_iter()
            .collect(),
        // The candidates worth reading are fast (top); the lower left is where none goes.
        legend_lower_left: true,
        ..Default::default()
    }];
    render(dir, "search", &panels)
}
