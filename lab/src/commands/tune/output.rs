//! What `lab tune` writes: `tune.json` (the data: every candidate with its caps, figures and
//! verdict), `tune.csv` (one row per measurement), `report.md` and `report.html`, and the
//! search's plot, all from the data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::search::{cpus_text, Budget, Candidate, Role};
use crate::export::{self, write_atomic};
use crate::plot::{self, TunePoint};
use contract::{DbKind, RuntimeKind};

/// How the tune was asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuneSettings {
    pub budget: Budget,
    pub base_profile: String,
    pub scenario: String,
    pub users: u32,
    pub slo: Option<String>,
    pub db: DbKind,
    pub runtime: RuntimeKind,
    pub step_secs: u64,
    pub warmup_secs: u64,
    pub noise_percent: f64,
    pub max_candidates: usize,
    pub time_budget_secs: Option<u64>,
    /// The winner profile's name.
    pub profile_name: String,
}

/// One candidate with its figures as judged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CandidateRecord {
    #[serde(flatten)]
    pub candidate: Candidate,
    /// Mean over its measurements.
    pub mean_requests_per_s: f64,
    pub mean_p99_ms: f64,
    /// Every measurement met the SLO (true without one).
    pub slo_passed: bool,
    /// No other candidate has both more throughput and a lower p99.
    pub frontier: bool,
    /// Its bench folders, relative to the tune's folder.
    pub runs: Vec<String>,
}

/// `tune.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuneFile {
    pub settings: TuneSettings,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why the search ended (None while it runs).
    pub stop_reason: Option<String>,
    /// Memory floor per service of each role at the end, MiB.
    pub floors_mib: BTreeMap<String, u64>,
    pub candidates: Vec<CandidateRecord>,
    /// The highest throughput among the candidates that count (SLO met first).
    pub best: Option<usize>,
    /// The best, if it met the SLO.
    pub winner: Option<usize>,
    /// The winner's profile file in this folder.
    pub winner_profile: Option<String>,
}

impl TuneSettings {
    /// `postgres, native runtime`.
    pub fn stack_text(&self) -> String {
        format!("{}, {} runtime", self.db, self.runtime)
    }
}

impl TuneFile {
    fn candidate(&self, id: usize) -> Option<&CandidateRecord> {
        self.candidates.iter().find(|c| c.candidate.id == id)
    }
}

/// tune.json, tune.csv and report.md (with the winner's profile when there is one).
pub fn write_all(file: &TuneFile, dir: &Path, winner_env: Option<&Path>) -> anyhow::Result<()> {
    write_atomic(&dir.join("tune.json"), &serde_json::to_string_pretty(file)?)?;
    write_atomic(&dir.join("tune.csv"), &csv(file))?;
    let profile = winner_env.and_then(|p| std::fs::read_to_string(p).ok());
    write_atomic(&dir.join("report.md"), &markdown(file, profile.as_deref()))?;
    Ok(())
}

/// The plot, then report.html with it inline.
pub fn draw(file: &TuneFile, dir: &Path) {
    let points: Vec<TunePoint> = file
        .candidates
        .iter()
        .filter(|c| !c.candidate.observations.is_empty())
        .map(|c| TunePoint {
            id: c.candidate.id,
            requests_per_s: c.mean_requests_per_s,
            p99_ms: c.mean_p99_ms,
            counted: c.candidate.discarded.is_none(),
            winner: file.winner == Some(c.candidate.id),
        })
        .collect();
    let p99_limit = file.settings.slo.as_deref().and_then(p99_limit);
    if let Err(err) = plot::draw_tune(&points, p99_limit, dir) {
        eprintln!("lab tune: warning: plot not drawn: {err:#}");
    }
    let title = format!("lab tune: {}", file.settings.budget);
    if let Err(err) = export::html::write_from_markdown(dir, "report", &title) {
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

fn csv(file: &TuneFile) -> String {
    let mut out = String::from(
        "candidate,measurement,replicas,nginx_cpus,app_cpus,db_cpus,nginx_memory_mib,app_memory_mib,db_memory_mib,requests_per_s,p99_ms,availability_percent,slo_passed,bottleneck,discarded,run\n",
    );
    for record in &file.candidates {
        let c = &record.candidate;
        let a = &c.allocation;
        for (i, o) in c.observations.iter().enumerate() {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{:.1},{:.1},{:.3},{},{},{},{}",
                c.id,
                i + 1,
                a.replicas,
                cpus_text(a.nginx_millicpus),
                cpus_text(a.app_millicpus),
                cpus_text(a.db_millicpus),
                a.nginx_memory_mib,
                a.app_memory_mib,
                a.db_memory_mib,
                o.requests_per_s,
                o.p99_ms,
                o.availability_percent,
                o.slo_passed,
                o.bottleneck.label(),
                c.discarded.as_deref().map_or(String::new(), csv_field),
                record.runs.get(i).map_or("", String::as_str),
            );
        }
    }
    out
}

fn csv_field(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn markdown(file: &TuneFile, profile: Option<&str>) -> String {
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
    md.push_str("![Throughput and p99 per candidate](search.png)\n\n");
    md.push_str("## Candidates\n\n");
    md.push_str("| # | CPU split | memory (MiB) | req/s | p99 ms | runs | bottleneck | SLO | frontier | why it was tried |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for record in &file.candidates {
        let c = &record.candidate;
        let a = &c.allocation;
        let memory = Role::ALL
            .iter()
            .filter(|r| a.memory_mib(**r) > 0)
            .map(|r| {
                if a.count(*r) > 1 {
                    format!("{} {}×{}", r.label(), a.count(*r), a.memory_mib(*r))
                } else {
                    format!("{} {}", r.label(), a.memory_mib(*r))
                }
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let bottleneck = c.last().map_or("-", |o| o.bottleneck.label());
        let marker = if file.winner == Some(c.id) {
            " **winner**"
        } else {
            ""
        };
        let why = match &c.discarded {
            Some(d) => format!("{} — **discarded**: {d}", c.reason),
            None => c.reason.clone(),
        };
        let _ = writeln!(
            md,
            "| {}{marker} | {} | {memory} | {:.0} | {:.0} | {} | {bottleneck} | {} | {} | {} |",
            c.id,
            a.describe_cpus(),
            record.mean_requests_per_s,
            record.mean_p99_ms,
            c.observations.len(),
            if c.observations.is_empty() {
                "-"
            } else if record.slo_passed {
                "met"
            } else {
                "not met"
            },
            if record.frontier { "yes" } else { "" },
            why.replace('|', "\\|"),
        );
    }
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
