//! What is printed at the end: one JSON object with peers-bench's keys.

use std::collections::BTreeMap;

use serde::Serialize;

/// The figures, with peers-bench's keys.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub peer: &'static str,
    pub devices: usize,
    pub units: usize,
    pub edits_per_device: usize,
    pub rounds: usize,
    pub concurrency: usize,
    pub storage: &'static str,
    pub mix: &'static str,
    pub database: String,
    pub ops_total: u64,
    pub ops_per_sec: f64,
    pub sync_wall_s: f64,
    pub syncs: u64,
    /// Sync message bodies (the wire format), device to server.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// (up + down) / ops.
    pub bytes_per_op: f64,
    pub bytes_up_per_op: f64,
    /// HTTP requests per sync (one round trip; more only on retries).
    pub requests_per_sync: f64,
    pub sync_p50_ms: f64,
    pub sync_p99_ms: f64,
    pub sync_max_ms: f64,
    /// Syncs that failed after the phone's retries.
    pub errors: u64,
    /// Sync answers 503 `overloaded` (the server's writer queue full), each retried by the
    /// phone; an overload shows here and in `requests_per_sync`, not as memory.
    pub overloaded_replies: u64,
    pub server_rss_mb: Option<f64>,
    pub server_rss_by_round_mb: Vec<f64>,
    /// The server's `/metrics` after the last round.
    pub server_metrics: BTreeMap<String, f64>,
    /// Each round's ops/s and p99: how cost grows with the documents' history.
    pub ops_per_sec_by_round: Vec<f64>,
    pub sync_p99_ms_by_round: Vec<f64>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_us_per_op: Option<f64>,
    pub client_cpu_s: f64,
    pub converged: bool,
    /// Concurrent values kept as conflicts (shown to the user to resolve), over the units.
    pub conflicts_kept: u64,
    /// The physical limit as a yardstick: the same database (same settings, same driver)
    /// taking `ops_total` op-sized rows as plain batched inserts, 50 rows per transaction.
    pub yardstick_rows_per_sec: Option<f64>,
    /// ops_per_sec / yardstick_rows_per_sec.
    pub fraction_of_yardstick: Option<f64>,
    pub setup_wall_s: f64,
    pub wall_s: f64,
}

impl Figures {
    /// One line with `--json`, else indented.
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string(self)?);
        } else {
            println!("{}", serde_json::to_string_pretty(self)?);
        }
        Ok(())
    }
}
