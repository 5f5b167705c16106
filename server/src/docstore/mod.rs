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

mod cache;
mod changelog;
mod policy;

pub use cache::{
    BYTES_PER_CONFIRMATION, BYTES_PER_SNAPSHOT_BYTE, BYTES_PER_TASK, BYTES_PER_TASK_ACTOR, Cached,
    DocCache, ENTRY_BYTES,
};
pub use changelog::{CHANGE_LOG_BYTES, ChangeLog, changes_len};
pub use policy::{SNAPSHOT_MAX_TAIL, SNAPSHOT_MIN_TAIL, SnapshotMeasure, snapshot_due};

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use taskforce_core::{
    doc::{ActorId, BoundedDocument, UnitDocument},
    sync::{DocKey, wire},
};

use crate::{
    db::entity::{changes, documents},
    error::{ApiError, ApiResult},
};

/// A document row without its snapshot: what a sync reads first, with the row locked.
#[derive(Debug, Clone)]
pub struct DocMeta {
    pub fingerprint: i64,
    pub ops: i64,
    pub state_ops: i64,
    pub head: Option<Vec<u8>>,
    /// The audit chain's length and head hash (`None` while the log is empty; decision 32).
    pub chain_len: i64,
    pub chain_head: Option<Vec<u8>>,
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
            documents::Column::ChainLen,
            documents::Column::ChainHead,
        ]);
    if lock_row {
        q = q.lock_exclusive();
    }
    type Row = (i64, i64, i64, Option<Vec<u8>>, i64, Option<Vec<u8>>);
    Ok(q.into_tuple::<Row>().one(db).await?.map(
        |(fingerprint, ops, state_ops, head, chain_len, chain_head)| DocMeta {
            fingerprint,
            ops,
            state_ops,
            head,
            chain_len,
            chain_head,
        },
    ))
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
