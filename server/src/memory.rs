//! Keeping the allocator's memory close to what the server uses.
//!
//! glibc's allocator keeps what a process frees in per-thread arenas and hands it back to the
//! system only from the top of each heap. A server whose threads allocate and free
//! documents, answers and SQLite pages all day then holds far more than it uses: in the
//! ten-minute load the live heap stayed near 150 MB while the resident size kept climbing
//! (decision 25). Two remedies, both glibc's own: fewer arenas, and trimming what is free.

use std::time::Duration;

/// Arenas for the server's allocations, unless `MALLOC_ARENA_MAX` says otherwise: the
/// workers, the writer and SQLite's threads then share their free memory instead of each
/// keeping its own.
pub const ARENAS: i32 = 2;

/// How often free memory is given back to the system.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Call once, before any thread starts: limit glibc to [`ARENAS`] arenas unless the
/// `MALLOC_ARENA_MAX` environment variable is set. A no-op where the allocator is not
/// glibc's.
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

/// Return the allocator's free memory to the operating system, so a moment's peak — a whole
/// document decoded to rewrite its snapshot — does not stay in the resident size for good.
/// A no-op where the allocator is not glibc's.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` has no preconditions: it only walks glibc's own arenas, under
    // their locks, and gives back pages nothing uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A thread that gives free memory back every [`TRIM_EVERY`], for the life of the process.
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
