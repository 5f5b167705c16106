//! `POST /api/v1/sync`: one round trip of the sync protocol over HTTP.
//!
//! The body is a binary `SyncRequest` (mobile-core's wire format); the calling device names
//! itself in `X-Taskforce-Device` (its actor id). The server checks the token, that the
//! device is the caller's, that every change was authored by that device's actor and carries
//! its signature, that the caller may write the unit's document, and that every operation is
//! well-formed; then, in one transaction with the document's row locked, stores the changes
//! idempotently, merges them into the document and updates the projections. It answers with
//! what the device lacks: changes, or a snapshot when that is smaller.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use taskforce_core::{
    doc::{CanonicalDoc, ConfirmationState, Op, OpId, TaskRef, UnitDocument},
    progress::task_progress,
    sync::{Change, DocKey, Payload, SyncRequest, SyncResponse, wire},
};

use crate::{
    auth::Caller,
    docstore,
    entity::{changes, confirmations, devices, documents, reports, tasks},
    error::{ApiError, ApiResult, ErrorBody},
    metrics::Metrics,
    seed::role_str,
    state::{AppState, now},
};

pub const DEVICE_HEADER: &str = "X-Taskforce-Device";

fn device_actor(req: &HttpRequest) -> ApiResult<u32> {
    req.headers()
        .get(DEVICE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the {DEVICE_HEADER} header must name the device's actor id"
            ))
        })
}

/// Read the body, refusing it as soon as it passes the limit (and before reading, when its
/// declared length already does).
async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    req: &HttpRequest,
) -> ApiResult<Vec<u8>> {
    use futures_util::StreamExt;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = declared.filter(|&n| n > limit) {
        return Err(ApiError::TooLarge { size, limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge {
                size: body.len() + chunk.len(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One round trip of the sync protocol: the device's changes up, what it lacks down.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sync", security(("bearer" = [])),
    params(("X-Taskforce-Device" = u32, Header, description = "the device's actor id")),
    request_body(content = crate::openapi::Binary, content_type = "application/octet-stream",
        description = "a `SyncRequest`: document key and fingerprint, version vector, changes"),
    responses(
        (status = 200, body = crate::openapi::Binary, content_type = "application/octet-stream",
            description = "a `SyncResponse`: changes or a snapshot, and the server's version vector"),
        (status = 400, body = ErrorBody, description = "malformed message, invalid operation, wrong header"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not the caller's device, forged actor, bad signature, other unit"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`gap`: `missing` names the changes to send first"),
        (status = 413, body = ErrorBody)))]
pub async fn sync(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(payload, state.config.sync_body_limit, &req).await;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            Metrics::add(&state.metrics.sync_rejected, 1);
            return Err(e);
        }
    };
    Metrics::add(&state.metrics.sync_requests, 1);
    Metrics::add(&state.metrics.bytes_in, body.len() as u64);
    let result = handle(&state, &caller, &req, &body).await;
    if result.is_err() {
        Metrics::add(&state.metrics.sync_rejected, 1);
    }
    let bytes = result?;
    Metrics::add(&state.metrics.bytes_out, bytes.len() as u64);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(bytes))
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    body: &[u8],
) -> ApiResult<Vec<u8>> {
    let limit = state.config.sync_body_limit;
    if body.len() > limit {
        return Err(ApiError::TooLarge {
            size: body.len(),
            limit,
        });
    }
    let actor = device_actor(req)?;
    let device = devices::Entity::find_by_id(i32::try_from(actor).unwrap_or(-1))
        .one(&state.db)
        .await?
        .filter(|d| d.user_id == caller.user_id)
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "device {actor} is not registered to {}",
                caller.username
            ))
        })?;
    let key: [u8; 32] = device
        .public_key
        .as_slice()
        .try_into()
        .map_err(ApiError::internal)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(ApiError::internal)?;

    let request: SyncRequest = wire::decode_request(body)?;
    let (directive, unit) = (request.doc.directive.clone(), request.doc.unit.clone());
    if request.changes.is_empty() {
        caller.require(caller.may_read_unit(&unit), &format!("read {unit}"))?;
    } else {
        caller.require(
            caller.may_write_unit(&unit),
            &format!("write {unit}'s document"),
        )?;
    }
    for c in &request.changes {
        if c.actor != actor {
            return Err(ApiError::ForgedActor {
                actor: c.actor,
                start: c.start,
            });
        }
        if !c.verify(request.fingerprint, &key) {
            return Err(ApiError::BadSignature {
                actor: c.actor,
                start: c.start,
            });
        }
    }

    let key = request.doc.clone();
    let lock = state.locks.get(&key);
    let guard = lock.lock().await;
    let txn = state.db.begin().await?;
    let meta = docstore::meta(&txn, &key, state.backend() == DatabaseBackend::Postgres)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {directive}/{unit}")))?;
    if u64::from_ne_bytes(meta.fingerprint.to_ne_bytes()) != request.fingerprint {
        return Err(ApiError::Conflict(
            "the device's copy of the directive differs from the server's: download it again"
                .into(),
        ));
    }
    // The decoded document: from the cache when it holds this version, else from the row.
    // It is out of the cache until this sync commits; on any error it is dropped.
    let (mut entry, hit) = docstore::take_or_load(&txn, &state.docs, &key, &meta).await?;
    Metrics::add(
        if hit {
            &state.metrics.doc_cache_hits
        } else {
            &state.metrics.doc_cache_misses
        },
        1,
    );
    let before = entry.doc.version().clone();
    let mut applied = 0usize;
    for c in &request.changes {
        applied += entry.doc.apply_ops(c.actor, c.start, &c.ops)?;
    }
    if applied > 0 {
        let t = now();
        let new: Vec<&Change> = request
            .changes
            .iter()
            .filter(|c| c.end() > before.get(&c.actor))
            .collect();
        let rows: Vec<changes::ActiveModel> = new
            .iter()
            .map(|c| changes::ActiveModel {
                directive_id: Set(directive.clone()),
                unit_id: Set(unit.clone()),
                actor_id: Set(i32::try_from(c.actor).unwrap_or(i32::MAX)),
                start_seq: Set(i64::try_from(c.start).unwrap_or(i64::MAX)),
                end_seq: Set(i64::try_from(c.end()).unwrap_or(i64::MAX)),
                body: Set(wire::encode_change(c)),
                received_at: Set(t),
            })
            .collect();
        Metrics::add(&state.metrics.changes_stored, rows.len() as u64);
        changes::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    changes::Column::DirectiveId,
                    changes::Column::UnitId,
                    changes::Column::ActorId,
                    changes::Column::StartSeq,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let ops = meta.ops + i64::try_from(applied).unwrap_or(0);
        let mut update = documents::Entity::update_many()
            .col_expr(documents::Column::Ops, Expr::value(ops))
            .col_expr(documents::Column::UpdatedAt, Expr::value(t))
            .col_expr(
                documents::Column::Head,
                Expr::value(wire::encode_version(&entry.doc.version().dots)),
            );
        if docstore::snapshot_due(ops, meta.state_ops) {
            let snapshot = wire::encode_snapshot(&entry.doc.to_canonical());
            entry.snapshot = docstore::SnapshotMeasure {
                len: snapshot.len(),
                at: ops,
            };
            Metrics::add(&state.metrics.snapshots_stored, 1);
            update = update
                .col_expr(documents::Column::State, Expr::value(snapshot))
                .col_expr(documents::Column::StateOps, Expr::value(ops));
        }
        update
            .filter(documents::Column::DirectiveId.eq(directive.as_str()))
            .filter(documents::Column::UnitId.eq(unit.as_str()))
            .exec(&txn)
            .await?;
        project(&txn, &entry.doc, &directive, &unit, &new, &before).await?;
        Metrics::add(&state.metrics.ops_applied, applied as u64);
        entry.ops = ops;
    }
    txn.commit().await?;
    let version = entry.doc.version().dots.clone();
    let (measure, ops) = (entry.snapshot, entry.ops);
    state.docs.put(key.clone(), entry);
    if applied > 0 {
        // Still under the write lock: on SQLite it is what keeps writers apart.
        crate::progress::maybe_record_history(&state.db, &state.history_recorded, &directive).await;
    }
    drop(guard);

    // What the device lacks, from the op log (committed, append-only), in one query: for
    // each actor, the changes past the device's version and not past the version this
    // response reports (later changes, committed by other requests since, come with the next
    // sync, or the device would think we lack them).
    let missing = docstore::change_bodies_between(&state.db, &key, &request.vv, &version).await?;
    let size: usize = missing
        .iter()
        .map(|b| wire::change_body(b).map_or(0, <[u8]>::len))
        .sum();
    if measure.worth_pricing(ops, size) {
        // A snapshot may be smaller: build one of the document as it is now (with the version
        // it holds, which may be past this sync's), and send it if it is.
        let (vv, snapshot, bytes) = current_snapshot(state, &key).await?;
        if bytes < size {
            Metrics::add(&state.metrics.snapshots_sent, 1);
            return Ok(wire::encode_response(&SyncResponse {
                vv,
                payload: Payload::Snapshot(Box::new(snapshot)),
            }));
        }
    }
    wire::encode_changes_response(&version, &missing).map_err(ApiError::internal)
}

/// The document as it is now, its version and its encoded size, through the cache.
async fn current_snapshot(
    state: &AppState,
    key: &DocKey,
) -> ApiResult<(std::collections::BTreeMap<u32, u64>, CanonicalDoc, usize)> {
    let lock = state.locks.get(key);
    let _guard = lock.lock().await;
    let meta = docstore::meta(&state.db, key, false)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {}/{}", key.directive, key.unit)))?;
    let (mut entry, _) = docstore::take_or_load(&state.db, &state.docs, key, &meta).await?;
    let snapshot = entry.doc.to_canonical();
    entry.snapshot = docstore::SnapshotMeasure {
        len: wire::encode_snapshot(&snapshot).len(),
        at: entry.ops,
    };
    let vv = entry.doc.version().dots.clone();
    let len = entry.snapshot.len;
    state.docs.put(key.clone(), entry);
    Ok((vv, snapshot, len))
}

/// Rewrite the projections the new operations touched.
async fn project(
    db: &impl ConnectionTrait,
    doc: &UnitDocument,
    directive: &str,
    unit: &str,
    new: &[&Change],
    before: &taskforce_core::doc::VersionVector,
) -> ApiResult<()> {
    let today = chrono::Utc::now().date_naive();
    let t = now();
    let mut touched: BTreeSet<TaskRef> = BTreeSet::new();
    let mut touched_confirmations: BTreeSet<OpId> = BTreeSet::new();
    let mut report_rows = Vec::new();
    for c in new {
        for (i, op) in c.ops.iter().enumerate() {
            let id = OpId::new(c.actor, c.start + i as u64);
            if id.seq <= before.get(&c.actor) {
                continue;
            }
            match op {
                Op::Set { task, .. } | Op::Comment { task, .. } | Op::AddEvidence { task, .. } => {
                    touched.insert(*task);
                }
                Op::AddTask { .. } => {
                    touched.insert(TaskRef::Adhoc(id));
                }
                Op::Confirm(_) => {
                    touched_confirmations.insert(id);
                }
                Op::SetConfirmation { id: target, .. } => {
                    touched_confirmations.insert(*target);
                }
                Op::Report(r) => report_rows.push(reports::ActiveModel {
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
    let task_rows: Vec<tasks::ActiveModel> = touched
        .into_iter()
        .map(|r| {
            let p = task_progress(doc, r, today);
            tasks::ActiveModel {
                directive_id: Set(directive.into()),
                unit_id: Set(unit.into()),
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
        .collect();
    for chunk in task_rows.chunks(200) {
        tasks::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
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
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    for chunk in report_rows.chunks(200) {
        reports::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    reports::Column::DirectiveId,
                    reports::Column::UnitId,
                    reports::Column::OpId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let all = doc.confirmations();
    let confirmation_rows: Vec<confirmations::ActiveModel> = all
        .iter()
        .filter(|(id, _, _)| touched_confirmations.contains(id))
        .map(|(id, c, states)| confirmations::ActiveModel {
            directive_id: Set(directive.into()),
            unit_id: Set(unit.into()),
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
        .collect();
    for chunk in confirmation_rows.chunks(200) {
        confirmations::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    confirmations::Column::DirectiveId,
                    confirmations::Column::UnitId,
                    confirmations::Column::OpId,
                ])
                .update_columns([confirmations::Column::State])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
