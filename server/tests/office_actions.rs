//! The Ministry Office acting over the API (issue 20): `POST /api/v1/office/actions` on a
//! task, a unit and a clause, signed by the device the server holds for the account, reaching
//! the unit's phones; the review covering what the reviewer saw; refusals that store nothing;
//! the audit chain still verifying. Real HTTP, SQLite and PostgreSQL.

mod common;

use common::*;
use serde_json::json;
use taskforce_core::doc::{Day, ReviewState, Status, TaskRef};
use taskforce_server::{
    audit::{AuditKey, verify_db},
    config::default_audit_key,
    db::entity::devices,
    office::DEVICE_NAME,
};

const T: TaskRef = TaskRef::Assigned(0);

fn act(app: &TestApp, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    app.post_json(token, "/api/v1/office/actions", body)
}

fn stored(app: &TestApp) -> i64 {
    app.query_i64("SELECT COUNT(*) FROM changes")
}

/// The clauses a unit's document gives it.
fn clauses_of(app: &TestApp, token: &str, unit: &str) -> Vec<String> {
    app.document(token, unit)["header"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["clause"].as_str().map(str::to_string))
        .collect()
}

fn the_office_returns_urges_and_accepts_and_the_phones_see_it(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.sync(&app);

    // Accepting what is not reported done is refused and stores nothing.
    let before = stored(&app);
    let (status, body) = act(
        &app,
        &office,
        json!({"action": "accept", "unit": "cuc-vt", "task": "a1"}),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(stored(&app), before);

    // Return with a reason; urge with a new deadline.
    let (status, body) = act(
        &app,
        &office,
        json!({"action": "return", "unit": "cuc-vt", "task": "a0", "text": "Thiếu số liệu tuần 6"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"][0]["task"], "a0", "{body}");
    let (status, body) = act(
        &app,
        &office,
        json!({"action": "urge", "unit": "cuc-vt", "task": "a0", "text": "Bổ sung trước 14/2", "due": "2020-02-14"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = act(
        &app,
        &office,
        json!({"action": "comment", "unit": "cuc-vt", "task": "a0", "text": "Liên hệ anh Bình"}),
    );
    assert_eq!(status, 200, "{body}");

    phone.sync(&app);
    let doc = phone.replica.doc();
    assert_eq!(doc.review_state(T), ReviewState::Returned);
    assert_eq!(doc.reviews(T)[0].reason, "Thiếu số liệu tuần 6");
    assert_eq!(doc.urges(T).len(), 1);
    let feb14 = Day::from_date(chrono::NaiveDate::from_ymd_opt(2020, 2, 14).unwrap_or_default());
    assert_eq!(doc.office_deadline(T), Some(feb14));
    assert_eq!(doc.task(T).map(|t| t.comments.len()), Some(1));

    // Done again, then accepted over the state the office's page showed.
    phone.status(0, Status::Done);
    phone.sync(&app);
    let seen = taskforce_server::office::format_seen(&phone.replica.doc().unit_clock(T));
    let (status, body) = act(
        &app,
        &office,
        json!({"action": "accept", "unit": "cuc-vt", "task": "a0", "seen": seen}),
    );
    assert_eq!(status, 200, "{body}");
    phone.sync(&app);
    assert_eq!(phone.replica.doc().review_state(T), ReviewState::Accepted);

    // An acceptance over an older page: an edit it did not see reads changed after it.
    phone.set(0, taskforce_core::doc::TaskField::Notes("thêm ảnh".into()));
    phone.sync(&app);
    let (status, body) = act(
        &app,
        &office,
        json!({"action": "accept", "unit": "cuc-vt", "task": "a0", "seen": seen}),
    );
    assert_eq!(status, 200, "{body}");
    phone.sync(&app);
    assert_eq!(
        phone.replica.doc().review_state(T),
        ReviewState::ChangedAfterAcceptance
    );

    // One server-held device for the account, and the chain still verifies.
    let names = with_db(&app.db, async |db| {
        use sea_orm::EntityTrait;
        devices::Entity::find()
            .all(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|d| d.name)
            .collect::<Vec<_>>()
    });
    assert_eq!(
        names.iter().filter(|n| *n == DEVICE_NAME).count(),
        1,
        "{names:?}"
    );
    let key = AuditKey::load(&default_audit_key(app.db.url()))
        .unwrap_or_else(|e| panic!("{e}"))
        .public();
    let report = with_db(&app.db, async move |db| {
        verify_db(&db, &key).await.unwrap_or_else(|e| panic!("{e}"))
    });
    assert!(report.first_bad().is_none(), "{:?}", report.first_bad());
}

fn a_clause_or_a_unit_acts_on_every_task_it_names(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let shared: Vec<String> = {
        let other = clauses_of(&app, &office, "viettel");
        clauses_of(&app, &office, "cuc-vt")
            .into_iter()
            .filter(|c| other.contains(c))
            .collect()
    };
    let clause = shared
        .first()
        .unwrap_or_else(|| panic!("cuc-vt and viettel share no clause"));
    let units = app.query_i64(&format!(
        "SELECT COUNT(*) FROM tasks WHERE clause_id = '{clause}'"
    ));
    let (status, body) = act(
        &app,
        &office,
        json!({"action": "urge", "clause": clause, "text": "Đề nghị khẩn trương", "due": "2020-02-20"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["applied"].as_array().map(Vec::len),
        usize::try_from(units).ok(),
        "every unit the clause names is urged: {body}"
    );
    for (user, unit) in [("cucvt.a", "cuc-vt"), ("viettel.a", "viettel")] {
        let mut phone = app.phone(user, unit);
        phone.sync(&app);
        let doc = phone.replica.doc();
        let t = (0..doc.header().tasks.len())
            .find(|&i| doc.header().tasks[i].clause == *clause)
            .and_then(|i| u32::try_from(i).ok())
            .map(TaskRef::Assigned)
            .unwrap_or_else(|| panic!("{unit} has no task for {clause}"));
        assert_eq!(doc.urges(t).len(), 1, "{unit}");
        assert!(doc.office_deadline(t).is_some(), "{unit}");
    }

    // A unit: accept every reported task, skip the others (with why).
    let mut phone = app.phone("cucvt.b", "cuc-vt");
    phone.sync(&app);
    phone.status(0, Status::Done);
    phone.sync(&app);
    let (status, body) = act(&app, &office, json!({"action": "accept", "unit": "cuc-vt"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"].as_array().map(Vec::len), Some(1), "{body}");
    assert!(
        body["skipped"].as_array().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    phone.sync(&app);
    assert_eq!(phone.replica.doc().review_state(T), ReviewState::Accepted);
}

fn refusals_change_nothing(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let member = app.token("cucvt.a");
    let before = stored(&app);
    let urge = json!({"action": "urge", "unit": "cuc-vt", "task": "a0", "text": "x"});
    for (token, body, want) in [
        (&member, urge.clone(), 403),
        (
            &office,
            json!({"action": "return", "unit": "cuc-vt", "task": "a0", "text": "  "}),
            400,
        ),
        (
            &office,
            json!({"action": "urge", "unit": "cuc-vt", "task": "a0", "text": ""}),
            400,
        ),
        (
            &office,
            json!({"action": "comment", "unit": "cuc-vt", "text": "x"}),
            400,
        ),
        (
            &office,
            json!({"action": "approve", "unit": "cuc-vt", "task": "a0"}),
            400,
        ),
        (
            &office,
            json!({"action": "urge", "unit": "cuc-vt", "task": "a0", "text": "x", "due": "1800-01-01"}),
            400,
        ),
        (
            &office,
            json!({"action": "deadline", "unit": "cuc-vt", "task": "a0", "due": "14/02/2020"}),
            400,
        ),
        (
            &office,
            json!({"action": "accept", "unit": "cuc-vt", "task": "a0", "seen": "1.0"}),
            400,
        ),
        (
            &office,
            json!({"action": "urge", "unit": "nowhere", "task": "a0", "text": "x"}),
            404,
        ),
        (
            &office,
            json!({"action": "urge", "unit": "cuc-vt", "task": "a999", "text": "x"}),
            404,
        ),
        (
            &office,
            json!({"action": "urge", "clause": "XIV.9", "text": "x"}),
            404,
        ),
        (&office, json!({"action": "urge", "text": "x"}), 400),
        // A `seen` naming operations nobody made: refused by the accept rule, nothing stored.
        (
            &office,
            json!({"action": "return", "unit": "cuc-vt", "task": "a0", "text": "x", "seen": "999999.5"}),
            400,
        ),
    ] {
        let (status, answer) = act(&app, token, body.clone());
        assert_eq!(status, want, "{body} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
        assert_eq!(stored(&app), before, "{body}");
    }
}

fn two_actions_of_one_account_at_once_both_land(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let base = app.http.base.clone();
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (office, base) = (office.clone(), base.clone());
            std::thread::spawn(move || {
                let http = Http { base };
                http.post_json(
                    &office,
                    "/api/v1/office/actions",
                    json!({"action": "urge", "unit": "cuc-vt", "task": "a0", "text": format!("lần {i}")}),
                )
            })
        })
        .collect();
    for t in threads {
        let (status, body) = t.join().unwrap_or_else(|_| panic!("thread"));
        assert_eq!(status, 200, "{body}");
    }
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.sync(&app);
    assert_eq!(phone.replica.doc().urges(T).len(), 6);
    // Six first uses at once registered one device for the account.
    let held = app.query_i64(&format!(
        "SELECT COUNT(*) FROM devices WHERE name = '{}'",
        DEVICE_NAME.replace('\'', "''")
    ));
    assert_eq!(held, 1);
}

fn a_revoked_dashboard_device_is_followed_by_a_new_one(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let urge = json!({"action": "urge", "unit": "cuc-vt", "task": "a0", "text": "Đôn đốc"});
    assert_eq!(act(&app, &office, urge.clone()).0, 200);
    app.execute("UPDATE devices SET revoked_at = 1 WHERE name LIKE 'Văn phòng Bộ%'");
    let (status, body) = act(&app, &office, urge);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM devices WHERE name LIKE 'Văn phòng Bộ%'"),
        2,
        "a new generation's device"
    );
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'device.register'"),
        2
    );
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.sync(&app);
    assert_eq!(phone.replica.doc().urges(T).len(), 2);
}

on_every_store!(
    the_office_returns_urges_and_accepts_and_the_phones_see_it,
    a_clause_or_a_unit_acts_on_every_task_it_names,
    refusals_change_nothing,
    two_actions_of_one_account_at_once_both_land,
    a_revoked_dashboard_device_is_followed_by_a_new_one,
);
