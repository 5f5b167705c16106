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

/// HTTP that loses the server's answer once: the server has stored the operations, the phone
/// never hears so.
#[derive(Debug)]
struct LosesOneAnswer {
    http: HttpTransport,
    lost: AtomicBool,
}

impl Transport for LosesOneAnswer {
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
        let reply = self.http.post_sync(token, actor, body)?;
        if !self.lost.swap(true, Ordering::SeqCst) {
            return Err(TransportError("connection reset".into()));
        }
        Ok(reply)
    }
}

/// `cucvt.a` signed in on a client whose first sync answer is lost.
fn losing_one_answer(
    app: &TestApp,
    store: Box<dyn taskforce_core::store::Store>,
    attempts: u32,
    first_pause: Duration,
) -> Client {
    let mut c = Client::with_store(
        store,
        Box::new(|base: &str| {
            Arc::new(LosesOneAnswer {
                http: HttpTransport::new(base),
                lost: AtomicBool::new(false),
            }) as Arc<dyn Transport>
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
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
