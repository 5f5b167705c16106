//! Keeping the allocators' memory close to what the server uses.
//!
//! The `taskforce` binary allocates with jemalloc (decision 26): it keeps fragmentation low
//! under the server's mix of threads, and with its background thread it gives pages freed a
//! few seconds ago back to the system even while the server is idle. Its figures are exported
//! at `/metrics` ([`heap_stats`]).
//!
//! SQLite's C code still allocates through glibc, which keeps what is freed in per-thread
//! arenas and hands it back only from the top of each heap: 2 arenas and a periodic trim
//! keep that part small (decision 25).

use std::time::Duration;

/// glibc arenas for the server's C allocations, unless `MALLOC_ARENA_MAX` says otherwise.
pub const ARENAS: i32 = 2;

/// How often glibc's free memory is given back to the system.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Call once, before any thread starts: limit glibc to [`ARENAS`] arenas unless the
/// `MALLOC_ARENA_MAX` environment variable is set. A no-op where the allocator is not glibc's.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: `mallopt` only sets a tunable of glibc's allocator; M_ARENA_MAX takes any
        // positive count, and setting it before threads start is what glibc documents.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

/// Let jemalloc return decayed pages from its own background thread instead of only when the
/// server next allocates. Harmless when jemalloc is not the global allocator (tests).
pub fn purge_in_background() {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc's background thread could not be started");
    }
}

/// Return glibc's free memory to the operating system. A no-op where the allocator is not
/// glibc's.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` has no preconditions: it only walks glibc's own arenas, under
    // their locks, and gives back pages nothing uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A thread that gives glibc's free memory back every [`TRIM_EVERY`], for the life of the
/// process.
pub fn trim_periodically() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("memory-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(TRIM_EVERY);
                let t = std::time::Instant::now();
                release_free_memory();
                tracing::debug!(took_us = t.elapsed().as_micros() as u64, "memory trimmed");
            }
        })
        .map(|_| ())
}

/// What jemalloc holds: bytes the server's Rust code has allocated and not freed, and bytes
/// of jemalloc's pages resident in memory (the difference is its slack and metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    pub allocated: u64,
    pub resident: u64,
}

/// jemalloc's current figures, or `None` if they cannot be read.
pub fn heap_stats() -> Option<HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_stats_are_read() {
        let s = heap_stats();
        // jemalloc's own metadata is resident even when nothing else allocates through it.
        assert!(s.is_some_and(|s| s.resident > 0), "{s:?}");
    }
}
