//! Scenario URL files for siege, generated deterministically from the seeded sizes alone
//! (ids are 1..=N, see the stack's `app seed`), and a validator that stops a run on a bad
//! line with `file:line` before siege silently requests garbage.
//!
//! siege picks lines at random with `-i`, so weights are line counts: `mixed` has 80% reads
//! and 20% orders. The `BASE` variable keeps files readable and usable by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context};

/// Default seed sizes (the stack seeds with these unless a profile overrides them).
pub const DEFAULT_SEED_CUSTOMERS: u64 = contract::seed::Sizes::DEFAULT.customers;
pub const DEFAULT_SEED_DISKS: u64 = contract::seed::Sizes::DEFAULT.disks;
/// nginx's default native address (LAB_HTTP_PORT 8080): the committed files point there.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

const READ_LINES: usize = 1000;
const WRITE_LINES: usize = 500;
const MIXED_LINES: usize = 1000;
/// Reads in `mixed`, percent (the seed's 80/20 mix of light and heavy operations).
const MIXED_READ_PERCENT: usize = 80;

/// A built-in scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// GET a disk by id, list pages and filtered searches.
    Read,
    /// POST /orders with JSON bodies.
    Write,
    /// 80% reads, 20% orders.
    Mixed,
    /// The mixed load while one replica grows a memory tree towards its cap.
    Stress,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Read,
        Scenario::Write,
        Scenario::Mixed,
        Scenario::Stress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Read => "read",
            Scenario::Write => "write",
            Scenario::Mixed => "mixed",
            Scenario::Stress => "stress",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn seed(self) -> u64 {
        match self {
            Scenario::Read => 0x5eed_0001,
            Scenario::Write => 0x5eed_0002,
            Scenario::Mixed | Scenario::Stress => 0x5eed_0003,
        }
    }
}

/// How many customers and disks the database holds (ids 1..=N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSizes {
    pub customers: u64,
    pub disks: u64,
}

impl Default for SeedSizes {
    fn default() -> Self {
        Self {
            customers: DEFAULT_SEED_CUSTOMERS,
            disks: DEFAULT_SEED_DISKS,
        }
    }
}

impl SeedSizes {
    /// The sizes a stack seeded with `seed` holds (see `LabConfig::seed`, which the runtime
    /// reads too).
    pub fn of(seed: crate::config::SeedPlan) -> Self {
        Self {
            customers: seed.customers,
            disks: seed.disks,
        }
    }
}

/// splitmix64: tiny, fast, and fixed forever, so generated files never change under us.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 1..=n (n >= 1).
    fn id(&mut self, n: u64) -> u64 {
        1 + self.next() % n
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TITLE_WORDS: &[&str] = &["a", "e", "the", "love", "night", "o", "blue", "in"];
const GENRES: &[&str] = &[
    "rock", "jazz", "pop", "blues", "samba", "mpb", "metal", "soul",
];

fn read_line(rng: &mut Rng, sizes: SeedSizes) -> String {
    match rng.below(100) {
        // Most reads are point lookups, as a shop's product pages are.
        0..=69 => format!("$(BASE)/disks/{}", rng.id(sizes.disks)),
        // Plain list pages, spread over the whole catalogue: two in three follow the API's
        // keyset cursor (`after`, what a client paging with `next_after` sends), one in three
        // jumps to a page number (`offset`). Same depths either way.
        70..=84 => {
            let limit = [10, 20, 50][rng.below(3) as usize];
            let depth = rng.below(sizes.disks.max(1)) / 10 * 10;
            if rng.below(3) == 0 {
                format!("$(BASE)/disks?limit={limit}&offset={depth}")
            } else {
                format!("$(BASE)/disks?limit={limit}&after={depth}")
            }
        }
        // Searches with filters: substring on title, genre, price band, stock; one in four
        // is a later page of its results (a cursor somewhere in the catalogue).
        _ => {
            let low = 500 + rng.below(30) * 100;
            let high = low + 500 + rng.below(30) * 100;
            let search = match rng.below(3) {
                0 => format!(
                    "$(BASE)/disks?title={}&limit=20",
                    TITLE_WORDS[rng.below(TITLE_WORDS.len() as u64) as usize]
                ),
                1 => format!(
                    "$(BASE)/disks?genre={}&in_stock=true&limit=20",
                    GENRES[rng.below(GENRES.len() as u64) as usize]
                ),
                _ => format!(
                    "$(BASE)/disks?min_price_cents={low}&max_price_cents={high}&in_stock=true&limit=20"
                ),
            };
            if rng.below(4) == 0 {
                format!("{search}&after={}", rng.below(sizes.disks.max(1)))
            } else {
                search
            }
        }
    }
}

fn order_line(rng: &mut Rng, sizes: SeedSizes) -> String {
    format!(
        "$(BASE)/orders POST {{\"customer_id\":{},\"disk_id\":{},\"quantity\":{}}}",
        rng.id(sizes.customers),
        rng.id(sizes.disks),
        1 + rng.below(3)
    )
}

/// The URL file of a scenario, byte for byte deterministic for (scenario, sizes, base URL).
pub fn generate(scenario: Scenario, sizes: SeedSizes, base_url: &str) -> anyhow::Result<String> {
    if sizes.disks == 0 {
        bail!("SEED_DISKS is 0: there is no disk to read or order");
    }
    let needs_customers = !matches!(scenario, Scenario::Read);
    if needs_customers && sizes.customers == 0 {
        bail!(
            "SEED_CUSTOMERS is 0: scenario {} places orders",
            scenario.name()
        );
    }
    let mut rng = Rng(scenario.seed());
    let lines: Vec<String> = match scenario {
        Scenario::Read => (0..READ_LINES)
            .map(|_| read_line(&mut rng, sizes))
            .collect(),
        Scenario::Write => (0..WRITE_LINES)
            .map(|_| order_line(&mut rng, sizes))
            .collect(),
        Scenario::Mixed | Scenario::Stress => {
            // Interleave deterministically: with 80% reads, every fifth line is an order.
            let every = 100 / (100 - MIXED_READ_PERCENT);
            (0..MIXED_LINES)
                .map(|i| {
                    if i % every == every - 1 {
                        order_line(&mut rng, sizes)
                    } else {
                        read_line(&mut rng, sizes)
                    }
                })
                .collect()
        }
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# siege scenario `{}`: generated by `lab` from SEED_CUSTOMERS={} SEED_DISKS={}.",
        scenario.name(),
        sizes.customers,
        sizes.disks
    );
    let _ = writeln!(text, "# {}", description(scenario));
    let _ = writeln!(
        text,
        "# Regenerate with `lab bench --write-urls`; by hand: siege -R siege/siegerc -f <this file> -i -c 50 -t 30S"
    );
    let _ = writeln!(text, "BASE={}", base_url.trim_end_matches('/'));
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

fn description(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Read => "Reads: 70% GET /disks/{id}, 15% list pages, 15% filtered searches.",
        Scenario::Write => "Writes: POST /orders with JSON bodies (quantity 1-3).",
        Scenario::Mixed => "80% reads / 20% orders (one line in five is an order).",
        Scenario::Stress => {
            "The mixed load; `lab bench` also makes replica app1 grow a memory tree towards its cap."
        }
    }
}

/// What a valid URL file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlFileSummary {
    /// Request lines.
    pub requests: usize,
    /// Request lines with a body-carrying method (POST/PUT/PATCH).
    pub with_body: usize,
}

/// One request line, as siege reads it: `URL [METHOD [BODY]]` with `$(NAME)` expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRequest {
    /// The whole URL, `http://host:port/path?query`.
    pub url: String,
    /// `GET` unless the line names another.
    pub method: String,
    /// What follows the method, if anything (a JSON body for POST/PUT/PATCH).
    pub body: Option<String>,
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"];

/// Checks every line the way siege will read it; errors name `file:line`.
pub fn validate(path: &Path) -> anyhow::Result<UrlFileSummary> {
    Ok(summarize(&read(path)?))
}

/// Every request of a URL file, checked line by line; errors name `file:line`.
pub fn read(path: &Path) -> anyhow::Result<Vec<UrlRequest>> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read URL file {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// As `validate`, on text already read; `name` is used in messages.
#[cfg(test)]
pub fn validate_text(text: &str, name: &str) -> anyhow::Result<UrlFileSummary> {
    Ok(summarize(&parse(text, name)?))
}

fn summarize(requests: &[UrlRequest]) -> UrlFileSummary {
    UrlFileSummary {
        requests: requests.len(),
        with_body: requests
            .iter()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH"))
            .count(),
    }
}

/// The requests of a URL file's text, by siege's rules: `#` comments, `NAME=value`
/// variables used as `$(NAME)`, then `URL [METHOD [BODY]]`, a JSON body checked as JSON.
pub fn parse(text: &str, name: &str) -> anyhow::Result<Vec<UrlRequest>> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut requests = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((key, value)) = variable(line) {
            vars.insert(key.to_owned(), value.to_owned());
            continue;
        }
        let request = request_line(line, &vars)
            .map_err(|e| anyhow::anyhow!("{name}:{}: {e} in {raw:?}", index + 1))?;
        requests.push(request);
    }
    if requests.is_empty() {
        bail!("{name}: no request line (expected `URL [METHOD [BODY]]` lines)");
    }
    Ok(requests)
}

/// One `URL [METHOD [BODY]]` line, its variables expanded.
fn request_line(line: &str, vars: &BTreeMap<String, String>) -> anyhow::Result<UrlRequest> {
    let expanded = expand(line, vars)?;
    let (url, rest) = match expanded.split_once(char::is_whitespace) {
        Some((url, rest)) => (url, rest.trim_start()),
        None => (expanded.as_str(), ""),
    };
    check_url(url)?;
    if rest.is_empty() {
        return Ok(UrlRequest {
            url: url.to_owned(),
            method: "GET".to_owned(),
            body: None,
        });
    }
    let (method, body) = match rest.split_once(char::is_whitespace) {
        Some((method, body)) => (method, body.trim()),
        None => (rest, ""),
    };
    if !METHODS.contains(&method) {
        bail!(
            "expected a method ({}) after the URL, got {method:?}",
            METHODS.join(", ")
        );
    }
    if body.starts_with('{') || body.starts_with('[') {
        serde_json::from_str::<serde_json::Value>(body)
            .map_err(|e| anyhow::anyhow!("the {method} body is not valid JSON ({e})"))?;
    }
    Ok(UrlRequest {
        url: url.to_owned(),
        method: method.to_owned(),
        body: (!body.is_empty()).then(|| body.to_owned()),
    })
}

/// The URL file `text` with every `BASE=` line set to `base`; None when it already names
/// `base` everywhere or has no `BASE=` line (nothing to change).
pub fn with_base(text: &str, base: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match variable(line.trim()) {
            Some(("BASE", value)) if value.trim_end_matches('/') != base => {
                changed = true;
                out.push_str("BASE=");
                out.push_str(base);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    changed.then_some(out)
}

/// `NAME=value` (siege's variable lines), not a URL that happens to hold `=`.
fn variable(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let is_name = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    is_name.then(|| (key, value.trim()))
}

fn expand(line: &str, vars: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            bail!("unclosed $( in {line:?}");
        };
        let name = &after[..end];
        let Some(value) = vars.get(name) else {
            bail!("unknown variable $({name}) (define it first with a line {name}=...)");
        };
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn check_url(url: &str) -> anyhow::Result<()> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        bail!("expected a URL starting with http:// or https://, got {url:?}");
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        bail!("URL {url:?} has no host");
    }
    if let Some((_, port)) = host.rsplit_once(':') {
        if port.parse::<u16>().is_err() {
            bail!("URL {url:?} has a bad port {port:?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_file_is_pointed_at_another_base_only_where_it_names_another() {
        let text = "# by hand\nBASE=http://127.0.0.1:8080\n$(BASE)/disks/1\n$(BASE)/orders POST {\"a\":1}\n";
        let moved = with_base(text, "http://127.0.0.1:18999").unwrap();
        assert_eq!(
            moved,
            "# by hand\nBASE=http://127.0.0.1:18999\n$(BASE)/disks/1\n$(BASE)/orders POST {\"a\":1}\n"
        );
        assert_eq!(validate_text(&moved, "f").unwrap().requests, 2);
        assert_eq!(with_base(text, "http://127.0.0.1:8080"), None);
        assert_eq!(
            with_base("http://h:1/disks/1\n", "http://127.0.0.1:8080"),
            None
        );
    }

    #[test]
    fn generated_files_are_deterministic_and_valid() {
        for scenario in Scenario::ALL {
            let a = generate(scenario, SeedSizes::default(), DEFAULT_BASE_URL).unwrap();
            let b = generate(scenario, SeedSizes::default(), DEFAULT_BASE_URL).unwrap();
            assert_eq!(a, b);
            let summary = validate_text(&a, scenario.name()).unwrap();
            assert!(summary.requests >= 500, "{scenario:?}");
        }
    }

    #[test]
    fn mixed_is_eighty_percent_reads() {
        let text = generate(Scenario::Mixed, SeedSizes::default(), DEFAULT_BASE_URL).unwrap();
        let summary = validate_text(&text, "mixed").unwrap();
        assert_eq!(summary.requests, 1000);
        assert_eq!(summary.with_body, 200);
        let write = generate(Scenario::Write, SeedSizes::default(), DEFAULT_BASE_URL).unwrap();
        let summary = validate_text(&write, "write").unwrap();
        assert_eq!(summary.with_body, summary.requests);
    }

    #[test]
    fn ids_stay_within_the_seeded_ranges() {
        let sizes = SeedSizes {
            customers: 3,
            disks: 7,
        };
        let text = generate(Scenario::Mixed, sizes, "http://127.0.0.1:9").unwrap();
        for line in text.lines().filter(|l| l.starts_with("$(BASE)/disks/")) {
            let id: u64 = line.trim_start_matches("$(BASE)/disks/").parse().unwrap();
            assert!((1..=7).contains(&id), "{line}");
        }
        for line in text.lines().filter(|l| l.contains("POST")) {
            let body: serde_json::Value =
                serde_json::from_str(line.split_once(" POST ").unwrap().1).unwrap();
            assert!((1..=3).contains(&body["customer_id"].as_u64().unwrap()));
            assert!((1..=7).contains(&body["disk_id"].as_u64().unwrap()));
        }
    }

    #[test]
    fn empty_seeds_are_refused() {
        let no_disks = SeedSizes {
            customers: 5,
            disks: 0,
        };
        assert!(generate(Scenario::Read, no_disks, DEFAULT_BASE_URL).is_err());
        let no_customers = SeedSizes {
            customers: 0,
            disks: 5,
        };
        assert!(generate(Scenario::Read, no_customers, DEFAULT_BASE_URL).is_ok());
        assert!(generate(Scenario::Write, no_customers, DEFAULT_BASE_URL).is_err());
    }

    #[test]
    fn bad_lines_are_named_by_file_and_line() {
        let err = |text: &str| validate_text(text, "f.txt").unwrap_err().to_string();
        assert!(err("BASE=http://h:1\n$(BASE)/a\n/disks/1\n").starts_with("f.txt:3:"));
        assert!(err("$(NOPE)/a\n").contains("f.txt:1: unknown variable $(NOPE)"));
        assert!(
            err("http://h:1/o POST {\"a\":\n").contains("f.txt:1: the POST body is not valid JSON")
        );
        assert!(err("http://h:1/o FETCH\n").contains("expected a method"));
        assert!(err("http://:1/o\n").contains("no host"));
        assert!(err("http://h:x/o\n").contains("bad port"));
        assert!(err("# only a comment\n").contains("no request line"));
        let ok = validate_text("http://h:1/a\nhttp://h:1/b POST {\"x\":1}\n", "f").unwrap();
        assert_eq!(ok.requests, 2);
        assert_eq!(ok.with_body, 1);
    }
}
