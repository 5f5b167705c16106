//! Account operations shared by the CLI and the API: create users, set passwords, log in,
//! register devices, write the audit log.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, TransactionTrait,
};

use crate::{
    auth::{
        Caller, Role, caller_for_token, check_password_strength, hash_password, new_token,
        verify_password,
    },
    clock::now,
    db::entity::{audit_log, devices, memberships, tokens, units, users},
    error::{ApiError, ApiResult},
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

/// Bind a device's public key to the user; its actor id is what its changes carry.
pub async fn register_device(
    db: &impl ConnectionTrait,
    caller: &Caller,
    name: &str,
    public_key: &[u8],
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
