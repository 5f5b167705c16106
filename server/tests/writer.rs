//! Several syncs written in one transaction (the group-commit writer), on a real SQLite file
//! and a real PostgreSQL database: a refused sync is refused alone and leaves the rest of its
//! batch stored; a batch whose transaction fails stores nothing and can simply be sent again.

mod common;

use common::{Phone, TestApp, TestDb};
use sea_orm::{ConnectionTrait, Statement};
use taskforce_core::{
    doc::{Status, TaskField},
    sync::DocKey,
};
use taskforce_server::{
    config::Config,
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
    let url = app.db.url().to_string();
    let sql = sql.to_string();
    std::thread::spawn(move || {
        common::runtime().block_on(async move {
            let db = taskforce_server::db::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let backend = db.get_database_backend();
            let row = db
                .query_one_raw(Statement::from_string(backend, sql))
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("no row"));
            row.try_get_by_index::<i64>(0)
                .unwrap_or_else(|e| panic!("{e}"))
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("count panicked"))
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
    assert_eq!(codes, ["invalid_operation", "ok"]);
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

on_every_store!(
    a_change_straddling_a_stored_one_is_refused_alone_and_the_unit_still_loads,
    a_refused_sync_leaves_the_rest_of_its_batch_stored,
    a_failed_transaction_stores_nothing,
);
