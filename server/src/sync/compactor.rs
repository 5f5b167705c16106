//! The compactor: snapshots of large documents rewritten in the background.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use taskforce_core::sync::DocKey;
use tokio::sync::mpsc;

use super::{Snapshot, WriteContext};
use crate::docstore;

/// Rewrites the snapshots of shed documents whose op-log tail grew long, in the background,
/// one document at a time (decision 25): the writer's copy has no bodies to encode, so this
/// task decodes the whole stored document, encodes it and lets it go.
#[derive(Debug, Clone)]
pub(super) struct Compactor {
    queue: mpsc::UnboundedSender<DocKey>,
    /// Documents asked for and not yet done: each is asked for once however many batches
    /// find it due meanwhile.
    pending: Arc<Mutex<BTreeSet<DocKey>>>,
}

impl Compactor {
    /// The compactor encodes; the writer stores what it encoded (SQLite has one writer: a
    /// second one would make the writer's transactions fail). `writer`: the compactor's own
    /// path to it, apart from the syncs' queue: a snapshot waits there for the writer to take
    /// it (never refused as an overloaded sync is), one at a time. The writer never waits
    /// for this task, so the wait cannot deadlock.
    pub(super) fn spawn(ctx: WriteContext, writer: mpsc::Sender<Snapshot>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<DocKey>();
        let pending: Arc<Mutex<BTreeSet<DocKey>>> = Arc::default();
        let done = pending.clone();
        tokio::spawn(async move {
            while let Some(key) = rx.recv().await {
                let encoded = docstore::encode_whole(&ctx.db, &key).await;
                match encoded {
                    Ok(Some((snapshot, ops))) => {
                        // Pending until the writer has stored it; the writer gone, so is
                        // this task.
                        let sent = writer
                            .send(Snapshot {
                                key,
                                state: snapshot,
                                ops,
                            })
                            .await;
                        if sent.is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(None) => {}
                    // The tail stays and is read on loads; the next batch asks again.
                    Err(e) => tracing::warn!(directive = %key.directive, unit = %key.unit,
                        error = %e, "a document's snapshot could not be rewritten"),
                }
                lock(&done).remove(&key);
            }
        });
        Self { queue, pending }
    }

    pub(super) fn finished(&self, keys: &[DocKey]) {
        if !keys.is_empty() {
            let mut pending = lock(&self.pending);
            for k in keys {
                pending.remove(k);
            }
        }
    }

    pub(super) fn request(&self, key: DocKey) {
        if lock(&self.pending).insert(key.clone()) {
            // The task ends only with the writer.
            let _ = self.queue.send(key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
