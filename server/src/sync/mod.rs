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

/// What the writer task writes.
#[derive(Debug)]
pub(crate) enum Work {
    Sync(WriteJob, Reply),
    /// A rewritten snapshot from the compactor, holding a document's first `ops` operations.
    Snapshot {
        key: DocKey,
        state: Vec<u8>,
        ops: i64,
    },
}

/// The writer: a task that writes every sync waiting for it in one transaction.
#[derive(Debug, Clone)]
pub struct GroupWriter {
    queue: mpsc::UnboundedSender<Work>,
}

impl GroupWriter {
    /// Start the writer task on the current runtime; it ends when the last sender is gone.
    /// `ctx`: the database, cache and counters it writes with.
    pub fn spawn(ctx: WriteContext) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<Work>();
        let compactor = Compactor::spawn(ctx.clone(), queue.downgrade());
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let mut jobs = Vec::new();
                let mut replies = Vec::new();
                let mut snapshots = Vec::new();
                for work in std::mem::take(&mut batch) {
                    match work {
                        Work::Sync(job, reply) => {
                            jobs.push(job);
                            replies.push(reply);
                        }
                        Work::Snapshot { key, state, ops } => snapshots.push((key, state, ops)),
                    }
                }
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
        Self { queue }
    }

    /// Write one sync through the writer task.
    pub async fn write(&self, job: WriteJob) -> ApiResult<Written> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(Work::Sync(job, tx))
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the sync writer has stopped")))?;
        rx.await
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the sync writer has stopped")))?
    }
}
