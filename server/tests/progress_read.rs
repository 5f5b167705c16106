//! The Ministry Office's reads come from the projections the writer keeps, never from the
//! CRDT documents (decision 8), and say exactly what mobile-core's progress rules say on the
//! phones' own converged copies: after seeded random offline edits by several phones of two
//! units (statuses, progress, due dates in the past and the future, concurrent writes, ad-hoc
//! tasks, reports), `/api/v1/units/{id}/progress`, `/api/v1/progress` and the clause pages
//! equal the rules run on the documents.

mod common;

use chrono::{Duration, NaiveDate};
use common::{Http, Phone, TestApp, TestDb};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;
use taskforce_core::{
    doc::{Day, Op, Report, Status, TaskField, TaskRef},
    progress::{clause_progress, unit_progress},
};

/// The seed of the edits; a failure names it so the run can be replayed.
const SEED: u64 = 0x7a5c_f07c_e05c_7b77;

fn random_edit(p: &mut Phone, rng: &mut StdRng, today: NaiveDate, adhoc: &mut Vec<TaskRef>) {
    let tasks = u32::try_from(p.replica.doc().header().tasks.len()).unwrap_or(1);
    let task = if !adhoc.is_empty() && rng.random_bool(0.2) {
        adhoc[rng.random_range(0..adhoc.len())]
    } else {
        TaskRef::Assigned(rng.random_range(0..tasks.max(1)))
    };
    let op = match rng.random_range(0..10) {
        0..=3 => p
            .replica
            .doc()
            .set_op(task, TaskField::Status(Status::ALL[rng.random_range(0..4)])),
        4 | 5 => p
            .replica
            .doc()
            .set_op(task, TaskField::Progress(rng.random_range(0..=100))),
        6 => {
            let due = today + Duration::days(rng.random_range(-40..40));
            let value = rng.random_bool(0.9).then(|| Day::from_date(due));
            p.replica.doc().set_op(task, TaskField::Due(value))
        }
        7 => Op::AddTask {
            parent: None,
            title: format!("Việc phát sinh {}", rng.random_range(0..1000)),
        },
        _ => Op::Report(Report {
            period: format!("2020-02-{:02}", rng.random_range(1..29)),
            text: "Báo cáo tiến độ".into(),
            figures: Vec::new(),
            at: 1_580_000_000 + rng.random_range(0..10_000_000),
        }),
    };
    let made_task = matches!(op, Op::AddTask { .. });
    let id = p
        .replica
        .edit(p.actor, op)
        .unwrap_or_else(|e| panic!("edit (seed {SEED:#x}): {e}"));
    if made_task {
        adhoc.push(TaskRef::Adhoc(id));
    }
}

fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.get(token, path);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn reads_agree_with_the_rules_on_the_phones(db: TestDb) {
    let app: TestApp = common::spawn_app_with_members(db);
    let http: &Http = &app;
    let today = chrono::Utc::now().date_naive();
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut phones = [
        app.phone("cucvt.a", "cuc-vt"),
        app.phone("cucvt.b", "cuc-vt"),
        app.phone("viettel.a", "viettel"),
    ];
    let mut adhoc: [Vec<TaskRef>; 2] = [Vec::new(), Vec::new()];
    for _round in 0..4 {
        for (i, p) in phones.iter_mut().enumerate() {
            let unit = usize::from(i == 2);
            for _ in 0..rng.random_range(5..25) {
                random_edit(p, &mut rng, today, &mut adhoc[unit]);
            }
        }
        // Syncs in a random order: concurrent writes become conflicts the rules must see.
        let first = rng.random_range(0..phones.len());
        for k in 0..phones.len() {
            phones[(first + k) % phones.len()].sync(http);
        }
    }
    for _ in 0..2 {
        for p in phones.iter_mut() {
            p.sync(http);
        }
    }
    assert_eq!(
        phones[0].canonical(),
        phones[1].canonical(),
        "cuc-vt converged"
    );
    let token = app.token("vanphong");
    let before = app.metric("taskforce_doc_cache_hits_total")
        + app.metric("taskforce_doc_cache_misses_total");

    // A unit's progress: the same JSON as the rules give on a phone's copy.
    let mut conflicted = 0;
    for p in [&phones[0], &phones[2]] {
        let unit = &p.replica.doc().header().unit;
        let expected =
            serde_json::to_value(unit_progress(p.replica.doc(), today)).unwrap_or_default();
        let read = get(&app, &token, &format!("/api/v1/units/{unit}/progress"));
        assert_eq!(read, expected, "unit {unit} (seed {SEED:#x})");
        conflicted += expected["tasks"]
            .as_array()
            .map_or(0, |t| t.iter().filter(|t| t["conflicted"] == true).count());
    }
    assert!(
        conflicted > 0,
        "the edits made no conflict to compare (seed {SEED:#x})"
    );

    // The directive's progress: the unit rows and every clause × unit cell of the two units.
    let progress = get(&app, &token, "/api/v1/progress");
    let docs = [phones[0].replica.doc(), phones[2].replica.doc()];
    for doc in docs {
        let unit = &doc.header().unit;
        let expected = unit_progress(doc, today);
        let row = progress["units"]
            .as_array()
            .and_then(|u| u.iter().find(|r| r["unit"] == unit.as_str()))
            .unwrap_or_else(|| panic!("no row for {unit}: {progress}"));
        assert_eq!(
            row["counts"],
            serde_json::to_value(&expected.counts).unwrap_or_default(),
            "{unit}"
        );
        assert_eq!(row["mean_progress"], expected.mean_progress, "{unit}");
        assert_eq!(
            row["last_report_at"],
            serde_json::to_value(expected.last_report_at).unwrap_or_default(),
            "{unit}"
        );
    }
    let mut cells = 0;
    for clause in clause_progress(&docs, today) {
        let row = progress["clauses"]
            .as_array()
            .and_then(|c| c.iter().find(|r| r["clause"] == clause.clause.as_str()))
            .unwrap_or_else(|| panic!("no clause {}: {progress}", clause.clause));
        let page = get(
            &app,
            &token,
            &format!("/api/v1/progress/clauses/{}", clause.clause),
        );
        for cell in &clause.units {
            let expected = serde_json::to_value(cell).unwrap_or_default();
            for read in [row, &page] {
                let found = read["units"]
                    .as_array()
                    .and_then(|u| u.iter().find(|c| c["unit"] == cell.unit.as_str()));
                assert_eq!(
                    found,
                    Some(&expected),
                    "clause {} (seed {SEED:#x})",
                    clause.clause
                );
            }
            cells += 1;
        }
    }
    assert!(cells > 0, "no clause cell compared");

    // None of these reads touched a document: the document cache saw no lookup.
    let after = app.metric("taskforce_doc_cache_hits_total")
        + app.metric("taskforce_doc_cache_misses_total");
    assert_eq!(after, before, "the reads loaded documents");
}

on_every_store!(reads_agree_with_the_rules_on_the_phones);
