//! Accounts: argon2id password hashes, expiring bearer tokens stored hashed, the `Caller`
//! extractor, what each role may do, and a limiter for failed logins.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    entity::{devices, memberships, tokens, users},
    error::{ApiError, ApiResult},
    state::{AppState, now},
};

/// A user's role across the ministry. Unit members and leads are `member` with memberships.
#[derive(utoipa::ToSchema)]
#[schema(as = UserRole)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A task-force member of one or more units (a membership may make them its lead).
    Member,
    /// Văn phòng Bộ: reads everything, manages the directive and the units.
    MinistryOffice,
    /// The Minister: reads everything.
    Minister,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::MinistryOffice => "ministry_office",
            Role::Minister => "minister",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Role::Member,
            Role::MinistryOffice,
            Role::Minister,
            Role::Admin,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Passwords must be long enough to resist guessing.
pub fn check_password_strength(password: &str) -> ApiResult<()> {
    if password.chars().count() < 10 {
        return Err(ApiError::BadRequest(
            "a password needs at least 10 characters".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::BadRequest(
            "a password is at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

/// A new random token (what the client keeps) and its hash (what the database keeps).
pub fn new_token() -> anyhow::Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// (unit id, lead) for each membership.
    pub units: Vec<(String, bool)>,
}

impl Caller {
    pub fn reads_everything(&self) -> bool {
        matches!(
            self.role,
            Role::MinistryOffice | Role::Minister | Role::Admin
        )
    }
    pub fn is_member_of(&self, unit: &str) -> bool {
        self.units.iter().any(|(u, _)| u == unit)
    }
    pub fn leads(&self, unit: &str) -> bool {
        self.units.iter().any(|(u, lead)| u == unit && *lead)
    }
    pub fn may_read_unit(&self, unit: &str) -> bool {
        self.reads_everything() || self.is_member_of(unit)
    }
    /// Only the unit's own members write its document.
    pub fn may_write_unit(&self, unit: &str) -> bool {
        self.is_member_of(unit)
    }
    pub fn may_manage_members(&self, unit: &str) -> bool {
        matches!(self.role, Role::MinistryOffice | Role::Admin) || self.leads(unit)
    }
    pub fn require(&self, allowed: bool, what: &str) -> ApiResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{} may not {what}",
                self.username
            )))
        }
    }
}

/// How long a checked token's caller is trusted without reading the database again.
pub const CALLER_TTL: Duration = Duration::from_secs(5);
/// How long a device's owner and key are (they never change once registered).
pub const DEVICE_TTL: Duration = Duration::from_secs(3600);
/// Entries per map before expired ones are swept (and, if all are fresh, all dropped).
const AUTH_CACHE_CAP: usize = 100_000;

/// Recently checked bearer tokens (by hash) and device keys, so that a sync does not read the
/// tokens, users, memberships and devices tables every time (decision 22). Changes made through
/// this process (logout, removing a member) drop the cached callers at once; changes made
/// elsewhere (the `taskforce user` command, another server replica) take effect within
/// [`CALLER_TTL`]. A token's expiry is checked on every use.
#[derive(Debug, Default)]
pub struct AuthCache {
    /// Token hash → (caller, token expiry, when read).
    callers: Mutex<HashMap<String, (Caller, i64, Instant)>>,
    /// Actor id → (owner, public key, when read).
    devices: Mutex<HashMap<u32, DeviceEntry>>,
}

type DeviceEntry = (i64, [u8; 32], Instant);

fn insert_bounded<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    key: K,
    value: V,
    fresh: impl Fn(&V) -> bool,
) {
    if map.len() >= AUTH_CACHE_CAP {
        map.retain(|_, v| fresh(v));
        if map.len() >= AUTH_CACHE_CAP {
            map.clear();
        }
    }
    map.insert(key, value);
}

impl AuthCache {
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The caller a bearer token stands for.
    pub async fn caller(&self, db: &impl ConnectionTrait, token: &str) -> ApiResult<Caller> {
        let hash = token_hash(token);
        if let Some((caller, expires, at)) = Self::lock(&self.callers).get(&hash)
            && at.elapsed() < CALLER_TTL
        {
            return if *expires > now() {
                Ok(caller.clone())
            } else {
                Err(ApiError::Unauthorized)
            };
        }
        let (caller, expires) = load_caller(db, &hash).await?;
        insert_bounded(
            &mut Self::lock(&self.callers),
            hash,
            (caller.clone(), expires, Instant::now()),
            |(_, _, at)| at.elapsed() < CALLER_TTL,
        );
        Ok(caller)
    }

    /// Forget every cached caller (a token, membership or account changed).
    pub fn forget_callers(&self) {
        Self::lock(&self.callers).clear();
    }

    /// A registered device's owner (user id) and public key.
    pub async fn device(
        &self,
        db: &impl ConnectionTrait,
        actor: u32,
    ) -> ApiResult<Option<(i64, [u8; 32])>> {
        if let Some((user, key, at)) = Self::lock(&self.devices).get(&actor)
            && at.elapsed() < DEVICE_TTL
        {
            return Ok(Some((*user, *key)));
        }
        let Ok(id) = i32::try_from(actor) else {
            return Ok(None);
        };
        let Some(row) = devices::Entity::find_by_id(id).one(db).await? else {
            return Ok(None);
        };
        let key: [u8; 32] = row
            .public_key
            .as_slice()
            .try_into()
            .map_err(ApiError::internal)?;
        insert_bounded(
            &mut Self::lock(&self.devices),
            actor,
            (row.user_id, key, Instant::now()),
            |(_, _, at)| at.elapsed() < DEVICE_TTL,
        );
        Ok(Some((row.user_id, key)))
    }
}

/// The caller a bearer token stands for, read from the database (no cache).
pub async fn caller_for_token(db: &impl ConnectionTrait, token: &str) -> ApiResult<Caller> {
    let (caller, expires) = load_caller(db, &token_hash(token)).await?;
    if expires <= now() {
        return Err(ApiError::Unauthorized);
    }
    Ok(caller)
}

/// The caller of a token (by hash) and when the token expires; an expired token is refused.
/// One statement: the token, its user and the user's memberships, joined.
async fn load_caller(db: &impl ConnectionTrait, hash: &str) -> ApiResult<(Caller, i64)> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let stmt = Query::select()
        .column((tokens::Entity, tokens::Column::ExpiresAt))
        .columns([
            (users::Entity, users::Column::Id),
            (users::Entity, users::Column::Username),
            (users::Entity, users::Column::DisplayName),
            (users::Entity, users::Column::Role),
            (users::Entity, users::Column::Disabled),
        ])
        .columns([
            (memberships::Entity, memberships::Column::UnitId),
            (memberships::Entity, memberships::Column::Lead),
        ])
        .from(tokens::Entity)
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id))
                .equals((tokens::Entity, tokens::Column::UserId)),
        )
        .left_join(
            memberships::Entity,
            Expr::col((memberships::Entity, memberships::Column::UserId))
                .equals((users::Entity, users::Column::Id)),
        )
        .and_where(Expr::col((tokens::Entity, tokens::Column::Hash)).eq(hash))
        .to_owned();
    let rows = db
        .query_all_raw(db.get_database_backend().build(&stmt))
        .await?;
    let first = rows.first().ok_or(ApiError::Unauthorized)?;
    let expires: i64 = first.try_get("", "expires_at")?;
    if expires <= now() || first.try_get::<bool>("", "disabled")? {
        return Err(ApiError::Unauthorized);
    }
    let mut units = Vec::new();
    for row in &rows {
        if let Some(unit) = row.try_get::<Option<String>>("", "unit_id")? {
            units.push((
                unit,
                row.try_get::<Option<bool>>("", "lead")?.unwrap_or(false),
            ));
        }
    }
    let role: String = first.try_get("", "role")?;
    Ok((
        Caller {
            user_id: first.try_get("", "id")?,
            username: first.try_get("", "username")?,
            display_name: first.try_get("", "display_name")?,
            role: Role::parse(&role).unwrap_or(Role::Member),
            units,
        },
        expires,
    ))
}

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

/// Refuses a username after repeated failed logins, for a while.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    const MAX_FAILURES: u32 = 5;
    const WINDOW: Duration = Duration::from_secs(300);

    pub fn check(&self, username: &str) -> ApiResult<()> {
        let map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((n, since)) = map.get(username)
            && *n >= Self::MAX_FAILURES
            && since.elapsed() < Self::WINDOW
        {
            let retry_after = Self::WINDOW
                .saturating_sub(since.elapsed())
                .as_secs()
                .max(1);
            return Err(ApiError::TooManyRequests { retry_after });
        }
        Ok(())
    }

    pub fn failed(&self, username: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map
            .entry(username.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= Self::WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(username);
    }
}
