//! Values stored before the operations' admissibility rules (`Op::admissible`, issue 18): a
//! due date of 1800 and one past year 9999, a figure of 10^18 and one of `i64::MIN`, NUL
//! and other control characters, blank names, negative and far-future times, an evidence
//! size of `u64::MAX`. A document carrying them is stored as an older server stored it (its
//! change straight into the op log, its reports and confirmation as their projections), then
//! a phone syncs it and edits it through today's server, and every read answers 200 showing
//! the values: the JSON API, the CSV and XLSX exports, every dashboard page. On PostgreSQL,
//! which holds no NUL in text, the projected texts carry other control characters instead
//! (an older server could not have stored a NUL there: its whole batch would have failed);
//! the NUL stays in the op log's comment, which is bytes.

mod common;

use chrono::NaiveDate;
use common::{DIRECTIVE, TestApp, TestDb};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::Value;
use taskforce_core::{
    doc::{
        Confirmation, Day, Evidence, Figure, Op, OpId, Report, Status, TaskField, TaskRef,
        UnitDocument,
    },
    sync::{Change, wire},
};
use taskforce_server::db::entity::{changes, confirmations, documents, reports};

const UNIT: &str = "cuc-vt";

fn day(y: i32, m: u32, d: u32) -> Day {
    Day::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
}

/// The old values, the document's texts carrying `ctl` where they are projected.
struct Old {
    ctl: &'static str,
    far_due: Day,
}

impl Old {
    fn title(&self) -> String {
        format!("Việc cũ{}", self.ctl)
    }
    fn assignee(&self) -> String {
        format!("Chị An{}", self.ctl)
    }
    fn period(&self) -> String {
        format!("2020-W06{}", self.ctl)
    }
    fn report_text(&self) -> String {
        format!("Báo cáo{} cũ", self.ctl)
    }
    fn hotline(&self) -> String {
        format!("19009095{}", self.ctl)
    }

    fn ops(&self, actor: u32) -> Vec<Op> {
        let set = |task, value| Op::Set {
            task,
            value,
            ctx: Vec::new(),
        };
        let a0 = TaskRef::Assigned(0);
        vec![
            set(a0, TaskField::Due(Some(day(1800, 1, 1)))),
            set(TaskRef::Assigned(1), TaskField::Due(Some(self.far_due))),
            Op::AddTask {
                parent: None,
                title: self.title(),
            },
            set(
                TaskRef::Adhoc(OpId::new(actor, 3)),
                TaskField::Assignee(self.assignee()),
            ),
            Op::Comment {
                task: a0,
                text: "Ghi chú\0 cũ".into(),
                at: -86_400,
            },
            Op::AddEvidence {
                task: a0,
                evidence: Evidence {
                    file_name: "bien-ban.pdf".into(),
                    size: u64::MAX,
                    sha256: [9; 32],
                    at: i64::MIN,
                },
            },
            Op::Report(Report {
                period: self.period(),
                text: self.report_text(),
                figures: vec![
                    Figure {
                        name: "sms_sent".into(),
                        value: 1_000_000_000_000_000_000,
                    },
                    Figure {
                        name: String::new(),
                        value: i64::MIN,
                    },
                ],
                at: -1,
            }),
            Op::Report(Report {
                period: "2020-W07".into(),
                text: String::new(),
                figures: Vec::new(),
                at: i64::MAX,
            }),
            Op::Confirm(Confirmation {
                carrier: "viettel".into(),
                hotline: self.hotline(),
                free_from: day(1800, 1, 1),
                attested_by: String::new(),
                evidence: None,
                at: i64::MAX,
            }),
        ]
    }
}

/// Store `change` of the unit's document as a server without the rules did: the op log's
/// row, the document's op count and head, and the projections of its reports and its
/// confirmation.
fn store_as_an_older_server(app: &TestApp, change: &Change, head: Vec<u8>) {
    let url = app.db.url().to_string();
    let change = change.clone();
    std::thread::spawn(move || {
        common::runtime().block_on(async move {
            let db = taskforce_server::db::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let actor = i32::try_from(change.actor).unwrap_or_else(|e| panic!("{e}"));
            let end = i64::try_from(change.end()).unwrap_or_else(|e| panic!("{e}"));
            let body = wire::encode_change(&change);
            let hash = taskforce_core::sync::audit::entry_hash(
                &taskforce_core::sync::audit::GENESIS,
                &taskforce_core::sync::audit::Link {
                    directive: DIRECTIVE,
                    unit: UNIT,
                    position: 0,
                    actor: i64::from(actor),
                    start: 1,
                    end,
                    received_at: 1_580_000_000,
                    body: &body,
                },
            );
            changes::Entity::insert(changes::ActiveModel {
                directive_id: Set(DIRECTIVE.into()),
                unit_id: Set(UNIT.into()),
                actor_id: Set(actor),
                start_seq: Set(1),
                end_seq: Set(end),
                body: Set(body),
                received_at: Set(1_580_000_000),
                position: Set(0),
                hash: Set(hash.to_vec()),
                seal: Set(None),
            })
            .exec_without_returning(&db)
            .await
            .unwrap_or_else(|e| panic!("op log: {e}"));
            documents::Entity::update_many()
                .col_expr(documents::Column::Ops, Expr::value(end))
                .col_expr(documents::Column::Head, Expr::value(head))
                .col_expr(documents::Column::ChainLen, Expr::value(1))
                .col_expr(documents::Column::ChainHead, Expr::value(hash.to_vec()))
                .filter(documents::Column::DirectiveId.eq(DIRECTIVE))
                .filter(documents::Column::UnitId.eq(UNIT))
                .exec(&db)
                .await
                .unwrap_or_else(|e| panic!("head: {e}"));
            for (seq, op) in change.ops.iter().enumerate() {
                let op_id = OpId::new(change.actor, seq as u64 + 1).to_string();
                match op {
                    Op::Report(r) => {
                        let figures: Vec<(&String, i64)> =
                            r.figures.iter().map(|f| (&f.name, f.value)).collect();
                        reports::Entity::insert(reports::ActiveModel {
                            directive_id: Set(DIRECTIVE.into()),
                            unit_id: Set(UNIT.into()),
                            op_id: Set(op_id),
                            actor_id: Set(actor),
                            period: Set(r.period.clone()),
                            text: Set(r.text.clone()),
                            figures: Set(serde_json::to_string(&figures).unwrap_or_default()),
                            at: Set(r.at),
                        })
                        .exec_without_returning(&db)
                        .await
                        .unwrap_or_else(|e| panic!("report: {e}"));
                    }
                    Op::Confirm(c) => {
                        confirmations::Entity::insert(confirmations::ActiveModel {
                            directive_id: Set(DIRECTIVE.into()),
                            unit_id: Set(UNIT.into()),
                            op_id: Set(op_id),
                            actor_id: Set(actor),
                            carrier: Set(c.carrier.clone()),
                            hotline: Set(c.hotline.clone()),
                            free_from: Set(c
                                .free_from
                                .date()
                                .map(|d| d.to_string())
                                .unwrap_or_default()),
                            attested_by: Set(c.attested_by.clone()),
                            state: Set("confirmed".into()),
                            at: Set(c.at),
                        })
                        .exec_without_returning(&db)
                        .await
                        .unwrap_or_else(|e| panic!("confirmation: {e}"));
                    }
                    _ => {}
                }
            }
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("storing the old document panicked"));
}

/// A GET with the token as bearer and as the dashboard's cookie: status and body.
fn fetch(app: &TestApp, token: &str, path: &str) -> (u16, Vec<u8>) {
    app.fetch(token, path)
}

fn ok(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let (status, body) = fetch(app, token, path);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    body
}

fn json(app: &TestApp, token: &str, path: &str) -> Value {
    serde_json::from_slice(&ok(app, token, path))
        .unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn text(app: &TestApp, token: &str, path: &str) -> String {
    String::from_utf8(ok(app, token, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// HTML as maud escapes text.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn every_read_shows_values_stored_before_the_rules(db: TestDb) {
    let nul_in_text = matches!(db, TestDb::Sqlite { .. });
    let old = Old {
        ctl: if nul_in_text {
            "\0\u{7}"
        } else {
            "\u{1b}\u{7}"
        },
        far_due: day(12_345, 6, 1),
    };
    let app = common::spawn_app_with_members(db);
    let older = app.phone("cucvt.a", UNIT);
    let header = older.replica.doc().header().clone();
    let ops = old.ops(older.actor);
    for op in &ops {
        assert!(op.admissible().is_err(), "not an old value: {op:?}");
    }
    // Valid by the rules every replay applies.
    let mut doc = UnitDocument::new(header.clone());
    doc.apply_ops(older.actor, 1, &ops)
        .unwrap_or_else(|e| panic!("the old operations no longer apply: {e}"));
    let change = Change::sign(header.fingerprint(), older.actor, 1, ops, &older.key);
    store_as_an_older_server(&app, &change, wire::encode_version(&doc.version().dots));

    // A phone receives the document, values and all, and edits it through today's server:
    // the server loads it from the op log, and projects the touched tasks from it.
    let mut phone = app.phone("cucvt.b", UNIT);
    phone.sync(&app);
    assert_eq!(phone.replica.doc().to_canonical(), doc.to_canonical());
    let adhoc = TaskRef::Adhoc(OpId::new(older.actor, 3));
    for task in [TaskRef::Assigned(0), TaskRef::Assigned(1), adhoc] {
        let op = phone
            .replica
            .doc()
            .set_op(task, TaskField::Status(Status::InProgress));
        phone.edit(op);
    }
    phone.sync(&app);

    let token = app.token("vanphong");
    let clause = &header.tasks[0].clause;
    let far = old
        .far_due
        .date()
        .map(|d| d.to_string())
        .unwrap_or_default();

    // The JSON API.
    let tasks = json(&app, &token, &format!("/api/v1/tasks?unit={UNIT}"));
    let task = |id: &str| {
        tasks
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["task"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no task {id} in {tasks}"))
    };
    assert_eq!(task("a0")["due"], "1800-01-01");
    assert_eq!(task("a1")["due"], far.as_str());
    let adhoc_row = task(&adhoc.to_string());
    assert_eq!(adhoc_row["title"], old.title().as_str());
    assert_eq!(adhoc_row["assignee"], old.assignee().as_str());

    let reports = json(&app, &token, &format!("/api/v1/reports?unit={UNIT}"));
    assert_eq!(reports[0]["at"], i64::MAX, "{reports}");
    assert_eq!(reports[1]["at"], -1, "{reports}");
    assert_eq!(reports[1]["period"], old.period().as_str());
    assert_eq!(reports[1]["text"], old.report_text().as_str());
    assert_eq!(
        reports[1]["figures"],
        serde_json::json!([
            { "name": "sms_sent", "value": 1_000_000_000_000_000_000_i64 },
            { "name": "", "value": i64::MIN },
        ])
    );
    let confirmations = json(&app, &token, "/api/v1/confirmations");
    assert_eq!(
        confirmations[0]["free_from"], "1800-01-01",
        "{confirmations}"
    );
    assert_eq!(confirmations[0]["hotline"], old.hotline().as_str());
    assert_eq!(confirmations[0]["at"], i64::MAX);

    let progress = json(&app, &token, &format!("/api/v1/units/{UNIT}/progress"));
    assert_eq!(progress["last_report_at"], i64::MAX, "{progress}");
    assert_eq!(progress["days_since_report"], 0);
    assert_eq!(progress["tasks"][0]["due"], "1800-01-01");
    assert_eq!(progress["tasks"][0]["overdue"], true);
    let all = json(&app, &token, "/api/v1/progress");
    let row = all["clauses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| &c["clause"] == clause)
        .unwrap_or_else(|| panic!("no clause {clause}"));
    assert!(
        row["units"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| u["unit"] == UNIT && u["overdue"] == true),
        "{row}"
    );
    json(&app, &token, &format!("/api/v1/progress/clauses/{clause}"));
    json(&app, &token, &format!("/api/v1/progress/units/{UNIT}"));
    json(
        &app,
        &token,
        &format!("/api/v1/units/{UNIT}/document?directive={DIRECTIVE}"),
    );

    // The exports.
    let csv = text(&app, &token, "/exports/tasks.csv");
    for shown in ["1800-01-01", far.as_str(), &old.title(), &old.assignee()] {
        assert!(csv.contains(shown), "{shown:?} not in tasks.csv");
    }
    assert!(text(&app, &token, "/exports/matrix.csv").contains("(quá hạn)"));
    for xlsx in ["/exports/tasks.xlsx", "/exports/matrix.xlsx"] {
        assert!(ok(&app, &token, xlsx).starts_with(b"PK"), "{xlsx}");
    }

    // The dashboard, in both languages.
    for lang in ["vi", "en"] {
        let page = |path: &str| text(&app, &token, &format!("{path}?lang={lang}"));
        page("/");
        page("/matrix");
        page(&format!("/clauses/{clause}"));
        page("/stale");
        page("/report");
        let unit = page(&format!("/units/{UNIT}"));
        for shown in [
            "1000000000000000000".to_string(),
            i64::MIN.to_string(),
            escaped(&old.report_text()),
            escaped(&old.hotline()),
            "1800-01-01".into(),
        ] {
            assert!(unit.contains(&shown), "{shown:?} not on /units/{UNIT}");
        }
        let hotlines = page("/hotlines");
        assert!(
            hotlines.contains("1800-01-01") && hotlines.contains(&escaped(&old.hotline())),
            "/hotlines"
        );
    }
}

on_every_store!(every_read_shows_values_stored_before_the_rules);
