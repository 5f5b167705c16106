//! Back-pressure on the sync writer (issue 18, point 6), on a real SQLite file and a real
//! PostgreSQL database. The writer is stalled for real — another connection holds SQLite's
//! write lock, or PostgreSQL's document rows — and handed syncs one at a time until what it
//! holds is known exactly: one sync in the batch it is writing, then its queue full. Every
//! sync past that is refused at once with 503 `overloaded` and a `Retry-After` (before its
//! body is read), nothing of a refused sync is stored, every accepted one is, and the refused
//! ones go through when sent again. The tests wait for conditions (the `/metrics` gauges and
//! counters, the answers), never for a guessed time.

mod common;

use std::{
    io::{Read, Write},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use common::{Phone, TestApp, TestDb};
use sea_orm::sqlx;
use taskforce_core::{
    client::Client,
    doc::{Op, Status, TaskRef},
};
use taskforce_server::{auth::Role, config::Config};

/// Syncs that may wait for the writer in these tests.
const QUEUE: usize = 4;
/// Phones syncing while the writer is stalled: far more than it holds.
const PHONES: usize = 32;

/// How long a test may keep the writer stalled. SQLite's stalled transaction waits for the
/// write lock at most the busy timeout (sqlx's default, 5 s: the server sets none), then
/// fails: the budget stays under it, and a test that cannot finish its stall within it fails
/// saying so rather than asserting on a stall that ended. PostgreSQL waits for a row lock
/// without limit: a generous budget, for a loaded machine.
fn stall_budget(db: &TestDb) -> Duration {
    match db {
        TestDb::Sqlite { .. } => Duration::from_secs(4),
        TestDb::Postgres { .. } => Duration::from_secs(60),
    }
}

/// Another connection holding what the writer's transaction needs, as another program's long
/// transaction would: SQLite's write lock (`BEGIN IMMEDIATE`), or every document row on
/// PostgreSQL (`SELECT … FOR UPDATE`). Released (rolled back, nothing changed) when dropped,
/// and at the latest after `hold_at_most`, whatever the test does.
struct WriteLock {
    release: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Take the write lock with `begin` on a connection of its own, say so, and hold it until
/// released (or `at_most`), then roll back.
async fn hold<C>(
    url: &str,
    begin: &'static str,
    held: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
    at_most: Duration,
) where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut c = C::connect(url)
        .await
        .unwrap_or_else(|e| panic!("lock connection: {e}"));
    sqlx::raw_sql(begin)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{begin}: {e}"));
    let _ = held.send(());
    let _ = release.recv_timeout(at_most);
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("ROLLBACK: {e}"));
}

impl WriteLock {
    fn take(url: &str, hold_at_most: Duration) -> Self {
        let url = url.to_string();
        let (held_tx, held_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            common::runtime().block_on(async move {
                if url.starts_with("sqlite:") {
                    hold::<sqlx::SqliteConnection>(
                        &url,
                        "BEGIN IMMEDIATE",
                        held_tx,
                        release_rx,
                        hold_at_most,
                    )
                    .await;
                } else {
                    hold::<sqlx::PgConnection>(
                        &url,
                        "BEGIN; SELECT 1 FROM documents FOR UPDATE",
                        held_tx,
                        release_rx,
                        hold_at_most,
                    )
                    .await;
                }
            });
        });
        held_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the write lock was not taken: {e}"));
        Self {
            release: Some(release_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One sync's answer: status, `Retry-After` and the body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    /// The answer to a sync refused because the writer's queue is full: 503, a numeric
    /// `Retry-After` in seconds, `overloaded` in Vietnamese and English.
    fn assert_overloaded(&self, what: &str) {
        let json: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        assert_eq!(self.status, 503, "{what}: {json}");
        let retry = self
            .retry_after
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok());
        assert!(
            retry.is_some_and(|s| s >= 1),
            "{what}: a numeric Retry-After in seconds: {:?}",
            self.retry_after
        );
        assert_eq!(json["error"], "overloaded", "{what}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("quá tải") && message.contains("overloaded"),
            "{what}: Vietnamese and English: {message}"
        );
    }

    fn code(&self) -> String {
        let json: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        json["error"].as_str().unwrap_or_default().to_string()
    }
}

fn post_sync(base: &str, token: &str, actor: u32, body: &[u8]) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent
        .post(&format!("{base}/api/v1/sync"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("X-Taskforce-Device", &actor.to_string())
        .header("Content-Type", "application/octet-stream")
        .send(body)
        .unwrap_or_else(|e| panic!("POST /api/v1/sync: {e}"));
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Answer {
        status: resp.status().as_u16(),
        retry_after,
        body: resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default(),
    }
}

/// A sync over a bare connection whose headers declare `declared` bytes of body while only
/// `sent` follow, the connection left open: a server that read the body before answering
/// would wait for the rest, and no answer would come before `deadline`.
fn post_sync_declaring(
    base: &str,
    token: &str,
    actor: u32,
    declared: usize,
    sent: &[u8],
    deadline: Instant,
) -> Answer {
    let addr = base.trim_start_matches("http://");
    let mut stream =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let wait = deadline.saturating_duration_since(Instant::now());
    stream
        .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "POST /api/v1/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         X-Taskforce-Device: {actor}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(sent))
        .and_then(|()| stream.flush())
        .unwrap_or_else(|e| panic!("send: {e}"));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!(
                "the connection closed without an answer: {}",
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "no answer within the stall ({e}): the server waited for a body it should not \
                 have read"
            ),
        }
    };
    let head = String::from_utf8_lossy(&got[..header_end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("an error answer of known length: {head}"));
    while got.len() < header_end + length {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the answer's body: {e}"),
        }
    }
    Answer {
        status,
        retry_after: header("retry-after"),
        body: got[header_end..].to_vec(),
    }
}

/// A sync to send: the phone's session and its request body.
#[derive(Clone)]
struct Outgoing {
    token: String,
    actor: u32,
    body: Vec<u8>,
}

impl Outgoing {
    /// The phone's next sync.
    fn of(p: &mut Phone) -> Self {
        Self {
            token: p.token.clone(),
            actor: p.actor,
            body: p.request_bytes(),
        }
    }

    /// Sent on a thread of its own; `answered` counts it once answered.
    fn send(&self, base: &str, answered: Option<Arc<AtomicUsize>>) -> thread::JoinHandle<Answer> {
        let (base, s) = (base.to_string(), self.clone());
        thread::spawn(move || {
            let a = post_sync(&base, &s.token, s.actor, &s.body);
            if let Some(n) = answered {
                n.fetch_add(1, Ordering::SeqCst);
            }
            a
        })
    }
}

/// Poll `done` until it holds; past `deadline` the test fails, naming `what`.
fn wait_until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within the stall's budget"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the writer's transaction waits for the lock, where the database shows it: on
/// PostgreSQL a session of the test's database waiting for a lock (the test's own hold
/// theirs). SQLite shows no waiter (`None`).
fn writer_waits_for_the_lock(app: &TestApp) -> Option<bool> {
    match app.db {
        TestDb::Sqlite { .. } => None,
        TestDb::Postgres { .. } => Some(
            app.query_i64(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ) == 1,
        ),
    }
}

/// The writer stalled for real, holding syncs known one by one: the first in the batch it
/// is writing (waiting for the lock), every next one in its queue.
struct Stall {
    lock: WriteLock,
    /// When the stall must end: `stall_budget` after the lock was taken.
    deadline: Instant,
    held: Vec<thread::JoinHandle<Answer>>,
}

impl Stall {
    /// Take the write lock and hand the writer `syncs` one at a time, each once the one before
    /// is where it stays while the lock is held: the first taken into the writer's batch (no
    /// sync waits), each next waiting in the queue (the `taskforce_sync_queued` gauge counts
    /// it: with the writer stalled on the batch, one more waits exactly when the one sent has
    /// joined the queue). So what the writer holds is known exactly, however loaded the
    /// machine. On PostgreSQL the first is also seen waiting for the lock; on SQLite, where
    /// no waiter shows, a first sync still short of the queue when the second arrives could
    /// join its batch, and then the queue would never fill: the test fails, it does not pass.
    fn with(app: &TestApp, syncs: &[Outgoing]) -> Self {
        let budget = stall_budget(&app.db);
        let requests = app.metric("taskforce_sync_requests_total");
        assert_eq!(app.metric("taskforce_sync_queued"), 0, "nothing waits");
        let lock = WriteLock::take(app.db.url(), budget + Duration::from_secs(5));
        let deadline = Instant::now() + budget;
        let mut held = Vec::new();
        for (k, s) in syncs.iter().enumerate() {
            held.push(s.send(&app.base, None));
            let k = k as u64;
            wait_until(deadline, &format!("sync {k} in the stalled writer"), || {
                app.metric("taskforce_sync_requests_total") > requests + k
                    && app.metric("taskforce_sync_queued") == k
                    && (k > 0 || writer_waits_for_the_lock(app).unwrap_or(true))
            });
        }
        Self {
            lock,
            deadline,
            held,
        }
    }

    /// Release the lock: the answers of the syncs the writer held, in the order sent.
    fn release(self) -> Vec<Answer> {
        drop(self.lock);
        self.held
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| panic!("a sync thread panicked"))
            })
            .collect()
    }
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.query_i64(sql)
}

fn stored_changes(app: &TestApp, actor: u32) -> i64 {
    count(
        app,
        &format!("SELECT COUNT(*) FROM changes WHERE actor_id = {actor}"),
    )
}

fn an_overloaded_writer_refuses_with_503_and_loses_nothing(db: TestDb) {
    // Many phones of one member: more devices than a user may hold by default.
    let app = common::spawn_app_with(db, |c| {
        c.writer_queue = QUEUE;
        c.devices_per_user = 1000;
    });
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let mut phones: Vec<Phone> = (0..PHONES)
        .map(|_| app.phone("cucvt.a", "cuc-vt"))
        .collect();
    let tasks = u32::try_from(phones[0].replica.doc().header().tasks.len()).unwrap_or(1);
    // The document is loaded once before the stall, as on a server that has been running.
    phones[0].status(0, Status::InProgress);
    phones[0].sync(&app.http);
    let syncs: Vec<Outgoing> = phones
        .iter_mut()
        .enumerate()
        .map(|(i, p)| {
            p.status(u32::try_from(i).unwrap_or(0) % tasks, Status::Done);
            Outgoing::of(p)
        })
        .collect();
    // The changes each phone has stored so far (the warm-up's).
    let before: Vec<i64> = phones
        .iter()
        .map(|p| stored_changes(&app, p.actor))
        .collect();
    let overloaded = app.metric("taskforce_sync_overloaded_total");

    // One sync in the batch being written, then the queue full behind it.
    let (held, late) = syncs.split_at(QUEUE + 1);
    let stall = Stall::with(&app, held);
    // Every other sync at once: each is answered while the writer is still stalled. The
    // stall lasts until they all are, so none can slip into a queue the writer has drained.
    let started = Instant::now();
    let answered = Arc::new(AtomicUsize::new(0));
    let senders: Vec<thread::JoinHandle<Answer>> = late
        .iter()
        .map(|s| s.send(&app.base, Some(answered.clone())))
        .collect();
    wait_until(
        stall.deadline,
        "every sync past the full queue answered while the writer is stalled",
        || {
            // A queue taking more than its bound fails here at once, not at the deadline.
            let queued = app.metric("taskforce_sync_queued");
            assert!(queued <= QUEUE as u64, "{queued} syncs queued");
            answered.load(Ordering::SeqCst) == late.len()
        },
    );
    let refused_in = started.elapsed();
    assert_eq!(
        app.metric("taskforce_sync_queued"),
        QUEUE as u64,
        "the queue stayed full: the writer took nothing more while stalled"
    );
    let mut answers = stall.release();
    answers.extend(senders.into_iter().map(|t| {
        t.join()
            .unwrap_or_else(|_| panic!("a sync thread panicked"))
    }));
    eprintln!(
        "{} syncs past a full queue refused in {:.3} s",
        late.len(),
        refused_in.as_secs_f64()
    );

    // Exactly what the writer held is taken — the batch being written and a full queue — and
    // everything else is refused: a larger queue, or none, would take more.
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(
        statuses[..=QUEUE].iter().all(|s| *s == 200),
        "the sync being written and the {QUEUE} waiting are taken (a stalled write must not \
         fail): {statuses:?}"
    );
    for (i, a) in answers.iter().enumerate().skip(QUEUE + 1) {
        a.assert_overloaded(&format!("phone {i}, past the full queue"));
    }
    let (accepted, refused) = (0..=QUEUE, QUEUE + 1..PHONES);
    assert_eq!(
        app.metric("taskforce_sync_overloaded_total") - overloaded,
        refused.len() as u64
    );
    assert_eq!(app.metric("taskforce_sync_queued"), 0, "all written");

    // Every accepted sync is in the op log; nothing of a refused one is.
    for i in accepted {
        assert_eq!(
            stored_changes(&app, phones[i].actor),
            before[i] + 1,
            "phone {i}"
        );
    }
    for i in refused.clone() {
        assert_eq!(
            stored_changes(&app, phones[i].actor),
            before[i],
            "phone {i}"
        );
    }
    // Sent again, the refused syncs go through.
    for i in refused {
        let s = &syncs[i];
        let a = post_sync(&app.base, &s.token, s.actor, &s.body);
        assert_eq!(a.status, 200, "phone {i} sent again");
        assert_eq!(
            stored_changes(&app, phones[i].actor),
            before[i] + 1,
            "phone {i}"
        );
    }
    // Every operation once: the warm-up's and one per phone; every phone converges.
    for p in &mut phones {
        p.sync(&app.http);
    }
    let token = app.token("vanphong");
    assert_eq!(
        app.document(&token, "cuc-vt")["ops"].as_i64(),
        Some(PHONES as i64 + 1)
    );
    let first = phones[0].canonical();
    for p in &phones {
        assert_eq!(p.canonical(), first);
    }
}

/// A sync that finds the writer's queue full is refused before its body is read or its
/// signatures checked (`GroupWriter::refuse_if_full`, first in the route): a body that is no
/// sync message, one cut short on a connection left open, and one declared past the body
/// limit all get 503 `overloaded` — not 400, not a wait for the rest, not 413 — and no body
/// is counted as read. With room in the queue the same bodies are refused for what they are.
fn a_sync_finding_the_queue_full_is_refused_before_its_body_is_read(db: TestDb) {
    let app = common::spawn_app_with(db, |c| c.writer_queue = 1);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    let mut phones: Vec<Phone> = (0..3).map(|_| app.phone("cucvt.a", "cuc-vt")).collect();
    phones[0].status(0, Status::InProgress);
    phones[0].sync(&app.http);
    let held: Vec<Outgoing> = phones[..2]
        .iter_mut()
        .map(|p| {
            p.status(1, Status::Done);
            Outgoing::of(p)
        })
        .collect();
    let p = &phones[2];
    let limit = Config::default().sync_body_limit;
    let garbage = b"not a sync request".as_slice();

    let stall = Stall::with(&app, &held);
    let (requests, overloaded) = (
        app.metric("taskforce_sync_requests_total"),
        app.metric("taskforce_sync_overloaded_total"),
    );
    post_sync(&app.base, &p.token, p.actor, garbage).assert_overloaded("a body that is no sync");
    post_sync_declaring(
        &app.base,
        &p.token,
        p.actor,
        1024,
        &garbage[..8],
        stall.deadline,
    )
    .assert_overloaded("a body cut short, the connection open");
    post_sync_declaring(&app.base, &p.token, p.actor, limit + 1, &[], stall.deadline)
        .assert_overloaded("a body declared past the limit");
    assert_eq!(
        app.metric("taskforce_sync_requests_total"),
        requests,
        "no body was read"
    );
    assert_eq!(
        app.metric("taskforce_sync_overloaded_total") - overloaded,
        3
    );
    assert_eq!(
        app.metric("taskforce_sync_queued"),
        1,
        "the queue still full"
    );
    for (i, a) in stall.release().iter().enumerate() {
        assert_eq!(a.status, 200, "held sync {i}");
    }

    // With room in the queue: refused for what they are.
    let a = post_sync(&app.base, &p.token, p.actor, garbage);
    assert_eq!((a.status, a.code().as_str()), (400, "bad_request"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let a = post_sync_declaring(&app.base, &p.token, p.actor, limit + 1, &[], deadline);
    assert_eq!((a.status, a.code().as_str()), (413, "too_large"));
}

/// Found by the overload test (fails on SQLite on the code before): the writer's transaction
/// began deferred, read its documents, then wrote. SQLite refuses that upgrade at once while
/// another connection holds the write lock — the busy timeout applies only to a transaction
/// that begins as a write (`BEGIN IMMEDIATE`) — so every sync of the batch got 500 whenever
/// anything else was writing: a login's token, a device's registration, `taskforce user add`.
/// A sync waits for the lock instead (up to the busy timeout), as on PostgreSQL.
fn a_sync_waits_for_another_connections_write(db: TestDb) {
    let app = common::spawn_app_with_members(db);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    a.status(0, Status::InProgress);
    a.sync(&app.http);
    a.status(1, Status::Done);
    let lock = WriteLock::take(app.db.url(), Duration::from_secs(30));
    let release = thread::spawn(move || {
        thread::sleep(Duration::from_millis(500));
        let releasing = Instant::now();
        drop(lock);
        releasing
    });
    let result = a.try_sync(&app.http);
    let answered = Instant::now();
    let released = release
        .join()
        .unwrap_or_else(|_| panic!("the release thread panicked"));
    if let Err((status, body)) = result {
        panic!("a sync must wait for another connection's write, not fail: {status} {body}");
    }
    assert!(
        answered > released,
        "it was answered once the lock was released, not before"
    );
    let token = app.token("vanphong");
    assert_eq!(app.document(&token, "cuc-vt")["ops"].as_i64(), Some(2));
}

/// The phone's client takes a 503 `overloaded` for a network error: it keeps its edits and
/// retries, and the sync goes through once the writer has room.
fn the_phone_retries_an_overloaded_server(db: TestDb) {
    let app = common::spawn_app_with(db, |c| c.writer_queue = 1);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let mut fillers: Vec<Phone> = (0..2).map(|_| app.phone("cucvt.a", "cuc-vt")).collect();
    fillers[0].status(0, Status::InProgress);
    fillers[0].sync(&app.http);
    let mut client = Client::in_memory().unwrap_or_else(|e| panic!("{e}"));
    client.set_retry_policy(8, Duration::from_millis(250));
    client
        .login(&app.base, "cucvt.a", common::PASSWORD, "phone", None)
        .unwrap_or_else(|e| panic!("login: {e}"));
    let task = client.tasks().unwrap_or_else(|e| panic!("{e}"))[0]
        .id
        .clone();
    client
        .set_status(&task, "done")
        .unwrap_or_else(|e| panic!("{e}"));
    let held: Vec<Outgoing> = fillers
        .iter_mut()
        .map(|p| {
            p.status(1, Status::Done);
            Outgoing::of(p)
        })
        .collect();

    // One sync in the stalled batch, one waiting: the queue of one is full.
    let overloaded = app.metric("taskforce_sync_overloaded_total");
    let stall = Stall::with(&app, &held);
    let client = &client;
    let (report, fill) = thread::scope(|s| {
        let sync = s.spawn(move || client.sync());
        // The writer has room again once the phone has been refused.
        wait_until(stall.deadline, "the phone's sync refused", || {
            app.metric("taskforce_sync_overloaded_total") > overloaded
        });
        let fill = stall.release();
        let report = sync
            .join()
            .unwrap_or_else(|_| panic!("the phone's sync panicked"));
        (report, fill)
    });
    let report = report.unwrap_or_else(|e| panic!("sync: {e}"));
    assert!(
        report.attempts > 1,
        "refused while the writer was stalled, then retried: {report:?}"
    );
    assert_eq!(report.pushed, 1);
    assert_eq!(client.unsynced(), 0);
    for (i, a) in fill.iter().enumerate() {
        assert_eq!(a.status, 200, "filler {i}");
    }
    let token = app.token("vanphong");
    assert_eq!(app.document(&token, "cuc-vt")["ops"].as_i64(), Some(4));
}

/// A queue of no sync at all would refuse every sync, and tokio's channel cannot be made
/// with none: `writer_queue = 0` is taken as one.
fn a_queue_of_zero_is_a_queue_of_one(db: TestDb) {
    let app = common::spawn_app_with(db, |c| c.writer_queue = 0);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    for k in 0..3 {
        a.status(k, Status::Done);
        a.sync(&app.http);
    }
    assert_eq!(app.document(&a.token, "cuc-vt")["ops"].as_i64(), Some(3));
}

/// With a queue of one sync and a shed document (its snapshots rewritten by the compactor
/// and handed to the writer), syncs sent one after another are never refused, the snapshot is
/// stored (it waits for the writer, it is not refused nor dropped), and the snapshot with its
/// tail is the phone's state. What this does not show: that a snapshot waiting for a busy
/// writer leaves the syncs' queue alone — one sync at a time never finds the writer busy, and
/// from outside the server a waiting snapshot cannot be seen to arrange it.
fn syncs_one_after_another_are_not_refused_while_the_compactor_stores_snapshots(db: TestDb) {
    let app = common::spawn_app_with(db, |c| {
        c.writer_queue = 1;
        // Shed at once: snapshots are rewritten by the compactor (decision 25).
        c.doc_whole_kb = 0;
    });
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    let mut a = app.phone("cucvt.a", "cuc-vt");
    let tasks = u32::try_from(a.replica.doc().header().tasks.len()).unwrap_or(1);
    let tail = u32::try_from(taskforce_server::docstore::SNAPSHOT_MIN_TAIL).unwrap_or(u32::MAX);
    let mut k = 0u32;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Small syncs, one after another, until the compactor has stored a snapshot and a few
    // more syncs followed it.
    let mut after_snapshot = 0;
    while after_snapshot < 5 {
        assert!(
            Instant::now() < deadline,
            "no snapshot stored after {k} operations"
        );
        for _ in 0..(tail / 8).max(1) {
            a.status(k % tasks, Status::ALL[(k % 4) as usize]);
            k += 1;
        }
        a.edit(Op::Comment {
            task: TaskRef::Assigned(k % tasks),
            text: format!("Ghi chú {k}"),
            at: i64::from(k),
        });
        k += 1;
        if let Err((status, body)) = a.try_sync(&app.http) {
            panic!("a sync alone refused: {status} {body}");
        }
        if app.metric("taskforce_snapshots_stored_total") > 0 {
            after_snapshot += 1;
        }
    }
    assert_eq!(app.metric("taskforce_sync_overloaded_total"), 0);
    // Every operation stored, and the stored snapshot with its tail is the phone's state.
    assert_eq!(
        app.document(&a.token, "cuc-vt")["ops"].as_i64(),
        Some(i64::from(k))
    );
    let mut fresh = app.phone("cucvt.a", "cuc-vt");
    fresh.sync(&app.http);
    assert_eq!(fresh.canonical(), a.canonical());
}

on_every_store!(
    a_queue_of_zero_is_a_queue_of_one,
    a_sync_waits_for_another_connections_write,
    an_overloaded_writer_refuses_with_503_and_loses_nothing,
    a_sync_finding_the_queue_full_is_refused_before_its_body_is_read,
    the_phone_retries_an_overloaded_server,
    syncs_one_after_another_are_not_refused_while_the_compactor_stores_snapshots,
);
