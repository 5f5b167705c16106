//! The phone's durable store: unit documents, this device's identity and key, the directive,
//! and the operations not yet acknowledged by the server. An edit is written before the call
//! that made it returns, so a process killed right after loses nothing.
//!
//! A document is kept as its last saved state (a snapshot) plus a tail: the changes received
//! since, appended after each sync, with this device's own changes (kept until the state is
//! rewritten). The state is rewritten only when the tail outgrows it ([`save_after_sync`]), so
//! a sync writes what it brought, not the whole document, and opening replays a bounded tail.
//!
//! [`Store`] has two implementations run against one shared test suite: [`SqliteStore`]
//! (rusqlite, bundled SQLite; WAL, `synchronous=FULL`, `temp_store=2` for Android) and
//! [`MemoryStore`] (tests, and apps that keep nothing).

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

use crate::{
    doc::{ActorId, DocError, Op, UnitDocument, VersionVector},
    sync::{Change, DocKey, Replica, apply_changes, changes_len, wire, wire::change_len},
};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the local database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the local data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Doc(#[from] DocError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What the store keeps of one document.
#[derive(Debug, Clone, Default)]
pub struct StoredDoc {
    /// The canonical state as last saved (wire snapshot encoding).
    pub snapshot: Vec<u8>,
    /// The server's version vector as last reported (postcard).
    pub remote: Vec<u8>,
    /// This device's sealed changes not yet acknowledged.
    pub changes: Vec<Change>,
    /// This device's operations not yet sealed: (sequence number, operation).
    pub pending: Vec<(u64, Op)>,
    /// Changes received since the state was saved, in the order they were applied.
    pub tail: Vec<Change>,
}

/// What the store holds of a document, in bytes: its saved state and the tail since.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Saved {
    pub snapshot: usize,
    pub tail: usize,
}

/// The tail may grow to the saved state's size, and to at least this many bytes, before the
/// state is rewritten: a rewrite costs at most what the syncs since brought, and an open
/// replays at most one state's worth of changes.
pub const TAIL_MIN_BYTES: usize = 128 * 1024;

/// Durable storage for a phone. Every method is one transaction.
pub trait Store: Send {
    fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()>;
    fn doc_keys(&self) -> StoreResult<Vec<DocKey>>;
    fn load_doc(&self, key: &DocKey) -> StoreResult<Option<StoredDoc>>;
    /// Save the state and the server's version; empty the tail; drop this device's changes
    /// the server acknowledged.
    fn save_doc(
        &mut self,
        key: &DocKey,
        snapshot: &[u8],
        remote: &[u8],
        actor: ActorId,
        acked: u64,
    ) -> StoreResult<()>;
    /// Record one local operation (before the edit returns).
    fn append_pending(&mut self, key: &DocKey, seq: u64, op: &Op) -> StoreResult<()>;
    /// Replace the pending operations the change covers by the change itself.
    fn seal(&mut self, key: &DocKey, change: &Change) -> StoreResult<()>;
    /// Append changes received (and applied) after the saved state, and the server's version.
    /// The document must have been saved once.
    fn append_tail(&mut self, key: &DocKey, changes: &[Change], remote: &[u8]) -> StoreResult<()>;
    /// Replace everything kept of a document in one transaction: its state and the server's
    /// version, no tail, no sealed changes, `pending` as the operations not yet sealed; and
    /// set `meta` in the same transaction. A restored device's recovery (its new identity and
    /// the operations it re-issues) must land whole or not at all.
    fn replace_doc(
        &mut self,
        key: &DocKey,
        snapshot: &[u8],
        remote: &[u8],
        pending: &[(u64, Op)],
        meta: &[(&str, &[u8])],
    ) -> StoreResult<()>;
}

fn doc_id(key: &DocKey) -> String {
    format!("{}/{}", key.directive, key.unit)
}

fn encode_op(op: &Op) -> Vec<u8> {
    postcard::to_stdvec(op).unwrap_or_default()
}

fn decode_op(bytes: &[u8]) -> StoreResult<Op> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("queued operation: {e}")))
}

/// Rebuild the replica a store holds for `key`: the saved state, the tail replayed on it, then
/// this device's changes and queued operations. Also what the store holds of it.
pub fn load_replica(
    store: &dyn Store,
    key: &DocKey,
    actor: ActorId,
) -> StoreResult<Option<(Replica, Saved)>> {
    let Some(stored) = store.load_doc(key)? else {
        return Ok(None);
    };
    let canonical = wire::decode_snapshot(&stored.snapshot)
        .map_err(|e| StoreError::Corrupt(format!("document: {e}")))?;
    let mut state = UnitDocument::from_canonical(canonical)?;
    apply_changes(&mut state, &stored.tail, |_, _| {})?;
    let saved = Saved {
        snapshot: stored.snapshot.len(),
        tail: changes_len(&stored.tail) + changes_len(&stored.changes),
    };
    let remote: VersionVector = if stored.remote.is_empty() {
        VersionVector::new()
    } else {
        VersionVector {
            dots: postcard::from_bytes(&stored.remote)
                .map_err(|e| StoreError::Corrupt(format!("version: {e}")))?,
        }
    };
    let replica = Replica::restore(state, actor, stored.changes, stored.pending, remote)?;
    Ok(Some((replica, saved)))
}

/// Save a replica's whole state and the server's version (when it is created, and when the
/// tail has outgrown the saved state). Returns what the store then holds.
pub fn save_replica(
    store: &mut dyn Store,
    replica: &Replica,
    actor: ActorId,
) -> StoreResult<Saved> {
    let snapshot = wire::encode_snapshot(&replica.doc().to_canonical());
    let remote = postcard::to_stdvec(&replica.remote_version().dots).unwrap_or_default();
    store.save_doc(
        replica.key(),
        &snapshot,
        &remote,
        actor,
        replica.remote_version().get(&actor),
    )?;
    Ok(Saved {
        snapshot: snapshot.len(),
        tail: replica
            .changes_of(actor)
            .iter()
            .filter(|c| c.end() > replica.remote_version().get(&actor))
            .map(change_len)
            .sum(),
    })
}

/// Seal: [`Store::seal`], counting the change in what the store holds (this device's changes
/// stay until the state is next rewritten, and an open replays them).
pub fn seal_change(
    store: &mut dyn Store,
    key: &DocKey,
    change: &Change,
    saved: &mut Saved,
) -> StoreResult<()> {
    store.seal(key, change)?;
    saved.tail = saved.tail.saturating_add(change_len(change));
    Ok(())
}

/// After a sync: record what it brought. `received` are the changes it applied (None when the
/// answer was a snapshot). They are appended to the tail while the tail stays within the saved
/// state's size (and [`TAIL_MIN_BYTES`]); otherwise, and after a snapshot, the whole state is
/// rewritten and the tail emptied.
pub fn save_after_sync(
    store: &mut dyn Store,
    replica: &Replica,
    actor: ActorId,
    received: Option<&[Change]>,
    saved: &mut Saved,
) -> StoreResult<()> {
    if let Some(received) = received {
        let tail = saved.tail.saturating_add(changes_len(received));
        if tail <= saved.snapshot.max(TAIL_MIN_BYTES) {
            let remote = postcard::to_stdvec(&replica.remote_version().dots).unwrap_or_default();
            store.append_tail(replica.key(), received, &remote)?;
            saved.tail = tail;
            return Ok(());
        }
    }
    *saved = save_replica(store, replica, actor)?;
    Ok(())
}

// ---- in memory ------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Memory {
    meta: BTreeMap<String, Vec<u8>>,
    docs: BTreeMap<DocKey, StoredDoc>,
}

/// A store that keeps everything in memory (cloning shares it).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore(Arc<Mutex<Memory>>);

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.lock().meta.get(key).cloned())
    }
    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.lock().meta.insert(key.into(), value.to_vec());
        Ok(())
    }
    fn doc_keys(&self) -> StoreResult<Vec<DocKey>> {
        Ok(self.lock().docs.keys().cloned().collect())
    }
    fn load_doc(&self, key: &DocKey) -> StoreResult<Option<StoredDoc>> {
        Ok(self.lock().docs.get(key).cloned())
    }
    fn save_doc(
        &mut self,
        key: &DocKey,
        snapshot: &[u8],
        remote: &[u8],
        _actor: ActorId,
        acked: u64,
    ) -> StoreResult<()> {
        let mut m = self.lock();
        let d = m.docs.entry(key.clone()).or_default();
        d.snapshot = snapshot.to_vec();
        d.remote = remote.to_vec();
        d.tail.clear();
        d.changes.retain(|c| c.end() > acked);
        Ok(())
    }
    fn append_pending(&mut self, key: &DocKey, seq: u64, op: &Op) -> StoreResult<()> {
        let mut m = self.lock();
        let d = m.docs.entry(key.clone()).or_default();
        d.pending.retain(|(s, _)| *s != seq);
        d.pending.push((seq, op.clone()));
        Ok(())
    }
    fn seal(&mut self, key: &DocKey, change: &Change) -> StoreResult<()> {
        let mut m = self.lock();
        let d = m.docs.entry(key.clone()).or_default();
        d.pending
            .retain(|(s, _)| *s < change.start || *s > change.end());
        if !d.changes.iter().any(|c| c.start == change.start) {
            d.changes.push(change.clone());
        }
        Ok(())
    }
    fn append_tail(&mut self, key: &DocKey, changes: &[Change], remote: &[u8]) -> StoreResult<()> {
        let mut m = self.lock();
        let d = m
            .docs
            .get_mut(key)
            .ok_or_else(|| StoreError::Corrupt(format!("no saved state for {}", doc_id(key))))?;
        d.tail.extend_from_slice(changes);
        d.remote = remote.to_vec();
        Ok(())
    }
    fn replace_doc(
        &mut self,
        key: &DocKey,
        snapshot: &[u8],
        remote: &[u8],
        pending: &[(u64, Op)],
        meta: &[(&str, &[u8])],
    ) -> StoreResult<()> {
        let mut m = self.lock();
        m.docs.insert(
            key.clone(),
            StoredDoc {
                snapshot: snapshot.to_vec(),
                remote: remote.to_vec(),
                changes: Vec::new(),
                pending: pending.to_vec(),
                tail: Vec::new(),
            },
        );
        for (k, v) in meta {
            m.meta.insert((*k).to_string(), v.to_vec());
        }
        Ok(())
    }
}

// ---- SQLite ----------------------------------------------------------------------------

/// The SQLite store a phone uses.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY, directive TEXT NOT NULL, unit TEXT NOT NULL,
    snapshot BLOB NOT NULL, remote BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    doc TEXT NOT NULL, seq INTEGER NOT NULL, op BLOB NOT NULL, PRIMARY KEY (doc, seq));
CREATE TABLE IF NOT EXISTS changes (
    doc TEXT NOT NULL, start INTEGER NOT NULL, last INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (doc, start));
CREATE TABLE IF NOT EXISTS tail (
    doc TEXT NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (doc, n));
";

/// One meta key set to a value.
const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

impl SqliteStore {
    /// Open (or create) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> StoreResult<Self> {
        // WAL for concurrent reads; FULL so a committed edit survives power loss, not only a
        // killed process; temp_store=2 because Android has no usable temporary directory.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "temp_store", 2)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// A document's saved state and the server's version, written whole.
    fn put_doc(
        tx: &rusqlite::Transaction<'_>,
        id: &str,
        key: &DocKey,
        snapshot: &[u8],
        remote: &[u8],
    ) -> StoreResult<()> {
        tx.execute(
            "INSERT INTO docs (id, directive, unit, snapshot, remote) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot, remote = excluded.remote",
            params![id, key.directive, key.unit, snapshot, remote],
        )?;
        Ok(())
    }

    fn i64(n: u64) -> i64 {
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// The changes a query of one document's change bodies returns, decoded.
    fn changes(&self, sql: &str, doc: &str, what: &str) -> StoreResult<Vec<Change>> {
        let mut stmt = self.conn.prepare(sql)?;
        let bodies: Vec<Vec<u8>> = stmt
            .query_map([doc], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        bodies
            .iter()
            .map(|b| {
                wire::decode_change(b).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
            })
            .collect()
    }
}

impl Store for SqliteStore {
    fn get_meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.conn.execute(SET_META, params![key, value])?;
        Ok(())
    }

    fn doc_keys(&self) -> StoreResult<Vec<DocKey>> {
        let mut stmt = self
            .conn
            .prepare("SELECT directive, unit FROM docs ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(DocKey {
                directive: r.get(0)?,
                unit: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn load_doc(&self, key: &DocKey) -> StoreResult<Option<StoredDoc>> {
        let id = doc_id(key);
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT snapshot, remote FROM docs WHERE id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((snapshot, remote)) = row else {
            return Ok(None);
        };
        let changes = self.changes(
            "SELECT body FROM changes WHERE doc = ?1 ORDER BY start",
            &id,
            "queued change",
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT seq, op FROM pending WHERE doc = ?1 ORDER BY seq")?;
        let rows: Vec<(i64, Vec<u8>)> = stmt
            .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let pending = rows
            .into_iter()
            .map(|(seq, op)| Ok((u64::try_from(seq).unwrap_or(0), decode_op(&op)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let tail = self.changes(
            "SELECT body FROM tail WHERE doc = ?1 ORDER BY n",
            &id,
            "received change",
        )?;
        Ok(Some(StoredDoc {
            snapshot,
            remote,
            changes,
            pending,
            tail,
        }))
    }

    fn save_doc(
        &mut self,
        key: &DocKey,
        snapshot: &[u8],
        remote: &[u8],
        _actor: ActorId,
        acked: u64,
    ) -> StoreResult<()> {
        let id = doc_id(key);
        let tx = self.conn.transaction()?;
        Self::put_doc(&tx, &id, key, snapshot, remote)?;
        tx.execute(
            "DELETE FROM changes WHERE doc = ?1 AND last <= ?2",
            params![id, Self::i64(acked)],
        )?;
        tx.execute("DELETE FROM tail WHERE doc = ?1", [&id])?;
        tx.commit()?;
        Ok(())
    }

    fn append_pending(&mut self, key: &DocKey, seq: u64, op: &Op) -> StoreResult<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO pending (doc, seq, op) VALUES (?1, ?2, ?3)",
            params![doc_id(key), Self::i64(seq), encode_op(op)],
        )?;
        Ok(())
    }

    fn seal(&mut self, key: &DocKey, change: &Change) -> StoreResult<()> {
        let id = doc_id(key);
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM pending WHERE doc = ?1 AND seq >= ?2 AND seq <= ?3",
            params![id, Self::i64(change.start), Self::i64(change.end())],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO changes (doc, start, last, body) VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                Self::i64(change.start),
                Self::i64(change.end()),
                wire::encode_change(change)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn append_tail(&mut self, key: &DocKey, changes: &[Change], remote: &[u8]) -> StoreResult<()> {
        let id = doc_id(key);
        let tx = self.conn.transaction()?;
        if tx.execute(
            "UPDATE docs SET remote = ?2 WHERE id = ?1",
            params![id, remote],
        )? == 0
        {
            return Err(StoreError::Corrupt(format!("no saved state for {id}")));
        }
        {
            let next: i64 = tx.query_row(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM tail WHERE doc = ?1",
                [&id],
                |r| r.get(0),
            )?;
            let mut insert =
                tx.prepare_cached("INSERT INTO tail (doc, n, body) VALUES (?1, ?2, ?3)")?;
            for (i, c) in changes.iter().enumerate() {
                let n = next.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
                insert.execute(params![id, n, wire::encode_change(c)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn replace_doc(
        &mut self,
        key: &DocKey,
        snapshot: &[u8],
        remote: &[u8],
        pending: &[(u64, Op)],
        meta: &[(&str, &[u8])],
    ) -> StoreResult<()> {
        let id = doc_id(key);
        let tx = self.conn.transaction()?;
        Self::put_doc(&tx, &id, key, snapshot, remote)?;
        for table in ["changes", "tail", "pending"] {
            tx.execute(&format!("DELETE FROM {table} WHERE doc = ?1"), [&id])?;
        }
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO pending (doc, seq, op) VALUES (?1, ?2, ?3)")?;
            for (seq, op) in pending {
                insert.execute(params![id, Self::i64(*seq), encode_op(op)])?;
            }
            let mut set = tx.prepare_cached(SET_META)?;
            for (k, v) in meta {
                set.execute(params![k, v])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
