//! The directives on the dashboard (issue 21, point 1): the Ministry Office imports a text
//! through the form, reviews it on its page (changes a role, adds a unit), publishes it, and
//! the list shows both directives with their progress. Refusals — a member, a form without
//! its CSRF token or from another site, an oversized text, a text that is not a directive, a
//! form made on a draft that changed since — change nothing. Real HTTP with the cookies a
//! browser sends, SQLite and PostgreSQL.

mod common;

use common::web::{Answer, field_after, get, post_form, sign_in};
use common::*;
use taskforce_core::directive::MAX_DIRECTIVE_BYTES;

const TIN_GIA: &str = include_str!("../../mobile-core/tests/fixtures/ct-btttt-tin-gia.txt");
const CHUYEN_DOI_SO: &str =
    include_str!("../../mobile-core/tests/fixtures/ct-ttg-chuyen-doi-so.txt");
const DRAFT: &str = "07-ct-btttt";
const REVIEW: &str = "/directives/drafts/07-ct-btttt";

/// What a refusal must leave as it was.
fn written(app: &TestApp) -> Vec<i64> {
    [
        "SELECT COUNT(*) FROM directives",
        "SELECT COUNT(*) FROM directive_drafts",
        "SELECT COUNT(*) FROM documents",
        "SELECT COUNT(*) FROM tasks",
        "SELECT COUNT(*) FROM clauses",
        "SELECT COUNT(*) FROM audit_log",
    ]
    .iter()
    .map(|q| app.query_i64(q))
    .collect()
}

/// A form posted as `session`'s browser: where it returns, and that page as the browser then
/// shows it (with the outcome's cookie), which drops the cookie.
fn submit(app: &TestApp, session: &str, path: &str, form: &[(&str, &str)]) -> (String, String) {
    let a = post_form(app, session, path, form);
    assert_eq!(a.status, 303, "POST {path}: {}", a.body);
    let back = a.header("location").unwrap_or_default().to_string();
    let flash = a
        .cookie("tf_dflash")
        .unwrap_or_else(|| panic!("POST {path}: no outcome"));
    let shown = get(app, &format!("{session}; {flash}"), &back);
    assert_eq!(shown.status, 200, "{back}: {}", shown.body);
    assert_eq!(
        shown.cookie("tf_dflash").unwrap_or_default(),
        "tf_dflash=",
        "{back}: the outcome is shown once"
    );
    (back, shown.body)
}

/// The review page's row of one clause.
fn clause_row<'a>(page: &'a str, clause: &str) -> &'a str {
    let key = format!("data-clause=\"{clause}\"");
    let start = page
        .find(&key)
        .unwrap_or_else(|| panic!("no clause {clause}: {page}"));
    let end = page[start..]
        .find("</tr>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}

/// The draft's state as its review page shows it (what every form carries).
fn seen(page: &str) -> String {
    field_after(
        page,
        "<form method=\"post\" action=\"/directives/drafts/",
        "updated_at",
    )
    .unwrap_or_else(|| panic!("no updated_at: {page}"))
}

fn the_office_imports_reviews_and_publishes_a_directive_from_the_pages(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = sign_in(&app, "vanphong");
    let list = get(&app, &office, "/directives");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains(r#"data-directive="5-ct-btttt""#),
        "{}",
        list.body
    );
    assert!(list.body.contains(r#"href="/?directive=5-ct-btttt""#));
    assert!(list.body.contains(r#"id="no-drafts""#));
    let csrf = field_after(&list.body, r#"id="import""#, "csrf").unwrap_or_default();
    let token = office.trim_start_matches("tf_token=");
    // The session's token, masked afresh on every page (BREACH): never the same bytes twice.
    let expected = taskforce_server::http::session_csrf(token);
    assert!(
        taskforce_server::http::csrf_matches(&expected, &csrf),
        "{csrf}"
    );
    assert!(
        !list.body.contains(&expected),
        "the token itself is on no page"
    );
    let again = get(&app, &office, "/directives");
    let csrf_again = field_after(&again.body, r#"id="import""#, "csrf").unwrap_or_default();
    assert_ne!(csrf, csrf_again);
    assert!(taskforce_server::http::csrf_matches(&expected, &csrf_again));

    // Imported as a browser sends a textarea (CRLF line breaks): the review page.
    let crlf = TIN_GIA.replace('\n', "\r\n");
    let (back, page) = submit(
        &app,
        &office,
        "/directives/drafts",
        &[("csrf", &csrf), ("text", &crlf)],
    );
    assert_eq!(back, REVIEW);
    assert!(
        page.contains("Đã nhập 07/CT-BTTTT thành bản nháp"),
        "{page}"
    );
    assert!(page.contains(r#"<td id="draft-number">07/CT-BTTTT</td>"#));
    assert!(page.contains("Nguyễn Huy Dũng"), "the signer: {page}");
    assert!(page.contains(r#"id="documents""#) && page.contains(r#"id="publish""#));
    let sms = clause_row(&page, "II.3");
    assert!(
        sms.contains(r#"data-unit="cuc-vt" data-role="coordinating""#),
        "{sms}"
    );
    let list = get(&app, &office, "/directives");
    assert!(
        list.body.contains(&format!(r#"data-draft="{DRAFT}""#)),
        "{}",
        list.body
    );
    assert!(!list.body.contains(&format!(r#"data-directive="{DRAFT}""#)));

    // Cục Viễn thông leads the SMS clause.
    let first = seen(&page);
    let (back, page) = submit(
        &app,
        &office,
        &format!("{REVIEW}/corrections"),
        &[
            ("csrf", &csrf),
            ("updated_at", &first),
            ("action", "set_role"),
            ("clause", "II.3"),
            ("unit", "cuc-vt"),
            ("role", "lead"),
        ],
    );
    assert_eq!(back, REVIEW);
    assert!(page.contains(r#"id="directive-done""#), "{page}");
    assert!(
        page.contains("cuc-vt nay là đơn vị chủ trì điều khoản II.3"),
        "{page}"
    );
    assert!(clause_row(&page, "II.3").contains(r#"data-unit="cuc-vt" data-role="lead""#));

    // Cục PTTH joins the monitoring clause: its form, with the units to choose from.
    let second = seen(&page);
    assert_ne!(second, first);
    let adding = get(&app, &office, &format!("{REVIEW}?add=II.1-1"));
    let row = clause_row(&adding.body, "II.1-1");
    assert!(row.contains(r#"id="add-unit""#), "{row}");
    assert!(row.contains(r#"<option value="cuc-ptth">"#), "{row}");
    assert!(!clause_row(&adding.body, "II.3").contains(r#"id="add-unit""#));
    let add = |at: &str| {
        submit(
            &app,
            &office,
            &format!("{REVIEW}/corrections"),
            &[
                ("csrf", &csrf),
                ("updated_at", at),
                ("action", "add"),
                ("clause", "II.1-1"),
                ("unit", "cuc-ptth"),
                ("role", "lead"),
            ],
        )
    };
    let (_, page) = add(&second);
    assert!(
        page.contains("Đã giao điều khoản II.1-1 cho cuc-ptth (Chủ trì)"),
        "{page}"
    );
    assert!(clause_row(&page, "II.1-1").contains(r#"data-unit="cuc-ptth" data-role="lead""#));

    // A second reviewer's page (the state before the addition), and a correction the rules
    // refuse: shown, nothing changed.
    let before = written(&app);
    let (_, stale) = add(&second);
    assert!(stale.contains(r#"id="directive-error""#), "{stale}");
    assert!(stale.contains("vừa được người khác sửa"), "{stale}");
    let (_, twice) = add(&seen(&page));
    assert!(twice.contains(r#"id="directive-error""#), "{twice}");
    let (_, bad) = submit(
        &app,
        &office,
        &format!("{REVIEW}/corrections"),
        &[
            ("csrf", &csrf),
            ("updated_at", &seen(&page)),
            ("action", "add"),
            ("clause", "II.1-1"),
            ("unit", "cuc-ptth"),
            ("role", "boss"),
        ],
    );
    assert!(
        bad.contains("the role must be lead or coordinating"),
        "{bad}"
    );
    let (_, stale) = submit(
        &app,
        &office,
        &format!("{REVIEW}/publish"),
        &[("csrf", &csrf), ("updated_at", &second)],
    );
    assert!(stale.contains("vừa được người khác sửa"), "{stale}");
    assert_eq!(written(&app), before, "nothing changed");

    // In English.
    let en = get(&app, &office, &format!("{REVIEW}?lang=en"));
    assert!(en.body.contains("Publish the directive"), "{}", en.body);
    assert!(clause_row(&en.body, "II.3").contains("Lead"));

    // Published: the list shows both directives, the draft is gone.
    let now = seen(&page);
    let (back, list) = submit(
        &app,
        &office,
        &format!("{REVIEW}/publish"),
        &[("csrf", &csrf), ("updated_at", &now)],
    );
    assert_eq!(back, "/directives");
    assert!(list.contains("Đã ban hành 07/CT-BTTTT"), "{list}");
    assert!(list.contains(r#"data-directive="5-ct-btttt""#));
    assert!(
        list.contains(&format!(r#"data-directive="{DRAFT}""#)),
        "{list}"
    );
    assert!(list.contains(r#"href="/?directive=07-ct-btttt""#));
    assert!(list.contains(r#"id="no-drafts""#), "{list}");
    let api = app.token("vanphong");
    let (status, d) = app.get(&api, &format!("/api/v1/directives/{DRAFT}"));
    assert_eq!(status, 200, "{d}");
    let units = |clause: &str| -> Vec<String> {
        fn find<'a>(cs: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
            cs.as_array()?.iter().find_map(|c| {
                if c["id"] == id {
                    Some(c)
                } else {
                    find(&c["children"], id)
                }
            })
        }
        find(&d["clauses"], clause)
            .and_then(|c| c["units"].as_array())
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{}:{}",
                    a["unit"].as_str().unwrap_or(""),
                    a["role"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    assert!(units("II.3").contains(&"cuc-vt:lead".to_string()), "{d}");
    assert!(
        units("II.1-1").contains(&"cuc-ptth:lead".to_string()),
        "{d}"
    );
    let gone = get(&app, &office, REVIEW);
    assert_eq!(gone.status, 404);

    // Another draft, thrown away.
    let (back, page) = submit(
        &app,
        &office,
        "/directives/drafts",
        &[("csrf", &csrf), ("text", CHUYEN_DOI_SO)],
    );
    assert!(back.starts_with("/directives/drafts/"), "{back}: {page}");
    let (back, list) = submit(
        &app,
        &office,
        &format!("{back}/discard"),
        &[("csrf", &csrf), ("updated_at", &seen(&page))],
    );
    assert_eq!(back, "/directives");
    assert!(list.contains("Đã hủy bản nháp"), "{list}");
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM directive_drafts"), 0);
}

fn refused_imports_and_forms_change_nothing(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = sign_in(&app, "vanphong");
    let member = sign_in(&app, "cucvt.a");
    let csrf = |session: &str| {
        taskforce_server::http::session_csrf(session.trim_start_matches("tf_token="))
    };
    let (oc, mc) = (csrf(&office), csrf(&member));
    // A draft to act on.
    let (back, page) = submit(
        &app,
        &office,
        "/directives/drafts",
        &[("csrf", &oc), ("text", TIN_GIA)],
    );
    assert_eq!(back, REVIEW, "{page}");
    let at = seen(&page);
    let before = written(&app);

    // A member sees the list (its own figures) without the drafts or the form, and is refused
    // every draft page and form.
    let list = get(&app, &member, "/directives");
    assert_eq!(list.status, 200);
    assert!(list.body.contains(r#"data-directive="5-ct-btttt""#));
    assert!(!list.body.contains(r#"id="import""#) && !list.body.contains(DRAFT));
    assert_eq!(get(&app, &member, REVIEW).status, 403);
    let fix = [
        ("csrf", mc.as_str()),
        ("updated_at", at.as_str()),
        ("action", "set_role"),
        ("clause", "II.3"),
        ("unit", "cuc-vt"),
        ("role", "lead"),
    ];
    for path in [
        format!("{REVIEW}/corrections"),
        format!("{REVIEW}/publish"),
        format!("{REVIEW}/discard"),
    ] {
        assert_eq!(post_form(&app, &member, &path, &fix).status, 403, "{path}");
    }
    let import = post_form(
        &app,
        &member,
        "/directives/drafts",
        &[("csrf", &mc), ("text", CHUYEN_DOI_SO)],
    );
    assert_eq!(import.status, 403);

    // No token, another session's token, another site: the CSRF page.
    let mut fix = fix;
    fix[0].1 = "";
    let no_token = post_form(&app, &office, &format!("{REVIEW}/corrections"), &fix);
    assert_eq!(no_token.status, 403);
    assert!(no_token.body.contains("csrf-refused"), "{}", no_token.body);
    fix[0].1 = &mc;
    assert_eq!(
        post_form(&app, &office, &format!("{REVIEW}/publish"), &fix).status,
        403
    );
    assert_eq!(
        post_form(
            &app,
            &office,
            "/directives/drafts",
            &[("text", CHUYEN_DOI_SO)]
        )
        .status,
        403
    );
    let foreign = Answer::of(
        common::web::agent()
            .post(&format!("{}{REVIEW}/publish", app.base))
            .header("Cookie", &office)
            .header("Origin", "https://evil.example")
            .send_form([("csrf", oc.as_str()), ("updated_at", at.as_str())])
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(foreign.status, 403);

    // Too large a text, too large a form, a text that is no directive: said, nothing stored.
    let huge = "a".repeat(MAX_DIRECTIVE_BYTES + 1);
    let (back, shown) = submit(
        &app,
        &office,
        "/directives/drafts",
        &[("csrf", &oc), ("text", &huge)],
    );
    assert_eq!(back, "/directives");
    assert!(shown.contains(r#"id="directive-error""#), "{shown}");
    assert!(shown.contains("văn bản quá lớn: tối đa 2 MiB"), "{shown}");
    // Each "ă" is six characters in the form: past the form's own limit.
    let huger = "ă".repeat(MAX_DIRECTIVE_BYTES / 2 + 20_000);
    let (_, shown) = submit(
        &app,
        &office,
        "/directives/drafts",
        &[("csrf", &oc), ("text", &huger)],
    );
    assert!(shown.contains("văn bản quá lớn"), "{shown}");
    let (_, shown) = submit(
        &app,
        &office,
        "/directives/drafts",
        &[("csrf", &oc), ("text", "Kính gửi anh chị, xin chào.")],
    );
    assert!(shown.contains("không nhập được"), "{shown}");
    assert_eq!(written(&app), before, "nothing changed");
    // The draft is as it was.
    let page = get(&app, &office, REVIEW);
    assert_eq!(seen(&page.body), at);
    assert!(
        clause_row(&page.body, "II.3").contains(r#"data-unit="cuc-vt" data-role="coordinating""#)
    );
}

on_every_store!(
    the_office_imports_reviews_and_publishes_a_directive_from_the_pages,
    refused_imports_and_forms_change_nothing,
);
