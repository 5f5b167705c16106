//! A unit document that would outgrow the wire format (issue 18, point 8): syncs of the
//! largest reports a change may carry fill a unit's document until the server refuses more
//! with `422 document_full`, while the unit stays readable — the progress API, the dashboard,
//! the exports, a stored snapshot rewritten and loaded again, and a brand-new phone's first
//! sync, which gets the whole document. And a device far behind a document edited for long,
//! whose missing changes would not fit one message, gets the snapshot instead. On a real
//! SQLite file and a real PostgreSQL database, over HTTP.

mod common;

use std::collections::BTreeMap;

use common::{Phone, TestApp, TestDb};
use taskforce_core::{
    doc::{Figure, Op, Report, Status, TaskField, TaskRef, UnitDocument, limits},
    sync::{Change, SyncRequest, SyncResponse, apply_changes, wire},
};
use taskforce_server::auth::Role;

/// A report as large as an operation may be: 20,000 four-byte characters of text, 64 figures
/// with 200-character names and the largest values (some 132 kB encoded).
fn largest_report(n: u64) -> Op {
    Op::Report(Report {
        period: format!("{n:0>200}"),
        text: "𝔸".repeat(limits::LONG_TEXT),
        figures: (0..limits::FIGURES)
            .map(|i| Figure {
                name: format!("{i:🄰>200}"),
                value: limits::MAGNITUDE,
            })
            .collect(),
        at: 1_580_860_800,
    })
}

/// Notes as long as they may be (80 kB encoded).
fn longest_notes(n: u64) -> TaskField {
    TaskField::Notes(format!("{n} {}", "𝔸".repeat(limits::LONG_TEXT - 8)))
}

/// A device that sends the changes it is given, as an old or hostile phone would: without
/// the phone's own check of the document's room. It has every operation it sent accepted.
struct RawDevice {
    phone: Phone,
    next: u64,
}

impl RawDevice {
    fn new(phone: Phone) -> Self {
        Self { phone, next: 1 }
    }

    /// Send `ops` as one change numbered from the next sequence number: the status and the
    /// JSON error body when refused. Accepted, they are appended to `accepted`.
    fn send(
        &mut self,
        app: &TestApp,
        ops: Vec<Op>,
        accepted: &mut Vec<Change>,
    ) -> Result<(), (u16, serde_json::Value)> {
        let p = &self.phone;
        let change = Change::sign(p.replica.fingerprint(), p.actor, self.next, ops, &p.key);
        let request = SyncRequest {
            doc: p.replica.key().clone(),
            fingerprint: p.replica.fingerprint(),
            vv: BTreeMap::from([(p.actor, self.next - 1)]),
            changes: vec![change.clone()],
        };
        let body = wire::encode_request(&request);
        assert!(
            body.len() < 8 << 20,
            "within the body limit: {}",
            body.len()
        );
        let (status, bytes) = app.post_sync(&p.token, p.actor, &body);
        if status != 200 {
            return Err((status, serde_json::from_slice(&bytes).unwrap_or_default()));
        }
        self.next = change.end() + 1;
        accepted.push(change);
        Ok(())
    }
}

/// The unit's operation count as the server stores it.
fn ops_stored(app: &TestApp, token: &str) -> i64 {
    app.document(token, "cuc-vt")["ops"].as_i64().unwrap_or(-1)
}

/// A counter of `/metrics`, waited for (the compactor rewrites in the background).
fn metric_reaching(app: &TestApp, name: &str, at_least: u64) -> u64 {
    for _ in 0..200 {
        let v = app.metric(name);
        if v >= at_least {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    app.metric(name)
}

/// GET with a bearer token (and the dashboard's cookie), redirects not followed: the status
/// and the body's length.
fn fetch(app: &TestApp, token: &str, path: &str) -> (u16, usize) {
    let (status, body) = app.fetch(token, path);
    (status, body.len())
}

fn syncs_of_the_largest_reports_fill_a_document_that_stays_readable(db: TestDb) {
    // No document kept between syncs: every sync loads the unit's document from its row.
    let app = common::spawn_app_with(db, |c| c.doc_cache_entries = 0);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("cucvt.b", Role::Member, &[("cuc-vt", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let office = app.token("vanphong");
    let mut device = RawDevice::new(app.phone("cucvt.a", "cuc-vt"));
    let header = device.phone.replica.doc().header().clone();
    let mut accepted = Vec::new();

    // Syncs of 50 of the largest reports (6.6 MB each, within the 8 MiB body limit) until
    // the server refuses: the second would take the document past the room for new items.
    let per_sync = 50;
    let mut refusal = None;
    for sync in 0..4u64 {
        let ops = (0..per_sync)
            .map(|i| largest_report(sync * 100 + i))
            .collect();
        if let Err(e) = device.send(&app, ops, &mut accepted) {
            refusal = Some((sync, e));
            break;
        }
    }
    let Some((sync, (status, body))) = refusal else {
        panic!("four syncs of 6.6 MB were all accepted: the document has no limit");
    };
    assert_eq!(
        (sync, status, body["error"].as_str()),
        (1, 422, Some("document_full")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("tài liệu của đơn vị đã đầy")
            && message.contains("the unit's document is full")
            && message.contains("size in bytes for new items")
            && message.contains(&(limits::DOC_BYTES - limits::DOC_FIELD_ROOM).to_string()),
        "{message}"
    );
    assert_eq!(ops_stored(&app, &office), 50, "nothing of the refused sync");

    // What still fits is taken: reports one at a time up to the room for new items, then
    // field edits past it, 2,000 of them (so the stored snapshot is rewritten from the large
    // document).
    let mut reports = 50;
    let refused_again = loop {
        match device.send(&app, vec![largest_report(900 + reports)], &mut accepted) {
            Ok(()) => reports += 1,
            Err(e) => break e,
        }
        assert!(reports < 60, "the room for new items never ran out");
    };
    assert!(reports > 50, "a report that fits is taken");
    assert!(
        refused_again.0 == 422 && refused_again.1["error"] == "document_full",
        "{refused_again:?}"
    );
    let edits: Vec<Op> = (0..2_000u32)
        .map(|i| Op::Set {
            task: TaskRef::Assigned(i % 3),
            value: TaskField::Progress((i % 101) as u8),
            ctx: Vec::new(),
        })
        .collect();
    device
        .send(&app, edits, &mut accepted)
        .unwrap_or_else(|(s, b)| panic!("field edits in a full document: {s} {b}"));
    let ops = i64::try_from(reports).unwrap_or(0) + 2_000;
    assert_eq!(ops_stored(&app, &office), ops);
    assert!(
        metric_reaching(&app, "taskforce_snapshots_stored_total", 1) >= 1,
        "the snapshot of the large document is rewritten"
    );
    // The document as the server should hold it, and its size.
    let mut expected = UnitDocument::new(header);
    apply_changes(&mut expected, &accepted, |_, _| {})
        .unwrap_or_else(|e| panic!("the accepted changes apply: {e}"));
    let footprint = expected.footprint();
    let snapshot = wire::encode_snapshot(&expected.to_canonical()).len();
    assert!(
        snapshot <= footprint.bytes && footprint.bytes <= limits::DOC_BYTES,
        "{snapshot} {footprint:?}"
    );
    assert!(snapshot > 6 << 20, "a large document: {snapshot}");

    // Readable: the document's route, the progress API, the listings, the dashboard and the
    // exports.
    for path in [
        "/api/v1/units/cuc-vt/document",
        "/api/v1/units/cuc-vt/progress",
        "/api/v1/progress",
        "/api/v1/progress/units/cuc-vt",
        "/api/v1/tasks?unit=cuc-vt",
        "/api/v1/reports?unit=cuc-vt",
        "/",
        "/matrix",
        "/units/cuc-vt",
        "/exports/matrix.csv",
        "/exports/tasks.xlsx",
    ] {
        let (status, len) = fetch(&app, &office, path);
        assert_eq!(status, 200, "{path}");
        assert!(len > 0, "{path}");
    }
    let (_, reports_listed) = app.get(&office, "/api/v1/reports?unit=cuc-vt");
    let listed = reports_listed.as_array().map(Vec::len);
    assert_eq!(
        listed,
        usize::try_from(reports).ok(),
        "every report accepted"
    );

    // A brand-new phone's first sync: the whole document, equal to the server's.
    let mut fresh = app.phone("cucvt.b", "cuc-vt");
    let outcome = fresh.sync(&app.http);
    assert_eq!(Ok(outcome.pulled), usize::try_from(ops), "{outcome:?}");
    assert_eq!(
        fresh.replica.doc().to_canonical(),
        expected.to_canonical(),
        "the new phone holds the server's document"
    );
    assert_eq!(fresh.replica.doc().footprint(), footprint);
    // Its own edits: a status change still has room; a report does not, and the phone says
    // so before sealing it.
    fresh.status(0, Status::Done);
    assert!(matches!(
        fresh.replica.edit(fresh.actor, largest_report(1_000)),
        Err(taskforce_core::doc::DocError::Full { .. })
    ));
    fresh.sync(&app.http);
    let mut other = app.phone("vanphong", "cuc-vt");
    other.sync(&app.http);
    assert_eq!(other.canonical(), fresh.canonical());
}

fn a_device_far_behind_gets_a_snapshot_when_its_changes_would_not_fit(db: TestDb) {
    let app = common::spawn_app_with_members(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    // 6.6 MB of reports, then a first sync of another phone, which prices a snapshot and
    // measures it (6.6 MB at 50 operations).
    for i in 0..50 {
        a.edit(largest_report(i));
    }
    a.sync(&app.http);
    let mut b = app.phone("cucvt.b", "cuc-vt");
    b.sync(&app.http);
    // 150 longest notes, each replacing the one before: 12 MB of changes, and the document
    // grows by nothing. The snapshot's measure, scaled by the operations since, puts it at
    // 26 MB: no snapshot would be priced against 18.6 MB of changes.
    for round in 0..2 {
        for i in 0..75 {
            a.set(1, longest_notes(round * 100 + i));
        }
        a.sync(&app.http);
    }
    // A device that has nothing: 18.6 MB of changes, more than a message holds.
    let token = app.token("vanphong");
    let mut c = app.phone("vanphong", "cuc-vt");
    let missing = taskforce_core::sync::changes_len(a.replica.changes_of(a.actor));
    assert!(missing > wire::MAX_MESSAGE_BYTES, "{missing}");
    let body = c.request_bytes();
    let (status, bytes) = app.post_sync(&c.token, c.actor, &body);
    assert_eq!(status, 200);
    assert!(
        bytes.len() <= wire::MAX_MESSAGE_BYTES,
        "the answer fits a message: {} bytes (changes: {missing})",
        bytes.len()
    );
    let answer: SyncResponse =
        wire::decode_response(&bytes).unwrap_or_else(|e| panic!("the answer decodes: {e}"));
    assert!(
        matches!(answer.payload, taskforce_core::sync::Payload::Snapshot(_)),
        "a snapshot"
    );
    c.replica
        .receive(answer)
        .unwrap_or_else(|e| panic!("receive: {e}"));
    assert!(!c.replica.lags_remote(), "one answer brought everything");
    a.sync(&app.http);
    assert_eq!(c.canonical(), a.canonical());
    assert_eq!(
        app.document(&token, "cuc-vt")["ops"].as_i64(),
        Some(200),
        "every operation stored"
    );
}

on_every_store!(
    syncs_of_the_largest_reports_fill_a_document_that_stays_readable,
    a_device_far_behind_gets_a_snapshot_when_its_changes_would_not_fit,
);
