//! SLO thresholds such as `p99_ms<250,availability>=99.9`, parsed strictly so a typo in a CI
//! gate is an error, never a silently passing rule.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Metrics an SLO may name, with what they read from a step.
pub const METRICS: &[(&str, &str)] = &[
    ("p50_ms", "median latency users saw, ms (the client's; nginx's when siege drove)"),
    ("p90_ms", "90th percentile latency users saw, ms"),
    ("p99_ms", "99th percentile latency users saw, ms"),
    ("p999_ms", "99.9th percentile latency users saw, ms (the client's; the max for siege)"),
    ("max_ms", "slowest request users saw, ms"),
    ("mean_ms", "mean latency users saw, ms"),
    (
        "availability",
        "percent of requests answered 2xx/3xx as users saw them (time-outs and refused connections count against it)",
    ),
    ("rps", "requests answered per second, as the client counted them"),
    ("nginx_p50_ms", "median latency in nginx's log, ms"),
    ("nginx_p99_ms", "99th percentile latency in nginx's log, ms"),
    ("nginx_availability", "percent answered 2xx/3xx in nginx's log"),
    (
        "siege_availability",
        "siege's availability percent (429 counts as available)",
    ),
    ("errors_5xx_percent", "percent of requests answered 5xx (nginx's log)"),
    ("rate_limited_percent", "percent of requests answered 429 (nginx's log)"),
];

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// One threshold: `metric op value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloRule {
    /// A name from `METRICS`.
    pub metric: String,
    /// The comparison that must hold.
    pub op: Op,
    /// The threshold, in the metric's unit.
    pub threshold: f64,
}

impl fmt::Display for SloRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.metric, self.op.symbol(), self.threshold)
    }
}

/// Whether a step met every rule, and which failed with what value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloOutcome {
    /// True when every rule held.
    pub passed: bool,
    /// One line per broken rule, e.g. `p99_ms<250 (was 312)`.
    pub failures: Vec<String>,
}

/// Parses `rule,rule,...`; each rule is `metric<op>number`.
pub fn parse(text: &str) -> anyhow::Result<Vec<SloRule>> {
    let mut rules = Vec::new();
    for (position, clause) in text.split(',').enumerate() {
        let clause = clause.trim();
        if clause.is_empty() {
            anyhow::bail!(
                "SLO {text:?}: rule {} is empty (rules are comma-separated, e.g. p99_ms<250,availability>=99.9)",
                position + 1
            );
        }
        rules.push(parse_rule(clause)?);
    }
    Ok(rules)
}

fn parse_rule(clause: &str) -> anyhow::Result<SloRule> {
    let Some(op_start) = clause.find(['<', '>', '=', '!']) else {
        anyhow::bail!(
            "SLO rule {clause:?}: no comparison; use one of <, <=, >, >= (e.g. p99_ms<250)"
        );
    };
    let metric = clause[..op_start].trim();
    let rest = &clause[op_start..];
    let (op, number) = if let Some(n) = rest.strip_prefix("<=") {
        (Op::Le, n)
    } else if let Some(n) = rest.strip_prefix(">=") {
        (Op::Ge, n)
    } else if let Some(n) = rest.strip_prefix('<') {
        (Op::Lt, n)
    } else if let Some(n) = rest.strip_prefix('>') {
        (Op::Gt, n)
    } else {
        anyhow::bail!("SLO rule {clause:?}: unsupported comparison; use one of <, <=, >, >=");
    };
    if !METRICS.iter().any(|(name, _)| *name == metric) {
        let names: Vec<&str> = METRICS.iter().map(|(name, _)| *name).collect();
        anyhow::bail!(
            "SLO rule {clause:?}: unknown metric {metric:?}; known metrics: {}",
            names.join(", ")
        );
    }
    let number = number.trim().trim_end_matches('%');
    let threshold: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| {
            anyhow::anyhow!("SLO rule {clause:?}: threshold {number:?} is not a number")
        })?;
    Ok(SloRule {
        metric: metric.to_owned(),
        op,
        threshold,
    })
}

/// Checks `rules` against a step's metrics (`value`: a metric's value, None when not
/// measured). Nothing `served` fails every rule.
pub fn evaluate(
    rules: &[SloRule],
    served: bool,
    value: impl Fn(&str) -> Option<f64>,
) -> SloOutcome {
    let mut failures = Vec::new();
    for rule in rules {
        if !served {
            failures.push(format!("{rule} (no request reached nginx)"));
            continue;
        }
        match value(&rule.metric) {
            Some(v) if rule.op.holds(v, rule.threshold) => {}
            Some(v) => failures.push(format!("{rule} (was {})", round2(v))),
            None => failures.push(format!("{rule} (not measured)")),
        }
    }
    SloOutcome {
        passed: failures.is_empty(),
        failures,
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let rules = parse("p99_ms<250,availability>=99.9").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].metric, "p99_ms");
        assert_eq!(rules[0].op, Op::Lt);
        assert_eq!(rules[0].threshold, 250.0);
        assert_eq!(rules[1].op, Op::Ge);
        assert_eq!(rules[1].threshold, 99.9);
        assert_eq!(rules[1].to_string(), "availability>=99.9");
    }

    #[test]
    fn accepts_spaces_and_a_percent_sign() {
        let rules = parse(" availability >= 99.5% , rps > 100 ").unwrap();
        assert_eq!(rules[0].threshold, 99.5);
        assert_eq!(rules[1].metric, "rps");
    }

    #[test]
    fn rejects_typos_with_a_message_naming_the_problem() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        assert!(err("p99<250").contains("unknown metric \"p99\""));
        assert!(err("p99<250").contains("p99_ms"));
        assert!(err("p99_ms 250").contains("no comparison"));
        assert!(err("p99_ms==250").contains("unsupported comparison"));
        assert!(err("p99_ms<fast").contains("not a number"));
        assert!(err("p99_ms<250,").contains("rule 2 is empty"));
        assert!(err("").contains("rule 1 is empty"));
        assert!(err("p99_ms<NaN").contains("not a number"));
    }
}
