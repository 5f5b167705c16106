//! The sync API over real HTTP against a real SQLite file and a real PostgreSQL database:
//! phones push and pull, concurrent edits converge, replays change nothing, and every kind
//! of bad request gets its error and leaves the stored state unchanged.

mod common;

use common::{DIRECTIVE, Http, Phone, TestApp, TestDb};
use taskforce_core::{
    doc::{Confirmation, ConfirmationState, Day, Op, Report, Status, TaskField, TaskRef},
    sync::{Change, wire},
};
use taskforce_server::auth::Role;

fn setup(db: TestDb) -> TestApp {
    common::spawn_app_with_members(db)
}

/// What the server stores for a unit, as another device would receive it from scratch.
fn server_state(app: &TestApp, unit: &str) -> (i64, Vec<u8>) {
    let token = app.token("vanphong");
    let ops = app.document(&token, unit)["ops"].as_i64().unwrap_or(-1);
    (ops, observer_view(app, unit))
}

/// A fresh read-only sync by the Ministry Office's device: the whole state.
fn observer_view(app: &TestApp, unit: &str) -> Vec<u8> {
    let mut observer = app.phone("vanphong", unit);
    observer.sync(app);
    observer.canonical()
}

fn push_and_pull_converge(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut b = app.phone("cucvt.b", "cuc-vt");
    // Offline: both set task 0's status; A also reports, B edits notes of task 1.
    a.status(0, Status::Done);
    a.edit(Op::Report(Report {
        period: "2020-02-05".into(),
        text: "120 triệu tin nhắn".into(),
        figures: vec![],
        at: 1_580_860_800,
    }));
    b.status(0, Status::InProgress);
    b.set(1, TaskField::Notes("Đã họp với các nhà mạng".into()));
    let pa = a.sync(&app);
    assert_eq!(pa.pushed, 0, "pushed is counted by the responder");
    let pb = b.sync(&app);
    assert!(pb.pulled >= 2, "B pulls A's two operations: {pb:?}");
    a.sync(&app);
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(
        a.replica.doc().statuses(TaskRef::Assigned(0)),
        [Status::InProgress, Status::Done]
    );
    assert_eq!(a.replica.doc().conflicts().len(), 1);
    let (ops, view) = server_state(&app, "cuc-vt");
    assert_eq!(ops, 4);
    assert_eq!(view, a.canonical(), "the server's state equals the phones'");
}

fn replayed_requests_change_nothing(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    a.status(2, Status::Blocked);
    let body = a.request_bytes();
    for _ in 0..3 {
        let (status, _) = app.post_sync(&a.token, a.actor, &body);
        assert_eq!(status, 200);
    }
    let (ops, _) = server_state(&app, "cuc-vt");
    assert_eq!(ops, 1, "three deliveries of one operation store one");
    a.sync(&app);
    assert_eq!(a.replica.unacknowledged(a.actor), 0);
}

fn bad_requests_are_refused_and_change_nothing(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    a.status(0, Status::Done);
    a.sync(&app);
    let before = server_state(&app, "cuc-vt");
    let mut b = app.phone("cucvt.b", "cuc-vt");
    let expect = |(status, body): (u16, Vec<u8>), code: u16, error: &str| {
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (status, json["error"].as_str().unwrap_or("")),
            (code, error),
            "{json}"
        );
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        json
    };

    // Garbage bytes, and an empty body.
    expect(
        app.post_sync(&a.token, a.actor, b"\x01\x02garbage"),
        400,
        "bad_request",
    );
    expect(app.post_sync(&a.token, a.actor, b""), 400, "bad_request");
    // Oversized.
    let huge = vec![0u8; 9 * 1024 * 1024];
    expect(app.post_sync(&a.token, a.actor, &huge), 413, "too_large");
    // No token, a wrong token.
    expect(app.post_sync("nope", a.actor, b"x"), 401, "unauthorized");
    // Someone else's device.
    a.status(1, Status::Done);
    let body = a.request_bytes();
    expect(app.post_sync(&b.token, a.actor, &body), 403, "forbidden");
    // B's own device, but the change claims to be A's: a forged actor.
    expect(app.post_sync(&b.token, b.actor, &body), 403, "forged_actor");
    // A change signed with another key.
    let mut req = wire::decode_request(&body).unwrap_or_else(|e| panic!("{e}"));
    let c = &req.changes[0];
    req.changes[0] = Change::sign(req.fingerprint, c.actor, c.start, c.ops.clone(), &b.key);
    expect(
        app.post_sync(&a.token, a.actor, &wire::encode_request(&req)),
        403,
        "bad_signature",
    );
    // A gap: the second change without the first.
    a.status(2, Status::Done);
    let body2 = a.request_bytes();
    let mut req = wire::decode_request(&body2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(req.changes.len(), 2);
    req.changes.remove(0);
    let gap = expect(
        app.post_sync(&a.token, a.actor, &wire::encode_request(&req)),
        409,
        "gap",
    );
    assert_eq!(gap["missing"]["from"], 2);
    assert_eq!(gap["missing"]["to"], 2);
    // A well-signed but invalid operation.
    let fp = req.fingerprint;
    req.changes = vec![Change::sign(
        fp,
        a.actor,
        2,
        vec![Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Progress(250),
            ctx: vec![],
        }],
        &a.key,
    )];
    expect(
        app.post_sync(&a.token, a.actor, &wire::encode_request(&req)),
        400,
        "invalid_operation",
    );
    // Writing another unit's document.
    let mut v = app.phone("viettel.a", "viettel");
    v.status(0, Status::Done);
    let mut req = wire::decode_request(&v.request_bytes()).unwrap_or_else(|e| panic!("{e}"));
    req.doc.unit = "cuc-vt".into();
    expect(
        app.post_sync(&v.token, v.actor, &wire::encode_request(&req)),
        403,
        "forbidden",
    );
    // The document's header differs from the server's.
    let mut req = wire::decode_request(&body2).unwrap_or_else(|e| panic!("{e}"));
    req.fingerprint ^= 1;
    let c = req.changes[0].clone();
    req.changes = vec![Change::sign(
        req.fingerprint,
        c.actor,
        c.start,
        c.ops,
        &a.key,
    )];
    expect(
        app.post_sync(&a.token, a.actor, &wire::encode_request(&req)),
        409,
        "conflict",
    );
    // No device header.
    let resp = Http::agent()
        .post(&format!("{}/api/v1/sync", app.base))
        .header("Authorization", &format!("Bearer {}", a.token))
        .send(&body2[..])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 400);

    assert_eq!(
        server_state(&app, "cuc-vt"),
        before,
        "a refused request changed the stored state"
    );
    // The honest phone still syncs everything it has.
    a.sync(&app);
    let (ops, _) = server_state(&app, "cuc-vt");
    assert_eq!(ops, 3);
    b.sync(&app);
    assert_eq!(a.canonical(), b.canonical());
}

fn accounts_roles_and_directory(db: TestDb) {
    let app = setup(db);
    app.create_user("cucvt.lead", Role::Member, &[("cuc-vt", true)]);
    // Passwords.
    assert_eq!(app.login("cucvt.a", "wrong password!").0, 401);
    assert_eq!(app.login("nobody", "wrong password!").0, 401);
    for _ in 0..5 {
        app.login("viettel.a", "wrong password!");
    }
    let (status, body) = app.login("viettel.a", common::PASSWORD);
    assert_eq!(status, 429, "{body}");
    // The directive and units.
    let token = app.token("cucvt.a");
    let (status, d) = app.get(&token, &format!("/api/v1/directives/{DIRECTIVE}"));
    assert_eq!(status, 200);
    assert_eq!(d["number"], "5/CT-BTTTT");
    assert_eq!(d["clauses"].as_array().map(Vec::len), Some(6));
    let (status, units) = app.get(&token, "/api/v1/units");
    assert_eq!(status, 200);
    assert!(units.as_array().is_some_and(|u| u.len() > 100));
    assert_eq!(app.get(&token, "/api/v1/directives/nope").0, 404);
    // A member reads only their unit's document; the Ministry Office reads all.
    assert_eq!(
        app.get(
            &token,
            &format!("/api/v1/units/viettel/document?directive={DIRECTIVE}")
        )
        .0,
        403
    );
    let mo = app.token("vanphong");
    assert_eq!(
        app.get(
            &mo,
            &format!("/api/v1/units/viettel/document?directive={DIRECTIVE}")
        )
        .0,
        200
    );
    // Members: a lead adds one, a member may not.
    let new = serde_json::json!({ "username": "cucvt.c", "password": "một mật khẩu dài" });
    assert_eq!(
        app.post_json(&token, "/api/v1/units/cuc-vt/members", new.clone())
            .0,
        403
    );
    let lead = app.token("cucvt.lead");
    let (status, body) = app.post_json(&lead, "/api/v1/units/cuc-vt/members", new.clone());
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        app.post_json(&lead, "/api/v1/units/cuc-vt/members", new).0,
        409
    );
    assert_eq!(app.login("cucvt.c", "một mật khẩu dài").0, 200);
    // Removed from the unit, the member's token (just used, so remembered) reads it no more.
    let (status, body) = app.login("cucvt.c", "một mật khẩu dài");
    assert_eq!(status, 200, "{body}");
    let c_token = body["token"].as_str().unwrap_or_default().to_string();
    let doc_path = format!("/api/v1/units/cuc-vt/document?directive={DIRECTIVE}");
    assert_eq!(app.get(&c_token, &doc_path).0, 200);
    let removed = Http::agent()
        .delete(&format!("{}/api/v1/units/cuc-vt/members/cucvt.c", app.base))
        .header("Authorization", &format!("Bearer {lead}"))
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(removed.status().as_u16(), 204);
    assert_eq!(app.get(&c_token, &doc_path).0, 403);
    // A disabled account's token is refused.
    let b_token = app.token("cucvt.b");
    app.execute("UPDATE users SET disabled = TRUE WHERE username = 'cucvt.b'");
    assert_eq!(app.get(&b_token, "/api/v1/me").0, 401);
    // Bad JSON gets the JSON error shape.
    let resp = Http::agent()
        .post(&format!("{}/api/v1/auth/login", app.base))
        .header("Content-Type", "application/json")
        .send("{not json")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 400);
    // Logging out ends the token.
    let (status, _) = app.post_json(&token, "/api/v1/auth/logout", serde_json::json!({}));
    assert_eq!(status, 204);
    assert_eq!(app.get(&token, "/api/v1/me").0, 401);
}

fn many_phones_sync_concurrently(db: TestDb) {
    let app = setup(db);
    let names: Vec<String> = (0..6).map(|i| format!("cucvt.p{i}")).collect();
    for n in &names {
        app.create_user(n, Role::Member, &[("cuc-vt", false)]);
    }
    let mut phones: Vec<Phone> = names.iter().map(|n| app.phone(n, "cuc-vt")).collect();
    let tasks = u32::try_from(phones[0].replica.doc().header().tasks.len()).unwrap_or(1);
    std::thread::scope(|s| {
        for (i, p) in phones.iter_mut().enumerate() {
            let app = &app;
            s.spawn(move || {
                for round in 0..5u32 {
                    for k in 0..10u32 {
                        p.status(
                            (k + round + i as u32) % tasks,
                            Status::ALL[((k + i as u32) % 4) as usize],
                        );
                    }
                    p.sync(app);
                }
            });
        }
    });
    for p in &mut phones {
        p.sync(&app);
    }
    let (ops, view) = server_state(&app, "cuc-vt");
    assert_eq!(ops, 6 * 5 * 10);
    for p in &phones {
        assert_eq!(p.canonical(), view);
    }
}

fn metric(app: &TestApp, name: &str) -> u64 {
    app.metric(name)
}

/// `name` once it reaches `at_least`, waiting up to ten seconds (background work).
fn metric_reaching(app: &TestApp, name: &str, at_least: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = metric(app, name);
        if v >= at_least || std::time::Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Past a few thousand operations the server rewrites a document's snapshot and keeps the
/// op-log tail beside it. With the decoded-document cache off, every sync, every progress
/// read and every snapshot answer loads snapshot + tail from the database: the result must be
/// the phones' state exactly — comments, reports and confirmations included — at every
/// point, and the projections must agree with it. `whole`: the server keeps the document
/// whole (snapshots from memory); else without its bodies (decision 25: snapshots rewritten
/// in the background and snapshot answers made from storage).
fn long_history(db: TestDb, whole: bool) {
    let app = common::spawn_app_with(db, |c| {
        c.doc_cache_entries = 0;
        if !whole {
            c.doc_whole_kb = 0;
        }
    });
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("cucvt.b", Role::Member, &[("cuc-vt", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut b = app.phone("cucvt.b", "cuc-vt");
    let tasks = u32::try_from(a.replica.doc().header().tasks.len()).unwrap_or(1);
    let a_actor = a.actor;
    let per_phone = taskforce_server::docstore::SNAPSHOT_MIN_TAIL as u32 * 3 / 4;
    for batch in 0..6u32 {
        for (i, p) in [&mut a, &mut b].into_iter().enumerate() {
            for k in 0..per_phone / 6 {
                let task = (k * 7 + i as u32) % tasks;
                if k % 2 == 0 {
                    p.status(task, Status::ALL[((batch + k) % 4) as usize]);
                } else {
                    p.set(task, TaskField::Progress(((batch * 10 + k) % 101) as u8));
                }
            }
            // Bodies the server's copy in memory does not keep.
            p.edit(Op::Comment {
                task: TaskRef::Assigned(batch % tasks),
                text: format!("Ghi chú {batch}/{i}"),
                at: i64::from(batch),
            });
            p.edit(Op::Report(Report {
                period: format!("2020-02-{:02}", batch + 3),
                text: format!("Báo cáo {batch}/{i}"),
                figures: Vec::new(),
                at: i64::from(batch),
            }));
            p.edit(Op::Confirm(Confirmation {
                carrier: "viettel".into(),
                hotline: "19009095".into(),
                free_from: Day(737_457 + i32::try_from(batch).unwrap_or(0)),
                attested_by: format!("Người xác nhận {i}"),
                evidence: None,
                at: i64::from(batch),
            }));
            if batch == 3 && i == 1 {
                // Phone b withdraws phone a's first confirmation (made three batches ago).
                let first = p
                    .replica
                    .doc()
                    .confirmations()
                    .iter()
                    .map(|(id, _, _)| *id)
                    .find(|id| id.actor == a_actor)
                    .unwrap_or_else(|| panic!("phone b has a's confirmations"));
                let op = p
                    .replica
                    .doc()
                    .set_confirmation_op(first, ConfirmationState::Withdrawn);
                p.edit(op);
            }
            p.sync(&app.http);
        }
        let (_, view) = server_state(&app, "cuc-vt");
        b.sync(&app.http);
        assert_eq!(view, b.canonical(), "after batch {batch}");
    }
    a.sync(&app.http);
    assert_eq!(a.canonical(), b.canonical());
    let (ops, view) = server_state(&app, "cuc-vt");
    assert_eq!(ops, i64::from((per_phone / 6 + 3) * 6 * 2 + 1));
    assert_eq!(view, a.canonical(), "a fresh device gets the phones' state");
    assert_eq!(a.replica.doc().reports().len(), 12);
    assert!(
        metric_reaching(&app, "taskforce_snapshots_stored_total", 1) >= 1,
        "the snapshot was rewritten once the tail grew past {}",
        taskforce_server::docstore::SNAPSHOT_MIN_TAIL
    );
    assert_eq!(
        metric(&app, "taskforce_doc_cache_hits_total"),
        0,
        "cache off"
    );
    // The projections and the progress read (snapshot + tail) agree with the phones.
    let token = app.token("vanphong");
    let (status, listed) = app.get(&token, "/api/v1/tasks?unit=cuc-vt");
    assert_eq!(status, 200, "{listed}");
    let (status, progress) = app.get(&token, "/api/v1/progress/units/cuc-vt");
    assert_eq!(status, 200, "{progress}");
    // The progress read decodes snapshot + tail; its counts are mobile-core's rule on the
    // phone's own copy.
    let today = chrono::Utc::now().date_naive();
    let expected = taskforce_core::progress::unit_progress(a.replica.doc(), today);
    let expected = serde_json::to_value(&expected.counts).unwrap_or_default();
    assert_eq!(find_key(&progress, "counts"), Some(&expected), "{progress}");
    let (status, unit) = app.get(&token, "/api/v1/units/cuc-vt/progress");
    assert_eq!(status, 200, "{unit}");
    assert_eq!(unit.get("counts"), Some(&expected), "{unit}");
    // The projections (written sync by sync) list every task with the phone's status.
    let rows = listed.as_array().cloned().unwrap_or_default();
    assert!(rows.len() >= tasks as usize, "{listed}");
    let mut checked = 0;
    for r in rows {
        let t = r["task"].as_str().and_then(|t| t.parse::<TaskRef>().ok());
        let Some(t) = t else {
            panic!("a listed task without its ref: {r}")
        };
        if let [only] = a.replica.doc().statuses(t).as_slice() {
            assert_eq!(r["status"], only.as_str(), "{r}");
            checked += 1;
        }
    }
    assert!(checked > 0, "no task with a single status to compare");
    // Reports and confirmations are projected from the syncs' operations, the withdrawal
    // from the document's register.
    let (status, reports) = app.get(&token, "/api/v1/reports?unit=cuc-vt");
    assert_eq!(status, 200, "{reports}");
    assert_eq!(reports.as_array().map(Vec::len), Some(12), "{reports}");
    let (status, confirmations) = app.get(&token, "/api/v1/confirmations?unit=cuc-vt");
    assert_eq!(status, 200, "{confirmations}");
    let states: Vec<&str> = confirmations
        .as_array()
        .map(|c| c.iter().filter_map(|x| x["state"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(states.len(), 12, "{confirmations}");
    assert_eq!(
        states.iter().filter(|s| **s == "withdrawn").count(),
        1,
        "{confirmations}"
    );
}

fn long_histories_load_from_snapshot_and_tail(db: TestDb) {
    long_history(db, true);
}

fn documents_without_bodies_lose_nothing(db: TestDb) {
    long_history(db, false);
}

fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// The document cache keeps within its byte budget: with room for nothing it keeps nothing
/// (every sync decodes its document from the row) and loses nothing; with the default budget
/// it keeps each document, and `/metrics` says how much memory that is estimated to take.
fn cache_within_budget(db: TestDb, budget_mb: usize) {
    {
        let app = common::spawn_app_with(db, |c| c.doc_cache_mb = budget_mb);
        app.create_user("vanphong", Role::MinistryOffice, &[]);
        app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
        app.create_user("attt.a", Role::Member, &[("cuc-attt", false)]);
        app.create_user("attt.b", Role::Member, &[("cuc-attt", false)]);
        let mut a = app.phone("cucvt.a", "cuc-vt");
        let mut b = app.phone("attt.a", "cuc-attt");
        let mut c = app.phone("attt.b", "cuc-attt");
        for round in 0..4u32 {
            for p in [&mut a, &mut b, &mut c] {
                p.status(round % 2, Status::ALL[(round % 4) as usize]);
                p.sync(&app.http);
            }
        }
        b.sync(&app.http);
        assert_eq!(b.canonical(), c.canonical(), "budget {budget_mb} MiB");
        assert_eq!(server_state(&app, "cuc-attt").1, c.canonical());
        assert_eq!(server_state(&app, "cuc-vt").1, a.canonical());
        let (entries, bytes, evicted, hits) = (
            metric(&app, "taskforce_doc_cache_entries"),
            metric(&app, "taskforce_doc_cache_bytes"),
            metric(&app, "taskforce_doc_cache_evictions_total"),
            metric(&app, "taskforce_doc_cache_hits_total"),
        );
        if budget_mb == 0 {
            assert_eq!((entries, bytes, hits), (0, 0, 0), "nothing kept");
            assert!(evicted >= 13, "every sync's document dropped: {evicted}");
        } else {
            assert_eq!((entries, evicted), (2, 0), "both documents kept");
            assert!(bytes > 0 && bytes < 1 << 20, "estimated {bytes} bytes");
            assert!(hits >= 11, "later syncs found their document: {hits}");
        }
    }
}

fn a_zero_byte_budget_keeps_no_document_and_loses_nothing(db: TestDb) {
    cache_within_budget(db, 0);
}

fn the_document_cache_reports_its_estimated_bytes(db: TestDb) {
    cache_within_budget(db, 512);
}

/// Found by reading (issue 18, point 3): a `Set` whose causal context names another device
/// far ahead dominated every write that device would ever make to the field. Refused now,
/// nothing stored, and the other device's writes keep counting.
fn a_forged_causal_context_is_refused(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut b = app.phone("cucvt.b", "cuc-vt");
    b.status(0, Status::InProgress);
    b.sync(&app);
    let before = server_state(&app, "cuc-vt");
    a.edit(Op::Set {
        task: TaskRef::Assigned(0),
        value: TaskField::Status(Status::Done),
        ctx: vec![(b.actor, 1_000_000)],
    });
    let (status, body) = a.try_sync(&app).err().unwrap_or_default();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_operation", "{body}");
    assert_eq!(server_state(&app, "cuc-vt"), before, "nothing stored");
    b.status(0, Status::Blocked);
    b.sync(&app);
    let mut observer = app.phone("cucvt.b", "cuc-vt");
    observer.sync(&app);
    assert_eq!(
        observer.replica.doc().statuses(TaskRef::Assigned(0)),
        [Status::Blocked],
        "the other device's write is the field's value"
    );
}

/// A small-order ed25519 key "verifies" signatures nobody made: refused at registration,
/// even with a challenge and the "signature" (R = identity, S = 0) such a key accepts.
fn a_weak_device_key_is_refused(db: TestDb) {
    let app = setup(db);
    let token = app.token("cucvt.a");
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let (challenge, _, _) = app.challenge(&token);
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&identity);
    let (status, body) = app.post_device(&token, "weak", &identity, &challenge, &signature);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request", "{body}");
}

on_every_store!(
    a_forged_causal_context_is_refused,
    a_weak_device_key_is_refused,
    a_zero_byte_budget_keeps_no_document_and_loses_nothing,
    the_document_cache_reports_its_estimated_bytes,
    long_histories_load_from_snapshot_and_tail,
    documents_without_bodies_lose_nothing,
    push_and_pull_converge,
    replayed_requests_change_nothing,
    bad_requests_are_refused_and_change_nothing,
    accounts_roles_and_directory,
    many_phones_sync_concurrently,
);
