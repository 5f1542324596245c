//! `lab ab`'s plot: each figure's ratio B/A as a point on its own row, its 95% interval as a
//! bar through it, and the line of no change at 1; A'/A beside it when the noise floor ran.

use std::path::{Path, PathBuf};

use super::canvas::{render, Line, Panel};
use crate::results::ab::{AbComparison, AbReport};

fn panel(title: &str, comparisons: &[AbComparison]) -> Option<Panel> {
    let rows: Vec<(&AbComparison, f64, f64, f64)> = comparisons
        .iter()
        .filter_map(|c| {
            let v = c.versus?;
            Some((
                c,
                v.ratio,
                v.low.unwrap_or(v.ratio),
                v.high.unwrap_or(v.ratio),
            ))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .map(|(i, (c, ratio, low, high))| {
            let y = (rows.len() - i) as f64;
            Line {
                label: format!(
                    "{}: {ratio:.2}x [{low:.2}, {high:.2}] {}",
                    c.figure,
                    c.versus.map_or("", |v| v.verdict.label())
                ),
                points: vec![(*low, y), (*ratio, y), (*high, y)],
                color: i,
                dashed: false,
                ..Default::default()
            }
        })
        .collect();
    lines.push(Line {
        label: "no change (1x)".into(),
        points: vec![(1.0, 0.5), (1.0, rows.len() as f64 + 0.5)],
        color: rows.len(),
        dashed: true,
        ..Default::default()
    });
    Some(Panel {
        title: title.to_owned(),
        x_label: "ratio (95% interval; better is above 1 for throughput, below 1 for the rest)"
            .into(),
        y_label: "figure (one row each, top to bottom as listed)".into(),
        lines,
        levels: Vec::new(),
        ..Default::default()
    })
}

/// `ab.png` and `ab.svg`; nothing when no figure has a ratio yet.
pub fn draw_ab(report: &AbReport, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut panels = Vec::new();
    panels.extend(panel(
        &format!(
            "B ({}) against A ({})",
            report.settings.b.description, report.settings.a.description
        ),
        &report.ab,
    ));
    panels.extend(panel("A' against A: the noise floor", &report.aa));
    if panels.is_empty() {
        return Ok(Vec::new());
    }
    render(dir, "ab", &panels)
}
