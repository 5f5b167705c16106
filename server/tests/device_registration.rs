//! Device registration proves that the device holds its private key (issue 18, point 11): the
//! device signs a challenge the server issued to its user, bound to the user, the public key
//! and the device name. Every way the proof can fail is refused with its code and registers
//! nothing; challenges are single use even across two server replicas, expire, and a user
//! cannot pile them up. On SQLite and PostgreSQL.

mod common;

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{TestApp, TestDb};
use ed25519_dalek::{Signer, SigningKey};
use taskforce_core::sync::{registration_message, sign_registration, signing_key};
use taskforce_server::accounts::{CHALLENGE_TTL_SECS, CHALLENGES_PER_USER};

fn setup(db: TestDb) -> TestApp {
    common::spawn_app_with_members(db)
}

fn key(n: u8) -> SigningKey {
    let mut secret = [0x42u8; 32];
    secret[0] = n;
    secret[1] = (std::process::id() & 0xff) as u8;
    signing_key(&secret)
}

/// Register `k` with the challenge, signed for `user` and `name`, as `token`'s caller.
fn present(
    app: &TestApp,
    token: &str,
    k: &SigningKey,
    challenge: &[u8; 32],
    user: &str,
    name: &str,
) -> (u16, serde_json::Value) {
    let sig = sign_registration(k, challenge, user, name);
    app.post_device(token, name, &k.verifying_key().to_bytes(), challenge, &sig)
}

fn devices(app: &TestApp) -> i64 {
    app.query_i64("SELECT COUNT(*) FROM devices")
}

fn challenges_of(app: &TestApp, username: &str) -> i64 {
    app.query_i64(&format!(
        "SELECT COUNT(*) FROM device_challenges c JOIN users u ON u.id = c.user_id \
         WHERE u.username = '{username}'"
    ))
}

/// The refusal's status and code, with a message in Vietnamese and English.
fn assert_refused(reply: (u16, serde_json::Value), status: u16, code: &str) {
    let (got, body) = reply;
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(" / "), "Vietnamese / English: {message}");
}

fn a_signed_challenge_registers_the_device_and_it_syncs(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let (_, username, body) = app.challenge(&token);
    assert_eq!(username, "cucvt.a", "{body}");
    let expires_at = body["expires_at"].as_i64().unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now + CHALLENGE_TTL_SECS - 5..=now + CHALLENGE_TTL_SECS + 5).contains(&expires_at),
        "{body}"
    );
    let before = devices(&app);
    let k = key(1);
    let (status, body) = app.register_device(&token, &k, "máy của chị A");
    assert_eq!(status, 201, "{body}");
    let actor = body["actor_id"].as_u64();
    assert!(actor.is_some(), "{body}");
    assert_eq!(devices(&app), before + 1);
    // The same key registered again (with a fresh challenge): the same device.
    let (status, again) = app.register_device(&token, &k, "máy của chị A");
    assert_eq!(
        (status, again["actor_id"].as_u64()),
        (201, actor),
        "{again}"
    );
    assert_eq!(devices(&app), before + 1);
    // A phone registered this way syncs.
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, taskforce_core::doc::Status::InProgress);
    phone.sync(&app);
}

/// An old client sends only `{name, public_key}`: told to ask for a challenge.
fn a_registration_without_a_challenge_is_refused(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let before = devices(&app);
    let public_key = STANDARD.encode(key(1).verifying_key().to_bytes());
    let reply = app.post_json(
        &token,
        "/api/v1/devices",
        serde_json::json!({ "name": "old", "public_key": public_key }),
    );
    assert_refused(reply, 400, "challenge_required");
    let (challenge, _, _) = app.challenge(&token);
    let reply = app.post_json(
        &token,
        "/api/v1/devices",
        serde_json::json!({ "name": "old", "public_key": public_key,
            "challenge": STANDARD.encode(challenge) }),
    );
    assert_refused(reply, 400, "challenge_required");
    assert_eq!(devices(&app), before);
}

fn a_made_up_challenge_is_refused(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let before = devices(&app);
    let k = key(1);
    let made_up = [0x77u8; 32];
    let reply = present(&app, &token, &k, &made_up, "cucvt.a", "p");
    assert_refused(reply, 400, "challenge_unknown");
    let sig = sign_registration(&k, &made_up, "cucvt.a", "p");
    // Not even base64, or not 32 bytes: not issued either.
    for challenge in ["không phải base64", "AAAA"] {
        let reply = app.post_json(
            &token,
            "/api/v1/devices",
            serde_json::json!({ "name": "p",
                "public_key": STANDARD.encode(k.verifying_key().to_bytes()),
                "challenge": challenge, "signature": STANDARD.encode(sig) }),
        );
        assert_refused(reply, 400, "challenge_unknown");
    }
    assert_eq!(devices(&app), before);
}

fn an_expired_challenge_is_refused(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let before = devices(&app);
    let (challenge, username, _) = app.challenge(&token);
    // Five minutes pass (the server's clock against the stored expiry).
    let past = chrono::Utc::now().timestamp() - 1;
    app.execute(&format!("UPDATE device_challenges SET expires_at = {past}"));
    let k = key(1);
    let reply = present(&app, &token, &k, &challenge, &username, "p");
    assert_refused(reply, 400, "challenge_expired");
    assert_eq!(devices(&app), before);
}

/// A challenge registers one device: presented again, even signed by another key, refused.
fn a_used_challenge_is_refused(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let (challenge, username, _) = app.challenge(&token);
    let k = key(1);
    let (status, body) = present(&app, &token, &k, &challenge, &username, "p");
    assert_eq!(status, 201, "{body}");
    let before = devices(&app);
    // The very same request replayed (ed25519 signs deterministically: the same bytes).
    let reply = present(&app, &token, &k, &challenge, &username, "p");
    assert_refused(reply, 400, "challenge_used");
    let other = key(2);
    let reply = present(&app, &token, &other, &challenge, &username, "q");
    assert_refused(reply, 400, "challenge_used");
    assert_eq!(devices(&app), before);
}

/// B presents the challenge issued to A (signed honestly for B): refused, and A's challenge
/// is left for A.
fn another_users_challenge_is_refused(db: TestDb) {
    let app = setup(db);
    let token_a = app.token("cucvt.a");
    let token_b = app.token("cucvt.b");
    let before = devices(&app);
    let (challenge, _, _) = app.challenge(&token_a);
    let k = key(1);
    for user in ["cucvt.b", "cucvt.a"] {
        let reply = present(&app, &token_b, &k, &challenge, user, "p");
        assert_refused(reply, 403, "challenge_not_yours");
    }
    assert_eq!(devices(&app), before);
    let (status, body) = present(&app, &token_a, &k, &challenge, "cucvt.a", "p");
    assert_eq!(status, 201, "A's challenge still works for A: {body}");
}

/// Somebody who knows a public key but not its private key cannot register it; the attempt
/// uses the challenge up.
fn a_signature_by_another_key_is_refused(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let before = devices(&app);
    let (challenge, username, _) = app.challenge(&token);
    let victim = key(1).verifying_key().to_bytes();
    let forger = key(2);
    let sig = forger
        .sign(&registration_message(&challenge, &username, &victim, "p"))
        .to_bytes();
    let reply = app.post_device(&token, "p", &victim, &challenge, &sig);
    assert_refused(reply, 403, "bad_registration_signature");
    // The right signature now comes too late: the challenge is spent.
    let honest = sign_registration(&key(1), &challenge, &username, "p");
    let reply = app.post_device(&token, "p", &victim, &challenge, &honest);
    assert_refused(reply, 400, "challenge_used");
    // Not a signature at all.
    let (challenge, _, _) = app.challenge(&token);
    let reply = app.post_json(
        &token,
        "/api/v1/devices",
        serde_json::json!({ "name": "p", "public_key": STANDARD.encode(victim),
            "challenge": STANDARD.encode(challenge), "signature": "AAAA" }),
    );
    assert_refused(reply, 403, "bad_registration_signature");
    assert_eq!(devices(&app), before);
}

/// The key's owner signed for another public key (or another user, or another name) than
/// the request carries: the signature binds them, so refused.
fn a_signature_over_another_public_key_is_refused(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let before = devices(&app);
    let k = key(1);
    let public = k.verifying_key().to_bytes();
    let elsewhere = key(2).verifying_key().to_bytes();
    let (challenge, username, _) = app.challenge(&token);
    let sig = k
        .sign(&registration_message(
            &challenge, &username, &elsewhere, "p",
        ))
        .to_bytes();
    let reply = app.post_device(&token, "p", &public, &challenge, &sig);
    assert_refused(reply, 403, "bad_registration_signature");
    // Signed for another user, and for another device name.
    let (challenge, _, _) = app.challenge(&token);
    let sig = sign_registration(&k, &challenge, "cucvt.b", "p");
    let reply = app.post_device(&token, "p", &public, &challenge, &sig);
    assert_refused(reply, 403, "bad_registration_signature");
    let (challenge, username, _) = app.challenge(&token);
    let sig = sign_registration(&k, &challenge, &username, "p");
    let reply = app.post_device(&token, "another name", &public, &challenge, &sig);
    assert_refused(reply, 403, "bad_registration_signature");
    assert_eq!(devices(&app), before);
}

/// A user holds a few challenges at most (the oldest retired), and expired ones of anybody
/// are purged when the next is issued: the table does not grow with requests.
fn challenges_are_bounded_per_user_and_expired_ones_purged(db: TestDb) {
    let app = setup(db);
    let token_a = app.token("cucvt.a");
    let token_b = app.token("cucvt.b");
    let (expired_b, _, _) = app.challenge(&token_b);
    let past = chrono::Utc::now().timestamp() - 1;
    app.execute(&format!("UPDATE device_challenges SET expires_at = {past}"));
    let cap = i64::try_from(CHALLENGES_PER_USER).unwrap_or(i64::MAX);
    let issued: Vec<_> = (0..cap + 3).map(|_| app.challenge(&token_a)).collect();
    assert_eq!(challenges_of(&app, "cucvt.a"), cap);
    assert_eq!(
        challenges_of(&app, "cucvt.b"),
        0,
        "B's expired challenge purged"
    );
    let k = key(1);
    let public = k.verifying_key().to_bytes();
    let (oldest, username, _) = &issued[0];
    let sig = sign_registration(&k, oldest, username, "p");
    let reply = app.post_device(&token_a, "p", &public, oldest, &sig);
    assert_refused(reply, 400, "challenge_unknown");
    let reply = present(&app, &token_b, &key(2), &expired_b, "cucvt.b", "p");
    assert_refused(reply, 400, "challenge_unknown");
    let (newest, username, _) = &issued[issued.len() - 1];
    let sig = sign_registration(&k, newest, username, "p");
    let (status, body) = app.post_device(&token_a, "p", &public, newest, &sig);
    assert_eq!(status, 201, "{body}");
}

/// Two stateless replicas on one database: a challenge one issued registers through the
/// other, and presented to both at once (by two keys), it registers one device only.
fn a_challenge_is_single_use_across_replicas(db: TestDb) {
    let app = setup(db);
    let other = app.other_server();
    let token = app.token("cucvt.a");
    let (challenge, username, _) = app.challenge(&token);
    let k = key(1);
    let sig = sign_registration(&k, &challenge, &username, "p");
    let (status, body) =
        other.post_device(&token, "p", &k.verifying_key().to_bytes(), &challenge, &sig);
    assert_eq!(status, 201, "{body}");
    for round in 0..8u8 {
        let before = devices(&app);
        let (challenge, username, _) = other.challenge(&token);
        let keys = [key(10 + 2 * round), key(11 + 2 * round)];
        let barrier = std::sync::Barrier::new(2);
        let replies: Vec<(u16, serde_json::Value)> = std::thread::scope(|s| {
            let servers = [&app.http, &other.http];
            let handles: Vec<_> = keys
                .iter()
                .zip(servers)
                .map(|(k, server)| {
                    let (barrier, token, username) = (&barrier, &token, &username);
                    s.spawn(move || {
                        let sig = sign_registration(k, &challenge, username, "p");
                        barrier.wait();
                        server.post_device(
                            token,
                            "p",
                            &k.verifying_key().to_bytes(),
                            &challenge,
                            &sig,
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| panic!("a registration panicked"))
                })
                .collect()
        });
        let mut statuses: Vec<u16> = replies.iter().map(|(s, _)| *s).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 400], "round {round}: {replies:?}");
        assert!(
            replies.iter().any(|(_, b)| b["error"] == "challenge_used"),
            "{replies:?}"
        );
        assert_eq!(devices(&app), before + 1, "round {round}");
    }
}

/// The phone's client registers through the challenge (mobile-core's `register_device`),
/// keeps the device name in its store, and signing in again is the same device.
fn the_phone_client_registers_with_a_signed_challenge(db: TestDb) {
    use taskforce_core::{
        client::Client,
        store::{SqliteStore, Store},
    };
    let app = setup(db);
    let dir = std::env::temp_dir().join(format!(
        "tf-registration-{}-{}",
        std::process::id(),
        common::COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("phone.db");
    let before = devices(&app);
    let actor = {
        let c = Client::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        c.login(
            &app.base,
            "cucvt.a",
            common::PASSWORD,
            "điện thoại của A",
            None,
        )
        .unwrap_or_else(|e| panic!("login: {e}"));
        c.login(
            &app.base,
            "cucvt.a",
            common::PASSWORD,
            "điện thoại của A",
            None,
        )
        .unwrap_or_else(|e| panic!("login again: {e}"));
        c.actor()
    };
    assert_eq!(devices(&app), before + 1, "one device for two sign-ins");
    assert_eq!(
        app.query_i64(&format!(
            "SELECT COUNT(*) FROM devices WHERE name = 'điện thoại của A' AND actor_id = {}",
            actor.unwrap_or_default()
        )),
        1
    );
    let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        store.get_meta("device_name").ok().flatten().as_deref(),
        Some("điện thoại của A".as_bytes())
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// HTTP on which the account's other phones ask for challenges between this phone's challenge
/// and its registration, as many times as `retire` says: its challenge is retired.
#[derive(Debug)]
struct CrowdedAccount {
    http: taskforce_core::client::HttpTransport,
    retire: std::sync::atomic::AtomicU32,
}

impl taskforce_core::client::Transport for CrowdedAccount {
    fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> Result<taskforce_core::client::Reply, taskforce_core::client::TransportError> {
        self.http.get(path, token)
    }
    fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<taskforce_core::client::Reply, taskforce_core::client::TransportError> {
        let crowd = self.retire.load(std::sync::atomic::Ordering::SeqCst);
        if path == "/api/v1/devices" && crowd > 0 {
            self.retire
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            for _ in 0..CHALLENGES_PER_USER {
                self.http
                    .post_json("/api/v1/devices/challenge", token, &serde_json::json!({}))?;
            }
        }
        self.http.post_json(path, token, body)
    }
    fn post_sync(
        &self,
        token: &str,
        actor: u32,
        body: Vec<u8>,
    ) -> Result<taskforce_core::client::Reply, taskforce_core::client::TransportError> {
        self.http.post_sync(token, actor, body)
    }
}

fn crowded_login(app: &TestApp, retire: u32) -> Result<(), taskforce_core::client::ClientError> {
    let c = taskforce_core::client::Client::with_store(
        Box::new(taskforce_core::store::MemoryStore::default()),
        Box::new(move |base: &str| {
            std::sync::Arc::new(CrowdedAccount {
                http: taskforce_core::client::HttpTransport::new(base),
                retire: std::sync::atomic::AtomicU32::new(retire),
            }) as std::sync::Arc<dyn taskforce_core::client::Transport>
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    c.login(&app.base, "cucvt.a", common::PASSWORD, "phone", None)
}

/// The phone's challenge is retired before it is used (the account's other phones asked for
/// theirs): the client asks for another and registers; it gives up after three attempts.
fn the_phone_client_renews_a_retired_challenge(db: TestDb) {
    let app = setup(db);
    let before = devices(&app);
    crowded_login(&app, 2).unwrap_or_else(|e| panic!("two retired challenges: {e}"));
    assert_eq!(devices(&app), before + 1);
    let refused = crowded_login(&app, 3);
    assert!(
        matches!(&refused, Err(taskforce_core::client::ClientError::InvalidInput(m)) if m.contains("challenge")),
        "{refused:?}"
    );
    assert_eq!(devices(&app), before + 1);
}

/// Registrations of many users at once while phones sync: each waits its turn for the write
/// lock and is registered (on SQLite a deferred transaction used to fail at once with a 500
/// while another connection wrote).
fn registrations_at_once_while_phones_sync_all_succeed(db: TestDb) {
    let app = setup(db);
    let users: Vec<String> = (0..12).map(|i| format!("busy.{i}")).collect();
    for u in &users {
        app.create_user(
            u,
            taskforce_server::auth::Role::Member,
            &[("cuc-vt", false)],
        );
    }
    let tokens: Vec<String> = users.iter().map(|u| app.token(u)).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let syncing = {
        let (http, stop) = (app.http.clone(), stop.clone());
        let mut phone = app.phone("cucvt.a", "cuc-vt");
        std::thread::spawn(move || {
            let mut syncs = 0u32;
            let mut n = 0u8;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n = n.wrapping_add(1);
                phone.set(0, taskforce_core::doc::TaskField::Progress(n % 100));
                phone.sync(&http);
                syncs += 1;
            }
            syncs
        })
    };
    let mut answers = Vec::new();
    for round in 0..3u8 {
        let handles: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let (http, token) = (app.http.clone(), token.clone());
                let k = key(100 + round * 20 + i as u8);
                std::thread::spawn(move || http.register_device(&token, &k, "p"))
            })
            .collect();
        answers.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("join"))),
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let syncs = syncing
        .join()
        .unwrap_or_else(|_| panic!("the syncing phone panicked"));
    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 201).collect();
    assert!(
        failed.is_empty(),
        "{} of {} refused: {failed:?}",
        failed.len(),
        answers.len()
    );
    eprintln!(
        "{} registrations at once, all 201, while a phone synced {syncs} times",
        answers.len()
    );
}

on_every_store!(
    registrations_at_once_while_phones_sync_all_succeed,
    a_signed_challenge_registers_the_device_and_it_syncs,
    a_registration_without_a_challenge_is_refused,
    a_made_up_challenge_is_refused,
    an_expired_challenge_is_refused,
    a_used_challenge_is_refused,
    another_users_challenge_is_refused,
    a_signature_by_another_key_is_refused,
    a_signature_over_another_public_key_is_refused,
    challenges_are_bounded_per_user_and_expired_ones_purged,
    a_challenge_is_single_use_across_replicas,
    the_phone_client_registers_with_a_signed_challenge,
    the_phone_client_renews_a_retired_challenge,
);
