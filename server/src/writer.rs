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
    sync::Arc,
};

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use taskforce_core::{
    doc::{ActorId, ConfirmationState, Op, OpId, TaskRef, UnitDocument},
    progress::task_progress,
    sync::{Change, DocKey, wire},
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    docstore::{self, Cached, ChangeLog, DocMeta, SnapshotMeasure},
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
    /// The document at that version, to build a snapshot answer from without any lock.
    pub doc: Arc<UnitDocument>,
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

/// The writer: a task that writes every sync waiting for it in one transaction.
#[derive(Debug, Clone)]
pub struct GroupWriter {
    queue: mpsc::UnboundedSender<(WriteJob, Reply)>,
}

impl GroupWriter {
    /// Start the writer task on the current runtime; it ends when the last sender is gone.
    /// `state` is the writer's own copy, without a writer of its own.
    pub fn spawn(state: AppState) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<(WriteJob, Reply)>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (jobs, replies): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut batch).into_iter().unzip();
                // The only writer of this process: no lock needed here (rows are locked on
                // PostgreSQL; SQLite has one writer anyway).
                let results = write_batch(&state, jobs).await;
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
            .send((job, tx))
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the sync writer has stopped")))?;
        rx.await
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the sync writer has stopped")))?
    }
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
    confirmations: BTreeSet<OpId>,
    reports: Vec<reports::ActiveModel>,
}

/// Write `jobs` in one transaction; one result per job, in order. Only the writer task calls
/// it in a server (tests call it directly): it is the process's one writer.
pub async fn write_batch(state: &AppState, jobs: Vec<WriteJob>) -> Vec<ApiResult<Written>> {
    let n = jobs.len();
    match try_batch(state, &jobs).await {
        Ok(results) => results,
        Err(e) => {
            tracing::error!(error = %e, syncs = n, "a sync write failed; nothing of it was stored");
            let message = e.to_string();
            (0..n)
                .map(|_| {
                    Err(ApiError::internal(anyhow::anyhow!(
                        "the write failed: {message}"
                    )))
                })
                .collect()
        }
    }
}

async fn try_batch(state: &AppState, jobs: &[WriteJob]) -> ApiResult<Vec<ApiResult<Written>>> {
    let lock_rows = state.backend() == DatabaseBackend::Postgres;
    let txn = state.db.begin().await?;
    let mut slots: BTreeMap<DocKey, Result<Slot, Unwritable>> = BTreeMap::new();
    let mut outcomes: Vec<ApiResult<()>> = Vec::with_capacity(jobs.len());
    // Rows are locked in key order, so two server processes' batches never wait on each other
    // in a circle.
    let keys: BTreeSet<&DocKey> = jobs.iter().map(|j| &j.key).collect();
    for key in keys {
        let slot = open_slot(state, &txn, key, lock_rows).await?;
        slots.insert(key.clone(), slot);
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
            let snapshot = wire::encode_snapshot(&doc.to_canonical());
            slot.entry.snapshot = SnapshotMeasure {
                len: snapshot.len(),
                at: ops,
            };
            Metrics::add(&state.metrics.snapshots_stored, 1);
            // The changes up to here are now in the snapshot; devices behind it read them
            // from the op log.
            slot.entry.log = ChangeLog::starting_at(doc.version().dots.clone());
            update = update
                .col_expr(documents::Column::State, Expr::value(snapshot))
                .col_expr(documents::Column::StateOps, Expr::value(ops));
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
        confirmation_rows.extend(confirmation_rows_of(doc, key, &slot.touched.confirmations));
        report_rows.append(&mut slot.touched.reports);
        slot.entry.ops = ops;
    }
    store_rows(&txn, change_rows, task_rows, report_rows, confirmation_rows).await?;
    txn.commit().await?;
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
            Ok(Written {
                version: slot.entry.doc.version().dots.clone(),
                doc: slot.entry.doc.clone(),
                ops: slot.entry.ops,
                measure: slot.entry.snapshot,
                missing: slot.entry.log.past(&job.vv),
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
    Ok(results)
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
    let doc = &*slot.entry.doc;
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
            Op::Confirm(_) => {
                touched.confirmations.insert(id);
            }
            Op::SetConfirmation { id: target, .. } => {
                touched.confirmations.insert(*target);
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
    doc: &UnitDocument,
    key: &DocKey,
    touched: &BTreeSet<TaskRef>,
    today: chrono::NaiveDate,
    t: i64,
) -> Vec<tasks::ActiveModel> {
    touched
        .iter()
        .map(|&r| {
            let p = task_progress(doc, r, today);
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

/// The projection rows of the touched confirmations.
fn confirmation_rows_of(
    doc: &UnitDocument,
    key: &DocKey,
    touched: &BTreeSet<OpId>,
) -> Vec<confirmations::ActiveModel> {
    if touched.is_empty() {
        return Vec::new();
    }
    doc.confirmations()
        .iter()
        .filter(|(id, _, _)| touched.contains(id))
        .map(|(id, c, states)| confirmations::ActiveModel {
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
            state: Set(match states.as_slice() {
                [ConfirmationState::Confirmed] => "confirmed",
                [ConfirmationState::Withdrawn] => "withdrawn",
                _ => "conflict",
            }
            .into()),
            at: Set(c.at),
        })
        .collect()
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
