//! How two small samples of one figure compare: the ratio B/A with a 95% confidence interval,
//! and whether the difference is real or within noise.
//!
//! The estimate is Hodges-Lehmann's: the median of every pairwise difference of the logs
//! (log b_j - log a_i), so a ratio. Its interval is the distribution-free one that comes with
//! the Mann-Whitney test (Bauer, 1972): between the k-th smallest and the k-th largest of those
//! differences, k taken from the exact distribution of Mann-Whitney's U for these sample
//! sizes, so the interval covers the true ratio in at least 95% of repetitions whatever the
//! noise's shape. The interval excludes 1 exactly when benchstat's test (Mann-Whitney,
//! two-sided, 5%) would call the change significant, so "within noise" means the same thing
//! here as there.
//!
//! Why not a bootstrap or a t interval: a benchmark's runs on a shared machine are few (five
//! a side is an afternoon on compose), skewed and prone to one slow outlier; a bootstrap of
//! five values is too narrow (it cannot see beyond the values drawn), and a t interval trusts
//! a normal shape and a mean one outlier moves. Ranks and medians are what these samples can
//! bear. The price: with fewer than four runs a side no interval reaches 95%, and the plan
//! refuses such a comparison.

use serde::{Deserialize, Serialize};

/// The ratio of B to A, with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioInterval {
    /// Hodges-Lehmann estimate of B/A.
    pub ratio: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// The interval's exact coverage (at least the level asked for), e.g. 0.968 for five runs
    /// a side.
    pub confidence: f64,
}

impl RatioInterval {
    /// Whether B's values are higher, lower, or not told apart from A's.
    pub fn direction(&self) -> Direction {
        if self.low > 1.0 {
            Direction::Higher
        } else if self.high < 1.0 {
            Direction::Lower
        } else {
            Direction::WithinNoise
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Higher,
    Lower,
    WithinNoise,
}

/// Counts of Mann-Whitney's U over every arrangement of `n` and `m` values without ties:
/// `counts[u]` arrangements give U = u (the recurrence f(n, m, u) = f(n - 1, m, u - m) +
/// f(n, m - 1, u)).
fn u_counts(n: usize, m: usize) -> Vec<f64> {
    // table[i][j] = counts for sizes (i, j), built up by rows.
    let mut table: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); m + 1]; n + 1];
    for i in 0..=n {
        for j in 0..=m {
            table[i][j] = if i == 0 || j == 0 {
                vec![1.0]
            } else {
                let mut counts = vec![0.0; i * j + 1];
                for (u, c) in table[i - 1][j].iter().enumerate() {
                    counts[u + j] += c;
                }
                for (u, c) in table[i][j - 1].iter().enumerate() {
                    counts[u] += c;
                }
                counts
            };
        }
    }
    std::mem::take(&mut table[n][m])
}

/// The largest k (from 1) whose interval [d(k), d(nm + 1 - k)] has coverage at least `level`,
/// and that coverage; None when even k = 1 falls short (too few values).
fn interval_rank(n: usize, m: usize, level: f64) -> Option<(usize, f64)> {
    let counts = u_counts(n, m);
    let total: f64 = counts.iter().sum();
    let mut best = None;
    let mut below = 0.0;
    for (k, count) in counts.iter().enumerate().take(n * m / 2) {
        below += count;
        // P(U <= k) on each side: the interval from rank k + 1 leaves out U <= k on both.
        let coverage = 1.0 - 2.0 * below / total;
        if coverage >= level {
            best = Some((k + 1, coverage));
        } else {
            break;
        }
    }
    best
}

/// B/A with its `level` interval (0.95 for 95%). None when a value is not positive (a ratio
/// of zeros says nothing) or the samples are too small for the level.
pub fn ratio_interval(a: &[f64], b: &[f64], level: f64) -> Option<RatioInterval> {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|v| !(*v > 0.0 && v.is_finite())) {
        return None;
    }
    let (k, confidence) = interval_rank(a.len(), b.len(), level)?;
    let mut diffs: Vec<f64> = b
        .iter()
        .flat_map(|y| a.iter().map(move |x| y.ln() - x.ln()))
        .collect();
    diffs.sort_by(f64::total_cmp);
    let len = diffs.len();
    let median = if len % 2 == 1 {
        diffs[len / 2]
    } else {
        (diffs[len / 2 - 1] + diffs[len / 2]) / 2.0
    };
    Some(RatioInterval {
        ratio: median.exp(),
        low: diffs[k - 1].exp(),
        high: diffs[len - k].exp(),
        confidence,
    })
}

/// The fewest runs a side that give a 95% interval.
pub const MIN_RUNS_PER_SIDE: usize = 4;

/// The median of some values (None when empty).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let len = sorted.len();
    Some(if len % 2 == 1 {
        sorted[len / 2]
    } else {
        (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A multiplicative noise: exp of a normal with this standard deviation (Box-Muller).
    fn noisy(rng: &mut StdRng, centre: f64, sd: f64) -> f64 {
        let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        centre * (sd * z).exp()
    }

    #[test]
    fn the_u_distribution_is_exact_for_small_samples() {
        // Five and five: 252 arrangements; U = 0, 1, 2 in 1, 1 and 2 of them.
        let counts = u_counts(5, 5);
        assert_eq!(counts.iter().sum::<f64>(), 252.0);
        assert_eq!(&counts[..3], &[1.0, 1.0, 2.0]);
        assert_eq!(counts.len(), 26);
        // Symmetric.
        for u in 0..=25 {
            assert_eq!(counts[u], counts[25 - u]);
        }
        // Five a side: from the 3rd smallest difference, 96.8% coverage.
        let (k, coverage) = interval_rank(5, 5, 0.95).unwrap();
        assert_eq!(k, 3);
        assert!((coverage - (1.0 - 8.0 / 252.0)).abs() < 1e-12);
        // Four a side reach 95% only with the extremes; three never do.
        assert_eq!(interval_rank(4, 4, 0.95).unwrap().0, 1);
        assert!(interval_rank(3, 3, 0.95).is_none());
        assert!(interval_rank(MIN_RUNS_PER_SIDE, MIN_RUNS_PER_SIDE, 0.95).is_some());
    }

    #[test]
    fn equal_distributions_are_within_noise_in_at_least_95_percent_of_seeds() {
        let seeds = 2000;
        let mut within = 0;
        for seed in 0..seeds {
            let mut rng = StdRng::seed_from_u64(seed);
            let a: Vec<f64> = (0..5).map(|_| noisy(&mut rng, 1000.0, 0.05)).collect();
            let b: Vec<f64> = (0..5).map(|_| noisy(&mut rng, 1000.0, 0.05)).collect();
            let interval = ratio_interval(&a, &b, 0.95).unwrap();
            if interval.direction() == Direction::WithinNoise {
                within += 1;
            }
        }
        let share = f64::from(within) / seeds as f64;
        assert!(
            share >= 0.95,
            "within noise in {:.1}% of seeds",
            100.0 * share
        );
    }

    #[test]
    fn a_ten_percent_shift_with_small_noise_is_detected_with_its_size() {
        let seeds = 500;
        let mut detected = 0;
        for seed in 0..seeds {
            let mut rng = StdRng::seed_from_u64(10_000 + seed);
            let a: Vec<f64> = (0..5).map(|_| noisy(&mut rng, 1000.0, 0.02)).collect();
            let b: Vec<f64> = (0..5).map(|_| noisy(&mut rng, 1100.0, 0.02)).collect();
            let interval = ratio_interval(&a, &b, 0.95).unwrap();
            if interval.direction() == Direction::Higher {
                detected += 1;
                assert!(interval.low <= 1.1 * 1.05 && interval.high >= 1.1 / 1.05);
            }
        }
        assert!(
            detected >= seeds * 99 / 100,
            "detected in {detected} of {seeds}"
        );
    }

    #[test]
    fn one_wild_run_does_not_move_the_estimate() {
        let a = [100.0, 101.0, 99.0, 100.5, 99.5];
        let b = [110.0, 111.0, 109.0, 110.5, 400.0];
        let interval = ratio_interval(&a, &b, 0.95).unwrap();
        assert!((interval.ratio - 1.1).abs() < 0.02, "{interval:?}");
        assert_eq!(interval.direction(), Direction::Higher);
    }

    #[test]
    fn zeros_and_too_few_runs_give_no_interval() {
        assert!(ratio_interval(&[0.0, 1.0, 1.0, 1.0], &[1.0; 4], 0.95).is_none());
        assert!(ratio_interval(&[1.0; 3], &[1.0; 3], 0.95).is_none());
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }
}
