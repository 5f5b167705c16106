//! The Ministry Office's actions over the API (issue 20): accept, return, urge, set a
//! deadline, comment; on a task, a unit or a clause. The rules are `office`'s.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult, ErrorBody},
    office::{self, Action, Outcome, Target},
    state::AppState,
};

/// One action of the Ministry Office. The target: `unit` and `task` for one task, `unit`
/// alone for every directive task of the unit, `clause` alone for that clause's task in every
/// unit it names.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficeAction {
    /// Default: the bundled directive.
    #[serde(default)]
    directive: Option<String>,
    /// `accept`, `return`, `urge`, `deadline` or `comment`.
    #[schema(pattern = "^(accept|return|urge|deadline|comment)$")]
    action: String,
    #[serde(default)]
    unit: Option<String>,
    /// `a3` (a directive task) or `t2.17` (one the unit added).
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    clause: Option<String>,
    /// A return's reason (required), an acceptance's remark, an urge's message (required), a
    /// comment (required).
    #[serde(default)]
    text: String,
    /// `YYYY-MM-DD`: an urge's new deadline (optional), the deadline to set (absent or null
    /// clears it).
    #[serde(default)]
    due: Option<String>,
    /// One task's accept or return: its unit clock as the reviewer saw it (`actor.seq`
    /// pairs, `1.5,3.2`); default, the state held now.
    #[serde(default)]
    seen: Option<String>,
}

impl OfficeAction {
    /// The body a dashboard form stands for (blank fields as absent), on the bundled
    /// directive: `[unit, task, clause]` name the target.
    pub fn from_form(
        action: &str,
        [unit, task, clause]: [&str; 3],
        text: &str,
        due: &str,
        seen: &str,
    ) -> Self {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        OfficeAction {
            directive: None,
            action: action.to_string(),
            unit: some(unit),
            task: some(task),
            clause: some(clause),
            text: text.to_string(),
            due: some(due),
            seen: some(seen),
        }
    }
}

/// The action as the service takes it.
pub fn parse(body: &OfficeAction, default_directive: &str) -> ApiResult<(String, Target, Action)> {
    let due = match body.due.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(d.parse::<NaiveDate>().map_err(|_| {
            ApiError::BadRequest(format!(
                "{d:?} không phải ngày YYYY-MM-DD / is not a date YYYY-MM-DD"
            ))
        })?),
    };
    if let Some(d) = due {
        let (lo, hi) = (
            taskforce_core::doc::limits::EARLIEST_DATE,
            taskforce_core::doc::limits::LATEST_DATE,
        );
        if !(lo..=hi).contains(&d) {
            return Err(ApiError::BadRequest(format!(
                "{d} không nằm trong {lo}–{hi} / is not between {lo} and {hi}"
            )));
        }
    }
    let text = body.text.clone();
    let action = match body.action.as_str() {
        "accept" => Action::Accept { remark: text },
        "return" => Action::Return { reason: text },
        "urge" => Action::Urge { message: text, due },
        "deadline" => Action::Deadline { due },
        "comment" => Action::Comment { text },
        other => {
            return Err(ApiError::BadRequest(format!(
                "{other:?}: hành động là accept, return, urge, deadline hoặc comment / the action is accept, return, urge, deadline or comment"
            )));
        }
    };
    let seen = body.seen.as_deref().map(office::parse_seen).transpose()?;
    let target = match (&body.unit, &body.task, &body.clause) {
        (Some(unit), Some(task), None) => Target::Task {
            unit: unit.clone(),
            task: task.parse().map_err(ApiError::BadRequest)?,
            seen,
        },
        (Some(unit), None, None) if seen.is_none() => Target::Unit { unit: unit.clone() },
        (None, None, Some(clause)) if seen.is_none() => Target::Clause {
            clause: clause.clone(),
        },
        _ => {
            return Err(ApiError::BadRequest(
                "chọn một nhiệm vụ (unit + task), một đơn vị (unit) hoặc một điều khoản (clause) / give a task (unit and task), a unit (unit) or a clause (clause); `seen` only with a task".into(),
            ));
        }
    };
    let directive = body
        .directive
        .clone()
        .unwrap_or_else(|| default_directive.to_string());
    Ok((directive, target, action))
}

/// The Ministry Office (or an admin) accepts or returns a unit's work, urges a unit, sets a
/// deadline or comments: operations in each unit's document, signed by a device the server
/// holds for the account, written like a phone's sync; the unit's phones get them on their
/// next sync. A unit or clause target acts on the tasks the action fits (accept and return:
/// reported done; urge: not done, or returned; deadline: all) and lists the others as
/// skipped. Refused: 400 (a bad action, a blank reason, message or comment, a bad date),
/// 403 (not the Ministry Office), 404 (an unknown unit, clause or task), 409 `conflict` (one
/// task accepted that is not reported done).
#[utoipa::path(post, path = "/api/v1/office/actions", tag = "office", security(("bearer" = [])),
    request_body = OfficeAction,
    responses((status = 200, body = Outcome, description = "what was made, and the tasks of a unit or clause left alone (with why, a unit's document full among them)"),
        (status = 400, body = ErrorBody, description = "a bad action, a blank reason, message or comment, a bad date or `seen`, an operation the document's rules refuse"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "one task accepted that is not reported done; the document kept changing"),
        (status = 422, body = ErrorBody, description = "`document_full`: one task's unit document has no room for it"),
        (status = 503, body = ErrorBody, description = "`overloaded`: the writer's queue is full; retry after `Retry-After` seconds")))]
pub async fn act(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<OfficeAction>,
) -> ApiResult<HttpResponse> {
    caller.require(caller.acts_for_office(), "act for the Ministry Office")?;
    let (directive, target, action) = parse(&body, crate::progress::DEFAULT_DIRECTIVE)?;
    let outcome = office::act(
        &state.db,
        &state.writer,
        &state.audit_key,
        &caller,
        &directive,
        &target,
        &action,
        crate::clock::now(),
    )
    .await?;
    // An urge's mail goes out at once (issue 22).
    state.mail_wake.notify_one();
    Ok(HttpResponse::Ok().json(outcome))
}
