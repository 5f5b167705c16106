//! Who may make the Ministry Office's operations (issue 20, decision 39), over real HTTP on
//! SQLite and PostgreSQL: a member's device sending an acceptance, a return, a deadline or an
//! urge is refused (403) and nothing is stored; the Ministry Office's device makes them and
//! comments, never a unit's edit; what it makes reaches the unit's phones and reads as the
//! rule says.

mod common;

use common::*;
use taskforce_core::doc::{Day, Op, ReviewState, Status, TaskField, TaskRef, Urge, Verdict};
use taskforce_server::auth::Role;

const T: TaskRef = TaskRef::Assigned(0);

fn ops_stored(app: &TestApp) -> i64 {
    app.query_i64("SELECT COUNT(*) FROM changes")
}

fn refused_forbidden(r: Result<impl std::fmt::Debug, (u16, serde_json::Value)>, what: &str) {
    match r {
        Err((403, body)) => assert_eq!(body["error"], "forbidden", "{what}: {body}"),
        other => panic!("{what}: expected 403, got {other:?}"),
    }
}

fn a_members_device_may_not_make_the_offices_operations(db: TestDb) {
    let app = spawn_app_with_members(db);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.sync(&app);
    let before = ops_stored(&app);
    let office_ops = |doc: &taskforce_core::doc::UnitDocument| {
        vec![
            doc.review_op(T, Verdict::Accepted, String::new(), 1_580_600_000),
            doc.review_op(T, Verdict::Returned, "Thiếu".into(), 1_580_600_000),
            doc.set_op(T, TaskField::Deadline(Some(Day(737_470)))),
            Op::Urge {
                task: T,
                urge: Urge {
                    message: "Nhanh lên".into(),
                    due: None,
                    at: 1_580_600_000,
                },
            },
            // A revision's (decision 44): withdrawing a task, giving one.
            doc.set_op(T, TaskField::Assignment(None)),
            Op::Assign(taskforce_core::doc::HeaderTask {
                clause: "II.9".into(),
                role: taskforce_core::directive::Role::Lead,
            }),
        ]
    };
    for op in office_ops(phone.replica.doc()) {
        // A fresh phone each time: a refused change stays queued on the phone that made it.
        let mut hostile = app.phone("cucvt.b", "cuc-vt");
        hostile.sync(&app);
        // A comment first, then the office's operation in the same change: the whole sync
        // is refused, the comment too.
        hostile.edit(Op::Comment {
            task: T,
            text: "trước".into(),
            at: 1_580_600_000,
        });
        hostile.edit(op.clone());
        refused_forbidden(hostile.try_sync(&app), &format!("{op:?}"));
        assert_eq!(ops_stored(&app), before, "nothing stored for {op:?}");
    }
    // The member's phone still reads the task as reported, not accepted.
    phone.sync(&app);
    assert_eq!(phone.replica.doc().review_state(T), ReviewState::Reported);
}

fn the_offices_device_reviews_urges_and_comments_but_never_edits_a_unit(db: TestDb) {
    let app = spawn_app_with_members(db);
    app.create_user("minister", Role::Minister, &[]);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.sync(&app);

    // The Ministry Office's own device (a phone of a `ministry_office` account) on cuc-vt.
    let mut office = app.phone("vanphong", "cuc-vt");
    office.sync(&app);
    assert_eq!(office.replica.doc().review_state(T), ReviewState::Reported);
    let before = ops_stored(&app);
    office.status(0, Status::Todo);
    refused_forbidden(office.try_sync(&app), "the office writing a unit's status");
    assert_eq!(ops_stored(&app), before);

    // A fresh office device makes what it may: a return with a reason, an urge with a new
    // deadline, a comment.
    let mut office = app.phone("vanphong", "cuc-vt");
    office.sync(&app);
    let ret =
        office
            .replica
            .doc()
            .review_op(T, Verdict::Returned, "Thiếu số liệu".into(), 1_580_600_000);
    office.edit(ret);
    office.edit(Op::Urge {
        task: T,
        urge: Urge {
            message: "Đề nghị bổ sung trước 14/2".into(),
            due: Some(Day(737_469)),
            at: 1_580_600_100,
        },
    });
    office.set(0, TaskField::Deadline(Some(Day(737_469))));
    office.edit(Op::Comment {
        task: T,
        text: "Xem lại mục 2".into(),
        at: 1_580_600_200,
    });
    office.sync(&app);

    // A review whose `seen` names operations nobody made (it would keep the task accepted
    // whatever the unit writes): refused through the sync itself, nothing stored.
    let before = ops_stored(&app);
    let mut forger = app.phone("vanphong", "cuc-vt");
    forger.sync(&app);
    forger.edit(Op::Set {
        task: T,
        value: TaskField::Review(taskforce_core::doc::Review {
            verdict: Verdict::Accepted,
            reason: String::new(),
            seen: vec![(999_999, 5)],
            at: 1_580_600_250,
        }),
        ctx: Vec::new(),
    });
    match forger.try_sync(&app) {
        Err((400, body)) => assert!(body["error"].is_string(), "{body}"),
        other => panic!("a forged `seen`: expected 400, got {other:?}"),
    }
    assert_eq!(ops_stored(&app), before);

    // The Minister reads everything and writes nothing, the office's operations included.
    let mut minister = app.phone("minister", "cuc-vt");
    minister.sync(&app);
    let accept =
        minister
            .replica
            .doc()
            .review_op(T, Verdict::Accepted, String::new(), 1_580_600_300);
    minister.edit(accept);
    refused_forbidden(minister.try_sync(&app), "the Minister accepting");

    // The unit's phone gets the return and the urge, marks the task done again, and the
    // office accepts it.
    phone.sync(&app);
    let doc = phone.replica.doc();
    assert_eq!(doc.review_state(T), ReviewState::Returned);
    assert_eq!(doc.urges(T).len(), 1);
    assert_eq!(doc.office_deadline(T), Some(Day(737_469)));
    phone.status(0, Status::Done);
    phone.sync(&app);
    office.sync(&app);
    assert_eq!(office.replica.doc().review_state(T), ReviewState::Reported);
    let accept = office
        .replica
        .doc()
        .review_op(T, Verdict::Accepted, String::new(), 1_580_600_400);
    office.edit(accept);
    office.sync(&app);
    phone.sync(&app);
    assert_eq!(phone.replica.doc().review_state(T), ReviewState::Accepted);
    assert_eq!(phone.canonical(), office.canonical());

    // The projection the Ministry Office's matrix reads says so too.
    let token = app.token("vanphong");
    let (status, body) = app.get(
        &token,
        &format!("/api/v1/units/cuc-vt/progress?directive={DIRECTIVE}"),
    );
    assert_eq!(status, 200, "{body}");
    let task = &body["tasks"][0];
    assert_eq!(task["review"], "accepted", "{body}");
    assert_eq!(task["urges"], 1, "{body}");
    assert_eq!(body["counts"]["accepted"], 1, "{body}");
}

on_every_store!(
    a_members_device_may_not_make_the_offices_operations,
    the_offices_device_reviews_urges_and_comments_but_never_edits_a_unit,
);
