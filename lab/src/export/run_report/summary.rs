//! What a report opens with, the answer before the evidence: per profile, what stopped the
//! stack, the highest load that met the SLO, how close the steps came to the load driver's and
//! nginx's ceilings, and one sentence on what to change; then every service's caps judged
//! against what it used (`results::rightsizing`).

use std::fmt::Write as _;

use crate::export::table::Table;
use crate::results::rightsizing::{self, Advice, Rightsizing};
use crate::results::verdict::Bottleneck;
use crate::results::{Run, Step};

/// The bottleneck a profile's steps name most often, the highest load first on ties. A named
/// limit beats `none`: steps where nothing saturated (light open-model rates, say) do not
/// outvote the steps that found what stops the stack.
fn main_bottleneck(steps: &[&Step]) -> Option<Bottleneck> {
    let saturated: Vec<&Step> = steps
        .iter()
        .copied()
        .filter(|s| s.verdict.bottleneck != Bottleneck::None)
        .collect();
    let steps = if saturated.is_empty() {
        steps
    } else {
        &saturated[..]
    };
    let mut counts: Vec<(Bottleneck, usize, f64)> = Vec::new();
    for step in steps {
        let b = step.verdict.bottleneck;
        match counts.iter_mut().find(|(x, _, _)| *x == b) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 = entry.2.max(step.level());
            }
            None => counts.push((b, 1, step.level())),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)));
    counts.first().map(|c| c.0)
}

/// The highest loads that met the SLO, per scenario, in words.
fn sustainable(run: &Run, profile: &str) -> String {
    if run.settings.slo.is_empty() {
        return "no SLO given".to_owned();
    }
    let parts: Vec<String> = run
        .sustainable
        .iter()
        .filter(|s| s.profile == profile)
        .map(|s| {
            let users = s
                .max_users
                .map_or_else(|| "no users level".to_owned(), |u| format!("{u} users"));
            match (s.max_rate_per_s, s.first_failing_rate_per_s) {
                (Some(r), _) => format!("{}: {users}, {r:.0}/s", s.scenario),
                (None, Some(_)) => format!("{}: {users}, no rate", s.scenario),
                (None, None) => format!("{}: {users}", s.scenario),
            }
        })
        .collect();
    if parts.is_empty() {
        "none met it".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The largest share of a ceiling any step reached, `-` without one.
fn highest(values: impl Iterator<Item = f64>) -> String {
    let max = values.fold(f64::NAN, f64::max);
    if max.is_nan() {
        "-".to_owned()
    } else {
        format!("{max:.0}%")
    }
}

/// One sentence on what to change, from the bottleneck and the rightsizing of its service.
fn what_to_change(bottleneck: Option<Bottleneck>, sizes: &[&Rightsizing]) -> String {
    let role_of = |b: Bottleneck| -> Option<&'static str> {
        match b {
            Bottleneck::Nginx => Some("nginx"),
            Bottleneck::Database => Some("db"),
            Bottleneck::App => Some("app"),
            _ => None,
        }
    };
    let Some(b) = bottleneck else {
        return "no step was measured.".to_owned();
    };
    if let Some(service) = role_of(b) {
        let cap = sizes
            .iter()
            .filter(|r| r.service.starts_with(service))
            .find_map(|r| match r.cpu {
                Advice::Larger { to } => Some((r.service.clone(), r.cpu_cap_cores, to)),
                _ => None,
            });
        return match cap {
            Some((name, Some(from), to)) => format!(
                "{name} is the limit: raise its CPU cap from {from} to {to} and measure again; the other services' rows say where that CPU can come from."
            ),
            _ => format!(
                "{} is the limit: give it more CPU (its profile key) and measure again.",
                b.label()
            ),
        };
    }
    match b {
        Bottleneck::RateLimiter => "nginx's rate limiter answered 429s: raise RATE_LIMIT_RPS/BURST if the load is legitimate, or keep it and read the 429 share as the result.".to_owned(),
        Bottleneck::LoadGenerator => "the load driver was the limit: these steps measured it, not the stack; use fewer users, a lower rate, or a bigger machine.".to_owned(),
        Bottleneck::Host => "the machine itself was full: the caps add up to more than it has; compare profiles whose caps fit the machine.".to_owned(),
        _ => "nothing saturated: the stack had room at every load measured; try higher loads.".to_owned(),
    }
}

/// `## Summary`: the answer first.
pub fn summary_section(md: &mut String, run: &Run) {
    if run.steps.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Summary\n");
    let sizes = rightsizing::of(run);
    let mut table = Table::new(&[
        "profile",
        "bottleneck",
        "highest load meeting the SLO",
        "% of the driver's ceiling (highest)",
        "% of nginx's ceiling (highest)",
        "what to change",
    ]);
    for profile in &run.profiles {
        let steps: Vec<&Step> = run
            .steps
            .iter()
            .filter(|s| s.profile == profile.name)
            .collect();
        let bottleneck = main_bottleneck(&steps);
        let nginx_percent = steps.iter().filter_map(|s| {
            let ceiling = run
                .nginx_ceiling
                .iter()
                .find(|c| c.profile == s.profile && Some(c.users) == s.level_users())?;
            (ceiling.requests_per_s > 0.0)
                .then(|| 100.0 * s.nginx.requests_per_s / ceiling.requests_per_s)
        });
        let mine: Vec<&Rightsizing> = sizes.iter().filter(|r| r.profile == profile.name).collect();
        table.row([
            profile.name.clone(),
            bottleneck.map_or_else(|| "-".to_owned(), |b| b.label().to_owned()),
            sustainable(run, &profile.name),
            highest(steps.iter().filter_map(|s| s.ceiling_percent)),
            highest(nginx_percent),
            what_to_change(bottleneck, &mine),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
}

fn cap_text(advice: &Advice, unit: impl Fn(f64) -> String) -> String {
    match advice {
        Advice::Keep => "keep".to_owned(),
        Advice::Smaller { to } => format!("**smaller**: {}", unit(*to)),
        Advice::Larger { to } => format!("**larger**: {}", unit(*to)),
    }
}

/// `## Rightsizing`: each service's caps against what it used, with a suggestion.
pub fn rightsizing_section(md: &mut String, run: &Run) {
    let sizes = rightsizing::of(run);
    if sizes.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Rightsizing: is each cap too small, about right, or too large?\n"
    );
    let _ = writeln!(
        md,
        "Over every step of the profile: the highest CPU a service used against its cap, the highest share of CFS periods it was throttled in, its memory peak against its cap, restarts and OOM kills. CPU: larger (+50%) when throttled in 20% or more of periods at 80% or more of the cap; smaller (to 1.5 times its use) under 30% of the cap and 5% throttling. Memory: larger after an OOM kill (double) or above 80% of the cap (1.5 times the peak); smaller under 25% (twice the peak, 32 MiB at least). A suggestion is where to measure next, not a result: `lab ab` the new profile against this one.\n"
    );
    let mut table = Table::new(&[
        "profile",
        "service",
        "CPU used / cap",
        "throttled % (highest)",
        "CPU cap",
        "memory peak / cap MiB",
        "OOM kills / restarts",
        "memory cap",
    ]);
    for r in &sizes {
        table.row([
            r.profile.clone(),
            r.service.clone(),
            format!(
                "{:.2} / {}",
                r.cpu_used_cores,
                r.cpu_cap_cores
                    .map_or_else(|| "-".to_owned(), |c| c.to_string())
            ),
            format!("{:.0}", r.throttled_percent),
            cap_text(&r.cpu, |v| format!("{v} cores")),
            format!(
                "{:.0} / {}",
                r.memory_peak_bytes as f64 / 1_048_576.0,
                r.memory_cap_bytes.map_or_else(
                    || "-".to_owned(),
                    |c| format!("{:.0}", c as f64 / 1_048_576.0)
                )
            ),
            format!("{} / {}", r.oom_kills, r.restarts),
            cap_text(&r.memory, |v| format!("{:.0} MiB", v / 1_048_576.0)),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::fixture;

    #[test]
    fn a_named_limit_outvotes_steps_where_nothing_saturated() {
        let mut run = fixture::run();
        let steps: Vec<Step> = run.steps.drain(..).take(1).collect();
        let mut saturated = steps[0].clone();
        saturated.verdict.bottleneck = Bottleneck::Nginx;
        let mut idle = steps[0].clone();
        idle.verdict.bottleneck = Bottleneck::None;
        idle.rate_per_s = Some(1500.0);
        // One saturated step against two light ones at higher loads: nginx is the answer.
        let all = [&saturated, &idle, &idle];
        assert_eq!(main_bottleneck(&all), Some(Bottleneck::Nginx));
        assert_eq!(main_bottleneck(&[&idle, &idle]), Some(Bottleneck::None));
        assert_eq!(main_bottleneck(&[]), None);
    }
}
