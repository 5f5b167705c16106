//! Accounts as an operator sees them: the list of users, a user's devices, disabling and
//! enabling an account.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    accounts::{self, DeviceSummary, UserSummary},
    auth::Caller,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// 1-based, at most 1,000,000 (past the last page an empty list). Default: 1.
    #[serde(default = "first_page")]
    #[param(minimum = 1, maximum = 1_000_000)]
    page: u64,
    /// 1 to 500. Default: 100.
    #[serde(default = "default_per_page")]
    #[param(minimum = 1, maximum = 500)]
    per_page: u64,
}

/// The most pages a listing is asked for (far past any real number of accounts).
const MAX_PAGES: u64 = 1_000_000;

fn first_page() -> u64 {
    1
}

fn default_per_page() -> u64 {
    100
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    users: Vec<UserSummary>,
    page: u64,
    per_page: u64,
    /// Accounts in all.
    total: u64,
}

/// Every account, a page at a time in username order: the Ministry Office and admins.
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", security(("bearer" = [])),
    params(Page),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    caller.require(accounts::may_list_users(&caller), "list the users")?;
    let (page, per_page) = (query.page, query.per_page);
    if !(1..=MAX_PAGES).contains(&page) || !(1..=accounts::MAX_PAGE).contains(&per_page) {
        return Err(ApiError::BadRequest(format!(
            "trang phải từ 1 đến {MAX_PAGES}, số mục mỗi trang từ 1 đến {} / page must be 1 to \
             {MAX_PAGES} and per_page 1 to {}",
            accounts::MAX_PAGE,
            accounts::MAX_PAGE
        )));
    }
    let (users, total) = accounts::list_users(&state.db, page, per_page).await?;
    Ok(HttpResponse::Ok().json(UserList {
        users,
        page,
        per_page,
        total,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDevices {
    username: String,
    /// Revoked ones included, in the order they were registered.
    devices: Vec<DeviceSummary>,
}

/// A user's devices: the user themself, the Ministry Office and admins.
#[utoipa::path(get, path = "/api/v1/users/{username}/devices", tag = "accounts",
    security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 200, body = UserDevices), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn user_devices(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let username = path.into_inner();
    caller.require(
        accounts::may_see_devices_of(&caller, &username),
        &format!("see {username}'s devices"),
    )?;
    let devices = accounts::devices_of(&state.db, &username).await?;
    Ok(HttpResponse::Ok().json(UserDevices { username, devices }))
}

/// Disable an account: admins. Its sessions end at once (on other replicas within 5 s), it
/// cannot sign in; its devices, memberships and everything it wrote stay. 409 `last_admin`
/// for the last enabled admin.
#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "accounts",
    security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn disable_user(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    set_disabled(&state, &caller, &path.into_inner(), true).await
}

/// Enable a disabled account again: admins. It signs in anew (its old sessions ended).
#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "accounts",
    security(("bearer" = [])), params(("username" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn enable_user(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    set_disabled(&state, &caller, &path.into_inner(), false).await
}

async fn set_disabled(
    state: &AppState,
    caller: &Caller,
    username: &str,
    disabled: bool,
) -> ApiResult<HttpResponse> {
    let what = if disabled { "disable" } else { "enable" };
    caller.require(
        accounts::may_disable_users(caller),
        &format!("{what} {username}"),
    )?;
    accounts::set_disabled(&state.db, username, disabled, Some(caller.user_id)).await?;
    state.auth.forget_callers();
    Ok(HttpResponse::NoContent().finish())
}
