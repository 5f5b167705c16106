//! Hotline-free billing over the API (issue 23): the hotline register, the carrier ×
//! hotline table, call-record uploads and the verifications, a carrier's column mapping.
//! The rules are `hotlines`' and `progress::hotlines`'.

use std::io;

use actix_web::{HttpRequest, HttpResponse, web, web::Bytes};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult, ErrorBody},
    hotlines::{self, HotlineInput, Services, Verified},
    progress::{
        DEFAULT_DIRECTIVE,
        hotlines::{Hotline, HotlineTable, VerificationRow},
    },
    state::AppState,
};

/// The hotline register.
#[utoipa::path(get, path = "/api/v1/hotlines", tag = "hotlines", security(("bearer" = [])),
    responses((status = 200, body = Vec<Hotline>), (status = 401, body = ErrorBody)))]
pub async fn list_hotlines(state: web::Data<AppState>, _caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(crate::progress::hotlines::register(&state.db).await?))
}

/// Add a hotline to the register, or change one (keyed by its national number): the
/// Ministry Office. Audited.
#[utoipa::path(put, path = "/api/v1/hotlines", tag = "hotlines", security(("bearer" = [])),
    request_body = HotlineInput,
    responses((status = 200, body = Hotline), (status = 400, body = ErrorBody, description = "not a number, a blank name or owner, a bad date, free_until before free_from"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_hotline(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<HotlineInput>,
) -> ApiResult<HttpResponse> {
    let h = hotlines::set_hotline(&state.db, &caller, &body, crate::clock::now()).await?;
    Ok(HttpResponse::Ok().json(h))
}

/// Take a hotline off the register: the Ministry Office. Verifications made keep what they
/// found. Audited.
#[utoipa::path(delete, path = "/api/v1/hotlines/{number}", tag = "hotlines", security(("bearer" = [])),
    params(("number" = String, Path, description = "the hotline (`19009095`, `1900 9095`)")),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such hotline on the register")))]
pub async fn remove_hotline(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
) -> ApiResult<HttpResponse> {
    hotlines::remove_hotline(&state.db, &caller, &number).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectiveQuery {
    /// Default: the bundled directive.
    directive: Option<String>,
}

/// The carrier × hotline table: each carrier's state for each registered hotline
/// (`confirmed`, `contradicted` by a call-record verification, `conflict`, `withdrawn`,
/// `missing`), with its newest verification.
#[utoipa::path(get, path = "/api/v1/hotlines/table", tag = "hotlines", security(("bearer" = [])),
    params(DirectiveQuery),
    responses((status = 200, body = HotlineTable), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn hotline_table(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<DirectiveQuery>,
) -> ApiResult<HttpResponse> {
    caller.require(caller.reads_everything(), "read every carrier")?;
    let directive = q.directive.as_deref().unwrap_or(DEFAULT_DIRECTIVE);
    let t = crate::progress::hotlines::table(&state.db, &state.catalogue, directive).await?;
    Ok(HttpResponse::Ok().json(t))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerificationsQuery {
    /// Default: the bundled directive.
    directive: Option<String>,
    /// One carrier's (its members see only their own).
    carrier: Option<String>,
}

/// The call-record verifications, newest first: their figures, file hash and first
/// offending calls (callers masked).
#[utoipa::path(get, path = "/api/v1/verifications", tag = "hotlines", security(("bearer" = [])),
    params(VerificationsQuery),
    responses((status = 200, body = Vec<VerificationRow>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_verifications(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<VerificationsQuery>,
) -> ApiResult<HttpResponse> {
    let carrier = q.carrier.as_deref();
    match carrier {
        Some(c) => caller.require(caller.may_read_unit(c), "read this carrier")?,
        None => caller.require(caller.reads_everything(), "read every carrier")?,
    }
    let directive = q.directive.as_deref().unwrap_or(DEFAULT_DIRECTIVE);
    let rows = crate::progress::hotlines::verifications_of(&state.db, directive, carrier).await?;
    let out: Vec<VerificationRow> = rows.iter().map(VerificationRow::of).collect();
    Ok(HttpResponse::Ok().json(out))
}

/// A carrier's column mapping.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingBody {
    /// `caller=src,called=dst,start=start,seconds=billsec,charge=cost[,currency=cur]` (or
    /// `rate=…` for a rate per minute instead of a charge); null: none (the presets only).
    pub spec: Option<String>,
}

/// A carrier's column mapping for its call records: its members and the Ministry Office.
#[utoipa::path(get, path = "/api/v1/carriers/{id}/cdr-mapping", tag = "hotlines", security(("bearer" = [])),
    params(("id" = String, Path, description = "the carrier's unit id (`viettel`)")),
    responses((status = 200, body = MappingBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_mapping(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    if state.catalogue.get(&id).is_none() {
        return Err(ApiError::NotFound(format!("đơn vị / unit {id}")));
    }
    caller.require(caller.may_read_unit(&id), "read this carrier")?;
    let m = hotlines::mapping_of(&state.db, &id).await?;
    Ok(HttpResponse::Ok().json(MappingBody {
        spec: m.map(|m| m.spec()),
    }))
}

/// Set (or clear) a carrier's column mapping: used for its uploads whose header is not a
/// preset's. Audited.
#[utoipa::path(put, path = "/api/v1/carriers/{id}/cdr-mapping", tag = "hotlines", security(("bearer" = [])),
    params(("id" = String, Path, description = "the carrier's unit id (`viettel`)")),
    request_body = MappingBody,
    responses((status = 200, body = MappingBody), (status = 400, body = ErrorBody, description = "a mapping that names a key twice, misses one, or names no charge"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_mapping(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<MappingBody>,
) -> ApiResult<HttpResponse> {
    let m = hotlines::set_mapping(
        &state.db,
        &state.catalogue,
        &caller,
        &id,
        body.spec.as_deref(),
        crate::clock::now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(MappingBody {
        spec: m.map(|m| m.spec()),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Default: the bundled directive.
    directive: Option<String>,
    /// The file's name, kept with the evidence. Default: `cdr.csv`.
    file_name: Option<String>,
    /// A column mapping for this file (as `cdr-mapping`'s `spec`), used whatever the header.
    mapping: Option<String>,
}

/// Uploads read at once in this process: each holds a blocking thread while it reads.
const UPLOADS: usize = 4;
static UPLOADING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(UPLOADS);
/// How long an upload may send nothing before it is dropped (and nothing recorded).
const IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// A reader over the chunks an upload's body arrives in, fed by the request's task.
struct Chunks {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl io::Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Upload a carrier's call records (CSV, UTF-8; the body streamed, never held): every call
/// to a registered hotline inside its free period found, those charged counted; the result,
/// with the file's SHA-256, written into the carrier's document as evidence (signed by the
/// server's verifier, synced to the carrier's phones, in the audit chain). A confirmation it
/// contradicts shows as `contradicted`. The carrier's members and the Ministry Office. Refused
/// whole, nothing recorded: 400 (unknown layout, not UTF-8, a line too long, more broken rows
/// than allowed — each with its line), 413 (longer than the configured limit).
#[utoipa::path(post, path = "/api/v1/carriers/{id}/cdr", tag = "hotlines", security(("bearer" = [])),
    params(("id" = String, Path, description = "the carrier's unit id (`viettel`)"), UploadQuery),
    request_body(content = super::Binary, content_type = "text/csv"),
    responses((status = 200, body = Verified), (status = 400, body = ErrorBody, description = "the file, with the line"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "an unknown carrier, or no document of it in the directive"),
        (status = 413, body = ErrorBody, description = "larger than the configured `cdr_upload_limit`"),
        (status = 503, body = ErrorBody, description = "`overloaded`: the writer's queue is full, or four uploads are being read already")))]
pub async fn upload_cdr(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<UploadQuery>,
    mut body: web::Payload,
) -> ApiResult<HttpResponse> {
    let limit = state.config.cdr_upload_limit;
    let too_large = |size: u64| ApiError::TooLarge {
        size: usize::try_from(size).unwrap_or(usize::MAX),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit) {
        return Err(too_large(n));
    }
    let directive = q
        .directive
        .as_deref()
        .unwrap_or(DEFAULT_DIRECTIVE)
        .to_string();
    let services = Services {
        db: &state.db,
        writer: &state.writer,
        audit: &state.audit_key,
        catalogue: &state.catalogue,
    };
    // Refused before a byte is read: another unit's carrier, an unknown one, no document, a
    // bad file name, too many uploads at once.
    hotlines::may_verify(services, Some(&caller), &id, &directive).await?;
    let Ok(_permit) = UPLOADING.try_acquire() else {
        return Err(ApiError::Overloaded { retry_after: 30 });
    };
    let mut options = taskforce_core::cdr::Options::default();
    if let Some(spec) = q.mapping.as_deref() {
        options.mapping = Some(
            taskforce_core::cdr::Mapping::parse(spec)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        );
        options.force_mapping = true;
    }
    let file_name = hotlines::file_name(q.file_name.as_deref().unwrap_or("cdr.csv"))?;
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
    let reader = Chunks {
        rx,
        current: Bytes::new(),
    };
    let mut received: u64 = 0;
    let mut over = false;
    let mut idle = false;
    let pump = async {
        loop {
            let chunk = match tokio::time::timeout(IDLE, body.next()).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => {
                    idle = true;
                    let _ = tx
                        .send(Err(io::Error::other("the upload stopped sending")))
                        .await;
                    break;
                }
            };
            let sent = match chunk {
                Ok(b) => {
                    received = received.saturating_add(b.len() as u64);
                    if received > limit {
                        over = true;
                        let _ = tx
                            .send(Err(io::Error::other("the upload is too large")))
                            .await;
                        break;
                    }
                    tx.send(Ok(b)).await
                }
                Err(e) => tx.send(Err(io::Error::other(e.to_string()))).await,
            };
            // The reader stopped (the file was refused): the rest is not read.
            if sent.is_err() {
                break;
            }
        }
        drop(tx);
    };
    let verify = hotlines::verify(
        services,
        Some(&caller),
        &id,
        &directive,
        &file_name,
        reader,
        options,
        crate::clock::now(),
    );
    // The reading decides: a file refused at its first line is answered at once, the rest of
    // the body left unread (the pump dropped), not waited for.
    let verified = {
        let verify = std::pin::pin!(verify);
        let pump = std::pin::pin!(pump);
        match futures_util::future::select(verify, pump).await {
            futures_util::future::Either::Left((v, _)) => v,
            futures_util::future::Either::Right(((), verify)) => verify.await,
        }
    };
    if over {
        return Err(too_large(received));
    }
    if idle {
        return Err(ApiError::BadRequest(format!(
            "tệp ngừng gửi quá {} giây / the upload sent nothing for {} seconds",
            IDLE.as_secs(),
            IDLE.as_secs()
        )));
    }
    let verified = verified?;
    Ok(HttpResponse::Ok().json(verified))
}
