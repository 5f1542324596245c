//! The x axis: load levels on a log2 scale with their own ticks, or round ticks on a linear
//! one, in one coordinate type every chart shares.

use plotters::prelude::*;

use super::panel::{Panel, XScale};

/// How a panel's x values are placed: as they are, or their log2 (then ticks are put back as
/// the levels themselves).
#[derive(Clone, Copy)]
pub(super) struct XMap {
    pub(super) log2: bool,
}

impl XMap {
    pub(super) fn of(panel: &Panel, xs: &[f64]) -> Self {
        let log2 = panel.x_scale == XScale::Levels
            && xs.first().is_some_and(|x| *x > 0.0)
            && xs.len() >= 2
            && xs.last().unwrap_or(&0.0) / xs[0] >= 4.0;
        Self { log2 }
    }

    pub(super) fn to(self, x: f64) -> f64 {
        if self.log2 {
            x.log2()
        } else {
            x
        }
    }

    pub(super) fn back(self, v: f64) -> f64 {
        if self.log2 {
            2f64.powf(v)
        } else {
            v
        }
    }
}

/// A linear x axis whose ticks are chosen here (the load levels, or round steps), not by
/// plotters.
#[derive(Clone)]
pub(super) struct TickedAxis {
    pub(super) range: std::ops::Range<f64>,
    pub(super) ticks: Vec<f64>,
}

impl plotters::coord::ranged1d::Ranged for TickedAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = (self.range.end - self.range.start).max(1e-12);
        let share = (value - self.range.start) / span;
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// Every chart here: x with the ticks chosen here, y linear.
pub(super) type Chart2d<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<TickedAxis, plotters::coord::types::RangedCoordf64>>;

/// About eight round ticks (1, 2 or 5 times a power of ten apart) between `lo` and `hi`.
pub(super) fn round_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / 8.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    let mut ticks = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + 1e-9 {
        ticks.push(t);
        t += step;
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_spanning_a_factor_of_four_go_on_a_log2_axis() {
        let panel = Panel {
            x_scale: XScale::Levels,
            ..Panel::default()
        };
        assert!(XMap::of(&panel, &[10.0, 50.0, 450.0]).log2);
        assert!(!XMap::of(&panel, &[10.0, 20.0]).log2);
        assert!(!XMap::of(&panel, &[0.0, 100.0]).log2);
        let map = XMap::of(&panel, &[10.0, 450.0]);
        assert!((map.back(map.to(250.0)) - 250.0).abs() < 1e-9);
    }
}
