//! Devices and accounts an operator manages (issue 19, point 2): the quotas, listing users and
//! a user's devices, revoking a device, disabling and enabling an account, adding an existing
//! account to a unit; over real HTTP on SQLite and PostgreSQL, and the CLI as the real binary.

mod common;

use std::process::Command;

use common::*;
use taskforce_core::{
    doc::{DocHeader, Status},
    sync::{Replica, sign_registration, signing_key},
};
use taskforce_server::auth::Role;

/// `cuc-vt`'s two members, `viettel.a`, the Ministry Office, the Minister, an admin and
/// `cuc-vt`'s lead.
fn setup(db: TestDb, tweak: impl FnOnce(&mut taskforce_server::config::Config)) -> TestApp {
    let app = spawn_app_with(db, tweak);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("cucvt.b", Role::Member, &[("cuc-vt", false)]);
    app.create_user("cucvt.lead", Role::Member, &[("cuc-vt", true)]);
    app.create_user("viettel.a", Role::Member, &[("viettel", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    app.create_user("botruong", Role::Minister, &[]);
    app.create_user("quantri", Role::Admin, &[]);
    app
}

fn code(body: &serde_json::Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

/// A message in both languages: some Vietnamese (a letter outside ASCII) and the English after
/// the slash.
fn assert_bilingual(body: &serde_json::Value) {
    let m = body["message"].as_str().unwrap_or_default();
    assert!(
        m.contains(" / ") && !m.is_ascii(),
        "not Vietnamese and English: {body}"
    );
}

fn add_member(
    app: &TestApp,
    token: &str,
    unit: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    app.post_json(token, &format!("/api/v1/units/{unit}/members"), body)
}

fn new_member(username: &str, display_name: &str) -> serde_json::Value {
    serde_json::json!({ "username": username, "display_name": display_name, "password": PASSWORD })
}

/// A device key no other test uses.
fn key(n: u8) -> ed25519_dalek::SigningKey {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&std::process::id().to_le_bytes());
    secret[4] = n;
    secret[5] = 0xd7;
    signing_key(&secret)
}

fn audit_rows(app: &TestApp, action: &str, subject: &str) -> i64 {
    app.query_i64(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND subject = '{subject}'"
    ))
}

/// Each quota refuses at its limit and allows below it: devices per user (revoked ones do
/// not count), members per unit (for new and existing accounts), the username's length and
/// characters, the display name's length and control characters.
fn each_quota_is_refused_at_its_limit_and_allowed_below(db: TestDb) {
    let app = setup(db, |c| {
        c.devices_per_user = 2;
        c.members_per_unit = 3;
    });
    let admin = app.token("quantri");

    // Devices: two registered, the third refused until one is revoked.
    let token = app.token("cucvt.a");
    let (s, first) = app.register_device(&token, &key(1), "phone 1");
    assert_eq!(s, 201, "{first}");
    let (s, body) = app.register_device(&token, &key(2), "phone 2");
    assert_eq!(s, 201, "{body}");
    let (s, body) = app.register_device(&token, &key(3), "phone 3");
    assert_eq!((s, code(&body)), (409, "quota_exceeded"), "{body}");
    assert_bilingual(&body);
    // Registering a key held again is no new device: still answered.
    let (s, again) = app.register_device(&token, &key(1), "phone 1");
    assert_eq!(
        (s, &again["actor_id"]),
        (201, &first["actor_id"]),
        "{again}"
    );
    let actor = first["actor_id"].as_u64().unwrap_or_default();
    let (s, body) = app.post_json(
        &token,
        &format!("/api/v1/devices/{actor}/revoke"),
        serde_json::json!({}),
    );
    assert_eq!(s, 200, "{body}");
    // Revoking ended the owner's sessions: signed in again.
    let token = app.token("cucvt.a");
    let (s, body) = app.register_device(&token, &key(3), "phone 3");
    assert_eq!(s, 201, "a revoked device leaves room: {body}");
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM devices"),
        3,
        "none deleted"
    );

    // Members: cuc-vt has three (a, b, lead): full for new accounts and existing ones alike.
    let (s, body) = add_member(&app, &admin, "cuc-vt", new_member("cucvt.c", ""));
    assert_eq!((s, code(&body)), (409, "quota_exceeded"), "{body}");
    assert_bilingual(&body);
    let (s, body) = add_member(
        &app,
        &admin,
        "cuc-vt",
        serde_json::json!({ "username": "viettel.a" }),
    );
    assert_eq!((s, code(&body)), (409, "quota_exceeded"), "{body}");
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM users WHERE username = 'cucvt.c'"),
        0
    );
    // One leaves: one more may join.
    let agent = Http::agent();
    let resp = agent
        .delete(&format!("{}/api/v1/units/cuc-vt/members/cucvt.b", app.base))
        .header("Authorization", &format!("Bearer {admin}"))
        .call()
        .unwrap_or_else(|e| panic!("DELETE: {e}"));
    assert_eq!(resp.status().as_u16(), 204);
    let (s, body) = add_member(&app, &admin, "cuc-vt", new_member("cucvt.c", ""));
    assert_eq!(
        (s, &body["created"]),
        (201, &serde_json::json!(true)),
        "{body}"
    );

    // Usernames: 3 to 64 of a-z, 0-9, '.', '_', '-' (in viettel: one member so far).
    for bad in ["ab", &"a".repeat(65), "Viettel.B", "viettel b", "việt.b"] {
        let (s, body) = add_member(&app, &admin, "viettel", new_member(bad, ""));
        assert_eq!((s, code(&body)), (400, "bad_username"), "{bad}: {body}");
        assert_bilingual(&body);
    }
    let (s, body) = add_member(&app, &admin, "viettel", new_member("abc", ""));
    assert_eq!(s, 201, "three characters: {body}");
    // Display names: at most 128 characters, no control characters.
    for bad in [
        "Đ".repeat(129),
        "Nguyễn\u{0}Văn".into(),
        "Nguyễn\nVăn".into(),
    ] {
        let (s, body) = add_member(&app, &admin, "viettel", new_member("viettel.b", &bad));
        assert_eq!((s, code(&body)), (400, "bad_display_name"), "{body}");
        assert_bilingual(&body);
    }
    let (s, body) = add_member(
        &app,
        &admin,
        "viettel",
        new_member(&"b".repeat(64), &"Đ".repeat(128)),
    );
    assert_eq!(s, 201, "64 and 128 characters: {body}");
    // viettel is now full (viettel.a, abc, bbb…).
    let (s, body) = add_member(&app, &admin, "viettel", new_member("viettel.c", ""));
    assert_eq!((s, code(&body)), (409, "quota_exceeded"), "{body}");
}

/// A revoked phone's next sync is refused with `device_revoked`; what it wrote before stays in
/// the op log and in the progress figures; its row and key stay; only its owner or an admin
/// revokes it; its key cannot be registered again.
fn a_revoked_phone_is_refused_and_its_earlier_ops_stay(db: TestDb) {
    let app = setup(db, |_| {});
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.sync(&app);
    let actor = phone.actor;
    let ops_of = |app: &TestApp| {
        app.query_i64(&format!(
            "SELECT COUNT(*) FROM changes WHERE actor_id = {actor}"
        ))
    };
    assert_eq!(ops_of(&app), 1);
    let office = app.token("vanphong");
    let (s, before) = app.get(&office, "/api/v1/units/cuc-vt/progress");
    assert_eq!(s, 200, "{before}");
    assert_eq!(before["counts"]["done"], 1, "{before}");

    // Neither another member nor the Ministry Office revokes someone's phone.
    let revoke = format!("/api/v1/devices/{actor}/revoke");
    for who in ["cucvt.b", "vanphong", "cucvt.lead"] {
        let (s, body) = app.post_json(&app.token(who), &revoke, serde_json::json!({}));
        assert_eq!((s, code(&body)), (403, "forbidden"), "{who}: {body}");
    }
    let (s, body) = app.post_json(
        &phone.token,
        "/api/v1/devices/999999/revoke",
        serde_json::json!({}),
    );
    assert_eq!(s, 404, "{body}");
    assert_eq!(audit_rows(&app, "device.revoke", &actor.to_string()), 0);

    // The owner revokes it (the device is cached: the sync above read it).
    let (s, body) = app.post_json(&phone.token, &revoke, serde_json::json!({}));
    assert_eq!(s, 200, "{body}");
    assert!(body["revoked_at"].as_i64().is_some(), "{body}");
    // Every session of the owner ended with it: the lost phone's token (a thief's) is
    // refused at once — it can neither read, nor register a new key, nor revoke the owner's
    // next phone.
    let (s, ended) = app.get(&phone.token, "/api/v1/me");
    assert_eq!((s, code(&ended)), (401, "unauthorized"), "{ended}");
    let (s, ended) = app.post_json(
        &phone.token,
        "/api/v1/devices/challenge",
        serde_json::json!({}),
    );
    assert_eq!((s, code(&ended)), (401, "unauthorized"), "{ended}");
    // The owner signs in again; the revoked phone stays refused under the new session.
    phone.token = app.token("cucvt.a");
    phone.status(1, Status::InProgress);
    let (s, refused) = phone
        .try_sync(&app)
        .err()
        .unwrap_or_else(|| panic!("a revoked phone synced"));
    assert_eq!((s, code(&refused)), (403, "device_revoked"), "{refused}");
    assert_bilingual(&refused);
    // Even a read-only sync.
    let (s, bytes) = app.post_sync(&phone.token, actor, &{
        let mut fresh = Phone {
            replica: Replica::new(phone.replica.doc().header().clone()),
            actor,
            key: phone.key.clone(),
            token: phone.token.clone(),
        };
        fresh.request_bytes()
    });
    assert_eq!(s, 403, "{}", String::from_utf8_lossy(&bytes));

    // What it wrote stays: in the op log, the progress figures; its row and key stay.
    assert_eq!(ops_of(&app), 1);
    let (s, after) = app.get(&office, "/api/v1/units/cuc-vt/progress");
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["counts"], before["counts"], "{after}");
    assert_eq!(
        app.query_i64(&format!(
            "SELECT COUNT(*) FROM devices WHERE actor_id = {actor} AND revoked_at IS NOT NULL"
        )),
        1
    );
    // A colleague's sync brings the revoked phone's operation.
    let mut colleague = app.phone("cucvt.b", "cuc-vt");
    colleague.sync(&app);
    assert_eq!(
        colleague
            .replica
            .doc()
            .statuses(taskforce_core::doc::TaskRef::Assigned(0)),
        [Status::Done]
    );

    // Listed as revoked; revoking again changes nothing; its key is not registered again.
    let (s, listed) = app.get(&phone.token, "/api/v1/users/cucvt.a/devices");
    assert_eq!(s, 200, "{listed}");
    assert_eq!(listed["devices"][0]["actor_id"], actor, "{listed}");
    assert_eq!(
        listed["devices"][0]["revoked_at"], body["revoked_at"],
        "{listed}"
    );
    let (s, again) = app.post_json(&phone.token, &revoke, serde_json::json!({}));
    assert_eq!(
        (s, &again["revoked_at"]),
        (200, &body["revoked_at"]),
        "{again}"
    );
    assert_eq!(audit_rows(&app, "device.revoke", &actor.to_string()), 1);
    let (challenge, username, _) = app.challenge(&phone.token);
    let signature = sign_registration(&phone.key, &challenge, &username, "phone again");
    let (s, body) = app.post_device(
        &phone.token,
        "phone again",
        &phone.key.verifying_key().to_bytes(),
        &challenge,
        &signature,
    );
    assert_eq!((s, code(&body)), (403, "device_revoked"), "{body}");

    // An admin revokes anyone's phone.
    let other = app.phone("viettel.a", "viettel");
    let (s, body) = app.post_json(
        &app.token("quantri"),
        &format!("/api/v1/devices/{}/revoke", other.actor),
        serde_json::json!({}),
    );
    assert_eq!(s, 200, "{body}");
}

/// A disabled account's token is refused at once (no cache lifetime to wait out), as are its
/// sign-in and its phone's sync; enabling it lets it sign in again (its old sessions stay
/// ended). The last enabled admin cannot be disabled; only admins disable.
fn a_disabled_account_is_refused_at_once_and_enable_restores(db: TestDb) {
    let app = setup(db, |_| {});
    let admin = app.token("quantri");
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.sync(&app);
    let (s, _) = app.get(&phone.token, "/api/v1/me");
    assert_eq!(s, 200, "the caller is cached now");

    for who in ["vanphong", "cucvt.lead", "botruong", "cucvt.b"] {
        let (s, body) = app.post_json(
            &app.token(who),
            "/api/v1/users/cucvt.a/disable",
            serde_json::json!({}),
        );
        assert_eq!((s, code(&body)), (403, "forbidden"), "{who}: {body}");
    }
    let (s, _) = app.get(&phone.token, "/api/v1/me");
    assert_eq!(s, 200, "refused attempts change nothing");

    let (s, body) = app.post_json(
        &admin,
        "/api/v1/users/cucvt.a/disable",
        serde_json::json!({}),
    );
    assert_eq!(s, 204, "{body}");
    let (s, ended) = app.get(&phone.token, "/api/v1/me");
    assert_eq!((s, code(&ended)), (401, "unauthorized"), "{ended}");
    phone.status(1, Status::InProgress);
    let (s, body) = phone
        .try_sync(&app)
        .err()
        .unwrap_or_else(|| panic!("a disabled account synced"));
    assert_eq!(s, 401, "{body}");
    let (s, body) = app.login("cucvt.a", PASSWORD);
    assert_eq!(s, 401, "{body}");
    let (s, users) = app.get(&admin, "/api/v1/users");
    assert_eq!(s, 200, "{users}");
    let listed = users["users"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["username"] == "cucvt.a").cloned())
        .unwrap_or_default();
    assert_eq!(listed["disabled"], true, "{users}");
    assert_eq!(audit_rows(&app, "user.disable", "cucvt.a"), 1);

    let (s, body) = app.post_json(
        &admin,
        "/api/v1/users/cucvt.a/enable",
        serde_json::json!({}),
    );
    assert_eq!(s, 204, "{body}");
    let (s, _) = app.get(&phone.token, "/api/v1/me");
    assert_eq!(s, 401, "the old session stays ended");
    phone.token = app.token("cucvt.a");
    phone.sync(&app);
    assert_eq!(audit_rows(&app, "user.enable", "cucvt.a"), 1);

    // The last enabled admin cannot disable themself; with a second one, they can.
    let (s, body) = app.post_json(
        &admin,
        "/api/v1/users/quantri/disable",
        serde_json::json!({}),
    );
    assert_eq!((s, code(&body)), (409, "last_admin"), "{body}");
    assert_bilingual(&body);
    let (s, _) = app.get(&admin, "/api/v1/me");
    assert_eq!(s, 200);
    app.create_user("quantri.2", Role::Admin, &[]);
    let (s, body) = app.post_json(
        &admin,
        "/api/v1/users/quantri/disable",
        serde_json::json!({}),
    );
    assert_eq!(s, 204, "{body}");
    let second = app.token("quantri.2");
    let (s, body) = app.post_json(
        &second,
        "/api/v1/users/quantri.2/disable",
        serde_json::json!({}),
    );
    assert_eq!((s, code(&body)), (409, "last_admin"), "{body}");
    let (s, body) = app.post_json(
        &second,
        "/api/v1/users/nobody.here/disable",
        serde_json::json!({}),
    );
    assert_eq!(s, 404, "{body}");
}

/// An existing account added to a second unit (no password: no new account) syncs both units'
/// documents, with the token it already had.
fn an_existing_user_added_to_a_second_unit_syncs_both(db: TestDb) {
    let app = setup(db, |_| {});
    let office = app.token("vanphong");
    let mut vt = app.phone("cucvt.a", "cuc-vt");
    vt.status(0, Status::Done);
    vt.sync(&app);
    let doc = app.get(
        &vt.token,
        "/api/v1/units/viettel/document?directive=5-ct-btttt",
    );
    assert_eq!(doc.0, 403, "not a member of viettel yet: {}", doc.1);

    // A lead adds to their own unit only; only the Ministry Office or an admin appoints leads.
    let lead = app.token("cucvt.lead");
    let (s, body) = add_member(
        &app,
        &lead,
        "viettel",
        serde_json::json!({ "username": "cucvt.b" }),
    );
    assert_eq!(s, 403, "{body}");
    let (s, body) = add_member(
        &app,
        &lead,
        "cuc-vt",
        serde_json::json!({ "username": "viettel.a", "lead": true }),
    );
    assert_eq!(s, 403, "{body}");

    let (s, body) = add_member(
        &app,
        &office,
        "viettel",
        serde_json::json!({ "username": "cucvt.a" }),
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["created"], false, "{body}");
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM users WHERE username = 'cucvt.a'"),
        1
    );
    assert_eq!(audit_rows(&app, "member.add", "cucvt.a"), 1);
    // Twice: a conflict; unknown accounts and units: not found; a display name: for new ones.
    let (s, body) = add_member(
        &app,
        &office,
        "viettel",
        serde_json::json!({ "username": "cucvt.a" }),
    );
    assert_eq!((s, code(&body)), (409, "conflict"), "{body}");
    let (s, body) = add_member(
        &app,
        &office,
        "viettel",
        serde_json::json!({ "username": "nobody.here" }),
    );
    assert_eq!(s, 404, "{body}");
    let (s, body) = add_member(
        &app,
        &office,
        "no-such-unit",
        serde_json::json!({ "username": "cucvt.a" }),
    );
    assert_eq!(s, 404, "{body}");
    let (s, body) = add_member(
        &app,
        &office,
        "viettel",
        serde_json::json!({ "username": "cucvt.b", "display_name": "B" }),
    );
    assert_eq!(s, 400, "{body}");

    // The same token, the same device, now on viettel's document too.
    let doc = app.document(&vt.token, "viettel");
    let header: DocHeader =
        serde_json::from_value(doc["header"].clone()).unwrap_or_else(|e| panic!("header: {e}"));
    let mut vl = Phone {
        replica: Replica::new(header),
        actor: vt.actor,
        key: vt.key.clone(),
        token: vt.token.clone(),
    };
    vl.status(0, Status::InProgress);
    vl.sync(&app);
    vt.status(1, Status::InProgress);
    vt.sync(&app);
    let mut viettel = app.phone("viettel.a", "viettel");
    viettel.sync(&app);
    assert_eq!(
        viettel.canonical(),
        vl.canonical(),
        "viettel's member sees the edit"
    );
    let (s, me) = app.get(&vt.token, "/api/v1/me");
    assert_eq!(s, 200);
    assert_eq!(me["units"].as_array().map(Vec::len), Some(2), "{me}");
}

/// Who may use the account routes: listing users (Ministry Office, admins), a user's devices
/// (the user, Ministry Office, admins), disabling and enabling (admins), revoking (owner,
/// admins); nobody signed out.
fn non_admins_are_refused_each_admin_route(db: TestDb) {
    let app = setup(db, |_| {});
    let phone = app.phone("viettel.a", "viettel");
    let revoke = format!("/api/v1/devices/{}/revoke", phone.actor);
    let none = serde_json::json!({});
    for who in ["cucvt.a", "cucvt.lead", "botruong"] {
        let token = app.token(who);
        let (s, body) = app.get(&token, "/api/v1/users");
        assert_eq!((s, code(&body)), (403, "forbidden"), "{who}: {body}");
        let (s, body) = app.get(&token, "/api/v1/users/viettel.a/devices");
        assert_eq!((s, code(&body)), (403, "forbidden"), "{who}: {body}");
        for path in [
            "/api/v1/users/viettel.a/disable",
            "/api/v1/users/viettel.a/enable",
            &revoke,
        ] {
            let (s, body) = app.post_json(&token, path, none.clone());
            assert_eq!((s, code(&body)), (403, "forbidden"), "{who} {path}: {body}");
        }
        // Their own devices they see.
        let (s, body) = app.get(&token, &format!("/api/v1/users/{who}/devices"));
        assert_eq!(s, 200, "{who}: {body}");
    }
    // The Ministry Office lists and sees devices, but neither disables nor revokes.
    let office = app.token("vanphong");
    let (s, body) = app.get(&office, "/api/v1/users/viettel.a/devices");
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["devices"].as_array().map(Vec::len), Some(1), "{body}");
    let (s, page) = app.get(&office, "/api/v1/users?page=2&per_page=3");
    assert_eq!(s, 200, "{page}");
    // The seven accounts and the server's call-record verifier (disabled, issue 23).
    assert_eq!(page["total"], 8, "{page}");
    let names: Vec<&str> = page["users"]
        .as_array()
        .map(|u| u.iter().filter_map(|u| u["username"].as_str()).collect())
        .unwrap_or_default();
    // In username order: botruong, cucvt.a, cucvt.b | cucvt.lead, quantri, taskforce.verifier
    // | vanphong, viettel.a
    assert_eq!(
        names,
        ["cucvt.lead", "quantri", "taskforce.verifier"],
        "{page}"
    );
    assert_eq!(page["users"][2]["disabled"], true, "{page}");
    for path in ["/api/v1/users/viettel.a/disable", &revoke] {
        let (s, body) = app.post_json(&office, path, none.clone());
        assert_eq!((s, code(&body)), (403, "forbidden"), "{path}: {body}");
    }
    // Signed out: 401 everywhere.
    for path in ["/api/v1/users", "/api/v1/users/viettel.a/devices"] {
        let (s, _) = app.get("not-a-token", path);
        assert_eq!(s, 401, "{path}");
    }
    for path in [
        "/api/v1/users/viettel.a/disable",
        "/api/v1/users/viettel.a/enable",
        &revoke,
    ] {
        let (s, _) = app.post_json("not-a-token", path, none.clone());
        assert_eq!(s, 401, "{path}");
    }
    // Nothing the refused calls asked for happened.
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM devices WHERE revoked_at IS NOT NULL"),
        0
    );
    // (The server's verifier account is disabled from the start.)
    assert_eq!(
        app.query_i64(
            "SELECT COUNT(*) FROM users WHERE disabled AND username <> 'taskforce.verifier'"
        ),
        0
    );
}

/// `taskforce …` as the real binary on the test's database: (success, stdout, stderr).
fn taskforce(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_taskforce"))
        .args(args)
        .env("TASKFORCE_DB", app.db.url())
        .env_remove("TASKFORCE_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("taskforce {args:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CLI lists users and devices, revokes a device, disables and enables an account and adds
/// an existing account to a unit, on the database a running server uses.
fn the_cli_manages_users_and_devices(db: TestDb) {
    let app = setup(db, |_| {});
    let phone = app.phone("cucvt.a", "cuc-vt");

    let (ok, out, err) = taskforce(&app, &["user", "list"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("8 users"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("taskforce.verifier ") && l.contains("disabled")),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("cucvt.lead "))
        .unwrap_or_default();
    assert!(
        line.contains("member") && line.contains("enabled") && line.ends_with("cuc-vt*"),
        "{out}"
    );

    let (ok, out, err) = taskforce(&app, &["user", "devices", "cucvt.a"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("1 devices of cucvt.a"), "{out}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.trim_start().starts_with(&phone.actor.to_string())),
        "{out}"
    );

    let actor = phone.actor.to_string();
    let (ok, out, err) = taskforce(&app, &["user", "revoke-device", &actor]);
    assert!(ok, "{err}");
    assert!(out.contains("revoked"), "{out}");
    let (s, listed) = app.get(&phone.token, "/api/v1/users/cucvt.a/devices");
    assert_eq!(s, 200, "{listed}");
    assert!(
        listed["devices"][0]["revoked_at"].as_i64().is_some(),
        "{listed}"
    );
    let (ok, out, _) = taskforce(&app, &["user", "devices", "cucvt.a"]);
    assert!(ok && out.contains("revoked 20"), "{out}");
    let (ok, _, err) = taskforce(&app, &["user", "revoke-device", "999999"]);
    assert!(!ok && err.contains("not found"), "{err}");

    let (ok, _, err) = taskforce(&app, &["user", "disable", "cucvt.a"]);
    assert!(ok, "{err}");
    let (s, _) = app.login("cucvt.a", PASSWORD);
    assert_eq!(s, 401, "a disabled account signs in no more");
    let (ok, _, err) = taskforce(&app, &["user", "disable", "quantri"]);
    assert!(!ok && err.contains("last enabled admin"), "{err}");
    let (ok, _, err) = taskforce(&app, &["user", "enable", "cucvt.a"]);
    assert!(ok, "{err}");
    let (s, body) = app.login("cucvt.a", PASSWORD);
    assert_eq!(s, 200, "{body}");

    let (ok, out, err) = taskforce(&app, &["member", "add", "viettel", "cucvt.a", "--lead"]);
    assert!(ok, "{err}");
    assert!(out.contains("cucvt.a added to viettel as lead"), "{out}");
    let (ok, _, err) = taskforce(&app, &["member", "add", "viettel", "cucvt.a"]);
    assert!(!ok && err.contains("already a member"), "{err}");
    let (ok, out, _) = taskforce(&app, &["user", "list"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("cucvt.a "))
        .unwrap_or_default();
    assert!(ok && line.ends_with("cuc-vt,viettel*"), "{out}");
    assert_eq!(audit_rows(&app, "device.revoke", &actor), 1);
    assert_eq!(audit_rows(&app, "user.disable", "cucvt.a"), 1);
    assert_eq!(audit_rows(&app, "member.add", "cucvt.a"), 1);
}

on_every_store!(
    each_quota_is_refused_at_its_limit_and_allowed_below,
    a_revoked_phone_is_refused_and_its_earlier_ops_stay,
    a_disabled_account_is_refused_at_once_and_enable_restores,
    an_existing_user_added_to_a_second_unit_syncs_both,
    non_admins_are_refused_each_admin_route,
    the_cli_manages_users_and_devices,
);
