//! A database from before format version 2 (decision 39): its documents' stored snapshots
//! are version 1. After the upgrade a server loads them, answers phones from them, takes the
//! Ministry Office's operations into them, and rewrites them as version 2 in time; nothing a
//! phone wrote before is lost. Real HTTP, SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::*;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::Serialize;
use taskforce_core::{
    doc::{
        CanonicalDoc, CanonicalReg, Confirmation, ConfirmationState, Day, Evidence, OpId, Report,
        ReviewState, Status, TaskRef,
    },
    sync::wire,
};
use taskforce_server::db::entity::documents;

/// A task's state as format version 1 laid it out.
#[derive(Serialize)]
struct TaskV1 {
    parent: Option<TaskRef>,
    created: bool,
    status: CanonicalReg<Status>,
    progress: CanonicalReg<u8>,
    assignee: CanonicalReg<String>,
    due: CanonicalReg<Option<Day>>,
    notes: CanonicalReg<String>,
    title: CanonicalReg<String>,
    removed: CanonicalReg<bool>,
    comments: BTreeMap<OpId, (String, i64)>,
    evidence: BTreeMap<OpId, Evidence>,
}

/// A document's state as format version 1 laid it out.
#[derive(Serialize)]
struct DocV1 {
    header: taskforce_core::doc::DocHeader,
    vv: BTreeMap<u32, u64>,
    tasks: BTreeMap<TaskRef, TaskV1>,
    confirmations: BTreeMap<OpId, (Option<Confirmation>, CanonicalReg<ConfirmationState>)>,
    reports: BTreeMap<OpId, Report>,
}

/// `doc` (which holds none of the office's registers) as a version 1 snapshot.
fn encode_v1(doc: CanonicalDoc) -> Vec<u8> {
    let tasks = doc
        .tasks
        .into_iter()
        .map(|(r, t)| {
            assert!(t.review.is_empty() && t.deadline.is_empty() && t.urges.is_empty());
            let v1 = TaskV1 {
                parent: t.parent,
                created: t.created,
                status: t.status,
                progress: t.progress,
                assignee: t.assignee,
                due: t.due,
                notes: t.notes,
                title: t.title,
                removed: t.removed,
                comments: t.comments,
                evidence: t.evidence,
            };
            (r, v1)
        })
        .collect();
    let v1 = DocV1 {
        header: doc.header,
        vv: doc.vv,
        tasks,
        confirmations: doc.confirmations,
        reports: doc.reports,
    };
    let mut out = vec![1u8, 4];
    out.extend(postcard::to_stdvec(&v1).unwrap_or_else(|e| panic!("{e}")));
    out
}

fn a_version_1_database_is_served_and_reviewed_after_the_upgrade(db: TestDb) {
    let app = spawn_app_with_members(db);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.set(
        1,
        taskforce_core::doc::TaskField::Notes("trước nâng cấp".into()),
    );
    phone.sync(&app);

    // The document's stored snapshot rewritten as version 1, holding what the phone wrote
    // (as a server before the upgrade would have stored it).
    let whole = phone.replica.doc().to_canonical();
    let v1 = encode_v1(whole.clone());
    assert_eq!(wire::decode_snapshot(&v1).ok(), Some(whole.clone()));
    let ops: i64 = whole
        .vv
        .values()
        .map(|&n| i64::try_from(n).unwrap_or(0))
        .sum();
    with_db(&app.db, async move |db| {
        let row = documents::Entity::find_by_id((DIRECTIVE.to_string(), "cuc-vt".to_string()))
            .one(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no document"));
        let mut row: documents::ActiveModel = row.into();
        row.state = Set(v1);
        row.state_ops = Set(ops);
        row.update(&db).await.unwrap_or_else(|e| panic!("{e}"));
    });

    // A server started now (a fresh cache, as after the upgrade) serves it.
    let upgraded = app.other_server();
    let mut fresh = app.phone("cucvt.b", "cuc-vt");
    fresh.sync(&upgraded);
    assert_eq!(fresh.replica.doc().to_canonical(), whole, "nothing lost");

    // The office returns the task; both phones get it; the stored state reads back.
    let office = app.token("vanphong");
    let (status, body) = upgraded.post_json(
        &office,
        "/api/v1/office/actions",
        serde_json::json!({"action": "return", "unit": "cuc-vt", "task": "a0", "text": "Bổ sung"}),
    );
    assert_eq!(status, 200, "{body}");
    phone.sync(&upgraded);
    fresh.sync(&upgraded);
    assert_eq!(
        phone.replica.doc().review_state(TaskRef::Assigned(0)),
        ReviewState::Returned
    );
    assert_eq!(phone.canonical(), fresh.canonical());
    let (version, state) = with_db(&app.db, async |db| {
        let row = documents::Entity::find_by_id((DIRECTIVE.to_string(), "cuc-vt".to_string()))
            .one(&db)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no document"));
        (row.state.first().copied(), row.state)
    });
    // Still version 1 until a snapshot is due, or version 2 once rewritten: either reads.
    assert!(matches!(version, Some(1 | 2)), "{version:?}");
    assert!(wire::decode_snapshot(&state).is_ok());
}

on_every_store!(a_version_1_database_is_served_and_reviewed_after_the_upgrade);
