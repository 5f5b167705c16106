//! Mail (issue 22) against a real SMTP server: Debian's aiosmtpd on 127.0.0.1 with a mailbox
//! that parses each message (`tests/mail/sink.py`). The digests, reminders and urges
//! delivered (recipients, subjects, Vietnamese words, figures equal to the progress API's),
//! a refused recipient given up and flagged, mail queued while the SMTP server is down and
//! delivered exactly once after it (and the taskforce server) came back, two replicas on one
//! database sending each digest once, `taskforce digest --now --dry-run`, and wrong settings
//! stopping the server with their names. SQLite and PostgreSQL.

mod common;

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use common::{
    process::free_port,
    smtp::{Sink, rcpt_tos as to, smtp_available},
    *,
};
use serde_json::{Value, json};
use taskforce_server::config::{
    Config,
    mail::{MailConfig, RecipientConfig},
};

fn recipient(flag: &str) -> RecipientConfig {
    RecipientConfig::parse_flag(flag).must()
}

/// Mail through `port` (plain, to the loopback relay), every digest due at once, retries fast.
fn mail_config(port: u16, recipients: &[&str]) -> MailConfig {
    MailConfig {
        smtp_host: Some("127.0.0.1".into()),
        smtp_port: Some(port),
        smtp_tls: "plain".into(),
        from: Some("Taskforce Bộ TT&TT <taskforce@mic.gov.vn>".into()),
        dashboard_url: Some("https://taskforce.mic.gov.vn".into()),
        office_digest_at: "00:00".into(),
        unit_reminders_at: "00:00".into(),
        minister_summary_at: "mon 00:00".into(),
        retry_first_seconds: 1,
        retry_max_seconds: 2,
        smtp_timeout_seconds: 5,
        permanent_attempts: 2,
        round_seconds: 2,
        recipients: recipients.iter().map(|r| recipient(r)).collect(),
        ..MailConfig::default()
    }
}

fn server_with_mail(app: &TestApp, mail: MailConfig) -> OtherServer {
    OtherServer::start(Config {
        db: app.db.url().to_string(),
        bind: "127.0.0.1:0".into(),
        workers: Some(2),
        login_per_address_burst: LOOPBACK_LOGIN_BURST,
        mail,
        ..Config::default()
    })
}

fn outbox(app: &TestApp, state: &str) -> i64 {
    app.query_i64(&format!(
        "SELECT COUNT(*) FROM mail_outbox WHERE state = '{state}'"
    ))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A part of a message as decoded (SMTP's CRLF line ends read as `\n`).
fn text(m: &Value, part: &str) -> String {
    m[part].as_str().unwrap_or_default().replace("\r\n", "\n")
}

fn one_to<'a>(messages: &'a [Value], address: &str, subject_has: &str) -> &'a Value {
    let found: Vec<&Value> = messages
        .iter()
        .filter(|m| to(m) == [address] && text(m, "subject").contains(subject_has))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one mail to {address} with {subject_has:?} in its subject: {messages:#?}"
    );
    found[0]
}

const OFFICE: &str = "ministry_office=vanphong@mic.gov.vn";
const MINISTER: &str = "minister=botruong@mic.gov.vn:en";
const LEAD_VT: &str = "unit_lead/cuc-vt=lead.cucvt@mic.gov.vn";
const LEAD_VIETTEL: &str = "unit_lead/viettel=lead@viettel.com.vn:en";
const BOUNCE: &str = "ministry_office=bounce@mic.gov.vn";

/// Wait until the server's mail loop has run `n` more rounds than now (each decides what is
/// due and delivers what waits): what would be sent twice has had its chance.
fn rounds_pass(server: &OtherServer, n: u64) {
    let from = server.metric("taskforce_mail_rounds_total");
    wait_until("mail rounds", || {
        server.metric("taskforce_mail_rounds_total") >= from + n
    });
}

fn office_act(app: &Http, token: &str, body: Value) {
    let (status, answer) = app.post_json(token, "/api/v1/office/actions", body);
    assert_eq!(status, 200, "{answer}");
}

const LATER: &str = "ministry_office=later@mic.gov.vn";

fn digests_urges_and_refusals(db: TestDb) {
    if !smtp_available() {
        return;
    }
    let mut sink = Sink::new();
    sink.start();
    // Work done before mail is configured. Cục Viễn thông: a0 and a2 done (reported to the
    // office), a2 returned, a3 past the office's deadline, a4 urged; Viettel has reported
    // today, and has nothing else to be reminded of.
    let app = spawn_app_with_members(db);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, taskforce_core::doc::Status::Done);
    phone.status(2, taskforce_core::doc::Status::Done);
    phone.sync(&app);
    let office = app.token("vanphong");
    office_act(
        &app,
        &office,
        json!({"action": "return", "unit": "cuc-vt", "task": "a2", "text": "Thiếu số liệu"}),
    );
    office_act(
        &app,
        &office,
        json!({"action": "deadline", "unit": "cuc-vt", "task": "a3", "due": "2020-02-14"}),
    );
    office_act(
        &app,
        &office,
        json!({"action": "urge", "unit": "cuc-vt", "task": "a4", "text": "Trước khi bật thư"}),
    );
    let mut viettel = app.phone("viettel.a", "viettel");
    viettel.edit(taskforce_core::doc::Op::Report(
        taskforce_core::doc::Report {
            period: "2026-W49".into(),
            text: "Đã nhắn tin tới mọi thuê bao".into(),
            figures: vec![],
            at: chrono::Utc::now().timestamp(),
        },
    ));
    viettel.sync(&app);
    // Urges made before mail was configured are not mailed (only those after).
    std::thread::sleep(Duration::from_millis(1100));
    let server = server_with_mail(
        &app,
        MailConfig {
            // Rounds wait long: what arrives at once below was woken, not timed.
            round_seconds: 60,
            ..mail_config(
                sink.port,
                &[OFFICE, MINISTER, LEAD_VT, LEAD_VIETTEL, BOUNCE, LATER],
            )
        },
    );
    // Office digest, Minister's summary, Cục Viễn thông's reminder; none for Viettel.
    let messages = sink.wait_for(3, "the digests");
    let (status, progress) = server.get(&office, "/api/v1/progress");
    assert_eq!(status, 200, "{progress}");
    let c = &progress["counts"];
    assert_eq!(
        (c["done"].as_u64(), c["overdue"].as_u64()),
        (Some(2), Some(1)),
        "{c}"
    );
    let figures = format!(
        "Hoàn thành {}/{} ({}%) · Vướng mắc {} · Quá hạn {} · Đã báo cáo hoàn thành {}",
        c["done"],
        c["assigned"],
        progress["percent_done"],
        c["blocked"],
        c["overdue"],
        c["reported"]
    );

    let digest = one_to(&messages, "vanphong@mic.gov.vn", "Tổng hợp tiến độ ngày");
    let body = text(digest, "text");
    assert!(body.contains(&figures), "{figures} in {body}");
    assert!(body.contains("5/CT-BTTTT"), "{body}");
    assert!(body.contains("đây là bản tổng hợp đầu tiên"), "{body}");
    let section = |heading: &str| -> String {
        let from = body
            .find(heading)
            .unwrap_or_else(|| panic!("{heading} in {body}"));
        body[from..]
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let reported = section("Báo cáo hoàn thành chờ nghiệm thu");
    assert!(
        reported.starts_with("Báo cáo hoàn thành chờ nghiệm thu (1)"),
        "{reported}"
    );
    assert!(reported.contains("Cục Viễn thông · a0 ·"), "{reported}");
    let overdue = section("Nhiệm vụ quá hạn");
    assert!(overdue.starts_with("Nhiệm vụ quá hạn (1)"), "{overdue}");
    assert!(
        overdue.contains("Cục Viễn thông · a3 ·") && overdue.contains("hạn 14/02/2020"),
        "{overdue}"
    );
    let silent = section("Đơn vị không báo cáo quá 7 ngày");
    assert!(
        silent.contains("Cục Viễn thông · chưa từng báo cáo"),
        "{silent}"
    );
    assert!(
        !silent.contains("Viettel"),
        "Viettel reported today: {silent}"
    );
    let html = text(digest, "html");
    assert!(html.contains("lang=\"vi\""), "{html}");
    assert!(html.contains("Tổng hợp tiến độ ngày"), "{html}");
    assert!(
        html.contains("https://taskforce.mic.gov.vn/?directive=5-ct-btttt"),
        "{html}"
    );
    assert!(
        html.contains(
            "https://taskforce.mic.gov.vn/units/cuc-vt/tasks/a3/history?directive=5-ct-btttt"
        ),
        "{html}"
    );
    for remote in ["<img", "<script", " src=", "url(", "@import"] {
        assert!(!html.contains(remote), "{remote} in {html}");
    }
    assert_eq!(digest["content_type"], "multipart/alternative");
    assert!(
        text(digest, "message_id").ends_with(".taskforce@mic.gov.vn>"),
        "{digest}"
    );
    assert_eq!(digest["mail_from"], "taskforce@mic.gov.vn");

    // The Minister's summary, in English: the report's figures, clause by clause.
    let summary = one_to(&messages, "botruong@mic.gov.vn", "Report to the Minister");
    let body = text(summary, "text");
    let en_figures = format!(
        "Done {}/{} ({}%) · Blocked {} · Overdue {}",
        c["done"], c["assigned"], progress["percent_done"], c["blocked"], c["overdue"]
    );
    assert!(body.contains(&en_figures), "{en_figures} in {body}");
    let clauses = progress["clauses"].as_array().must();
    assert!(!clauses.is_empty());
    for row in clauses {
        let k = &row["counts"];
        let line = format!(
            ": Done {}/{} · Blocked {} · Overdue {}",
            k["done"], k["assigned"], k["blocked"], k["overdue"]
        );
        let head = format!("  {} ", row["clause"].as_str().must());
        assert!(
            body.lines()
                .any(|l| l.starts_with(&head) && l.ends_with(&line)),
            "clause {head:?} with {line:?} in {body}"
        );
    }
    assert!(text(summary, "html").contains("lang=\"en\""));
    assert!(
        text(summary, "html").contains("id=\"report-review\""),
        "the report's template"
    );

    let reminder = one_to(
        &messages,
        "lead.cucvt@mic.gov.vn",
        "Cục Viễn thông: việc cần làm ngày",
    );
    let body = text(reminder, "text");
    assert!(body.contains("Đơn vị chưa gửi báo cáo nào"), "{body}");
    assert!(
        body.contains("Nhiệm vụ quá hạn (1)\n  - Cục Viễn thông · a3 ·"),
        "{body}"
    );
    assert!(
        body.contains("Văn phòng Bộ trả lại, cần làm lại (1)\n  - Cục Viễn thông · a2 ·"),
        "{body}"
    );
    assert!(
        body.contains("Văn phòng Bộ đôn đốc (1)\n  - Cục Viễn thông · a4 ·"),
        "{body}"
    );
    assert!(
        messages.iter().all(|m| to(m) != ["lead@viettel.com.vn"]),
        "nothing to remind Viettel of: {messages:#?}"
    );
    assert!(
        messages
            .iter()
            .all(|m| !text(m, "subject").contains("đôn đốc")),
        "the urge made before mail was configured is not mailed: {messages:#?}"
    );

    // The refused recipient: refused twice (permanent_attempts), then given up and flagged;
    // the one answered 451 waits, tried again, never given up.
    wait_until("the bounce flagged failed", || outbox(&app, "failed") == 1);
    assert_eq!(
        app.query_i64(
            "SELECT CAST(refusals AS BIGINT) FROM mail_outbox WHERE recipient LIKE '%bounce%'"
        ),
        2
    );
    wait_until("the 451 tried twice", || {
        app.query_i64(
            "SELECT CAST(attempts AS BIGINT) FROM mail_outbox WHERE recipient LIKE '%later@%'",
        ) >= 2
    });
    assert_eq!(
        app.query_i64(
            "SELECT CAST(refusals AS BIGINT) FROM mail_outbox WHERE recipient LIKE '%later@%'"
        ),
        0
    );
    assert_eq!(outbox(&app, "sent"), 3);
    assert_eq!(outbox(&app, "pending"), 1);
    // The operator's view of it.
    let (ok, shown) = taskforce(&["digest", "--outbox", "--db", app.db.url()]);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("outbox failed: 1") && shown.contains("outbox sent: 3"),
        "{shown}"
    );
    assert!(
        shown.contains("to bounce@mic.gov.vn · 2 attempts, 2 refused"),
        "{shown}"
    );
    assert!(shown.contains("No such mailbox here"), "{shown}");
    assert!(shown.contains("Try again later"), "{shown}");

    // An urge goes out at once to the unit's lead (the loop waits 60 s between rounds: the
    // office's action wakes it), with the office's words and deadline.
    let urged = Instant::now();
    office_act(
        &server,
        &office,
        json!({"action": "urge", "unit": "cuc-vt", "task": "a1", "text": "Khẩn trương\nbáo cáo ngay", "due": "2020-02-20"}),
    );
    let messages = sink.wait_for(4, "the urge");
    assert!(
        urged.elapsed() < Duration::from_secs(15),
        "{:?}",
        urged.elapsed()
    );
    let urge = one_to(&messages, "lead.cucvt@mic.gov.vn", "Văn phòng Bộ đôn đốc");
    let body = text(urge, "text");
    assert!(body.contains("Cục Viễn thông · a1 ·"), "{body}");
    assert!(
        body.contains("Ý kiến của Văn phòng Bộ: «Khẩn trương\n    báo cáo ngay»"),
        "{body}"
    );
    assert!(body.contains("Hạn mới: 20/02/2020"), "{body}");
    assert!(
        body.contains("https://taskforce.mic.gov.vn/units/cuc-vt/tasks/a1/history"),
        "{body}"
    );
    // Nothing more, however many rounds pass: each digest and the urge once.
    for _ in 0..2 {
        office_act(
            &server,
            &office,
            json!({"action": "comment", "unit": "cuc-vt", "task": "a1", "text": "theo dõi"}),
        );
        rounds_pass(&server, 1);
    }
    assert_eq!(sink.messages().len(), 4, "{:#?}", sink.messages());
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM mail_runs"), 3);
    // What the operators see: 6 written, 4 delivered, the refused one given up.
    assert_eq!(server.metric("taskforce_mail_decided_total"), 6);
    assert_eq!(server.metric("taskforce_mail_sent_total"), 4);
    assert_eq!(server.metric("taskforce_mail_failed_total"), 1);
    assert!(server.metric("taskforce_mail_deferred_total") >= 2);
    // A restart with part of the outbox delivered resends none of it.
    drop(server);
    let server = server_with_mail(
        &app,
        mail_config(
            sink.port,
            &[OFFICE, MINISTER, LEAD_VT, LEAD_VIETTEL, BOUNCE, LATER],
        ),
    );
    rounds_pass(&server, 2);
    assert_eq!(sink.messages().len(), 4, "{:#?}", sink.messages());
    drop(server);
}

fn queued_while_down_then_delivered_once(db: TestDb) {
    if !smtp_available() {
        return;
    }
    let mut sink = Sink::new();
    let app = spawn_app(db);
    let port = sink.port;
    let mail = || mail_config(port, &[OFFICE, MINISTER, LEAD_VT]);
    let server = server_with_mail(&app, mail());
    // The SMTP server is down: the mails wait, tried again with back-off.
    wait_until("three mails tried", || {
        app.query_i64("SELECT COUNT(*) FROM mail_outbox WHERE state = 'pending' AND attempts > 0")
            == 3
    });
    // The taskforce server restarts while they wait…
    drop(server);
    let server = server_with_mail(&app, mail());
    wait_until("tried again after the restart", || {
        app.query_i64("SELECT COUNT(*) FROM mail_outbox WHERE attempts > 1") > 0
    });
    // …and the SMTP server comes back.
    sink.start();
    let messages = sink.wait_for(3, "the queued mails");
    wait_until("all sent", || outbox(&app, "sent") == 3);
    std::thread::sleep(Duration::from_secs(3));
    let messages_after = sink.messages();
    assert_eq!(messages_after.len(), 3, "exactly once: {messages:#?}");
    let mut ids: Vec<String> = messages_after
        .iter()
        .map(|m| text(m, "message_id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert_eq!(outbox(&app, "pending"), 0);
    // A restart after delivery resends nothing.
    drop(server);
    let server = server_with_mail(&app, mail());
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(sink.messages().len(), 3, "nothing resent after a restart");
    drop(server);
}

fn two_replicas_send_each_digest_once(db: TestDb) {
    if !smtp_available() {
        return;
    }
    let mut sink = Sink::new();
    sink.start();
    let app = spawn_app(db);
    let recipients = [OFFICE, MINISTER, LEAD_VT, LEAD_VIETTEL];
    // Both start with every digest due.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| server_with_mail(&app, mail_config(sink.port, &recipients)));
        let b = s.spawn(|| server_with_mail(&app, mail_config(sink.port, &recipients)));
        (a.join().must(), b.join().must())
    });
    let messages = sink.wait_for(4, "the digests from two replicas");
    wait_until("all sent", || outbox(&app, "sent") == 4);
    std::thread::sleep(Duration::from_secs(3));
    let messages = if sink.messages().len() == messages.len() {
        messages
    } else {
        sink.messages()
    };
    assert_eq!(messages.len(), 4, "each digest once: {messages:#?}");
    for (address, subject) in [
        ("vanphong@mic.gov.vn", "Tổng hợp tiến độ"),
        ("botruong@mic.gov.vn", "Report to the Minister"),
        ("lead.cucvt@mic.gov.vn", "việc cần làm"),
        ("lead@viettel.com.vn", "to do on"),
    ] {
        one_to(&messages, address, subject);
    }
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM mail_runs"), 3);
    drop((a, b));
}

#[test]
fn starttls_and_tls_with_the_ministrys_own_ca_and_no_mail_to_an_untrusted_server() {
    if !smtp_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("taskforce-mail-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).must();
    let (ca, cert, key) = common::certs::certificates(&dir);
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca).must();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    for (mode, cert_flag, key_flag) in [
        ("starttls", "--tlscert", "--tlskey"),
        ("tls", "--smtpscert", "--smtpskey"),
    ] {
        let mut sink = Sink::new();
        sink.tls = vec![cert_flag.into(), cert.clone(), key_flag.into(), key.clone()];
        sink.start();
        let app = spawn_app(TestDb::sqlite());
        let secured = |ca: Option<PathBuf>| MailConfig {
            smtp_host: Some("localhost".into()),
            smtp_tls: mode.into(),
            smtp_ca: ca,
            ..mail_config(sink.port, &[OFFICE])
        };
        // A server whose certificate the bundled roots do not vouch for gets nothing.
        let server = server_with_mail(&app, secured(None));
        wait_until("an attempt refused by the certificate check", || {
            app.query_i64("SELECT COUNT(*) FROM mail_outbox WHERE attempts >= 2") == 1
        });
        assert!(
            sink.messages().is_empty(),
            "{mode}: mail to an untrusted server"
        );
        assert_eq!(outbox(&app, "pending"), 1);
        drop(server);
        // With the CA configured, the waiting digest is delivered over TLS.
        let server = server_with_mail(&app, secured(Some(ca_file.clone())));
        let messages = sink.wait_for(1, mode);
        assert_eq!(messages.len(), 1, "{mode}: {messages:#?}");
        one_to(&messages, "vanphong@mic.gov.vn", "Tổng hợp tiến độ ngày");
        wait_until("sent", || outbox(&app, "sent") == 1);
        drop(server);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smtp_authentication_after_starttls_and_a_wrong_password_keeps_the_mail() {
    if !smtp_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("taskforce-mail-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).must();
    let (ca, cert, key) = common::certs::certificates(&dir);
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca).must();
    let mut sink = Sink::new();
    sink.tls = vec![
        "--tlscert".into(),
        cert.display().to_string(),
        "--tlskey".into(),
        key.display().to_string(),
    ];
    sink.auth = Some("taskforce:mật-khẩu-smtp".into());
    sink.start();
    let app = spawn_app(TestDb::sqlite());
    let with_password = |password: &str| MailConfig {
        smtp_host: Some("localhost".into()),
        smtp_tls: "starttls".into(),
        smtp_ca: Some(ca_file.clone()),
        smtp_username: Some("taskforce".into()),
        smtp_password: Some(taskforce_server::config::Secret(password.into())),
        ..mail_config(sink.port, &[OFFICE])
    };
    // A wrong password is the operator's to fix: the mail waits, it is never given up.
    let server = server_with_mail(&app, with_password("sai-mật-khẩu"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.query_i64("SELECT COUNT(*) FROM mail_outbox WHERE attempts >= 3") != 1 {
        assert!(
            Instant::now() < deadline,
            "two attempts refused at login: {} attempts; {}",
            app.query_i64("SELECT COALESCE(MAX(CAST(attempts AS BIGINT)), -1) FROM mail_outbox"),
            std::fs::read_to_string(sink.dir.join("aiosmtpd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(sink.messages().is_empty());
    assert_eq!(outbox(&app, "pending"), 1);
    assert_eq!(
        app.query_i64("SELECT CAST(refusals AS BIGINT) FROM mail_outbox"),
        0,
        "a refused login is not the mail's refusal"
    );
    drop(server);
    let server = server_with_mail(&app, with_password("mật-khẩu-smtp"));
    let messages = sink.wait_for(1, "after the right password");
    assert_eq!(messages.len(), 1, "{messages:#?}");
    one_to(&messages, "vanphong@mic.gov.vn", "Tổng hợp tiến độ ngày");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_smtp_server_that_never_answers_does_not_hold_the_outbox() {
    // A listener that takes connections and says nothing: lettre waits for a greeting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").must();
    let port = listener.local_addr().must().port();
    // Left running (detached): it holds every connection it takes until the test ends.
    std::thread::spawn(move || {
        let open: Vec<_> = listener.incoming().collect();
        drop(open);
    });
    let app = spawn_app(TestDb::sqlite());
    let server = server_with_mail(
        &app,
        MailConfig {
            smtp_timeout_seconds: 1,
            ..mail_config(port, &[OFFICE])
        },
    );
    wait_until("attempts that ended", || {
        app.query_i64("SELECT COUNT(*) FROM mail_outbox WHERE attempts >= 2") == 1
    });
    assert_eq!(outbox(&app, "pending"), 1, "still waiting to be delivered");
    drop(server);
}

/// Two deciders at once, as two replicas at the digest's time: one decides, the other finds
/// it decided (on PostgreSQL its REPEATABLE READ transaction meets the other's claim), and
/// neither fails.
fn two_decisions_at_once_one_digest(db: TestDb) {
    use taskforce_server::{
        config::mail::MailSettings,
        mail::schedule::{self, Decided, Due, Kind},
    };
    let app = spawn_app(db);
    let catalogue = taskforce_core::directive::Catalogue::bundled().must();
    let settings = MailSettings::check(
        &mail_config(25, &[OFFICE, MINISTER]),
        &catalogue,
        "127.0.0.1:8080",
    )
    .must();
    let url = app.db.url().to_string();
    let outcomes = runtime().block_on(async {
        let a = taskforce_server::db::connect(&url).await.must();
        let b = taskforce_server::db::connect(&url).await.must();
        let due = Due {
            kind: Kind::OfficeDigest,
            period: "2026-12-02".into(),
            day: chrono::NaiveDate::from_ymd_opt(2026, 12, 2).must(),
        };
        let (x, y) = tokio::join!(
            schedule::decide(&a, &catalogue, &settings, &due),
            schedule::decide(&b, &catalogue, &settings, &due)
        );
        vec![x.must(), y.must()]
    });
    assert!(
        outcomes.contains(&Decided::Mails(1)) && outcomes.contains(&Decided::AlreadyDecided),
        "{outcomes:?}"
    );
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM mail_outbox"), 1);
}

/// A confirmation made on a phone two days offline: listed as new by the next digest.
fn confirm_offline(app: &TestApp) {
    let mut carrier = app.phone("viettel.a", "viettel");
    carrier.edit(taskforce_core::doc::Op::Confirm(
        taskforce_core::doc::Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from: taskforce_core::doc::Day::from_date(
                chrono::NaiveDate::from_ymd_opt(2020, 2, 3).must(),
            ),
            attested_by: "Phòng cước".into(),
            evidence: None,
            at: chrono::Utc::now().timestamp() - 2 * 86_400,
        },
    ));
    carrier.sync(app);
}

fn a_later_digest_says_what_moved_since_the_scheduled_one(db: TestDb) {
    if !smtp_available() {
        return;
    }
    let mut sink = Sink::new();
    sink.start();
    let app = spawn_app_with_members(db);
    let server = server_with_mail(&app, mail_config(sink.port, &[OFFICE]));
    let first = sink.wait_for(1, "the day's digest");
    assert!(text(&first[0], "text").contains("đây là bản tổng hợp đầu tiên"));
    drop(server);
    // Then: a task done, and a confirmation synced from a phone that made it offline.
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, taskforce_core::doc::Status::Done);
    phone.sync(&app);
    confirm_offline(&app);
    let office = app.token("vanphong");
    let (_, progress) = app.get(&office, "/api/v1/progress");
    let moved = progress["clauses"]
        .as_array()
        .must()
        .iter()
        .find(|c| c["counts"]["done"] == 1)
        .must()
        .clone();
    let (clause, assigned) = (
        moved["clause"].as_str().must(),
        &moved["counts"]["assigned"],
    );
    let port = sink.port.to_string();
    let by_hand = |to: &str| {
        taskforce(&[
            "digest",
            "--now",
            "--only",
            "office",
            "--db",
            app.db.url(),
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-tls",
            "plain",
            "--mail-from",
            "taskforce@mic.gov.vn",
            "--mail-recipient",
            to,
        ])
    };
    // Sent by hand, twice (the second to someone else): both compare with the scheduled
    // digest, never with a digest sent by hand.
    for (n, to) in [
        (2, "ministry_office=vanphong@mic.gov.vn"),
        (3, "ministry_office=kiemtra@mic.gov.vn"),
    ] {
        let (ok, out) = by_hand(to);
        assert!(ok, "{out}");
        let messages = sink.wait_for(n, "a digest sent by hand");
        let body = text(messages.last().must(), "text");
        let line = format!("  - {clause} ");
        let expected = format!(": 0/{assigned} → 1/{assigned}");
        assert!(
            body.lines()
                .any(|l| l.starts_with(&line) && l.ends_with(&expected)),
            "{line}…{expected} in {body}"
        );
        assert!(
            body.contains("Điều khoản có thay đổi từ bản trước (1)"),
            "{body}"
        );
        assert!(
            body.contains(
                "Xác nhận miễn cước mới (1)\n  - Tập đoàn Công nghiệp - Viễn thông Quân đội (Viettel) · 19009095 · Đã xác nhận"
            ),
            "made offline two days ago, new to the digests: {body}"
        );
    }
}

on_every_store!(
    two_decisions_at_once_one_digest,
    a_later_digest_says_what_moved_since_the_scheduled_one,
    digests_urges_and_refusals,
    queued_while_down_then_delivered_once,
    two_replicas_send_each_digest_once,
);

#[test]
fn digest_now_dry_run_prints_the_bundled_directive_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("taskforce-digest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).must();
    let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    // Sending from a database that is not there (a mistyped path) sends nothing, makes nothing.
    let (ok, out) = taskforce(&["digest", "--now", "--db", &url]);
    assert!(!ok && out.contains("does not exist"), "{out}");
    assert!(!dir.join("t.db").exists());
    let (ok, out) = taskforce(&["digest", "--now", "--dry-run", "--db", &url]);
    assert!(ok, "{out}");
    for words in [
        "Subject: [taskforce] Tổng hợp tiến độ ngày",
        "5/CT-BTTTT — Về việc thực hiện công tác phòng, chống dịch bệnh",
        "Hoàn thành 0/",
        "Đơn vị không báo cáo quá 7 ngày",
        "Báo cáo Bộ trưởng, tuần",
        "(unit reminders: no unit lead configured",
    ] {
        assert!(out.contains(words), "{words:?} in {out}");
    }
    // A lead given by a flag gets their reminder printed, in English.
    let (ok, out) = taskforce(&[
        "digest",
        "--now",
        "--dry-run",
        "--only",
        "reminders",
        "--db",
        &url,
        "--mail-recipient",
        "unit_lead/cuc-vt=lead@cucvt.gov.vn:en",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("To: lead@cucvt.gov.vn"), "{out}");
    assert!(out.contains("The unit has never reported"), "{out}");
    // Printing wrote nothing; sending without an SMTP server is refused, named.
    let (ok, out) = taskforce(&["digest", "--now", "--db", &url]);
    assert!(!ok && out.contains("mail.smtp_host"), "{out}");
    let written = runtime().block_on(async {
        let db = sea_orm::Database::connect(&url).await.must();
        let sql = "SELECT (SELECT COUNT(*) FROM mail_outbox) + (SELECT COUNT(*) FROM mail_runs)";
        sea_orm::ConnectionTrait::query_one_raw(
            &db,
            sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Sqlite, sql),
        )
        .await
        .must()
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .must()
    });
    assert_eq!(written, 0, "a dry run writes no mail and claims no run");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `taskforce serve` with these arguments and environment: it must stop at once, saying why.
fn refused_start(args: &[&str], env: &[(&str, &str)], names: &str) {
    let dir = std::env::temp_dir().join(format!(
        "taskforce-mailcfg-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).must();
    let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskforce"));
    cmd.args(["serve", "--db", &url, "--bind", "127.0.0.1:0"])
        .args(args)
        .env_remove("TASKFORCE_DB")
        .current_dir(&dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().must();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{args:?} {env:?} started: {said}");
    assert!(said.contains(names), "{names} in {said}");
    assert!(!said.contains("listening"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mail_settings_come_from_the_file_then_the_environment_then_the_flags() {
    let dir = std::env::temp_dir().join(format!("taskforce-mailorder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).must();
    let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let file = dir.join("taskforce.toml");
    std::fs::write(
        &file,
        "[mail]\ndashboard_url = \"https://tep.mic.gov.vn\"\nsilent_days = 30\n\
         [[mail.recipients]]\naddress = \"tep@mic.gov.vn\"\nrole = \"ministry_office\"\n",
    )
    .must();
    let run = |env: &[(&str, &str)], flags: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskforce"));
        cmd.args([
            "digest",
            "--now",
            "--dry-run",
            "--only",
            "office",
            "--db",
            &url,
        ])
        .arg("--config")
        .arg(&file)
        .args(flags)
        .env_remove("TASKFORCE_DB");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().must();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run(&[], &[]);
    assert!(out.contains("To: tep@mic.gov.vn"), "{out}");
    assert!(out.contains("https://tep.mic.gov.vn/?directive="), "{out}");
    assert!(out.contains("Đơn vị không báo cáo quá 30 ngày"), "{out}");
    let env = [
        (
            "TASKFORCE_MAIL_RECIPIENTS",
            "ministry_office=moitruong@mic.gov.vn:en;minister=bt@mic.gov.vn",
        ),
        ("TASKFORCE_DASHBOARD_URL", "https://moitruong.mic.gov.vn"),
        ("TASKFORCE_MAIL_SILENT_DAYS", "14"),
    ];
    let out = run(&env, &[]);
    assert!(
        out.contains("To: moitruong@mic.gov.vn") && !out.contains("tep@"),
        "{out}"
    );
    assert!(
        out.contains("https://moitruong.mic.gov.vn/?directive="),
        "{out}"
    );
    assert!(out.contains("Units silent for more than 14 days"), "{out}");
    let out = run(
        &env,
        &[
            "--mail-recipient",
            "ministry_office=co@mic.gov.vn",
            "--mail-silent-days",
            "3",
        ],
    );
    assert!(
        out.contains("To: co@mic.gov.vn") && !out.contains("moitruong@mic"),
        "{out}"
    );
    assert!(out.contains("Đơn vị không báo cáo quá 3 ngày"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_wrong_mail_setting_stops_the_server_and_names_it() {
    // Flags.
    refused_start(
        &["--smtp-host", "smtp.mic.gov.vn", "--smtp-tls", "ssl"],
        &[],
        "mail.smtp_tls",
    );
    refused_start(
        &[
            "--smtp-host",
            "smtp.mic.gov.vn",
            "--smtp-tls",
            "plain",
            "--mail-from",
            "a@mic.gov.vn",
        ],
        &[],
        "mail.smtp_tls: plain sends mail and passwords in clear",
    );
    refused_start(
        &["--office-digest-at", "7h30"],
        &[],
        "mail.office_digest_at",
    );
    // The environment.
    refused_start(
        &[],
        &[(
            "TASKFORCE_MAIL_RECIPIENTS",
            "unit_lead/cuc-khong-co=a@mic.gov.vn",
        )],
        "mail.recipients: a@mic.gov.vn: unit \"cuc-khong-co\" is not in the catalogue",
    );
    refused_start(
        &[],
        &[("TASKFORCE_SMTP_HOST", "smtp.mic.gov.vn")],
        "mail.from",
    );
    // The file.
    let dir = std::env::temp_dir().join(format!("taskforce-mailfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).must();
    let file = dir.join("taskforce.toml");
    std::fs::write(&file, "[mail]\ntime_zone = \"Asia/Hanoi City\"\n").must();
    refused_start(&["--config", file.to_str().must()], &[], "mail.time_zone");
    std::fs::write(&file, "[mail]\nsmtp_hots = \"smtp.mic.gov.vn\"\n").must();
    refused_start(&["--config", file.to_str().must()], &[], "smtp_hots");
    let _ = std::fs::remove_dir_all(&dir);
}
