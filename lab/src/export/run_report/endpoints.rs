//! Per endpoint, at each series' highest load: the client's latency where lab's driver
//! measured it, beside nginx's (`endpoints.csv` has every step).

use std::fmt::Write as _;

use crate::export::table::Table;
use crate::results::{ClientEndpoint, Run};

/// Per profile and scenario, each endpoint at the step with the most load; nothing for runs
/// recorded before endpoints were.
pub fn endpoint_tables(md: &mut String, run: &Run) {
    let series: Vec<_> = run
        .series()
        .into_iter()
        .filter_map(|(key, steps)| Some((key, *steps.last()?)))
        .filter(|(_, step)| !step.nginx.endpoints.is_empty())
        .collect();
    if series.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Per endpoint\n\nAt each series' highest load; `endpoints.csv` has every step.\n"
    );
    for ((profile, scenario), step) in series {
        let _ = writeln!(md, "### {profile} / {scenario} / {}\n", step.level_label());
        let client: Vec<&ClientEndpoint> = step
            .client
            .as_ref()
            .map(|c| c.endpoints.iter().collect())
            .unwrap_or_default();
        let mut table = Table::new(&[
            "endpoint",
            "requests",
            "req/s",
            "client p50 ms",
            "client p99 ms",
            "nginx p50 ms",
            "nginx p90 ms",
            "nginx p99 ms",
            "nginx max ms",
            "4xx",
            "429",
            "5xx",
        ]);
        for e in &step.nginx.endpoints {
            let c = client.iter().find(|c| c.endpoint == e.endpoint);
            let dash = || "-".to_owned();
            table.row([
                format!("`{}`", e.endpoint),
                e.requests.to_string(),
                format!("{:.1}", e.requests_per_s),
                c.map_or_else(dash, |c| format!("{:.1}", c.latency.p50_ms)),
                c.map_or_else(dash, |c| format!("{:.1}", c.latency.p99_ms)),
                e.p50_ms.to_string(),
                e.p90_ms.to_string(),
                e.p99_ms.to_string(),
                e.max_ms.to_string(),
                e.status_4xx.to_string(),
                e.status_429.to_string(),
                e.status_5xx.to_string(),
            ]);
        }
        md.push_str(&table.render());
        md.push('\n');
    }
}
