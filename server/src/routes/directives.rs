//! The directives the server tracks.

use actix_web::{HttpResponse, web};
use sea_orm::{EntityTrait, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::Caller,
    db::entity::directives,
    error::{ApiError, ApiResult, ErrorBody},
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
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// The whole directive: header, clauses with their text, and each clause's units.
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
    }
    Ok(HttpResponse::Ok().json(doc))
}
