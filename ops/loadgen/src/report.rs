//! What is printed at the end: one JSON object with peers-bench's keys, and ours.

use std::collections::BTreeMap;

use serde::Serialize;

/// The figures. The measured phase is the edit rounds and the catch-up round after them
/// (every phone syncing once more, so each holds everything): `ops_per_sec`, the bytes, the
/// syncs and the latencies cover both.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub peer: &'static str,
    pub devices: usize,
    pub units: usize,
    /// Of them, the test units of the load generator's own directive (`crate::units`).
    pub test_units: usize,
    pub edits_per_device: usize,
    /// Edits a phone makes between two syncs.
    pub edits_per_sync: usize,
    /// The phones asked for gzip-compressed answers (`--no-gzip` turns it off).
    pub gzip: bool,
    /// `batch` or `single` (`--sync-route`).
    pub sync_route: &'static str,
    pub rounds: usize,
    pub concurrency: usize,
    pub storage: &'static str,
    pub mix: &'static str,
    pub database: String,
    pub ops_total: u64,
    /// ops_total / the measured phase's time (catch-up included).
    pub ops_per_sec: f64,
    /// ops_total / the edit rounds' syncing time alone (the catch-up left out).
    pub ops_per_sec_edit_rounds: f64,
    /// The measured phase's syncing time (catch-up included).
    pub sync_wall_s: f64,
    pub catch_up_wall_s: f64,
    /// Syncs that got through, catch-up included.
    pub syncs: u64,
    pub syncs_per_sec: f64,
    /// Sync message bodies (the wire format), device to server.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Bodies (up + down) / ops.
    pub bytes_per_op: f64,
    pub bytes_up_per_op: f64,
    /// Every byte on the phones' TCP connections (HTTP headers and bodies), up.
    pub wire_bytes_up: u64,
    pub wire_bytes_down: u64,
    /// (wire up + wire down) / ops.
    pub wire_bytes_per_op: f64,
    pub wire_bytes_up_per_op: f64,
    pub wire_bytes_down_per_op: f64,
    /// (wire up + wire down) / syncs: the cost of one sync.
    pub wire_bytes_per_sync: f64,
    /// HTTP requests per sync (one round trip; more only on retries).
    pub requests_per_sync: f64,
    /// A sync from its first attempt to its success, retries included.
    pub sync_p50_ms: f64,
    pub sync_p99_ms: f64,
    pub sync_max_ms: f64,
    pub catch_up_p99_ms: f64,
    /// Sync attempts that failed (each retried by the phone after its back-off).
    pub errors: u64,
    /// Syncs still failing when the phone's retries ran out (`--retry-for-secs`).
    pub syncs_abandoned: u64,
    /// Sync answers 503 `overloaded` (the server's writer queue full), each retried by the
    /// phone; an overload shows here and in `requests_per_sync`, not as memory.
    pub overloaded_replies: u64,
    pub server_rss_mb: Option<f64>,
    pub server_rss_by_round_mb: Vec<f64>,
    /// The server's `/metrics` after the measured phase.
    pub server_metrics: BTreeMap<String, f64>,
    /// Each round's ops/s and p99: how cost grows with the documents' history.
    pub ops_per_sec_by_round: Vec<f64>,
    pub sync_p99_ms_by_round: Vec<f64>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_us_per_op: Option<f64>,
    pub server_cpu_us_per_sync: Option<f64>,
    pub client_cpu_s: f64,
    /// Every phone of a unit holds what a fresh phone downloads from the stored copy (the
    /// server of its own restarted with its cache off), and the server every operation made.
    pub converged: bool,
    /// Concurrent values kept as conflicts (shown to the user to resolve), over the units.
    pub conflicts_kept: u64,
    /// The server of its own, restarted on the run's database for the check: seconds to
    /// listening.
    pub restart_to_listen_s: Option<f64>,
    /// The restarted server's document cache during the check (off: no hits).
    pub check_doc_cache_hits: Option<f64>,
    pub check_doc_cache_misses: Option<f64>,
    /// The yardstick: the run's own rows (change rows, document updates, task and report
    /// rows) written again through the server's code in as many transactions as its writer
    /// used; see `yardstick.rs`.
    pub yardstick_rows: Option<u64>,
    pub yardstick_s: Option<f64>,
    pub yardstick_rows_per_sec: Option<f64>,
    /// ops_total / the yardstick's time: the most ops/s the database allows at this batching.
    pub yardstick_ops_per_sec: Option<f64>,
    /// ops_per_sec / yardstick_ops_per_sec.
    pub yardstick_share: Option<f64>,
    /// The same as `yardstick_share` (the key earlier versions printed).
    pub fraction_of_yardstick: Option<f64>,
    pub readers: usize,
    pub reads: u64,
    /// Reads not answered 200.
    pub read_errors: u64,
    pub read_p50_ms: Option<f64>,
    pub read_p99_ms: Option<f64>,
    pub read_p99_ms_by_kind: BTreeMap<&'static str, f64>,
    /// `--history-ops`: the operations written into the first unit's document before the
    /// measured phase, and how long that took (its phones, 50 a sync).
    pub history_ops: Option<u64>,
    pub history_build_s: Option<f64>,
    /// The probe: one-edit syncs of the long unit's phone and of a fresh unit's, in turn.
    pub history_sync_p50_ms: Option<f64>,
    pub history_sync_p99_ms: Option<f64>,
    pub fresh_sync_p50_ms: Option<f64>,
    pub fresh_sync_p99_ms: Option<f64>,
    /// history_sync_p99_ms / fresh_sync_p99_ms.
    pub history_p99_ratio: Option<f64>,
    /// Failed sync attempts in the history and the probe (retried; outside `errors`).
    pub history_errors: Option<u64>,
    /// After the restart with the cache off: a fresh phone's first sync (the whole
    /// document) of the long unit, and of the fresh unit.
    pub history_download_after_restart_ms: Option<f64>,
    pub fresh_download_after_restart_ms: Option<f64>,
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
