//! Server configuration: a typed struct with documented defaults, read from an optional TOML
//! file, then `TASKFORCE_*` environment variables, then command-line flags (each overriding
//! the one before).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Everything `taskforce serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://PATH?mode=rwc` or `postgres://…`. Default: `sqlite://taskforce.db?mode=rwc`.
    pub db: String,
    /// Address to listen on. Default: `127.0.0.1:8080`.
    pub bind: String,
    /// Largest sync body accepted, in bytes. Default: 8 MiB.
    pub sync_body_limit: usize,
    /// Largest JSON body accepted, in bytes. Default: 64 KiB.
    pub json_body_limit: usize,
    /// How long a login token lives, in hours. Default: 720 (30 days).
    pub token_ttl_hours: i64,
    /// HTTP worker threads. Default: the number of cores.
    pub workers: Option<usize>,
    /// A unit catalogue instead of the bundled one.
    pub catalogue: Option<PathBuf>,
    /// Decoded unit documents kept in memory between syncs (0 turns the cache off). Default:
    /// 1024, more than the directive's units.
    pub doc_cache_entries: usize,
    /// The most memory, in MiB, the decoded documents (and their recent changes) may take;
    /// the least recently used are dropped beyond it. Default: 512.
    pub doc_cache_mb: usize,
    /// A decoded document is kept whole (comments, reports and confirmations' details in
    /// memory) up to this estimate, in KiB; past it the server keeps only what it needs to
    /// write (decision 25). Default: 4096.
    pub doc_whole_kb: usize,
    /// Syncs that may wait for the sync writer (at least 1). A sync that finds this many
    /// already waiting is refused at once with 503 `overloaded` and `Retry-After`, which the
    /// phones retry, instead of queueing without bound. Default: 1024.
    pub writer_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            db: "sqlite://taskforce.db?mode=rwc".into(),
            bind: "127.0.0.1:8080".into(),
            sync_body_limit: 8 * 1024 * 1024,
            json_body_limit: 64 * 1024,
            token_ttl_hours: 720,
            workers: None,
            catalogue: None,
            doc_cache_entries: 1024,
            doc_cache_mb: 512,
            doc_whole_kb: 4096,
            writer_queue: 1024,
        }
    }
}

impl Config {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_queue_defaults_to_1024_and_is_read_from_the_file() {
        assert_eq!(Config::default().writer_queue, 1024);
        let c: Config =
            toml::from_str("writer_queue = 8").unwrap_or_else(|e| panic!("writer_queue: {e}"));
        assert_eq!(c.writer_queue, 8);
        assert_eq!(c.doc_cache_entries, 1024, "the others keep their defaults");
    }
}
