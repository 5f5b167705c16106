//! Several syncs written in one transaction (the group-commit writer), on a real SQLite file
//! and a real PostgreSQL database: a refused sync (an empty change among them) is refused
//! alone and leaves the rest of its batch stored; a batch whose transaction fails stores
//! nothing and can simply be sent again; a change re-using held sequence numbers is refused
//! whether the server still holds the old change in memory or only in its op log.

mod common;

use common::{Phone, TestApp, TestDb};
use sea_orm::{ConnectionTrait, Statement};
use taskforce_core::{
    doc::{Op, Status, TaskField, TaskRef, limits},
    sync::{Change, DocKey, EMPTY_CHANGE, SyncRequest, wire},
};
use taskforce_server::{
    auth::Role,
    config::Config,
    docstore::{CHANGE_LOG_BYTES, SNAPSHOT_MIN_TAIL},
    error::ApiError,
    startup::build_state,
    state::AppState,
    sync::{WriteJob, write_batch},
};

fn setup(db: TestDb) -> TestApp {
    common::spawn_app_with_members(db)
}

/// A second server state on the same database, as another process would have, to call the
/// writer directly; `f` runs on its own runtime.
fn with_state<T: Send + 'static>(
    app: &TestApp,
    f: impl AsyncFnOnce(AppState) -> T + Send + 'static,
) -> T {
    let config = Config {
        db: app.db.url().to_string(),
        ..Config::default()
    };
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let state = build_state(config)
                .await
                .unwrap_or_else(|e| panic!("state: {e:#}"));
            f(state).await
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("the writer thread panicked"))
}

/// The job a phone's next sync would carry.
fn job(phone: &mut Phone) -> WriteJob {
    phone.replica.seal(phone.actor, &phone.key);
    let request = phone.replica.request();
    WriteJob {
        key: request.doc,
        fingerprint: request.fingerprint,
        vv: request.vv,
        changes: request.changes,
    }
}

fn ops(app: &TestApp, unit: &str) -> i64 {
    let token = app.token("vanphong");
    app.document(&token, unit)["ops"].as_i64().unwrap_or(-1)
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.query_i64(sql)
}

fn a_refused_sync_leaves_the_rest_of_its_batch_stored(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut b = app.phone("cucvt.b", "cuc-vt");
    let mut v = app.phone("viettel.a", "viettel");
    let mut late = app.phone("cucvt.b", "cuc-vt");
    let mut other = app.phone("cucvt.a", "cuc-vt");
    a.status(0, Status::Done);
    b.status(0, Status::InProgress);
    b.set(1, TaskField::Progress(40));
    v.status(2, Status::Done);
    late.status(3, Status::Done);
    late.status(4, Status::Done);
    other.status(5, Status::Done);

    let mut gap = job(&mut late);
    gap.changes[0].start = 3; // operations 1 and 2 never sent
    let mut unknown = job(&mut other);
    unknown.key = DocKey {
        directive: unknown.key.directive.clone(),
        unit: "khong-co-don-vi".into(),
    };
    let mut stale = job(&mut other);
    stale.fingerprint ^= 1;
    let jobs = vec![job(&mut a), gap, job(&mut b), unknown, job(&mut v), stale];
    let (a_actor, b_actor) = (a.actor, b.actor);
    let results = with_state(&app, async move |state| {
        let results = write_batch(&state.write_context(), jobs).await;
        let batches = state
            .metrics
            .write_batches
            .load(std::sync::atomic::Ordering::Relaxed);
        (results, batches)
    });
    let (results, batches) = results;
    assert_eq!(batches, 1, "one transaction for the whole batch");
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r.as_ref().map_or_else(ApiError::code, |_| "ok"))
        .collect();
    assert_eq!(codes, ["ok", "gap", "ok", "not_found", "ok", "conflict"]);
    let a_written = results[0].as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            a_written.version.get(&a_actor),
            a_written.version.get(&b_actor)
        ),
        (Some(&1), Some(&2)),
        "a sync reports its document as the batch left it"
    );
    assert_eq!(
        a_written.missing.as_ref().map(Vec::len),
        Some(1),
        "A lacks B's change, answered from memory"
    );

    // Stored: the three good syncs' operations, changes and projections; nothing of the rest.
    assert_eq!(ops(&app, "cuc-vt"), 3);
    assert_eq!(ops(&app, "viettel"), 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM changes"), 3);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM tasks WHERE unit_id = 'cuc-vt' AND conflicted"
        ),
        1,
        "task 0 holds A's and B's statuses"
    );

    // The phones then sync over HTTP as usual: nothing is applied twice, all converge.
    for p in [&mut a, &mut b, &mut v] {
        p.sync(&app);
    }
    a.sync(&app);
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(ops(&app, "cuc-vt"), 3);
    late.sync(&app);
    assert_eq!(
        ops(&app, "cuc-vt"),
        5,
        "the refused phone sends again, whole"
    );
}

fn a_failed_transaction_stores_nothing(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut v = app.phone("viettel.a", "viettel");
    a.status(0, Status::Done);
    v.status(1, Status::Done);
    let jobs = vec![job(&mut a), job(&mut v)];
    let (codes, cached) = with_state(&app, async move |state| {
        // The projections' table is away: the batch's last statements fail.
        let backend = state.backend();
        let rename = |from: &str, to: &str| {
            Statement::from_string(backend, format!("ALTER TABLE {from} RENAME TO {to}"))
        };
        state
            .db
            .execute_raw(rename("tasks", "tasks_away"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let results = write_batch(&state.write_context(), jobs).await;
        state
            .db
            .execute_raw(rename("tasks_away", "tasks"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let codes: Vec<&'static str> = results
            .iter()
            .map(|r| r.as_ref().map_or_else(ApiError::code, |_| "ok"))
            .collect();
        // A document of the failed batch is not left half-applied in the cache.
        (codes, state.docs.len())
    });
    assert_eq!(codes, ["internal", "internal"]);
    assert_eq!(cached, 0, "no document of the failed batch is cached");
    assert_eq!(ops(&app, "cuc-vt"), 0);
    assert_eq!(ops(&app, "viettel"), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM changes"), 0);
    // The phones still hold their changes and send them again.
    a.sync(&app);
    v.sync(&app);
    assert_eq!(ops(&app, "cuc-vt"), 1);
    assert_eq!(ops(&app, "viettel"), 1);
}

/// Found by reading (issue 18, point 2): a change re-using a stored change's start with more
/// operations was applied, but its op-log row collided on (actor, start) and was dropped, so
/// the document's head ran past its log and the unit could no longer be loaded. Now such a
/// change is refused alone, nothing of it is applied or stored, and the unit loads.
fn a_change_straddling_a_stored_one_is_refused_alone_and_the_unit_still_loads(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut v = app.phone("viettel.a", "viettel");
    a.status(0, Status::Done);
    a.status(1, Status::InProgress);
    a.sync(&app);
    let stored = count(
        &app,
        "SELECT COUNT(*) FROM changes WHERE unit_id = 'cuc-vt'",
    );
    // The same start, one operation more (a restored or hostile device), in a batch with
    // another unit's honest sync.
    a.status(2, Status::Blocked);
    let mut longer = job(&mut a);
    let extra = longer.changes[0].ops[0].clone();
    longer.changes = vec![taskforce_core::sync::Change::sign(
        longer.fingerprint,
        a.actor,
        1,
        vec![
            a.replica.changes_of(a.actor)[0].ops[0].clone(),
            a.replica.changes_of(a.actor)[0].ops[1].clone(),
            extra,
        ],
        &a.key,
    )];
    v.status(0, Status::Done);
    let jobs = vec![longer, job(&mut v)];
    let results = with_state(&app, async move |state| {
        write_batch(&state.write_context(), jobs).await
    });
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r.as_ref().map_or_else(ApiError::code, |_| "ok"))
        .collect();
    assert_eq!(codes, ["reused_sequence", "ok"]);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM changes WHERE unit_id = 'cuc-vt'"
        ),
        stored,
        "nothing of the refused change is stored"
    );
    assert_eq!(ops(&app, "cuc-vt"), 2, "nothing of it is applied");
    // A fresh server process (nothing cached) loads the unit from storage and takes the
    // phone's next change.
    let mut next = job(&mut a);
    next.changes.retain(|c| c.start == 3);
    let results = with_state(&app, async move |state| {
        write_batch(&state.write_context(), vec![next]).await
    });
    assert!(results[0].is_ok(), "{:?}", results[0].as_ref().err());
    assert_eq!(ops(&app, "cuc-vt"), 3);
}

/// Found by reading (issue 18, point 4): a phone restored from a backup numbers new
/// operations from where the backup stood, at sequence numbers the server already holds with
/// other content; they were skipped as held, answered 200, and lost. Now a change starting
/// within what is held must be a byte-identical resend of a stored change; anything else is
/// refused with `reused_sequence`, alone and storing nothing. Here the stored change is always
/// in the document's in-memory log (a fresh process fills it from the op log as it loads the
/// document); the op-log query, for changes the log no longer holds, is the next two tests'.
fn a_restored_device_reusing_sequence_numbers_is_refused_and_an_honest_resend_is_not(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let backup = a.replica.clone();
    a.status(0, Status::Done);
    a.sync(&app);
    let stored = a.replica.changes_of(a.actor).to_vec();
    let resend = |changes: Vec<taskforce_core::sync::Change>| WriteJob {
        key: DocKey {
            directive: "5-ct-btttt".into(),
            unit: "cuc-vt".into(),
        },
        fingerprint: backup.fingerprint(),
        vv: Default::default(),
        changes,
    };
    // The phone restored from the backup makes another edit: the same number, other content.
    let mut restored = Phone {
        replica: backup.clone(),
        actor: a.actor,
        key: a.key.clone(),
        token: a.token.clone(),
    };
    restored.status(1, Status::Blocked);
    let reused = job(&mut restored);
    assert_eq!(reused.changes[0].start, stored[0].start);
    // Against a fresh process, which loads the document and its in-memory log of changes
    // from storage, then against its cached document: both find the stored change in memory.
    let code = |r: &Result<taskforce_server::sync::Written, ApiError>| {
        r.as_ref().map_or_else(ApiError::code, |_| "ok")
    };
    let again = resend(stored.clone());
    let (first, second) = with_state(&app, async move |state| {
        let ctx = state.write_context();
        let first = write_batch(&ctx, vec![reused]).await;
        let second = write_batch(&ctx, vec![again]).await;
        (first, second)
    });
    assert_eq!(code(&first[0]), "reused_sequence");
    assert_eq!(code(&second[0]), "ok", "an identical resend is not refused");
    assert_eq!(
        ops(&app, "cuc-vt"),
        1,
        "nothing of the reused change applied"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM changes"), 1);
    // Through HTTP, against the server's cache: refused with its code and the start.
    let Err((status, body)) = restored.try_sync(&app) else {
        panic!("the restored phone's sync was taken");
    };
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "reused_sequence");
    assert_eq!(body["reused"]["start"], 1);
    // The honest phone's resend of its own change is still fine.
    a.replica.rewind_remote(a.actor, 0);
    a.sync(&app);
    assert_eq!(ops(&app, "cuc-vt"), 1);
}

/// A request carrying `changes` from phone `p`, which has everything the server has (its
/// version is the document's): the answer brings nothing back, whatever was resent.
fn post_changes(app: &TestApp, p: &Phone, changes: Vec<Change>) -> (u16, serde_json::Value) {
    let body = wire::encode_request(&SyncRequest {
        doc: p.replica.key().clone(),
        fingerprint: p.replica.fingerprint(),
        vv: p.replica.doc().version().dots.clone(),
        changes,
    });
    let (status, bytes) = app.post_sync(&p.token, p.actor, &body);
    let json = if status == 200 {
        wire::decode_response(&bytes).unwrap_or_else(|e| panic!("response: {e}"));
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_default()
    };
    (status, json)
}

/// The phone as a backup taken now would restore it: its replica, device key and session.
fn restored_from(p: &Phone) -> Phone {
    Phone {
        replica: p.replica.clone(),
        actor: p.actor,
        key: p.key.clone(),
        token: p.token.clone(),
    }
}

/// Phone `a`'s first change (`first`, from sequence number 1), which the server holds only in
/// its op log now, against `other`, another change of `a`'s from 1 (a restored backup's): the
/// identical resend is taken applying nothing, the other refused `reused_sequence`. Then the
/// op log is shown to be what judged: with the stored row moved off its start, the identical
/// resend is refused too (memory would still have taken it); moved back, it is taken again.
fn the_op_log_judges_resends_of(app: &TestApp, a: &Phone, first: &Change, other: &Change) {
    assert_eq!((first.start, other.start), (1, 1));
    let (ops_before, rows) = (
        ops(app, "cuc-vt"),
        count(app, "SELECT COUNT(*) FROM changes"),
    );
    let (status, body) = post_changes(app, a, vec![first.clone()]);
    assert_eq!(status, 200, "an identical resend is taken: {body}");
    assert_eq!(ops(app, "cuc-vt"), ops_before, "applying nothing");
    let (status, body) = post_changes(app, a, vec![other.clone()]);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "reused_sequence");
    assert_eq!(body["reused"]["start"], 1);
    assert_eq!(ops(app, "cuc-vt"), ops_before, "nothing of it applied");
    assert_eq!(count(app, "SELECT COUNT(*) FROM changes"), rows);

    let row = format!("actor_id = {} AND unit_id = 'cuc-vt'", a.actor);
    app.execute(&format!(
        "UPDATE changes SET start_seq = -1 WHERE {row} AND start_seq = 1"
    ));
    let (status, body) = post_changes(app, a, vec![first.clone()]);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("reused_sequence")),
        "with the op log's row away, the resend is not found held: the op log judged it"
    );
    app.execute(&format!(
        "UPDATE changes SET start_seq = 1 WHERE {row} AND start_seq = -1"
    ));
    let (status, body) = post_changes(app, a, vec![first.clone()]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(ops(app, "cuc-vt"), ops_before);
}

/// Found by review (issue 18): the resend check's last resort — the op log, for a change the
/// document's in-memory log no longer holds — was never reached by a test. After more than
/// the log's 1 MiB of later changes (comments of the longest text), the first change is only
/// in the op log, with the document cached.
fn a_resend_of_a_change_the_in_memory_log_dropped_is_judged_by_the_op_log(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut restored = restored_from(&a);
    a.status(0, Status::Done);
    a.sync(&app);
    let first = a.replica.changes_of(a.actor)[0].clone();
    // A phone restored from a backup taken before it: the same start, other content.
    restored.status(1, Status::Blocked);
    let other = job(&mut restored).changes.remove(0);

    let text = "𝔸".repeat(limits::LONG_TEXT);
    let mut later = 0usize;
    let mut at = 1_700_000_000i64;
    while later <= CHANGE_LOG_BYTES {
        for _ in 0..4 {
            a.edit(Op::Comment {
                task: TaskRef::Assigned(2),
                text: text.clone(),
                at,
            });
            at += 1;
            later += text.len();
        }
        a.sync(&app);
    }
    assert!(ops(&app, "cuc-vt") > 1);
    the_op_log_judges_resends_of(&app, &a, &first, &other);
}

/// The same when the first change lies under a stored snapshot and nothing is cached
/// (`doc_cache_entries = 0`): every sync loads the document from its snapshot, and its
/// in-memory log holds only the changes past it.
fn a_resend_of_a_change_under_a_snapshot_is_judged_by_the_op_log(db: TestDb) {
    let app = common::spawn_app_with(db, |c| c.doc_cache_entries = 0);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut restored = restored_from(&a);
    a.status(0, Status::Done);
    a.sync(&app);
    let first = a.replica.changes_of(a.actor)[0].clone();
    restored.status(1, Status::Blocked);
    let other = job(&mut restored).changes.remove(0);

    let tasks = u32::try_from(a.replica.doc().header().tasks.len()).unwrap_or(1);
    for k in 0..u32::try_from(SNAPSHOT_MIN_TAIL).unwrap_or(u32::MAX) {
        a.status(k % tasks, Status::ALL[(k % 4) as usize]);
    }
    a.sync(&app);
    assert!(
        count(
            &app,
            "SELECT state_ops FROM documents WHERE unit_id = 'cuc-vt'"
        ) > 1,
        "a snapshot past the first change is stored"
    );
    the_op_log_judges_resends_of(&app, &a, &first, &other);
}

/// Issue 18, point 1, against the server: an empty change (signed, no operation) is refused
/// alone with `invalid_operation`, the other syncs of its batch are stored, and it moves
/// nothing: the device's next honest change, from the same start, is taken in the same batch,
/// and its changes after are taken too (no misnumbering, no gap). Over HTTP likewise.
fn an_empty_change_is_refused_alone_and_the_devices_next_change_is_numbered_as_before(db: TestDb) {
    let app = setup(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let mut e = app.phone("cucvt.b", "cuc-vt");
    let mut v = app.phone("viettel.a", "viettel");
    a.status(0, Status::Done);
    v.status(2, Status::Done);
    let empty_from = |p: &Phone, start: u64| WriteJob {
        key: p.replica.key().clone(),
        fingerprint: p.replica.fingerprint(),
        vv: p.replica.doc().version().dots.clone(),
        changes: vec![Change::sign(
            p.replica.fingerprint(),
            p.actor,
            start,
            Vec::new(),
            &p.key,
        )],
    };
    let empty = empty_from(&e, 1);
    e.status(1, Status::InProgress);
    let honest = job(&mut e);
    assert_eq!(honest.changes[0].start, 1, "numbered as if no empty change");
    let jobs = vec![job(&mut a), empty, job(&mut v), honest];
    let messages: Vec<String> = with_state(&app, async move |state| {
        write_batch(&state.write_context(), jobs)
            .await
            .iter()
            .map(|r| match r {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("{}: {e}", e.code()),
            })
            .collect()
    });
    assert_eq!(messages[0], "ok");
    assert!(
        messages[1].starts_with("invalid_operation") && messages[1].contains(EMPTY_CHANGE),
        "{messages:?}"
    );
    assert_eq!(messages[2..], ["ok", "ok"]);
    assert_eq!(ops(&app, "cuc-vt"), 2, "A's and E's honest change");
    assert_eq!(ops(&app, "viettel"), 1);
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM changes WHERE actor_id = {} AND start_seq = 1 \
                 AND end_seq = 1",
                e.actor
            )
        ),
        1,
        "E's honest change stored from 1"
    );

    // Over HTTP: an empty change from E's next number is refused, with its code; E's next
    // honest changes are then taken from that number on.
    let empty = empty_from(&e, 2);
    let body = wire::encode_request(&SyncRequest {
        doc: empty.key,
        fingerprint: empty.fingerprint,
        vv: empty.vv,
        changes: empty.changes,
    });
    let (status, bytes) = app.post_sync(&e.token, e.actor, &body);
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_operation")),
        "{json}"
    );
    e.status(2, Status::Done);
    e.sync(&app);
    e.status(3, Status::Done);
    e.sync(&app);
    assert_eq!(ops(&app, "cuc-vt"), 4);
    for p in [&mut a, &mut e] {
        p.sync(&app);
    }
    assert_eq!(a.canonical(), e.canonical());
}

on_every_store!(
    a_resend_of_a_change_the_in_memory_log_dropped_is_judged_by_the_op_log,
    a_resend_of_a_change_under_a_snapshot_is_judged_by_the_op_log,
    an_empty_change_is_refused_alone_and_the_devices_next_change_is_numbered_as_before,
    a_restored_device_reusing_sequence_numbers_is_refused_and_an_honest_resend_is_not,
    a_change_straddling_a_stored_one_is_refused_alone_and_the_unit_still_loads,
    a_refused_sync_leaves_the_rest_of_its_batch_stored,
    a_failed_transaction_stores_nothing,
);
