//! Failed logins, counted per username with `governor`.
//!
//! Issue 19 redesigns login limits per address and per account; this is the per-username limit
//! kept from before, on a well-kept rate limiter instead of a hand-written map.

use std::{
    num::NonZeroU32,
    time::{Duration, Instant},
};

use governor::{
    Quota, RateLimiter, clock::DefaultClock, middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use moka::sync::Cache;

use crate::error::{ApiError, ApiResult};

type Failures =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Refuses a username after repeated failed logins, for a while.
///
/// Failures are counted per username, trimmed and lowercased so that case variants count
/// together, by governor's GCRA: [`Self::MAX_FAILURES`] at once, then one more every
/// [`Self::WINDOW`] / [`Self::MAX_FAILURES`] (the same 5 per 5 minutes as before, a minute's
/// wait once they are used). An attempt is refused while one more failure would be.
///
/// governor has no check that does not consume, and checking before every attempt would count
/// successful logins as well. So only failures are counted (`check_key` on each), and the failure
/// that uses a username's last one locks it until the next is due: the lock is an entry in a
/// small `moka` cache that expires it by itself. A success forgives nothing: GCRA forgets
/// failures by itself, one a minute.
///
/// Memory: governor keeps a key per username that failed recently; once there are more than
/// [`Self::TRACKED`] it drops those that are back to a fresh state (`retain_recent`). The locks
/// are bounded by the same number.
pub struct LoginLimiter {
    failures: Failures,
    /// Normalised username → until when it is refused.
    locked: Cache<String, Instant>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("tracked", &self.failures.len())
            .field("locked", &self.locked.entry_count())
            .finish()
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(Self::MAX_FAILURES, Self::WINDOW)
    }
}

impl LoginLimiter {
    pub const MAX_FAILURES: u32 = 5;
    pub const WINDOW: Duration = Duration::from_secs(300);
    /// Usernames tracked before stale ones are dropped.
    const TRACKED: usize = 10_000;

    /// `max_failures` at once, then one per `window / max_failures` (tests shorten the window).
    pub fn new(max_failures: u32, window: Duration) -> Self {
        let burst = NonZeroU32::new(max_failures).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(window / burst.get())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Self {
            failures: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            locked: Cache::builder()
                .name("login-locks")
                .max_capacity(Self::TRACKED as u64)
                // Least recently used out, never a new lock refused admission (moka's default
                // TinyLFU would turn a lock away under pressure: no lock at all).
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(quota.replenish_interval())
                .build(),
        }
    }

    /// The name failures are counted under: trimmed and lowercased. `None` for a name no
    /// account can have (`accounts::check_username`: 2–64 of a-z, 0-9, '.', '_', '-'): such
    /// logins fail before any password check, so tracking them would only let anyone fill
    /// the limiter's memory with long names.
    fn key(username: &str) -> Option<String> {
        let key = username.trim().to_lowercase();
        crate::auth::is_possible_username(&key).then_some(key)
    }

    /// Refused (429, with the seconds to wait) while the username is locked.
    pub fn check(&self, username: &str) -> ApiResult<()> {
        let Some(key) = Self::key(username) else {
            return Ok(());
        };
        if let Some(until) = self.locked.get(&key) {
            let wait = until.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                return Err(ApiError::TooManyRequests {
                    retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
                });
            }
        }
        Ok(())
    }

    /// Count a failed login; the one that uses the username's allowance locks it.
    pub fn failed(&self, username: &str) {
        if self.failures.len() > Self::TRACKED {
            self.failures.retain_recent();
            self.failures.shrink_to_fit();
        }
        let Some(key) = Self::key(username) else {
            return;
        };
        let wait = match self.failures.check_key(&key) {
            Ok(state) if state.remaining_burst_capacity() == 0 => {
                state.quota().replenish_interval()
            }
            Ok(_) => return,
            // Attempts that passed `check` together, and failed after the lock.
            Err(not_until) => not_until.wait_time_from(Instant::now()),
        };
        self.locked.insert(key, Instant::now() + wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(l: &LoginLimiter, user: &str) -> Option<u64> {
        match l.check(user) {
            Ok(()) => None,
            Err(ApiError::TooManyRequests { retry_after }) => Some(retry_after),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn five_failures_lock_a_username_and_only_it() {
        let l = LoginLimiter::default();
        for i in 0..LoginLimiter::MAX_FAILURES {
            assert_eq!(refused(&l, "viettel.a"), None, "attempt {i}");
            l.failed("viettel.a");
        }
        let wait = refused(&l, "viettel.a");
        assert!(wait.is_some_and(|s| (1..=60).contains(&s)), "{wait:?}");
        // Another username is not locked; a success forgives nothing.
        assert_eq!(refused(&l, "viettel.b"), None);
        assert!(refused(&l, "viettel.a").is_some());
    }

    #[test]
    fn names_no_account_can_have_are_not_tracked() {
        let l = LoginLimiter::default();
        let long = "a".repeat(60_000);
        for name in [long.as_str(), "x", "tên có dấu", "a b"] {
            for _ in 0..10 {
                l.failed(name);
            }
            assert_eq!(refused(&l, name), None, "{name:.20}");
        }
        assert_eq!(l.failures.len(), 0, "{l:?}");
    }

    #[test]
    fn case_and_spaces_count_together() {
        let l = LoginLimiter::default();
        for name in [
            "Viettel.A",
            " viettel.a",
            "VIETTEL.A ",
            "viettel.a",
            "ViEtTeL.a",
        ] {
            l.failed(name);
        }
        assert!(refused(&l, "viettel.a").is_some());
        assert!(refused(&l, "  VIETTEL.a").is_some());
    }

    #[test]
    fn failures_are_forgotten_as_time_passes() {
        // 2 at once, then one per 100 ms.
        let l = LoginLimiter::new(2, Duration::from_millis(200));
        l.failed("ab");
        assert_eq!(refused(&l, "ab"), None);
        l.failed("ab");
        assert_eq!(refused(&l, "ab"), Some(1), "locked, under a second");
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(refused(&l, "ab"), None, "one failure forgotten");
        l.failed("ab");
        assert!(refused(&l, "ab").is_some(), "and used again");
        std::thread::sleep(Duration::from_millis(350));
        l.failed("ab");
        assert_eq!(refused(&l, "ab"), None, "both forgotten");
    }

    #[test]
    fn failures_past_the_lock_keep_it() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        for _ in 0..5 {
            l.failed("ab");
        }
        assert!(refused(&l, "ab").is_some_and(|s| s <= 30));
    }

    #[test]
    fn stale_usernames_are_dropped() {
        let l = LoginLimiter::new(5, Duration::from_millis(50));
        for i in 0..=LoginLimiter::TRACKED {
            l.failed(&format!("user{i}"));
        }
        assert!(l.failures.len() > LoginLimiter::TRACKED);
        std::thread::sleep(Duration::from_millis(60));
        l.failed("one.more");
        assert!(l.failures.len() < 10, "{l:?}");
    }
}
