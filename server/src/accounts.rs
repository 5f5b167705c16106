//! Account operations shared by the CLI and the API: create users, set passwords, log in,
//! register devices, write the audit log.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, Order, Query},
};
use taskforce_core::sync::verify_registration;

use crate::{
    auth::{
        Caller, Role, caller_for_token, check_password_strength, hash_password, new_token,
        verify_password,
    },
    clock::now,
    db::entity::{audit_log, device_challenges, devices, memberships, tokens, units, users},
    error::{ApiError, ApiResult, RegistrationRefused},
};

pub fn check_username(username: &str) -> ApiResult<()> {
    if crate::auth::is_possible_username(username) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "a username is 2–64 of a-z, 0-9, '.', '_', '-'".into(),
        ))
    }
}

pub async fn audit(
    db: &impl ConnectionTrait,
    user: Option<i64>,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    audit_log::ActiveModel {
        at: Set(now()),
        user_id: Set(user),
        action: Set(action.into()),
        subject: Set(subject.into()),
        detail: Set(detail.to_string()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A new user with memberships (unit id, lead). Refuses unknown units and taken usernames.
pub async fn create_user(
    db: &DatabaseConnection,
    username: &str,
    display_name: &str,
    password: &str,
    role: Role,
    units_of: &[(String, bool)],
    by: Option<i64>,
) -> ApiResult<i64> {
    check_username(username)?;
    check_password_strength(password)?;
    let txn = db.begin().await?;
    if users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "the username {username} is taken"
        )));
    }
    for (unit, _) in units_of {
        if units::Entity::find_by_id(unit.clone())
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound(format!("unit {unit}")));
        }
    }
    let user = users::ActiveModel {
        username: Set(username.into()),
        display_name: Set(if display_name.is_empty() {
            username.into()
        } else {
            display_name.into()
        }),
        password_hash: Set(hash_password(password)?),
        role: Set(role.as_str().into()),
        disabled: Set(false),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for (unit, lead) in units_of {
        memberships::ActiveModel {
            user_id: Set(user.id),
            unit_id: Set(unit.clone()),
            lead: Set(*lead),
        }
        .insert(&txn)
        .await?;
    }
    let detail = serde_json::json!({ "role": role.as_str(), "units": units_of });
    audit(&txn, by, "user.create", username, detail).await?;
    txn.commit().await?;
    Ok(user.id)
}

pub async fn set_password(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    by: Option<i64>,
) -> ApiResult<()> {
    check_password_strength(password)?;
    // No account has such a name: refused before any lookup or password check.
    if !crate::auth::is_possible_username(username) {
        return Err(ApiError::BadCredentials);
    }
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    let id = user.id;
    let mut active: users::ActiveModel = user.into();
    active.password_hash = Set(hash_password(password)?);
    active.update(db).await?;
    // Every session of the user ends with the old password.
    tokens::Entity::delete_many()
        .filter(tokens::Column::UserId.eq(id))
        .exec(db)
        .await?;
    audit(db, by, "user.password", username, serde_json::json!({})).await
}

/// Check the password and issue a token; the token's hash is what is stored.
pub async fn login(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    ttl_hours: i64,
) -> ApiResult<(String, i64, Caller)> {
    // No account has such a name: refused before any lookup or password check.
    if !crate::auth::is_possible_username(username) {
        return Err(ApiError::BadCredentials);
    }
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?;
    let user = match user {
        Some(u) if !u.disabled && verify_password(password, &u.password_hash) => u,
        Some(_) => return Err(ApiError::BadCredentials),
        None => {
            // Spend the same time as a real check, so timing does not reveal usernames.
            let _ = verify_password(
                password,
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000",
            );
            return Err(ApiError::BadCredentials);
        }
    };
    let (token, hash) = new_token()?;
    let expires_at = now() + ttl_hours * 3600;
    tokens::ActiveModel {
        hash: Set(hash),
        user_id: Set(user.id),
        created_at: Set(now()),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    audit(
        db,
        Some(user.id),
        "user.login",
        username,
        serde_json::json!({}),
    )
    .await?;
    let caller = caller_for_token(db, &token).await?;
    Ok((token, expires_at, caller))
}

/// How long a registration challenge may be used after it is issued, in seconds.
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// The most challenges a user holds at once; issuing another retires the oldest. Room for a
/// few phones of one account registering at the same moment (the load generator signs in up
/// to 16 at once), still a handful of rows per user.
pub const CHALLENGES_PER_USER: u64 = 16;

/// A registration challenge: 32 random bytes for the device to sign, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub challenge: [u8; 32],
    /// Unix seconds.
    pub expires_at: i64,
}

/// Issue a registration challenge to the caller. It lives in the database, so any replica
/// can check it; expired challenges (everyone's) are purged here, and the caller keeps at
/// most [`CHALLENGES_PER_USER`] (the oldest go), so nobody can fill the table.
pub async fn issue_challenge(db: &impl ConnectionTrait, caller: &Caller) -> ApiResult<Challenge> {
    let mut challenge = [0u8; 32];
    getrandom::fill(&mut challenge).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let at = now();
    device_challenges::Entity::delete_many()
        .filter(device_challenges::Column::ExpiresAt.lte(at))
        .exec(db)
        .await?;
    let expires_at = at + CHALLENGE_TTL_SECS;
    device_challenges::ActiveModel {
        challenge: Set(challenge.to_vec()),
        user_id: Set(caller.user_id),
        created_at: Set(at),
        expires_at: Set(expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // One statement: the user's rows but the newest few.
    let newest = Query::select()
        .column(device_challenges::Column::Id)
        .from(device_challenges::Entity)
        .and_where(device_challenges::Column::UserId.eq(caller.user_id))
        .order_by(device_challenges::Column::Id, Order::Desc)
        .limit(CHALLENGES_PER_USER)
        .to_owned();
    device_challenges::Entity::delete_many()
        .filter(device_challenges::Column::UserId.eq(caller.user_id))
        .filter(device_challenges::Column::Id.not_in_subquery(newest))
        .exec(db)
        .await?;
    Ok(Challenge {
        challenge,
        expires_at,
    })
}

/// What proves that a registering device holds the private key of the public key it sends:
/// a challenge the server issued to the caller and the device's signature over
/// [`taskforce_core::sync::registration_message`]. Either is `None` when the request lacks it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Possession<'a> {
    pub challenge: Option<&'a [u8]>,
    pub signature: Option<&'a [u8]>,
}

/// Use up the caller's challenge: one conditional update, so of two registrations (on any
/// replicas) presenting it, one only succeeds. When it does not, why.
async fn consume_challenge(
    db: &impl ConnectionTrait,
    caller: &Caller,
    challenge: &[u8; 32],
) -> ApiResult<()> {
    let at = now();
    let used = device_challenges::Entity::update_many()
        .col_expr(device_challenges::Column::UsedAt, Expr::value(at))
        .filter(device_challenges::Column::Challenge.eq(challenge.to_vec()))
        .filter(device_challenges::Column::UserId.eq(caller.user_id))
        .filter(device_challenges::Column::UsedAt.is_null())
        .filter(device_challenges::Column::ExpiresAt.gt(at))
        .exec(db)
        .await?;
    if used.rows_affected == 1 {
        return Ok(());
    }
    let row = device_challenges::Entity::find()
        .filter(device_challenges::Column::Challenge.eq(challenge.to_vec()))
        .one(db)
        .await?;
    Err(match row {
        None => RegistrationRefused::ChallengeUnknown,
        Some(r) if r.user_id != caller.user_id => RegistrationRefused::ChallengeOfAnotherUser,
        Some(r) if r.used_at.is_some() => RegistrationRefused::ChallengeUsed,
        Some(_) => RegistrationRefused::ChallengeExpired,
    }
    .into())
}

/// Bind a device's public key to the user; its actor id is what its changes carry. The
/// device proves it holds the private key: it signs a challenge issued to this user, bound to
/// the user, the key and the name ([`taskforce_core::sync::registration_message`]); the
/// challenge is used up by the attempt, whether the signature holds or not.
pub async fn register_device(
    db: &impl ConnectionTrait,
    caller: &Caller,
    name: &str,
    public_key: &[u8],
    proof: Possession<'_>,
) -> ApiResult<i32> {
    let key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| ApiError::BadRequest("an ed25519 public key is 32 bytes".into()))?;
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| ApiError::BadRequest("that is not a valid ed25519 public key".into()))?;
    // A small-order key "verifies" signatures nobody made with it.
    if verifying.is_weak() {
        return Err(ApiError::BadRequest(
            "that ed25519 public key is weak (of small order): make a new key pair".into(),
        ));
    }
    if name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "a device name is at most 100 characters".into(),
        ));
    }
    // PostgreSQL refuses NUL in text: refused here, before the challenge is used up.
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "tên thiết bị không được chứa ký tự điều khiển / a device name holds no control characters"
                .into(),
        ));
    }
    let (Some(challenge), Some(signature)) = (proof.challenge, proof.signature) else {
        return Err(RegistrationRefused::ChallengeRequired.into());
    };
    // Not 32 bytes: not one the server issued.
    let challenge: [u8; 32] = challenge
        .try_into()
        .map_err(|_| RegistrationRefused::ChallengeUnknown)?;
    consume_challenge(db, caller, &challenge).await?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| RegistrationRefused::BadSignature)?;
    if !verify_registration(&verifying, &challenge, &caller.username, name, &signature) {
        return Err(RegistrationRefused::BadSignature.into());
    }
    if let Some(existing) = devices::Entity::find()
        .filter(devices::Column::PublicKey.eq(key.to_vec()))
        .one(db)
        .await?
    {
        if existing.user_id == caller.user_id {
            return Ok(existing.actor_id);
        }
        return Err(ApiError::Conflict(
            "this key is registered to another user".into(),
        ));
    }
    let device = devices::ActiveModel {
        user_id: Set(caller.user_id),
        name: Set(name.into()),
        public_key: Set(key.to_vec()),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    audit(
        db,
        Some(caller.user_id),
        "device.register",
        &device.actor_id.to_string(),
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok(device.actor_id)
}
