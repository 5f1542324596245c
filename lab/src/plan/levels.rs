//! The load levels of a scenario: the closed model's users (a fixed list, or a ramp that
//! stops at the knee), then the open model's rates (a fixed list, or `auto`: doubling until
//! an SLO breaks, then halving the gap to find the knee).

use crate::results::{Arrivals, LoadModel};

/// How a load offers its requests: the closed model's users or the open model's rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Offered {
    /// Concurrent users, each sending its next request as soon as the last one is answered.
    Users(u32),
    /// Requests per second arriving whatever the stack does.
    Rate { per_s: f64, arrivals: Arrivals },
}

impl Offered {
    /// The closed model's users, or None for a rate.
    pub fn users(self) -> Option<u32> {
        match self {
            Offered::Users(users) => Some(users),
            Offered::Rate { .. } => None,
        }
    }

    /// The open model's rate, or None for users.
    pub fn rate(self) -> Option<f64> {
        match self {
            Offered::Rate { per_s, .. } => Some(per_s),
            Offered::Users(_) => None,
        }
    }

    /// The load model these levels belong to.
    pub fn model(self) -> LoadModel {
        match self {
            Offered::Users(_) => LoadModel::Closed,
            Offered::Rate { .. } => LoadModel::Open,
        }
    }

    /// `50 users` or `1000 req/s`, for progress lines.
    pub fn describe(self) -> String {
        match self {
            Offered::Users(users) => format!("{users} users"),
            Offered::Rate { per_s, .. } => format!("{per_s:.0} req/s"),
        }
    }
}

/// The open model's rates as asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Rates {
    /// No open-model step.
    None,
    /// These rates, ascending.
    List(Vec<f64>),
    /// The highest rate that meets the SLO: from [`AUTO_START_PER_S`], doubling until it
    /// breaks, then [`AUTO_BISECTIONS`] halvings of the gap between the last pass and the
    /// first failure.
    Auto,
}

/// Where `--rate auto` starts, requests per second.
pub const AUTO_START_PER_S: f64 = 100.0;
/// Where it stops doubling even when every step passes (beyond what two cores serve).
pub const AUTO_MAX_PER_S: f64 = 102_400.0;
/// Halvings of the gap after the first failure: the knee within 1/8 of the last doubling.
pub const AUTO_BISECTIONS: u32 = 3;

/// Every level of one scenario, in the order they run.
pub struct Levels {
    users: UsersPlan,
    rates: RatePlan,
    arrivals: Arrivals,
    /// The last level came from the rates.
    last_was_rate: bool,
}

impl Levels {
    pub fn new(users: &[u32], ramp: bool, rates: &Rates, arrivals: Arrivals) -> Self {
        Self {
            users: UsersPlan::new(users, ramp),
            rates: RatePlan::new(rates),
            arrivals,
            last_was_rate: false,
        }
    }

    pub fn next(&mut self) -> Option<Offered> {
        if let Some(users) = self.users.next() {
            self.last_was_rate = false;
            return Some(Offered::Users(users));
        }
        self.last_was_rate = true;
        self.rates.next().map(|per_s| Offered::Rate {
            per_s,
            arrivals: self.arrivals,
        })
    }

    /// Whether the last level met the SLO (a ramp and `auto` steer by it).
    pub fn record(&mut self, passed: bool) {
        if self.last_was_rate {
            self.rates.record(passed);
        } else {
            self.users.record(passed);
        }
    }
}

/// The open model's rates: a list, or the knee search.
struct RatePlan {
    fixed: Vec<f64>,
    auto: bool,
    /// The rate last offered.
    current: Option<f64>,
    last_pass: Option<f64>,
    first_fail: Option<f64>,
    bisections_left: u32,
    done: bool,
}

impl RatePlan {
    fn new(rates: &Rates) -> Self {
        let fixed = match rates {
            Rates::List(list) => list.iter().rev().copied().collect(),
            Rates::None | Rates::Auto => Vec::new(),
        };
        Self {
            fixed,
            auto: *rates == Rates::Auto,
            current: None,
            last_pass: None,
            first_fail: None,
            bisections_left: AUTO_BISECTIONS,
            done: false,
        }
    }

    fn next(&mut self) -> Option<f64> {
        if !self.auto {
            return self.fixed.pop();
        }
        if self.done {
            return None;
        }
        let next = match (self.current, self.last_pass, self.first_fail) {
            (None, _, _) => AUTO_START_PER_S,
            (Some(_), Some(pass), None) if pass * 2.0 <= AUTO_MAX_PER_S => pass * 2.0,
            (Some(_), _, None) => return None,
            (Some(_), pass, Some(fail)) => {
                if self.bisections_left == 0 {
                    return None;
                }
                self.bisections_left -= 1;
                (pass.unwrap_or(0.0) + fail) / 2.0
            }
        };
        let next = next.round();
        self.current = Some(next);
        Some(next)
    }

    fn record(&mut self, passed: bool) {
        let Some(rate) = self.current.filter(|_| self.auto) else {
            return;
        };
        if passed {
            self.last_pass = Some(self.last_pass.map_or(rate, |p| p.max(rate)));
        } else {
            self.first_fail = Some(self.first_fail.map_or(rate, |f| f.min(rate)));
            // The very first rate failed: nothing below to bisect towards but zero.
            if self.last_pass.is_none() && rate <= AUTO_START_PER_S {
                self.done = true;
            }
        }
    }
}

/// Concurrency steps: the list as given, or in ramp mode doubling from its lowest value up
/// to its highest, stopping at the first step that breaks an SLO (the knee lies below).
struct UsersPlan {
    fixed: Vec<u32>,
    ramp: bool,
    next_ramp: Option<u32>,
    max: u32,
    stopped: bool,
}

impl UsersPlan {
    pub fn new(users: &[u32], ramp: bool) -> Self {
        Self {
            fixed: users.iter().rev().copied().collect(),
            ramp,
            next_ramp: users.first().copied(),
            max: users.last().copied().unwrap_or(1),
            stopped: false,
        }
    }

    pub fn next(&mut self) -> Option<u32> {
        if self.stopped {
            return None;
        }
        if !self.ramp {
            return self.fixed.pop();
        }
        let current = self.next_ramp?;
        self.next_ramp = (current < self.max).then(|| (current * 2).min(self.max));
        Some(current)
    }

    pub fn record(&mut self, passed: bool) {
        if self.ramp && !passed {
            self.stopped = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(plan: &mut UsersPlan, fail_at: Option<u32>) -> Vec<u32> {
        let mut seen = Vec::new();
        while let Some(users) = plan.next() {
            seen.push(users);
            plan.record(fail_at.is_none_or(|f| users < f));
        }
        seen
    }

    #[test]
    fn a_fixed_matrix_runs_every_step_in_order() {
        let mut plan = UsersPlan::new(&[10, 50, 450], false);
        assert_eq!(steps(&mut plan, Some(50)), vec![10, 50, 450]);
    }

    fn rates(levels: &mut Levels, knee: f64) -> Vec<f64> {
        let mut seen = Vec::new();
        while let Some(level) = levels.next() {
            let rate = level.rate().expect("only rates");
            seen.push(rate);
            levels.record(rate <= knee);
        }
        seen
    }

    #[test]
    fn auto_doubles_until_the_slo_breaks_then_closes_in_on_the_knee() {
        let mut levels = Levels::new(&[], false, &Rates::Auto, Arrivals::Constant);
        let seen = rates(&mut levels, 1500.0);
        // 100 .. 1600 doubling, 1600 fails; then 1200 (pass), 1400 (pass), 1500 (pass).
        assert_eq!(
            seen,
            vec![100.0, 200.0, 400.0, 800.0, 1600.0, 1200.0, 1400.0, 1500.0]
        );
        // The first rate failing ends the search at once.
        let mut levels = Levels::new(&[], false, &Rates::Auto, Arrivals::Constant);
        assert_eq!(rates(&mut levels, 50.0), vec![100.0]);
    }

    #[test]
    fn users_run_before_rates_and_a_list_runs_as_given() {
        let list = Rates::List(vec![500.0, 1000.0]);
        let mut levels = Levels::new(&[10, 50], false, &list, Arrivals::Poisson);
        let mut seen = Vec::new();
        while let Some(level) = levels.next() {
            seen.push(level.describe());
            levels.record(false);
        }
        assert_eq!(seen, ["10 users", "50 users", "500 req/s", "1000 req/s"]);
    }

    #[test]
    fn ramp_doubles_up_to_the_cap_and_stops_at_the_first_failure() {
        let mut plan = UsersPlan::new(&[10, 450], true);
        assert_eq!(steps(&mut plan, None), vec![10, 20, 40, 80, 160, 320, 450]);
        let mut plan = UsersPlan::new(&[10, 450], true);
        assert_eq!(steps(&mut plan, Some(70)), vec![10, 20, 40, 80]);
    }
}
