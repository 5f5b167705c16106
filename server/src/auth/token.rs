//! Bearer tokens: random, stored as their SHA-256, each standing for a caller until it expires.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use super::{Caller, Role};
use crate::{
    clock::now,
    db::entity::{memberships, tokens, users},
    error::{ApiError, ApiResult},
};

/// A new random token (what the client keeps) and its hash (what the database keeps).
pub fn new_token() -> anyhow::Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The token's SHA-256 in lowercase hex: what the `tokens` table and the cache key it by.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
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
pub(super) async fn load_caller(db: &impl ConnectionTrait, hash: &str) -> ApiResult<(Caller, i64)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_kept_as_its_sha256_in_lowercase_hex() {
        // SHA-256("abc"), FIPS 180-2's example.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (token, hash) = new_token().unwrap_or_default();
        assert_eq!(hash, token_hash(&token));
        assert_eq!(hash.len(), 64);
    }
}
