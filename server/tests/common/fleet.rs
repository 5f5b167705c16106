//! Phones for the crash and fault tests: mobile-core's `Client` (the phone's real code, with
//! its SQLite store) making seeded random edits, counting what it typed and what the server
//! acknowledged; and the checks after a run: each operation in the op log once, every
//! document counting the operations typed, every phone and a fresh phone holding the same
//! bytes, the projections equal to the rules' reading of the document. Each phone's transport
//! is wrapped in a `Ledger` that records, for every sync answered 200, the phone's own
//! operations the request carried: an oracle independent of the client's replica state.
#![allow(dead_code)]

use std::{
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{Rng, rngs::StdRng};
use taskforce_core::client::{
    Client, ClientError, HttpTransport, Reply, Transport, TransportError, TransportFactory,
};

use super::{DIRECTIVE, Http, PASSWORD, TestApp};

/// Login limits for a fleet of phones signing in from one address (the limiter's defaults
/// allow a burst of 20 a minute per address), as a config file's lines …
pub const MANY_LOGINS_TOML: &str =
    "login_per_address_per_minute = 100000\nlogin_per_address_burst = 100000\n";

/// … and on a config.
pub fn many_logins(c: &mut taskforce_server::config::Config) {
    c.login_per_address_per_minute = 100_000;
    c.login_per_address_burst = 100_000;
}

/// One phone: its client, unit, and what it typed and saw acknowledged.
pub struct FleetPhone {
    pub client: Client,
    pub unit: &'static str,
    pub actor: u32,
    pub tasks: Vec<String>,
    pub typed: AtomicU64,
    /// The highest of this device's sequence numbers a 200 acknowledged.
    pub acked: AtomicU64,
    /// What its transport saw answered 200.
    pub ledger: Arc<Ledger>,
}

/// The syncs a phone's transport saw answered 200 and the phone's own operations they
/// carried, as (first, last) sequence numbers of its actor; filled by `Recorded`.
#[derive(Debug, Default)]
pub struct Ledger {
    syncs_200: AtomicU64,
    own: Mutex<Vec<(u64, u64)>>,
}

impl Ledger {
    /// Syncs answered 200 (the answer read whole).
    pub fn syncs_200(&self) -> u64 {
        self.syncs_200.load(Ordering::SeqCst)
    }

    /// The sequence numbers acknowledged, merged into disjoint ranges in order.
    pub fn acknowledged(&self) -> Vec<(u64, u64)> {
        let mut ranges = self.own.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 + 1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }
}

/// A transport that passes everything to `inner` and records in its ledger each sync
/// answered 200 with the operations of the sending actor it carried.
#[derive(Debug)]
struct Recorded {
    inner: Arc<dyn Transport>,
    ledger: Arc<Ledger>,
}

impl Transport for Recorded {
    fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, TransportError> {
        self.inner.get(path, token)
    }

    fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, TransportError> {
        self.inner.post_json(path, token, body)
    }

    fn post_sync(&self, token: &str, actor: u32, body: Vec<u8>) -> Result<Reply, TransportError> {
        let own: Vec<(u64, u64)> = taskforce_core::sync::wire::decode_request(&body)
            .map(|r| {
                r.changes
                    .iter()
                    .filter(|c| c.actor == actor && !c.ops.is_empty())
                    .map(|c| (c.start, c.start + c.ops.len() as u64 - 1))
                    .collect()
            })
            .unwrap_or_default();
        let reply = self.inner.post_sync(token, actor, body)?;
        if reply.status == 200 {
            self.ledger.syncs_200.fetch_add(1, Ordering::SeqCst);
            self.ledger
                .own
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(own);
        }
        Ok(reply)
    }
}

/// `inner` with its sync answers recorded in `ledger`.
fn recorded(inner: TransportFactory, ledger: Arc<Ledger>) -> TransportFactory {
    Box::new(move |base: &str| {
        Arc::new(Recorded {
            inner: inner(base),
            ledger: ledger.clone(),
        }) as Arc<dyn Transport>
    })
}

/// The phone's real HTTP transport.
pub fn real_http() -> TransportFactory {
    Box::new(|base: &str| Arc::new(HttpTransport::new(base)) as Arc<dyn Transport>)
}

/// The phone's real HTTP transport with a short overall timeout (the phone's is 60 s), so that
/// a stalled connection ends in a test's time.
pub struct ShortTimeoutHttp;

impl ShortTimeoutHttp {
    pub fn factory(timeout: Duration) -> TransportFactory {
        Box::new(move |base: &str| {
            Arc::new(HttpTransport::with_timeout(base, timeout)) as Arc<dyn Transport>
        })
    }
}

/// A phone signed in as `user` at `base`, its store `dir/phone-N.db`.
pub fn open_phone(
    dir: &Path,
    base: &str,
    user: &str,
    unit: &'static str,
    n: usize,
    transport: TransportFactory,
) -> FleetPhone {
    let store = taskforce_core::store::SqliteStore::open(dir.join(format!("phone-{n}.db")))
        .unwrap_or_else(|e| panic!("phone store: {e}"));
    let ledger = Arc::new(Ledger::default());
    let mut client = Client::with_store(Box::new(store), recorded(transport, ledger.clone()))
        .unwrap_or_else(|e| panic!("client: {e}"));
    client.set_retry_policy(3, Duration::from_millis(20));
    let mut login = client.login(base, user, PASSWORD, &format!("phone {n}"), None);
    for _ in 0..5 {
        if !matches!(login, Err(ClientError::Network(_))) {
            break;
        }
        login = client.login(base, user, PASSWORD, &format!("phone {n}"), None);
    }
    login.unwrap_or_else(|e| panic!("login {user}: {e}"));
    let actor = client.actor().unwrap_or_else(|| panic!("no actor"));
    let tasks: Vec<String> = client
        .tasks()
        .unwrap_or_else(|e| panic!("tasks: {e}"))
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(!tasks.is_empty(), "{unit} has tasks");
    FleetPhone {
        client,
        unit,
        actor,
        tasks,
        typed: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        ledger,
    }
}

impl FleetPhone {
    /// One random edit a user makes (written to the phone's store before it returns).
    pub fn random_edit(&self, rng: &mut StdRng) {
        let task = &self.tasks[rng.random_range(0..self.tasks.len())];
        let c = &self.client;
        let r = match rng.random_range(0..4) {
            0 => c.set_status(
                task,
                ["todo", "in_progress", "done", "blocked"][rng.random_range(0..4)],
            ),
            1 => c.set_progress(task, rng.random_range(0..=100)),
            2 => c.set_notes(task, &format!("ghi chú {}", rng.random::<u16>())),
            _ => c.add_comment(task, "đã xử lý / handled", 1_580_700_000),
        };
        r.unwrap_or_else(|e| panic!("edit: {e}"));
        self.typed.fetch_add(1, Ordering::SeqCst);
    }

    /// One `sync()`; on success the acknowledged mark moves up to what the server holds of
    /// this device (all it typed but what is still queued; only its own thread edits it).
    pub fn sync(&self) -> Result<(), ClientError> {
        self.client.sync()?;
        let acked = self
            .typed
            .load(Ordering::SeqCst)
            .saturating_sub(self.client.unsynced());
        self.acked.fetch_max(acked, Ordering::SeqCst);
        Ok(())
    }

    /// Sync until nothing is left to send; only a server that keeps failing stops it.
    pub fn sync_all_out(&self) {
        for _ in 0..30 {
            match self.sync() {
                Ok(()) if self.client.unsynced() == 0 => return,
                Ok(()) | Err(ClientError::Network(_)) => {}
                Err(e) => panic!("final sync of actor {}: {e}", self.actor),
            }
        }
        panic!(
            "actor {} still has {} operations unsent",
            self.actor,
            self.client.unsynced()
        );
    }

    pub fn typed(&self) -> u64 {
        self.typed.load(Ordering::SeqCst)
    }
}

/// The op log's figures for one actor: (operations stored, highest sequence number, pairs
/// of rows that overlap or repeat).
pub fn op_log(app: &TestApp, actor: u32) -> (i64, i64, i64) {
    let sum = app.query_i64(&format!(
        "SELECT CAST(COALESCE(SUM(end_seq - start_seq + 1), 0) AS BIGINT) FROM changes \
         WHERE actor_id = {actor}"
    ));
    let max = app.query_i64(&format!(
        "SELECT CAST(COALESCE(MAX(end_seq), 0) AS BIGINT) FROM changes WHERE actor_id = {actor}"
    ));
    let overlaps = app.query_i64(&format!(
        "SELECT COUNT(*) FROM changes a JOIN changes b ON a.directive_id = b.directive_id \
         AND a.unit_id = b.unit_id AND a.actor_id = b.actor_id \
         AND (a.start_seq < b.start_seq OR (a.start_seq = b.start_seq AND a.end_seq < b.end_seq)) \
         AND b.start_seq <= a.end_seq WHERE a.actor_id = {actor}"
    ));
    (sum, max, overlaps)
}

/// What each phone saw acknowledged is in the op log, once: the operations checked.
pub fn check_acknowledged_stored(app: &TestApp, phones: &[FleetPhone], seed: u64) -> u64 {
    let mut checked = 0;
    for p in phones {
        let acked = p.acked.load(Ordering::SeqCst);
        let (sum, max, overlaps) = op_log(app, p.actor);
        assert!(
            max >= i64::try_from(acked).unwrap_or(i64::MAX) && sum == max && overlaps == 0,
            "actor {}: acknowledged up to {acked}, the op log holds {sum} operations up to {max} \
             with {overlaps} overlaps (seed {seed})",
            p.actor
        );
        checked += acked;
    }
    checked
}

/// The independent oracle: every operation of its own a phone's transport saw carried by a
/// sync answered 200 is in the op log exactly once (the rows covering it add up to it, and
/// no two rows of the actor overlap). The operations checked.
pub fn check_transport_acknowledged_stored(app: &TestApp, phones: &[FleetPhone], seed: u64) -> u64 {
    let mut checked = 0;
    for p in phones {
        let actor = p.actor;
        let (_, _, overlaps) = op_log(app, actor);
        assert_eq!(
            overlaps, 0,
            "actor {actor}: rows of the op log overlap (seed {seed})"
        );
        for (start, end) in p.ledger.acknowledged() {
            let covered = app.query_i64(&format!(
                "SELECT CAST(COALESCE(SUM( \
                 (CASE WHEN end_seq < {end} THEN end_seq ELSE {end} END) \
                 - (CASE WHEN start_seq > {start} THEN start_seq ELSE {start} END) + 1), 0) \
                 AS BIGINT) FROM changes \
                 WHERE actor_id = {actor} AND start_seq <= {end} AND end_seq >= {start}"
            ));
            let len = end - start + 1;
            assert_eq!(
                u64::try_from(covered).ok(),
                Some(len),
                "actor {actor}: operations {start}..={end} were answered 200, the op log holds \
                 {covered} of them (seed {seed})"
            );
            checked += len;
        }
    }
    checked
}

/// After every phone synced all out: each operation typed is in the op log once, each
/// document counts its phones' operations, every phone and a fresh phone hold the same
/// bytes, and the projections are the rules' reading of the document. `http` is a server
/// on `app`'s database with no faults on its path; `fresh_user(unit)` a member of the unit.
pub fn check_all_stored_once_and_converged(
    app: &TestApp,
    http: &Http,
    phones: &[FleetPhone],
    units: &[&'static str],
    fresh_user: impl Fn(&str) -> String,
    seed: u64,
) {
    for p in phones {
        p.sync_all_out();
    }
    for p in phones {
        let typed = i64::try_from(p.typed()).unwrap_or(i64::MAX);
        assert_eq!(
            op_log(app, p.actor),
            (typed, typed, 0),
            "actor {}: every operation typed is in the op log once (seed {seed})",
            p.actor
        );
    }
    let token = http.token("vanphong");
    for &unit in units {
        let typed: u64 = phones
            .iter()
            .filter(|p| p.unit == unit)
            .map(FleetPhone::typed)
            .sum();
        assert_eq!(
            http.document(&token, unit)["ops"].as_u64(),
            Some(typed),
            "{unit}: the document counts every operation once (seed {seed})"
        );
        let fresh = Client::in_memory().unwrap_or_else(|e| panic!("{e}"));
        fresh
            .login(&http.base, &fresh_user(unit), PASSWORD, "fresh phone", None)
            .unwrap_or_else(|e| panic!("fresh login: {e}"));
        fresh.sync().unwrap_or_else(|e| panic!("fresh sync: {e}"));
        let expected = fresh.state_fingerprint().unwrap_or_default();
        for p in phones.iter().filter(|p| p.unit == unit) {
            p.sync_all_out();
            // One more pull: what the others sent after this phone's last sync.
            p.sync()
                .unwrap_or_else(|e| panic!("last pull of actor {}: {e}", p.actor));
            assert_eq!(
                p.client.state_fingerprint().unwrap_or_default(),
                expected,
                "actor {} of {unit} differs from the server's document (seed {seed})",
                p.actor
            );
        }
        let (status, read) = http.get(
            &token,
            &format!("/api/v1/units/{unit}/progress?directive={DIRECTIVE}"),
        );
        assert_eq!(status, 200, "{read}");
        let rules = serde_json::to_value(fresh.progress(None).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_default();
        assert_eq!(
            read["tasks"], rules["tasks"],
            "{unit}: task projections (seed {seed})"
        );
        assert_eq!(
            read["counts"], rules["counts"],
            "{unit}: counts (seed {seed})"
        );
    }
}
