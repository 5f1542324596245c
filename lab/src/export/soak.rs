//! A soak's files: `soak.json`, `soak.csv` (one row per window, per-replica columns) and
//! `report.md` (the verdict, every trend, every window), and its lines on the terminal.

use std::fmt::Write as _;

use super::files::{finish_csv, Exporter, Json, Report};
use super::table::Table;
use crate::results::soak::{self, SoakRun, Window};

impl Report for SoakRun {
    fn exporters() -> Vec<Box<dyn Exporter<Self>>> {
        vec![
            Box::new(Json("soak.json")),
            Box::new(SoakCsv),
            Box::new(SoakMarkdown),
        ]
    }
}

/// `soak.csv`.
pub struct SoakCsv;

/// `report.md`.
pub struct SoakMarkdown;

impl Exporter<SoakRun> for SoakCsv {
    fn file_name(&self) -> &'static str {
        "soak.csv"
    }

    fn render(&self, run: &SoakRun) -> anyhow::Result<String> {
        csv(run)
    }
}

impl Exporter<SoakRun> for SoakMarkdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, run: &SoakRun) -> anyhow::Result<String> {
        Ok(markdown(run))
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / 1048576.0))
}

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

pub fn summary(run: &SoakRun) -> String {
    let mut out = String::new();
    let Some(verdict) = &run.verdict else {
        return out;
    };
    let _ = writeln!(
        out,
        "soak {} / {} / {} users, {} windows of {} s: {}",
        run.settings.profile,
        run.settings.scenario,
        run.settings.users,
        run.windows.len(),
        run.settings.window_secs,
        if verdict.passed { "PASS" } else { "FAIL" }
    );
    for t in &verdict.trends {
        let _ = writeln!(
            out,
            "  {} {:<28} mean {:.1}, grew {:.1} over {:.0} s (allowed {:.1})",
            if t.passed { "pass" } else { "FAIL" },
            t.series,
            t.mean,
            t.growth,
            t.span_secs,
            t.allowed
        );
    }
    for p in &verdict.problems {
        let _ = writeln!(out, "  FAIL {p}");
    }
    out
}

pub fn window_line(w: &Window) -> String {
    let replicas: Vec<String> = w
        .replicas
        .iter()
        .map(|r| {
            format!(
                "{} {} MiB {} fds {} conns",
                r.name,
                mib(r.rss_bytes),
                opt(r.fds),
                opt(r.pool_connections)
            )
        })
        .collect();
    format!(
        "{:>4.0}-{:<4.0} s: {:.0} req/s, p99 {:.0} ms, availability {:.2}%, 5xx {}; {}; nginx {} fds",
        w.start_secs,
        w.end_secs,
        w.requests_per_s,
        w.p99_ms,
        w.availability_percent,
        w.status_5xx,
        replicas.join(", "),
        opt(w.nginx_fds)
    )
}

/// One row per window; the replicas' columns named after the first window's replicas.
fn csv(run: &SoakRun) -> anyhow::Result<String> {
    let names: Vec<String> = run
        .windows
        .first()
        .map(|w| w.replicas.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    let mut header: Vec<String> = [
        "index",
        "start_secs",
        "end_secs",
        "requests",
        "requests_per_s",
        "p50_ms",
        "p99_ms",
        "availability_percent",
        "status_5xx",
        "nginx_fds",
    ]
    .map(String::from)
    .to_vec();
    for name in &names {
        for column in [
            "rss_bytes",
            "fds",
            "pool_connections",
            "pool_idle_connections",
            "p99_ms",
        ] {
            header.push(format!("{name}_{column}"));
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header)?;
    let cell = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    for w in &run.windows {
        let mut row = vec![
            w.index.to_string(),
            format!("{:.1}", w.start_secs),
            format!("{:.1}", w.end_secs),
            w.requests.to_string(),
            format!("{:.1}", w.requests_per_s),
            w.p50_ms.to_string(),
            w.p99_ms.to_string(),
            format!("{:.3}", w.availability_percent),
            w.status_5xx.to_string(),
            cell(w.nginx_fds),
        ];
        for name in &names {
            let r = w
                .replicas
                .iter()
                .find(|r| &r.name == name)
                .cloned()
                .unwrap_or_default();
            row.extend([
                cell(r.rss_bytes),
                cell(r.fds),
                cell(r.pool_connections),
                cell(r.pool_idle_connections),
                r.p99_ms.map_or(String::new(), |v| v.to_string()),
            ]);
        }
        writer.write_record(&row)?;
    }
    finish_csv(writer)
}

fn markdown(run: &SoakRun) -> String {
    let s = &run.settings;
    let mut out = format!(
        "# Soak: {} / {} / {} users, {} s in windows of {} s\n\n\
         {} runtime, {} database; started {}.\n\n",
        s.profile,
        s.scenario,
        s.users,
        s.duration_secs,
        s.window_secs,
        s.runtime,
        s.db,
        run.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(verdict) = &run.verdict {
        let _ = writeln!(
            out,
            "**Verdict: {}.** The first third of the windows is warm-up; over the rest, a series fails when its least-squares slope times the span it covers (its growth) exceeds both its share of the mean and its floor (memory {:.0}% and {:.0} MiB, descriptors {:.0}% and {:.0}, pool connections {:.0}% and {:.0}, p99 {:.0}% and {:.0} ms). Any 5xx, or availability under {}% in a window, fails the soak.\n",
            if verdict.passed { "PASS" } else { "FAIL" },
            100.0 * soak::RSS.share_of_mean,
            soak::RSS.floor / 1048576.0,
            100.0 * soak::FDS.share_of_mean,
            soak::FDS.floor,
            100.0 * soak::POOL.share_of_mean,
            soak::POOL.floor,
            100.0 * soak::P99.share_of_mean,
            soak::P99.floor,
            soak::MIN_AVAILABILITY_PERCENT
        );
        let mut trends = Table::new(&[
            "series", "windows", "mean", "first", "last", "growth", "allowed", "",
        ]);
        for t in &verdict.trends {
            trends.row([
                t.series.clone(),
                t.windows.to_string(),
                format!("{:.1}", t.mean),
                format!("{:.1}", t.first),
                format!("{:.1}", t.last),
                format!("{:.1}", t.growth),
                format!("{:.1}", t.allowed),
                if t.passed { "pass" } else { "**FAIL**" }.to_owned(),
            ]);
        }
        out.push_str(&trends.render());
        for p in &verdict.problems {
            let _ = writeln!(out, "\n- **{p}**");
        }
        out.push('\n');
    }
    out.push_str("![soak](soak.png)\n\n## Windows\n\n");
    out.push_str(&windows_table(&run.windows).render());
    out
}

fn windows_table(windows: &[Window]) -> Table {
    let mut table = Table::new(&[
        "window",
        "s",
        "req/s",
        "p50 ms",
        "p99 ms",
        "availability %",
        "5xx",
        "replicas (RSS MiB / fds / pool)",
        "nginx fds",
    ]);
    for w in windows {
        let replicas: Vec<String> = w
            .replicas
            .iter()
            .map(|r| {
                format!(
                    "{} {} / {} / {}",
                    r.name,
                    mib(r.rss_bytes),
                    opt(r.fds),
                    opt(r.pool_connections)
                )
            })
            .collect();
        table.row([
            w.index.to_string(),
            format!("{:.0}-{:.0}", w.start_secs, w.end_secs),
            format!("{:.0}", w.requests_per_s),
            w.p50_ms.to_string(),
            w.p99_ms.to_string(),
            format!("{:.3}", w.availability_percent),
            w.status_5xx.to_string(),
            replicas.join("; "),
            opt(w.nginx_fds),
        ]);
    }
    table
}
