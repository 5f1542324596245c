//! What a plot is made of: panels of lines, levels and marks, and the few rules every panel
//! shares (which x values it holds, when it is flat, how a number is printed).

use anyhow::anyhow;

pub(super) const WIDTH: u32 = 1000;
pub(super) const PANEL_HEIGHT: u32 = 450;
pub(super) const FLAT_HEIGHT: u32 = 60;

/// One line of a chart. `color` is its style index: a colour and a marker.
#[derive(Clone, Default)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: usize,
    pub dashed: bool,
    /// A text beside each point, in order (empty: none).
    pub point_labels: Vec<String>,
    /// Markers only, no line between the points (a scatter).
    pub points_only: bool,
}

/// A horizontal reference line (a cap, a ceiling).
#[derive(Clone, Default)]
pub struct Level {
    pub label: String,
    pub value: f64,
    pub color: usize,
}

/// A labelled vertical mark on the x axis (where a step starts).
#[derive(Clone, Default)]
pub struct Mark {
    pub x: f64,
    pub label: String,
}

/// How the x axis maps its values.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum XScale {
    #[default]
    Linear,
    /// Log2, its ticks at the values the lines hold (load levels): falls back to linear when a
    /// value is not positive or the values span less than a factor of 4.
    Levels,
}

/// One chart panel.
#[derive(Clone, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    pub levels: Vec<Level>,
    pub x_scale: XScale,
    /// Collapse into one line of text when every value is the same (within 0.5%), the unit
    /// to print it with (`%`).
    pub flat_unit: Option<&'static str>,
    pub marks: Vec<Mark>,
    /// Bars, one per line (its first point's value), whatever the x values.
    pub bars: bool,
    /// Where the legend goes: the upper left unless the data lives there.
    pub legend_lower_left: bool,
}

pub(super) fn plot_err<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("drawing failed: {err:?}")
}

/// The x values the lines hold, sorted, without repeats.
pub(super) fn distinct_x(panel: &Panel) -> Vec<f64> {
    let mut xs: Vec<f64> = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    xs
}

/// The lowest and highest value of a panel that asks to collapse, when they are within 0.05
/// of its unit of each other (a percentage panel: 99.97% and 99.99% are flat, 99.9% and 100%
/// are not).
pub(super) fn flat_value(panel: &Panel) -> Option<(f64, f64)> {
    panel.flat_unit?;
    let ys: Vec<f64> = panel
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .collect();
    let (lo, hi) = ys
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(*y), b.max(*y)));
    (!ys.is_empty() && hi - lo <= 0.05).then_some((lo, hi))
}

/// A number as an axis shows it: integers without decimals, else three significant digits.
pub(super) fn tick(value: f64) -> String {
    if value.abs() < 1e-9 {
        return "0".to_owned();
    }
    if (value - value.round()).abs() < 1e-6 {
        return format!("{:.0}", value.round());
    }
    let decimals = (2 - value.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_panel_collapses_and_a_varied_one_does_not() {
        let line = |ys: &[f64]| Line {
            label: "s".into(),
            points: ys.iter().enumerate().map(|(i, y)| (i as f64, *y)).collect(),
            color: 0,
            dashed: false,
            ..Line::default()
        };
        let mut panel = Panel {
            flat_unit: Some("%"),
            lines: vec![line(&[100.0, 100.0, 99.9])],
            ..Panel::default()
        };
        assert_eq!(flat_value(&panel), None, "99.9% and 100% are not flat");
        panel.lines = vec![line(&[100.0, 100.0, 99.97])];
        assert_eq!(flat_value(&panel), Some((99.97, 100.0)));
        panel.lines = vec![line(&[100.0, 97.0])];
        assert_eq!(flat_value(&panel), None);
        panel.flat_unit = None;
        panel.lines = vec![line(&[5.0, 5.0])];
        assert_eq!(flat_value(&panel), None, "only panels that ask collapse");
        assert_eq!(tick(450.0), "450");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.005), "0.005");
        assert_eq!(tick(123.456), "123");
    }
}
