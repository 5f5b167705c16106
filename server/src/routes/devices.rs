//! Registering a phone.

use actix_web::{HttpResponse, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    accounts,
    auth::Caller,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    name: String,
    /// The device's ed25519 public key, base64.
    public_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCreated {
    /// The device's actor id: it names the device in `X-Taskforce-Device` and in its changes.
    actor_id: u32,
}

/// Register a phone: its ed25519 public key, bound to the caller; returns its actor id.
#[utoipa::path(post, path = "/api/v1/devices", tag = "sync", request_body = NewDevice,
    security(("bearer" = [])),
    responses((status = 201, body = DeviceCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn register_device(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewDevice>,
) -> ApiResult<HttpResponse> {
    let key = STANDARD
        .decode(body.public_key.trim())
        .map_err(|_| ApiError::BadRequest("public_key must be base64".into()))?;
    let actor = accounts::register_device(&state.db, &caller, &body.name, &key).await?;
    let actor_id = u32::try_from(actor).map_err(ApiError::internal)?;
    Ok(HttpResponse::Created().json(DeviceCreated { actor_id }))
}
