//! Passwords: argon2id hashes, and how strong a new one must be.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};

use crate::error::{ApiError, ApiResult};

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
