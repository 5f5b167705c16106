//! The unit catalogue, a unit's document header and its progress.

use actix_web::{HttpResponse, web};
use sea_orm::{EntityTrait, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Caller,
    db::entity::{documents, units},
    error::{ApiError, ApiResult, ErrorBody},
    progress::{DEFAULT_DIRECTIVE, units_progress},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitInfo {
    id: String,
    /// Vietnamese name.
    name: String,
    /// English name.
    en: String,
    kind: String,
    /// The groups the unit belongs to (e.g. the 63 provincial departments).
    groups: Vec<String>,
    aliases: Vec<String>,
}

/// The unit catalogue.
#[utoipa::path(get, path = "/api/v1/units", tag = "directive", security(("bearer" = [])),
    responses((status = 200, body = Vec<UnitInfo>), (status = 401, body = ErrorBody)))]
pub async fn list_units(state: web::Data<AppState>, _caller: Caller) -> ApiResult<HttpResponse> {
    let rows = units::Entity::find()
        .order_by_asc(units::Column::Id)
        .all(&state.db)
        .await?;
    let list: Vec<_> = rows
        .into_iter()
        .map(|u| {
            let groups: Vec<String> = serde_json::from_str(&u.groups).unwrap_or_default();
            let aliases: Vec<String> = serde_json::from_str(&u.aliases).unwrap_or_default();
            UnitInfo {
                id: u.id,
                name: u.name,
                en: u.en,
                kind: u.kind,
                groups,
                aliases,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocQuery {
    /// The directive (default `5-ct-btttt`).
    directive: Option<String>,
}

impl DocQuery {
    fn directive(&self) -> String {
        self.directive
            .clone()
            .unwrap_or_else(|| DEFAULT_DIRECTIVE.into())
    }
}

/// A unit's stored document row, if the caller may read the unit.
async fn readable_row(
    state: &AppState,
    caller: &Caller,
    directive: &str,
    unit: &str,
) -> ApiResult<documents::Model> {
    caller.require(caller.may_read_unit(unit), &format!("read {unit}"))?;
    documents::Entity::find_by_id((directive.to_string(), unit.to_string()))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {directive}/{unit}")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDocumentInfo {
    directive: String,
    unit: String,
    /// The document's fingerprint (a u64, as a decimal string): the phone's sync checks it.
    fingerprint: String,
    /// The document header: the tasks the directive gives the unit.
    #[schema(value_type = Object)]
    header: taskforce_core::doc::DocHeader,
    /// Operations merged so far.
    ops: i64,
}

/// The header of a unit's document (its tasks) and the fingerprint a device syncs with.
#[utoipa::path(get, path = "/api/v1/units/{id}/document", tag = "sync", security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id"), DocQuery),
    responses((status = 200, body = UnitDocumentInfo), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unit_document(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<DocQuery>,
) -> ApiResult<HttpResponse> {
    let unit = path.into_inner();
    let directive = q.directive();
    let row = readable_row(&state, &caller, &directive, &unit).await?;
    // The header is at the head of the snapshot (read without decoding the rest, which may
    // be megabytes); the op-log tail past it does not change it.
    let header =
        taskforce_core::sync::wire::snapshot_header(&row.state).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(UnitDocumentInfo {
        directive,
        unit,
        fingerprint: u64::from_ne_bytes(row.fingerprint.to_ne_bytes()).to_string(),
        header,
        ops: row.ops,
    }))
}

/// A unit's progress, from the projections with the same rules as the phone.
#[utoipa::path(get, path = "/api/v1/units/{id}/progress", tag = "progress", security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id"), DocQuery),
    responses((status = 200, body = taskforce_core::progress::UnitProgress),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unit_progress(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<DocQuery>,
) -> ApiResult<HttpResponse> {
    let unit = path.into_inner();
    let directive = q.directive();
    caller.require(caller.may_read_unit(&unit), &format!("read {unit}"))?;
    let today = chrono::Utc::now().date_naive();
    let progress = units_progress(
        &state.db,
        &directive,
        Some(std::slice::from_ref(&unit)),
        today,
    )
    .await?
    .pop()
    .ok_or_else(|| ApiError::NotFound(format!("document {directive}/{unit}")))?;
    Ok(HttpResponse::Ok().json(progress))
}
