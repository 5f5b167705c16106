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

/// Argon2 work at once, at most: one per core. Each check takes a core for tens of
/// milliseconds and 19 MiB; it runs on tokio's blocking threads, never on an HTTP worker,
/// which would stall every sync and page that worker serves for as long (a burst of sign-ins,
/// or an attacker's wrong passwords, would stall them all). Waiters are served in turn.
fn slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from))
    })
}

/// Requests waiting for a slot, at most; past them a sign-in is answered 503 `overloaded`
/// (retry in a second) instead of queueing without end: at tens of milliseconds a check,
/// the last of them waits a few seconds on two cores.
pub const MAX_WAITING: usize = 256;

static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One Argon2 computation's turn, held until the computation ends (it moves into the blocking
/// task, so a caller that gives up does not free the slot while the work still runs).
#[derive(Debug)]
pub struct Argon2Slot(#[allow(dead_code)] tokio::sync::SemaphorePermit<'static>);

/// Wait for a slot, in turn; `Overloaded` when [`MAX_WAITING`] requests wait already.
pub async fn argon2_slot() -> ApiResult<Argon2Slot> {
    use std::sync::atomic::Ordering;
    let overloaded = || ApiError::Overloaded { retry_after: 1 };
    if WAITING.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
        WAITING.fetch_sub(1, Ordering::AcqRel);
        return Err(overloaded());
    }
    let permit = slots().acquire().await;
    WAITING.fetch_sub(1, Ordering::AcqRel);
    permit.map(Argon2Slot).map_err(|_| overloaded())
}

/// [`verify_password`] in `slot`, off the async workers.
pub async fn verify_password_in(slot: Argon2Slot, password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        verify_password(&password, &hash)
    })
    .await
    .unwrap_or(false)
}

/// [`verify_password`] off the async workers, in a slot waited for.
pub async fn verify_password_off_loop(password: &str, hash: &str) -> bool {
    match argon2_slot().await {
        Ok(slot) => verify_password_in(slot, password, hash).await,
        Err(_) => false,
    }
}

/// [`hash_password`] off the async workers, in a slot waited for.
pub async fn hash_password_off_loop(password: &str) -> ApiResult<String> {
    let slot = argon2_slot().await?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        hash_password(&password)
    })
    .await
    .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing: {e}")))?
    .map_err(ApiError::internal)
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

/// The longest password, in bytes, that can be set (so the longest a sign-in checks).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Passwords must be long enough to resist guessing.
pub fn check_password_strength(password: &str) -> ApiResult<()> {
    if password.chars().count() < 10 {
        return Err(ApiError::BadRequest(
            "a password needs at least 10 characters".into(),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(
            "a password is at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod off_loop_tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    };

    use super::*;

    /// On a runtime of one thread, a task goes on running while a password is checked and
    /// hashed: Argon2 is off the async thread (on it, the task would not run at all meanwhile).
    #[tokio::test(flavor = "current_thread")]
    async fn argon2_runs_off_the_async_thread() -> anyhow::Result<()> {
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                t.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        });
        let before = ticks.load(Ordering::Relaxed);
        let hash = hash_password_off_loop("một mật khẩu dài").await?;
        let hashing = ticks.load(Ordering::Relaxed) - before;
        let before = ticks.load(Ordering::Relaxed);
        assert!(verify_password_off_loop("một mật khẩu dài", &hash).await);
        assert!(!verify_password_off_loop("một mật khẩu khác", &hash).await);
        assert!(!verify_password_off_loop("một mật khẩu dài", "not a hash").await);
        let checking = ticks.load(Ordering::Relaxed) - before;
        ticker.abort();
        assert!(hashing > 0 && checking > 0, "{hashing} {checking}");
        Ok(())
    }
}
