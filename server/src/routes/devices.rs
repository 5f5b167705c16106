//! Registering a phone: a challenge to sign, then the key with its signature; revoking one.

use actix_web::{HttpResponse, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    accounts::{self, DeviceSummary, Possession, Quotas},
    auth::Caller,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceChallenge {
    /// 32 random bytes, base64, for the device to sign: single use, issued to the caller.
    challenge: String,
    /// Unix seconds; the challenge is refused from then on.
    expires_at: i64,
    /// The user the challenge is issued to: the username the device signs.
    username: String,
}

/// A challenge for registering a device: the device signs it with the key it registers
/// (`taskforce_core::sync::registration_message`: the challenge, this username, the public key
/// and the device name, under the domain `taskforce/device-registration/v1`). It expires after
/// five minutes; a user holds at most sixteen, issuing another retires the oldest.
#[utoipa::path(post, path = "/api/v1/devices/challenge", tag = "sync",
    security(("bearer" = [])),
    responses((status = 200, body = DeviceChallenge), (status = 401, body = ErrorBody)))]
pub async fn device_challenge(
    state: web::Data<AppState>,
    caller: Caller,
) -> ApiResult<HttpResponse> {
    let issued = accounts::issue_challenge(&state.db, &caller).await?;
    Ok(HttpResponse::Ok().json(DeviceChallenge {
        challenge: STANDARD.encode(issued.challenge),
        expires_at: issued.expires_at,
        username: caller.username,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    name: String,
    /// The device's ed25519 public key, base64.
    public_key: String,
    /// A challenge from `POST /api/v1/devices/challenge`, base64, as issued.
    #[serde(default)]
    challenge: Option<String>,
    /// The device's ed25519 signature (64 bytes, base64) over the registration message of the
    /// challenge, the caller's username, `public_key` and `name`, by the private key of
    /// `public_key`.
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCreated {
    /// The device's actor id: it names the device in `X-Taskforce-Device` and in its changes.
    actor_id: u32,
}

/// Register a phone: its ed25519 public key, bound to the caller, with the proof that the
/// phone holds the private key (a signed challenge); returns its actor id. Refused, nothing
/// registered: 400 `challenge_required`, `challenge_unknown`, `challenge_expired`,
/// `challenge_used`; 403 `challenge_not_yours`, `bad_registration_signature`, `device_revoked`
/// (the key is a revoked device's); 409 `quota_exceeded` (the user has `devices_per_user`
/// devices not revoked). The challenge is used up by any attempt that names it.
#[utoipa::path(post, path = "/api/v1/devices", tag = "sync", request_body = NewDevice,
    security(("bearer" = [])),
    responses((status = 201, body = DeviceCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn register_device(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewDevice>,
) -> ApiResult<HttpResponse> {
    let key = STANDARD
        .decode(body.public_key.trim())
        .map_err(|_| ApiError::BadRequest("public_key must be base64".into()))?;
    // Undecodable proofs are passed on as empty bytes: refused as an unknown challenge or a
    // bad signature, like any that is not what it should be.
    let decode = |field: &Option<String>| {
        field
            .as_deref()
            .map(|s| STANDARD.decode(s.trim()).unwrap_or_default())
    };
    let challenge = decode(&body.challenge);
    let signature = decode(&body.signature);
    let proof = Possession {
        challenge: challenge.as_deref(),
        signature: signature.as_deref(),
    };
    let quotas = Quotas::of(&state.config);
    let actor =
        accounts::register_device(&state.db, &quotas, &caller, &body.name, &key, proof).await?;
    let actor_id = u32::try_from(actor).map_err(ApiError::internal)?;
    Ok(HttpResponse::Created().json(DeviceCreated { actor_id }))
}

/// Revoke a device (a lost phone): its owner or an admin. Its later syncs are refused (403
/// `device_revoked`), on this server at once and on other replicas within 5 s; its earlier
/// changes stay in the op log, its key stays to verify them, and its row is never deleted.
/// Every session of the owner ends (the lost phone holds one): they sign in again. Revoking a
/// revoked device changes nothing.
#[utoipa::path(post, path = "/api/v1/devices/{actor}/revoke", tag = "accounts",
    security(("bearer" = [])),
    params(("actor" = u32, Path, description = "the device's actor id")),
    responses((status = 200, body = DeviceSummary), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_device(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<u32>,
) -> ApiResult<HttpResponse> {
    let actor = path.into_inner();
    let device = accounts::device(&state.db, actor).await?;
    caller.require(
        accounts::may_revoke_device(&caller, device.user_id),
        &format!("revoke device {actor}"),
    )?;
    let revoked = accounts::revoke_device(&state.db, actor, Some(caller.user_id)).await?;
    state.auth.forget_device(actor);
    // The owner's sessions ended with it (`accounts::revoke_device`): none may linger here.
    state.auth.forget_callers();
    Ok(HttpResponse::Ok().json(revoked))
}
