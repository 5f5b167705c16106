//! A unit's members.

use actix_web::{HttpResponse, web};
use sea_orm::{ColumnTrait, EntityTrait, ModelTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    accounts::{self, NewUser, Quotas},
    auth::{Caller, Role},
    db::entity::{memberships, users},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// A member to add. With `password`: a new account of that username (and `display_name`),
/// a member of the unit. Without: the existing account of that username joins the unit
/// (`display_name` is then refused: it belongs to the account).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// a-z, 0-9, `.`, `_`, `-`; 3 to 64 of them unless the server is configured otherwise.
    #[schema(pattern = "^[a-z0-9._-]{2,64}$")]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: Option<String>,
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
    /// Whether a new account was made (a password was given) or an existing one joined.
    created: bool,
}

/// A unit lead (or the Ministry Office, or an admin) adds a member to the unit: a new account
/// when a password is given, else an existing account. Refused: 400 `bad_username`,
/// `bad_display_name`; 404 an unknown unit or (without a password) user; 409 `conflict` (the
/// username is taken, or the user is a member already), `quota_exceeded` (the unit has
/// `members_per_unit` members).
#[utoipa::path(post, path = "/api/v1/units/{id}/members", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id")), request_body = NewMember,
    responses((status = 201, body = MemberCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
    let quotas = Quotas::of(&state.config);
    let by = Some(caller.user_id);
    let (id, created) = match &body.password {
        Some(password) => {
            let units = [(unit.clone(), body.lead)];
            let new = NewUser {
                username: &body.username,
                display_name: &body.display_name,
                password,
                role: Role::Member,
                units: &units,
            };
            (
                accounts::create_user_within(&state.db, &quotas, &new, by).await?,
                true,
            )
        }
        None if !body.display_name.is_empty() => {
            return Err(ApiError::BadRequest(
                "tên hiển thị chỉ dùng khi tạo tài khoản mới (kèm mật khẩu) / display_name is for a new account (with a password)".into(),
            ));
        }
        None => {
            let id =
                accounts::add_membership(&state.db, &quotas, &body.username, &unit, body.lead, by)
                    .await?;
            // The account's cached callers name its old units.
            state.auth.forget_callers();
            (id, false)
        }
    };
    Ok(HttpResponse::Created().json(MemberCreated {
        id,
        username: body.username.clone(),
        unit,
        created,
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
