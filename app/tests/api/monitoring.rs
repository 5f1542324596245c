//! The compose `monitoring` profile's Grafana dashboard asks only for metrics that exist: every
//! metric name in every panel query is one a running replica exports on `/metrics` (read live
//! here, after traffic on every kind of route), or one of the few that nginx's exporter and
//! Prometheus itself export. A renamed metric fails this test instead of leaving an empty panel.
//! And the metrics a replica exports are exactly those `contract::metrics` names, which the
//! lab reads by those names.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// The dashboards, relative to this crate (`app/`).
const DASHBOARDS: &str = "../monitoring/grafana/dashboards";

/// Metrics from elsewhere: nginx-prometheus-exporter (stub_status) and Prometheus itself.
const EXTERNAL: &[&str] = &[
    "nginx_connections_accepted",
    "nginx_connections_active",
    "nginx_connections_handled",
    "nginx_connections_reading",
    "nginx_connections_waiting",
    "nginx_connections_writing",
    "nginx_http_requests_total",
    "nginx_up",
    "up",
];

/// PromQL words that are not metric names (aggregations too: `sum by (...) (...)` puts the
/// grouping between the word and its parenthesis).
const KEYWORDS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
];

/// The metric names a PromQL expression reads: identifiers outside label matchers (`{...}`),
/// ranges (`[...]`), strings and grouping clauses (`by (...)`), and not called as functions.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_group = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' || c == '[' || c == '"' {
            let close = match c {
                '{' => '}',
                '[' => ']',
                _ => '"',
            };
            i += 1;
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '(' && skip_group {
            // by (...) / without (...): label names.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            skip_group = false;
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':' | '$'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = next < chars.len() && chars[next] == '(';
            let lower = word.to_ascii_lowercase();
            if matches!(lower.as_str(), "by" | "without" | "on" | "ignoring") {
                skip_group = true;
            } else if !called
                && !word.starts_with('$')
                && !KEYWORDS.contains(&lower.as_str())
                && !word.chars().next().is_some_and(|c| c.is_ascii_digit())
            {
                names.insert(word);
            }
            continue;
        }
        i += 1;
    }
    names
}

/// Every `expr` in a dashboard, with its panel's title.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or_default().to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push((title.clone(), expr.to_owned()));
            }
        }
    }
    out
}

/// Metric names on a live `/metrics` page, histogram series included.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

#[test]
fn promql_names_are_found_outside_matchers_ranges_functions_and_groupings() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route=\"/disks\"}[$__rate_interval]))) / on (instance) group_left up",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["http_request_duration_seconds_bucket", "up"]
    );
}

#[tokio::test]
async fn every_dashboard_query_names_a_metric_the_running_app_exports() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // Traffic on a route of each kind, so the per-route series exist.
    let disk = app.disk("Kind of Blue", 1000, 3).await;
    let customer = app.customer("Ana", "ana@example.com").await;
    let order = app
        .post_order(&serde_json::json!({"customer_id": customer, "disk_id": disk, "quantity": 1}))
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.text);
    assert_eq!(app.get_disk(disk).await.status, StatusCode::OK);
    let metrics = app.metrics().await;
    assert_eq!(metrics.status, StatusCode::OK);
    let mut known = exported(&metrics.text);
    assert!(
        known.contains(contract::metrics::HTTP_REQUESTS_TOTAL),
        "{}",
        metrics.text
    );
    known.extend(EXTERNAL.iter().map(|s| (*s).to_owned()));

    let mut checked = 0;
    let mut dashboards = 0;
    for entry in std::fs::read_dir(DASHBOARDS).expect("the dashboards folder") {
        let path = entry.expect("a dashboard entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        dashboards += 1;
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("a dashboard file"))
                .expect("dashboard JSON");
        for (title, expr) in queries(&dashboard) {
            let names = metric_names(&expr);
            assert!(
                !names.is_empty(),
                "{}: {title:?} reads no metric: {expr}",
                path.display()
            );
            for name in names {
                assert!(
                    known.contains(&name),
                    "{}: panel {title:?} asks for {name}, which nothing exports ({expr})",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(dashboards >= 1, "no dashboard in {DASHBOARDS}");
    assert!(checked >= 15, "only {checked} metric references checked");
}

#[tokio::test]
async fn the_app_exports_exactly_the_metrics_the_contract_names_in_its_order() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let metrics = app.metrics().await;
    assert_eq!(metrics.status, StatusCode::OK);
    let typed: Vec<&str> = metrics
        .text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(typed, contract::metrics::ALL, "{}", metrics.text);
}
