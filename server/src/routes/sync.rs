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

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use taskforce_core::{
    doc::BoundedDocument,
    sync::{Payload, SyncRequest, SyncResponse, wire},
};

use crate::{
    auth::Caller,
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
    if let Err(e) = state.writer.refuse_if_full() {
        Metrics::add(&state.metrics.sync_rejected, 1);
        return Err(e);
    }
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

    let request: SyncRequest = wire::decode_request(body)?;
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
        if !c.verify(request.fingerprint, &key) {
            return Err(ApiError::BadSignature {
                actor: c.actor,
                start: c.start,
            });
        }
        // Who may make what, operation by operation (decision 39): a member's device never
        // writes a review, a deadline or an urge; the Ministry Office's nothing else but
        // comments. The whole sync is refused and nothing stored.
        if let Some((i, op)) = c
            .ops
            .iter()
            .enumerate()
            .find(|(_, op)| !caller.may_make(&unit, op))
        {
            return Err(ApiError::Forbidden(format!(
                "{} không được thực hiện thao tác này trên tài liệu của {unit} / {} may not make operation {} ({}) in {unit}'s document",
                caller.username,
                caller.username,
                c.start.saturating_add(i as u64),
                if op.is_office() {
                    "the Ministry Office's: a review, a deadline or an urge"
                } else {
                    "a unit's: only its members make it"
                },
            )));
        }
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
