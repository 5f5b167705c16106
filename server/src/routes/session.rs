//! Sign-in, sign-out and who the caller is.

use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{Caller, Role, token_hash},
    db::entity::tokens,
    error::{ApiResult, ErrorBody},
    http::bearer,
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
    /// The `device_token` of this device's last successful login, if it has one: with it, a
    /// correct password passes while strangers' failures hold the account back.
    #[serde(default)]
    device_token: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    username: String,
    display_name: String,
    role: Role,
    units: Vec<MeUnit>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeUnit {
    unit: String,
    lead: bool,
}

fn me(c: &Caller) -> Me {
    Me {
        username: c.username.clone(),
        display_name: c.display_name.clone(),
        role: c.role,
        units: c
            .units
            .iter()
            .map(|(u, l)| MeUnit {
                unit: u.clone(),
                lead: *l,
            })
            .collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginReply {
    /// The bearer token for `Authorization: Bearer …`.
    token: String,
    /// Unix seconds.
    expires_at: i64,
    user: Me,
    /// Keep it and send it with the next login (`device_token`): it marks this device as one
    /// that has signed in to the account before.
    device_token: Option<String>,
}

/// Sign in: a bearer token for the API and the phone's sync.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = Login,
    responses((status = 200, body = LoginReply), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Login>,
) -> ApiResult<HttpResponse> {
    let done = crate::http::login::login(
        &state,
        &req,
        &body.username,
        &body.password,
        body.device_token.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(LoginReply {
        token: done.token,
        expires_at: done.expires_at,
        user: me(&done.caller),
        device_token: done.device_token,
    }))
}

/// Sign out: the token stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    state: web::Data<AppState>,
    _caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    if let Some(token) = bearer(&req) {
        tokens::Entity::delete_by_id(token_hash(&token))
            .exec(&state.db)
            .await?;
        state.auth.forget_callers();
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user, their role and units.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(me(&caller))
}
