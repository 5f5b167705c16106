//! A task's history from the op log, as JSON: `GET /api/v1/units/{id}/tasks/{task}/history`
//! (the dashboard's history page, `crate::task_history`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    auth::Caller,
    error::{ApiResult, ErrorBody},
    progress::DEFAULT_DIRECTIVE,
    state::AppState,
    task_history::{HistoryPage, HistoryQuery, task_history},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The directive (default `5-ct-btttt`).
    directive: Option<String>,
    /// `oldest` (the default) or `newest` first.
    #[param(pattern = "^(oldest|newest)$")]
    order: Option<String>,
    /// The `next` cursor of the previous page (`received_at.actor.start.index`).
    #[param(pattern = "^-?[0-9]{1,18}\\.-?[0-9]{1,9}\\.-?[0-9]{1,18}\\.[0-9]{1,9}$")]
    after: Option<String>,
    /// Entries per page: 1–500, 50 by default.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// Every operation of the unit document's op log that touched the task, paged: when, who,
/// which device, what. The Ministry Office, the Minister and admins may read every unit's;
/// members their own units'.
#[utoipa::path(get, path = "/api/v1/units/{id}/tasks/{task}/history", tag = "progress",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id, e.g. cuc-vt"),
        ("task" = String, Path, description = "task id: a3 (the directive's), t2.17 (ad hoc)",
            pattern = "^(a[0-9]{1,9}|t[0-9]{1,9}\\.[0-9]{1,19})$"),
        HistoryParams),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    q: web::Query<HistoryParams>,
) -> ApiResult<HttpResponse> {
    let (unit, task) = path.into_inner();
    let query = HistoryQuery::from_params(
        q.directive.as_deref().unwrap_or(DEFAULT_DIRECTIVE),
        &unit,
        &task,
        q.order.as_deref(),
        q.after.as_deref(),
        q.limit,
    )?;
    Ok(HttpResponse::Ok().json(task_history(&state.db, &caller, &query).await?))
}
