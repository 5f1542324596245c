//! When each request of an open load is due: a fixed rate, spaced evenly or as Poisson
//! arrivals. The schedule is a list of intended start times computed from the rate alone,
//! never from when the previous request was sent, so a late send does not shift the ones
//! after it (no drift, and no coordinated omission: latency counts from the intended time).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::results::Arrivals;

/// Intended start offsets from the load's start, in order, for `secs` seconds.
pub struct Schedule {
    rate: f64,
    arrivals: Arrivals,
    rng: StdRng,
    /// Requests scheduled so far.
    n: u64,
    /// Offset of the next request, seconds.
    next_secs: f64,
    secs: f64,
}

impl Schedule {
    /// `rate` requests per second (positive) for `secs` seconds; `seed` fixes Poisson gaps.
    pub fn new(rate: f64, arrivals: Arrivals, secs: f64, seed: u64) -> Self {
        let mut schedule = Self {
            rate,
            arrivals,
            rng: StdRng::seed_from_u64(seed),
            n: 0,
            next_secs: 0.0,
            secs,
        };
        if arrivals == Arrivals::Poisson {
            schedule.next_secs = schedule.gap();
        }
        schedule
    }

    /// An exponential gap with mean 1/rate.
    fn gap(&mut self) -> f64 {
        let u: f64 = self.rng.random();
        -(1.0 - u).ln() / self.rate
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let at = self.next_secs;
        if at >= self.secs {
            return None;
        }
        self.n += 1;
        self.next_secs = match self.arrivals {
            // From the count, not by adding gaps: no rounding drift over millions.
            Arrivals::Constant => self.n as f64 / self.rate,
            Arrivals::Poisson => at + self.gap(),
        };
        Some(Duration::from_secs_f64(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_rate_is_evenly_spaced_and_ends_on_time() {
        let offsets: Vec<Duration> = Schedule::new(1000.0, Arrivals::Constant, 10.0, 1).collect();
        assert_eq!(offsets.len(), 10_000);
        assert_eq!(offsets[1], Duration::from_millis(1));
        let last = offsets.last().unwrap().as_secs_f64();
        assert!((last - 9.999).abs() < 1e-9, "{last}");
    }

    #[test]
    fn poisson_arrivals_average_the_rate_with_exponential_gaps() {
        let offsets: Vec<f64> = Schedule::new(1000.0, Arrivals::Poisson, 20.0, 7)
            .map(|d| d.as_secs_f64())
            .collect();
        // 20,000 expected; a Poisson count's standard deviation is sqrt(20,000) ~ 141.
        assert!(
            (offsets.len() as f64 - 20_000.0).abs() < 600.0,
            "{}",
            offsets.len()
        );
        let gaps: Vec<f64> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.001).abs() < 0.00005, "{mean}");
        // Exponential: about 37% of the gaps are longer than the mean.
        let longer = gaps.iter().filter(|g| **g > 0.001).count() as f64 / gaps.len() as f64;
        assert!((longer - (-1.0f64).exp()).abs() < 0.02, "{longer}");
        assert!(offsets.windows(2).all(|w| w[1] >= w[0]));
    }
}
