//! Live updates (issue 24): `GET /api/v1/events` tells each caller of the changes to the unit
//! documents it may read, as they are stored; on PostgreSQL an edit through one replica reaches
//! the streams of another (LISTEN/NOTIFY); a stream ends when its sign-in does; streams are
//! capped; the dashboard's pages carry the script that follows them, allowed by the policy.

mod common;

use std::{
    io::BufRead,
    sync::mpsc,
    time::{Duration, Instant},
};

use common::{Http, TestDb, spawn_app_with, spawn_app_with_members};
use taskforce_core::doc::Status;

/// One server-sent event: its name and data; `end` when the stream closed.
type Sse = (String, String);

struct Stream {
    rx: mpsc::Receiver<Sse>,
}

/// Open `/api/v1/events` with `auth` as a header (`Authorization` or `Cookie`).
fn open(server: &Http, auth: (&str, &str)) -> Result<Stream, (u16, String)> {
    let resp = Http::agent()
        .get(&format!("{}/api/v1/events", server.base))
        .header(auth.0, auth.1)
        .call()
        .unwrap_or_else(|e| panic!("events: {e}"));
    let status = resp.status().as_u16();
    if status != 200 {
        let text = resp.into_body().read_to_string().unwrap_or_default();
        return Err((status, text));
    }
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(kind, "text/event-stream");
    let (tx, rx) = mpsc::channel();
    let reader = std::io::BufReader::new(resp.into_body().into_reader());
    std::thread::spawn(move || {
        let (mut name, mut data) = (String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if line.is_empty() {
                if !name.is_empty()
                    && tx
                        .send((std::mem::take(&mut name), std::mem::take(&mut data)))
                        .is_err()
                {
                    return;
                }
            } else if line.starts_with(':') {
                // A keep-alive: passed on too, so this reader (and its connection) ends soon
                // after the test dropped the stream.
                if tx.send(("comment".into(), line)).is_err() {
                    return;
                }
            } else if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = v.to_string();
            }
        }
        let _ = tx.send(("end".into(), String::new()));
    });
    Ok(Stream { rx })
}

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

impl Stream {
    fn of(server: &Http, token: &str) -> Stream {
        let (h, v) = bearer(token);
        open(server, (h, &v)).unwrap_or_else(|(s, t)| panic!("events: {s} {t}"))
    }

    /// The next event within `within`, if any.
    fn next(&self, within: Duration) -> Option<Sse> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left).ok()? {
                (name, _) if name == "comment" => {}
                event => return Some(event),
            }
        }
    }

    /// The next `change` event's data as JSON (other events skipped), within 20 s.
    fn change(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some((name, data)) if name == "change" => {
                    return serde_json::from_str(&data).unwrap_or_else(|e| panic!("{data}: {e}"));
                }
                Some((name, _)) if name == "end" => panic!("the stream ended"),
                Some(_) => {}
                None => panic!("no change event within 20 s"),
            }
        }
    }
}

fn edit(app: &common::TestApp, phone: &mut common::Phone, task: u32, s: Status) {
    phone.status(task, s);
    phone.sync(&app.http);
}

fn a_change_reaches_the_streams_that_may_read_it(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = Stream::of(&app.http, &app.token("vanphong"));
    let viettel = Stream::of(&app.http, &app.token("viettel.a"));
    let mut cucvt = app.phone("cucvt.a", "cuc-vt");
    edit(&app, &mut cucvt, 0, Status::InProgress);
    let seen = office.change();
    assert_eq!(seen["unit"], "cuc-vt");
    assert_eq!(seen["directive"], common::DIRECTIVE);
    let first = seen["ops"].as_i64().unwrap_or(0);
    assert!(first > 0, "{seen}");
    // Once each, in order: the next is the next edit, not the same one again (on PostgreSQL
    // the writer does not also tell its own streams beside the notice).
    edit(&app, &mut cucvt, 1, Status::Done);
    let again = office.change();
    assert!(
        again["ops"].as_i64().unwrap_or(0) > first,
        "{again} after {seen}"
    );
    // viettel's member hears of viettel's document, never of cuc-vt's: its first event is its own.
    let mut phone = app.phone("viettel.a", "viettel");
    edit(&app, &mut phone, 0, Status::Blocked);
    assert_eq!(viettel.change()["unit"], "viettel");
    assert_eq!(office.change()["unit"], "viettel");
}

fn an_edit_through_one_replica_reaches_the_other(db: TestDb) {
    let app = spawn_app_with_members(db);
    let other = app.other_server();
    let token = app.token("vanphong");
    let on_other = Stream::of(&other.http, &token);
    let on_this = Stream::of(&app.http, &token);
    // Each replica's listener starts beside its server: wait until both hear a notice (a
    // probe of our own on the channel) before the edit.
    let probe = r#"SELECT pg_notify('taskforce_changes', '[{"directive":"probe","unit":"cuc-vt","ops":0}]')"#;
    for stream in [&on_other, &on_this] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            app.execute(probe);
            match stream.next(Duration::from_millis(300)) {
                Some((name, data)) if name == "change" && data.contains("probe") => break,
                _ => assert!(Instant::now() < deadline, "a listener never heard a notice"),
            }
        }
    }
    let drain = |s: &Stream| while s.next(Duration::from_millis(300)).is_some() {};
    drain(&on_other);
    drain(&on_this);
    let mut phone = app.phone("cucvt.b", "cuc-vt");
    edit(&app, &mut phone, 2, Status::Done);
    let here = on_this.change();
    let there = on_other.change();
    assert_eq!(there, here, "both replicas tell of the same change");
    // And the other way round.
    phone.status(3, Status::Done);
    phone.sync(&other.http);
    let there = on_other.change();
    let here = on_this.change();
    assert_eq!(here, there);
    assert!(here["ops"].as_i64() > Some(0));
}

on_every_store!(a_change_reaches_the_streams_that_may_read_it);

#[test]
fn on_postgresql_an_edit_through_one_replica_reaches_the_other() {
    if let Some(db) = TestDb::postgres() {
        an_edit_through_one_replica_reaches_the_other(db);
    }
}

/// A server on SQLite configured by `tweak`, with the Ministry Office's `vanphong`.
fn office_app(tweak: impl FnOnce(&mut taskforce_server::config::Config)) -> common::TestApp {
    let app = spawn_app_with(TestDb::sqlite(), tweak);
    app.create_user(
        "vanphong",
        taskforce_server::auth::Role::MinistryOffice,
        &[],
    );
    app
}

#[test]
fn a_signed_out_token_ends_its_stream_at_the_next_beat() {
    let app = office_app(|c| {
        c.live_heartbeat_seconds = 1;
    });
    let token = app.token("vanphong");
    let stream = Stream::of(&app.http, &token);
    let (status, _) = app.post_json(&token, "/api/v1/auth/logout", serde_json::json!({}));
    assert!(status < 300, "logout: {status}");
    let mut names = Vec::new();
    while let Some((name, _)) = stream.next(Duration::from_secs(10)) {
        let end = name == "end";
        names.push(name);
        if end {
            break;
        }
    }
    assert_eq!(names, ["signed-out", "end"]);
}

#[test]
fn without_a_sign_in_or_past_the_cap_a_stream_is_refused() {
    let app = office_app(|c| {
        c.live_streams = 2;
        c.live_heartbeat_seconds = 1;
    });
    let refused = open(&app.http, ("Authorization", "Bearer not-a-token")).err();
    assert_eq!(refused.map(|r| r.0), Some(401));
    let token = app.token("vanphong");
    let (a, b) = (Stream::of(&app.http, &token), Stream::of(&app.http, &token));
    let (h, v) = bearer(&token);
    let third = open(&app.http, (h, &v)).err();
    let (status, text) = third.unwrap_or_else(|| panic!("a third stream was opened"));
    assert_eq!(status, 503);
    assert!(text.contains("overloaded"), "{text}");
    assert_eq!(app.metric("taskforce_live_streams"), 2);
    drop((a, b));
    // The places come back when streams close (the server notices at its next beat).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if open(&app.http, (h, &v)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed streams' places never came back"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn one_account_cannot_take_every_place() {
    let app = office_app(|c| {
        c.live_streams_per_user = 1;
    });
    app.create_user(
        "cucvt.a",
        taskforce_server::auth::Role::Member,
        &[("cuc-vt", false)],
    );
    let member = app.token("cucvt.a");
    let _first = Stream::of(&app.http, &member);
    // Another session of the same account is the same account.
    let (h, v) = bearer(&app.token("cucvt.a"));
    let refused = open(&app.http, (h, &v)).err();
    let (status, text) = refused.unwrap_or_else(|| panic!("a second stream of one account"));
    assert_eq!(status, 429, "{text}");
    let _office = Stream::of(&app.http, &app.token("vanphong"));
}

#[test]
fn the_dashboard_follows_the_stream_with_its_cookie() {
    let app = spawn_app_with_members(TestDb::sqlite());
    let token = app.token("vanphong");
    let cookie = format!("tf_token={token}");
    let stream = open(&app.http, ("Cookie", &cookie)).unwrap_or_else(|(s, t)| panic!("{s} {t}"));
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    edit(&app, &mut phone, 0, Status::Done);
    assert_eq!(stream.change()["unit"], "cuc-vt");
    // Every signed-in page carries the notice and the script, and the policy lets the script
    // run and connect here.
    let resp = Http::agent()
        .get(&format!("{}/matrix", app.http.base))
        .header("Cookie", &cookie)
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let page = resp.into_body().read_to_string().unwrap_or_default();
    assert!(page.contains(r#"id="live""#), "the notice");
    assert!(
        page.contains("new EventSource(\"/api/v1/events\")"),
        "the script"
    );
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let script = page
        .split("<script>")
        .filter_map(|s| s.split("</script>").next())
        .find(|s| s.contains("EventSource"))
        .unwrap_or_default();
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script));
    assert!(
        policy.contains(&format!("'sha256-{hash}'")),
        "the script's hash is allowed"
    );
}

/// `taskforce serve` stopped as systemd stops it (SIGTERM, graceful) with a stream open: the
/// stream ends at once, so the stop does not wait out actix's 30 s for a browser that never
/// hangs up (a rolling restart would stall on every open dashboard).
#[test]
fn a_graceful_stop_ends_the_streams_instead_of_waiting_for_them() {
    let app = spawn_app_with_members(TestDb::sqlite());
    let dir = match &app.db {
        TestDb::Sqlite { dir, .. } => dir.clone(),
        TestDb::Postgres { .. } => panic!("SQLite"),
    };
    let (mut server, base) = common::process::serve(&["--db", app.db.url()], &dir);
    let http = Http { base };
    let stream = Stream::of(&http, &http.token("vanphong"));
    let (status, took) = server.terminate(Duration::from_secs(40));
    assert!(status.success(), "{status}");
    assert_eq!(
        stream.next(Duration::from_secs(5)).map(|e| e.0).as_deref(),
        Some("end"),
        "the stream was ended by the server"
    );
    assert!(
        took < Duration::from_secs(15),
        "the stop waited {took:?} for the open stream"
    );
}
