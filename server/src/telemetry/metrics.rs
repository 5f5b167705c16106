//! Counters and gauges exported at `/metrics`, kept in a `prometheus-client` registry and written
//! in the OpenMetrics text format ([`CONTENT_TYPE`]), which Prometheus reads.
//!
//! Names are those the tests, the load generator and the operators' dashboards read: a counter
//! is registered without its `_total`, which the encoder appends (`http_requests` is exported as
//! `taskforce_http_requests_total`).

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering::Relaxed},
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::ConstGauge,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the document cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUse {
    pub entries: usize,
    pub bytes: usize,
    pub evicted: u64,
}

/// A counter of the registry. It reads as the atomic it is (`load`), and is added to with
/// [`Metrics::add`] or [`Count::inc_by`].
#[derive(Debug, Clone, Default)]
pub struct Count(Counter<u64, AtomicU64>);

impl Count {
    pub fn inc_by(&self, n: u64) {
        self.0.inc_by(n);
    }
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

impl std::ops::Deref for Count {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        self.0.inner()
    }
}

type U64Gauge = Gauge<u64, AtomicU64>;

/// How a sync request ended, for its latency (`taskforce_sync_seconds{outcome=…}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncOutcome {
    /// 200: stored (or nothing new), answered.
    Ok,
    /// 503 `overloaded`: the writer's queue was full (the phone retries).
    Overloaded,
    /// Any other 4xx: refused (bad signature, forged actor, too large, not allowed…).
    Refused,
    /// 5xx: the server failed (the storage full or read-only, an internal error).
    Failed,
}

impl SyncOutcome {
    pub fn of(status: u16) -> Self {
        match status {
            200..=299 => Self::Ok,
            503 => Self::Overloaded,
            400..=499 => Self::Refused,
            _ => Self::Failed,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Overloaded => "overloaded",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// `outcome="…"`.
type OutcomeLabel = [(&'static str, &'static str); 1];

fn latency() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

#[derive(Debug)]
pub struct Metrics {
    pub http_requests: Count,
    pub http_errors: Count,
    pub sync_requests: Count,
    pub sync_rejected: Count,
    pub ops_applied: Count,
    pub changes_stored: Count,
    pub write_batches: Count,
    /// Write transactions that stored changes (the others only answered reads).
    pub change_batches: Count,
    /// Document rows a write transaction updated (one per document per transaction).
    pub documents_written: Count,
    /// Task projection rows upserted with the op log.
    pub task_rows_written: Count,
    /// Report, hotline-confirmation and verification rows written with the op log.
    pub event_rows_written: Count,
    pub bytes_in: Count,
    pub bytes_out: Count,
    pub snapshots_sent: Count,
    pub snapshots_stored: Count,
    pub doc_cache_hits: Count,
    pub doc_cache_misses: Count,
    pub logins: Count,
    pub login_failures: Count,
    /// Syncs refused at once because the writer's queue was full (503 `overloaded`).
    pub sync_overloaded: Count,
    /// Mails written to the outbox (digests, reminders, urges; issue 22).
    pub mail_decided: Count,
    /// Mails the SMTP server accepted.
    pub mail_sent: Count,
    /// Deliveries that did not go through and are tried again (a server down, 4xx, or a 5xx
    /// refusal not yet the last).
    pub mail_deferred: Count,
    /// Mails given up after `permanent_attempts` refusals (flagged `failed`).
    pub mail_failed: Count,
    /// Rounds of the mail loop (decide what is due, deliver what waits).
    pub mail_rounds: Count,
    /// Rounds of the mail loop that panicked (logged; the next goes on).
    pub mail_round_failures: Count,
    /// Syncs waiting for the writer, read from [`Self::watch_sync_queue`]'s probe when
    /// rendered.
    sync_queued: U64Gauge,
    sync_queue_probe: Probe,
    /// Each sync request's time from arrival to answer, by outcome.
    sync_seconds: Family<OutcomeLabel, Histogram, fn() -> Histogram>,
    /// Syncs per write transaction.
    write_batch_syncs: Histogram,
    /// Each write transaction's time, from its begin to its commit.
    write_batch_seconds: Histogram,
    /// Live-update streams open.
    live_streams: U64Gauge,
    /// Mails waiting in the outbox, and those given up, as the last mail round counted.
    mail_outbox_waiting: U64Gauge,
    mail_outbox_failed: U64Gauge,
    /// The document cache's figures, set from [`CacheUse`] when rendered.
    doc_cache_entries: U64Gauge,
    doc_cache_bytes: U64Gauge,
    doc_cache_evictions: Counter<u64, AtomicU64>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Self {
            http_requests: Count::default(),
            http_errors: Count::default(),
            sync_requests: Count::default(),
            sync_rejected: Count::default(),
            ops_applied: Count::default(),
            changes_stored: Count::default(),
            write_batches: Count::default(),
            change_batches: Count::default(),
            documents_written: Count::default(),
            task_rows_written: Count::default(),
            event_rows_written: Count::default(),
            bytes_in: Count::default(),
            bytes_out: Count::default(),
            snapshots_sent: Count::default(),
            snapshots_stored: Count::default(),
            doc_cache_hits: Count::default(),
            doc_cache_misses: Count::default(),
            logins: Count::default(),
            login_failures: Count::default(),
            sync_overloaded: Count::default(),
            mail_decided: Count::default(),
            mail_sent: Count::default(),
            mail_deferred: Count::default(),
            mail_failed: Count::default(),
            mail_rounds: Count::default(),
            mail_round_failures: Count::default(),
            sync_queued: U64Gauge::default(),
            sync_queue_probe: Probe::default(),
            sync_seconds: Family::new_with_constructor(latency),
            write_batch_syncs: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            write_batch_seconds: latency(),
            live_streams: U64Gauge::default(),
            mail_outbox_waiting: U64Gauge::default(),
            mail_outbox_failed: U64Gauge::default(),
            doc_cache_entries: U64Gauge::default(),
            doc_cache_bytes: U64Gauge::default(),
            doc_cache_evictions: Counter::default(),
            registry: Registry::with_prefix("taskforce"),
        };
        m.registered()
    }
}

impl Metrics {
    pub fn add(counter: &Count, n: u64) {
        counter.inc_by(n);
    }

    /// How many syncs wait for the writer, asked each time the metrics are rendered: set once,
    /// by the writer (a second call is ignored).
    /// A sync request answered with `status` after `seconds`.
    pub fn sync_answered(&self, status: u16, seconds: f64) {
        self.sync_seconds
            .get_or_create(&[("outcome", SyncOutcome::of(status).label())])
            .observe(seconds);
    }

    /// A write transaction of `syncs` syncs committed after `seconds`.
    pub fn batch_written(&self, syncs: usize, seconds: f64) {
        self.write_batch_syncs.observe(syncs as f64);
        self.write_batch_seconds.observe(seconds);
    }

    pub fn set_live_streams(&self, open: usize) {
        self.live_streams.set(open as u64);
    }

    /// What the mail round counted in the outbox.
    pub fn set_outbox(&self, waiting: u64, failed: u64) {
        self.mail_outbox_waiting.set(waiting);
        self.mail_outbox_failed.set(failed);
    }

    pub fn watch_sync_queue(&self, probe: impl Fn() -> u64 + Send + Sync + 'static) {
        let _ = self.sync_queue_probe.0.set(Box::new(probe));
    }

    /// Registers every metric once (the registry holds clones sharing their values).
    fn registered(mut self) -> Self {
        let counters: [(&str, &str, &Count); 26] = [
            ("http_requests", "HTTP requests served", &self.http_requests),
            (
                "http_errors",
                "HTTP responses with status 4xx or 5xx",
                &self.http_errors,
            ),
            (
                "sync_requests",
                "Sync requests received",
                &self.sync_requests,
            ),
            (
                "sync_rejected",
                "Sync requests refused",
                &self.sync_rejected,
            ),
            (
                "ops_applied",
                "Operations applied to documents",
                &self.ops_applied,
            ),
            (
                "changes_stored",
                "Signed changes stored in the op log",
                &self.changes_stored,
            ),
            (
                "sync_write_transactions",
                "Transactions that wrote syncs (several syncs share one on SQLite)",
                &self.write_batches,
            ),
            (
                "sync_write_transactions_with_changes",
                "Sync write transactions that stored changes",
                &self.change_batches,
            ),
            (
                "documents_written",
                "Document rows updated by sync write transactions",
                &self.documents_written,
            ),
            (
                "task_rows_written",
                "Task projection rows written with the op log",
                &self.task_rows_written,
            ),
            (
                "event_rows_written",
                "Report, hotline-confirmation and verification rows written with the op log",
                &self.event_rows_written,
            ),
            (
                "sync_bytes_in",
                "Sync request bytes received",
                &self.bytes_in,
            ),
            (
                "sync_bytes_out",
                "Sync response bytes sent",
                &self.bytes_out,
            ),
            (
                "snapshots_sent",
                "Sync responses sent as snapshots",
                &self.snapshots_sent,
            ),
            (
                "snapshots_stored",
                "Document snapshots rewritten (the op-log tail past them grew long)",
                &self.snapshots_stored,
            ),
            (
                "doc_cache_hits",
                "Syncs that found their document decoded in memory",
                &self.doc_cache_hits,
            ),
            (
                "doc_cache_misses",
                "Syncs that decoded their document from the database",
                &self.doc_cache_misses,
            ),
            ("logins", "Successful logins", &self.logins),
            ("login_failures", "Refused logins", &self.login_failures),
            (
                "sync_overloaded",
                "Syncs refused with 503 because the writer's queue was full",
                &self.sync_overloaded,
            ),
            (
                "mail_decided",
                "Mails written to the outbox (digests, reminders, urges)",
                &self.mail_decided,
            ),
            (
                "mail_sent",
                "Mails the SMTP server accepted",
                &self.mail_sent,
            ),
            (
                "mail_deferred",
                "Mail deliveries tried again later (SMTP server down, 4xx, a refusal not yet the last)",
                &self.mail_deferred,
            ),
            (
                "mail_failed",
                "Mails given up after repeated 5xx refusals (flagged failed in the outbox)",
                &self.mail_failed,
            ),
            (
                "mail_rounds",
                "Rounds of the mail loop (deciding what is due, delivering what waits)",
                &self.mail_rounds,
            ),
            (
                "mail_round_failures",
                "Rounds of the mail loop that failed (a panic, logged; the next goes on)",
                &self.mail_round_failures,
            ),
        ];
        let counters: Vec<_> = counters
            .into_iter()
            .map(|(name, help, c)| (name, help, c.0.clone()))
            .collect();
        let r = &mut self.registry;
        for (name, help, counter) in counters {
            r.register(name, help, counter);
        }
        r.register(
            "doc_cache_entries",
            "Decoded documents kept in memory between syncs (a batch being written holds its \
             documents outside the cache)",
            self.doc_cache_entries.clone(),
        );
        r.register_with_unit(
            "doc_cache",
            "Estimated memory of the documents kept between syncs (bounded by doc_cache_mb)",
            Unit::Bytes,
            self.doc_cache_bytes.clone(),
        );
        r.register(
            "doc_cache_evictions",
            "Documents dropped from memory to stay within the cache's limits",
            self.doc_cache_evictions.clone(),
        );
        r.register(
            "sync_queued",
            "Syncs waiting for the writer (bounded by writer_queue)",
            self.sync_queued.clone(),
        );
        // Every outcome from the start, at zero: a rate over a series that appears only with
        // its first sample misses it.
        for outcome in [
            SyncOutcome::Ok,
            SyncOutcome::Overloaded,
            SyncOutcome::Refused,
            SyncOutcome::Failed,
        ] {
            let _ = self
                .sync_seconds
                .get_or_create(&[("outcome", outcome.label())]);
        }
        let r = &mut self.registry;
        r.register_with_unit(
            "sync",
            "Sync requests' time from arrival to answer, by outcome (ok, overloaded, refused, failed)",
            Unit::Seconds,
            self.sync_seconds.clone(),
        );
        r.register(
            "sync_write_batch_syncs",
            "Syncs written per transaction of the sync writer (group commit)",
            self.write_batch_syncs.clone(),
        );
        r.register_with_unit(
            "sync_write_batch",
            "Each write transaction's time, from its begin to its commit",
            Unit::Seconds,
            self.write_batch_seconds.clone(),
        );
        r.register(
            "live_streams",
            "Live-update streams open (GET /api/v1/events; bounded by live_streams)",
            self.live_streams.clone(),
        );
        r.register(
            "mail_outbox_waiting",
            "Mails in the outbox not yet delivered, as the last mail round counted",
            self.mail_outbox_waiting.clone(),
        );
        r.register(
            "mail_outbox_failed",
            "Mails in the outbox given up (failed), as the last mail round counted",
            self.mail_outbox_failed.clone(),
        );
        r.register_collector(Box::new(HeapCollector));
        self
    }

    /// Every metric, in the OpenMetrics text format ([`CONTENT_TYPE`]); the document cache's
    /// figures are `cache`'s.
    pub fn render(&self, cache: CacheUse) -> String {
        self.doc_cache_entries.set(cache.entries as u64);
        self.doc_cache_bytes.set(cache.bytes as u64);
        self.sync_queued
            .set(self.sync_queue_probe.0.get().map_or(0, |probe| probe()));
        // The cache counts its evictions itself: the counter shows its figure.
        self.doc_cache_evictions
            .inner()
            .store(cache.evicted, Relaxed);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding the metrics");
        }
        out
    }
}

/// A figure read when rendered, from whoever owns it.
#[derive(Default)]
struct Probe(OnceLock<Box<dyn Fn() -> u64 + Send + Sync>>);

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Probe(set)"
        } else {
            "Probe(unset)"
        })
    }
}

/// jemalloc's figures, read when the metrics are rendered; none when they cannot be read.
#[derive(Debug)]
struct HeapCollector;

impl Collector for HeapCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(heap) = super::memory::heap_stats() else {
            return Ok(());
        };
        let gauges = [
            (
                "heap_allocated",
                "Bytes the server's Rust code holds through jemalloc",
                heap.allocated,
            ),
            (
                "heap_resident",
                "Bytes of jemalloc's pages resident in memory (allocated, slack and metadata; \
                 SQLite's own memory not included)",
                heap.resident,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(
                name,
                &format!("{help}."),
                Some(&Unit::Bytes),
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, name: &str) -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn the_names_are_those_read_before() {
        let m = Metrics::default();
        Metrics::add(&m.http_requests, 3);
        Metrics::add(&m.write_batches, 2);
        m.bytes_in.inc_by(10);
        assert_eq!(m.write_batches.load(Relaxed), 2);
        assert_eq!(m.bytes_in.get(), 10);
        let text = m.render(CacheUse {
            entries: 4,
            bytes: 1234,
            evicted: 7,
        });
        let expected = [
            ("taskforce_http_requests_total", 3),
            ("taskforce_http_errors_total", 0),
            ("taskforce_sync_requests_total", 0),
            ("taskforce_sync_rejected_total", 0),
            ("taskforce_ops_applied_total", 0),
            ("taskforce_changes_stored_total", 0),
            ("taskforce_sync_write_transactions_total", 2),
            ("taskforce_sync_write_transactions_with_changes_total", 0),
            ("taskforce_documents_written_total", 0),
            ("taskforce_task_rows_written_total", 0),
            ("taskforce_event_rows_written_total", 0),
            ("taskforce_sync_bytes_in_total", 10),
            ("taskforce_sync_bytes_out_total", 0),
            ("taskforce_snapshots_sent_total", 0),
            ("taskforce_snapshots_stored_total", 0),
            ("taskforce_doc_cache_hits_total", 0),
            ("taskforce_doc_cache_misses_total", 0),
            ("taskforce_logins_total", 0),
            ("taskforce_login_failures_total", 0),
            ("taskforce_sync_overloaded_total", 0),
            ("taskforce_mail_decided_total", 0),
            ("taskforce_mail_sent_total", 0),
            ("taskforce_mail_deferred_total", 0),
            ("taskforce_mail_failed_total", 0),
            ("taskforce_mail_rounds_total", 0),
            ("taskforce_mail_round_failures_total", 0),
            ("taskforce_doc_cache_entries", 4),
            ("taskforce_doc_cache_bytes", 1234),
            ("taskforce_doc_cache_evictions_total", 7),
            ("taskforce_sync_queued", 0),
            ("taskforce_live_streams", 0),
            ("taskforce_mail_outbox_waiting", 0),
            ("taskforce_mail_outbox_failed", 0),
        ];
        for (name, v) in expected {
            assert_eq!(value(&text, name), Some(v), "{name} in\n{text}");
        }
        assert!(value(&text, "taskforce_heap_resident_bytes").is_some_and(|b| b > 0));
        assert!(value(&text, "taskforce_heap_allocated_bytes").is_some());
        // Each sample once, with its HELP and TYPE; OpenMetrics ends with EOF.
        // (The histograms' samples apart; every outcome is there at zero.)
        let samples = text
            .lines()
            .filter(|l| {
                !l.starts_with('#')
                    && !l.starts_with("taskforce_sync_write_batch")
                    && !l.starts_with("taskforce_sync_seconds")
            })
            .count();
        assert_eq!(samples, expected.len() + 2, "{text}");
        for outcome in ["ok", "overloaded", "refused", "failed"] {
            let zero = format!("taskforce_sync_seconds_count{{outcome=\"{outcome}\"}} 0\n");
            assert!(text.contains(&zero), "{zero} in {text}");
        }
        assert!(
            text.contains("# TYPE taskforce_http_requests counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE taskforce_doc_cache_bytes gauge\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Rendering again shows the cache's new figures, not a second copy.
        let again = m.render(CacheUse {
            entries: 1,
            bytes: 2,
            evicted: 9,
        });
        assert_eq!(value(&again, "taskforce_doc_cache_entries"), Some(1));
        assert_eq!(
            value(&again, "taskforce_doc_cache_evictions_total"),
            Some(9)
        );
        assert_eq!(again.lines().count(), text.lines().count());
    }

    #[test]
    fn the_sync_queue_is_read_from_the_writers_probe_when_rendered() {
        let m = Metrics::default();
        let queued = std::sync::Arc::new(AtomicU64::new(3));
        let probe = queued.clone();
        m.watch_sync_queue(move || probe.load(Relaxed));
        m.watch_sync_queue(|| 99);
        let cache = CacheUse {
            entries: 0,
            bytes: 0,
            evicted: 0,
        };
        assert_eq!(value(&m.render(cache), "taskforce_sync_queued"), Some(3));
        queued.store(0, Relaxed);
        assert_eq!(value(&m.render(cache), "taskforce_sync_queued"), Some(0));
    }

    #[test]
    fn each_sync_is_timed_under_its_outcome() {
        let m = Metrics::default();
        for (status, seconds) in [
            (200, 0.002),
            (200, 0.004),
            (503, 0.001),
            (400, 0.003),
            (500, 9.0),
        ] {
            m.sync_answered(status, seconds);
        }
        m.batch_written(3, 0.01);
        let text = m.render(CacheUse {
            entries: 0,
            bytes: 0,
            evicted: 0,
        });
        let count = |outcome: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(&format!(
                    "taskforce_sync_seconds_count{{outcome=\"{outcome}\"}} "
                ))
                .and_then(|v| v.parse::<u64>().ok())
            })
        };
        assert_eq!(count("ok"), Some(2), "{text}");
        assert_eq!(count("overloaded"), Some(1));
        assert_eq!(count("refused"), Some(1));
        assert_eq!(count("failed"), Some(1));
        assert!(
            text.contains("taskforce_sync_write_batch_syncs_bucket{le=\"4.0\"} 1"),
            "{text}"
        );
    }
}
