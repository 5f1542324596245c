//! The two ceilings a run's steps are compared with: the load driver's own (what it drives on
//! this machine against a trivial nginx) and nginx's capped ceiling (the stack's nginx under
//! the profile's caps before an upstream that costs nothing).

use std::fmt::Write as _;

use super::cells::driver_name;
use crate::export::table::Table;
use crate::results::{verdict, Run};

/// The most the driver can drive at each concurrency, against which steps are driver-bound.
pub fn driver_ceiling_section(md: &mut String, run: &Run) {
    let driver = driver_name(run);
    let _ = writeln!(md, "## The load driver's own ceiling\n");
    let _ = writeln!(
        md,
        "{driver} against a trivial, uncapped nginx route started by lab on another port: the most it can drive on this machine at each concurrency (open-model steps are compared with its ceiling at 50 connections). A step at or above {:.0}% of it is **driver-bound**.\n",
        verdict::CEILING_PERCENT
    );
    let mut table = Table::new(&["users", "requests/s", "driver CPU (cores)"]);
    for point in &run.driver_ceiling {
        table.row([
            point.users.to_string(),
            format!("{:.0}", point.transactions_per_s),
            format!("{:.2}", point.driver_cpu_cores),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
}

/// nginx's capped ceiling, and each step beside the ceiling of its profile and concurrency.
pub fn nginx_ceiling_section(md: &mut String, run: &Run) {
    let _ = writeln!(md, "## nginx's capped ceiling\n");
    let _ = writeln!(
        md,
        "The stack's own nginx.conf, under the profile's nginx caps (natively in a cgroup of its own; under compose as the `nginx-ceiling` container, the stack's image on the stack's network), proxying `by-id` requests to an upstream that costs nothing (a trivial nginx), at each concurrency, in this run: the most the stack could serve were the replicas and the database free. nginx CPU per request is its cgroup's CPU over the requests it proxied.\n"
    );
    let mut points = Table::new(&[
        "profile",
        "users",
        "nginx CPU cap",
        "req/s",
        "nginx CPU (cores)",
        "nginx µs per request",
    ]);
    for point in &run.nginx_ceiling {
        points.row([
            point.profile.clone(),
            point.users.to_string(),
            point
                .nginx_cpu_limit_cores
                .map_or_else(|| "uncapped".to_owned(), |c| format!("{c}")),
            format!("{:.0}", point.requests_per_s),
            point
                .nginx_cpu_cores
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.2}")),
            point
                .nginx_cpu_us_per_request
                .map_or_else(|| "-".to_owned(), |us| format!("{us:.0}")),
        ]);
    }
    md.push_str(&points.render());
    let mut steps = Table::new(&[
        "profile",
        "scenario",
        "load",
        "req/s",
        "% of nginx's ceiling",
        "nginx µs per request in the step",
    ]);
    for step in &run.steps {
        let users = step.rate_per_s.map_or(step.users, |_| 50);
        let Some(point) = run
            .nginx_ceiling
            .iter()
            .find(|p| p.profile == step.profile && p.users == users)
        else {
            continue;
        };
        let rate = step.nginx.requests_per_s;
        let nginx_us = step
            .services
            .iter()
            .find(|s| s.name == "nginx")
            .filter(|_| rate > 0.0)
            .map_or_else(
                || "-".to_owned(),
                |s| format!("{:.0}", s.cpu_cores * 1e6 / rate),
            );
        steps.row([
            step.profile.clone(),
            step.scenario.clone(),
            step.level_label(),
            format!("{rate:.0}"),
            format!("{:.0}%", 100.0 * rate / point.requests_per_s.max(1e-9)),
            nginx_us,
        ]);
    }
    md.push('\n');
    md.push_str(&steps.render());
    md.push('\n');
}
