//! The drawing underneath every plot: a panel of lines (or levels) on shared axes, its
//! colours and bounds, and rendering a list of panels as one PNG and one SVG.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: usize,
    pub dashed: bool,
}

/// A horizontal reference line (a cap, a ceiling).
pub struct Level {
    pub label: String,
    pub value: f64,
    pub color: usize,
}

/// One chart panel.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    pub levels: Vec<Level>,
}

const SIZE: (u32, u32) = (1000, 600);

fn plot_err<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("drawing failed: {err:?}")
}

/// DejaVu Sans, compiled in: text is laid out with ab_glyph from these bytes, so drawing
/// needs no system font and building needs no fontconfig (a bare Debian or the Rust image
/// lacks both). Licence: `lab/assets/fonts/LICENSE-DejaVu.txt`.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as "sans-serif", once per process.
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded font could not be read"))
    }
}

pub fn color(index: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    COLORS[index % COLORS.len()]
}

fn bounds(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let xs = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0));
    let ys = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(panel.levels.iter().map(|l| l.value));
    let (mut x0, mut x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let y1 = ys.fold(0.0_f64, f64::max);
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.1 };
    ((x0, x1), (0.0, y1))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> anyhow::Result<()> {
    let ((x0, x1), (y0, y1)) = bounds(panel);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .draw()
        .map_err(plot_err)?;
    for line in &panel.lines {
        let style = color(line.color).stroke_width(2);
        let points = line.points.clone();
        let series = if line.dashed {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                .map_err(plot_err)?
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(plot_err)?
        };
        // An empty label continues an earlier line (another step of the same service).
        if !line.label.is_empty() {
            series
                .label(line.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, style.filled())))
            .map_err(plot_err)?;
    }
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
    if !panel.lines.is_empty() || !panel.levels.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present().map_err(plot_err)
}

/// Writes `<stem>.png` and `<stem>.svg`.
pub fn render(dir: &Path, stem: &str, panels: &[Panel]) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    let size = (
        SIZE.0,
        SIZE.1 * panels.len().max(1) as u32 * 3 / 4 + SIZE.1 / 4,
    );
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    draw_all(BitMapBackend::new(&png, size).into_drawing_area(), panels)?;
    draw_all(SVGBackend::new(&svg, size).into_drawing_area(), panels)?;
    Ok(vec![png, svg])
}
