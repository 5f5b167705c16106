//! The Ministry Office's review on the server's read side (issue 20, decision 39), on SQLite
//! and PostgreSQL: a unit reports a task done, the office's device accepts it and urges
//! another with a new deadline; the task projection, the matrix, the unit page (Vietnamese
//! and English), the Minister's report, the task export and the task history all show the
//! review state and the urges; a later unit edit turns the acceptance into "changed after
//! acceptance" everywhere.

mod common;

use chrono::{Duration, Utc};
use common::{TestApp, TestDb, spawn_app_with_members};
use taskforce_core::doc::{Day, Op, ReviewState, Status, TaskField, TaskRef, Urge, Verdict};

fn page(app: &TestApp, token: &str, path: &str) -> String {
    let (status, body) = app.http.fetch(token, path);
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{path}: {text}");
    text
}

fn office_marks_show_on_every_read(db: TestDb) {
    let app = spawn_app_with_members(db);
    let http = &app.http;
    let mut unit = app.phone("cucvt.a", "cuc-vt");
    let mut office = app.phone("vanphong", "cuc-vt");
    unit.status(0, Status::Done);
    unit.sync(http);
    office.sync(http);

    let accept = office.replica.doc().review_op(
        TaskRef::Assigned(0),
        Verdict::Accepted,
        String::new(),
        1_580_000_000,
    );
    office.edit(accept);
    let due = Day::from_date(Utc::now().date_naive() + Duration::days(7));
    office.edit(Op::Urge {
        task: TaskRef::Assigned(1),
        urge: Urge {
            message: "Đề nghị khẩn trương hoàn thành".into(),
            due: Some(due),
            at: 1_580_000_100,
        },
    });
    office.set(1, TaskField::Deadline(Some(due)));
    office.sync(http);

    let token = app.token("vanphong");
    let progress = app.http.get(&token, "/api/v1/units/cuc-vt/progress").1;
    assert_eq!(progress["tasks"][0]["review"], "accepted", "{progress}");
    assert_eq!(progress["tasks"][1]["urges"], 1, "{progress}");
    assert_eq!(progress["tasks"][1]["last_urged_at"], 1_580_000_100);
    assert_eq!(
        progress["tasks"][1]["due"],
        due.date().map(|d| d.to_string()).unwrap_or_default()
    );
    assert_eq!(progress["counts"]["accepted"], 1);
    assert_eq!(progress["counts"]["urged"], 1);

    let matrix = page(&app, &token, "/matrix");
    assert!(
        matrix.contains(r#"class="mark r-accepted" title="Đã nghiệm thu""#),
        "{matrix}"
    );
    assert!(matrix.contains("⚑1"), "the urge count in the cell");

    let unit_page = page(&app, &token, "/units/cuc-vt");
    assert!(
        unit_page.contains(r#"<td class="review">Đã nghiệm thu</td>"#),
        "{unit_page}"
    );
    assert!(
        unit_page.contains(r#"<td class="num urges">1 · "#),
        "the urge and its day"
    );
    let english = page(&app, &token, "/units/cuc-vt?lang=en");
    assert!(
        english.contains(r#"<td class="review">Accepted</td>"#),
        "{english}"
    );

    let report = page(&app, &token, "/report");
    assert!(report.contains("Đã nghiệm thu 1"), "{report}");

    let csv = page(&app, &token, "/exports/tasks.csv");
    assert!(csv.contains("Nghiệm thu,Số lần đôn đốc"), "{csv}");
    let row_of = |csv: &str, clause: &str| {
        csv.lines()
            .find(|l| l.starts_with("cuc-vt,") && l.contains(&format!(",{clause},")))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let clauses: Vec<String> = progress["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["clause"].as_str().map(str::to_string))
        .collect();
    assert!(
        row_of(&csv, &clauses[0]).ends_with(",Đã nghiệm thu,0"),
        "{csv}"
    );
    assert!(row_of(&csv, &clauses[1]).ends_with(",1"), "{csv}");

    let history = page(&app, &token, "/units/cuc-vt/tasks/a0/history");
    assert!(history.contains("Nghiệm thu"), "{history}");
    let history = page(&app, &token, "/units/cuc-vt/tasks/a1/history");
    assert!(history.contains("Đôn đốc"), "{history}");
    assert!(history.contains("Đề nghị khẩn trương hoàn thành"));

    // The unit edits the accepted task: the acceptance no longer covers it.
    unit.sync(http);
    unit.set(0, TaskField::Notes("bổ sung minh chứng".into()));
    unit.sync(http);
    let progress = app.http.get(&token, "/api/v1/units/cuc-vt/progress").1;
    assert_eq!(
        progress["tasks"][0]["review"],
        ReviewState::ChangedAfterAcceptance.as_str()
    );
    assert_eq!(progress["counts"]["accepted"], 0);
    assert_eq!(progress["counts"]["changed_after_acceptance"], 1);
    let matrix = page(&app, &token, "/matrix?lang=en");
    assert!(
        matrix.contains(
            r#"class="mark r-changed_after_acceptance" title="Changed after acceptance""#
        ),
        "{matrix}"
    );
}

on_every_store!(office_marks_show_on_every_read);
