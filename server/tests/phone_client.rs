//! mobile-core's phone client against a real server: two devices offline, a process killed
//! right after offline edits, a response lost after the server stored the operations, and a
//! network that is down.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use common::{PASSWORD, TestApp, TestDb, spawn_app};
use taskforce_core::client::{
    ChangeObserver, Client, ClientError, HttpTransport, Reply, Transport, TransportError,
};
use taskforce_server::auth::Role;

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("taskforce-phone-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir.join("phone.db")
}

fn app() -> TestApp {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("cucvt.b", Role::Member, &[("cuc-vt", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    app
}

fn login(app: &TestApp, path: &std::path::Path, user: &str) -> Client {
    let c = Client::open(path).unwrap_or_else(|e| panic!("open: {e}"));
    c.login(&app.base, user, PASSWORD, "test phone", None)
        .unwrap_or_else(|e| panic!("login: {e}"));
    c
}

struct Counter(AtomicU32);
impl ChangeObserver for Counter {
    fn changed(&self, _what: &str) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn two_devices_offline_then_sync() {
    let app = app();
    let a = login(&app, &temp_path("a"), "cucvt.a");
    let b = login(&app, &temp_path("b"), "cucvt.b");
    let seen = Arc::new(Counter(AtomicU32::new(0)));
    a.add_observer(seen.clone());
    let tasks = a.tasks().unwrap_or_else(|e| panic!("{e}"));
    assert!(tasks.len() >= 5, "Cục Viễn thông has tasks");
    let sms = tasks
        .iter()
        .find(|t| t.clause.as_deref() == Some("II.1-1"))
        .unwrap_or_else(|| panic!("no SMS task"));
    assert!(
        sms.clause_text
            .as_deref()
            .is_some_and(|t| t.contains("nhắn tin"))
    );
    let other = &tasks[0].id;

    // Offline: both edit the SMS task's status; A records a confirmation, B a report.
    a.set_status(&sms.id, "done")
        .unwrap_or_else(|e| panic!("{e}"));
    a.set_progress(other, 40).unwrap_or_else(|e| panic!("{e}"));
    a.record_confirmation(
        "viettel",
        "19009095",
        "2020-02-03",
        "Nguyễn Văn A",
        1_580_700_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    b.set_status(&sms.id, "in_progress")
        .unwrap_or_else(|e| panic!("{e}"));
    b.set_notes(other, "Chờ số liệu")
        .unwrap_or_else(|e| panic!("{e}"));
    b.submit_report(
        "2020-W06",
        "Đã nhắn tin đến 120 triệu thuê bao",
        &[("sms_sent".into(), 120_000_000)],
        1_580_800_000,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        seen.0.load(Ordering::SeqCst) >= 3,
        "the observer hears about edits"
    );
    assert_eq!(a.unsynced(), 3);

    a.sync().unwrap_or_else(|e| panic!("{e}"));
    b.sync().unwrap_or_else(|e| panic!("{e}"));
    let report = a.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.pulled, 3);
    assert_eq!(report.conflicts, 1);
    assert_eq!(a.unsynced(), 0);
    assert_eq!(b.unsynced(), 0);
    assert_eq!(
        a.state_fingerprint().ok(),
        b.state_fingerprint().ok(),
        "both phones hold the same state"
    );
    for c in [&a, &b] {
        let conflicts = c.conflicts().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].task, sms.id);
        assert_eq!(conflicts[0].values, ["in_progress", "done"]);
        assert_eq!(c.confirmations().map(|x| x.len()).ok(), Some(1));
        assert_eq!(c.reports().map(|x| x.len()).ok(), Some(1));
    }
    // The server's progress for the clause moved.
    let token = app.token("vanphong");
    let (status, progress) = app.get(&token, "/api/v1/units/cuc-vt/progress?directive=5-ct-btttt");
    assert_eq!(status, 200);
    let task = progress["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["clause"] == "II.1-1")
        .cloned()
        .unwrap_or_default();
    assert_eq!(task["status"], "in_progress", "{task}");
    assert_eq!(task["conflicted"], true);
    // Resolving on one phone clears it everywhere.
    b.resolve_conflict(&sms.id, "status", "done")
        .unwrap_or_else(|e| panic!("{e}"));
    b.sync().unwrap_or_else(|e| panic!("{e}"));
    a.sync().unwrap_or_else(|e| panic!("{e}"));
    assert!(a.conflicts().is_ok_and(|c| c.is_empty()));
    let (_, progress) = app.get(&token, "/api/v1/units/cuc-vt/progress?directive=5-ct-btttt");
    assert!(
        progress["counts"]["done"].as_u64().is_some_and(|n| n >= 1),
        "{progress}"
    );
    // Bad input is refused with a clear error and changes nothing.
    assert!(matches!(
        a.set_progress(&sms.id, 101),
        Err(ClientError::InvalidInput(_))
    ));
    assert!(matches!(
        a.set_status("a9999", "done"),
        Err(ClientError::InvalidInput(_))
    ));
    assert!(matches!(
        a.set_status(&sms.id, "finished"),
        Err(ClientError::InvalidInput(_))
    ));
    assert_eq!(a.unsynced(), 0);
}

/// Runs only as the child of `edits_survive_sigkill`: edits offline, says so, then waits to
/// be killed.
#[test]
fn child_makes_offline_edits() {
    let Ok(path) = std::env::var("TASKFORCE_CHILD_STORE") else {
        return;
    };
    let c = Client::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
    let tasks = c.tasks().unwrap_or_else(|e| panic!("{e}"));
    for (i, t) in tasks.iter().take(5).enumerate() {
        c.set_progress(&t.id, 10 * (i as u8 + 1))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    c.submit_report("2020-02-04", "báo cáo ngoại tuyến", &[], 1_580_774_400)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("ready");
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn edits_survive_sigkill() {
    let app = app();
    let path = temp_path("kill");
    drop(login(&app, &path, "cucvt.a"));
    let mut child = Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")))
        .args([
            "child_makes_offline_edits",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TASKFORCE_CHILD_STORE", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("ready"));
    assert!(ready, "the child did not finish its edits");
    child.kill().unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    let _ = child.wait();

    let c = Client::open(&path).unwrap_or_else(|e| panic!("reopen: {e}"));
    assert_eq!(
        c.unsynced(),
        6,
        "every edit the killed process made is still queued"
    );
    let report = c.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.pushed, 6);
    let token = app.token("vanphong");
    assert_eq!(
        app.document(&token, "cuc-vt")["ops"],
        6,
        "the edits reached the server"
    );
}

/// HTTP whose sync requests go through `sync` (which sends them with the real transport, or
/// not); everything else goes straight through.
struct Intercepted<F> {
    http: HttpTransport,
    sync: F,
}

impl<F> std::fmt::Debug for Intercepted<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intercepted").finish_non_exhaustive()
    }
}

impl<F> Transport for Intercepted<F>
where
    F: Fn(&HttpTransport, &str, u32, Vec<u8>) -> Result<Reply, TransportError> + Send + Sync,
{
    fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, TransportError> {
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
        (self.sync)(&self.http, token, actor, body)
    }
}

/// HTTP that loses the server's answer once: the server has stored the operations, the phone
/// never hears so.
fn loses_one_answer(base: &str) -> Arc<dyn Transport> {
    let lost = AtomicBool::new(false);
    Arc::new(Intercepted {
        http: HttpTransport::new(base),
        sync: move |http: &HttpTransport, token: &str, actor: u32, body: Vec<u8>| {
            let reply = http.post_sync(token, actor, body)?;
            if !lost.swap(true, Ordering::SeqCst) {
                return Err(TransportError("connection reset".into()));
            }
            Ok(reply)
        },
    })
}

/// `cucvt.a` signed in on a client whose first sync answer is lost.
fn losing_one_answer(
    app: &TestApp,
    store: Box<dyn taskforce_core::store::Store>,
    attempts: u32,
    first_pause: Duration,
) -> Client {
    let mut c =
        Client::with_store(store, Box::new(loses_one_answer)).unwrap_or_else(|e| panic!("{e}"));
    c.set_retry_policy(attempts, first_pause);
    c.login(&app.base, "cucvt.a", PASSWORD, "phone", None)
        .unwrap_or_else(|e| panic!("{e}"));
    c
}

#[test]
fn an_interrupted_sync_loses_and_duplicates_nothing() {
    let app = app();
    let path = temp_path("interrupted");
    let store = taskforce_core::store::SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let c = losing_one_answer(&app, Box::new(store), 1, Duration::from_millis(1));
    let task = c.tasks().unwrap_or_else(|e| panic!("{e}"))[0].id.clone();
    c.set_status(&task, "done")
        .unwrap_or_else(|e| panic!("{e}"));
    c.add_comment(&task, "xong", 1_580_700_000)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(c.sync(), Err(ClientError::Network(_))));
    assert_eq!(c.unsynced(), 2, "unacknowledged, so still queued");
    let token = app.token("vanphong");
    assert_eq!(
        app.document(&token, "cuc-vt")["ops"],
        2,
        "the server stored them"
    );
    c.set_notes(&task, "thêm ghi chú")
        .unwrap_or_else(|e| panic!("{e}"));
    let report = c.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.pushed, 3);
    assert_eq!(c.unsynced(), 0);
    assert_eq!(
        app.document(&token, "cuc-vt")["ops"],
        3,
        "nothing stored twice"
    );
    let b = login(&app, &temp_path("interrupted-b"), "cucvt.b");
    b.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.state_fingerprint().ok(), c.state_fingerprint().ok());
}

/// A lost answer is resent at once (a stale kept-alive connection is the usual cause), not
/// after the retry policy's pause, and is applied once.
#[test]
fn the_first_retry_goes_at_once() {
    let app = app();
    // A pause long enough to tell: a client that waited it fails the bound below.
    let store = taskforce_core::store::MemoryStore::default();
    let c = losing_one_answer(&app, Box::new(store), 3, Duration::from_secs(30));
    let task = c.tasks().unwrap_or_else(|e| panic!("{e}"))[0].id.clone();
    c.set_status(&task, "done")
        .unwrap_or_else(|e| panic!("{e}"));
    let started = std::time::Instant::now();
    let report = c.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((report.attempts, report.pushed), (2, 1));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the first retry must not wait the 30 s pause"
    );
    let token = app.token("vanphong");
    assert_eq!(app.document(&token, "cuc-vt")["ops"], 1, "applied once");
}

#[test]
fn a_network_that_is_down_keeps_the_edits_queued() {
    let app = app();
    let path = temp_path("down");
    drop(login(&app, &path, "cucvt.a"));
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let store = taskforce_core::store::SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let base = app.base.clone();
    let mut c = Client::with_store(
        Box::new(store),
        Box::new(move |_: &str| {
            Arc::new(HttpTransport::new(&format!("http://{dead}"))) as Arc<dyn Transport>
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    c.set_retry_policy(3, Duration::from_millis(10));
    let task = c.tasks().unwrap_or_else(|e| panic!("{e}"))[0].id.clone();
    c.set_status(&task, "blocked")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(c.sync(), Err(ClientError::Network(_))));
    assert_eq!(c.unsynced(), 1);
    drop(c);
    let c = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let report = c.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.pushed, 1);
    let _ = base;
}

/// Issue 18, point 5: a backlog whose one change passed the server's 8 MiB body limit got
/// 413, which the client took for invalid input: the device could never sync again. The
/// client now seals a backlog into changes of at most `CHANGE_BYTES` and sends at most
/// `REQUEST_BYTES` of them a round trip, so a 20 MiB offline backlog reaches the server whole.
#[test]
fn a_twenty_mib_offline_backlog_reaches_the_server_whole() {
    let app = app();
    let c = login(&app, &temp_path("backlog"), "cucvt.a");
    let tasks = c.tasks().unwrap_or_else(|e| panic!("{e}"));
    // Weeks offline rewriting long notes: 60 KB an edit (20,000 three-byte characters).
    let mut bytes = 0usize;
    let mut edits = 0u64;
    while bytes < 20 * 1024 * 1024 {
        let task = &tasks[usize::try_from(edits).unwrap_or(0) % tasks.len()].id;
        let notes = format!("{edits:06}{}", "ệ".repeat(19_994));
        bytes += notes.len();
        c.set_notes(task, &notes).unwrap_or_else(|e| panic!("{e}"));
        edits += 1;
    }
    assert_eq!(c.unsynced(), edits);
    let report = c.sync().unwrap_or_else(|e| panic!("sync: {e}"));
    assert_eq!(report.pushed, edits, "every operation acknowledged");
    assert_eq!(c.unsynced(), 0);
    let token = app.token("vanphong");
    assert_eq!(app.document(&token, "cuc-vt")["ops"], edits);
    let b = login(&app, &temp_path("backlog-b"), "cucvt.b");
    b.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.state_fingerprint().ok(), c.state_fingerprint().ok());
}

/// Issue 18, point 7: `sync` held the client's lock for the whole request (up to its 60 s
/// timeout), so the app's reads and edits froze during a slow sync. Now an edit made while a
/// sync waits on the network goes through at once, and is sent by the next sync.
#[test]
fn edits_go_through_while_a_sync_waits_on_the_network() {
    let app = app();
    let (sent_tx, sent) = std::sync::mpsc::sync_channel(8);
    let (go, go_rx) = std::sync::mpsc::channel();
    let go_rx = std::sync::Mutex::new(Some(go_rx));
    let c = Client::with_store(
        Box::new(taskforce_core::store::MemoryStore::default()),
        Box::new(move |base: &str| {
            let rx = go_rx
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| std::sync::mpsc::channel().1);
            let sent = sent_tx.clone();
            let go = std::sync::Mutex::new(rx);
            // Each sync request waits until the test lets it go.
            Arc::new(Intercepted {
                http: HttpTransport::new(base),
                sync: move |http: &HttpTransport, token: &str, actor: u32, body: Vec<u8>| {
                    let _ = sent.send(());
                    let go = go.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let _ = go.recv_timeout(Duration::from_secs(60));
                    http.post_sync(token, actor, body)
                },
            }) as Arc<dyn Transport>
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    c.login(&app.base, "cucvt.a", PASSWORD, "phone", None)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = Arc::new(c);
    let tasks = c.tasks().unwrap_or_else(|e| panic!("{e}"));
    c.set_status(&tasks[0].id, "done")
        .unwrap_or_else(|e| panic!("{e}"));
    let syncing = {
        let c = c.clone();
        std::thread::spawn(move || c.sync())
    };
    sent.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the sync never sent its request: {e}"));
    // The request is out and waiting: the app edits and reads meanwhile.
    let (done_tx, done) = std::sync::mpsc::channel();
    {
        let c = c.clone();
        let task = tasks[1].id.clone();
        std::thread::spawn(move || {
            let edited = c
                .set_progress(&task, 70)
                .map(|()| c.tasks().map(|t| t.len()));
            let _ = done_tx.send(edited);
        });
    }
    let edited = done
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!("the edit waited for the sync's network round trip (the client's lock is held)")
        });
    assert!(
        matches!(edited, Ok(Ok(n)) if n == tasks.len()),
        "{edited:?}"
    );
    go.send(()).unwrap_or_else(|e| panic!("{e}"));
    let report = syncing
        .join()
        .unwrap_or_else(|_| panic!("the sync panicked"))
        .unwrap_or_else(|e| panic!("sync: {e}"));
    assert_eq!(report.pushed, 1, "the edit made before the sync");
    assert_eq!(c.unsynced(), 1, "the edit made during it is queued");
    go.send(()).unwrap_or_else(|e| panic!("{e}"));
    let report = c.sync().unwrap_or_else(|e| panic!("sync: {e}"));
    assert_eq!(report.pushed, 1, "and sent by the next sync");
    assert_eq!(c.unsynced(), 0);
    let token = app.token("vanphong");
    assert_eq!(app.document(&token, "cuc-vt")["ops"], 2);
}

/// Copy a phone's store file (with its WAL) from `from` to `to`.
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

/// Issue 18, point 4 (found by reading; fails on the code before): a phone restored from a
/// backup of its store makes new operations at sequence numbers the server already holds
/// (made after the backup); they were skipped as held, answered 200, and lost. Now the server
/// refuses them (`reused_sequence`) and the phone recovers by itself: it registers as a new
/// device and re-issues them under its new actor. Tested with the real store file copied and
/// restored.
#[test]
fn a_phone_restored_from_a_backup_keeps_its_new_edits() {
    let app = app();
    let path = temp_path("restored");
    let backup = path.with_file_name("backup.db");
    let c = login(&app, &path, "cucvt.a");
    let tasks = c.tasks().unwrap_or_else(|e| panic!("{e}"));
    let (first, second, third) = (&tasks[0].id, &tasks[1].id, &tasks[2].id);
    c.set_status(first, "in_progress")
        .unwrap_or_else(|e| panic!("{e}"));
    c.sync().unwrap_or_else(|e| panic!("{e}"));
    let old_actor = c.actor();
    drop(c);
    copy_store(&path, &backup);

    // After the backup: more edits, synced.
    let c = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    c.set_notes(second, "sau bản sao lưu")
        .unwrap_or_else(|e| panic!("{e}"));
    c.sync().unwrap_or_else(|e| panic!("{e}"));
    drop(c);

    // The phone is restored from the backup and edits again: the same sequence numbers.
    copy_store(&backup, &path);
    let c = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    c.set_notes(third, "sau khi khôi phục")
        .unwrap_or_else(|e| panic!("{e}"));
    c.add_comment(third, "bình luận mới", 1_580_700_000)
        .unwrap_or_else(|e| panic!("{e}"));
    c.sync()
        .unwrap_or_else(|e| panic!("the restored phone's sync: {e}"));
    assert_ne!(c.actor(), old_actor, "it registered as a new device");
    assert_eq!(c.unsynced(), 0);

    // Nothing is lost: another phone sees the edits from before and after the restore.
    let b = login(&app, &temp_path("restored-b"), "cucvt.b");
    b.sync().unwrap_or_else(|e| panic!("{e}"));
    let seen = b.tasks().unwrap_or_else(|e| panic!("{e}"));
    let notes = |id: &str| {
        seen.iter()
            .find(|t| t.id == *id)
            .map(|t| (t.notes.clone(), t.comments))
            .unwrap_or_default()
    };
    assert_eq!(notes(second).0, vec!["sau bản sao lưu".to_string()]);
    assert_eq!(notes(third), (vec!["sau khi khôi phục".to_string()], 1));
    assert_eq!(b.state_fingerprint().ok(), c.state_fingerprint().ok());

    // The recovered store opens as the new device and goes on syncing.
    drop(c);
    let c = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.unsynced(), 0);
    c.set_progress(first, 30).unwrap_or_else(|e| panic!("{e}"));
    let report = c.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.pushed, 1);
    b.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.state_fingerprint().ok(), c.state_fingerprint().ok());
}

/// A backup holding edits not yet sent: the original phone sends them later (with more), the
/// restored one sends them again (with others). The restored phone re-issues only what
/// differs from what the server holds under its old numbers: each edit reaches the server
/// once (found by review: a recovery re-issuing everything from the refused change on
/// duplicated the comments sent before the restore).
#[test]
fn a_restored_backup_with_unsent_edits_sends_each_edit_once() {
    let app = app();
    let path = temp_path("restored-unsent");
    let backup = path.with_file_name("backup.db");
    let c = login(&app, &path, "cucvt.a");
    let tasks = c.tasks().unwrap_or_else(|e| panic!("{e}"));
    let task = tasks[0].id.clone();
    c.sync().unwrap_or_else(|e| panic!("{e}"));
    c.add_comment(&task, "trước sao lưu", 1_580_700_000)
        .unwrap_or_else(|e| panic!("{e}"));
    drop(c);
    copy_store(&path, &backup);

    // The original sends the comment with a later one.
    let c = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    c.add_comment(&task, "của máy gốc", 1_580_700_100)
        .unwrap_or_else(|e| panic!("{e}"));
    c.sync().unwrap_or_else(|e| panic!("{e}"));
    drop(c);

    // The restored phone sends the same comment with another one.
    copy_store(&backup, &path);
    let c = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    c.add_comment(&task, "của máy khôi phục", 1_580_700_200)
        .unwrap_or_else(|e| panic!("{e}"));
    c.sync()
        .unwrap_or_else(|e| panic!("the restored phone's sync: {e}"));
    assert_eq!(c.unsynced(), 0);

    let b = login(&app, &temp_path("restored-unsent-b"), "cucvt.b");
    b.sync().unwrap_or_else(|e| panic!("{e}"));
    let seen = b.tasks().unwrap_or_else(|e| panic!("{e}"));
    let comments = seen.iter().find(|t| t.id == task).map_or(0, |t| t.comments);
    assert_eq!(
        comments, 3,
        "each comment once: before the backup, the original's, the restored one's"
    );
    assert_eq!(b.state_fingerprint().ok(), c.state_fingerprint().ok());
    let token = app.token("vanphong");
    assert_eq!(app.document(&token, "cuc-vt")["ops"], 3);
}

/// A store that holds two units' documents, restored from a backup: the unit that re-used
/// sequence numbers gets a device of its own, and the other unit's queued edits still go out
/// under the store's device (found by review: recovery replaced the store's device for every
/// document, and the other unit's queued edits were then replayed under the new actor).
#[test]
fn a_restored_store_of_two_units_recovers_one_and_keeps_the_other() {
    let app = app();
    app.create_user(
        "lead.two",
        Role::Member,
        &[("cuc-vt", false), ("viettel", false)],
    );
    let path = temp_path("restored-two");
    let backup = path.with_file_name("backup.db");
    let c = Client::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
    let on = |c: &Client, unit: &str| {
        c.login(&app.base, "lead.two", PASSWORD, "phone", Some(unit))
            .unwrap_or_else(|e| panic!("login {unit}: {e}"));
        c.tasks().unwrap_or_else(|e| panic!("{e}"))[0].id.clone()
    };
    for unit in ["cuc-vt", "viettel"] {
        let task = on(&c, unit);
        c.set_status(&task, "in_progress")
            .unwrap_or_else(|e| panic!("{e}"));
        c.sync().unwrap_or_else(|e| panic!("{e}"));
    }
    drop(c);
    copy_store(&path, &backup);
    let c = Client::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
    let task = on(&c, "cuc-vt");
    c.set_notes(&task, "sau bản sao lưu")
        .unwrap_or_else(|e| panic!("{e}"));
    c.sync().unwrap_or_else(|e| panic!("{e}"));
    drop(c);

    copy_store(&backup, &path);
    let c = Client::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
    let viettel_task = on(&c, "viettel");
    c.set_progress(&viettel_task, 60)
        .unwrap_or_else(|e| panic!("{e}"));
    let task = on(&c, "cuc-vt");
    let store_device = c.actor();
    c.set_notes(&task, "sau khi khôi phục")
        .unwrap_or_else(|e| panic!("{e}"));
    c.sync()
        .unwrap_or_else(|e| panic!("the restored unit's sync: {e}"));
    assert_ne!(
        c.actor(),
        store_device,
        "the restored unit has a device of its own"
    );
    // The other unit: its queued edit goes out under the store's device.
    on(&c, "viettel");
    assert_eq!(c.actor(), store_device);
    let report = c
        .sync()
        .unwrap_or_else(|e| panic!("the other unit's sync: {e}"));
    assert_eq!(report.pushed, 1);
    // Reopened, each unit is what it was.
    drop(c);
    let c = Client::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(c.unsynced(), 0);
    on(&c, "cuc-vt");
    assert_ne!(c.actor(), store_device);
    assert_eq!(c.unsynced(), 0);
    let token = app.token("vanphong");
    assert_eq!(app.document(&token, "cuc-vt")["ops"], 3);
    assert_eq!(app.document(&token, "viettel")["ops"], 2);
}

/// Two phones with copies of one store: the copy's edit typed while its sync was out was
/// numbered like the original's, which the server holds by then. The copy must not take the
/// server's operation as the acknowledgement of its own (it never sent it, and pruned unsent
/// it was lost: found by the attacker's review); its next sync sends it, is refused as
/// re-used, and it recovers, so both edits reach the server.
#[test]
fn a_copied_store_never_takes_the_originals_operation_for_its_own() {
    let app = app();
    let path = temp_path("copied");
    let copy = path.with_file_name("copy.db");
    let a = login(&app, &path, "cucvt.a");
    let task = a.tasks().unwrap_or_else(|e| panic!("{e}"))[1].id.clone();
    a.set_status(&task, "in_progress")
        .unwrap_or_else(|e| panic!("{e}"));
    a.sync().unwrap_or_else(|e| panic!("{e}"));
    drop(a);
    copy_store(&path, &copy);
    let a = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));

    // The copy's first sync request waits until the test lets it go.
    let (sent_tx, sent) = std::sync::mpsc::sync_channel(1);
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    let held = AtomicBool::new(true);
    let store = taskforce_core::store::SqliteStore::open(&copy).unwrap_or_else(|e| panic!("{e}"));
    let shared = Arc::new(Intercepted {
        http: HttpTransport::new(&app.base),
        sync: move |http: &HttpTransport, token: &str, actor: u32, body: Vec<u8>| {
            if held.swap(false, Ordering::SeqCst) {
                let _ = sent_tx.send(());
                let go = go_rx
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let _ = go.recv_timeout(Duration::from_secs(60));
            }
            http.post_sync(token, actor, body)
        },
    });
    let b = Arc::new(
        Client::with_store(
            Box::new(store),
            Box::new(move |_: &str| shared.clone() as Arc<dyn Transport>),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let syncing = {
        let b = b.clone();
        std::thread::spawn(move || b.sync())
    };
    sent.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the copy never sent its request: {e}"));
    b.set_notes(&task, "của bản sao")
        .unwrap_or_else(|e| panic!("{e}"));
    a.set_notes(&task, "của máy gốc")
        .unwrap_or_else(|e| panic!("{e}"));
    a.sync().unwrap_or_else(|e| panic!("{e}"));
    go.send(()).unwrap_or_else(|e| panic!("{e}"));
    syncing
        .join()
        .unwrap_or_else(|_| panic!("the copy's sync panicked"))
        .unwrap_or_else(|e| panic!("the copy's first sync: {e}"));
    assert_eq!(b.unsynced(), 1, "the copy's edit is still its own to send");
    b.sync()
        .unwrap_or_else(|e| panic!("the copy's next sync: {e}"));
    assert_ne!(
        b.actor(),
        a.actor(),
        "the copy recovered as a device of its own"
    );
    a.sync().unwrap_or_else(|e| panic!("{e}"));
    let mut notes = a
        .tasks()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|t| t.id == task)
        .map(|t| t.notes)
        .unwrap_or_default();
    notes.sort();
    assert_eq!(
        notes,
        ["của bản sao", "của máy gốc"],
        "both edits, as a conflict"
    );
    assert_eq!(a.state_fingerprint().ok(), b.state_fingerprint().ok());
}

/// A carrier's phone (the app's client): its confirmation, once the server verified the
/// carrier's call records and found calls charged since, shows as contradicted (issue 23).
#[test]
fn a_phone_shows_its_confirmation_contradicted_by_call_records() {
    let app = app();
    app.create_user("viettel.a", Role::Member, &[("viettel", false)]);
    let path = temp_path("contradicted");
    let phone = login(&app, &path, "viettel.a");
    phone
        .record_confirmation(
            "viettel",
            "1900 9095",
            "2020-02-01",
            "Phòng cước",
            1_580_700_000,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    phone.sync().unwrap_or_else(|e| panic!("{e}"));
    let state = |c: &Client| {
        c.confirmations()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|v| v.state)
            .collect::<Vec<_>>()
    };
    assert_eq!(state(&phone), ["confirmed"]);
    let token = app.token("viettel.a");
    let file = "caller,called,start_time,duration,charge\n0912345678,19009095,2020-02-05 09:00:00,60,1500\n";
    let mut resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&format!("{}/api/v1/carriers/viettel/cdr", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .send(file.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{:?}",
        resp.body_mut().read_to_string()
    );
    phone.sync().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state(&phone), ["contradicted"]);
    // Reopened from its store, the phone still shows it.
    drop(phone);
    let again = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state(&again), ["contradicted"]);
}
