//! The one percentile method of the lab: an HDR histogram over milliseconds (1 ms .. 1 hour,
//! 3 significant digits: exact up to 2 s, within 0.1% above). nginx's `request_time` has
//! millisecond resolution, so every latency (nginx's, and the times of lab's own probes) is
//! rounded to whole milliseconds before it is recorded; a quantile is the value at that rank
//! (`q` of the count, rounded up: the nearest rank).

use hdrhistogram::Histogram;

/// Latencies of one step or one set of probes.
pub struct Latencies {
    histogram: Histogram<u64>,
    sum_ms: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            histogram: Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)
                .expect("static histogram bounds are valid"),
            sum_ms: 0.0,
        }
    }
}

impl Latencies {
    /// Records one latency, in milliseconds (rounded; negative counts as 0).
    pub fn record_ms(&mut self, ms: f64) {
        let ms = ms.round().max(0.0);
        self.sum_ms += ms;
        self.histogram.saturating_record(ms as u64);
    }

    pub fn from_ms(values: impl IntoIterator<Item = f64>) -> Self {
        let mut latencies = Self::default();
        for ms in values {
            latencies.record_ms(ms);
        }
        latencies
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The `q` quantile (0..=1) in ms; 0 when nothing was recorded.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count() == 0 {
            return 0.0;
        }
        self.histogram.value_at_quantile(q) as f64
    }

    pub fn max(&self) -> f64 {
        self.histogram.max() as f64
    }

    pub fn mean(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.sum_ms / n as f64,
        }
    }
}

/// The `q` quantile of `values` (ms) by the lab's one method; 0 when empty.
pub fn quantile(values: impl IntoIterator<Item = f64>, q: f64) -> f64 {
    Latencies::from_ms(values).quantile(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(values.clone(), 0.99), 99.0);
        assert_eq!(quantile(values, 0.5), 50.0);
        assert_eq!(quantile(vec![], 0.99), 0.0);
        assert_eq!(quantile(vec![7.0], 0.99), 7.0);
    }
}
