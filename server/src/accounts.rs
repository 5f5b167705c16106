//! Account operations shared by the CLI and the API: create users, set passwords, log in,
//! register and revoke devices, disable accounts, memberships, listings, the quotas, who may
//! do which of these, and the audit log.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, Order, Query},
};
use serde::Serialize;
use taskforce_core::sync::verify_registration;

use crate::{
    auth::{
        Argon2Slot, Caller, MAX_PASSWORD_BYTES, Role, caller_for_token, check_password_strength,
        hash_password_off_loop, new_token, verify_password_in,
    },
    clock::now,
    config::Config,
    db::entity::{audit_log, device_challenges, devices, memberships, tokens, units, users},
    error::{AccountRefused, ApiError, ApiResult, RegistrationRefused},
};

/// The limits on accounts (issue 19), from the configuration: the `Config` fields of the same
/// names. Usernames stay within what `auth::is_possible_username` accepts (2–64), whatever
/// the configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// Devices a user may hold registered and not revoked.
    pub devices_per_user: u64,
    pub members_per_unit: u64,
    pub username_min_chars: usize,
    pub username_max_chars: usize,
    pub display_name_max_chars: usize,
}

impl Quotas {
    pub fn of(c: &Config) -> Self {
        let max = c.username_max_chars.clamp(2, 64);
        Quotas {
            devices_per_user: c.devices_per_user,
            members_per_unit: c.members_per_unit,
            username_min_chars: c.username_min_chars.clamp(2, max),
            username_max_chars: max,
            display_name_max_chars: c.display_name_max_chars,
        }
    }

    /// A new account's username: within the configured length, of a-z, 0-9, '.', '_', '-'.
    pub fn check_username(&self, username: &str) -> ApiResult<()> {
        let chars = username.chars().count();
        if crate::auth::is_possible_username(username)
            && (self.username_min_chars..=self.username_max_chars).contains(&chars)
        {
            Ok(())
        } else {
            Err(AccountRefused::BadUsername {
                min: self.username_min_chars,
                max: self.username_max_chars,
            }
            .into())
        }
    }

    /// A display name: at most the configured characters, no control characters (empty is
    /// allowed: the username stands for it).
    pub fn check_display_name(&self, name: &str) -> ApiResult<()> {
        if name.chars().count() <= self.display_name_max_chars
            && !name.chars().any(char::is_control)
        {
            Ok(())
        } else {
            Err(AccountRefused::BadDisplayName {
                max: self.display_name_max_chars,
            }
            .into())
        }
    }
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas::of(&Config::default())
    }
}

// Who may do what with accounts: each route's rule, one function each, used as
// `caller.require(accounts::may_…(&caller, …), "…")` like `Caller::may_manage_members`.

/// List every account: the Ministry Office and admins.
pub fn may_list_users(c: &Caller) -> bool {
    matches!(c.role, Role::MinistryOffice | Role::Admin)
}

/// See a user's devices: the user themself, the Ministry Office and admins.
pub fn may_see_devices_of(c: &Caller, username: &str) -> bool {
    c.username == username || matches!(c.role, Role::MinistryOffice | Role::Admin)
}

/// Revoke a device: its owner (a lost phone) and admins.
pub fn may_revoke_device(c: &Caller, owner: i64) -> bool {
    c.user_id == owner || c.role == Role::Admin
}

/// Disable and enable accounts: admins.
pub fn may_disable_users(c: &Caller) -> bool {
    c.role == Role::Admin
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

/// The enabled account `username` as a caller, without its memberships (the command line's
/// `--as`): 404 when there is none, 403 when it is disabled.
pub async fn enabled_account(db: &DatabaseConnection, username: &str) -> ApiResult<Caller> {
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {username}")))?;
    if user.disabled {
        return Err(ApiError::Forbidden(format!(
            "account {username} is disabled"
        )));
    }
    Ok(Caller {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        role: crate::auth::Role::parse(&user.role).unwrap_or(crate::auth::Role::Member),
        units: Vec::new(),
    })
}

/// A new user with memberships (unit id, lead), under the default [`Quotas`]. Refuses
/// unknown units and taken usernames.
pub async fn create_user(
    db: &DatabaseConnection,
    username: &str,
    display_name: &str,
    password: &str,
    role: Role,
    units_of: &[(String, bool)],
    by: Option<i64>,
) -> ApiResult<i64> {
    let new = NewUser {
        username,
        display_name,
        password,
        role,
        units: units_of,
    };
    create_user_within(db, &Quotas::default(), &new, by).await
}

/// What a new account is made of.
#[derive(Clone, Copy)]
pub struct NewUser<'a> {
    pub username: &'a str,
    /// Empty: the username.
    pub display_name: &'a str,
    pub password: &'a str,
    pub role: Role,
    /// (unit id, lead) for each membership.
    pub units: &'a [(String, bool)],
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("units", &self.units)
            .finish_non_exhaustive()
    }
}

/// Refuse one more member of `unit` when it has its quota; the unit's row is locked first
/// (on PostgreSQL; SQLite has one writer), so two additions cannot both pass at the limit.
async fn check_room_in_unit(
    txn: &impl ConnectionTrait,
    quotas: &Quotas,
    unit: &str,
) -> ApiResult<()> {
    if units::Entity::find_by_id(unit.to_string())
        .lock_exclusive()
        .one(txn)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound(format!("unit {unit}")));
    }
    let members = memberships::Entity::find()
        .filter(memberships::Column::UnitId.eq(unit))
        .count(txn)
        .await?;
    if members >= quotas.members_per_unit {
        return Err(AccountRefused::TooManyMembers {
            unit: unit.to_string(),
            max: quotas.members_per_unit,
        }
        .into());
    }
    Ok(())
}

/// A new user with memberships, under `quotas`: the username's and display name's rules, and
/// room in each unit. Refuses unknown units and taken usernames.
pub async fn create_user_within(
    db: &DatabaseConnection,
    quotas: &Quotas,
    new: &NewUser<'_>,
    by: Option<i64>,
) -> ApiResult<i64> {
    let NewUser {
        username,
        display_name,
        password,
        role,
        units: units_of,
    } = *new;
    quotas.check_username(username)?;
    quotas.check_display_name(display_name)?;
    check_password_strength(password)?;
    // Units in one order (their rows are locked in it: two creations never wait on each
    // other in a circle), each once.
    let mut in_order: Vec<&(String, bool)> = units_of.iter().collect();
    in_order.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = in_order.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ApiError::BadRequest(format!(
            "đơn vị {} được nêu hai lần / the unit {} is named twice",
            w[0].0, w[0].0
        )));
    }
    // Hashed before the write lock is taken (argon2 takes tens of milliseconds).
    let password_hash = hash_password_off_loop(password).await?;
    let txn = crate::db::begin_write(db).await?;
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
    for (unit, _) in &in_order {
        check_room_in_unit(&txn, quotas, unit).await?;
    }
    let user = users::ActiveModel {
        username: Set(username.into()),
        display_name: Set(if display_name.is_empty() {
            username.into()
        } else {
            display_name.into()
        }),
        password_hash: Set(password_hash),
        role: Set(role.as_str().into()),
        disabled: Set(false),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for (unit, lead) in in_order {
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
    active.password_hash = Set(hash_password_off_loop(password).await?);
    active.update(db).await?;
    // Every session of the user ends with the old password.
    tokens::Entity::delete_many()
        .filter(tokens::Column::UserId.eq(id))
        .exec(db)
        .await?;
    audit(db, by, "user.password", username, serde_json::json!({})).await
}

/// Check the password (in `slot`, off the async workers) and issue a token; the token's hash
/// is what is stored.
pub async fn login(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    ttl_hours: i64,
    slot: Argon2Slot,
) -> ApiResult<(String, i64, Caller)> {
    // No account has such a name, or such a password (none longer is ever set): refused
    // before any lookup or password check.
    if !crate::auth::is_possible_username(username) || password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::BadCredentials);
    }
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?;
    // Spend the same time whether or not the account exists, so timing does not reveal
    // usernames: a check against a hash of no password when it does not.
    const NO_ACCOUNT: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000";
    let hash = user
        .as_ref()
        .map_or(NO_ACCOUNT, |u| u.password_hash.as_str());
    let matches = verify_password_in(slot, password, hash).await;
    let user = match user {
        Some(u) if !u.disabled && matches => u,
        _ => return Err(ApiError::BadCredentials),
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
/// challenge is used up by the attempt, whether the signature holds or not. A key registered
/// before answers its actor id again, unless it was revoked; a new one needs room in the
/// user's quota of devices not revoked.
pub async fn register_device(
    db: &DatabaseConnection,
    quotas: &Quotas,
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
    // The user's row locked (on PostgreSQL; SQLite has one writer) while the devices are
    // counted, so two registrations cannot both pass at the quota.
    let txn = crate::db::begin_write(db).await?;
    users::Entity::find_by_id(caller.user_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if let Some(existing) = devices::Entity::find()
        .filter(devices::Column::PublicKey.eq(key.to_vec()))
        .one(&txn)
        .await?
    {
        if existing.user_id != caller.user_id {
            return Err(ApiError::Conflict(
                "this key is registered to another user".into(),
            ));
        }
        if existing.revoked_at.is_some() {
            return Err(AccountRefused::DeviceRevoked {
                actor: u32::try_from(existing.actor_id).map_err(ApiError::internal)?,
            }
            .into());
        }
        return Ok(existing.actor_id);
    }
    let held = devices::Entity::find()
        .filter(devices::Column::UserId.eq(caller.user_id))
        .filter(devices::Column::RevokedAt.is_null())
        .count(&txn)
        .await?;
    if held >= quotas.devices_per_user {
        return Err(AccountRefused::TooManyDevices {
            username: caller.username.clone(),
            max: quotas.devices_per_user,
        }
        .into());
    }
    let device = devices::ActiveModel {
        user_id: Set(caller.user_id),
        name: Set(name.into()),
        public_key: Set(key.to_vec()),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit(
        &txn,
        Some(caller.user_id),
        "device.register",
        &device.actor_id.to_string(),
        serde_json::json!({ "name": name }),
    )
    .await?;
    txn.commit().await?;
    Ok(device.actor_id)
}

/// An existing account joins a unit (no new account, no password): refused for an unknown
/// user or unit (404), a user already a member (409 `conflict`) and a full unit (409
/// `quota_exceeded`).
pub async fn add_membership(
    db: &DatabaseConnection,
    quotas: &Quotas,
    username: &str,
    unit: &str,
    lead: bool,
    by: Option<i64>,
) -> ApiResult<i64> {
    let txn = crate::db::begin_write(db).await?;
    let user = user_named(&txn, username).await?;
    check_room_in_unit(&txn, quotas, unit).await?;
    if memberships::Entity::find_by_id((user.id, unit.to_string()))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "{username} đã là thành viên của {unit} / {username} is already a member of {unit}"
        )));
    }
    memberships::ActiveModel {
        user_id: Set(user.id),
        unit_id: Set(unit.to_string()),
        lead: Set(lead),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({ "unit": unit, "lead": lead });
    audit(&txn, by, "member.add", username, detail).await?;
    txn.commit().await?;
    Ok(user.id)
}

/// The account of a username; 404 when there is none.
async fn user_named(db: &impl ConnectionTrait, username: &str) -> ApiResult<users::Model> {
    users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))
}

/// One account as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub units: Vec<UnitMembership>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnitMembership {
    pub unit: String,
    pub lead: bool,
}

/// The most accounts one page lists.
pub const MAX_PAGE: u64 = 500;

/// One page of the accounts (1-based, `per_page` of them, at most [`MAX_PAGE`]) in username
/// order, and how many accounts there are.
pub async fn list_users(
    db: &impl ConnectionTrait,
    page: u64,
    per_page: u64,
) -> ApiResult<(Vec<UserSummary>, u64)> {
    let per_page = per_page.clamp(1, MAX_PAGE);
    let total = users::Entity::find().count(db).await?;
    let rows = users::Entity::find()
        .order_by_asc(users::Column::Username)
        // Within what the database's 64-bit offset holds, whatever the caller asked.
        .offset(
            page.saturating_sub(1)
                .saturating_mul(per_page)
                .min(i64::MAX as u64),
        )
        .limit(per_page)
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let mut units: BTreeMap<i64, Vec<UnitMembership>> = BTreeMap::new();
    for m in memberships::Entity::find()
        .filter(memberships::Column::UserId.is_in(ids))
        .order_by_asc(memberships::Column::UnitId)
        .all(db)
        .await?
    {
        units.entry(m.user_id).or_default().push(UnitMembership {
            unit: m.unit_id,
            lead: m.lead,
        });
    }
    let users = rows
        .into_iter()
        .map(|u| UserSummary {
            units: units.remove(&u.id).unwrap_or_default(),
            role: Role::parse(&u.role).unwrap_or(Role::Member),
            username: u.username,
            display_name: u.display_name,
            disabled: u.disabled,
            created_at: u.created_at,
        })
        .collect();
    Ok((users, total))
}

/// One registered device as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeviceSummary {
    /// What names the device in `X-Taskforce-Device` and in its changes.
    pub actor_id: u32,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `null` while the device may sync.
    pub revoked_at: Option<i64>,
}

impl TryFrom<devices::Model> for DeviceSummary {
    type Error = ApiError;
    fn try_from(d: devices::Model) -> ApiResult<Self> {
        Ok(DeviceSummary {
            actor_id: u32::try_from(d.actor_id).map_err(ApiError::internal)?,
            name: d.name,
            created_at: d.created_at,
            revoked_at: d.revoked_at,
        })
    }
}

/// A user's devices, revoked ones included, in the order they were registered.
pub async fn devices_of(
    db: &impl ConnectionTrait,
    username: &str,
) -> ApiResult<Vec<DeviceSummary>> {
    let user = user_named(db, username).await?;
    devices::Entity::find()
        .filter(devices::Column::UserId.eq(user.id))
        .order_by_asc(devices::Column::ActorId)
        .all(db)
        .await?
        .into_iter()
        .map(DeviceSummary::try_from)
        .collect()
}

/// A registered device (404 when there is none): its row, whose `user_id` a permission
/// check needs.
pub async fn device(db: &impl ConnectionTrait, actor: u32) -> ApiResult<devices::Model> {
    let missing = || ApiError::NotFound(format!("device {actor}"));
    let id = i32::try_from(actor).map_err(|_| missing())?;
    devices::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(missing)
}

/// Revoke a device (a lost phone): its syncs are refused from now on. The row and its key
/// stay, so what it wrote before stays verifiable. Revoking a revoked device changes nothing.
/// The caller drops the device from its `AuthCache` (other processes see it within
/// `auth::DEVICE_TTL`).
pub async fn revoke_device(
    db: &DatabaseConnection,
    actor: u32,
    by: Option<i64>,
) -> ApiResult<DeviceSummary> {
    let row = device(db, actor).await?;
    if row.revoked_at.is_some() {
        return DeviceSummary::try_from(row);
    }
    let at = now();
    let txn = crate::db::begin_write(db).await?;
    devices::Entity::update_many()
        .col_expr(devices::Column::RevokedAt, Expr::value(at))
        .col_expr(devices::Column::RevokedBy, Expr::value(by))
        .filter(devices::Column::ActorId.eq(row.actor_id))
        .filter(devices::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    // Every session of the owner ends with it: a token is not tied to a device, and the lost
    // phone holds one — with it a thief could register a new key, sync as the owner, and
    // revoke the owner's replacement phone. The owner signs in again (their device tokens
    // keep the login limits off them).
    let ended = tokens::Entity::delete_many()
        .filter(tokens::Column::UserId.eq(row.user_id))
        .exec(&txn)
        .await?
        .rows_affected;
    let owner = users::Entity::find_by_id(row.user_id).one(&txn).await?;
    let detail = serde_json::json!({
        "name": row.name,
        "owner": owner.map(|u| u.username),
        "sessions_ended": ended,
    });
    audit(&txn, by, "device.revoke", &actor.to_string(), detail).await?;
    txn.commit().await?;
    DeviceSummary::try_from(device(db, actor).await?)
}

/// Disable (or enable) an account. A disabled account's sessions end (its tokens are
/// deleted: enabling it again does not revive them) and it cannot sign in; its devices and
/// memberships stay. The last enabled admin cannot be disabled (409 `last_admin`). The caller
/// drops the cached callers (other processes see it within `auth::CALLER_TTL`).
pub async fn set_disabled(
    db: &DatabaseConnection,
    username: &str,
    disabled: bool,
    by: Option<i64>,
) -> ApiResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let user = user_named(&txn, username).await?;
    if disabled && !user.disabled && user.role == Role::Admin.as_str() {
        // Every enabled admin locked, so two admins disabling each other cannot both pass.
        let admins = users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .filter(users::Column::Disabled.eq(false))
            .lock_exclusive()
            .all(&txn)
            .await?;
        if admins.iter().all(|a| a.id == user.id) {
            return Err(AccountRefused::LastAdmin.into());
        }
    }
    let id = user.id;
    if user.disabled != disabled {
        let mut active: users::ActiveModel = user.into();
        active.disabled = Set(disabled);
        active.update(&txn).await?;
    }
    if disabled {
        tokens::Entity::delete_many()
            .filter(tokens::Column::UserId.eq(id))
            .exec(&txn)
            .await?;
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit(&txn, by, action, username, serde_json::json!({})).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: ApiResult<()>) -> Result<(), &'static str> {
        r.map_err(|e| e.code())
    }

    #[test]
    fn usernames_are_checked_within_the_configured_lengths_and_characters() {
        let q = Quotas::default();
        assert_eq!(code(q.check_username("ab")), Err("bad_username"));
        assert_eq!(code(q.check_username("abc")), Ok(()));
        assert_eq!(code(q.check_username(&"a".repeat(64))), Ok(()));
        assert_eq!(code(q.check_username(&"a".repeat(65))), Err("bad_username"));
        for bad in ["Abc", "a b c", "việt", "a/b", "a@b"] {
            assert_eq!(code(q.check_username(bad)), Err("bad_username"), "{bad}");
        }
        assert_eq!(code(q.check_username("cuc-vt.a_1")), Ok(()));
        // The configuration moves the bounds, never past what a login accepts (2–64).
        let wide = Quotas::of(&Config {
            username_min_chars: 0,
            username_max_chars: 1000,
            ..Config::default()
        });
        assert_eq!((wide.username_min_chars, wide.username_max_chars), (2, 64));
        assert_eq!(code(wide.check_username("ab")), Ok(()));
        let narrow = Quotas::of(&Config {
            username_min_chars: 10,
            username_max_chars: 5,
            ..Config::default()
        });
        assert_eq!(
            (narrow.username_min_chars, narrow.username_max_chars),
            (5, 5)
        );
    }

    #[test]
    fn display_names_are_at_most_the_limit_and_hold_no_control_characters() {
        let q = Quotas::default();
        assert_eq!(code(q.check_display_name("")), Ok(()));
        assert_eq!(code(q.check_display_name(&"Đ".repeat(128))), Ok(()));
        assert_eq!(
            code(q.check_display_name(&"Đ".repeat(129))),
            Err("bad_display_name")
        );
        for bad in ["a\u{0}b", "a\tb", "a\u{7f}b", "a\u{9b}b"] {
            assert_eq!(
                code(q.check_display_name(bad)),
                Err("bad_display_name"),
                "{bad:?}"
            );
        }
    }

    fn caller(role: Role, user_id: i64) -> Caller {
        Caller {
            user_id,
            username: format!("user{user_id}"),
            display_name: String::new(),
            role,
            units: vec![("cuc-vt".into(), true)],
        }
    }

    #[test]
    fn each_account_rule_names_who_may() {
        use Role::*;
        let [member, office, minister, admin] =
            [Member, MinistryOffice, Minister, Admin].map(|r| caller(r, 1));
        let listing: Vec<bool> = [&member, &office, &minister, &admin]
            .map(may_list_users)
            .into();
        assert_eq!(listing, [false, true, false, true]);
        assert!(may_see_devices_of(&member, "user1"));
        assert!(!may_see_devices_of(&member, "user2"));
        assert!(may_see_devices_of(&office, "user2") && may_see_devices_of(&admin, "user2"));
        assert!(!may_see_devices_of(&minister, "user2"));
        assert!(may_revoke_device(&member, 1) && !may_revoke_device(&member, 2));
        assert!(!may_revoke_device(&office, 2) && may_revoke_device(&admin, 2));
        let disabling: Vec<bool> = [&member, &office, &minister, &admin]
            .map(may_disable_users)
            .into();
        assert_eq!(disabling, [false, false, false, true]);
    }
}
