//! Recently checked tokens and device keys, in `moka` caches.
//!
//! Until issue 17 these were two `Mutex<HashMap>`s swept (an O(n) scan under the lock) when
//! full, and cleared outright when every entry was fresh. `moka` bounds them by an eviction
//! policy instead (TinyLFU: the entries used most stay), expires entries by itself, and
//! shards its locks.
//!
//! Measured (the `measure` test below, every lookup checked to be a hit: `cargo test
//! --release -p taskforce-server --lib auth::cache -- --ignored --nocapture`; 2 cores): a hit
//! costs moka more than the plain map, 243 ns against 157 ns for a caller (the caller's clone
//! included in both) and 118 ns against 39 ns for a device, so some 165 ns more per sync,
//! which takes some 1.8 ms in all. The old map's inserts were faster too (167 ns mean against
//! 879 ns; an insert follows a database read), but each time it filled up it held its lock for
//! milliseconds to sweep and then dropped every caller at once. Nothing in the figures asks for
//! the hand-written map back (decision 30).

use std::time::Duration;

use moka::sync::Cache;
use sea_orm::{ConnectionTrait, EntityTrait};

use super::{
    Caller,
    token::{load_caller, token_hash},
};
use crate::{
    clock::now,
    db::entity::devices,
    error::{ApiError, ApiResult},
};

/// How long a checked token's caller is trusted without reading the database again.
pub const CALLER_TTL: Duration = Duration::from_secs(5);
/// How long a device's owner, key and revocation are trusted. Owner and key never change once
/// registered, but a device can be revoked (issue 19): revoking it here drops it at once; a
/// revocation by another replica or the `taskforce user revoke-device` command is seen within
/// this time, the same bound as a disabled account's ([`CALLER_TTL`]). It was an hour before.
pub const DEVICE_TTL: Duration = Duration::from_secs(5);
/// Entries per cache; past it moka evicts the entries least likely to be used again.
const AUTH_CACHE_CAP: u64 = 100_000;

/// A token's caller and when the token expires (Unix seconds).
type CallerEntry = (Caller, i64);
/// A registered device as the sync route checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownDevice {
    /// The owner's user id.
    pub user_id: i64,
    pub key: [u8; 32],
    /// Revoked: its syncs are refused.
    pub revoked: bool,
}

type DeviceEntry = KnownDevice;

/// Recently checked bearer tokens (by hash) and device keys, so that a sync does not read the
/// tokens, users, memberships and devices tables every time (decision 22). Changes made through
/// this process (logout, removing or adding a member, disabling an account, revoking a
/// device) drop the cached entries at once; changes made elsewhere (the `taskforce user` and
/// `taskforce member` commands, another server replica on the same database) take effect
/// within [`CALLER_TTL`] (callers) and [`DEVICE_TTL`] (devices), both 5 s. A token's expiry is
/// checked on every use.
pub struct AuthCache {
    /// Token hash → caller and token expiry, for [`CALLER_TTL`] after it was read.
    callers: Cache<String, CallerEntry>,
    /// Actor id → owner and key, for [`DEVICE_TTL`] after it was read.
    devices: Cache<u32, DeviceEntry>,
}

impl std::fmt::Debug for AuthCache {
    /// Counts only: the entries are token hashes and callers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("callers", &self.callers.entry_count())
            .field("devices", &self.devices.entry_count())
            .finish()
    }
}

impl Default for AuthCache {
    fn default() -> Self {
        Self::with_ttls(CALLER_TTL, DEVICE_TTL)
    }
}

impl AuthCache {
    /// A cache trusting a caller for `caller_ttl` and a device for `device_ttl` (the server
    /// uses [`CALLER_TTL`] and [`DEVICE_TTL`]; tests shorten them).
    pub fn with_ttls(caller_ttl: Duration, device_ttl: Duration) -> Self {
        Self::with_limits(caller_ttl, device_ttl, AUTH_CACHE_CAP)
    }

    fn with_limits(caller_ttl: Duration, device_ttl: Duration, capacity: u64) -> Self {
        Self {
            callers: Cache::builder()
                .name("auth-callers")
                .max_capacity(capacity)
                .time_to_live(caller_ttl)
                .build(),
            devices: Cache::builder()
                .name("auth-devices")
                .max_capacity(capacity)
                .time_to_live(device_ttl)
                .build(),
        }
    }

    /// The caller a bearer token stands for.
    pub async fn caller(&self, db: &impl ConnectionTrait, token: &str) -> ApiResult<Caller> {
        let hash = token_hash(token);
        if let Some(known) = self.cached_caller(&hash) {
            return known;
        }
        let (caller, expires) = load_caller(db, &hash).await?;
        self.callers.insert(hash, (caller.clone(), expires));
        Ok(caller)
    }

    /// The cached answer for a token hash: its caller while the token has not expired, else
    /// `Unauthorized`; `None` if it is not cached (or no longer trusted).
    fn cached_caller(&self, hash: &str) -> Option<ApiResult<Caller>> {
        let (caller, expires) = self.callers.get(hash)?;
        Some(if expires > now() {
            Ok(caller)
        } else {
            Err(ApiError::Unauthorized)
        })
    }

    /// Forget every cached caller (a token, membership or account changed). moka drops the
    /// entries lazily, but no lookup after this call returns one inserted before it.
    pub fn forget_callers(&self) {
        self.callers.invalidate_all();
    }

    /// Forget one token's cached caller (its session ended here): the next lookup reads the
    /// database, where the token is gone. The other callers stay cached.
    pub fn evict_token(&self, token: &str) {
        self.callers.invalidate(&token_hash(token));
    }

    /// Forget one device (it was revoked here): the next lookup reads the database.
    pub fn forget_device(&self, actor: u32) {
        self.devices.invalidate(&actor);
    }

    /// A registered device: its owner, public key and whether it is revoked.
    pub async fn device(
        &self,
        db: &impl ConnectionTrait,
        actor: u32,
    ) -> ApiResult<Option<KnownDevice>> {
        if let Some(known) = self.devices.get(&actor) {
            return Ok(Some(known));
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
        let known = KnownDevice {
            user_id: row.user_id,
            key,
            revoked: row.revoked_at.is_some(),
        };
        self.devices.insert(actor, known);
        Ok(Some(known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn caller(user_id: i64) -> Caller {
        Caller {
            user_id,
            username: format!("user{user_id}"),
            display_name: format!("User {user_id}"),
            role: Role::Member,
            units: vec![("cuc-vt".into(), false)],
        }
    }

    fn device(user_id: i64, key: [u8; 32]) -> KnownDevice {
        KnownDevice {
            user_id,
            key,
            revoked: false,
        }
    }

    fn user_of(answer: Option<ApiResult<Caller>>) -> Option<Result<i64, &'static str>> {
        answer.map(|a| a.map(|c| c.user_id).map_err(|e| e.code()))
    }

    #[test]
    fn a_cached_caller_is_answered_while_its_token_lasts() {
        let cache = AuthCache::default();
        assert_eq!(user_of(cache.cached_caller("h1")), None);
        cache.callers.insert("h1".into(), (caller(1), now() + 60));
        cache.callers.insert("h2".into(), (caller(2), now() - 1));
        assert_eq!(user_of(cache.cached_caller("h1")), Some(Ok(1)));
        // An expired token is refused from the cache, without reading the database.
        assert_eq!(
            user_of(cache.cached_caller("h2")),
            Some(Err("unauthorized"))
        );
    }

    #[test]
    fn forgetting_callers_misses_at_once_and_keeps_later_ones() {
        let cache = AuthCache::default();
        for i in 0..100 {
            cache
                .callers
                .insert(format!("h{i}"), (caller(i), now() + 60));
        }
        cache.devices.insert(7, device(1, [7; 32]));
        assert_eq!(user_of(cache.cached_caller("h42")), Some(Ok(42)));
        cache.forget_callers();
        // moka's invalidate_all is lazy, but no lookup returns an entry it invalidated.
        for i in 0..100 {
            assert_eq!(user_of(cache.cached_caller(&format!("h{i}"))), None, "h{i}");
        }
        // Devices are not callers: they stay.
        assert_eq!(cache.devices.get(&7), Some(device(1, [7; 32])));
        // A caller read again after the call is cached as usual.
        cache.callers.insert("h42".into(), (caller(42), now() + 60));
        assert_eq!(user_of(cache.cached_caller("h42")), Some(Ok(42)));
        cache.callers.run_pending_tasks();
        assert_eq!(user_of(cache.cached_caller("h42")), Some(Ok(42)));
        assert_eq!(cache.callers.entry_count(), 1);
    }

    #[test]
    fn forgetting_a_device_misses_at_once_and_keeps_the_others() {
        let cache = AuthCache::default();
        cache.devices.insert(7, device(1, [7; 32]));
        cache.devices.insert(8, device(1, [8; 32]));
        cache.forget_device(7);
        assert_eq!(
            cache.devices.get(&7),
            None,
            "a revoked device is read again"
        );
        assert_eq!(cache.devices.get(&8), Some(device(1, [8; 32])));
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = AuthCache::with_ttls(Duration::from_millis(100), Duration::from_millis(300));
        cache.callers.insert("h1".into(), (caller(1), now() + 60));
        cache.devices.insert(7, device(1, [7; 32]));
        assert_eq!(user_of(cache.cached_caller("h1")), Some(Ok(1)));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            user_of(cache.cached_caller("h1")),
            None,
            "the caller expired"
        );
        assert_eq!(
            cache.devices.get(&7),
            Some(device(1, [7; 32])),
            "the device did not"
        );
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(cache.devices.get(&7), None, "now the device expired too");
    }

    #[test]
    fn the_caches_stay_within_their_capacity() {
        let cache = AuthCache::with_limits(CALLER_TTL, DEVICE_TTL, 100);
        for i in 0..2_000u32 {
            cache
                .callers
                .insert(format!("h{i}"), (caller(i.into()), now() + 60));
            cache.devices.insert(i, device(1, [0; 32]));
        }
        cache.callers.run_pending_tasks();
        cache.devices.run_pending_tasks();
        assert!(cache.callers.entry_count() <= 100, "{cache:?}");
        assert!(cache.devices.entry_count() <= 100, "{cache:?}");
    }

    /// Nanoseconds per cache hit, the old `Mutex<HashMap>` against moka; a hit is what every
    /// sync does twice (its token and its device). Run in release:
    /// `cargo test --release -p taskforce-server --lib auth::cache -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: run in release with --ignored --nocapture"]
    fn measure() {
        use std::{hint::black_box, sync::Arc, time::Instant};

        const KEYS: u32 = 1_000;
        const LOOKUPS: u32 = 2_000_000;
        let hashes: Vec<String> = (0..KEYS).map(|i| token_hash(&format!("t{i}"))).collect();
        let old = Arc::new(old::AuthCache::default());
        let new = Arc::new(AuthCache::default());
        for (i, h) in hashes.iter().enumerate() {
            old.insert_caller(h.clone(), caller(i as i64), now() + 3600);
            new.callers
                .insert(h.clone(), (caller(i as i64), now() + 3600));
            old.insert_device(i as u32, (1, [1; 32]));
            new.devices.insert(i as u32, device(1, [1; 32]));
        }
        let hashes = Arc::new(hashes);
        // Every entry fresh again before each run: the callers' 5 s lifetime is shorter than
        // the whole measurement, and an expired entry is less work (no clone) than a hit.
        let refill = || {
            for (i, h) in hashes.iter().enumerate() {
                old.insert_caller(h.clone(), caller(i as i64), now() + 3600);
                new.callers
                    .insert(h.clone(), (caller(i as i64), now() + 3600));
            }
        };
        // `threads` threads each doing LOOKUPS lookups: ns per lookup, per thread; every
        // lookup must be a hit.
        type Lookup = Arc<dyn Fn(u32) -> bool + Send + Sync>;
        let run = |threads: u32, f: Lookup| -> f64 {
            refill();
            let started = Instant::now();
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let f = f.clone();
                    std::thread::spawn(move || {
                        let mut hits = 0u32;
                        for i in 0..LOOKUPS {
                            hits += u32::from(f(i.wrapping_mul(7919).wrapping_add(t * 13) % KEYS));
                        }
                        hits
                    })
                })
                .collect();
            let mut hits = 0;
            for h in handles {
                hits += h
                    .join()
                    .unwrap_or_else(|_| panic!("a measuring thread panicked"));
            }
            let ns = started.elapsed().as_nanos() as f64 / f64::from(LOOKUPS);
            assert_eq!(hits, threads * LOOKUPS, "every lookup a hit");
            ns
        };
        let (o, h) = (old.clone(), hashes.clone());
        let old_caller: Lookup = Arc::new(move |i| {
            black_box(o.cached_caller(&h[i as usize])).is_some_and(|r| r.is_ok())
        });
        let (n, h) = (new.clone(), hashes.clone());
        let new_caller: Lookup = Arc::new(move |i| {
            black_box(n.cached_caller(&h[i as usize])).is_some_and(|r| r.is_ok())
        });
        let o = old.clone();
        let old_device: Lookup = Arc::new(move |i| black_box(o.cached_device(i)).is_some());
        let n = new.clone();
        let new_device: Lookup = Arc::new(move |i| black_box(n.devices.get(&i)).is_some());
        let hashing: Lookup = Arc::new(|i| {
            black_box(token_hash(black_box(&format!("t{i}"))));
            true
        });
        // Warm up (page faults, branch predictors, moka's frequency sketch).
        for f in [&old_caller, &new_caller, &old_device, &new_device] {
            run(1, f.clone());
        }
        println!("ns per lookup (hit), {KEYS} keys, {LOOKUPS} lookups per thread:");
        println!(
            "  token_hash (SHA-256 + hex, both): {:>7.1}",
            run(1, hashing)
        );
        for threads in [1, 2, 4] {
            println!(
                "  {threads} thread(s): caller old {:>6.1}  new {:>6.1} | device old {:>6.1}  new {:>6.1}",
                run(threads, old_caller.clone()),
                run(threads, new_caller.clone()),
                run(threads, old_device.clone()),
                run(threads, new_device.clone()),
            );
        }
        // Inserting into a full cache: the old one swept (and, all fresh, cleared) under its
        // lock, blocking every lookup meanwhile; moka evicts in its housekeeping.
        let cap = AUTH_CACHE_CAP as u32;
        let inserts = |insert: &dyn Fn(u32)| {
            let mut took: Vec<Duration> = (0..3 * cap)
                .map(|i| {
                    let t = Instant::now();
                    insert(i);
                    t.elapsed()
                })
                .collect();
            let mean = took.iter().sum::<Duration>().as_nanos() as f64 / took.len() as f64;
            took.sort_unstable();
            let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
            let slow = took
                .iter()
                .filter(|t| **t > Duration::from_micros(100))
                .count();
            format!(
                "mean {mean:.0} ns, p99 {:?}, p99.99 {:?}, max {:?}, {slow} over 100 µs",
                at(0.99),
                at(0.9999),
                at(1.0)
            )
        };
        let old_full = old::AuthCache::default();
        let old_inserts = inserts(&|i| old_full.insert_device(i, (1, [1; 32])));
        let new_full = AuthCache::default();
        let new_inserts = inserts(&|i| new_full.devices.insert(i, device(1, [1; 32])));
        new_full.devices.run_pending_tasks();
        println!(
            "  {} inserts into a cache of {cap} (device entries):",
            3 * cap
        );
        println!("    old: {old_inserts}; {} kept", old_full.devices_len());
        println!(
            "    new: {new_inserts}; {} kept",
            new_full.devices.entry_count()
        );
    }

    /// The cache as it was before issue 17, kept only for [`measure`].
    mod old {
        use std::{collections::HashMap, sync::Mutex, time::Instant};

        use super::super::{AUTH_CACHE_CAP, CALLER_TTL, DEVICE_TTL};
        use crate::{
            auth::Caller,
            clock::now,
            error::{ApiError, ApiResult},
        };

        type DeviceEntry = (i64, [u8; 32], Instant);

        #[derive(Debug, Default)]
        pub struct AuthCache {
            callers: Mutex<HashMap<String, (Caller, i64, Instant)>>,
            devices: Mutex<HashMap<u32, DeviceEntry>>,
        }

        fn insert_bounded<K: std::hash::Hash + Eq, V>(
            map: &mut HashMap<K, V>,
            key: K,
            value: V,
            fresh: impl Fn(&V) -> bool,
        ) {
            if map.len() >= AUTH_CACHE_CAP as usize {
                map.retain(|_, v| fresh(v));
                if map.len() >= AUTH_CACHE_CAP as usize {
                    map.clear();
                }
            }
            map.insert(key, value);
        }

        fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
            m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        impl AuthCache {
            pub fn cached_caller(&self, hash: &str) -> Option<ApiResult<Caller>> {
                let map = lock(&self.callers);
                let (caller, expires, at) = map.get(hash)?;
                if at.elapsed() >= CALLER_TTL {
                    return None;
                }
                Some(if *expires > now() {
                    Ok(caller.clone())
                } else {
                    Err(ApiError::Unauthorized)
                })
            }

            pub fn insert_caller(&self, hash: String, caller: Caller, expires: i64) {
                insert_bounded(
                    &mut lock(&self.callers),
                    hash,
                    (caller, expires, Instant::now()),
                    |(_, _, at)| at.elapsed() < CALLER_TTL,
                );
            }

            pub fn cached_device(&self, actor: u32) -> Option<(i64, [u8; 32])> {
                let map = lock(&self.devices);
                let (user, key, at) = map.get(&actor)?;
                (at.elapsed() < DEVICE_TTL).then_some((*user, *key))
            }

            pub fn insert_device(&self, actor: u32, (user, key): (i64, [u8; 32])) {
                insert_bounded(
                    &mut lock(&self.devices),
                    actor,
                    (user, key, Instant::now()),
                    |(_, _, at): &DeviceEntry| at.elapsed() < DEVICE_TTL,
                );
            }

            pub fn devices_len(&self) -> usize {
                lock(&self.devices).len()
            }
        }
    }
}
