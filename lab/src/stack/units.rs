//! Sizes for people: bytes in binary units for tables (profile values are parsed in
//! `contract::profile`, where both runtimes read them).

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
    fn byte_counts_print_in_binary_units() {
        assert_eq!(human_bytes(400 << 20), "400.0 MiB");
        assert_eq!(human_bytes(12), "12 B");
    }
}
