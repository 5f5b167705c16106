//! Unit documents on the server: how they are stored, loaded and kept decoded between syncs.
//!
//! A document row holds a snapshot (`state`, the first `state_ops` operations) and the
//! document's whole version vector (`head`); the operations in between are the op log's
//! latest changes. A sync appends to the op log and moves `head`; the snapshot is rewritten
//! only when that tail passes [`snapshot_due`]'s bound, so a sync costs in proportion to its
//! own operations, not to the document's history.
//!
//! Decoded documents stay in a [`DocCache`] between syncs, keyed by document and checked
//! against the row's op count (read with the row locked), so any number of server processes
//! on one database stay correct: a document another process changed is simply reloaded. A
//! sync takes the document out of the cache and puts it back only after its transaction
//! committed; a refused or failed sync leaves nothing half-applied behind.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use taskforce_core::{
    doc::{ActorId, BoundedDocument, UnitDocument},
    sync::{DocKey, snapshot_worth_pricing, wire},
};

use crate::{
    entity::{changes, documents},
    error::{ApiError, ApiResult},
};

/// Rewrite a document's snapshot once the op-log tail past it holds this many operations and
/// at least half as many as the snapshot itself: the cost of rewriting stays proportional to
/// the operations that arrived, and a cold load reads at most a bounded tail.
pub const SNAPSHOT_MIN_TAIL: i64 = 2_000;

pub fn snapshot_due(ops: i64, state_ops: i64) -> bool {
    let tail = ops - state_ops;
    tail >= SNAPSHOT_MIN_TAIL && tail >= state_ops / 2
}

/// A decoded document and what it was decoded from.
#[derive(Debug)]
pub struct Cached {
    /// The row's op count this document holds.
    pub ops: i64,
    pub fingerprint: i64,
    /// Whole while its estimate stays under the cache's `whole_limit`; past it, registers,
    /// version and confirmation states only (what the writer checks, merges and projects),
    /// the bodies left to storage (decision 25). Shared with the syncs that answer from it
    /// with a snapshot; a writer changes it through `Arc::make_mut`.
    pub doc: Arc<BoundedDocument>,
    /// Its last encoded snapshot's size, to price snapshot answers.
    pub snapshot: SnapshotMeasure,
    /// The latest stored changes, to answer from without reading the op log.
    pub log: ChangeLog,
    used: u64,
    /// [`Cached::estimate_bytes`] when it was put in the cache.
    bytes: usize,
}

/// Keep at most this many bytes of a document's latest changes in memory: some 45,000
/// operations, weeks of a busy unit; a device further behind is answered from the op log.
/// (4 MiB until decision 26: ten busy documents then held 40 MB that took minutes to fill.)
pub const CHANGE_LOG_BYTES: usize = 1 << 20;

/// A document's latest changes as the op log stores them (`wire::encode_change`), in the order
/// they were applied: for each actor, every change past `from[actor]` up to the document's
/// version. Answers come from it when the device already has everything up to `from`; else
/// from the op log. Bounded: past [`CHANGE_LOG_BYTES`] the oldest are dropped and `from`
/// moves past them.
#[derive(Debug, Default, Clone)]
pub struct ChangeLog {
    from: BTreeMap<ActorId, u64>,
    entries: std::collections::VecDeque<(ActorId, u64, Arc<[u8]>)>,
    bytes: usize,
}

impl ChangeLog {
    /// An empty log of a document at version `from`.
    pub fn starting_at(from: BTreeMap<ActorId, u64>) -> Self {
        Self {
            from,
            ..Self::default()
        }
    }

    /// A change of `actor` ending at `end`, applied after every change already here.
    pub fn push(&mut self, actor: ActorId, end: u64, body: Arc<[u8]>) {
        self.bytes += body.len();
        self.entries.push_back((actor, end, body));
        while self.bytes > CHANGE_LOG_BYTES {
            let Some((a, end, body)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= body.len();
            let from = self.from.entry(a).or_insert(0);
            *from = (*from).max(end);
        }
    }

    /// The changes past `vv` (a device's version) up to the document's version, ordered by
    /// actor and sequence as the op log would give them; `None` when the device lacks changes
    /// older than the log holds.
    pub fn past(&self, vv: &BTreeMap<ActorId, u64>) -> Option<Vec<Arc<[u8]>>> {
        let has = |a: &ActorId| vv.get(a).copied().unwrap_or(0);
        if self.from.iter().any(|(a, &from)| has(a) < from) {
            return None;
        }
        let mut picked: Vec<(ActorId, u64, &Arc<[u8]>)> = self
            .entries
            .iter()
            .filter(|(a, end, _)| *end > has(a))
            .map(|(a, end, body)| (*a, *end, body))
            .collect();
        picked.sort_by_key(|&(a, end, _)| (a, end));
        Some(picked.into_iter().map(|(_, _, b)| b.clone()).collect())
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The operations' bytes of stored changes (`wire::encode_change`), without their headers:
/// what a changes answer is priced at against a snapshot.
pub fn changes_len(bodies: &[Arc<[u8]>]) -> usize {
    bodies
        .iter()
        .map(|b| wire::change_body(b).map_or(0, <[u8]>::len))
        .sum()
}

/// Bytes of a document's last encoded snapshot, and the op count it was measured at.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotMeasure {
    pub len: usize,
    pub at: i64,
}

impl Cached {
    pub fn new(
        ops: i64,
        fingerprint: i64,
        doc: BoundedDocument,
        snapshot: SnapshotMeasure,
        log: ChangeLog,
    ) -> Self {
        Self {
            ops,
            fingerprint,
            doc: Arc::new(doc),
            snapshot,
            log,
            used: 0,
            bytes: 0,
        }
    }

    /// Drop the document's bodies once its estimate passes `limit` bytes (the cache's
    /// [`DocCache::whole_limit`]).
    pub fn shed_if_large(&mut self, limit: usize) {
        if self.doc.is_whole() && self.document_bytes() > limit {
            Arc::make_mut(&mut self.doc).shed_bodies();
        }
    }

    /// The memory this entry holds, estimated from above: the document's, its change log's
    /// bytes and a fixed part. Measured by `cargo bench -p taskforce-benches --bench memory`.
    pub fn estimate_bytes(&self) -> usize {
        self.document_bytes()
            .saturating_add(self.log.bytes())
            .saturating_add(ENTRY_BYTES)
    }

    /// The decoded document's memory, estimated from above. Whole: a part per task and a
    /// multiple of its snapshot's size (the last measure, scaled to the document's op count).
    /// Without bodies: per task, a fixed part and a part per device that wrote to the
    /// document (its registers' clocks), and a part per confirmation; it does not grow with
    /// the document's history otherwise.
    pub fn document_bytes(&self) -> usize {
        let tasks = self.doc.header().tasks.len() + self.doc.tasks_with_state();
        if self.doc.is_whole() {
            return tasks.saturating_mul(BYTES_PER_TASK).saturating_add(
                self.snapshot
                    .scaled_to(self.ops)
                    .saturating_mul(BYTES_PER_SNAPSHOT_BYTE),
            );
        }
        let actors = self.doc.version().dots.len();
        tasks
            .saturating_mul(
                BYTES_PER_TASK.saturating_add(actors.saturating_mul(BYTES_PER_TASK_ACTOR)),
            )
            .saturating_add(
                self.doc
                    .confirmations_with_state()
                    .saturating_mul(BYTES_PER_CONFIRMATION),
            )
    }
}

/// A decoded task's registers and maps, before any value.
pub const BYTES_PER_TASK: usize = 720;
/// A whole decoded document's values per byte of their encoded snapshot.
pub const BYTES_PER_SNAPSHOT_BYTE: usize = 10;
/// A task's registers' clocks and concurrent values, per device writing to the document.
pub const BYTES_PER_TASK_ACTOR: usize = 160;
/// A confirmation without its details: its entry (the state register is implied until a
/// change arrives, decision 26).
pub const BYTES_PER_CONFIRMATION: usize = 80;
/// An entry's fixed part (header, maps, key).
pub const ENTRY_BYTES: usize = 16 << 10;

impl SnapshotMeasure {
    /// Whether to build a snapshot to compare with `changes_len` bytes of changes: mobile-core's
    /// rule, with the last measure scaled by the document's growth since (snapshots rarely grow
    /// faster than their operations), so a document measured a little while ago is not priced
    /// again on every sync.
    pub fn worth_pricing(&self, ops: i64, changes_len: usize) -> bool {
        snapshot_worth_pricing(changes_len, Some(self.scaled_to(ops)))
    }

    /// The snapshot's size estimated at op count `ops`: the measure scaled by the growth since.
    pub fn scaled_to(&self, ops: i64) -> usize {
        let estimate = match (u64::try_from(self.at), u64::try_from(ops)) {
            (Ok(at), Ok(now)) if at > 0 && now > at => (self.len as u64).saturating_mul(now) / at,
            _ => self.len as u64,
        };
        usize::try_from(estimate).unwrap_or(usize::MAX)
    }
}

/// Decoded documents, least recently used evicted beyond `capacity` entries or beyond
/// `budget` bytes (estimated by [`Cached::estimate_bytes`]): the documents kept between syncs
/// stay within the budget however large they grow. A write batch holds its documents outside
/// the cache while it writes, so they are not bounded by it (decision 24). A document larger
/// than the whole budget is not kept; its syncs decode it from the row each time (correct,
/// slower).
#[derive(Debug)]
pub struct DocCache {
    capacity: usize,
    budget: usize,
    whole: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    clock: u64,
    bytes: usize,
    evicted: u64,
    map: HashMap<DocKey, Cached>,
}

impl Entries {
    fn remove(&mut self, key: &DocKey) -> Option<Cached> {
        let c = self.map.remove(key)?;
        self.bytes -= c.bytes;
        Some(c)
    }
}

/// What the cache holds, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUse {
    pub entries: usize,
    pub bytes: usize,
    pub evicted: u64,
}

impl DocCache {
    /// At most `capacity` documents and `budget` bytes; each kept whole up to `whole` bytes.
    pub fn new(capacity: usize, budget: usize, whole: usize) -> Self {
        Self {
            capacity,
            budget,
            whole,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// The estimate up to which a document is kept whole: snapshot answers and rewrites of a
    /// whole document are made from memory, of the others from storage (decision 25).
    pub fn whole_limit(&self) -> usize {
        self.whole
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take the document out, if the cached copy is the one the row describes.
    pub fn take(&self, key: &DocKey, ops: i64, fingerprint: i64) -> Option<Cached> {
        let cached = self.lock().remove(key)?;
        (cached.ops == ops && cached.fingerprint == fingerprint).then_some(cached)
    }

    /// Put a document (back) in, evicting the least recently used beyond the limits. The
    /// evicted documents are freed after the cache's lock is released.
    pub fn put(&self, key: DocKey, mut cached: Cached) {
        cached.bytes = cached.estimate_bytes();
        let mut dropped = Vec::new();
        let mut e = self.lock();
        dropped.extend(e.remove(&key));
        if self.capacity == 0 || cached.bytes > self.budget {
            e.evicted += 1;
            drop(e);
            return;
        }
        e.clock += 1;
        cached.used = e.clock;
        e.bytes += cached.bytes;
        e.map.insert(key, cached);
        while e.map.len() > self.capacity || e.bytes > self.budget {
            let oldest = e
                .map
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(k, _)| k.clone());
            let Some(old) = oldest.and_then(|k| e.remove(&k)) else {
                break;
            };
            dropped.push(old);
            e.evicted += 1;
        }
        drop(e);
        drop(dropped);
    }

    /// Record a snapshot's size measured from the document at op count `ops`, if the cache
    /// holds the document and no later measure.
    pub fn measured(&self, key: &DocKey, ops: i64, len: usize) {
        let mut e = self.lock();
        let Some(c) = e.map.get_mut(key).filter(|c| c.snapshot.at <= ops) else {
            return;
        };
        c.snapshot = SnapshotMeasure { len, at: ops };
        // A whole document's estimate follows its snapshot's size.
        let (before, after) = (c.bytes, c.estimate_bytes());
        c.bytes = after;
        e.bytes = e.bytes - before + after;
    }

    pub fn usage(&self) -> CacheUse {
        let e = self.lock();
        CacheUse {
            entries: e.map.len(),
            bytes: e.bytes,
            evicted: e.evicted,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A document row without its snapshot: what a sync reads first, with the row locked.
#[derive(Debug, Clone)]
pub struct DocMeta {
    pub fingerprint: i64,
    pub ops: i64,
    pub state_ops: i64,
    pub head: Option<Vec<u8>>,
}

pub async fn meta(
    db: &impl ConnectionTrait,
    key: &DocKey,
    lock_row: bool,
) -> ApiResult<Option<DocMeta>> {
    let mut q = documents::Entity::find_by_id((key.directive.clone(), key.unit.clone()))
        .select_only()
        .columns([
            documents::Column::Fingerprint,
            documents::Column::Ops,
            documents::Column::StateOps,
            documents::Column::Head,
        ]);
    if lock_row {
        q = q.lock_exclusive();
    }
    Ok(q.into_tuple::<(i64, i64, i64, Option<Vec<u8>>)>()
        .one(db)
        .await?
        .map(|(fingerprint, ops, state_ops, head)| DocMeta {
            fingerprint,
            ops,
            state_ops,
            head,
        }))
}

/// The document `meta` describes: taken out of the cache when it holds that version (`true`),
/// else decoded from the row (`false`). The caller puts it back once done with it.
pub async fn take_or_load(
    db: &impl ConnectionTrait,
    cache: &DocCache,
    key: &DocKey,
    meta: &DocMeta,
) -> ApiResult<(Cached, bool)> {
    if let Some(c) = cache.take(key, meta.ops, meta.fingerprint) {
        return Ok((c, true));
    }
    let bytes = state_bytes(db, key).await?;
    let (doc, log) = load(
        db,
        key,
        &bytes,
        meta.state_ops,
        meta.ops,
        meta.head.as_deref(),
    )
    .await?;
    // The stored snapshot holds the first `state_ops` operations.
    let measure = SnapshotMeasure {
        len: bytes.len(),
        at: meta.state_ops,
    };
    let mut cached = Cached::new(
        meta.ops,
        meta.fingerprint,
        BoundedDocument::new(doc),
        measure,
        log,
    );
    cached.shed_if_large(cache.whole_limit());
    Ok((cached, false))
}

/// Decode a stored document: its snapshot, then the op log's changes past it up to `head`,
/// which are also returned as a [`ChangeLog`].
pub async fn load(
    db: &impl ConnectionTrait,
    key: &DocKey,
    state: &[u8],
    state_ops: i64,
    ops: i64,
    head: Option<&[u8]>,
) -> ApiResult<(UnitDocument, ChangeLog)> {
    let canonical = wire::decode_snapshot(state).map_err(ApiError::internal)?;
    let mut doc = UnitDocument::from_canonical(canonical).map_err(ApiError::internal)?;
    let mut log = ChangeLog::starting_at(doc.version().dots.clone());
    if ops > state_ops {
        let head = head.ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "document {}/{}: {} operations past the snapshot but no head",
                key.directive,
                key.unit,
                ops - state_ops
            ))
        })?;
        let head = wire::decode_version(head).map_err(ApiError::internal)?;
        let from = doc.version().dots.clone();
        for body in change_bodies_between(db, key, &from, &head).await? {
            let c = wire::decode_change(&body).map_err(ApiError::internal)?;
            doc.apply_ops(c.actor, c.start, &c.ops)
                .map_err(ApiError::internal)?;
            log.push(c.actor, c.end(), body.into());
        }
        if doc.version().dots != head {
            return Err(ApiError::internal(anyhow::anyhow!(
                "document {}/{}: the op log does not reach the stored head",
                key.directive,
                key.unit
            )));
        }
    }
    Ok((doc, log))
}

/// Decode a whole stored row (readers: progress, the unit progress API, the dashboard).
pub async fn load_row(
    db: &impl ConnectionTrait,
    row: &documents::Model,
) -> ApiResult<UnitDocument> {
    let key = DocKey {
        directive: row.directive_id.clone(),
        unit: row.unit_id.clone(),
    };
    load(
        db,
        &key,
        &row.state,
        row.state_ops,
        row.ops,
        row.head.as_deref(),
    )
    .await
    .map(|(doc, _)| doc)
}

/// A whole document (bodies included) as stored now, and its op count; `None` if there is no
/// such document. What snapshot answers and compaction are made from.
pub async fn load_whole(
    db: &impl ConnectionTrait,
    key: &DocKey,
) -> ApiResult<Option<(UnitDocument, i64)>> {
    let Some(row) = documents::Entity::find_by_id((key.directive.clone(), key.unit.clone()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let doc = load_row(db, &row).await?;
    Ok(Some((doc, row.ops)))
}

/// A document's snapshot encoded from the whole stored document (the stored snapshot and the
/// op log past it), and the op count it holds; `None` if there is no such document. The
/// whole document is decoded here and let go at once.
pub async fn encode_whole(
    db: &impl ConnectionTrait,
    key: &DocKey,
) -> ApiResult<Option<(Vec<u8>, i64)>> {
    let Some((doc, ops)) = load_whole(db, key).await? else {
        return Ok(None);
    };
    Ok(Some((wire::encode_snapshot(&doc.to_canonical()), ops)))
}

/// Store a snapshot holding the first `ops` operations, if the row's is older (so server
/// processes storing snapshots of the same document at once agree). Whether it was stored.
pub async fn store_snapshot(
    db: &impl ConnectionTrait,
    key: &DocKey,
    state: Vec<u8>,
    ops: i64,
) -> ApiResult<bool> {
    let done = documents::Entity::update_many()
        .col_expr(documents::Column::State, Expr::value(state))
        .col_expr(documents::Column::StateOps, Expr::value(ops))
        .filter(documents::Column::DirectiveId.eq(key.directive.as_str()))
        .filter(documents::Column::UnitId.eq(key.unit.as_str()))
        .filter(documents::Column::StateOps.lt(ops))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// The snapshot bytes of a document.
pub async fn state_bytes(db: &impl ConnectionTrait, key: &DocKey) -> ApiResult<Vec<u8>> {
    documents::Entity::find_by_id((key.directive.clone(), key.unit.clone()))
        .select_only()
        .column(documents::Column::State)
        .into_tuple::<Vec<u8>>()
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {}/{}", key.directive, key.unit)))
}

/// The logged changes of a document past `from` and up to `to`, per actor, in one query,
/// in actor and sequence order, as the op log stores them (`wire::encode_change`), not decoded: a
/// sync's answer is assembled from them as they are.
pub async fn change_bodies_between(
    db: &impl ConnectionTrait,
    key: &DocKey,
    from: &BTreeMap<ActorId, u64>,
    to: &BTreeMap<ActorId, u64>,
) -> ApiResult<Vec<Vec<u8>>> {
    let mut wanted = Condition::any();
    let mut any = false;
    for (&a, &have) in to {
        let theirs = from.get(&a).copied().unwrap_or(0);
        if have <= theirs {
            continue;
        }
        any = true;
        wanted = wanted.add(
            Condition::all()
                .add(changes::Column::ActorId.eq(i32::try_from(a).unwrap_or(i32::MAX)))
                .add(changes::Column::EndSeq.gt(i64::try_from(theirs).unwrap_or(i64::MAX)))
                .add(changes::Column::EndSeq.lte(i64::try_from(have).unwrap_or(i64::MAX))),
        );
    }
    if !any {
        return Ok(Vec::new());
    }
    let rows = changes::Entity::find()
        .select_only()
        .column(changes::Column::Body)
        .filter(changes::Column::DirectiveId.eq(key.directive.as_str()))
        .filter(changes::Column::UnitId.eq(key.unit.as_str()))
        .filter(wanted)
        .order_by_asc(changes::Column::ActorId)
        .order_by_asc(changes::Column::StartSeq)
        .into_tuple::<Vec<u8>>()
        .all(db)
        .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use taskforce_core::doc::DocHeader;

    use super::*;

    fn key(u: &str) -> DocKey {
        DocKey {
            directive: "d".into(),
            unit: u.into(),
        }
    }

    fn cached(ops: i64) -> Cached {
        let header = DocHeader {
            directive: "d".into(),
            unit: "u".into(),
            tasks: Vec::new(),
        };
        Cached::new(
            ops,
            7,
            BoundedDocument::new(UnitDocument::new(header)),
            SnapshotMeasure { len: 0, at: 0 },
            ChangeLog::default(),
        )
    }

    fn body(actor: ActorId, end: u64, len: usize) -> Arc<[u8]> {
        let mut b = vec![u8::try_from(actor).unwrap_or(0); len];
        b[0] = u8::try_from(end).unwrap_or(0);
        b.into()
    }

    fn ends(bodies: &[Arc<[u8]>]) -> Vec<(u8, u8)> {
        bodies.iter().map(|b| (b[1], b[0])).collect()
    }

    #[test]
    fn the_change_log_answers_what_a_device_lacks_or_says_it_cannot() {
        // Actor 1 had 2 operations and actor 2 none in the snapshot the log starts from.
        let mut log = ChangeLog::starting_at(BTreeMap::from([(1, 2)]));
        log.push(2, 3, body(2, 3, 10));
        log.push(1, 5, body(1, 5, 10));
        log.push(2, 4, body(2, 4, 10));
        log.push(1, 9, body(1, 9, 10));
        // Ordered by actor and sequence, as the op log gives them.
        assert_eq!(
            log.past(&BTreeMap::from([(1, 2)])).map(|b| ends(&b)),
            Some(vec![(1, 5), (1, 9), (2, 3), (2, 4)])
        );
        assert_eq!(
            log.past(&BTreeMap::from([(1, 5), (2, 3)]))
                .map(|b| ends(&b)),
            Some(vec![(1, 9), (2, 4)])
        );
        assert_eq!(
            log.past(&BTreeMap::from([(1, 9), (2, 4), (3, 1)]))
                .map(|b| ends(&b)),
            Some(vec![])
        );
        // A device without actor 1's first two operations: they are only in the op log.
        assert_eq!(log.past(&BTreeMap::new()), None);
        assert_eq!(log.past(&BTreeMap::from([(1, 1), (2, 4)])), None);
    }

    #[test]
    fn the_change_log_drops_its_oldest_past_its_budget() {
        let mut log = ChangeLog::default();
        let big = CHANGE_LOG_BYTES / 3;
        log.push(1, 10, body(1, 10, big));
        log.push(2, 5, body(2, 5, big));
        log.push(1, 20, body(1, 20, big));
        assert_eq!(log.bytes(), 3 * big);
        log.push(2, 8, body(2, 8, big));
        assert_eq!(log.bytes(), 3 * big, "the oldest change went");
        // Actor 1's first change is gone: a device that lacks it reads the op log.
        assert_eq!(log.past(&BTreeMap::from([(2, 8)])), None);
        assert_eq!(
            log.past(&BTreeMap::from([(1, 10)])).map(|b| ends(&b)),
            Some(vec![(1, 20), (2, 5), (2, 8)])
        );
    }

    #[test]
    fn take_only_returns_the_version_the_row_describes() {
        let cache = DocCache::new(4, usize::MAX, usize::MAX);
        cache.put(key("a"), cached(3));
        assert!(cache.take(&key("a"), 4, 7).is_none(), "stale op count");
        assert!(cache.is_empty(), "a stale entry is dropped, not kept");
        cache.put(key("a"), cached(3));
        assert!(cache.take(&key("a"), 3, 8).is_none(), "other fingerprint");
        cache.put(key("a"), cached(3));
        assert_eq!(cache.take(&key("a"), 3, 7).map(|c| c.ops), Some(3));
        assert!(cache.take(&key("a"), 3, 7).is_none(), "taken out");
    }

    #[test]
    fn least_recently_used_is_evicted() {
        let cache = DocCache::new(2, usize::MAX, usize::MAX);
        cache.put(key("a"), cached(1));
        cache.put(key("b"), cached(1));
        let a = cache.take(&key("a"), 1, 7);
        assert!(a.is_some());
        if let Some(a) = a {
            cache.put(key("a"), a);
        }
        cache.put(key("c"), cached(1));
        assert_eq!(cache.len(), 2);
        assert!(cache.take(&key("b"), 1, 7).is_none(), "b was the oldest");
        assert!(cache.take(&key("a"), 1, 7).is_some());
        assert!(cache.take(&key("c"), 1, 7).is_some());
        let none = DocCache::new(0, usize::MAX, usize::MAX);
        none.put(key("a"), cached(1));
        assert!(none.is_empty(), "capacity 0 turns the cache off");
    }

    /// A cached document whose change log holds `bytes` bytes.
    fn logged(ops: i64, bytes: usize) -> Cached {
        let mut c = cached(ops);
        if bytes > 0 {
            c.log.push(1, 1, vec![0u8; bytes].into());
        }
        c
    }

    #[test]
    fn without_bodies_the_estimate_grows_with_tasks_and_devices_not_history() -> ApiResult<()> {
        use taskforce_core::{
            directive::Role,
            doc::{HeaderTask, Op, TaskField, TaskRef},
        };
        let header = DocHeader {
            directive: "d".into(),
            unit: "u".into(),
            tasks: (0..10)
                .map(|i| HeaderTask {
                    clause: format!("C{i}"),
                    role: Role::Lead,
                })
                .collect(),
        };
        let mut c = cached(0);
        c.doc = Arc::new(BoundedDocument::new(UnitDocument::new(header)));
        // Whole: per task and per byte of its snapshot.
        c.snapshot = SnapshotMeasure { len: 1_000, at: 0 };
        assert_eq!(
            c.estimate_bytes(),
            10 * BYTES_PER_TASK + 1_000 * BYTES_PER_SNAPSHOT_BYTE + ENTRY_BYTES
        );
        assert!(c.doc.is_whole());
        c.shed_if_large(20_000);
        assert!(c.doc.is_whole(), "within the bound");
        c.shed_if_large(10_000);
        assert!(!c.doc.is_whole(), "past the bound, the bodies go");
        assert_eq!(c.estimate_bytes(), 10 * BYTES_PER_TASK + ENTRY_BYTES);
        let set = |task, p| Op::Set {
            task: TaskRef::Assigned(task),
            value: TaskField::Progress(p),
            ctx: Vec::new(),
        };
        let doc = Arc::make_mut(&mut c.doc);
        doc.apply_ops(1, 1, &[set(0, 10)])
            .map_err(ApiError::internal)?;
        doc.apply_ops(2, 1, &[set(1, 10)])
            .map_err(ApiError::internal)?;
        let two_devices = c.estimate_bytes();
        assert_eq!(
            two_devices,
            12 * (BYTES_PER_TASK + 2 * BYTES_PER_TASK_ACTOR) + ENTRY_BYTES
        );
        // A thousand more edits of the same tasks by the same devices: the same estimate.
        for seq in 2..=1_001u64 {
            let p = u8::try_from(seq % 100).unwrap_or(0);
            Arc::make_mut(&mut c.doc)
                .apply_ops(1, seq, &[set(0, p)])
                .map_err(ApiError::internal)?;
        }
        assert_eq!(c.estimate_bytes(), two_devices);
        Ok(())
    }

    #[test]
    fn the_byte_budget_bounds_the_cache() {
        let one = logged(100, 100_000).estimate_bytes();
        assert_eq!(one, 100_000 + ENTRY_BYTES, "no tasks: its change log");
        // Room for two and a half such documents.
        let cache = DocCache::new(100, one * 5 / 2, usize::MAX);
        cache.put(key("a"), logged(100, 100_000));
        cache.put(key("b"), logged(100, 100_000));
        assert_eq!(cache.usage().bytes, 2 * one);
        cache.put(key("c"), logged(100, 100_000));
        let usage = cache.usage();
        assert_eq!((usage.entries, usage.bytes, usage.evicted), (2, 2 * one, 1));
        assert!(cache.take(&key("a"), 100, 7).is_none(), "a was the oldest");
        // Taking a document out frees its share; putting back a grown one counts its growth.
        let b = cache.take(&key("b"), 100, 7);
        assert_eq!(cache.usage().bytes, one);
        if let Some(mut b) = b {
            b.ops = 150;
            b.log.push(2, 1, vec![0u8; 50_000].into());
            cache.put(key("b"), b);
        }
        assert_eq!(cache.usage().bytes, one + one + 50_000);
        assert!(cache.usage().bytes <= one * 5 / 2);
        // A new measure of a whole document's snapshot replaces its estimate.
        cache.measured(&key("b"), 150, 50_000);
        assert_eq!(
            cache.usage().bytes,
            one + 150_000 + 50_000 * BYTES_PER_SNAPSHOT_BYTE + ENTRY_BYTES
        );
        // A document larger than the whole budget is not kept.
        cache.put(key("d"), logged(100, 3 * one));
        let usage = cache.usage();
        assert_eq!((usage.entries, usage.evicted), (2, 2));
        assert!(cache.take(&key("d"), 100, 7).is_none());
        assert!(cache.take(&key("c"), 100, 7).is_some());
    }

    #[test]
    fn a_later_measure_replaces_an_earlier_one() {
        let cache = DocCache::new(4, usize::MAX, usize::MAX);
        cache.put(key("a"), cached(500));
        cache.measured(&key("a"), 400, 4_000);
        cache.measured(&key("a"), 300, 9_000);
        let a = cache.take(&key("a"), 500, 7);
        assert_eq!(
            a.map(|a| (a.snapshot.len, a.snapshot.at)),
            Some((4_000, 400))
        );
    }

    #[test]
    fn snapshot_pricing_scales_the_last_measure() {
        let m = SnapshotMeasure {
            len: 10_000,
            at: 1_000,
        };
        assert!(!m.worth_pricing(1_000, 9_000), "the snapshot was larger");
        assert!(m.worth_pricing(1_000, 11_000));
        // Doubled since measured: about 20,000 bytes now.
        assert!(!m.worth_pricing(2_000, 11_000));
        assert!(m.worth_pricing(2_000, 21_000));
        let fresh = SnapshotMeasure { len: 0, at: 0 };
        assert!(
            !fresh.worth_pricing(0, 100),
            "small answers are never priced"
        );
        assert!(fresh.worth_pricing(10, 10_000));
    }

    #[test]
    fn snapshots_are_rewritten_when_the_tail_is_long() {
        assert!(!snapshot_due(10, 0));
        assert!(snapshot_due(SNAPSHOT_MIN_TAIL, 0));
        assert!(!snapshot_due(100_000 + SNAPSHOT_MIN_TAIL, 100_000));
        assert!(snapshot_due(150_000, 100_000));
    }
}
