//! The reference every run measures before its first step, so that runs made on different days
//! or machines can be told apart: a faster machine from a better stack. Three readings:
//!
//! - the CPU's speed now: nanoseconds per iteration of a fixed integer loop, the median of five
//!   timings (a neighbour on a shared host, a throttled laptop or another CPU all show here);
//! - how busy the machine was in the second before any load;
//! - each service's CPU per request under its cap for a fixed small load (reads by id at two
//!   users for three seconds, by the run's driver): the database's and nginx's cost per request
//!   moving between two runs of the same stack means the machine moved, not the code. The case
//!   that asked for it: the same change measured 2.3x to 3.8x over four days while Postgres's
//!   CPU per request moved 40%.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use super::load::{Driver, Load, Offered};
use super::step::StepRunner;
use crate::load::urls::{self, Scenario, SeedSizes};
use crate::results::{Reference, ServiceCost};
use crate::sample::HostCpu;
use crate::stack::StackInfo;

/// Iterations of one timing of the loop (about 20 ms on a 2020s core).
const LOOP_ITERATIONS: u64 = 20_000_000;
/// Users and seconds of the fixed load.
pub const LOAD_USERS: u32 = 2;
pub const LOAD_SECS: u64 = 3;

/// Nanoseconds per iteration of a fixed xorshift-and-multiply loop: the median of five.
pub fn cpu_loop_ns() -> f64 {
    let mut timings: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in 0..LOOP_ITERATIONS {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(i);
            }
            black_box(x);
            start.elapsed().as_secs_f64() * 1e9 / LOOP_ITERATIONS as f64
        })
        .collect();
    timings.sort_by(f64::total_cmp);
    timings[2]
}

/// The machine's busy share over the next second, percent; None where /proc/stat is unreadable.
pub fn host_busy_percent() -> Option<f64> {
    let before = HostCpu::read()?;
    std::thread::sleep(Duration::from_secs(1));
    let after = HostCpu::read()?;
    Some(before.usage_until(&after).cpu_busy_percent)
}

/// The reads-by-id lines of the `read` scenario for these seed sizes and this stack.
fn by_id_urls(sizes: SeedSizes, base_url: &str) -> anyhow::Result<String> {
    let read = urls::generate(Scenario::Read, sizes, base_url)?;
    let lines: Vec<&str> = read
        .lines()
        .filter(|line| {
            line.starts_with("BASE=")
                || line
                    .strip_prefix("$(BASE)/disks/")
                    .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    Ok(format!(
        "# lab's reference load: reads by id, the `read` scenario's indexed lookups\n{}\n",
        lines.join("\n")
    ))
}

/// The whole reference on a running stack, the fixed load written to `dir`.
pub fn measure(
    stack: &StackInfo,
    profile: &str,
    sizes: SeedSizes,
    driver: &dyn Driver,
    dir: &Path,
) -> anyhow::Result<Reference> {
    let cpu_loop_ns = cpu_loop_ns();
    let host_busy_percent_before = host_busy_percent();
    let urls_file = dir.join("reference-urls.txt");
    std::fs::write(&urls_file, by_id_urls(sizes, &stack.base_url)?)?;
    let load = Load {
        urls: urls_file,
        offered: Offered::Users(LOAD_USERS),
        secs: LOAD_SECS,
    };
    let measured = StepRunner::start(stack, driver, &load)?.finish(|| None)?;
    let requests = measured.nginx.requests;
    let services = measured
        .services
        .iter()
        .map(|s| ServiceCost {
            name: s.name.clone(),
            cpu_us_per_request: (requests > 0 && s.source != "none")
                .then(|| 1e6 * s.cpu_seconds / requests as f64),
        })
        .collect();
    Ok(Reference {
        cpu_loop_ns,
        host_busy_percent_before,
        profile: profile.to_owned(),
        load_requests: requests,
        load_secs: measured.load_secs,
        services,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_load_is_only_reads_by_id() {
        let sizes = SeedSizes {
            customers: 10,
            disks: 100,
        };
        let text = by_id_urls(sizes, "http://127.0.0.1:8080").unwrap();
        let summary = urls::validate_text(&text, "reference").unwrap();
        assert!(summary.requests > 100, "{text}");
        for line in text.lines().filter(|l| l.starts_with("$(BASE)")) {
            assert!(
                line.starts_with("$(BASE)/disks/") && !line.contains('?'),
                "{line}"
            );
        }
    }
}
