//! Login limits that an attacker cannot turn against a user (issue 19, point 5).
//!
//! Three limits, each in a `moka` cache bounded by [`LoginLimits::tracked`] entries:
//!
//! - **per client address** (an IPv4 address, an IPv6 /64): a rate of attempts by GCRA, one
//!   attempt a [`LoginLimits::per_address_per_minute`]th of a minute with a burst of
//!   [`LoginLimits::per_address_burst`]; a failure costs [`FAILURE_COST`] attempts in all, so
//!   an address that fails backs off four times faster than one that succeeds. Attempts that
//!   present a valid device token for the name are not counted here: the device is known.
//! - **per account**, for clients without a device token for it: after [`FREE_FAILURES`]
//!   failures, a wait that doubles with each further failure, from [`BACKOFF_BASE`] up to
//!   [`BACKOFF_CAP`]. A success from such a client clears it.
//! - **per device token** (OWASP's "device cookie"): a device that has signed in to an account
//!   before presents the token the server gave it then. Its failures count against that token
//!   alone, by the same back-off; the account's back-off does not apply to it. So nobody can
//!   lock a user out of the devices they have used: a correct password from a known device
//!   passes whatever strangers have tried.
//!
//! Names are counted as the login looks them up ([`normalise`]): trimmed and lowercased, so
//! case and space variants count together; a name no account can have is not counted at all
//! (it fails before any password check), so long or random names cannot fill the memory.
//!
//! The rate is GCRA (governor's algorithm) kept in the moka entry itself: governor's keyed
//! store has no capacity bound, only `retain_recent`. Time is read from a [`Clock`] so the
//! tests move it by hand instead of sleeping.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use moka::sync::Cache;

use super::device_token::{DeviceKey, DeviceToken};
use crate::error::ApiError;

/// A failure's cost against its address, in attempts (the attempt itself included).
pub const FAILURE_COST: u32 = 4;
/// Failures an account or a device token may have before it must wait.
pub const FREE_FAILURES: u32 = 5;
/// The first wait; each further failure doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest wait.
pub const BACKOFF_CAP: Duration = Duration::from_secs(15 * 60);
/// How long an account or a device token with failures is remembered after its last one.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

/// What the limits are (from the configuration; tests choose their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Attempts per minute from one address, sustained.
    pub per_address_per_minute: u32,
    /// Attempts from one address at once.
    pub per_address_burst: u32,
    /// Addresses, accounts and device tokens tracked, each (the least used are dropped).
    pub tracked: u64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_address_per_minute: 10,
            per_address_burst: 20,
            tracked: 100_000,
        }
    }
}

/// The name a login is looked up and counted under: trimmed and lowercased (accounts are
/// created lowercase ASCII, `accounts::check_username`). `None` for a name no account can have.
pub fn normalise(username: &str) -> Option<String> {
    let name = username.trim();
    // Longer than any account's name: not even lowercased.
    if name.len() > 64 {
        return None;
    }
    let name = name.to_ascii_lowercase();
    super::is_possible_username(&name).then_some(name)
}

/// A client address as it is limited: IPv4 whole, IPv6 by its /64 (one subscriber's
/// network), an IPv4-mapped IPv6 address as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrKey {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AddrKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey::V4(u32::from(v4)),
                None => AddrKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Where time comes from: the monotonic clock, or (tests) a hand-moved one.
#[derive(Debug, Clone)]
enum Clock {
    Real(Instant),
    #[cfg(test)]
    Manual(Arc<Mutex<Duration>>),
}

impl Clock {
    fn now(&self) -> Duration {
        match self {
            Clock::Real(start) => start.elapsed(),
            #[cfg(test)]
            Clock::Manual(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// Failures of an account or a device token, and until when it must wait.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    until: Duration,
}

impl Backoff {
    fn fail(&mut self, now: Duration) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= FREE_FAILURES {
            let doublings = (self.failures - FREE_FAILURES).min(20);
            self.until = now + (BACKOFF_BASE * (1u32 << doublings)).min(BACKOFF_CAP);
        }
    }
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds to wait, rounded up, at least 1.
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait.is_zero())
}

/// Who is attempting a login, as [`LoginLimiter::admit`] let them in; hand it back with the
/// outcome.
#[derive(Debug)]
pub struct Attempt {
    addr: Option<AddrKey>,
    /// The normalised name; `None` when no account can have it.
    account: Option<String>,
    /// A valid device token for that name.
    device: Option<DeviceToken>,
}

impl Attempt {
    /// The normalised name the login looks up (`None`: no account can have it).
    pub fn username(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// Whether the client presented a valid device token for the name.
    pub fn from_known_device(&self) -> bool {
        self.device.is_some()
    }
}

/// The login limits of one server process (see the module's documentation).
pub struct LoginLimiter {
    limits: LoginLimits,
    /// GCRA's interval between attempts from one address.
    interval: Duration,
    clock: Clock,
    key: Mutex<DeviceKey>,
    /// Address → GCRA's theoretical arrival time.
    addresses: Cache<AddrKey, Shared<Duration>>,
    accounts: Cache<String, Shared<Backoff>>,
    /// Device token nonce → its failures.
    devices: Cache<[u8; 16], Shared<Backoff>>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("limits", &self.limits)
            .field("addresses", &self.addresses.entry_count())
            .field("accounts", &self.accounts.entry_count())
            .field("devices", &self.devices.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimits::default())
    }
}

impl LoginLimiter {
    /// Limits signing device tokens with a random key of this process, until
    /// [`Self::set_key`] gives it the one every replica shares.
    pub fn new(limits: LoginLimits) -> Self {
        Self::with_clock(limits, Clock::Real(Instant::now()))
    }

    fn with_clock(limits: LoginLimits, clock: Clock) -> Self {
        let per_minute = limits.per_address_per_minute.max(1);
        let burst = limits.per_address_burst.max(1);
        let interval = Duration::from_secs(60) / per_minute;
        // An idle address is back to a full burst after this: forgetting it then loses nothing.
        let address_idle = interval * burst * FAILURE_COST;
        fn cache<K, V>(name: &str, capacity: u64, idle: Duration) -> Cache<K, V>
        where
            K: std::hash::Hash + Eq + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            Cache::builder()
                .name(name)
                .max_capacity(capacity)
                .time_to_idle(idle)
                .build()
        }
        Self {
            limits,
            interval,
            clock,
            key: Mutex::new(DeviceKey::random()),
            addresses: cache("login-addresses", limits.tracked, address_idle),
            accounts: cache("login-accounts", limits.tracked, FORGET_AFTER),
            devices: cache("login-devices", limits.tracked, FORGET_AFTER),
        }
    }

    /// The key device tokens are signed with from now on (tokens signed before stop counting).
    pub fn set_key(&self, key: DeviceKey) {
        *lock(&self.key) = key;
    }

    /// Before the password is checked: refused (429 with the seconds to wait) while the
    /// client's address, or the account for a client without a device token for it, or the
    /// device token, must wait. `device_token` is what the client sent, if anything.
    pub fn admit(
        &self,
        ip: Option<IpAddr>,
        username: &str,
        device_token: Option<&str>,
    ) -> Result<Attempt, ApiError> {
        let now = self.clock.now();
        let account = normalise(username);
        let device = match (&account, device_token) {
            (Some(name), Some(t)) => lock(&self.key).verify(t, name),
            _ => None,
        };
        let attempt = Attempt {
            addr: ip.map(AddrKey::from),
            account,
            device,
        };
        self.waiting(&attempt, now)?;
        if attempt.device.is_none()
            && let Some(addr) = attempt.addr
        {
            self.charge_address(addr, now, 1, false)?;
        }
        Ok(attempt)
    }

    /// An attempt let in must wait after all: its account (or device token) has had its free
    /// failures since (attempts waiting for a password check while the first ones fail).
    pub fn recheck(&self, attempt: &Attempt) -> Result<(), ApiError> {
        self.waiting(attempt, self.clock.now())
    }

    /// `TooManyRequests` while the attempt's account (or device token) is backing off.
    fn waiting(&self, attempt: &Attempt, now: Duration) -> Result<(), ApiError> {
        let backoff = match (&attempt.device, &attempt.account) {
            (Some(d), _) => self.devices.get(&d.nonce),
            (None, Some(name)) => self.accounts.get(name),
            (None, None) => None,
        };
        if let Some(b) = backoff {
            let until = lock(&b).until;
            if until > now {
                return Err(too_many(until - now));
            }
        }
        Ok(())
    }

    /// Take `n` attempts from an address's allowance. Refused (taking nothing) when they do not
    /// fit, unless `force`d (a failure's extra cost, after its attempt was let in).
    fn charge_address(
        &self,
        addr: AddrKey,
        now: Duration,
        n: u32,
        force: bool,
    ) -> Result<(), ApiError> {
        let entry = self.addresses.get_with(addr, Default::default);
        let mut tat = lock(&entry);
        let limit = now + self.interval * self.limits.per_address_burst.max(1);
        let next = (*tat).max(now) + self.interval * n;
        if next <= limit {
            *tat = next;
            Ok(())
        } else if force {
            // Past the burst: the next attempt waits for the whole failure.
            *tat = next;
            Ok(())
        } else {
            Err(too_many(next - limit))
        }
    }

    /// The password was wrong (or the account disabled): a known device's failure counts
    /// against its token only; anyone else's against the account. Both against the address.
    pub fn failed(&self, attempt: &Attempt) {
        let now = self.clock.now();
        if let Some(addr) = attempt.addr {
            let _ = self.charge_address(addr, now, FAILURE_COST - 1, true);
        }
        let backoff = match (&attempt.device, &attempt.account) {
            (Some(d), _) => self.devices.get_with(d.nonce, Default::default),
            (None, Some(name)) => self.accounts.get_with(name.clone(), Default::default),
            (None, None) => return,
        };
        lock(&backoff).fail(now);
    }

    /// The password was right: the device's token to keep (the one it presented, or a new one
    /// naming the user), and what the client failed before is forgiven.
    pub fn succeeded(&self, attempt: &Attempt) -> Option<String> {
        let name = attempt.account.as_deref()?;
        match &attempt.device {
            Some(d) => {
                self.devices.invalidate(&d.nonce);
                Some(d.text.clone())
            }
            None => {
                self.accounts.invalidate(name);
                lock(&self.key).issue(name).ok()
            }
        }
    }

    #[cfg(test)]
    fn entry_counts(&self) -> (u64, u64, u64) {
        self.addresses.run_pending_tasks();
        self.accounts.run_pending_tasks();
        self.devices.run_pending_tasks();
        (
            self.addresses.entry_count(),
            self.accounts.entry_count(),
            self.devices.entry_count(),
        )
    }
}

fn too_many(wait: Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after: retry_after(wait),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    const A: &str = "203.0.113.7";
    const B: &str = "198.51.100.9";

    struct Bench {
        l: LoginLimiter,
        time: Arc<Mutex<Duration>>,
    }

    impl Bench {
        fn new(limits: LoginLimits) -> Self {
            let time = Arc::new(Mutex::new(Duration::ZERO));
            let l = LoginLimiter::with_clock(limits, Clock::Manual(time.clone()));
            Bench { l, time }
        }
        fn default() -> Self {
            Self::new(LoginLimits::default())
        }
        fn advance(&self, d: Duration) {
            *lock(&self.time) += d;
        }
        /// An attempt from `ip`: `Ok(attempt)` or `Err(seconds to wait)`.
        fn try_login(&self, ip: &str, user: &str, token: Option<&str>) -> Result<Attempt, u64> {
            let ip = ip.parse().ok();
            match self.l.admit(ip, user, token) {
                Ok(a) => Ok(a),
                Err(ApiError::TooManyRequests { retry_after }) => Err(retry_after),
                Err(e) => panic!("{e}"),
            }
        }
        fn fail(&self, ip: &str, user: &str, token: Option<&str>) -> Result<(), u64> {
            let a = self.try_login(ip, user, token)?;
            self.l.failed(&a);
            Ok(())
        }
        fn succeed(&self, ip: &str, user: &str, token: Option<&str>) -> Result<String, u64> {
            let a = self.try_login(ip, user, token)?;
            Ok(self
                .l
                .succeeded(&a)
                .unwrap_or_else(|| panic!("no device token")))
        }
    }

    #[test]
    fn after_five_failures_an_account_waits_one_second_then_twice_as_long_each_time() {
        let b = Bench::default();
        for i in 0..FREE_FAILURES {
            // From a new address each time: only the account's back-off is at work.
            assert_eq!(b.fail(&format!("10.0.0.{i}"), "vanphong", None), Ok(()));
        }
        assert_eq!(b.fail("10.0.1.1", "vanphong", None), Err(1));
        let mut wait = 1;
        for _ in 0..12 {
            b.advance(Duration::from_secs(wait));
            assert_eq!(
                b.fail("10.0.1.2", "vanphong", None),
                Ok(()),
                "after {wait} s"
            );
            wait = (wait * 2).min(BACKOFF_CAP.as_secs());
            assert_eq!(b.fail("10.0.1.3", "vanphong", None), Err(wait));
        }
        assert_eq!(wait, 15 * 60, "capped at 15 minutes");
        // A second short of the wait: still refused, Retry-After one second.
        b.advance(Duration::from_secs(wait - 1));
        assert_eq!(b.fail("10.0.1.3", "vanphong", None), Err(1));
    }

    /// Guesses let in together (all waiting for a password check) are checked again when
    /// their turn comes: once the first ones have used the free failures, the rest wait.
    #[test]
    fn attempts_let_in_together_are_held_by_the_back_off_their_first_failures_set() {
        let b = Bench::default();
        let n = FREE_FAILURES as usize + 10;
        let waiting: Vec<Attempt> = (0..n)
            .map(|i| {
                b.try_login(&format!("10.0.2.{i}"), "vanphong", None)
                    .unwrap_or_else(|w| panic!("let in: {w}"))
            })
            .collect();
        let mut checked = 0;
        for a in &waiting {
            if b.l.recheck(a).is_ok() {
                checked += 1;
                b.l.failed(a);
            }
        }
        assert_eq!(checked, FREE_FAILURES as usize, "the rest waited");
    }

    #[test]
    fn an_attackers_failures_do_not_stop_a_known_device_with_the_right_password() {
        let b = Bench::default();
        let token = b
            .succeed(B, "admin", None)
            .unwrap_or_else(|s| panic!("{s}"));
        // 50 wrong passwords from A, as fast as A is let in (the address is limited too).
        let mut tried = 0;
        while tried < 50 {
            match b.fail(A, "admin", None) {
                Ok(()) => tried += 1,
                Err(s) => b.advance(Duration::from_secs(s)),
            }
        }
        // The account waits for strangers; the known device passes, from A itself.
        assert!(b.try_login(B, "admin", None).is_err());
        assert_eq!(b.succeed(A, "admin", Some(&token)), Ok(token.clone()));
        assert_eq!(b.succeed(B, " Admin ", Some(&token)), Ok(token));
    }

    #[test]
    fn a_known_devices_failures_count_against_its_token_only() {
        let b = Bench::default();
        let mine = b
            .succeed(A, "cucvt.a", None)
            .unwrap_or_else(|s| panic!("{s}"));
        let other = b
            .succeed(B, "cucvt.a", None)
            .unwrap_or_else(|s| panic!("{s}"));
        assert_ne!(mine, other, "each device its own token");
        for _ in 0..FREE_FAILURES {
            assert_eq!(b.fail(A, "cucvt.a", Some(&mine)), Ok(()));
        }
        assert_eq!(
            b.fail(A, "cucvt.a", Some(&mine)),
            Err(1),
            "this device waits"
        );
        assert!(
            b.succeed(B, "cucvt.a", Some(&other)).is_ok(),
            "the other does not"
        );
        assert!(b.succeed(B, "cucvt.a", None).is_ok(), "nor a stranger");
    }

    #[test]
    fn a_token_for_another_user_or_forged_counts_as_no_token() {
        let b = Bench::default();
        let token = b
            .succeed(A, "cucvt.a", None)
            .unwrap_or_else(|s| panic!("{s}"));
        for _ in 0..FREE_FAILURES {
            assert_eq!(b.fail(A, "admin", None), Ok(()));
        }
        assert!(
            b.try_login(B, "admin", Some(&token)).is_err(),
            "cucvt.a's token"
        );
        let forged = token.replacen("cucvt.a", "admin", 1);
        assert!(b.try_login(B, "admin", Some(&forged)).is_err(), "{forged}");
        // Signed with another key (another server, or before the key was set).
        let old = Bench::default();
        let theirs = old
            .succeed(A, "admin", None)
            .unwrap_or_else(|s| panic!("{s}"));
        assert!(b.try_login(B, "admin", Some(&theirs)).is_err());
    }

    #[test]
    fn spraying_many_usernames_from_one_address_is_limited() {
        let b = Bench::default();
        let mut let_in = 0;
        for i in 0..100 {
            if b.fail(A, &format!("user{i}"), None).is_ok() {
                let_in += 1;
            }
        }
        // 20 attempts at once, a failure costs 4.
        assert_eq!(let_in, 5);
        assert_eq!(
            b.try_login(A, "user0", None).err(),
            Some(6),
            "one attempt of 6 s"
        );
        b.advance(Duration::from_secs(6));
        assert_eq!(b.fail(A, "user100", None), Ok(()));
        assert_eq!(
            b.try_login(A, "user0", None).err(),
            Some(24),
            "a failure costs 4"
        );
        assert!(
            b.try_login(B, "user0", None).is_ok(),
            "another address is not"
        );
        // Successes cost one attempt each.
        let s = Bench::default();
        let ok = (0..30)
            .filter(|_| s.succeed(A, "viettel.a", None).is_ok())
            .count();
        assert_eq!(ok, 20);
        s.advance(Duration::from_secs(6));
        assert!(s.succeed(A, "viettel.a", None).is_ok(), "one more per 6 s");
        assert_eq!(s.succeed(A, "viettel.a", None).err(), Some(6));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let b = Bench::default();
        for i in 0..5u16 {
            let ip = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i).to_string();
            assert_eq!(b.fail(&ip, &format!("u{i}.x"), None), Ok(()));
        }
        assert!(b.try_login("2001:db8:1:2::99", "u9.x", None).is_err());
        assert!(b.try_login("2001:db8:1:3::1", "u9.x", None).is_ok());
        assert_eq!(
            AddrKey::from(
                "::ffff:203.0.113.7"
                    .parse::<IpAddr>()
                    .unwrap_or_else(|e| panic!("{e}"))
            ),
            AddrKey::from(A.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}")))
        );
    }

    #[test]
    fn case_and_space_variants_count_together() {
        let b = Bench::default();
        for (i, name) in [
            "Viettel.A",
            " viettel.a",
            "VIETTEL.A ",
            "viettel.a",
            "ViEtTeL.a",
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(b.fail(&format!("10.0.0.{i}"), name, None), Ok(()), "{name}");
        }
        assert_eq!(b.fail("10.0.1.1", "viettel.a", None), Err(1));
        assert_eq!(b.fail("10.0.1.1", "\tVIETTEL.a\n", None), Err(1));
        assert_eq!(normalise(" ViEtTeL.a "), Some("viettel.a".into()));
    }

    #[test]
    fn names_no_account_can_have_are_not_tracked() {
        let b = Bench::default();
        let long = "a".repeat(60_000);
        for name in [long.as_str(), "x", "tên có dấu", "a b", "\u{212A}vt.a"] {
            for i in 0..10 {
                let _ = b.fail(&format!("10.1.0.{i}"), name, None);
            }
            assert!(b.try_login("10.2.0.1", name, None).is_ok(), "{name:.20}");
        }
        assert_eq!(b.l.entry_counts().1, 0, "{:?}", b.l);
    }

    #[test]
    fn memory_stays_within_capacity_whatever_is_tried() {
        let b = Bench::new(LoginLimits {
            tracked: 1_000,
            ..LoginLimits::default()
        });
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..1_000_000 {
            // xorshift: random names and addresses.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let ip = IpAddr::from((seed as u32).to_be_bytes());
            let a = Attempt {
                addr: Some(AddrKey::from(ip)),
                account: normalise(&format!("u{seed:x}")),
                device: None,
            };
            b.l.failed(&a);
        }
        let (addresses, accounts, devices) = b.l.entry_counts();
        assert!(addresses <= 1_000, "{addresses}");
        assert!(accounts <= 1_000, "{accounts}");
        assert_eq!(devices, 0);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::from_secs(2)), 2);
        assert_eq!(retry_after(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after(Duration::ZERO), 1);
    }
}
