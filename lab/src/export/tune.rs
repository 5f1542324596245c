//! A tune's files: `tune.json` (the data), `tune.csv` (one row per measurement), `report.md`
//! (the winner, every candidate, the winner as a profile), and the search's plot and
//! `report.html` drawn from them; its summary on the terminal.

use std::fmt::Write as _;
use std::path::Path;

use super::files::{finish_csv, Exporter, Json, Report};
use super::table::Table;
use crate::plot::{self, TunePoint};
use crate::results::tune::{cpus_text, TuneFile};
use contract::profile::Role;

impl Report for TuneFile {
    fn exporters() -> Vec<Box<dyn Exporter<Self>>> {
        vec![
            Box::new(Json("tune.json")),
            Box::new(TuneCsv),
            Box::new(TuneMarkdown),
        ]
    }
}

/// `tune.csv`.
pub struct TuneCsv;

/// `report.md`.
pub struct TuneMarkdown;

impl Exporter<TuneFile> for TuneCsv {
    fn file_name(&self) -> &'static str {
        "tune.csv"
    }

    fn render(&self, file: &TuneFile) -> anyhow::Result<String> {
        csv(file)
    }
}

impl Exporter<TuneFile> for TuneMarkdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, file: &TuneFile) -> anyhow::Result<String> {
        Ok(markdown(file))
    }
}

/// The plot, then report.html with it inline.
pub fn draw(file: &TuneFile, dir: &Path) {
    let points: Vec<TunePoint> = file
        .candidates
        .iter()
        .filter(|c| !c.candidate.observations.is_empty())
        .map(|c| {
            let a = &c.candidate.allocation;
            let db = if a.db_millicpus > 0 {
                format!(", db {}m", a.db_millicpus)
            } else {
                String::new()
            };
            TunePoint {
                id: c.candidate.id,
                requests_per_s: c.mean_requests_per_s,
                p99_ms: c.mean_p99_ms,
                counted: c.candidate.discarded.is_none(),
                winner: file.winner == Some(c.candidate.id),
                frontier: c.frontier,
                split: format!(
                    "{} x app {}m, nginx {}m{db}",
                    a.replicas, a.app_millicpus, a.nginx_millicpus
                ),
            }
        })
        .collect();
    let p99_limit = file.settings.slo.as_deref().and_then(p99_limit);
    if let Err(err) = plot::draw_tune(&points, p99_limit, dir) {
        eprintln!("lab tune: warning: plot not drawn: {err:#}");
    }
    // report.md again, now that its plot exists to be linked.
    if let Err(err) = super::files::redraw(file, dir) {
        eprintln!("lab tune: warning: report.md not rewritten: {err:#}");
    }
    let title = format!("lab tune: {}", file.settings.budget);
    if let Err(err) = super::html::write_from_markdown(dir, "report", &title) {
        eprintln!("lab tune: warning: report.html not written: {err:#}");
    }
}

/// The p99 bound of an SLO, to draw on the plot.
fn p99_limit(slo: &str) -> Option<f64> {
    crate::results::slo::parse(slo)
        .ok()?
        .into_iter()
        .find(|r| r.metric == "p99_ms")
        .map(|r| r.threshold)
}

/// One row per measurement.
fn csv(file: &TuneFile) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "candidate",
        "measurement",
        "replicas",
        "nginx_cpus",
        "app_cpus",
        "db_cpus",
        "nginx_memory_mib",
        "app_memory_mib",
        "db_memory_mib",
        "requests_per_s",
        "p99_ms",
        "availability_percent",
        "slo_passed",
        "bottleneck",
        "discarded",
        "run",
    ])?;
    for record in &file.candidates {
        let c = &record.candidate;
        let a = &c.allocation;
        for (i, o) in c.observations.iter().enumerate() {
            writer.write_record([
                c.id.to_string(),
                (i + 1).to_string(),
                a.replicas.to_string(),
                cpus_text(a.nginx_millicpus),
                cpus_text(a.app_millicpus),
                cpus_text(a.db_millicpus),
                a.nginx_memory_mib.to_string(),
                a.app_memory_mib.to_string(),
                a.db_memory_mib.to_string(),
                format!("{:.1}", o.requests_per_s),
                format!("{:.1}", o.p99_ms),
                format!("{:.3}", o.availability_percent),
                o.slo_passed.to_string(),
                o.bottleneck.label().to_owned(),
                c.discarded.clone().unwrap_or_default(),
                record.runs.get(i).cloned().unwrap_or_default(),
            ])?;
        }
    }
    finish_csv(writer)
}

fn markdown(file: &TuneFile) -> String {
    let profile = file.winner_profile_text.as_deref();
    let s = &file.settings;
    let mut md = format!("# lab tune: {}\n\n", s.budget);
    let _ = writeln!(
        md,
        "Split of **{}** across nginx, the replicas and the database, searched for `{}` at {} users ({}), starting from profile `{}`{}. Each candidate: {} s measured after {} s of warm-up; candidates closer than {}% were measured again. Started {}{}.\n",
        s.budget,
        s.scenario,
        s.users,
        s.stack_text(),
        s.base_profile,
        s.slo.as_ref().map_or_else(String::new, |slo| format!(", SLO `{slo}`")),
        s.step_secs,
        s.warmup_secs,
        s.noise_percent,
        file.started_at.format("%Y-%m-%d %H:%M UTC"),
        file.finished_at.map_or_else(|| ", not finished".to_owned(), |t| format!(", finished {}", t.format("%H:%M UTC"))),
    );
    result_section(&mut md, file);
    md.push_str("![Throughput and p99 per candidate](search.png)\n\n");
    md.push_str("## Candidates\n\n");
    md.push_str(&candidates_table(file).render());
    md.push('\n');
    let _ = writeln!(
        md,
        "Memory floors at the end (measured peak × 1.25 + 32 MiB, raised 1.5× after an OOM kill): {}.\n",
        file.floors_mib
            .iter()
            .map(|(k, v)| format!("{k} {v} MiB"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let (Some(text), Some(name)) = (profile, &file.winner_profile) {
        let _ = writeln!(
            md,
            "## The winner as a profile\n\n`{name}` in this folder (`lab tune --write-profile` also puts it in `profiles/`):\n\n```sh\n{}```\n",
            text
        );
    }
    md.push_str(
        "## How to read this\n\n\
         Each row is one real bench step (its own folder under `candidates/`, with the usual report). \
         The search starts from the base profile's split, tries the other replica count, then moves \
         CPU toward the service the verdict named as the bottleneck, taken from the service that used \
         the least of its cap; a move that did not help halves the next one. A winner within the noise \
         of another candidate was measured again and the means decided. The frontier marks the \
         candidates no other beat on both throughput and p99: the trade-offs on offer. Figures from \
         one machine in one run: compare them with each other, not with another machine's.\n",
    );
    md
}

/// The winner and how it compares with the base split, or why there is none; why the search stopped.
fn result_section(md: &mut String, file: &TuneFile) {
    md.push_str("## Result\n\n");
    let first = file.candidates.first();
    match file.winner.and_then(|id| file.candidate(id)) {
        Some(w) => {
            let _ = write!(
                md,
                "**Winner: candidate {}**, {} CPU, {:.0} req/s, p99 {:.0} ms",
                w.candidate.id,
                w.candidate.allocation.describe_cpus(),
                w.mean_requests_per_s,
                w.mean_p99_ms
            );
            if let Some(f) =
                first.filter(|f| f.candidate.id != w.candidate.id && f.mean_requests_per_s > 0.0)
            {
                let _ = write!(
                    md,
                    ": {:.2}x the base split's {:.0} req/s (candidate {}), measured in this run",
                    w.mean_requests_per_s / f.mean_requests_per_s,
                    f.mean_requests_per_s,
                    f.candidate.id
                );
            } else if first.is_some_and(|f| f.candidate.id == w.candidate.id) {
                md.push_str(": the base profile's own split; no move measured better");
            }
            md.push_str(".\n\n");
        }
        None => {
            let _ = writeln!(
                md,
                "**No winner**: {}.\n",
                match file.best.and_then(|id| file.candidate(id)) {
                    Some(b) => format!(
                        "no candidate met the SLO; the highest throughput was candidate {} ({:.0} req/s, p99 {:.0} ms)",
                        b.candidate.id, b.mean_requests_per_s, b.mean_p99_ms
                    ),
                    None => "no candidate was measured".to_owned(),
                }
            );
        }
    }
    if let Some(reason) = &file.stop_reason {
        let _ = writeln!(md, "The search stopped: {reason}.\n");
    }
}

/// One row per candidate.
fn candidates_table(file: &TuneFile) -> Table {
    let mut table = Table::new(&[
        "#",
        "CPU split",
        "memory (MiB)",
        "req/s",
        "p99 ms",
        "runs",
        "bottleneck",
        "SLO",
        "frontier",
        "why it was tried",
    ]);
    for record in &file.candidates {
        let c = &record.candidate;
        let a = &c.allocation;
        let memory = Role::ALL
            .iter()
            .filter(|r| a.memory_mib(**r) > 0)
            .map(|r| {
                if a.count(*r) > 1 {
                    format!("{} {}×{}", r.name(), a.count(*r), a.memory_mib(*r))
                } else {
                    format!("{} {}", r.name(), a.memory_mib(*r))
                }
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let marker = if file.winner == Some(c.id) {
            " **winner**"
        } else {
            ""
        };
        let why = match &c.discarded {
            Some(d) => format!("{} — **discarded**: {d}", c.reason),
            None => c.reason.clone(),
        };
        let slo = if c.observations.is_empty() {
            "-"
        } else if record.slo_passed {
            "met"
        } else {
            "not met"
        };
        table.row([
            format!("{}{marker}", c.id),
            a.describe_cpus(),
            memory,
            format!("{:.0}", record.mean_requests_per_s),
            format!("{:.0}", record.mean_p99_ms),
            c.observations.len().to_string(),
            c.last().map_or("-", |o| o.bottleneck.label()).to_owned(),
            slo.to_owned(),
            if record.frontier { "yes" } else { "" }.to_owned(),
            why,
        ]);
    }
    table
}

/// The end of a tune on the terminal.
pub fn print_summary(file: &TuneFile) {
    println!(
        "{:>3}  {:<34} {:>9} {:>8}  {:<14} note",
        "#", "CPU split", "req/s", "p99 ms", "bottleneck"
    );
    for record in &file.candidates {
        let c = &record.candidate;
        let note = if file.winner == Some(c.id) {
            "winner".to_owned()
        } else if let Some(d) = &c.discarded {
            format!("discarded: {d}")
        } else {
            String::new()
        };
        println!(
            "{:>3}  {:<34} {:>9.0} {:>8.0}  {:<14} {note}",
            c.id,
            c.allocation.describe_cpus(),
            record.mean_requests_per_s,
            record.mean_p99_ms,
            c.last().map_or("-", |o| o.bottleneck.label()),
        );
    }
    if let Some(name) = &file.winner_profile {
        println!("winner profile: {name}");
    }
}
