//! JSON progress and listings for the Ministry Office (and, for their own unit, unit members):
//! `/api/v1/progress…`, `/api/v1/tasks`, `/api/v1/reports`, `/api/v1/confirmations`.

use actix_web::{HttpResponse, web};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use crate::{
    auth::Caller,
    entity::{confirmations, reports, tasks},
    error::{ApiError, ApiResult},
    progress::{DirectiveProgress, directive_progress, restrict},
    state::AppState,
};

pub const DEFAULT_DIRECTIVE: &str = "5-ct-btttt";

#[derive(Debug, Deserialize)]
pub struct Filter {
    directive: Option<String>,
    unit: Option<String>,
    clause: Option<String>,
    status: Option<String>,
    period: Option<String>,
    carrier: Option<String>,
    state: Option<String>,
}

impl Filter {
    fn directive(&self) -> String {
        self.directive
            .clone()
            .unwrap_or_else(|| DEFAULT_DIRECTIVE.into())
    }
}

/// The progress a caller may see: everything for the Ministry Office and the Minister, their
/// own units' rows for a member.
pub async fn visible_progress(
    state: &AppState,
    caller: &Caller,
    directive: &str,
) -> ApiResult<DirectiveProgress> {
    let today = chrono::Utc::now().date_naive();
    let mut p = directive_progress(&state.db, &state.catalogue, directive, today).await?;
    if !caller.reads_everything() {
        let own: Vec<String> = caller.units.iter().map(|(u, _)| u.clone()).collect();
        restrict(&mut p, &own);
    }
    Ok(p)
}

pub async fn progress(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(visible_progress(&state, &caller, &q.directive()).await?))
}

pub async fn clause(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let p = visible_progress(&state, &caller, &q.directive()).await?;
    let row = p
        .clauses
        .into_iter()
        .find(|c| c.clause == id)
        .ok_or_else(|| ApiError::NotFound(format!("clause {id} with tasks")))?;
    Ok(HttpResponse::Ok().json(row))
}

/// One unit, or a group rolled up from its members.
pub async fn unit(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let is_group = state.catalogue.get(&id).is_some_and(|u| u.is_group());
    let allowed = caller.reads_everything() || (!is_group && caller.is_member_of(&id));
    caller.require(allowed, &format!("read {id}"))?;
    let p = visible_progress(&state, &caller, &q.directive()).await?;
    if is_group {
        let group = p
            .groups
            .iter()
            .find(|g| g.group == id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("group {id}")))?;
        let members: Vec<_> = p
            .units
            .iter()
            .filter(|u| u.groups.contains(&id))
            .cloned()
            .collect();
        return Ok(
            HttpResponse::Ok().json(serde_json::json!({ "group": group, "members": members }))
        );
    }
    let row = p
        .units
        .into_iter()
        .find(|u| u.unit == id)
        .ok_or_else(|| ApiError::NotFound(format!("unit {id} with tasks")))?;
    let clauses: Vec<_> = p
        .clauses
        .into_iter()
        .filter_map(|c| c.units.iter().find(|u| u.unit == id).cloned().map(|u| serde_json::json!({ "clause": c.clause, "heading": c.heading, "role": u.role, "status": u.status, "progress": u.progress, "overdue": u.overdue })))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "unit": row, "clauses": clauses })))
}

fn scope(caller: &Caller, unit: &Option<String>) -> ApiResult<Option<Vec<String>>> {
    match unit {
        Some(u) => {
            caller.require(caller.may_read_unit(u), &format!("read {u}"))?;
            Ok(Some(vec![u.clone()]))
        }
        None if caller.reads_everything() => Ok(None),
        None => Ok(Some(caller.units.iter().map(|(u, _)| u.clone()).collect())),
    }
}

pub async fn list_tasks(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    let mut find = tasks::Entity::find().filter(tasks::Column::DirectiveId.eq(q.directive()));
    if let Some(units) = scope(&caller, &q.unit)? {
        find = find.filter(tasks::Column::UnitId.is_in(units));
    }
    if let Some(c) = &q.clause {
        find = find.filter(tasks::Column::ClauseId.eq(c.as_str()));
    }
    if let Some(s) = &q.status {
        find = find.filter(tasks::Column::Status.eq(s.as_str()));
    }
    let rows = find
        .order_by_asc(tasks::Column::UnitId)
        .order_by_asc(tasks::Column::TaskRef)
        .all(&state.db)
        .await?;
    let out: Vec<_> = rows
        .into_iter()
        .map(|t| serde_json::json!({ "unit": t.unit_id, "task": t.task_ref, "clause": t.clause_id, "role": t.role, "title": t.title, "status": t.status, "progress": t.progress, "assignee": t.assignee, "due": t.due, "conflicted": t.conflicted, "updated_at": t.updated_at }))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

pub async fn list_reports(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    let mut find = reports::Entity::find().filter(reports::Column::DirectiveId.eq(q.directive()));
    if let Some(units) = scope(&caller, &q.unit)? {
        find = find.filter(reports::Column::UnitId.is_in(units));
    }
    if let Some(p) = &q.period {
        find = find.filter(reports::Column::Period.eq(p.as_str()));
    }
    let rows = find
        .order_by_desc(reports::Column::At)
        .all(&state.db)
        .await?;
    let out: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let figures: serde_json::Value = serde_json::from_str(&r.figures).unwrap_or_default();
            serde_json::json!({ "unit": r.unit_id, "id": r.op_id, "period": r.period, "text": r.text, "figures": figures, "at": r.at })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

pub async fn list_confirmations(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    let mut find =
        confirmations::Entity::find().filter(confirmations::Column::DirectiveId.eq(q.directive()));
    if let Some(units) = scope(&caller, &q.unit)? {
        find = find.filter(confirmations::Column::UnitId.is_in(units));
    }
    if let Some(c) = &q.carrier {
        find = find.filter(confirmations::Column::Carrier.eq(c.as_str()));
    }
    if let Some(s) = &q.state {
        find = find.filter(confirmations::Column::State.eq(s.as_str()));
    }
    let rows = find
        .order_by_asc(confirmations::Column::Carrier)
        .order_by_asc(confirmations::Column::Hotline)
        .all(&state.db)
        .await?;
    let out: Vec<_> = rows
        .into_iter()
        .map(|c| serde_json::json!({ "unit": c.unit_id, "id": c.op_id, "carrier": c.carrier, "hotline": c.hotline, "free_from": c.free_from, "attested_by": c.attested_by, "state": c.state, "at": c.at }))
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
