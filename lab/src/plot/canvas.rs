//! The drawing underneath every plot: panels of lines (or levels) on shared axes, rendered as
//! one PNG and one SVG. What a reader should be able to tell apart, it can:
//!
//! - **Series beyond a dozen**: ten colours times five markers, and dashed lines drawn dashed
//!   in the legend too.
//! - **Load levels** (users 10...450, rates 500...4000/s) on a log2 axis whose ticks are the
//!   levels measured, printed as integers.
//! - **One level only**: grouped bars, not a few dots on an axis from 100.0 to 101.0.
//! - **Flat panels** (100% availability, a 50/50 balance) collapse into one line of text
//!   instead of taking a third of the page.
//! - **Time series** carry marks where each step starts, labelled with its load.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::charts::{draw_bars, draw_flat, draw_lines};
use super::panel::{distinct_x, flat_value, plot_err, FLAT_HEIGHT, PANEL_HEIGHT, WIDTH};
pub use super::panel::{Level, Line, Mark, Panel, XScale};

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

/// How tall a panel is drawn: a flat one is one line of text.
fn height(panel: &Panel) -> u32 {
    if flat_value(panel).is_some() {
        FLAT_HEIGHT
    } else {
        PANEL_HEIGHT
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> anyhow::Result<()> {
    if let Some(value) = flat_value(panel) {
        return draw_flat(area, panel, value);
    }
    let xs = distinct_x(panel);
    if panel.bars {
        return draw_bars(area, panel, None);
    }
    let one_level = xs.len() == 1 && panel.x_scale == XScale::Levels;
    if one_level {
        return draw_bars(area, panel, Some(xs[0]));
    }
    draw_lines(area, panel, &xs)
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let mut rest = root.clone();
    for panel in panels {
        let (area, below) = rest.split_vertically(height(panel));
        draw_panel(&area, panel)?;
        rest = below;
    }
    root.present().map_err(plot_err)
}

/// Writes `<stem>.png` and `<stem>.svg`.
pub fn render(dir: &Path, stem: &str, panels: &[Panel]) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    let size = (
        WIDTH,
        panels.iter().map(height).sum::<u32>().max(FLAT_HEIGHT),
    );
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    draw_all(BitMapBackend::new(&png, size).into_drawing_area(), panels)?;
    draw_all(SVGBackend::new(&svg, size).into_drawing_area(), panels)?;
    Ok(vec![png, svg])
}
