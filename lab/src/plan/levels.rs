//! The concurrency steps of a scenario: the fixed list, or a ramp that stops at the knee.

/// Concurrency steps: the list as given, or in ramp mode doubling from its lowest value up
/// to its highest, stopping at the first step that breaks an SLO (the knee lies below).
pub struct UsersPlan {
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

    #[test]
    fn ramp_doubles_up_to_the_cap_and_stops_at_the_first_failure() {
        let mut plan = UsersPlan::new(&[10, 450], true);
        assert_eq!(steps(&mut plan, None), vec![10, 20, 40, 80, 160, 320, 450]);
        let mut plan = UsersPlan::new(&[10, 450], true);
        assert_eq!(steps(&mut plan, Some(70)), vec![10, 20, 40, 80]);
    }
}
