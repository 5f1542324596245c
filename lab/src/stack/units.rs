//! Profile values as docker understands them: CPUs as a decimal (`0.3`), memory as bytes with
//! an optional binary suffix (`400M`, `1G`, `0.4GB`, `512mb`, `1048576`), 1024-based like
//! `docker run --memory`, so both runtimes read a profile identically.

use anyhow::{anyhow, bail};

/// Parses a memory size; `400M` is 400 MiB.
pub fn parse_memory(raw: &str) -> anyhow::Result<u64> {
    let text = raw.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let number: f64 = number.parse().map_err(|_| {
        anyhow!("memory size {raw:?}: expected a number with an optional k/m/g suffix")
    })?;
    let scale: u64 = match suffix.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => bail!("memory size {raw:?}: unknown suffix {other:?} (use k, m or g)"),
    };
    let bytes = number * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        bail!("memory size {raw:?} must be positive");
    }
    Ok(bytes as u64)
}

/// Parses a CPU count such as `0.3` (a fraction of one CPU's time).
pub fn parse_cpus(raw: &str) -> anyhow::Result<f64> {
    let cpus: f64 = raw
        .trim()
        .parse()
        .map_err(|_| anyhow!("CPU count {raw:?}: expected a decimal such as 0.3"))?;
    if !(cpus.is_finite() && cpus > 0.0) {
        bail!("CPU count {raw:?} must be positive");
    }
    Ok(cpus)
}

/// `419430400` -> `400.0 MiB`, for tables.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_like_docker() {
        assert_eq!(parse_memory("400M").unwrap(), 400 << 20);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("0.5gb").unwrap(), 512 << 20);
        assert_eq!(parse_memory("200MB").unwrap(), 200 << 20);
        assert_eq!(parse_memory("1048576").unwrap(), 1 << 20);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("10X").is_err());
        assert!(parse_memory("0").is_err());
    }

    #[test]
    fn cpu_counts_must_be_positive_decimals() {
        assert_eq!(parse_cpus("0.3").unwrap(), 0.3);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("one").is_err());
    }

    #[test]
    fn byte_counts_print_in_binary_units() {
        assert_eq!(human_bytes(400 << 20), "400.0 MiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
