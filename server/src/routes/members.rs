//! A unit's members.

use actix_web::{HttpResponse, web};
use sea_orm::{ColumnTrait, EntityTrait, ModelTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    accounts,
    auth::{Caller, Role},
    db::entity::{memberships, users},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
    #[serde(default)]
    lead: bool,
}

impl std::fmt::Debug for NewMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMember")
            .field("username", &self.username)
            .field("lead", &self.lead)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCreated {
    id: i64,
    username: String,
    unit: String,
}

/// A unit lead (or the Ministry Office) adds a member to the unit.
#[utoipa::path(post, path = "/api/v1/units/{id}/members", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id")), request_body = NewMember,
    responses((status = 201, body = MemberCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<NewMember>,
) -> ApiResult<HttpResponse> {
    let unit = path.into_inner();
    caller.require(
        caller.may_manage_members(&unit),
        &format!("manage {unit}'s members"),
    )?;
    if body.lead && !matches!(caller.role, Role::MinistryOffice | Role::Admin) {
        return Err(ApiError::Forbidden(
            "only the Ministry Office appoints unit leads".into(),
        ));
    }
    let id = accounts::create_user(
        &state.db,
        &body.username,
        &body.display_name,
        &body.password,
        Role::Member,
        &[(unit.clone(), body.lead)],
        Some(caller.user_id),
    )
    .await?;
    Ok(HttpResponse::Created().json(MemberCreated {
        id,
        username: body.username.clone(),
        unit,
    }))
}

/// Remove a member from a unit (the account stays).
#[utoipa::path(delete, path = "/api/v1/units/{id}/members/{username}", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id"), ("username" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (unit, username) = path.into_inner();
    caller.require(
        caller.may_manage_members(&unit),
        &format!("manage {unit}'s members"),
    )?;
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username.as_str()))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    let m = memberships::Entity::find_by_id((user.id, unit.clone()))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{username} in {unit}")))?;
    m.delete(&state.db).await?;
    state.auth.forget_callers();
    accounts::audit(
        &state.db,
        Some(caller.user_id),
        "member.remove",
        &username,
        serde_json::json!({ "unit": unit }),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
