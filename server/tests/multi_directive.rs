//! Phones that follow several directives (issue 21): a phone with work on 05/CT-BTTTT is
//! offline while a second directive (07/CT-BTTTT, our own text) is stored; at its next sync
//! (one batch round trip, and the one-time fetch of the new directive's text and header) it
//! follows it, edits its tasks, and its 05 work is intact. A hostile batch (too many
//! documents or changes, a document twice, another unit's document, a forged change among
//! good ones) is refused whole before anything is written, or answered per document with the
//! refused documents unchanged. Real HTTP, SQLite and PostgreSQL.

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use common::*;
use taskforce_core::{
    client::{Client, HttpTransport, Reply, Transport, TransportError},
    directive::{Catalogue, import},
    doc::{DocHeader, Status, TaskField, TaskRef},
    sync::{Replica, SyncRequest, wire},
};
use taskforce_server::auth::Role;

/// Directive 07/CT-BTTTT (2021), on fake news: tasks for Cục An toàn thông tin.
const TIN_GIA: &str = include_str!("../../mobile-core/tests/fixtures/ct-btttt-tin-gia.txt");
/// Directive 16/CT-TTg (2021) of the Prime Minister.
const CHUYEN_DOI_SO: &str =
    include_str!("../../mobile-core/tests/fixtures/ct-ttg-chuyen-doi-so.txt");
const FIRST: &str = "5-ct-btttt";
const SECOND: &str = "07-ct-btttt";
const UNIT: &str = "cuc-attt";

/// Store the second directive as publishing does.
fn publish_second(db: &TestDb) {
    with_db(db, async |conn| {
        let catalogue = Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"));
        let d = import(TIN_GIA.as_bytes(), &catalogue, None)
            .unwrap_or_else(|e| panic!("the fixture: {e}"));
        assert_eq!(d.slug(), SECOND);
        let stored = taskforce_server::db::seed::store_directive(&conn, &d, &catalogue)
            .await
            .unwrap_or_else(|e| panic!("store: {e}"));
        assert!(stored, "a new directive");
    });
}

/// The HTTP transport, counting what goes over it.
#[derive(Debug)]
struct Counted {
    http: HttpTransport,
    gets: AtomicU32,
    syncs: AtomicU32,
    batches: AtomicU32,
}

impl Counted {
    fn new(base: &str) -> Arc<Self> {
        Arc::new(Counted {
            http: HttpTransport::new(base),
            gets: AtomicU32::new(0),
            syncs: AtomicU32::new(0),
            batches: AtomicU32::new(0),
        })
    }

    /// (GETs, single syncs, batch syncs) since the last call.
    fn take(&self) -> (u32, u32, u32) {
        (
            self.gets.swap(0, Ordering::SeqCst),
            self.syncs.swap(0, Ordering::SeqCst),
            self.batches.swap(0, Ordering::SeqCst),
        )
    }
}

impl Transport for Counted {
    fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, TransportError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.http.get(path, token)
    }
    fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<Reply, TransportError> {
        self.http.post_json(path, token, body)
    }
    fn post_sync(&self, token: &str, actor: u32, body: Vec<u8>) -> Result<Reply, TransportError> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.http.post_sync(token, actor, body)
    }
    fn post_sync_batch(
        &self,
        token: &str,
        actor: u32,
        body: Vec<u8>,
    ) -> Result<Reply, TransportError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.http.post_sync_batch(token, actor, body)
    }
}

fn phone_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "taskforce-multi-{}-{name}-{}",
        std::process::id(),
        COUNTER_BASE.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir.join("phone.db")
}

static COUNTER_BASE: AtomicU32 = AtomicU32::new(0);

fn open(path: &std::path::Path, transport: Arc<Counted>) -> Client {
    let store = taskforce_core::store::SqliteStore::open(path).unwrap_or_else(|e| panic!("{e}"));
    Client::with_store(
        Box::new(store),
        Box::new(move |_: &str| transport.clone() as Arc<dyn Transport>),
    )
    .unwrap_or_else(|e| panic!("open: {e}"))
}

fn ok<T>(r: Result<T, impl std::fmt::Display>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn ops_of(app: &TestApp, directive: &str, unit: &str) -> i64 {
    app.query_i64(&format!(
        "SELECT ops FROM documents WHERE directive_id = '{directive}' AND unit_id = '{unit}'"
    ))
}

fn a_phone_follows_a_directive_published_while_it_was_offline(db: TestDb) {
    let app = spawn_app(db);
    app.create_user("attt.a", Role::Member, &[(UNIT, false)]);
    app.create_user("attt.b", Role::Member, &[(UNIT, false)]);
    let net = Counted::new(&app.base);
    let path = phone_path("a");
    let a = open(&path, net.clone());
    ok(a.login(&app.base, "attt.a", PASSWORD, "phone a", None));
    let listed: Vec<String> = ok(a.directives()).into_iter().map(|d| d.id).collect();
    assert_eq!(listed, [FIRST]);
    let b_net = Counted::new(&app.base);
    let b = open(&phone_path("b"), b_net.clone());
    ok(b.login(&app.base, "attt.b", PASSWORD, "phone b", None));
    assert_eq!(a.active_directive().as_deref(), Some(FIRST));

    // Work on 05, synced; more of it offline.
    let first_tasks = ok(a.tasks());
    assert!(first_tasks.iter().all(|t| t.directive == FIRST));
    let (t1, t2) = (&first_tasks[0].id, &first_tasks[1].id);
    ok(a.set_progress(t1, 30));
    ok(a.sync());
    ok(a.set_progress(t2, 60));
    assert_eq!(a.unsynced(), 1);

    publish_second(&app.db);
    net.take();
    let report = ok(a.sync());
    assert_eq!(report.pushed, 1, "the offline 05 edit went up");
    assert_eq!(
        net.take(),
        (2, 0, 1),
        "one batch round trip, and the new directive's text and header"
    );
    let listed = ok(a.directives());
    let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [FIRST, SECOND], "oldest first");
    assert_eq!(listed[1].number, "07/CT-BTTTT");
    assert!(listed[1].tasks >= 3, "{listed:?}");
    assert!(listed[0].active && !listed[1].active);
    assert_eq!(
        a.active_directive().as_deref(),
        Some(FIRST),
        "05 stays active"
    );
    let ids = |ts: &[taskforce_core::client::TaskView]| -> Vec<String> {
        ts.iter().map(|t| t.id.clone()).collect()
    };
    assert_eq!(ids(&ok(a.tasks())), ids(&first_tasks), "still 05's tasks");

    // The second directive's tasks, edited and synced in one round trip.
    ok(a.select_directive(SECOND));
    let second_tasks = ok(a.tasks());
    assert!(second_tasks.iter().all(|t| t.directive == SECOND));
    assert!(
        second_tasks.iter().any(|t| t
            .clause_text
            .as_deref()
            .is_some_and(|c| c.contains("tin giả"))),
        "its clause text: {second_tasks:?}"
    );
    let s1 = &second_tasks[0].id;
    ok(a.set_status(s1, "in_progress"));
    net.take();
    let report = ok(a.sync());
    assert_eq!(report.pushed, 1);
    assert_eq!(net.take(), (0, 0, 1), "one batch round trip");
    assert_eq!(ops_of(&app, SECOND, UNIT), 1);
    assert_eq!(ops_of(&app, FIRST, UNIT), 2, "the 05 work is the server's");

    // Back on 05: its work is intact.
    ok(a.select_directive(FIRST));
    let by_id = |id: &str| {
        ok(a.tasks())
            .into_iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("task {id}"))
    };
    assert_eq!(by_id(t1).progress, 30);
    assert_eq!(by_id(t2).progress, 60);

    // Restarted: both followed, the active one kept.
    ok(a.select_directive(SECOND));
    drop(a);
    let a = open(&path, net.clone());
    assert_eq!(a.active_directive().as_deref(), Some(SECOND));
    assert_eq!(ok(a.directives()).len(), 2);
    assert_eq!(
        ok(a.tasks())
            .into_iter()
            .find(|t| &t.id == s1)
            .map(|t| t.status),
        Some("in_progress".to_string())
    );

    // The unit's other phone, signed in before 07 was published and offline since: one sync
    // follows 07 and brings its work, and the other phone's 05 work.
    assert_eq!(b.active_directive().as_deref(), Some(FIRST));
    b_net.take();
    ok(b.sync());
    assert_eq!(
        b_net.take(),
        (2, 0, 2),
        "the new directive fetched once; its operation pulled by a second round trip"
    );
    assert_eq!(ok(b.directives()).len(), 2);
    assert_eq!(
        ok(b.tasks())
            .into_iter()
            .find(|t| &t.id == t2)
            .map(|t| t.progress),
        Some(60)
    );
    ok(b.select_directive(SECOND));
    let seen = ok(b.tasks()).into_iter().find(|t| &t.id == s1);
    assert_eq!(seen.map(|t| t.status), Some("in_progress".to_string()));
    assert!(matches!(
        b.select_directive("99-ct-none"),
        Err(taskforce_core::client::ClientError::InvalidInput(_))
    ));
}

#[test]
fn a_phone_follows_a_directive_published_while_it_was_offline_sqlite() {
    a_phone_follows_a_directive_published_while_it_was_offline(TestDb::sqlite());
}

#[test]
fn a_phone_follows_a_directive_published_while_it_was_offline_postgres() {
    if let Some(db) = TestDb::postgres() {
        a_phone_follows_a_directive_published_while_it_was_offline(db);
    }
}

/// POST a batch: (status, the decoded answer when 200, the JSON error otherwise).
fn post_batch(
    app: &TestApp,
    token: &str,
    actor: u32,
    batch: &wire::BatchRequest,
) -> (u16, Option<wire::BatchResponse>, serde_json::Value) {
    let mut resp = Http::agent()
        .post(&format!("{}/api/v1/sync/batch", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("X-Taskforce-Device", &actor.to_string())
        .header("Content-Type", "application/octet-stream")
        .send(&wire::encode_batch_request(batch)[..])
        .unwrap_or_else(|e| panic!("POST /api/v1/sync/batch: {e}"));
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    if status == 200 {
        let answer = wire::decode_batch_response(&body).unwrap_or_else(|e| panic!("{e}"));
        (status, Some(answer), serde_json::Value::Null)
    } else {
        (
            status,
            None,
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }
}

/// A replica of `unit`'s document for `directive`, as the server hands it out.
fn replica_of(app: &TestApp, token: &str, directive: &str, unit: &str) -> Replica {
    let (status, doc) = app.get(
        token,
        &format!("/api/v1/units/{unit}/document?directive={directive}"),
    );
    assert_eq!(status, 200, "{doc}");
    let header: DocHeader =
        serde_json::from_value(doc["header"].clone()).unwrap_or_else(|e| panic!("{e}"));
    Replica::new(header)
}

/// One edit on the first task of `replica`, sealed by `phone`: its request.
fn edited(phone: &Phone, replica: &mut Replica, progress: u8) -> SyncRequest {
    let op = replica
        .doc()
        .set_op(TaskRef::Assigned(0), TaskField::Progress(progress));
    replica
        .edit(phone.actor, op)
        .unwrap_or_else(|e| panic!("{e}"));
    replica.seal(phone.actor, &phone.key);
    replica.request()
}

/// Each answer of a batch: (directive, status, error code).
fn outcomes(answer: &wire::BatchResponse) -> Vec<(String, u16, String)> {
    answer
        .answers
        .iter()
        .map(|a| match &a.result {
            wire::DocResult::Synced(_) => (a.doc.directive.clone(), 200, String::new()),
            wire::DocResult::Refused { status, body } => {
                let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                (
                    a.doc.directive.clone(),
                    *status,
                    json["error"].as_str().unwrap_or_default().to_string(),
                )
            }
        })
        .collect()
}

fn a_hostile_batch_is_refused_or_answered_per_document(db: TestDb) {
    let app = spawn_app(db);
    app.create_user("attt.a", Role::Member, &[(UNIT, false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    publish_second(&app.db);
    let mut phone = app.phone("attt.a", UNIT);
    let mut second = replica_of(&app, &phone.token, SECOND, UNIT);
    let mut other_unit = replica_of(&app, &app.token("vanphong"), FIRST, "cuc-vt");
    let good = edited(&phone, &mut phone.replica.clone(), 10);
    let before = |app: &TestApp| {
        [
            ops_of(app, FIRST, UNIT),
            ops_of(app, SECOND, UNIT),
            ops_of(app, FIRST, "cuc-vt"),
        ]
    };
    let untouched = before(&app);
    let batch = |requests: Vec<SyncRequest>| wire::BatchRequest {
        unit: UNIT.into(),
        requests,
    };

    // Refused whole, nothing written.
    let too_many: Vec<SyncRequest> = (0..=wire::MAX_BATCH_DOCUMENTS)
        .map(|i| {
            let mut r = good.clone();
            r.doc.directive = format!("d{i}");
            r
        })
        .collect();
    let (status, _, body) = post_batch(&app, &phone.token, phone.actor, &batch(too_many));
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let (status, _, body) = post_batch(
        &app,
        &phone.token,
        phone.actor,
        &batch(vec![good.clone(), good.clone()]),
    );
    assert_eq!(status, 400, "a document twice: {body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("twice"))
    );
    let (status, _, _) = post_batch(
        &app,
        &phone.token,
        phone.actor,
        &wire::BatchRequest {
            unit: "cuc-vt".into(),
            requests: vec![],
        },
    );
    assert_eq!(status, 403, "another unit's listing");
    assert_eq!(before(&app), untouched);

    // Answered per document: the good ones taken, the others refused as the single route
    // refuses them, and left as they were.
    let mut forged = edited(&phone, &mut second, 20);
    if let Some(c) = forged.changes.first_mut() {
        c.ops = vec![
            second
                .doc()
                .set_op(TaskRef::Assigned(0), TaskField::Progress(99)),
        ];
    }
    let mut foreign = other_unit.request();
    let op = other_unit
        .doc()
        .set_op(TaskRef::Assigned(0), TaskField::Status(Status::Done));
    other_unit
        .edit(phone.actor, op)
        .unwrap_or_else(|e| panic!("{e}"));
    other_unit.seal(phone.actor, &phone.key);
    foreign.changes = other_unit.request().changes;
    // Another unit's document in the unit's batch: refused whole, nothing written.
    let (status, _, body) = post_batch(
        &app,
        &phone.token,
        phone.actor,
        &batch(vec![good.clone(), foreign]),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("cuc-vt"))
    );
    assert_eq!(before(&app), untouched);

    let (status, answer, body) = post_batch(
        &app,
        &phone.token,
        phone.actor,
        &batch(vec![good.clone(), forged]),
    );
    assert_eq!(status, 200, "{body}");
    let answer = answer.unwrap_or_else(|| panic!("an answer"));
    assert_eq!(
        outcomes(&answer),
        [
            (FIRST.to_string(), 200, String::new()),
            (SECOND.to_string(), 403, "bad_signature".to_string()),
        ]
    );
    assert_eq!(
        before(&app),
        [untouched[0] + 1, untouched[1], untouched[2]],
        "only the good document took its change"
    );
    // The good answer is what the single route answers: the phone applies it.
    if let wire::DocResult::Synced(bytes) = &answer.answers[0].result {
        let resp = wire::decode_response(bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut replica = phone.replica.clone();
        replica.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    }
    // The unit's documents listed, with their fingerprints.
    let listed: std::collections::BTreeMap<&str, u64> = answer
        .documents
        .iter()
        .map(|d| (d.directive.as_str(), d.fingerprint))
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed.get(FIRST),
        Some(&phone.replica.doc().header().fingerprint())
    );
    assert_eq!(
        listed.get(SECOND),
        Some(&second.doc().header().fingerprint())
    );

    // Sent again: taken once (idempotent, as the single route).
    let (status, _, _) = post_batch(&app, &phone.token, phone.actor, &batch(vec![good.clone()]));
    assert_eq!(status, 200);
    assert_eq!(ops_of(&app, FIRST, UNIT), untouched[0] + 1);

    // A member's phone setting the Ministry Office's deadline in 07, beside a good edit of
    // 05: what the caller's role never makes refuses the whole batch, as the single route
    // refuses the sync; nothing of it written.
    let mut office_op = replica_of(&app, &phone.token, SECOND, UNIT);
    let deadline = office_op
        .doc()
        .set_op(TaskRef::Assigned(0), TaskField::Deadline(None));
    office_op
        .edit(phone.actor, deadline)
        .unwrap_or_else(|e| panic!("{e}"));
    office_op.seal(phone.actor, &phone.key);
    let mut next = phone.replica.clone();
    // Its first change is the one already taken (sent again), its second is new.
    edited(&phone, &mut next, 10);
    let both = edited(&phone, &mut next, 11);
    let (status, _, body) = post_batch(
        &app,
        &phone.token,
        phone.actor,
        &batch(vec![both.clone(), office_op.request()]),
    );
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    assert_eq!(ops_of(&app, FIRST, UNIT), untouched[0] + 1);
    assert_eq!(ops_of(&app, SECOND, UNIT), untouched[1]);
    // Without it, the 05 edit is taken.
    let (status, answer, _) = post_batch(&app, &phone.token, phone.actor, &batch(vec![both]));
    assert_eq!(status, 200);
    let answer = answer.unwrap_or_else(|| panic!("an answer"));
    assert_eq!(outcomes(&answer), [(FIRST.to_string(), 200, String::new())]);
    assert_eq!(ops_of(&app, FIRST, UNIT), untouched[0] + 2);

    // Too many changes in all, though each document's are few: refused whole.
    let mut many = phone.replica.clone();
    for i in 0..=wire::MAX_REQUEST_CHANGES {
        let op = many
            .doc()
            .set_op(TaskRef::Assigned(0), TaskField::Progress((i % 100) as u8));
        many.edit(phone.actor, op).unwrap_or_else(|e| panic!("{e}"));
        many.seal(phone.actor, &phone.key);
    }
    let (status, _, _) = post_batch(
        &app,
        &phone.token,
        phone.actor,
        &batch(vec![many.request()]),
    );
    assert_eq!(status, 400);
    assert_eq!(ops_of(&app, FIRST, UNIT), untouched[0] + 2);
    phone.sync(&app);
}

#[test]
fn a_hostile_batch_is_refused_or_answered_per_document_sqlite() {
    a_hostile_batch_is_refused_or_answered_per_document(TestDb::sqlite());
}

#[test]
fn a_hostile_batch_is_refused_or_answered_per_document_postgres() {
    if let Some(db) = TestDb::postgres() {
        a_hostile_batch_is_refused_or_answered_per_document(db);
    }
}

fn copy_store(from: &std::path::Path, to: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let src = std::path::PathBuf::from(format!("{}{suffix}", from.display()));
        let dst = std::path::PathBuf::from(format!("{}{suffix}", to.display()));
        let _ = std::fs::remove_file(&dst);
        if src.exists() {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}

/// A phone following two directives restored from a backup: each document's new operations
/// reuse numbers the server holds; the batch answers `reused_sequence` for each, and the phone
/// recovers each document under a new device of its own, losing nothing in either.
#[test]
fn a_restored_phone_recovers_each_directive_and_loses_nothing() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("attt.a", Role::Member, &[(UNIT, false)]);
    app.create_user("attt.b", Role::Member, &[(UNIT, false)]);
    publish_second(&app.db);
    let path = phone_path("restored");
    let backup = path.with_file_name("backup.db");
    let c = open(&path, Counted::new(&app.base));
    ok(c.login(&app.base, "attt.a", PASSWORD, "phone", None));
    assert_eq!(ok(c.directives()).len(), 2);
    let first = ok(c.tasks());
    ok(c.select_directive(SECOND));
    let second = ok(c.tasks());
    ok(c.select_directive(FIRST));
    ok(c.sync());
    drop(c);
    copy_store(&path, &backup);

    // After the backup: an edit in each, synced.
    let c = open(&path, Counted::new(&app.base));
    ok(c.set_notes(&first[0].id, "05 sau sao lưu"));
    ok(c.select_directive(SECOND));
    ok(c.set_notes(&second[0].id, "07 sau sao lưu"));
    ok(c.sync());
    drop(c);

    // Restored, and edited again in each: the same numbers, other content.
    copy_store(&backup, &path);
    let c = open(&path, Counted::new(&app.base));
    assert_eq!(c.active_directive().as_deref(), Some(FIRST), "the backup's");
    ok(c.set_notes(&first[1].id, "05 sau khôi phục"));
    ok(c.select_directive(SECOND));
    ok(c.set_notes(&second[1].id, "07 sau khôi phục"));
    ok(c.sync());
    assert_eq!(c.unsynced(), 0);
    drop(c);

    // Reopened, each document under its own new device; another phone sees all four edits.
    let c = open(&path, Counted::new(&app.base));
    ok(c.set_progress(&second[2].id, 5));
    assert_eq!(ok(c.sync()).pushed, 1);
    let b = open(&phone_path("restored-b"), Counted::new(&app.base));
    ok(b.login(&app.base, "attt.b", PASSWORD, "phone b", None));
    ok(b.sync());
    let notes = |directive: &str, id: &str| {
        ok(b.select_directive(directive));
        ok(b.tasks())
            .into_iter()
            .find(|t| t.id == id)
            .map(|t| t.notes)
            .unwrap_or_default()
    };
    assert_eq!(notes(FIRST, &first[0].id), ["05 sau sao lưu"]);
    assert_eq!(notes(FIRST, &first[1].id), ["05 sau khôi phục"]);
    assert_eq!(notes(SECOND, &second[0].id), ["07 sau sao lưu"]);
    assert_eq!(notes(SECOND, &second[1].id), ["07 sau khôi phục"]);
    assert_eq!(ops_of(&app, FIRST, UNIT), 2);
    assert_eq!(ops_of(&app, SECOND, UNIT), 3);
}

/// Store a directive made of `text` as publishing does: its slug.
fn store_text(db: &TestDb, text: String) -> String {
    with_db(db, async move |conn| {
        let catalogue = Catalogue::bundled().unwrap_or_else(|e| panic!("catalogue: {e}"));
        let d = import(text.as_bytes(), &catalogue, None)
            .unwrap_or_else(|e| panic!("the directive: {e}"));
        let stored = taskforce_server::db::seed::store_directive(&conn, &d, &catalogue)
            .await
            .unwrap_or_else(|e| panic!("store: {e}"));
        assert!(stored, "a new directive");
        d.slug()
    })
}

/// Store a directive made from the 07/CT-BTTTT fixture, numbered `number` instead: its slug.
fn store_variant(db: &TestDb, number: u32) -> String {
    let slug = store_text(
        db,
        TIN_GIA.replace("07/CT-BTTTT", &format!("{number}/CT-BTTTT")),
    );
    assert_eq!(slug, format!("{number}-ct-btttt"));
    slug
}

/// A unit with more documents than one batch may name (`wire::MAX_BATCH_DOCUMENTS`): a sync
/// sends them in several batches, and every document's queued edits land, again and again.
fn a_unit_with_more_documents_than_a_batch_holds_syncs_them_all(db: TestDb) {
    let app = spawn_app(db);
    app.create_user("attt.a", Role::Member, &[(UNIT, false)]);
    let many: Vec<String> = (100..170).map(|n| store_variant(&app.db, n)).collect();
    let net = Counted::new(&app.base);
    let a = open(&phone_path("many"), net.clone());
    ok(a.login(&app.base, "attt.a", PASSWORD, "phone", None));
    assert_eq!(ok(a.directives()).len(), 71, "05 and the seventy");
    const { assert!(71 > wire::MAX_BATCH_DOCUMENTS) };

    let edit = |directive: &str, progress: u8| {
        ok(a.select_directive(directive));
        let task = ok(a.tasks())[0].id.clone();
        ok(a.set_progress(&task, progress));
    };
    let (early, late) = (&many[0], &many[69]);
    edit(late, 40);
    edit(early, 10);
    edit(FIRST, 20);
    net.take();
    assert_eq!(ok(a.sync()).pushed, 3);
    let (_, singles, batches) = net.take();
    assert_eq!((singles, batches), (0, 2), "two batches of at most 64");
    assert_eq!(a.unsynced(), 0);
    assert_eq!(
        ops_of(&app, late, UNIT),
        1,
        "the late document's edit landed"
    );
    assert_eq!(ops_of(&app, early, UNIT), 1);
    assert_eq!(ops_of(&app, FIRST, UNIT), 1);

    edit(late, 50);
    assert_eq!(ok(a.sync()).pushed, 1);
    assert_eq!(ops_of(&app, late, UNIT), 2, "and again");
}

#[test]
fn a_unit_with_more_documents_than_a_batch_holds_syncs_them_all_sqlite() {
    a_unit_with_more_documents_than_a_batch_holds_syncs_them_all(TestDb::sqlite());
}

#[test]
fn a_unit_with_more_documents_than_a_batch_holds_syncs_them_all_postgres() {
    if let Some(db) = TestDb::postgres() {
        a_unit_with_more_documents_than_a_batch_holds_syncs_them_all(db);
    }
}

/// A unit no published directive names (a ministry, Bộ Khoa học và Công nghệ): its phone signs in following
/// nothing, syncs (the listing only), and follows the first directive that names the unit at
/// the next sync, edits it, and keeps it all across a restart.
fn a_phone_of_a_unit_without_documents_signs_in_and_follows_one_published_later(db: TestDb) {
    const NONE_YET: &str = "bo-khcn";
    let app = spawn_app(db);
    app.create_user("khcn.a", Role::Member, &[(NONE_YET, false)]);
    let net = Counted::new(&app.base);
    let path = phone_path("none-yet");
    let a = open(&path, net.clone());
    ok(a.login(&app.base, "khcn.a", PASSWORD, "phone", None));
    assert_eq!(a.unit().as_deref(), Some(NONE_YET));
    assert!(ok(a.directives()).is_empty());
    assert!(ok(a.tasks()).is_empty());
    assert_eq!(a.active_directive(), None);
    assert_eq!(a.unsynced(), 0);
    net.take();
    let report = ok(a.sync());
    assert_eq!(
        (report.pushed, report.pulled),
        (0, 0),
        "nothing to push or pull"
    );
    assert_eq!(net.take(), (0, 0, 1), "the listing");

    // Restarted before any directive names the unit: still signed in, following nothing.
    drop(a);
    let a = open(&path, net.clone());
    assert!(a.is_logged_in());
    assert!(ok(a.directives()).is_empty());
    assert_eq!(a.active_directive(), None);

    // A Government directive (a ministry's gives tasks to its own units only) giving the
    // unit a task.
    let later = store_text(
        &app.db,
        CHUYEN_DOI_SO.replace(
            "2. Các doanh nghiệp bưu chính bảo đảm",
            "2. Bộ Khoa học và Công nghệ bảo đảm",
        ),
    );
    assert_eq!(
        app.query_i64(&format!(
            "SELECT COUNT(*) FROM documents WHERE directive_id = '{later}' AND unit_id = '{NONE_YET}'"
        )),
        1,
        "the directive names the unit"
    );
    ok(a.sync());
    let ids: Vec<String> = ok(a.directives()).into_iter().map(|d| d.id).collect();
    assert_eq!(ids, std::slice::from_ref(&later));
    assert_eq!(a.active_directive().as_deref(), Some(later.as_str()));
    let tasks = ok(a.tasks());
    assert!(!tasks.is_empty());
    ok(a.set_progress(&tasks[0].id, 35));
    assert_eq!(ok(a.sync()).pushed, 1);
    assert_eq!(ops_of(&app, &later, NONE_YET), 1);

    drop(a);
    let a = open(&path, net);
    assert_eq!(a.active_directive().as_deref(), Some(later.as_str()));
    assert_eq!(ok(a.tasks())[0].progress, 35);
}

#[test]
fn a_phone_of_a_unit_without_documents_signs_in_and_follows_one_published_later_sqlite() {
    a_phone_of_a_unit_without_documents_signs_in_and_follows_one_published_later(TestDb::sqlite());
}

#[test]
fn a_phone_of_a_unit_without_documents_signs_in_and_follows_one_published_later_postgres() {
    if let Some(db) = TestDb::postgres() {
        a_phone_of_a_unit_without_documents_signs_in_and_follows_one_published_later(db);
    }
}
