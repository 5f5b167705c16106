//! JSON progress and listings for the Ministry Office (and, for their own unit, unit members):
//! `/api/v1/progress…`, `/api/v1/tasks`, `/api/v1/reports`, `/api/v1/confirmations`.

use actix_web::{HttpResponse, web};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use taskforce_core::{
    directive::Role,
    doc::{Figure, Status},
};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Caller,
    db::entity::{reports, tasks},
    error::{ApiError, ApiResult, ErrorBody},
    progress::{
        DEFAULT_DIRECTIVE, DirectiveProgress, GroupRow, UnitRow, figures_of, visible_progress,
    },
    state::AppState,
};

/// Filters of the listings; each applies where the listing has that field.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// The directive (default `5-ct-btttt`).
    directive: Option<String>,
    /// Only this unit's rows (a member may name only their own units).
    unit: Option<String>,
    /// Tasks: only this clause's.
    clause: Option<String>,
    /// Tasks: `todo`, `in_progress`, `done` or `blocked`.
    status: Option<String>,
    /// Reports: only this period (e.g. `2020-02-05`).
    period: Option<String>,
    /// Confirmations: only this carrier's.
    carrier: Option<String>,
    /// Confirmations: `confirmed`, `withdrawn` or `conflict`.
    state: Option<String>,
}

impl Filter {
    fn directive(&self) -> String {
        self.directive
            .clone()
            .unwrap_or_else(|| DEFAULT_DIRECTIVE.into())
    }
}

/// The directive's progress: summary, every clause × unit, units and groups.
#[utoipa::path(get, path = "/api/v1/progress", tag = "progress", security(("bearer" = [])),
    params(Filter),
    responses((status = 200, body = DirectiveProgress), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn progress(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(visible_progress(&state.db, &state.catalogue, &caller, &q.directive()).await?))
}

/// One clause: its text and every assigned unit's standing.
#[utoipa::path(get, path = "/api/v1/progress/clauses/{id}", tag = "progress",
    security(("bearer" = [])), params(("id" = String, Path, description = "clause id, e.g. III.3"), Filter),
    responses((status = 200, body = crate::progress::ClauseRow), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn clause(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let p = visible_progress(&state.db, &state.catalogue, &caller, &q.directive()).await?;
    let row = p
        .clauses
        .into_iter()
        .find(|c| c.clause == id)
        .ok_or_else(|| ApiError::NotFound(format!("clause {id} with tasks")))?;
    Ok(HttpResponse::Ok().json(row))
}

/// A unit's standing on each of its clauses.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitClause {
    clause: String,
    heading: Option<String>,
    role: Role,
    status: Status,
    progress: u8,
    overdue: bool,
}

/// `/progress/units/{id}` for a unit, or for a group (rolled up, with its members' rows).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UnitOrGroup {
    Unit {
        unit: UnitRow,
        clauses: Vec<UnitClause>,
    },
    Group {
        group: GroupRow,
        members: Vec<UnitRow>,
    },
}

/// One unit, or a group rolled up from its members.
#[utoipa::path(get, path = "/api/v1/progress/units/{id}", tag = "progress",
    security(("bearer" = [])), params(("id" = String, Path, description = "unit or group id"), Filter),
    responses((status = 200, body = UnitOrGroup), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
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
    let p = visible_progress(&state.db, &state.catalogue, &caller, &q.directive()).await?;
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
        return Ok(HttpResponse::Ok().json(UnitOrGroup::Group { group, members }));
    }
    let row = p
        .units
        .into_iter()
        .find(|u| u.unit == id)
        .ok_or_else(|| ApiError::NotFound(format!("unit {id} with tasks")))?;
    let clauses: Vec<_> = p
        .clauses
        .into_iter()
        .filter_map(|c| {
            let u = c.units.iter().find(|u| u.unit == id)?;
            Some(UnitClause {
                role: u.role,
                status: u.status,
                progress: u.progress,
                overdue: u.overdue,
                clause: c.clause,
                heading: c.heading,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(UnitOrGroup::Unit { unit: row, clauses }))
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

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskRow {
    unit: String,
    /// `a3` (the directive's fourth task for the unit) or `t2.17` (an ad-hoc task).
    task: String,
    clause: Option<String>,
    role: Option<String>,
    title: Option<String>,
    /// `todo`, `in_progress`, `done` or `blocked` (as counted, conflicts included).
    status: String,
    progress: i32,
    assignee: Option<String>,
    /// ISO date.
    due: Option<String>,
    conflicted: bool,
    /// Unix seconds.
    updated_at: i64,
}

/// Tasks as the projections hold them, filtered.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "progress", security(("bearer" = [])),
    params(Filter),
    responses((status = 200, body = Vec<TaskRow>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
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
        .map(|t| TaskRow {
            unit: t.unit_id,
            task: t.task_ref,
            clause: t.clause_id,
            role: t.role,
            title: t.title,
            status: t.status,
            progress: t.progress,
            assignee: t.assignee,
            due: t.due,
            conflicted: t.conflicted,
            updated_at: t.updated_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRow {
    unit: String,
    /// The operation that added the report (`actor.seq`).
    id: String,
    period: String,
    text: String,
    /// Named figures (e.g. `sms_sent`), in the order the unit gave them.
    figures: Vec<Figure>,
    /// Unix seconds.
    at: i64,
}

/// Status reports, newest first, filtered.
#[utoipa::path(get, path = "/api/v1/reports", tag = "progress", security(("bearer" = [])),
    params(Filter),
    responses((status = 200, body = Vec<ReportRow>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
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
            let figures = figures_of(&r.figures);
            ReportRow {
                unit: r.unit_id,
                id: r.op_id,
                period: r.period,
                text: r.text,
                figures,
                at: r.at,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConfirmationRow {
    unit: String,
    /// The operation that added the confirmation (`actor.seq`).
    id: String,
    carrier: String,
    hotline: String,
    /// ISO date from which calls to the hotline are free.
    free_from: String,
    attested_by: String,
    /// `confirmed`, `withdrawn`, `conflict` while devices disagree, or `contradicted`: a
    /// call-record verification found calls charged since its day.
    state: String,
    /// Unix seconds.
    at: i64,
}

/// Hotline-free billing confirmations, filtered.
#[utoipa::path(get, path = "/api/v1/confirmations", tag = "progress", security(("bearer" = [])),
    params(Filter),
    responses((status = 200, body = Vec<ConfirmationRow>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list_confirmations(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    let units = scope(&caller, &q.unit)?;
    // With the state each shows: `contradicted` by a call-record verification (issue 23).
    let rows = crate::progress::hotlines::confirmations_shown(&state.db, &q.directive()).await?;
    let out: Vec<_> = rows
        .into_iter()
        .filter(|(c, _)| units.as_ref().is_none_or(|u| u.contains(&c.unit_id)))
        .filter(|(c, _)| q.carrier.as_ref().is_none_or(|x| *x == c.carrier))
        .filter(|(_, shown)| q.state.as_ref().is_none_or(|x| x == shown))
        .map(|(c, shown)| ConfirmationRow {
            unit: c.unit_id,
            id: c.op_id,
            carrier: c.carrier,
            hotline: c.hotline,
            free_from: c.free_from,
            attested_by: c.attested_by,
            state: shown,
            at: c.at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
