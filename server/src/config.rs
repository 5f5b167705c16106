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
