//! One transaction for a batch of syncs: open each document (locked on PostgreSQL), check
//! and apply each sync's changes through mobile-core's one rule, store the op-log rows (each
//! the next link of its document's audit chain, `sync::audit`), the documents' heads (and
//! chain heads) and snapshots, and the projections.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use taskforce_core::{
    doc::check_room,
    sync::{
        DocKey, admit_changes, apply_checked,
        audit::{self, GENESIS, Hash},
        check_changes, wire,
    },
};

use super::{
    WriteContext, WriteJob, Written,
    projections::{
        Touched, confirmation_rows_of, drop_task_rows, store_confirmation_states, store_rows,
        task_rows_of, touch,
    },
};
use crate::{
    clock::now,
    db::entity::{changes, documents},
    docstore::{self, Cached, DocMeta, SnapshotMeasure},
    error::{ApiError, ApiResult},
    events::{self, Change, Event},
    telemetry::metrics::Metrics,
};

/// A document the batch writes to, decoded, with what the batch did to it.
struct Slot {
    meta: DocMeta,
    entry: Cached,
    applied: usize,
    rows: Vec<changes::ActiveModel>,
    touched: Touched,
    /// The audit chain's length and last hash, moved on by every row of `rows`.
    chain_len: i64,
    chain_head: Hash,
}

/// Write `jobs` in one transaction; one result per job, in order. Only the writer task calls
/// it in a server (tests call it directly): it is the process's one writer.
pub async fn write_batch(ctx: &WriteContext, jobs: Vec<WriteJob>) -> Vec<ApiResult<Written>> {
    write_batch_due(ctx, jobs, Vec::new()).await.0
}

/// A rewritten snapshot to store: document, encoded state, the op count it holds.
pub(super) type NewSnapshot = (DocKey, Vec<u8>, i64);

/// [`write_batch`] with rewritten snapshots to store in the same transaction; also returns
/// the documents whose snapshot is now due to be rewritten.
pub(super) async fn write_batch_due(
    ctx: &WriteContext,
    jobs: Vec<WriteJob>,
    snapshots: Vec<NewSnapshot>,
) -> (Vec<ApiResult<Written>>, Vec<DocKey>) {
    let n = jobs.len();
    match try_batch(ctx, &jobs, snapshots).await {
        Ok(done) => done,
        Err(e) => {
            let cause = match &e {
                ApiError::Internal(cause) => format!("{cause:#}"),
                other => other.to_string(),
            };
            tracing::error!(error = %cause, syncs = n, "a sync write failed; nothing of it was stored");
            let message = e.to_string();
            let failed = (0..n)
                .map(|_| {
                    // A full or read-only storage says so (the phones retry later).
                    Err(e.storage_fault().unwrap_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("the write failed: {message}"))
                    }))
                })
                .collect();
            (failed, Vec::new())
        }
    }
}

type Done = (Vec<ApiResult<Written>>, Vec<DocKey>);

async fn try_batch(
    ctx: &WriteContext,
    jobs: &[WriteJob],
    snapshots: Vec<NewSnapshot>,
) -> ApiResult<Done> {
    let lock_rows = ctx.backend() == DatabaseBackend::Postgres;
    // IMMEDIATE on SQLite: a sign-in, a registration or the CLI may be writing too.
    let began = std::time::Instant::now();
    let txn = crate::db::begin_write(&ctx.db).await?;
    let mut slots: BTreeMap<DocKey, Result<Slot, Unwritable>> = BTreeMap::new();
    let mut outcomes: Vec<ApiResult<()>> = Vec::with_capacity(jobs.len());
    // Rows are locked in key order, so two server processes' batches never wait on each other
    // in a circle: the rows of the documents written and of the snapshots stored.
    let written: BTreeSet<&DocKey> = jobs.iter().map(|j| &j.key).collect();
    let keys: BTreeSet<&DocKey> = written
        .iter()
        .copied()
        .chain(snapshots.iter().map(|(k, _, _)| k))
        .collect();
    for key in keys {
        if written.contains(key) {
            let slot = open_slot(ctx, &txn, key, lock_rows).await?;
            slots.insert(key.clone(), slot);
        } else if lock_rows {
            docstore::meta(&txn, key, true).await?;
        }
    }
    for job in jobs {
        outcomes.push(match slots.get_mut(&job.key) {
            Some(Ok(slot)) => {
                let held = held_resends(&txn, slot, job).await?;
                apply_job(slot, job, &held)?
            }
            Some(Err(Unwritable::Missing)) | None => Err(ApiError::NotFound(format!(
                "document {}/{}",
                job.key.directive, job.key.unit
            ))),
            Some(Err(Unwritable::Broken(why))) => Err(ApiError::internal(anyhow::anyhow!(
                "document {}/{} cannot be loaded: {why}",
                job.key.directive,
                job.key.unit
            ))),
        });
    }

    let t = now();
    let today = chrono::Utc::now().date_naive();
    let mut change_rows = Vec::new();
    let mut task_rows = Vec::new();
    let mut unlisted_tasks = Vec::new();
    let mut report_rows = Vec::new();
    let mut confirmation_rows = Vec::new();
    let mut verification_rows = Vec::new();
    let mut confirmation_states = Vec::new();
    let mut due = Vec::new();
    let mut changed = Vec::new();
    for (key, slot) in slots.iter_mut() {
        let Some(slot) = slot.as_mut().ok().filter(|s| s.applied > 0) else {
            continue;
        };
        let ops = slot.meta.ops + i64::try_from(slot.applied).unwrap_or(0);
        changed.push(Change {
            directive: key.directive.clone(),
            unit: key.unit.clone(),
            ops,
        });
        let doc = &slot.entry.doc;
        let mut update = documents::Entity::update_many()
            .col_expr(documents::Column::Ops, Expr::value(ops))
            .col_expr(documents::Column::UpdatedAt, Expr::value(t))
            .col_expr(
                documents::Column::Head,
                Expr::value(wire::encode_version(&doc.version().dots)),
            )
            .col_expr(documents::Column::ChainLen, Expr::value(slot.chain_len))
            .col_expr(
                documents::Column::ChainHead,
                Expr::value(slot.chain_head.to_vec()),
            );
        if docstore::snapshot_due(ops, slot.meta.state_ops) {
            match slot.entry.doc.whole() {
                // Small enough to be kept whole: its snapshot is encoded here, as it is.
                Some(whole) => {
                    let snapshot = wire::encode_snapshot(&whole.to_canonical());
                    slot.entry.snapshot = SnapshotMeasure {
                        len: snapshot.len(),
                        at: ops,
                    };
                    Metrics::add(&ctx.metrics.snapshots_stored, 1);
                    update = update
                        .col_expr(documents::Column::State, Expr::value(snapshot))
                        .col_expr(documents::Column::StateOps, Expr::value(ops));
                }
                None => due.push(key.clone()),
            }
        }
        update
            .filter(documents::Column::DirectiveId.eq(key.directive.as_str()))
            .filter(documents::Column::UnitId.eq(key.unit.as_str()))
            .exec(&txn)
            .await?;
        Metrics::add(&ctx.metrics.ops_applied, slot.applied as u64);
        Metrics::add(&ctx.metrics.changes_stored, slot.rows.len() as u64);
        Metrics::add(&ctx.metrics.documents_written, 1);
        // The server's seal on the document's last row of the batch: it covers the chain up
        // to there (decision 32), one signature per document per batch.
        if let Some(last) = slot.rows.last_mut() {
            last.seal = Set(Some(ctx.audit_key.seal(
                &key.directive,
                &key.unit,
                slot.chain_len - 1,
                &slot.chain_head,
            )));
        }
        change_rows.append(&mut slot.rows);
        let (rows, gone) = task_rows_of(doc, key, &slot.touched.tasks, today, t);
        task_rows.extend(rows);
        if !gone.is_empty() {
            unlisted_tasks.push((key.clone(), gone));
        }
        let (rows, states) = confirmation_rows_of(doc, key, &slot.touched.confirmations);
        confirmation_rows.extend(rows);
        confirmation_states.extend(states);
        report_rows.append(&mut slot.touched.reports);
        verification_rows.append(&mut slot.touched.verifications);
        slot.entry.ops = ops;
        slot.entry.shed_if_large(ctx.docs.whole_limit());
    }
    if !change_rows.is_empty() {
        Metrics::add(&ctx.metrics.change_batches, 1);
    }
    Metrics::add(&ctx.metrics.task_rows_written, task_rows.len() as u64);
    Metrics::add(
        &ctx.metrics.event_rows_written,
        (report_rows.len() + confirmation_rows.len() + verification_rows.len()) as u64,
    );
    store_rows(
        &txn,
        change_rows,
        task_rows,
        report_rows,
        confirmation_rows,
        verification_rows,
    )
    .await?;
    drop_task_rows(&txn, unlisted_tasks).await?;
    store_confirmation_states(&txn, confirmation_states).await?;
    let mut stored = Vec::new();
    for (key, snapshot, ops) in snapshots {
        let len = snapshot.len();
        if docstore::store_snapshot(&txn, &key, snapshot, ops).await? {
            stored.push((key, SnapshotMeasure { len, at: ops }));
        }
    }
    // PostgreSQL tells every replica when (and only if) this commits.
    events::notify_in(&txn, &changed).await?;
    txn.commit().await?;
    if !lock_rows {
        for c in changed {
            ctx.events.publish(Event::Change(Arc::new(c)));
        }
    }
    for (key, measure) in stored {
        Metrics::add(&ctx.metrics.snapshots_stored, 1);
        ctx.docs.measured(&key, measure.at, measure.len);
    }
    Metrics::add(&ctx.metrics.write_batches, 1);
    ctx.metrics
        .batch_written(jobs.len(), began.elapsed().as_secs_f64());

    let results = jobs
        .iter()
        .zip(outcomes)
        .map(|(job, outcome)| {
            outcome?;
            let slot = slots
                .get(&job.key)
                .and_then(|s| s.as_ref().ok())
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("a written document went missing"))
                })?;
            let entry = &slot.entry;
            let missing = entry.log.past(&job.vv);
            let may_snapshot = entry.doc.is_whole()
                && missing.as_ref().is_none_or(|m| {
                    entry
                        .snapshot
                        .worth_pricing(entry.ops, docstore::changes_len(m))
                });
            Ok(Written {
                version: entry.doc.version().dots.clone(),
                doc: may_snapshot.then(|| entry.doc.clone()),
                ops: entry.ops,
                measure: entry.snapshot,
                missing,
            })
        })
        .collect();
    let mut directives = BTreeSet::new();
    for (key, slot) in slots {
        let Ok(slot) = slot else { continue };
        if slot.applied > 0 {
            directives.insert(key.directive.clone());
        }
        ctx.docs.put(key, slot.entry);
    }
    for directive in directives {
        // Still under the write lock: on SQLite it is what keeps writers apart.
        crate::progress::maybe_record_history(&ctx.db, &ctx.history_recorded, &directive).await;
    }
    Ok((results, due))
}

/// Why a batch's document cannot be written.
enum Unwritable {
    Missing,
    /// Its row does not decode: the syncs to it are refused, the rest of the batch goes on.
    Broken(String),
}

/// Read a document's row (locked on PostgreSQL) and take its decoded document. `Err` only
/// when the database fails, which fails the batch.
async fn open_slot(
    ctx: &WriteContext,
    txn: &impl ConnectionTrait,
    key: &DocKey,
    lock_rows: bool,
) -> ApiResult<Result<Slot, Unwritable>> {
    let Some(meta) = docstore::meta(txn, key, lock_rows).await? else {
        return Ok(Err(Unwritable::Missing));
    };
    // The chain's head, from the row just read (and locked on PostgreSQL: another
    // replica's writer waits for this transaction, so chains never fork).
    let chain_len = meta.chain_len;
    let chain_head = match &meta.chain_head {
        None => GENESIS,
        Some(bytes) => match Hash::try_from(bytes.as_slice()) {
            Ok(h) => h,
            Err(_) => {
                tracing::error!(directive = %key.directive, unit = %key.unit,
                    "a document's audit chain head is not a hash");
                return Ok(Err(Unwritable::Broken(
                    "its audit chain head is not a 32-byte hash".into(),
                )));
            }
        },
    };
    let (entry, hit) = match docstore::take_or_load(txn, &ctx.docs, key, &meta).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(directive = %key.directive, unit = %key.unit, error = ?e,
                "a stored document cannot be loaded");
            return Ok(Err(Unwritable::Broken(format!("{e:?}"))));
        }
    };
    Metrics::add(
        if hit {
            &ctx.metrics.doc_cache_hits
        } else {
            &ctx.metrics.doc_cache_misses
        },
        1,
    );
    Ok(Ok(Slot {
        meta,
        entry,
        applied: 0,
        rows: Vec::new(),
        touched: Touched::default(),
        chain_len,
        chain_head,
    }))
}

/// The encoded bodies of the job's changes that start within what the document holds and
/// are, byte for byte, a change already stored (an honest resend): from this batch's rows,
/// the document's in-memory log, or else the op log. Any other change starting within what
/// is held re-uses sequence numbers, and `admit_changes` refuses it.
async fn held_resends(
    txn: &impl ConnectionTrait,
    slot: &Slot,
    job: &WriteJob,
) -> ApiResult<BTreeSet<Vec<u8>>> {
    let mut held = BTreeSet::new();
    let mut unknown: BTreeMap<(i32, i64), Vec<u8>> = BTreeMap::new();
    for c in &job.changes {
        if c.ops.is_empty() || c.start == 0 || c.start > slot.entry.doc.version().get(&c.actor) {
            continue;
        }
        let body = wire::encode_change(c);
        let in_memory = slot.rows.iter().any(|r| match &r.body {
            sea_orm::ActiveValue::Set(b) | sea_orm::ActiveValue::Unchanged(b) => *b == body,
            sea_orm::ActiveValue::NotSet => false,
        }) || slot.entry.log.holds(c.actor, c.end(), &body);
        if in_memory {
            held.insert(body);
        } else if let (Ok(actor), Ok(start)) = (i32::try_from(c.actor), i64::try_from(c.start)) {
            unknown.insert((actor, start), body);
        }
    }
    if unknown.is_empty() {
        return Ok(held);
    }
    // The rest from the op log, in one query (a request carries at most
    // `wire::MAX_REQUEST_CHANGES` changes).
    let actors: BTreeSet<i32> = unknown.keys().map(|(a, _)| *a).collect();
    let starts: BTreeSet<i64> = unknown.keys().map(|(_, s)| *s).collect();
    let rows = changes::Entity::find()
        .filter(changes::Column::DirectiveId.eq(job.key.directive.as_str()))
        .filter(changes::Column::UnitId.eq(job.key.unit.as_str()))
        .filter(changes::Column::ActorId.is_in(actors))
        .filter(changes::Column::StartSeq.is_in(starts))
        .all(txn)
        .await?;
    for row in rows {
        if unknown.get(&(row.actor_id, row.start_seq)) == Some(&row.body) {
            held.insert(row.body);
        }
    }
    Ok(held)
}

/// Check every change of a job against the document, then apply them all; a refused job
/// leaves the document as it was (`Ok(Err(…))`). `Err` only if a checked change then fails to
/// apply, which fails the whole batch rather than leave a half-applied document. `held`: the
/// bodies of its changes that are resends of stored ones ([`held_resends`]).
fn apply_job(
    slot: &mut Slot,
    job: &WriteJob,
    held: &BTreeSet<Vec<u8>>,
) -> ApiResult<ApiResult<()>> {
    if u64::from_ne_bytes(slot.meta.fingerprint.to_ne_bytes()) != job.fingerprint {
        return Ok(Err(ApiError::Conflict(
            "the device's copy of the directive differs from the server's: download it again"
                .into(),
        )));
    }
    // mobile-core's one rule (`sync::accept`): checked on the shared copy, so a refused
    // sync copies nothing; then applied, each change noted for the projections and the log.
    let doc = &*slot.entry.doc;
    let admitted = admit_changes(doc, &job.changes, |c| {
        held.contains(&wire::encode_change(c))
    });
    let checked = admitted
        .and_then(|()| check_changes(doc, &job.changes))
        .and_then(|()| check_room(doc, &job.changes));
    if let Err(e) = checked {
        return Ok(Err(e.into()));
    }
    let (directive, unit) = (&job.key.directive, &job.key.unit);
    let t = now();
    let Slot {
        entry,
        applied: total,
        rows,
        touched,
        chain_len,
        chain_head,
        ..
    } = slot;
    let doc = Arc::make_mut(&mut entry.doc);
    let log = &mut entry.log;
    apply_checked(doc, &job.changes, |c, applied| {
        touch(touched, directive, unit, c, applied.before);
        if applied.applied == 0 {
            return;
        }
        *total += applied.applied;
        let body = wire::encode_change(c);
        log.push(c.actor, c.end(), body.as_slice().into());
        let actor = i32::try_from(c.actor).unwrap_or(i32::MAX);
        let start = i64::try_from(c.start).unwrap_or(i64::MAX);
        let end = i64::try_from(c.end()).unwrap_or(i64::MAX);
        // The next link of the audit chain (`sync::audit`): over the previous hash and
        // exactly the columns stored.
        let hash = audit::entry_hash(
            chain_head,
            &audit::Link {
                directive,
                unit,
                position: *chain_len,
                actor: i64::from(actor),
                start,
                end,
                received_at: t,
                body: &body,
            },
        );
        rows.push(changes::ActiveModel {
            directive_id: Set(directive.clone()),
            unit_id: Set(unit.clone()),
            actor_id: Set(actor),
            start_seq: Set(start),
            end_seq: Set(end),
            body: Set(body),
            received_at: Set(t),
            position: Set(*chain_len),
            hash: Set(hash.to_vec()),
            seal: Set(None),
        });
        *chain_len += 1;
        *chain_head = hash;
    })
    // Checked above: a failure here is a bug, and fails the batch rather than store a
    // half-applied document.
    .map_err(ApiError::internal)?;
    Ok(Ok(()))
}
