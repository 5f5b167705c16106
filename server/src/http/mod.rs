//! What the HTTP edge shares between the API's routes and the dashboard's pages: reading a
//! request's caller from its bearer token or the dashboard's cookie.

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::{auth::Caller, error::ApiError, state::AppState};

/// The dashboard's sign-in cookie: it holds a normal bearer token.
pub const TOKEN_COOKIE: &str = "tf_token";

pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            state.auth.caller(&state.db, &token).await
        })
    }
}

/// The token of a request: its bearer token, else the dashboard's cookie.
pub fn bearer_or_cookie(req: &HttpRequest) -> Option<String> {
    bearer(req).or_else(|| req.cookie(TOKEN_COOKIE).map(|c| c.value().to_string()))
}
