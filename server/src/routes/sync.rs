//! `POST /api/v1/sync`: one round trip of the sync protocol over HTTP.
//!
//! The body is a binary `SyncRequest` (mobile-core's wire format); the calling device names
//! itself in `X-Taskforce-Device` (its actor id). The server checks the token, that the
//! device is the caller's, that every change was authored by that device's actor and carries
//! its signature, that the caller may write the unit's document, and that every operation is
//! well-formed; then [`writer`] merges them into the document and stores them idempotently
//! with the projections, in one transaction shared with the other syncs waiting. It answers
//! with what the device lacks: changes, or a snapshot when that is smaller or when the
//! changes would not fit one message (`wire::MAX_MESSAGE_BYTES`; the snapshot of any accepted
//! document does, `doc::check_room`).
//!
//! `POST /api/v1/sync/batch` carries one such request per document of a unit (one per
//! directive) and answers each as this route would, with the unit's documents on the server
//! (issue 21): a phone syncs every directive it follows in one round trip, and learns of a
//! newly published one.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use taskforce_core::{
    doc::BoundedDocument,
    sync::{Payload, SyncRequest, SyncResponse, wire},
};

use crate::{
    auth::Caller,
    db::entity::documents,
    docstore,
    error::{AccountRefused, ApiError, ApiResult, ErrorBody},
    state::AppState,
    sync::WriteJob,
    telemetry::metrics::Metrics,
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
pub(crate) async fn read_body(
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
    request_body(content = super::Binary, content_type = "application/octet-stream",
        description = "a `SyncRequest`: document key and fingerprint, version vector, changes"),
    responses(
        (status = 200, body = super::Binary, content_type = "application/octet-stream",
            description = "a `SyncResponse`: changes or a snapshot, and the server's version vector"),
        (status = 400, body = ErrorBody, description = "malformed message, invalid operation, wrong header"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not the caller's device, `device_revoked`, forged actor, bad signature, other unit"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`gap`: `missing` names the changes to send first; `reused_sequence`: `reused` names the first change whose numbers are held with other content (a restored or copied store: register anew)"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`document_full`: the changes would take the unit's document past one of its limits; none was taken"),
        (status = 503, body = ErrorBody, description = "`overloaded`: the writer's queue is full; retry after `Retry-After` seconds")))]
pub async fn sync(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    round_trip(&state, &caller, &req, payload, false).await
}

/// A sync round trip with its metrics: refused at once when the writer is full, the body read
/// within its limit, then one document (`batch` false) or a unit's batch.
async fn round_trip(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    payload: web::Payload,
    batch: bool,
) -> ApiResult<HttpResponse> {
    if let Err(e) = state.writer.refuse_if_full() {
        Metrics::add(&state.metrics.sync_rejected, 1);
        return Err(e);
    }
    let body = match read_body(payload, state.config.sync_body_limit, req).await {
        Ok(b) => b,
        Err(e) => {
            Metrics::add(&state.metrics.sync_rejected, 1);
            return Err(e);
        }
    };
    Metrics::add(&state.metrics.sync_requests, 1);
    Metrics::add(&state.metrics.bytes_in, body.len() as u64);
    let result = if body.len() > state.config.sync_body_limit {
        Err(ApiError::TooLarge {
            size: body.len(),
            limit: state.config.sync_body_limit,
        })
    } else if batch {
        handle_batch(state, caller, req, &body).await
    } else {
        handle(state, caller, req, &body).await
    };
    if result.is_err() {
        Metrics::add(&state.metrics.sync_rejected, 1);
    }
    let bytes = result?;
    Metrics::add(&state.metrics.bytes_out, bytes.len() as u64);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            "Content-Security-Policy",
            crate::http::SYNC_CONTENT_SECURITY_POLICY,
        ))
        .body(bytes))
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    body: &[u8],
) -> ApiResult<Vec<u8>> {
    let (actor, key) = device_key(state, caller, req).await?;
    let request: SyncRequest = wire::decode_request(body)?;
    sync_document(state, caller, actor, &key, request).await
}

/// Refused when `change` holds an operation the caller may not make in `unit`'s document.
fn forbidden_op(
    caller: &Caller,
    unit: &str,
    change: &taskforce_core::sync::Change,
) -> ApiResult<()> {
    let Some((i, op)) = change
        .ops
        .iter()
        .enumerate()
        .find(|(_, op)| !caller.may_make(unit, op))
    else {
        return Ok(());
    };
    Err(ApiError::Forbidden(format!(
        "{} không được thực hiện thao tác này trên tài liệu của {unit} / {} may not make operation {} ({}) in {unit}'s document",
        caller.username,
        caller.username,
        change.start.saturating_add(i as u64),
        if op.is_office() {
            "the Ministry Office's: a review, a deadline or an urge"
        } else if op.is_verified() {
            "the server's: a call-record verification, which only the server makes"
        } else {
            "a unit's: only its members make it"
        },
    )))
}

/// The calling device (`X-Taskforce-Device`) and its key: registered to the caller and not
/// revoked.
async fn device_key(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
) -> ApiResult<(u32, ed25519_dalek::VerifyingKey)> {
    let actor = device_actor(req)?;
    let key = match state.auth.device(&state.db, actor).await? {
        // A revoked device (a lost phone) syncs no more; what it wrote before stays.
        Some(d) if d.user_id == caller.user_id && d.revoked => {
            return Err(AccountRefused::DeviceRevoked { actor }.into());
        }
        Some(d) if d.user_id == caller.user_id => d.key,
        _ => {
            return Err(ApiError::Forbidden(format!(
                "device {actor} is not registered to {}",
                caller.username
            )));
        }
    };
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(ApiError::internal)?;
    Ok((actor, key))
}

/// One document's round trip, its device checked: every check and the write of the single
/// route, shared by the batch route (one document of a batch is answered as the single route
/// would answer it).
async fn sync_document(
    state: &AppState,
    caller: &Caller,
    actor: u32,
    key: &ed25519_dalek::VerifyingKey,
    request: SyncRequest,
) -> ApiResult<Vec<u8>> {
    if request.changes.len() > wire::MAX_REQUEST_CHANGES {
        return Err(ApiError::BadRequest(format!(
            "một lần đồng bộ gửi tối đa {max} thay đổi / a sync carries at most {max} changes; this one has {n}",
            max = wire::MAX_REQUEST_CHANGES,
            n = request.changes.len()
        )));
    }
    let unit = request.doc.unit.clone();
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
        if !c.verify(request.fingerprint, key) {
            return Err(ApiError::BadSignature {
                actor: c.actor,
                start: c.start,
            });
        }
        // Who may make what, operation by operation (decision 39): a member's device never
        // writes a review, a deadline or an urge; the Ministry Office's nothing else but
        // comments. The whole sync is refused and nothing stored.
        forbidden_op(caller, &unit, c)?;
    }

    let key = request.doc.clone();
    let written = state
        .writer
        .write(WriteJob {
            key: key.clone(),
            fingerprint: request.fingerprint,
            vv: request.vv.clone(),
            changes: request.changes,
        })
        .await?;
    let (version, measure, ops) = (written.version, written.measure, written.ops);

    // What the device lacks up to the version this response reports (later changes,
    // committed by other syncs since, come with the next sync, or the device would think we
    // lack them): from the document's in-memory log, or else from the op log (committed,
    // append-only) in one query.
    let missing: Vec<Arc<[u8]>> = match written.missing {
        Some(m) => m,
        None => docstore::change_bodies_between(&state.db, &key, &request.vv, &version)
            .await?
            .into_iter()
            .map(Arc::from)
            .collect(),
    };
    let size = docstore::changes_len(&missing);
    // Changes that would not fit one message are never the answer (they hold every value
    // ever overwritten: a device far behind a document edited for long can lack more than
    // 16 MiB of them, whatever the snapshot's size was last measured at): the snapshot is, and
    // it always fits, since no accepted document's footprint passes `limits::DOC_BYTES`.
    let fits = wire::changes_response_len(&version, &missing) <= wire::MAX_MESSAGE_BYTES;
    if !fits || measure.worth_pricing(ops, size) {
        // A snapshot may be smaller: build one and send it if it is. From the writer's copy
        // at `version` when it is whole (let go as soon as it is priced); else from the whole
        // document loaded from storage (decision 25), which reports its own version (it may
        // include changes committed since).
        let whole = match written.doc.as_deref().and_then(BoundedDocument::whole) {
            Some(doc) => Some((doc.to_canonical(), ops)),
            None => docstore::load_whole(&state.db, &key)
                .await?
                .map(|(d, now)| (d.to_canonical(), now)),
        };
        if let Some((canonical, at)) = whole {
            let snapshot = wire::encode_response(&SyncResponse {
                vv: canonical.vv.clone(),
                payload: Payload::Snapshot(Box::new(canonical)),
            });
            state.docs.measured(&key, at, snapshot.len());
            if snapshot.len() < size || (!fits && snapshot.len() <= wire::MAX_MESSAGE_BYTES) {
                Metrics::add(&state.metrics.snapshots_sent, 1);
                return Ok(snapshot);
            }
        }
    }
    if !fits {
        // Only a document stored before the limits can be this large.
        return Err(ApiError::internal(anyhow::anyhow!(
            "document {}/{}: neither the {size} bytes of changes device {actor} lacks nor a \
             snapshot fit one message ({} bytes)",
            key.directive,
            key.unit,
            wire::MAX_MESSAGE_BYTES
        )));
    }
    wire::encode_changes_response(&version, &missing).map_err(ApiError::internal)
}

/// Room kept in a batch answer for its frame and the list of documents.
const BATCH_FRAME_BYTES: usize = 64 * 1024;

/// Every document of a unit in one round trip: a `SyncRequest` per document, each checked,
/// written and answered exactly as `POST /api/v1/sync` would (one refused document does not
/// sink the others: its answer is the single route's error), and the unit's documents on the
/// server, so that a phone learns of a newly published directive. What is the caller's to be
/// refused (the device, the unit, an operation its role never makes) and what bounds the
/// batch (documents, changes, each document once, one unit) refuse the whole batch first.
#[utoipa::path(post, path = "/api/v1/sync/batch", tag = "sync", security(("bearer" = [])),
    params(("X-Taskforce-Device" = u32, Header, description = "the device's actor id")),
    request_body(content = super::Binary, content_type = "application/octet-stream",
        description = "a `BatchRequest`: the unit, and a `SyncRequest` per document (at most `wire::MAX_BATCH_DOCUMENTS`, each document once, at most `wire::MAX_REQUEST_CHANGES` changes in all)"),
    responses(
        (status = 200, body = super::Binary, content_type = "application/octet-stream",
            description = "a `BatchResponse`: per request, its `SyncResponse` or the status and error body the single route would have answered (`deferred`, 503: no room left in this answer, ask again); and the unit's documents (directive, fingerprint, operations)"),
        (status = 400, body = ErrorBody, description = "malformed message, too many documents or changes, a document named twice, another unit's document"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not the caller's device, `device_revoked`, a unit the caller may not read (or write, when the batch carries changes), an operation the caller's role never makes"),
        (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "`overloaded`: the writer's queue is full; retry after `Retry-After` seconds")))]
pub async fn sync_batch(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    round_trip(&state, &caller, &req, payload, true).await
}

async fn handle_batch(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    body: &[u8],
) -> ApiResult<Vec<u8>> {
    let (actor, key) = device_key(state, caller, req).await?;
    let batch = wire::decode_batch_request(body)?;
    check_batch(&batch)?;
    // The whole batch is the unit's: read (and written, when it carries changes) by the
    // caller, as the single route asks of each sync; then each document is checked as the
    // single route checks it.
    let unit = &batch.unit;
    if batch.requests.iter().any(|r| !r.changes.is_empty()) {
        caller.require(
            caller.may_write_unit(unit),
            &format!("write {unit}'s document"),
        )?;
    } else {
        caller.require(caller.may_read_unit(unit), &format!("read {unit}"))?;
    }
    // What the caller may not do is refused whole, as the single route refuses it, before
    // anything is written: an operation its role never makes (decision 39).
    for r in &batch.requests {
        for c in &r.changes {
            forbidden_op(caller, unit, c)?;
        }
    }
    let documents = unit_documents(state, &batch.unit).await?;

    // Together: the writer takes them in one transaction when it is free.
    let answers = futures_util::future::join_all(batch.requests.into_iter().map(|r| {
        let doc = r.doc.clone();
        let key = &key;
        async move { (doc, sync_document(state, caller, actor, key, r).await) }
    }))
    .await;
    let mut room = wire::MAX_MESSAGE_BYTES.saturating_sub(BATCH_FRAME_BYTES);
    let mut out = Vec::with_capacity(answers.len());
    for (doc, answer) in answers {
        let result = match answer {
            Ok(bytes) if bytes.len() <= room => {
                room -= bytes.len();
                wire::DocResult::Synced(bytes)
            }
            // Written (a resend is taken once), but no room left to answer: asked again.
            Ok(_) => {
                Metrics::add(&state.metrics.sync_rejected, 1);
                wire::DocResult::Refused {
                    status: 503,
                    body: serde_json::json!({
                        "error": DEFERRED,
                        "message": "câu trả lời đã đầy, hãy đồng bộ lại tài liệu này / no room left in this answer; sync this document again",
                    })
                    .to_string(),
                }
            }
            Err(e) => {
                Metrics::add(&state.metrics.sync_rejected, 1);
                let (status, body) = refusal(&e).await;
                wire::DocResult::Refused { status, body }
            }
        };
        out.push(wire::DocAnswer { doc, result });
    }
    Ok(wire::encode_batch_response(&wire::BatchResponse {
        answers: out,
        documents,
    }))
}

/// The code of a document a batch answer had no room left for.
pub const DEFERRED: &str = "deferred";

/// What the single route answers for `e`: its status and JSON error body.
async fn refusal(e: &ApiError) -> (u16, String) {
    use actix_web::ResponseError;
    let response = e.error_response();
    let status = response.status().as_u16();
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| {
            serde_json::json!({ "error": e.code(), "message": e.to_string() }).to_string()
        });
    (status, body)
}

/// A batch's own bounds: not too many documents or changes, each document once.
fn check_batch(batch: &wire::BatchRequest) -> ApiResult<()> {
    let n = batch.requests.len();
    if n > wire::MAX_BATCH_DOCUMENTS {
        return Err(ApiError::BadRequest(format!(
            "một lần đồng bộ gồm tối đa {max} tài liệu / a batch sync names at most {max} documents; this one names {n}",
            max = wire::MAX_BATCH_DOCUMENTS,
        )));
    }
    let changes: usize = batch.requests.iter().map(|r| r.changes.len()).sum();
    if changes > wire::MAX_REQUEST_CHANGES {
        return Err(ApiError::BadRequest(format!(
            "một lần đồng bộ gửi tối đa {max} thay đổi / a sync carries at most {max} changes; this one has {changes}",
            max = wire::MAX_REQUEST_CHANGES,
        )));
    }
    if let Some(r) = batch.requests.iter().find(|r| r.doc.unit != batch.unit) {
        return Err(ApiError::BadRequest(format!(
            "một lần đồng bộ chỉ gồm tài liệu của {u} / a batch holds {u}'s documents only; it names {}/{}",
            r.doc.directive,
            r.doc.unit,
            u = batch.unit,
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = batch.requests.iter().find(|r| !seen.insert(&r.doc)) {
        return Err(ApiError::BadRequest(format!(
            "tài liệu {d}/{u} có hai lần trong một lần đồng bộ / document {d}/{u} is named twice in one batch",
            d = twice.doc.directive,
            u = twice.doc.unit,
        )));
    }
    Ok(())
}

/// The documents `unit` has on the server: directive, fingerprint, operations and the
/// directive's revision (the state itself is not read).
async fn unit_documents(state: &AppState, unit: &str) -> ApiResult<Vec<wire::ListedDocument>> {
    use crate::db::entity::directives;
    use sea_orm::{
        ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationDef,
    };
    // With each directive's revision (a phone fetches an older text again), in one query.
    let revision: RelationDef = documents::Entity::belongs_to(directives::Entity)
        .from(documents::Column::DirectiveId)
        .to(directives::Column::Id)
        .into();
    let rows: Vec<(String, i64, i64, i32)> = documents::Entity::find()
        .select_only()
        .column(documents::Column::DirectiveId)
        .column(documents::Column::Fingerprint)
        .column(documents::Column::Ops)
        .column(directives::Column::Revision)
        .join(JoinType::InnerJoin, revision)
        .filter(documents::Column::UnitId.eq(unit))
        .order_by_asc(documents::Column::DirectiveId)
        .into_tuple()
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(directive, fingerprint, ops, revision)| wire::ListedDocument {
                directive,
                fingerprint: u64::from_ne_bytes(fingerprint.to_ne_bytes()),
                ops: u64::try_from(ops).unwrap_or(0),
                revision: u32::try_from(revision).unwrap_or(0),
            },
        )
        .collect())
}
