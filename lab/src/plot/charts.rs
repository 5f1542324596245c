//! The three kinds of panel: a flat one as a line of text, bars (one level, or asked for),
//! and lines on the shared axes with levels and marks.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{round_ticks, Chart2d, TickedAxis, XMap};
use super::panel::{plot_err, tick, Line, Panel, XScale, FLAT_HEIGHT};
use super::style::{color, draw_levels, draw_line, legend};

pub(super) fn draw_flat<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    (lo, hi): (f64, f64),
) -> anyhow::Result<()> {
    let unit = panel.flat_unit.unwrap_or_default();
    let values = if (hi - lo).abs() < 1e-9 {
        format!("at {}{unit}", tick(hi))
    } else {
        format!("between {}{unit} and {}{unit}", tick(lo), tick(hi))
    };
    let text = format!("{}: every series {values} (flat: not drawn)", panel.title);
    area.draw(&Text::new(
        text,
        (20, (FLAT_HEIGHT / 2) as i32 - 8),
        ("sans-serif", 17).into_font().color(&BLACK.mix(0.8)),
    ))
    .map_err(plot_err)
}

/// A bar per line (its first value), in order, each named in the legend with its value; a
/// one-level panel says its level in the title.
pub(super) fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    level: Option<f64>,
) -> anyhow::Result<()> {
    let bars: Vec<&Line> = panel
        .lines
        .iter()
        .filter(|l| !l.points.is_empty())
        .collect();
    let y1 = bars
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(panel.levels.iter().map(|l| l.value))
        .fold(0.0_f64, f64::max);
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.15 };
    let n = bars.len().max(1) as f64;
    // Each bar named under it (the x axis's ticks are the bars' centres), its value over it.
    let names: Vec<String> = bars.iter().map(|l| l.label.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            match level {
                Some(level) => format!("{} (one load level: {})", panel.title, tick(level)),
                None => panel.title.clone(),
            },
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(
            TickedAxis {
                range: 0.0..n,
                ticks: (0..bars.len()).map(|i| i as f64 + 0.5).collect(),
            },
            0.0..y1,
        )
        .map_err(plot_err)?;
    let name_of = |v: &f64| {
        let index = (*v - 0.5).round();
        if index >= 0.0 {
            names.get(index as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_label_formatter(&name_of)
        .x_label_style(("sans-serif", 12))
        .y_desc(panel.y_label.as_str())
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(plot_err)?;
    draw_bar_values(&mut chart, &bars)?;
    draw_levels(&mut chart, panel, (0.0, n))?;
    // The bars are named under them: a legend only for the levels (an empty box otherwise).
    if panel.levels.is_empty() {
        return Ok(());
    }
    legend(&mut chart, panel.legend_lower_left)
}

/// A panel of lines: its axes (log2 at the levels when asked), levels, marks and legend.
pub(super) fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    xs: &[f64],
) -> anyhow::Result<()> {
    let map = XMap::of(panel, xs);
    let (mut x0, mut x1) = (
        xs.first().map_or(0.0, |x| map.to(*x)),
        xs.last().map_or(1.0, |x| map.to(*x)),
    );
    for mark in &panel.marks {
        x0 = x0.min(map.to(mark.x));
        x1 = x1.max(map.to(mark.x));
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    // A little room either side, so the first and last points are not on the frame.
    let pad = (x1 - x0) * 0.04;
    let y1 = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(panel.levels.iter().map(|l| l.value))
        .fold(0.0_f64, f64::max);
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.12 };
    let range = (x0 - pad)..(x1 + pad);
    // Load levels are ticked at themselves (10, 50, 100 users; 500/s...), on either scale.
    let ticks: Vec<f64> = if map.log2 || (panel.x_scale == XScale::Levels && xs.len() <= 12) {
        xs.iter().map(|x| map.to(*x)).collect()
    } else {
        round_ticks(range.start, range.end)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(TickedAxis { range, ticks }, 0.0..y1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(format!(
            "{}{}",
            panel.x_label,
            if map.log2 { " (log scale)" } else { "" }
        ))
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&|v| tick(map.back(*v)))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(plot_err)?;
    for line in &panel.lines {
        draw_line(&mut chart, line, map)?;
    }
    draw_levels(&mut chart, panel, (x0 - pad, x1 + pad))?;
    draw_marks(&mut chart, panel, map, (x0, x1, pad), y1)?;
    if !panel.lines.is_empty() || !panel.levels.is_empty() {
        legend(&mut chart, panel.legend_lower_left)?;
    }
    Ok(())
}

/// Each mark: a dashed vertical line and its label, written towards the middle of the plot so
/// a mark near the right edge keeps its words on the canvas.
fn draw_marks<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart2d<'a, DB>,
    panel: &Panel,
    map: XMap,
    (x0, x1, pad): (f64, f64, f64),
    y1: f64,
) -> anyhow::Result<()> {
    for mark in &panel.marks {
        let x = map.to(mark.x);
        let style = BLACK.mix(0.35).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(vec![(x, 0.0), (x, y1)], 3, 3, style))
            .map_err(plot_err)?;
        let right_half = x > (x0 + x1) / 2.0;
        let font = ("sans-serif", 12).into_font().color(&BLACK.mix(0.7));
        let font = if right_half {
            font.pos(Pos::new(HPos::Right, VPos::Bottom))
        } else {
            font
        };
        let at = if right_half { x - pad * 0.1 } else { x };
        chart
            .draw_series(std::iter::once(Text::new(
                mark.label.clone(),
                (at, y1 * 0.06),
                font,
            )))
            .map_err(plot_err)?;
    }
    Ok(())
}

/// Each bar, and its value over it.
fn draw_bar_values<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart2d<'a, DB>,
    bars: &[&Line],
) -> anyhow::Result<()> {
    for (i, line) in bars.iter().enumerate() {
        let value = line.points[0].1;
        let fill = if line.dashed {
            color(line.color).mix(0.45).filled()
        } else {
            color(line.color).filled()
        };
        let x0 = i as f64 + 0.15;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x0 + 0.7, value)],
                fill,
            )))
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x0 + 0.35, value))
                    + Text::new(
                        tick(value),
                        (-10, -16),
                        ("sans-serif", 13).into_font().color(&BLACK),
                    ),
            ))
            .map_err(plot_err)?;
    }
    Ok(())
}
