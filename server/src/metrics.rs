//! Counters exported at `/metrics` in the Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::docstore::CacheUse;

#[derive(Debug, Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub http_errors: AtomicU64,
    pub sync_requests: AtomicU64,
    pub sync_rejected: AtomicU64,
    pub ops_applied: AtomicU64,
    pub changes_stored: AtomicU64,
    pub write_batches: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub snapshots_sent: AtomicU64,
    pub snapshots_stored: AtomicU64,
    pub doc_cache_hits: AtomicU64,
    pub doc_cache_misses: AtomicU64,
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// The counters, then the document cache's gauges and evictions.
    pub fn render(&self, cache: CacheUse) -> String {
        let rows: [(&str, &str, &AtomicU64); 15] = [
            (
                "taskforce_http_requests_total",
                "HTTP requests served",
                &self.http_requests,
            ),
            (
                "taskforce_http_errors_total",
                "HTTP responses with status 4xx or 5xx",
                &self.http_errors,
            ),
            (
                "taskforce_sync_requests_total",
                "Sync requests received",
                &self.sync_requests,
            ),
            (
                "taskforce_sync_rejected_total",
                "Sync requests refused",
                &self.sync_rejected,
            ),
            (
                "taskforce_ops_applied_total",
                "Operations applied to documents",
                &self.ops_applied,
            ),
            (
                "taskforce_changes_stored_total",
                "Signed changes stored in the op log",
                &self.changes_stored,
            ),
            (
                "taskforce_sync_write_transactions_total",
                "Transactions that wrote syncs (several syncs share one on SQLite)",
                &self.write_batches,
            ),
            (
                "taskforce_sync_bytes_in_total",
                "Sync request bytes received",
                &self.bytes_in,
            ),
            (
                "taskforce_sync_bytes_out_total",
                "Sync response bytes sent",
                &self.bytes_out,
            ),
            (
                "taskforce_snapshots_sent_total",
                "Sync responses sent as snapshots",
                &self.snapshots_sent,
            ),
            (
                "taskforce_snapshots_stored_total",
                "Document snapshots rewritten (the op-log tail past them grew long)",
                &self.snapshots_stored,
            ),
            (
                "taskforce_doc_cache_hits_total",
                "Syncs that found their document decoded in memory",
                &self.doc_cache_hits,
            ),
            (
                "taskforce_doc_cache_misses_total",
                "Syncs that decoded their document from the database",
                &self.doc_cache_misses,
            ),
            ("taskforce_logins_total", "Successful logins", &self.logins),
            (
                "taskforce_login_failures_total",
                "Refused logins",
                &self.login_failures,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Relaxed)
            ));
        }
        let gauges = [
            (
                "taskforce_doc_cache_entries",
                "Decoded documents kept in memory between syncs (a batch being written holds \
                 its documents outside the cache)",
                cache.entries as u64,
            ),
            (
                "taskforce_doc_cache_bytes",
                "Estimated memory of the documents kept between syncs (bounded by doc_cache_mb)",
                cache.bytes as u64,
            ),
        ];
        gauges_out(&mut out, gauges);
        if let Some(heap) = crate::memory::heap_stats() {
            gauges_out(
                &mut out,
                [
                    (
                        "taskforce_heap_allocated_bytes",
                        "Bytes the server's Rust code holds through jemalloc",
                        heap.allocated,
                    ),
                    (
                        "taskforce_heap_resident_bytes",
                        "Bytes of jemalloc's pages resident in memory (allocated, slack and \
                         metadata; SQLite's own memory not included)",
                        heap.resident,
                    ),
                ],
            );
        }
        out.push_str(&format!(
            "# HELP taskforce_doc_cache_evictions_total Documents dropped from memory to stay \
             within the cache's limits\n# TYPE taskforce_doc_cache_evictions_total counter\n\
             taskforce_doc_cache_evictions_total {}\n",
            cache.evicted
        ));
        out
    }
}

fn gauges_out<const N: usize>(out: &mut String, gauges: [(&str, &str, u64); N]) {
    for (name, help, value) in gauges {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
}
