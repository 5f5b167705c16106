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

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use taskforce_core::{
    doc::{ActorId, BoundedDocument, Confirmation, ConfirmationState, Op, OpId, TaskRef},
    progress::bounded_task_progress,
    sync::{Change, DocKey, wire},
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    docstore::{self, Cached, DocMeta, SnapshotMeasure},
    entity::{changes, confirmations, documents, insert_chunked, reports, tasks},
    error::{ApiError, ApiResult},
    metrics::Metrics,
    seed::role_str,
    state::{AppState, now},
};

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

/// Write one sync through this process's writer task.
pub async fn write(state: &AppState, job: WriteJob) -> ApiResult<Written> {
    match &state.writer {
        Some(writer) => writer.submit(job).await,
        None => Err(ApiError::internal(anyhow::anyhow!(
            "this copy of the state has no sync writer"
        ))),
    }
}

type Reply = oneshot::Sender<ApiResult<Written>>;

/// What the writer task writes.
#[derive(Debug)]
enum Work {
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
    /// `state` is the writer's own copy, without a writer of its own.
    pub fn spawn(state: AppState) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<Work>();
        let compactor = Compactor::spawn(state.clone(), queue.downgrade());
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
                let (results, due) = write_batch_due(&state, jobs, snapshots).await;
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

    async fn submit(&self, job: WriteJob) -> ApiResult<Written> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(Work::Sync(job, tx))
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the sync writer has stopped")))?;
        rx.await
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the sync writer has stopped")))?
    }
}

/// Rewrites the snapshots of shed documents whose op-log tail grew long, in the background,
/// one document at a time (decision 25): the writer's copy has no bodies to encode, so this
/// task decodes the whole stored document, encodes it and lets it go.
#[derive(Debug, Clone)]
struct Compactor {
    queue: mpsc::UnboundedSender<DocKey>,
    /// Documents asked for and not yet done: each is asked for once however many batches
    /// find it due meanwhile.
    pending: Arc<Mutex<BTreeSet<DocKey>>>,
}

impl Compactor {
    /// The compactor encodes; the writer stores what it encoded (SQLite has one writer: a
    /// second one would make the writer's transactions fail).
    fn spawn(state: AppState, writer: mpsc::WeakUnboundedSender<Work>) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<DocKey>();
        let pending: Arc<Mutex<BTreeSet<DocKey>>> = Arc::default();
        let done = pending.clone();
        tokio::spawn(async move {
            while let Some(key) = rx.recv().await {
                let encoded = docstore::encode_whole(&state.db, &key).await;
                match encoded {
                    Ok(Some((snapshot, ops))) => {
                        let Some(writer) = writer.upgrade() else {
                            break;
                        };
                        // Pending until the writer has stored it.
                        let _ = writer.send(Work::Snapshot {
                            key,
                            state: snapshot,
                            ops,
                        });
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

    fn finished(&self, keys: &[DocKey]) {
        if !keys.is_empty() {
            let mut pending = lock(&self.pending);
            for k in keys {
                pending.remove(k);
            }
        }
    }

    fn request(&self, key: DocKey) {
        if lock(&self.pending).insert(key.clone()) {
            // The task ends only with the writer.
            let _ = self.queue.send(key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A document the batch writes to, decoded, with what the batch did to it.
struct Slot {
    meta: DocMeta,
    entry: Cached,
    applied: usize,
    rows: Vec<changes::ActiveModel>,
    touched: Touched,
}

#[derive(Default)]
struct Touched {
    tasks: BTreeSet<TaskRef>,
    /// With the confirmation's details when this batch brings the `Confirm` itself (the
    /// document in memory does not keep them).
    confirmations: BTreeMap<OpId, Option<Confirmation>>,
    reports: Vec<reports::ActiveModel>,
}

/// Write `jobs` in one transaction; one result per job, in order. Only the writer task calls
/// it in a server (tests call it directly): it is the process's one writer.
pub async fn write_batch(state: &AppState, jobs: Vec<WriteJob>) -> Vec<ApiResult<Written>> {
    write_batch_due(state, jobs, Vec::new()).await.0
}

/// A rewritten snapshot to store: document, encoded state, the op count it holds.
type NewSnapshot = (DocKey, Vec<u8>, i64);

/// [`write_batch`] with rewritten snapshots to store in the same transaction; also returns
/// the documents whose snapshot is now due to be rewritten.
async fn write_batch_due(
    state: &AppState,
    jobs: Vec<WriteJob>,
    snapshots: Vec<NewSnapshot>,
) -> (Vec<ApiResult<Written>>, Vec<DocKey>) {
    let n = jobs.len();
    match try_batch(state, &jobs, snapshots).await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, syncs = n, "a sync write failed; nothing of it was stored");
            let message = e.to_string();
            let failed = (0..n)
                .map(|_| {
                    Err(ApiError::internal(anyhow::anyhow!(
                        "the write failed: {message}"
                    )))
                })
                .collect();
            (failed, Vec::new())
        }
    }
}

type Done = (Vec<ApiResult<Written>>, Vec<DocKey>);

async fn try_batch(
    state: &AppState,
    jobs: &[WriteJob],
    snapshots: Vec<NewSnapshot>,
) -> ApiResult<Done> {
    let lock_rows = state.backend() == DatabaseBackend::Postgres;
    let txn = state.db.begin().await?;
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
            let slot = open_slot(state, &txn, key, lock_rows).await?;
            slots.insert(key.clone(), slot);
        } else if lock_rows {
            docstore::meta(&txn, key, true).await?;
        }
    }
    for job in jobs {
        outcomes.push(match slots.get_mut(&job.key) {
            Some(Ok(slot)) => apply_job(slot, job)?,
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
    let mut report_rows = Vec::new();
    let mut confirmation_rows = Vec::new();
    let mut confirmation_states = Vec::new();
    let mut due = Vec::new();
    for (key, slot) in slots.iter_mut() {
        let Some(slot) = slot.as_mut().ok().filter(|s| s.applied > 0) else {
            continue;
        };
        let ops = slot.meta.ops + i64::try_from(slot.applied).unwrap_or(0);
        let doc = &slot.entry.doc;
        let mut update = documents::Entity::update_many()
            .col_expr(documents::Column::Ops, Expr::value(ops))
            .col_expr(documents::Column::UpdatedAt, Expr::value(t))
            .col_expr(
                documents::Column::Head,
                Expr::value(wire::encode_version(&doc.version().dots)),
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
                    Metrics::add(&state.metrics.snapshots_stored, 1);
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
        Metrics::add(&state.metrics.ops_applied, slot.applied as u64);
        Metrics::add(&state.metrics.changes_stored, slot.rows.len() as u64);
        change_rows.append(&mut slot.rows);
        task_rows.extend(task_rows_of(doc, key, &slot.touched.tasks, today, t));
        let (rows, states) = confirmation_rows_of(doc, key, &slot.touched.confirmations);
        confirmation_rows.extend(rows);
        confirmation_states.extend(states);
        report_rows.append(&mut slot.touched.reports);
        slot.entry.ops = ops;
        slot.entry.shed_if_large(state.docs.whole_limit());
    }
    store_rows(&txn, change_rows, task_rows, report_rows, confirmation_rows).await?;
    store_confirmation_states(&txn, confirmation_states).await?;
    let mut stored = Vec::new();
    for (key, snapshot, ops) in snapshots {
        let len = snapshot.len();
        if docstore::store_snapshot(&txn, &key, snapshot, ops).await? {
            stored.push((key, SnapshotMeasure { len, at: ops }));
        }
    }
    txn.commit().await?;
    for (key, measure) in stored {
        Metrics::add(&state.metrics.snapshots_stored, 1);
        state.docs.measured(&key, measure.at, measure.len);
    }
    Metrics::add(&state.metrics.write_batches, 1);

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
        state.docs.put(key, slot.entry);
    }
    for directive in directives {
        // Still under the write lock: on SQLite it is what keeps writers apart.
        crate::progress::maybe_record_history(&state.db, &state.history_recorded, &directive).await;
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
    state: &AppState,
    txn: &impl ConnectionTrait,
    key: &DocKey,
    lock_rows: bool,
) -> ApiResult<Result<Slot, Unwritable>> {
    let Some(meta) = docstore::meta(txn, key, lock_rows).await? else {
        return Ok(Err(Unwritable::Missing));
    };
    let (entry, hit) = match docstore::take_or_load(txn, &state.docs, key, &meta).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(directive = %key.directive, unit = %key.unit, error = ?e,
                "a stored document cannot be loaded");
            return Ok(Err(Unwritable::Broken(format!("{e:?}"))));
        }
    };
    Metrics::add(
        if hit {
            &state.metrics.doc_cache_hits
        } else {
            &state.metrics.doc_cache_misses
        },
        1,
    );
    Ok(Ok(Slot {
        meta,
        entry,
        applied: 0,
        rows: Vec::new(),
        touched: Touched::default(),
    }))
}

/// Check every change of a job against the document, then apply them all; a refused job
/// leaves the document as it was (`Ok(Err(…))`). `Err` only if a checked change then fails to
/// apply, which fails the whole batch rather than leave a half-applied document.
fn apply_job(slot: &mut Slot, job: &WriteJob) -> ApiResult<ApiResult<()>> {
    if u64::from_ne_bytes(slot.meta.fingerprint.to_ne_bytes()) != job.fingerprint {
        return Ok(Err(ApiError::Conflict(
            "the device's copy of the directive differs from the server's: download it again"
                .into(),
        )));
    }
    let doc = &slot.entry.doc;
    let mut have: BTreeMap<ActorId, u64> = BTreeMap::new();
    for c in &job.changes {
        let h = have
            .entry(c.actor)
            .or_insert_with(|| doc.version().get(&c.actor));
        if let Err(e) = doc.check_ops(*h, c.actor, c.start, &c.ops) {
            return Ok(Err(e.into()));
        }
        *h = (*h).max(c.end());
    }
    let (directive, unit) = (&job.key.directive, &job.key.unit);
    let t = now();
    let doc = Arc::make_mut(&mut slot.entry.doc);
    for c in &job.changes {
        let before = doc.version().get(&c.actor);
        touch(&mut slot.touched, directive, unit, c, before);
        let applied = doc
            .apply_ops(c.actor, c.start, &c.ops)
            .map_err(ApiError::internal)?;
        if applied > 0 {
            slot.applied += applied;
            let body = wire::encode_change(c);
            slot.entry
                .log
                .push(c.actor, c.end(), body.as_slice().into());
            slot.rows.push(changes::ActiveModel {
                directive_id: Set(directive.clone()),
                unit_id: Set(unit.clone()),
                actor_id: Set(i32::try_from(c.actor).unwrap_or(i32::MAX)),
                start_seq: Set(i64::try_from(c.start).unwrap_or(i64::MAX)),
                end_seq: Set(i64::try_from(c.end()).unwrap_or(i64::MAX)),
                body: Set(body),
                received_at: Set(t),
            });
        }
    }
    Ok(Ok(()))
}

/// Note what the operations of `c` past `before` touch: tasks and confirmations to project
/// again, reports to add.
fn touch(touched: &mut Touched, directive: &str, unit: &str, c: &Change, before: u64) {
    for (i, op) in c.ops.iter().enumerate() {
        let id = OpId::new(c.actor, c.start + i as u64);
        if id.seq <= before {
            continue;
        }
        match op {
            Op::Set { task, .. } | Op::Comment { task, .. } | Op::AddEvidence { task, .. } => {
                touched.tasks.insert(*task);
            }
            Op::AddTask { .. } => {
                touched.tasks.insert(TaskRef::Adhoc(id));
            }
            Op::Confirm(c) => {
                touched.confirmations.insert(id, Some(c.clone()));
            }
            Op::SetConfirmation { id: target, .. } => {
                touched.confirmations.entry(*target).or_insert(None);
            }
            Op::Report(r) => touched.reports.push(reports::ActiveModel {
                directive_id: Set(directive.into()),
                unit_id: Set(unit.into()),
                op_id: Set(id.to_string()),
                actor_id: Set(i32::try_from(c.actor).unwrap_or(i32::MAX)),
                period: Set(r.period.clone()),
                text: Set(r.text.clone()),
                figures: Set(serde_json::to_string(
                    &r.figures
                        .iter()
                        .map(|f| (&f.name, f.value))
                        .collect::<Vec<_>>(),
                )
                .unwrap_or_default()),
                at: Set(r.at),
            }),
        }
    }
}

/// The projection rows of the touched tasks, as the document now has them.
fn task_rows_of(
    doc: &BoundedDocument,
    key: &DocKey,
    touched: &BTreeSet<TaskRef>,
    today: chrono::NaiveDate,
    t: i64,
) -> Vec<tasks::ActiveModel> {
    touched
        .iter()
        .map(|&r| {
            let p = bounded_task_progress(doc, r, today);
            tasks::ActiveModel {
                directive_id: Set(key.directive.clone()),
                unit_id: Set(key.unit.clone()),
                task_ref: Set(r.to_string()),
                clause_id: Set(p.clause.clone()),
                role: Set(p.role.map(|x| role_str(x).to_string())),
                title: Set(doc.titles(r).first().cloned()),
                status: Set(p.status.as_str().into()),
                progress: Set(i32::from(p.progress)),
                assignee: Set(Some(doc.assignees(r).join(" / ")).filter(|s| !s.is_empty())),
                due: Set(p.due.map(|d| d.to_string())),
                conflicted: Set(p.conflicted),
                updated_at: Set(t),
            }
        })
        .collect()
}

/// The projection of the touched confirmations: rows to insert for those this batch made
/// (their details come with the batch's `Confirm`), new states for the others (their rows
/// exist: a device can only change a confirmation the server gave it).
fn confirmation_rows_of(
    doc: &BoundedDocument,
    key: &DocKey,
    touched: &BTreeMap<OpId, Option<Confirmation>>,
) -> (
    Vec<confirmations::ActiveModel>,
    Vec<(DocKey, OpId, &'static str)>,
) {
    let mut rows = Vec::new();
    let mut states = Vec::new();
    for (&id, made) in touched {
        let state = match doc.confirmation_states(id).as_slice() {
            [] => continue,
            [ConfirmationState::Confirmed] => "confirmed",
            [ConfirmationState::Withdrawn] => "withdrawn",
            _ => "conflict",
        };
        let Some(c) = made else {
            states.push((key.clone(), id, state));
            continue;
        };
        rows.push(confirmations::ActiveModel {
            directive_id: Set(key.directive.clone()),
            unit_id: Set(key.unit.clone()),
            op_id: Set(id.to_string()),
            actor_id: Set(i32::try_from(id.actor).unwrap_or(i32::MAX)),
            carrier: Set(c.carrier.clone()),
            hotline: Set(c.hotline.clone()),
            free_from: Set(c
                .free_from
                .date()
                .map(|d| d.to_string())
                .unwrap_or_default()),
            attested_by: Set(c.attested_by.clone()),
            state: Set(state.into()),
            at: Set(c.at),
        });
    }
    (rows, states)
}

/// The new states of confirmations made before this batch, one statement each (a
/// confirmation's state changes seldom: withdrawn, or confirmed again).
async fn store_confirmation_states(
    db: &impl ConnectionTrait,
    states: Vec<(DocKey, OpId, &'static str)>,
) -> ApiResult<()> {
    for (key, id, state) in states {
        confirmations::Entity::update_many()
            .col_expr(confirmations::Column::State, Expr::value(state))
            .filter(confirmations::Column::DirectiveId.eq(key.directive.as_str()))
            .filter(confirmations::Column::UnitId.eq(key.unit.as_str()))
            .filter(confirmations::Column::OpId.eq(id.to_string()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Store the batch's rows: the op log idempotently, the projections as upserts.
async fn store_rows(
    db: &impl ConnectionTrait,
    change_rows: Vec<changes::ActiveModel>,
    task_rows: Vec<tasks::ActiveModel>,
    report_rows: Vec<reports::ActiveModel>,
    confirmation_rows: Vec<confirmations::ActiveModel>,
) -> ApiResult<()> {
    let changes_once = OnConflict::columns([
        changes::Column::DirectiveId,
        changes::Column::UnitId,
        changes::Column::ActorId,
        changes::Column::StartSeq,
    ])
    .do_nothing()
    .to_owned();
    insert_chunked(db, &change_rows, Some(&changes_once)).await?;
    let task_upsert = OnConflict::columns([
        tasks::Column::DirectiveId,
        tasks::Column::UnitId,
        tasks::Column::TaskRef,
    ])
    .update_columns([
        tasks::Column::Title,
        tasks::Column::Status,
        tasks::Column::Progress,
        tasks::Column::Assignee,
        tasks::Column::Due,
        tasks::Column::Conflicted,
        tasks::Column::UpdatedAt,
    ])
    .to_owned();
    insert_chunked(db, &task_rows, Some(&task_upsert)).await?;
    let reports_once = OnConflict::columns([
        reports::Column::DirectiveId,
        reports::Column::UnitId,
        reports::Column::OpId,
    ])
    .do_nothing()
    .to_owned();
    insert_chunked(db, &report_rows, Some(&reports_once)).await?;
    let confirmation_upsert = OnConflict::columns([
        confirmations::Column::DirectiveId,
        confirmations::Column::UnitId,
        confirmations::Column::OpId,
    ])
    .update_columns([confirmations::Column::State])
    .to_owned();
    insert_chunked(db, &confirmation_rows, Some(&confirmation_upsert)).await?;
    Ok(())
}
