//! `lab ab`'s files: `ab.json` (the data), `ab.csv` (one row per run and figure), `ab.md`
//! (the verdicts first, then the noise floor, the pooled latencies, the machine and every run),
//! and once the session ends `ab.png`/`ab.svg` and `ab.html`.

use std::fmt::Write as _;
use std::path::Path;

use super::compare::{figure_text, versus_text};
use super::files::{finish_csv, write_all, Exporter, Json, Report};
use super::table::Table;
use crate::plot;
use crate::results::ab::{AbComparison, AbReport};

impl Report for AbReport {
    fn exporters() -> Vec<Box<dyn Exporter<Self>>> {
        vec![
            Box::new(Json("ab.json")),
            Box::new(AbCsv),
            Box::new(AbMarkdown),
        ]
    }
}

/// Writes and draws a session's files.
pub struct AbExports;

impl AbExports {
    /// The data and Markdown, rewritten after every run.
    pub fn write(&self, report: &AbReport, dir: &Path) -> anyhow::Result<()> {
        write_all(report, dir).map(|_| ())
    }

    /// The plot and the HTML page, once the session ends (a failure is a warning: the data
    /// is written).
    pub fn draw(&self, report: &AbReport, dir: &Path) {
        if let Err(err) = plot::ab::draw_ab(report, dir) {
            eprintln!("lab ab: warning: plot not drawn: {err:#}");
        }
        // ab.md again, now that its plot exists to be linked.
        if let Err(err) = self.write(report, dir) {
            eprintln!("lab ab: warning: ab.md not rewritten: {err:#}");
        }
        let title = format!("lab ab `{}`", report.label);
        if let Err(err) = super::html::write_from_markdown(dir, "ab", &title) {
            eprintln!("lab ab: warning: ab.html not written: {err:#}");
        }
    }
}

/// `ab.csv`.
pub struct AbCsv;

impl Exporter<AbReport> for AbCsv {
    fn file_name(&self) -> &'static str {
        "ab.csv"
    }

    fn render(&self, report: &AbReport) -> anyhow::Result<String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["run", "side", "aa", "round", "folder", "figure", "value"])?;
        for (i, run) in report.runs.iter().enumerate() {
            for (figure, value) in &run.figures {
                writer.write_record([
                    i.to_string(),
                    run.side.clone(),
                    run.aa.to_string(),
                    run.round.to_string(),
                    run.folder.clone(),
                    figure.clone(),
                    value.to_string(),
                ])?;
            }
        }
        finish_csv(writer)
    }
}

/// `ab.md`.
pub struct AbMarkdown;

fn comparisons_table(comparisons: &[AbComparison], a: &str, b: &str) -> String {
    let mut table = Table::new(&[
        "figure",
        &format!("{a} median (range)"),
        &format!("{b} median (range)"),
        &format!("{b}/{a}"),
    ]);
    for c in comparisons {
        let spread = |s: &crate::results::comparison::Spread| {
            format!(
                "{} ({}-{})",
                figure_text(s.median),
                figure_text(s.min),
                figure_text(s.max)
            )
        };
        table.row([
            c.figure.clone(),
            spread(&c.a),
            spread(&c.b),
            c.versus
                .as_ref()
                .map_or_else(|| "-".to_owned(), versus_text),
        ]);
    }
    table.render()
}

impl Exporter<AbReport> for AbMarkdown {
    fn file_name(&self) -> &'static str {
        "ab.md"
    }

    fn render(&self, r: &AbReport) -> anyhow::Result<String> {
        let mut md = String::new();
        header(&mut md, r);
        let _ = writeln!(md, "## B against A\n");
        let _ = writeln!(
            md,
            "Ratio B/A (Hodges-Lehmann) with its 95% interval (from Mann-Whitney's exact distribution): **better** or **worse** only when the interval excludes 1, else within noise. Throughput is better higher; latency, CPU per request and memory are better lower.\n"
        );
        md.push_str(&comparisons_table(&r.ab, "A", "B"));
        md.push('\n');
        if r.settings.aa {
            let _ = writeln!(md, "## The noise floor: A against itself\n");
            let _ = writeln!(
                md,
                "The same side run against itself: every figure should be within noise, and its interval is how small a difference this machine, today, can tell.\n"
            );
            md.push_str(&comparisons_table(&r.aa, "A", "A'"));
            md.push('\n');
        }
        pooled_section(&mut md, r);
        machine_section(&mut md, r);
        runs_section(&mut md, r);
        let _ = writeln!(md, "![B against A](ab.png)");
        Ok(md)
    }
}

/// The title, what each side is, the load, when.
fn header(md: &mut String, r: &AbReport) {
    let s = &r.settings;
    let _ = writeln!(md, "# lab ab `{}`\n", r.label);
    let _ = writeln!(
        md,
        "**A**: {} (`{}`). **B**: {} (`{}`). Each run one step of `{}` at {} on profile `{}`, {} runtime, {}, driver {} (where a side does not change them), {} s after {} s of warm-up; {} rounds, the sides alternated (A B, B A, ...){}.\n",
        s.a.description,
        s.a.spec,
        s.b.description,
        s.b.spec,
        s.scenario,
        s.load,
        s.profile,
        s.runtime,
        s.db,
        s.driver,
        s.step_secs,
        s.warmup_secs,
        s.rounds,
        if s.aa { ", after as many rounds of A against itself (the noise floor)" } else { "" }
    );
    let _ = match r.finished_at {
        Some(end) => writeln!(
            md,
            "Started {}, finished {}.\n",
            r.started_at.to_rfc3339(),
            end.to_rfc3339()
        ),
        None => writeln!(
            md,
            "Started {}; **not finished**: {} runs so far.\n",
            r.started_at.to_rfc3339(),
            r.runs.len()
        ),
    };
}

/// Each side's percentiles from its runs' histograms merged.
fn pooled_section(md: &mut String, r: &AbReport) {
    if r.pooled.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Latency of each side, every run's histogram merged\n"
    );
    let mut table = Table::new(&[
        "side", "requests", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
    ]);
    for p in &r.pooled {
        let l = &p.latency;
        table.row([
            p.side.clone(),
            l.count.to_string(),
            figure_text(l.p50_ms),
            figure_text(l.p90_ms),
            figure_text(l.p99_ms),
            figure_text(l.p999_ms),
            figure_text(l.max_ms),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
}

/// The machine's fingerprint, and whether its reference moved during the session.
fn machine_section(md: &mut String, r: &AbReport) {
    let _ = writeln!(md, "## The machine\n");
    let m = &r.machine;
    let _ = writeln!(
        md,
        "{} ({}), {} cores, {} MiB, kernel {}, cgroup {}.\n",
        if m.cpu_model.is_empty() {
            "CPU not named"
        } else {
            &m.cpu_model
        },
        m.platform,
        m.cores,
        m.memory_total_bytes >> 20,
        m.kernel,
        m.cgroup_version
    );
    if r.drift.is_empty() {
        let _ = writeln!(md, "Every run's reference (the CPU loop, each service's CPU per reference request) is within 30% of the first run of its side: the machine did not move under the comparison.\n");
        return;
    }
    let _ = writeln!(md, "**Warning: the machine moved during the session** (each run's reference against the first run of its side):\n");
    for d in &r.drift {
        let _ = writeln!(md, "- {d}");
    }
    md.push('\n');
}

/// Every run, in order, with its folder.
fn runs_section(md: &mut String, r: &AbReport) {
    let _ = writeln!(md, "## Runs\n");
    let mut table = Table::new(&["#", "side", "round", "req/s", "p99 ms", "folder"]);
    for (i, run) in r.runs.iter().enumerate() {
        let get = |k: &str| {
            run.figures
                .get(k)
                .map_or_else(|| "-".to_owned(), |v| figure_text(*v))
        };
        table.row([
            (i + 1).to_string(),
            format!("{}{}", run.side, if run.aa { " (A/A)" } else { "" }),
            (run.round + 1).to_string(),
            get("requests_per_s"),
            get("p99_ms"),
            format!("[{0}]({0}/report.md)", run.folder),
        ]);
    }
    md.push_str(&table.render());
    md.push('\n');
}
