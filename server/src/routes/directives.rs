//! The directives the server tracks, and the drafts the Ministry Office imports, reviews and
//! publishes (issue 21; the rules are `drafts`').

use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::{EntityTrait, QueryOrder};
use serde::{Deserialize, Serialize};
use taskforce_core::directive::{Correction, MAX_DIRECTIVE_BYTES};
use utoipa::ToSchema;

use crate::{
    auth::Caller,
    db::entity::directives,
    drafts::{self, By, DraftSummary, DraftView, Published},
    error::{ApiError, ApiResult, ErrorBody},
    revisions::Brought,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectiveSummary {
    id: String,
    number: String,
    issuer: String,
    /// ISO date of issue.
    date: String,
    title: String,
    /// Revisions published since it was first published (decision 44).
    revision: i32,
}

/// The directives the server tracks.
#[utoipa::path(get, path = "/api/v1/directives", tag = "directive", security(("bearer" = [])),
    responses((status = 200, body = Vec<DirectiveSummary>), (status = 401, body = ErrorBody)))]
pub async fn list_directives(
    state: web::Data<AppState>,
    _caller: Caller,
) -> ApiResult<HttpResponse> {
    let rows = directives::Entity::find()
        .order_by_asc(directives::Column::Date)
        .all(&state.db)
        .await?;
    let list: Vec<_> = rows
        .into_iter()
        .map(|d| DirectiveSummary {
            id: d.id,
            number: d.number,
            issuer: d.issuer,
            date: d.date,
            title: d.title,
            revision: d.revision,
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// The whole directive: header, clauses with their text, each clause's units, and its
/// `revision` (decision 44).
#[utoipa::path(get, path = "/api/v1/directives/{id}", tag = "directive",
    security(("bearer" = [])), params(("id" = String, Path, description = "directive id, e.g. 5-ct-btttt")),
    responses((status = 200, body = Object, description = "the imported directive (mobile-core's model as JSON) with its `id`"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_directive(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let d = directives::Entity::find_by_id(id.clone())
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound(format!("directive {id}")))?;
    let mut doc: serde_json::Value =
        serde_json::from_str(&d.document).map_err(ApiError::internal)?;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), serde_json::Value::String(d.id));
        // Which revision this text is (decision 44): a phone keeps it beside the text.
        obj.insert("revision".into(), serde_json::Value::from(d.revision));
    }
    Ok(HttpResponse::Ok().json(doc))
}

/// Import a directive's text (the UTF-8 text as extracted from the signed PDF, at most
/// 2 MiB) as a draft for the Ministry Office to review. A draft of the same directive is
/// replaced by the new text, keeping the review's corrections that still apply.
#[utoipa::path(post, path = "/api/v1/directives/drafts", tag = "directive", security(("bearer" = [])),
    request_body(content = String, content_type = "text/plain", description = "the directive's text"),
    responses((status = 201, body = DraftView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "already published"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody, description = "not a directive")))]
pub async fn import_draft(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let by = By::caller(&caller)?;
    let text = super::sync::read_body(payload, MAX_DIRECTIVE_BYTES, &req).await?;
    let draft = drafts::import_draft(&state.db, &state.catalogue, &by, &text).await?;
    Ok(HttpResponse::Created().json(draft))
}

/// The drafts awaiting review.
#[utoipa::path(get, path = "/api/v1/directives/drafts", tag = "directive", security(("bearer" = [])),
    responses((status = 200, body = Vec<DraftSummary>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_drafts(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    By::caller(&caller)?;
    Ok(HttpResponse::Ok().json(drafts::list_drafts(&state.db).await?))
}

/// A draft: the directive as imported under the review, its corrections, its warnings, and
/// the documents publishing would make.
#[utoipa::path(get, path = "/api/v1/directives/drafts/{id}", tag = "directive",
    security(("bearer" = [])), params(("id" = String, Path, description = "the directive's id, e.g. 12-ct-btttt")),
    responses((status = 200, body = DraftView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_draft(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    By::caller(&caller)?;
    let draft = drafts::get_draft(&state.db, &state.catalogue, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// Corrections of a draft's review, made in order, all or none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Corrections {
    corrections: Vec<Correction>,
    /// The draft's `updated_at` as the reviewer read it: a draft changed since is refused
    /// (409 `draft_changed`) rather than corrected blind.
    #[serde(default)]
    updated_at: Option<i64>,
}

/// Correct a draft's review: give a clause to a unit, take it away, change a role, mark a
/// clause as giving no task.
#[utoipa::path(post, path = "/api/v1/directives/drafts/{id}/corrections", tag = "directive",
    security(("bearer" = [])), params(("id" = String, Path, description = "the directive's id")),
    request_body = Corrections,
    responses((status = 200, body = DraftView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the draft changed meanwhile"),
        (status = 422, body = ErrorBody, description = "a correction cannot be made")))]
pub async fn correct_draft(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Corrections>,
) -> ApiResult<HttpResponse> {
    let by = By::caller(&caller)?;
    let body = body.into_inner();
    let draft = drafts::correct(
        &state.db,
        &state.catalogue,
        &by,
        &path.into_inner(),
        &body.corrections,
        body.updated_at,
    )
    .await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// Publish a draft: the directive's clauses and a document for every unit it gives tasks
/// to; the units' phones receive them at their next sync.
#[utoipa::path(post, path = "/api/v1/directives/drafts/{id}/publish", tag = "directive",
    security(("bearer" = [])), params(("id" = String, Path, description = "the directive's id")),
    responses((status = 201, body = Published), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "already published")))]
pub async fn publish_draft(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let by = By::caller(&caller)?;
    let done = drafts::publish(
        &state.db,
        &state.catalogue,
        &by,
        &path.into_inner(),
        None,
        Some(state.office()),
    )
    .await?;
    Ok(HttpResponse::Created().json(done))
}

/// Bring the units' documents that are behind the directive's revision to it (decision 44):
/// those whose write was refused when the revision was published, or not made because the
/// server stopped. Safe to call at any time: a document already brought gets nothing.
#[utoipa::path(post, path = "/api/v1/directives/{id}/bring", tag = "directive",
    security(("bearer" = [])), params(("id" = String, Path, description = "the directive's id")),
    responses((status = 200, body = Brought), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn bring_documents(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let brought = crate::revisions::bring_documents(
        &state.db,
        &state.writer,
        &state.audit_key,
        &state.catalogue,
        &caller,
        &path.into_inner(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(brought))
}

/// Throw a draft away.
#[utoipa::path(delete, path = "/api/v1/directives/drafts/{id}", tag = "directive",
    security(("bearer" = [])), params(("id" = String, Path, description = "the directive's id")),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn discard_draft(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let by = By::caller(&caller)?;
    drafts::discard(&state.db, &by, &path.into_inner(), None).await?;
    Ok(HttpResponse::NoContent().finish())
}
