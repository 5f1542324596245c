//! The process's memory as the kernel sees it, and giving freed memory back to it.
//!
//! RSS is read from `/proc/self/statm` (one small read, cheap enough to call often). glibc
//! serves ~100 KB blocks from its heap arenas rather than with `mmap`, so freeing a tree of
//! them leaves the pages resident; `malloc_trim(0)` walks every arena and returns whole free
//! pages to the kernel (see `shared/notes/field-notes.md`). Other allocators (musl's, or
//! jemalloc/mimalloc with decay) return memory on their own, so there it is a no-op.

const MIB: f64 = 1024.0 * 1024.0;

/// Resident set size of this process in bytes (0 where `/proc` is unavailable).
pub fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let resident_pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    resident_pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 only for an unknown name.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// Returns free heap pages to the kernel so that RSS really drops after a tree is freed.
pub fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Memory the host could still give (MemAvailable), for the no-cgroup case where the limit
/// is the host's RAM and other processes share it.
pub fn host_available_bytes() -> u64 {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    sys.available_memory()
}

pub fn to_mib(bytes: u64) -> f64 {
    (bytes as f64 / MIB * 10.0).round() / 10.0
}

pub fn from_mib(mib: f64) -> u64 {
    (mib * MIB) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_100_kb_blocks_are_returned_to_the_kernel() {
        // Allocate ~200 MB in 100 KB blocks on another thread (its own glibc arena, as in the
        // stress worker), free them on this one, and check that RSS comes back.
        let baseline = rss_bytes();
        let blocks = std::thread::spawn(|| {
            (0..2000)
                .map(|i| vec![(i as u8) | 1; 100 * 1024])
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        let grown = rss_bytes();
        assert!(
            grown > baseline + 180 * 1024 * 1024,
            "{baseline} -> {grown}"
        );
        drop(blocks);
        return_free_memory();
        let after = rss_bytes();
        assert!(
            after < baseline + 20 * 1024 * 1024,
            "{baseline} -> {grown} -> {after}"
        );
    }

    #[test]
    fn mib_conversions_round_to_a_tenth() {
        assert_eq!(to_mib(150 * 1024 * 1024), 150.0);
        assert_eq!(from_mib(1.5), 1024 * 1024 * 3 / 2);
    }
}
