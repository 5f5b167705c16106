//! Writing syncs: the changes of one or more syncs, checked and applied to their decoded
//! documents, then stored with the documents' rows and projections in **one transaction**.
//!
//! A single writer task per server process takes every sync waiting when it is free and
//! writes them together (group commit, decision 21): one `BEGIN`/`COMMIT` and one statement
//! per kind of row for the whole batch instead of eight statements per sync, while the
//! request handlers keep doing the rest (authentication, decoding, signature checks, answers)
//! in parallel. On PostgreSQL the batch's document rows are locked (`SELECT … FOR UPDATE`) in
//! key order, so server replicas on one database stay apart and never deadlock.
//!
//! A sync that is refused (unknown document, other directive, invalid operation, gap) is
//! refused alone, before anything of it is applied; the others in its batch go on. If the
//! transaction itself fails, every sync in it gets the error, no document of it returns to the
//! cache, and nothing is stored: the phones send the same changes again.
//!
//! The syncs waiting for the writer are bounded (`writer_queue`): past the bound a sync is
//! refused at once with 503 `overloaded` and `Retry-After` (nothing of it taken; the phones
//! retry), so an overload costs retries, not memory.

mod batch;
mod compactor;
mod projections;

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::AtomicI64},
};

use sea_orm::{DatabaseBackend, DatabaseConnection};
use taskforce_core::{
    doc::{ActorId, BoundedDocument},
    sync::{Change, DocKey},
};
use tokio::sync::{mpsc, oneshot};

pub use batch::write_batch;
use batch::write_batch_due;
use compactor::Compactor;
/// The rows a write transaction stores with the op log; public for the load generator's
/// yardstick, which writes the run's own rows through it.
pub use projections::store_rows;

use crate::{
    docstore::{DocCache, SnapshotMeasure},
    error::{ApiError, ApiResult},
    telemetry::metrics::Metrics,
};

/// What the writer works with: the database, the decoded documents and the counters.
#[derive(Debug, Clone)]
pub struct WriteContext {
    pub db: DatabaseConnection,
    pub docs: Arc<DocCache>,
    pub metrics: Arc<Metrics>,
    /// When this process last recorded the progress history (Unix seconds).
    pub history_recorded: Arc<AtomicI64>,
    /// Seals the last row each batch stores for a document (decision 32).
    pub audit_key: Arc<crate::audit::AuditKey>,
    /// Told which documents each committed batch changed (live updates).
    pub events: Arc<crate::events::Events>,
}

impl WriteContext {
    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }
}

/// At most this many syncs share a transaction.
pub const MAX_BATCH: usize = 128;

/// One sync's write: its document and the changes it brings, already checked to be the
/// calling device's and signed by it.
#[derive(Debug)]
pub struct WriteJob {
    pub key: DocKey,
    pub fingerprint: u64,
    /// The device's version: what it already has.
    pub vv: BTreeMap<ActorId, u64>,
    pub changes: Vec<Change>,
}

/// What a written sync reports back: the document's version once its batch committed (it may
/// include other syncs of the batch), its op count and last snapshot measure.
#[derive(Debug, Clone)]
pub struct Written {
    pub version: BTreeMap<ActorId, u64>,
    /// The document at that version, to build a snapshot answer from without any lock: only
    /// when it is whole and a snapshot may be the smaller answer (an answer holding it makes
    /// the next write copy it). Otherwise a snapshot answer loads it from storage.
    pub doc: Option<Arc<BoundedDocument>>,
    pub ops: i64,
    pub measure: SnapshotMeasure,
    /// The changes the device lacks up to `version`, from the document's in-memory log;
    /// `None` when they must be read from the op log.
    pub missing: Option<Vec<Arc<[u8]>>>,
}

type Reply = oneshot::Sender<ApiResult<Written>>;

/// A sync waiting for the writer: its job and where its answer goes.
type Queued = (WriteJob, Reply);

/// A rewritten snapshot from the compactor, holding a document's first `ops` operations.
#[derive(Debug)]
struct Snapshot {
    key: DocKey,
    state: Vec<u8>,
    ops: i64,
}

/// How long a sync refused because the writer's queue is full is told to wait (`Retry-After`,
/// seconds): a batch takes milliseconds, so by then the queue has usually drained.
pub const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// The writer: a task that writes every sync waiting for it in one transaction.
///
/// At most `queue` syncs wait for it (besides the batch it is writing); a sync that finds
/// them all there is refused at once with [`ApiError::Overloaded`] (503, `Retry-After`)
/// instead of waiting, so an overload costs a retry, not memory. The compactor's snapshots
/// come on a path of their own (one waits at a time; the compactor waits for the writer to
/// take it): never refused, never dropped, never in a sync's place. The writer never waits
/// for the compactor (its requests are queued without waiting), so neither can block the
/// other.
#[derive(Debug, Clone)]
pub struct GroupWriter {
    queue: mpsc::Sender<Queued>,
    metrics: Arc<Metrics>,
}

impl GroupWriter {
    /// Start the writer task on the current runtime; it ends when the last sender is gone.
    /// `ctx`: the database, cache and counters it writes with; `queue`: how many syncs may
    /// wait for it (at least one).
    pub fn spawn(ctx: WriteContext, queue: usize) -> Self {
        let bound = queue.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        let (queue, mut rx) = mpsc::channel::<Queued>(bound);
        let (snapshot_tx, mut snapshot_rx) = mpsc::channel::<Snapshot>(1);
        let watched = queue.downgrade();
        ctx.metrics.watch_sync_queue(move || {
            watched
                .upgrade()
                .map_or(0, |q| (q.max_capacity() - q.capacity()) as u64)
        });
        let metrics = ctx.metrics.clone();
        let compactor = Compactor::spawn(ctx.clone(), snapshot_tx);
        tokio::spawn(async move {
            let mut batch: Vec<Queued> = Vec::new();
            let mut snapshots: Vec<Snapshot> = Vec::new();
            loop {
                // Whichever comes first (both are cancel-safe: nothing is lost to the other).
                tokio::select! {
                    n = rx.recv_many(&mut batch, MAX_BATCH) => if n == 0 { break },
                    Some(s) = snapshot_rx.recv() => snapshots.push(s),
                }
                // Then everything else already waiting, without waiting.
                while let Ok(s) = snapshot_rx.try_recv() {
                    snapshots.push(s);
                }
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(q) => batch.push(q),
                        Err(_) => break,
                    }
                }
                let (jobs, replies): (Vec<WriteJob>, Vec<Reply>) =
                    std::mem::take(&mut batch).into_iter().unzip();
                let snapshots: Vec<(DocKey, Vec<u8>, i64)> = std::mem::take(&mut snapshots)
                    .into_iter()
                    .map(|s| (s.key, s.state, s.ops))
                    .collect();
                // The only writer of this process: no lock needed here (rows are locked on
                // PostgreSQL; SQLite has one writer anyway).
                let stored: Vec<DocKey> = snapshots.iter().map(|(k, _, _)| k.clone()).collect();
                let (results, due) = write_batch_due(&ctx, jobs, snapshots).await;
                // Stored (or failed, and asked for again when next due).
                compactor.finished(&stored);
                for key in due {
                    compactor.request(key);
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that went away no longer needs its answer.
                    let _ = reply.send(result);
                }
            }
        });
        Self { queue, metrics }
    }

    /// How many syncs wait for the writer, and how many may (`writer_queue`).
    pub fn queued(&self) -> (usize, usize) {
        let bound = self.queue.max_capacity();
        (bound - self.queue.capacity(), bound)
    }

    /// Refuse at once when the writer's queue is full: a route asks before reading a body
    /// and checking its signatures, so an overloaded server spends nothing on a sync it
    /// cannot take. (`write` checks again: the queue may fill in between.)
    pub fn refuse_if_full(&self) -> ApiResult<()> {
        if self.queue.capacity() == 0 {
            Metrics::add(&self.metrics.sync_overloaded, 1);
            return Err(ApiError::Overloaded {
                retry_after: OVERLOADED_RETRY_AFTER_SECS,
            });
        }
        Ok(())
    }

    /// Write one sync through the writer task; refused at once, without waiting, when the
    /// writer's queue is full.
    pub async fn write(&self, job: WriteJob) -> ApiResult<Written> {
        let (tx, rx) = oneshot::channel();
        match self.queue.try_send((job, tx)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                Metrics::add(&self.metrics.sync_overloaded, 1);
                return Err(ApiError::Overloaded {
                    retry_after: OVERLOADED_RETRY_AFTER_SECS,
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "the sync writer has stopped"
                )));
            }
        }
        rx.await
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the sync writer has stopped")))?
    }
}
