//! A second directive over the API (issue 21): the Ministry Office imports its text as a
//! draft, corrects two assignments, publishes it; the units it names get their documents and
//! their phones sync them, while their work on 05/CT-BTTTT stays. Refusals (roles, texts that
//! are not directives, oversized ones, bad corrections, two reviewers at once, publishing
//! twice) change nothing. (Revisions of a published directive: `directive_revisions.rs`.) Real HTTP, SQLite and PostgreSQL.

mod common;

use common::*;
use serde_json::{Value, json};
use taskforce_core::{client::Client, directive::Role, doc::DocHeader};

/// The fixture: Directive 07/CT-BTTTT (2021), on fake news; our own text.
const TIN_GIA: &str = include_str!("../../mobile-core/tests/fixtures/ct-btttt-tin-gia.txt");
const DRAFT: &str = "07-ct-btttt";

fn upload(app: &TestApp, token: &str, text: &[u8]) -> (u16, Value) {
    let mut resp = Http::agent()
        .post(&format!("{}/api/v1/directives/drafts", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "text/plain; charset=utf-8")
        .send(text)
        .unwrap_or_else(|e| panic!("upload: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or_default())
}

fn delete(app: &TestApp, token: &str, path: &str) -> u16 {
    Http::agent()
        .delete(&format!("{}{path}", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
}

fn correct(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    app.post_json(
        token,
        &format!("/api/v1/directives/drafts/{id}/corrections"),
        body,
    )
}

/// The units of a clause in a draft or directive JSON, as `unit:role`.
fn units_of(directive: &Value, clause: &str) -> Vec<String> {
    fn find<'a>(cs: &'a Value, id: &str) -> Option<&'a Value> {
        cs.as_array()?.iter().find_map(|c| {
            if c["id"] == id {
                Some(c)
            } else {
                find(&c["children"], id)
            }
        })
    }
    let mut out: Vec<String> = find(&directive["clauses"], clause)
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
        .collect();
    out.sort();
    out
}

/// What a refusal must leave as it was.
fn counts(app: &TestApp) -> [i64; 6] {
    [
        "SELECT COUNT(*) FROM audit_log",
        "SELECT COUNT(*) FROM directives",
        "SELECT COUNT(*) FROM documents",
        "SELECT COUNT(*) FROM tasks",
        "SELECT COUNT(*) FROM clauses",
        "SELECT COUNT(*) FROM directive_drafts",
    ]
    .map(|q| app.query_i64(q))
}

/// The operations stored for a unit's document of a directive.
fn ops_of(app: &TestApp, directive: &str, unit: &str) -> i64 {
    app.query_i64(&format!(
        "SELECT ops FROM documents WHERE directive_id = '{directive}' AND unit_id = '{unit}'"
    ))
}

fn a_second_directive_is_imported_corrected_published_and_reaches_its_units(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    // A phone of Cục Viễn thông (the real client over HTTP) has work on 05/CT-BTTTT.
    let phone = Client::in_memory().must();
    phone
        .login(&app.base, "cucvt.a", PASSWORD, "điện thoại", None)
        .must();
    assert_eq!(phone.active_directive().as_deref(), Some("5-ct-btttt"));
    let first = phone.tasks().must()[0].id.clone();
    phone.set_status(&first, "done").must();
    phone.sync().must();
    let ops05 = ops_of(&app, "5-ct-btttt", "cuc-vt");
    assert!(ops05 > 0);

    let (status, draft) = upload(&app, &office, TIN_GIA.as_bytes());
    assert_eq!(status, 201, "{draft}");
    assert_eq!(draft["id"], DRAFT);
    assert_eq!(draft["number"], "07/CT-BTTTT");
    // A draft is not a directive yet: phones and pages do not see it.
    let (_, list) = app.get(&office, "/api/v1/directives");
    assert!(
        !list.as_array().must().iter().any(|d| d["id"] == DRAFT),
        "{list}"
    );
    let (status, _) = app.get(&office, &format!("/api/v1/directives/{DRAFT}"));
    assert_eq!(status, 404);
    let (_, drafts) = app.get(&office, "/api/v1/directives/drafts");
    assert_eq!(drafts[0]["id"], DRAFT, "{drafts}");
    phone.sync().must();
    assert_eq!(
        phone.directives().must().len(),
        1,
        "a draft reaches no phone"
    );

    // Two corrections: Cục Viễn thông leads the carriers' SMS clause (the importer read it as
    // coordinating: the carriers act "at its request"), and Cục PTTH leads the monitoring
    // clause with Cục ATTT.
    let sms = "II.3";
    let before_sms = units_of(&draft["directive"], sms);
    assert!(
        before_sms.contains(&"cuc-vt:coordinating".to_string()),
        "{before_sms:?}"
    );
    let (status, reviewed) = correct(
        &app,
        &office,
        DRAFT,
        json!({"updated_at": draft["updated_at"], "corrections": [
            {"action": "set_role", "clause": sms, "unit": "cuc-vt", "role": "lead"},
        ]}),
    );
    assert_eq!(status, 200, "{reviewed}");
    assert!(units_of(&reviewed["directive"], sms).contains(&"cuc-vt:lead".to_string()));
    assert!(!units_of(&reviewed["directive"], sms).contains(&"cuc-vt:coordinating".to_string()));
    let monitoring = "II.1-1";
    let units = units_of(&reviewed["directive"], monitoring);
    assert!(units.contains(&"cuc-attt:lead".to_string()), "{units:?}");
    assert!(
        !units.iter().any(|u| u.starts_with("cuc-ptth:")),
        "{units:?}"
    );
    let (status, reviewed) = correct(
        &app,
        &office,
        DRAFT,
        json!({"corrections": [
            {"action": "add", "clause": monitoring, "unit": "cuc-ptth", "role": "coordinating"},
            {"action": "set_role", "clause": monitoring, "unit": "cuc-ptth", "role": "lead"},
        ]}),
    );
    assert_eq!(status, 200, "{reviewed}");
    assert!(units_of(&reviewed["directive"], monitoring).contains(&"cuc-ptth:lead".to_string()));
    // The corrections are the draft's overrides, in the bundled overrides' format.
    let overrides =
        taskforce_core::directive::Overrides::from_toml(reviewed["overrides"].as_str().must())
            .must();
    assert_eq!(overrides.directive, "07/CT-BTTTT");
    assert_eq!(overrides.clause.len(), 2);

    let (status, published) = app.post_json(
        &office,
        &format!("/api/v1/directives/drafts/{DRAFT}/publish"),
        json!({}),
    );
    assert_eq!(status, 201, "{published}");
    let documents = app.query_i64(&format!(
        "SELECT COUNT(*) FROM documents WHERE directive_id = '{DRAFT}'"
    ));
    assert_eq!(
        published["documents"].as_array().must().len() as i64,
        documents
    );
    let (_, list) = app.get(&office, "/api/v1/directives");
    let ids: Vec<&str> = list
        .as_array()
        .must()
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, ["5-ct-btttt", DRAFT], "oldest first");
    let (status, _) = app.get(&office, &format!("/api/v1/directives/drafts/{DRAFT}"));
    assert_eq!(status, 404, "a published draft is gone");
    let (_, directive) = app.get(&office, &format!("/api/v1/directives/{DRAFT}"));
    assert!(units_of(&directive, sms).contains(&"cuc-vt:lead".to_string()));
    // Cục PTTH, which the text gave only a coordinating part elsewhere, leads II.1-1.
    let (_, ptth) = app.get(
        &office,
        &format!("/api/v1/units/cuc-ptth/document?directive={DRAFT}"),
    );
    let ptth: DocHeader = serde_json::from_value(ptth["header"].clone()).must();
    assert!(
        ptth.tasks
            .iter()
            .any(|t| t.clause == monitoring && t.role == Role::Lead),
        "{ptth:?}"
    );

    // The phone's next sync brings the new directive; 05 stays the active one.
    phone.sync().must();
    let followed = phone.directives().must();
    let ids: Vec<&str> = followed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["5-ct-btttt", DRAFT], "{followed:?}");
    assert_eq!(phone.active_directive().as_deref(), Some("5-ct-btttt"));
    phone.select_directive(DRAFT).must();
    let tasks = phone.tasks().must();
    let task = tasks
        .iter()
        .find(|t| t.clause.as_deref() == Some(sms))
        .must();
    assert_eq!(task.role.as_deref(), Some("lead"), "the corrected role");
    assert_eq!(task.directive, DRAFT);
    phone.set_status(&task.id, "in_progress").must();
    phone.sync().must();
    assert!(
        ops_of(&app, DRAFT, "cuc-vt") > 0,
        "its edit reached the server"
    );

    // Its work on 05/CT-BTTTT is as it was, on the phone and on the server.
    assert_eq!(ops_of(&app, "5-ct-btttt", "cuc-vt"), ops05);
    phone.select_directive("5-ct-btttt").must();
    let held = phone.tasks().must();
    assert_eq!(held.iter().find(|t| t.id == first).must().status, "done");
    let (_, unit05) = app.get(
        &office,
        "/api/v1/units/cuc-vt/progress?directive=5-ct-btttt",
    );
    assert_eq!(unit05["counts"]["done"], 1, "{unit05}");
    let (_, unit07) = app.get(
        &office,
        &format!("/api/v1/units/cuc-vt/progress?directive={DRAFT}"),
    );
    assert_eq!(unit07["counts"]["in_progress"], 1, "{unit07}");
    // Every step is in the audit log.
    assert_eq!(
        app.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('directive.import', 'directive.review', 'directive.publish')"
        ),
        4
    );
}

fn refusals_change_nothing(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let member = app.token("cucvt.a");
    let start = counts(&app);

    // Only the Ministry Office (and admins) import.
    assert_eq!(upload(&app, &member, TIN_GIA.as_bytes()).0, 403);
    assert_eq!(upload(&app, "not-a-token", TIN_GIA.as_bytes()).0, 401);
    // Not a directive; binary; too large.
    let (status, body) = upload(
        &app,
        &office,
        "Thư mời họp\n\nKính gửi các đơn vị.".as_bytes(),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("not_a_directive")),
        "{body}"
    );
    let (status, body) = upload(&app, &office, &[0xff, 0xfe, 0, 1, 2]);
    assert_eq!(status, 422, "{body}");
    let big = vec![b'a'; taskforce_core::directive::MAX_DIRECTIVE_BYTES + 1];
    assert_eq!(upload(&app, &office, &big).0, 413);
    assert_eq!(counts(&app), start);

    let (status, draft) = upload(&app, &office, TIN_GIA.as_bytes());
    assert_eq!(status, 201);
    let with_draft = counts(&app);
    let overrides = draft["overrides"].clone();
    let bad = [
        json!({"corrections": [{"action": "add", "clause": "II.1-1", "unit": "no-such-unit", "role": "lead"}]}),
        json!({"corrections": [{"action": "add", "clause": "IX.9", "unit": "cuc-vt", "role": "lead"}]}),
        json!({"corrections": [{"action": "add", "clause": "II.1-1", "unit": "bo-y-te", "role": "lead"}]}),
        // The first would do; the second cannot: neither is made.
        json!({"corrections": [
            {"action": "add", "clause": "II.1-1", "unit": "cuc-vt", "role": "lead"},
            {"action": "remove", "clause": "II.1-1", "unit": "cuc-bao-chi"},
        ]}),
    ];
    for body in bad {
        let (status, answer) = correct(&app, &office, DRAFT, body.clone());
        assert_eq!(
            (status, answer["error"].as_str()),
            (422, Some("bad_correction")),
            "{body} → {answer}"
        );
    }
    for body in [
        json!({"corrections": []}),
        json!({"corrections": [{"action": "drop_table", "clause": "I"}]}),
    ] {
        let (status, answer) = correct(&app, &office, DRAFT, body.clone());
        assert_eq!(status, 400, "{body} → {answer}");
    }
    assert_eq!(
        correct(
            &app,
            &member,
            DRAFT,
            json!({"corrections": [{"action": "not_actionable", "clause": "I", "value": true}]})
        )
        .0,
        403
    );
    assert_eq!(
        correct(
            &app,
            &office,
            "no-such-draft",
            json!({"corrections": [{"action": "not_actionable", "clause": "I", "value": true}]})
        )
        .0,
        404
    );
    let (_, now) = app.get(&office, &format!("/api/v1/directives/drafts/{DRAFT}"));
    assert_eq!(now["overrides"], overrides, "no correction was kept");
    assert_eq!(counts(&app), with_draft, "nor logged");

    // Two reviewers who read the same draft: the first correction lands, the second is refused.
    let read = now["updated_at"].clone();
    let one = json!({"updated_at": read, "corrections": [{"action": "add", "clause": "II.1-1", "unit": "cuc-vt", "role": "coordinating"}]});
    let two = json!({"updated_at": read, "corrections": [{"action": "add", "clause": "II.1-1", "unit": "cuc-ptth", "role": "coordinating"}]});
    assert_eq!(correct(&app, &office, DRAFT, one).0, 200);
    let (status, body) = correct(&app, &office, DRAFT, two);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("draft_changed")),
        "{body}"
    );
    let with_draft = counts(&app);

    // A member cannot publish or discard; a draft publishes once.
    let publish = format!("/api/v1/directives/drafts/{DRAFT}/publish");
    assert_eq!(app.post_json(&member, &publish, json!({})).0, 403);
    assert_eq!(
        delete(&app, &member, &format!("/api/v1/directives/drafts/{DRAFT}")),
        403
    );
    assert_eq!(counts(&app), with_draft);
    assert_eq!(app.post_json(&office, &publish, json!({})).0, 201);
    let published = counts(&app);
    assert_eq!(app.post_json(&office, &publish, json!({})).0, 404);
    assert_eq!(counts(&app), published);
    // Importing it again makes a draft of its revision (decision 44; `directive_revisions`).
    let (status, again) = upload(&app, &office, TIN_GIA.as_bytes());
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["revision"]["revision"], 1, "{again}");
}

fn a_draft_imported_again_keeps_its_corrections_and_a_discarded_one_is_gone(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let (_, draft) = upload(&app, &office, TIN_GIA.as_bytes());
    let (status, _) = correct(
        &app,
        &office,
        DRAFT,
        json!({"updated_at": draft["updated_at"], "corrections": [
            {"action": "add", "clause": "II.1-1", "unit": "cuc-ptth", "role": "coordinating"},
            {"action": "add", "clause": "II.2", "unit": "cuc-attt", "role": "coordinating"},
            {"action": "set_role", "clause": "II.3", "unit": "cuc-vt", "role": "lead"},
        ]}),
    );
    assert_eq!(status, 200);
    // A corrected text: clause 2 (Sở TTTT Hà Nội's pilot) is gone, so the carriers' clause 3
    // is now 2; the rest is the same.
    let start = TIN_GIA.find("2. Sở TTTT Hà Nội").must();
    let end = TIN_GIA.find("3. Các doanh nghiệp viễn thông").must();
    let corrected = format!(
        "{}{}",
        &TIN_GIA[..start],
        &TIN_GIA[end..].replacen("3. Các", "2. Các", 1)
    );
    let (status, again) = upload(&app, &office, corrected.as_bytes());
    assert_eq!(status, 201, "{again}");
    // II.1-1 says the same: its correction stays. II.2 now names another clause (the
    // carriers'): its correction, made on Hà Nội's words, is dropped, not applied to the wrong
    // clause; II.3 is gone. Each dropped one is a warning the reviewer sees.
    let kept =
        taskforce_core::directive::Overrides::from_toml(again["overrides"].as_str().must()).must();
    let kept: Vec<&str> = kept.clause.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(kept, ["II.1-1"], "{again}");
    let warnings: Vec<&str> = again["directive"]["warnings"]
        .as_array()
        .must()
        .iter()
        .filter_map(|w| w["field"].as_str())
        .collect();
    assert!(
        warnings.contains(&"clause:II.2") && warnings.contains(&"clause:II.3"),
        "{warnings:?}"
    );
    assert!(units_of(&again["directive"], "II.1-1").contains(&"cuc-ptth:coordinating".to_string()));
    assert_eq!(
        units_of(&again["directive"], "II.2"),
        ["carriers:lead", "cuc-vt:coordinating"],
        "the carriers' clause as the text says"
    );
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM directive_drafts"),
        1,
        "one draft per directive"
    );

    assert_eq!(
        delete(&app, &office, &format!("/api/v1/directives/drafts/{DRAFT}")),
        204
    );
    assert_eq!(
        delete(&app, &office, &format!("/api/v1/directives/drafts/{DRAFT}")),
        404
    );
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM directive_drafts"), 0);
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'directive.discard'"),
        1
    );
}

/// Import and publish the fixture as it reads.
fn publish_tin_gia(app: &TestApp, office: &str) {
    assert_eq!(upload(app, office, TIN_GIA.as_bytes()).0, 201);
    let (status, body) = app.post_json(
        office,
        &format!("/api/v1/directives/drafts/{DRAFT}/publish"),
        json!({}),
    );
    assert_eq!(status, 201, "{body}");
}

fn the_pages_exports_and_office_forms_follow_the_directive_picked(db: TestDb) {
    use common::web::{field_after, get, post_form, sign_in};
    let app = spawn_app_with_members(db);
    publish_tin_gia(&app, &app.token("vanphong"));
    let session = sign_in(&app, "vanphong");

    // The bundled directive first; the picker offers both.
    let home = get(&app, &session, "/");
    assert_eq!(home.status, 200);
    assert!(
        home.body
            .contains("class=\"current\" data-directive=\"5-ct-btttt\""),
        "{}",
        home.body
    );
    assert!(home.body.contains("href=\"/?directive=07-ct-btttt\""));
    // Picking 07 shows it, and the next pages (the cookie) too.
    let picked = get(&app, &session, &format!("/?directive={DRAFT}"));
    assert_eq!(picked.status, 200);
    assert!(picked.body.contains("07/CT-BTTTT"));
    let remembered = picked.cookie("tf_directive").must();
    assert_eq!(remembered, format!("tf_directive={DRAFT}"));
    let cookies = format!("{session}; {remembered}");
    let matrix = get(&app, &cookies, "/matrix");
    // 07 has no section III; 05 has.
    assert!(
        matrix.body.contains("href=\"/clauses/II.3\""),
        "07's clauses"
    );
    assert!(!matrix.body.contains("href=\"/clauses/III.1\""), "not 05's");
    assert!(
        get(&app, &session, "/matrix")
            .body
            .contains("href=\"/clauses/III.1\""),
        "05 by default"
    );
    // An unknown directive asked for is a 404; a remembered one the server lacks falls back.
    assert_eq!(get(&app, &session, "/?directive=99-ct-xyz").status, 404);
    let stale = get(&app, &format!("{session}; tf_directive=99-ct-xyz"), "/");
    assert_eq!(stale.status, 200);
    assert!(
        stale
            .body
            .contains("class=\"current\" data-directive=\"5-ct-btttt\"")
    );

    // Exports of the picked directive.
    let csv = get(
        &app,
        &session,
        &format!("/exports/matrix.csv?directive={DRAFT}"),
    );
    assert_eq!(csv.status, 200);
    assert!(
        csv.body.contains("II.3") && !csv.body.contains("III.1"),
        "{}",
        csv.body
    );
    assert!(
        csv.header("content-disposition")
            .unwrap_or_default()
            .contains("matrix-07-ct-btttt.csv")
    );
    let bundled = get(&app, &session, "/exports/matrix.csv");
    assert!(
        bundled.body.contains("III.1"),
        "the bundled directive's matrix by default"
    );
    assert_eq!(
        get(&app, &session, "/exports/tasks.csv?directive=99-ct-xyz").status,
        404
    );

    // The unit page's forms carry the directive they were shown with: a comment lands in
    // cuc-vt's document of 07, not of 05.
    let unit = get(&app, &cookies, "/units/cuc-vt");
    assert_eq!(
        field_after(&unit.body, "id=\"office-unit-urge\"", "directive").as_deref(),
        Some(DRAFT)
    );
    let csrf = field_after(&unit.body, "id=\"office-unit-urge\"", "csrf").must();
    let before05 = app.query_i64(
        "SELECT ops FROM documents WHERE directive_id = '5-ct-btttt' AND unit_id = 'cuc-vt'",
    );
    let before07 = app.query_i64(&format!(
        "SELECT ops FROM documents WHERE directive_id = '{DRAFT}' AND unit_id = 'cuc-vt'"
    ));
    let done = post_form(
        &app,
        &session,
        "/office/actions",
        &[
            ("csrf", &csrf),
            ("directive", DRAFT),
            ("action", "urge"),
            ("unit", "cuc-vt"),
            ("text", "Đôn đốc chỉ thị 07"),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.header("location"),
        Some(format!("/units/cuc-vt?directive={DRAFT}").as_str())
    );
    assert_eq!(
        app.query_i64(
            "SELECT ops FROM documents WHERE directive_id = '5-ct-btttt' AND unit_id = 'cuc-vt'"
        ),
        before05
    );
    assert!(
        app.query_i64(&format!(
            "SELECT ops FROM documents WHERE directive_id = '{DRAFT}' AND unit_id = 'cuc-vt'"
        )) > before07
    );
}

/// A reviewer who read the draft before it was imported again (in the same second, too) is
/// refused: the ids they saw may name other clauses now.
fn a_correction_read_before_a_reimport_is_refused(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    let (_, first) = upload(&app, &office, TIN_GIA.as_bytes());
    let start = TIN_GIA.find("2. Sở TTTT Hà Nội").must();
    let end = TIN_GIA.find("3. Các doanh nghiệp viễn thông").must();
    let shifted = format!(
        "{}{}",
        &TIN_GIA[..start],
        &TIN_GIA[end..].replacen("3. Các", "2. Các", 1)
    );
    let (status, second) = upload(&app, &office, shifted.as_bytes());
    assert_eq!(status, 201);
    assert!(
        second["updated_at"].as_i64() > first["updated_at"].as_i64(),
        "strictly later"
    );
    let stale = json!({"updated_at": first["updated_at"], "corrections": [
        {"action": "add", "clause": "II.2", "unit": "cuc-attt", "role": "coordinating"},
    ]});
    let (status, body) = correct(&app, &office, DRAFT, stale);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("draft_changed")),
        "{body}"
    );
    assert_eq!(
        units_of(&second["directive"], "II.2"),
        units_of(
            &app.get(&office, &format!("/api/v1/directives/drafts/{DRAFT}"))
                .1["directive"],
            "II.2"
        ),
        "the carriers' clause is as the text says"
    );
}

/// Corrections racing a publish: each is either in what was published or refused, never
/// answered 200 and lost.
fn a_correction_racing_a_publish_is_published_or_refused(db: TestDb) {
    let app = spawn_app_with_members(db);
    let office = app.token("vanphong");
    for round in 0..6 {
        let number = format!("{}/CT-BTTTT", 40 + round);
        let id = taskforce_core::directive::slug(&number);
        let text = TIN_GIA.replace("07/CT-BTTTT", &number);
        assert_eq!(upload(&app, &office, text.as_bytes()).0, 201);
        let (a, b) = std::thread::scope(|s| {
            let fix = s.spawn(|| {
                correct(&app, &office, &id, json!({"corrections": [
                    {"action": "add", "clause": "II.1-1", "unit": "cuc-vt", "role": "coordinating"},
                ]}))
                .0
            });
            let publish = s.spawn(|| {
                app.post_json(
                    &office,
                    &format!("/api/v1/directives/drafts/{id}/publish"),
                    json!({}),
                )
                .0
            });
            (fix.join().must(), publish.join().must())
        });
        let assigned = app.query_i64(&format!(
            "SELECT COUNT(*) FROM assignments WHERE directive_id = '{id}' AND clause_id = 'II.1-1' AND unit_id = 'cuc-vt'"
        ));
        match (a, b) {
            // Corrected, then published with it (or the publish refused: published after).
            (200, 201) => assert_eq!(
                assigned, 1,
                "round {round}: a correction answered 200 was lost"
            ),
            (200, 409) => {
                assert_eq!(assigned, 0);
                let (status, _) = app.post_json(
                    &office,
                    &format!("/api/v1/directives/drafts/{id}/publish"),
                    json!({}),
                );
                assert_eq!(status, 201);
                assert_eq!(app.query_i64(&format!(
                    "SELECT COUNT(*) FROM assignments WHERE directive_id = '{id}' AND clause_id = 'II.1-1' AND unit_id = 'cuc-vt'"
                )), 1);
            }
            // Published first: the correction finds no draft, or a changed one.
            (404 | 409, 201) => assert_eq!(assigned, 0),
            other => panic!("round {round}: {other:?}"),
        }
    }
}

on_every_store!(
    a_correction_read_before_a_reimport_is_refused,
    a_correction_racing_a_publish_is_published_or_refused,
    the_pages_exports_and_office_forms_follow_the_directive_picked,
    a_second_directive_is_imported_corrected_published_and_reaches_its_units,
    refusals_change_nothing,
    a_draft_imported_again_keeps_its_corrections_and_a_discarded_one_is_gone,
);
