//! How series are told apart: ten colours times five markers, dashes shown in the legend too;
//! a line's drawing, its levels and the legend.

use plotters::prelude::*;

use super::axis::{Chart2d, XMap};
use super::panel::{plot_err, Line, Panel};

/// Ten colours (matplotlib's tab10, readable on white and apart in print).
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(index: usize) -> RGBColor {
    COLORS[index % COLORS.len()]
}

/// The marker of a style index: a new shape each time the colours come round.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Cross,
}

pub fn marker(index: usize) -> Marker {
    const MARKERS: [Marker; 5] = [
        Marker::Circle,
        Marker::Square,
        Marker::Triangle,
        Marker::Diamond,
        Marker::Cross,
    ];
    MARKERS[(index / COLORS.len()) % MARKERS.len()]
}

/// Draws one line's points with its marker, and registers its legend entry (a dashed line
/// shows dashed there too).
pub(super) fn draw_line<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart2d<'a, DB>,
    line: &Line,
    map: XMap,
) -> anyhow::Result<()> {
    let style = color(line.color).stroke_width(2);
    let points: Vec<(f64, f64)> = line.points.iter().map(|(x, y)| (map.to(*x), *y)).collect();
    let drawn: Vec<(f64, f64)> = if line.points_only {
        Vec::new()
    } else {
        points.clone()
    };
    let series = if line.dashed {
        chart
            .draw_series(DashedLineSeries::new(drawn, 8, 5, style))
            .map_err(plot_err)?
    } else {
        chart
            .draw_series(LineSeries::new(drawn, style))
            .map_err(plot_err)?
    };
    let dashed = line.dashed;
    let shape = marker(line.color);
    // An empty label continues an earlier line (another step of the same service).
    if !line.label.is_empty() {
        series.label(line.label.as_str()).legend(move |(x, y)| {
            let path: Vec<(i32, i32)> = if dashed {
                vec![(x, y), (x + 6, y)]
            } else {
                vec![(x, y), (x + 22, y)]
            };
            let tail: Vec<(i32, i32)> = if dashed {
                vec![(x + 11, y), (x + 17, y)]
            } else {
                vec![]
            };
            EmptyElement::at((0, 0))
                + PathElement::new(path, style)
                + PathElement::new(tail, style)
                + legend_marker(shape, (x + 11, y), style)
        });
    }
    // Labels alternate above and below their points, so neighbours do not print over
    // each other.
    for (i, (point, text)) in points.iter().zip(&line.point_labels).enumerate() {
        let dy = if i % 2 == 0 { -16 } else { 6 };
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(*point)
                    + Text::new(
                        text.clone(),
                        (7, dy),
                        ("sans-serif", 12).into_font().color(&color(line.color)),
                    ),
            ))
            .map_err(plot_err)?;
    }
    draw_markers(chart, &points, shape, style)
}

/// The marker's shape in a legend, as a polygon around `at`.
pub(super) fn legend_marker(
    m: Marker,
    (x, y): (i32, i32),
    style: ShapeStyle,
) -> Polygon<(i32, i32)> {
    let r = 4;
    let points = match m {
        Marker::Circle => (0..8)
            .map(|i| {
                let a = f64::from(i) * std::f64::consts::PI / 4.0;
                (
                    x + (f64::from(r) * a.cos()) as i32,
                    y + (f64::from(r) * a.sin()) as i32,
                )
            })
            .collect(),
        Marker::Square => vec![
            (x - r, y - r),
            (x + r, y - r),
            (x + r, y + r),
            (x - r, y + r),
        ],
        Marker::Triangle => vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)],
        Marker::Diamond => vec![
            (x, y - r - 1),
            (x + r + 1, y),
            (x, y + r + 1),
            (x - r - 1, y),
        ],
        Marker::Cross => vec![
            (x - r, y - 1),
            (x + r, y - 1),
            (x + r, y + 1),
            (x - r, y + 1),
        ],
    };
    Polygon::new(points, style.filled())
}

pub(super) fn draw_markers<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart2d<'a, DB>,
    points: &[(f64, f64)],
    shape: Marker,
    style: ShapeStyle,
) -> anyhow::Result<()> {
    let filled = style.filled();
    match shape {
        Marker::Circle => chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, filled)))
            .map(|_| ()),
        Marker::Square => chart
            .draw_series(
                points
                    .iter()
                    .map(|p| EmptyElement::at(*p) + Rectangle::new([(-4, -4), (4, 4)], filled)),
            )
            .map(|_| ()),
        Marker::Triangle => chart
            .draw_series(points.iter().map(|p| TriangleMarker::new(*p, 5, filled)))
            .map(|_| ()),
        Marker::Diamond => chart
            .draw_series(points.iter().map(|p| {
                EmptyElement::at(*p) + Polygon::new(vec![(0, -5), (5, 0), (0, 5), (-5, 0)], filled)
            }))
            .map(|_| ()),
        Marker::Cross => chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Cross::new(*p, 5, style.stroke_width(2))),
            )
            .map(|_| ()),
    }
    .map_err(plot_err)
}

pub(super) fn draw_levels<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart2d<'a, DB>,
    panel: &Panel,
    (x0, x1): (f64, f64),
) -> anyhow::Result<()> {
    for level in &panel.levels {
        let style = color(level.color).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, level.value), (x1, level.value)],
                4,
                4,
                style,
            ))
            .map_err(plot_err)?
            .label(level.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    Ok(())
}

pub(super) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart2d<'a, DB>,
    lower_left: bool,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(if lower_left {
            SeriesLabelPosition::LowerLeft
        } else {
            SeriesLabelPosition::UpperLeft
        })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_series_get_fifty_distinct_styles_before_one_repeats() {
        let styles: std::collections::HashSet<(usize, u8)> = (0..50)
            .map(|i| (i % COLORS.len(), marker(i) as u8))
            .collect();
        assert_eq!(styles.len(), 50);
        assert_eq!((color(50), marker(50)), (color(0), marker(0)));
    }
}
