//! The Ministry Office acting from the dashboard (issue 20, point 1): the forms on the unit
//! and clause pages post with the session's CSRF token, land as operations the unit's phone
//! receives, and the page shows what was done (Vietnamese and English) or why nothing was;
//! a member sees no forms and is refused; a missing or foreign token is refused. Real HTTP
//! with cookies as a browser sends them, SQLite and PostgreSQL.

mod common;

use common::{TestApp, TestDb, spawn_app_with_members};
use taskforce_core::doc::{Day, ReviewState, Status, TaskRef};
use taskforce_server::office::format_seen;

const T: TaskRef = TaskRef::Assigned(0);

use common::web::{self, Answer, field_after, sign_in};

fn get(app: &TestApp, cookie: &str, path: &str) -> Answer {
    web::get(app, cookie, path)
}

fn post_form(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> Answer {
    web::post_form(app, cookie, "/office/actions", form)
}

fn stored(app: &TestApp) -> i64 {
    app.query_i64("SELECT COUNT(*) FROM changes")
}

/// A form posted as `session`'s browser: the page it returns to, as the browser then shows
/// it (with the outcome's cookie), and that page's answer dropping the cookie.
fn act(app: &TestApp, session: &str, form: &[(&str, &str)]) -> (String, String) {
    let a = post_form(app, session, form);
    assert_eq!(a.status, 303, "{form:?}: {}", a.body);
    let back = a.header("location").unwrap_or_default().to_string();
    let flash = a
        .cookie("tf_flash")
        .unwrap_or_else(|| panic!("{form:?}: no outcome"));
    let shown = get(app, &format!("{session}; {flash}"), &back);
    assert_eq!(shown.status, 200, "{back}: {}", shown.body);
    let dropped = shown.cookie("tf_flash").unwrap_or_default();
    assert_eq!(dropped, "tf_flash=", "{back}: the outcome is shown once");
    (back, shown.body)
}

fn the_office_returns_urges_and_accepts_from_the_unit_page(db: TestDb) {
    let app = spawn_app_with_members(db);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.sync(&app);

    let office = sign_in(&app, "vanphong");
    let page = get(&app, &office, "/units/cuc-vt");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"action="/office/actions""#));
    assert!(page.body.contains(r#"id="office-unit-urge""#));
    let row = r#"<tr data-task="a0">"#;
    assert!(page.body.contains(row), "{}", page.body);
    let csrf = field_after(&page.body, row, "csrf").unwrap_or_default();
    let token = office.trim_start_matches("tf_token=");
    let expected = taskforce_server::http::session_csrf(token);
    assert!(
        taskforce_server::http::csrf_matches(&expected, &csrf),
        "{csrf}"
    );
    assert!(!page.body.contains(&expected), "the token, masked");
    let seen = field_after(&page.body, row, "seen").unwrap_or_default();
    assert_eq!(seen, format_seen(&phone.replica.doc().unit_clock(T)));
    let task = |action: &'static str, text: &'static str, due: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("action", action.into()),
            ("unit", "cuc-vt".into()),
            ("task", "a0".into()),
            ("text", text.into()),
            ("due", due.into()),
        ]
    };
    let fields = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
    let send = |f: Vec<(&'static str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        act(&app, &office, &f)
    };

    // A blank reason, a bad date, accepting what is not reported: shown, nothing stored.
    let before = stored(&app);
    let (back, shown) = send(fields(&task("return", "   ", "")));
    assert_eq!(back, "/units/cuc-vt");
    assert!(shown.contains(r#"id="office-error""#), "{shown}");
    assert!(shown.contains("hãy ghi lý do trả lại"), "{shown}");
    let (_, shown) = send(fields(&task("urge", "Bổ sung", "14/02/2020")));
    assert!(shown.contains(r#"id="office-error""#) && shown.contains("YYYY-MM-DD"));
    let mut not_done = fields(&task("accept", "", ""));
    not_done[3].1 = "a1".into();
    let (_, shown) = send(not_done);
    assert!(shown.contains("chưa báo cáo hoàn thành"), "{shown}");
    assert_eq!(stored(&app), before, "nothing was stored");

    // Return with a reason (over what the page showed); urge the whole unit with a deadline.
    let mut ret = fields(&task("return", "Thiếu số liệu tuần 6", ""));
    ret.push(("seen", seen.clone()));
    let (_, shown) = send(ret);
    assert!(
        shown.contains("Đã trả lại nhiệm vụ a0 của cuc-vt"),
        "{shown}"
    );
    assert!(!shown.contains(r#"id="office-error""#));
    let (_, shown) = send(vec![
        ("csrf", csrf.clone()),
        ("action", "urge".into()),
        ("unit", "cuc-vt".into()),
        ("text", "Đề nghị hoàn thành trước 14/2".into()),
        ("due", "2020-02-14".into()),
    ]);
    assert!(
        shown.contains("Đã đôn đốc nhiệm vụ a0 của cuc-vt"),
        "{shown}"
    );
    assert!(
        shown.contains("Đã đôn đốc nhiệm vụ a1 của cuc-vt"),
        "{shown}"
    );
    // In English too.
    let a = post_form(
        &app,
        &office,
        &[
            ("csrf", &csrf),
            ("action", "comment"),
            ("unit", "cuc-vt"),
            ("task", "a0"),
            ("text", "Liên hệ anh Bình"),
        ],
    );
    let flash = a.cookie("tf_flash").unwrap_or_default();
    let english = get(&app, &format!("{office}; {flash}"), "/units/cuc-vt?lang=en");
    assert!(
        english.body.contains("Commented on task a0 of cuc-vt"),
        "{}",
        english.body
    );

    // The phone gets all of it.
    phone.sync(&app);
    let doc = phone.replica.doc();
    assert_eq!(doc.review_state(T), ReviewState::Returned);
    assert_eq!(doc.reviews(T)[0].reason, "Thiếu số liệu tuần 6");
    assert_eq!(doc.urges(T).len(), 1);
    assert_eq!(doc.urges(T)[0].1.message, "Đề nghị hoàn thành trước 14/2");
    let feb14 = Day::from_date(chrono::NaiveDate::from_ymd_opt(2020, 2, 14).unwrap_or_default());
    assert_eq!(doc.office_deadline(T), Some(feb14));
    assert_eq!(doc.task(T).map(|t| t.comments.len()), Some(1));
    let page = get(&app, &office, "/units/cuc-vt");
    assert!(page.body.contains(r#"<td class="review">Bị trả lại</td>"#));

    // Done again; accepted over the page that shows it.
    phone.status(0, Status::Done);
    phone.sync(&app);
    let page = get(&app, &office, "/units/cuc-vt");
    let seen = field_after(&page.body, row, "seen").unwrap_or_default();
    assert_eq!(seen, format_seen(&phone.replica.doc().unit_clock(T)));
    let mut acc = fields(&task("accept", "", ""));
    acc.push(("seen", seen));
    let (_, shown) = send(acc);
    assert!(
        shown.contains("Đã nghiệm thu nhiệm vụ a0 của cuc-vt"),
        "{shown}"
    );
    phone.sync(&app);
    assert_eq!(phone.replica.doc().review_state(T), ReviewState::Accepted);
    let matrix = get(&app, &office, "/matrix");
    assert!(matrix.body.contains(r#"class="mark r-accepted""#));
}

fn members_see_no_forms_and_a_post_without_the_office_or_its_token_is_refused(db: TestDb) {
    let app = spawn_app_with_members(db);
    let clause = app.document(&app.token("vanphong"), "cuc-vt")["header"]["tasks"][0]["clause"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let member = sign_in(&app, "cucvt.a");
    for path in ["/units/cuc-vt".to_string(), format!("/clauses/{clause}")] {
        let page = get(&app, &member, &path);
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("/office/actions"), "{path}: no forms");
    }
    let before = stored(&app);
    let own = taskforce_server::http::session_csrf(member.trim_start_matches("tf_token="));
    let comment = |csrf: &str| {
        [
            ("csrf", csrf.to_string()),
            ("action", "comment".into()),
            ("unit", "cuc-vt".into()),
            ("task", "a0".into()),
            ("text", "tự nghiệm thu".into()),
        ]
    };
    let send = |session: &str, f: &[(&str, String)]| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_form(&app, session, &f)
    };
    let a = send(&member, &comment(&own));
    assert_eq!(a.status, 403, "a member with their own token: {}", a.body);
    assert!(a.cookie("tf_flash").is_none());

    let office = sign_in(&app, "vanphong");
    let no_token = send(&office, &comment("")[1..]);
    assert_eq!(no_token.status, 403);
    assert!(no_token.body.contains(r#"id="csrf-refused""#));
    let foreign = send(&office, &comment(&own));
    assert_eq!(foreign.status, 403, "another session's token");
    assert!(foreign.body.contains(r#"id="csrf-refused""#));
    let signed_out = send("", &comment(&own));
    assert_eq!(signed_out.status, 303);
    assert_eq!(signed_out.header("location"), Some("/login"));
    assert_eq!(stored(&app), before, "nothing was stored");
}

fn the_clause_page_acts_on_every_unit_it_names_and_shows_their_review(db: TestDb) {
    let app = spawn_app_with_members(db);
    let token = app.token("vanphong");
    let clause = app.document(&token, "cuc-vt")["header"]["tasks"][0]["clause"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let units: Vec<String> = app
        .get(&token, &format!("/api/v1/progress/clauses/{clause}"))
        .1["units"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["unit"].as_str().map(str::to_string))
        .collect();
    assert!(units.len() > 1, "{clause} names several units: {units:?}");
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, Status::Done);
    phone.sync(&app);

    let office = sign_in(&app, "vanphong");
    let path = format!("/clauses/{clause}");
    let page = get(&app, &office, &path);
    for form in [
        "office-clause-urge",
        "office-clause-deadline",
        "office-clause-accept",
    ] {
        assert!(page.body.contains(&format!(r#"id="{form}""#)), "{form}");
    }
    let csrf = field_after(&page.body, "office-clause-urge", "csrf").unwrap_or_default();
    let send = |f: &[(&str, &str)]| act(&app, &office, f);

    let (back, shown) = send(&[
        ("csrf", &csrf),
        ("action", "urge"),
        ("clause", &clause),
        ("text", "Đề nghị các đơn vị báo cáo"),
        ("due", "2020-02-20"),
    ]);
    assert_eq!(back, path);
    // Every unit but cuc-vt (reported done) is urged, and the page says so.
    let others = units.len() - 1;
    assert_eq!(
        shown
            .matches("<p class=\"office-applied\">Đã đôn đốc nhiệm vụ ")
            .count(),
        others.min(12),
        "{shown}"
    );
    assert!(
        shown.contains(r#"id="office-skipped""#) && shown.contains(" — cuc-vt: "),
        "cuc-vt is skipped: {shown}"
    );
    let urged: Vec<(String, u64)> = app
        .get(&token, &format!("/api/v1/progress/clauses/{clause}"))
        .1["units"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["unit"].as_str().unwrap_or_default().to_string(),
                u["urges"].as_u64().unwrap_or(9),
            )
        })
        .collect();
    for (u, n) in &urged {
        assert_eq!(*n, u64::from(u != "cuc-vt"), "{u} urged");
    }
    let (_, shown) = send(&[("csrf", &csrf), ("action", "accept"), ("clause", &clause)]);
    assert!(
        shown.contains("Đã nghiệm thu nhiệm vụ a0 của cuc-vt"),
        "{shown}"
    );
    assert!(
        shown.contains(r#"<tr data-unit="cuc-vt">"#)
            && shown.contains(r#"<td class="review r-accepted">Đã nghiệm thu</td>"#),
        "{shown}"
    );
    assert!(
        shown.contains(r#"<td class="num urges">1 · "#),
        "the others' urges, with the day of the latest"
    );
    let (_, shown) = send(&[
        ("csrf", &csrf),
        ("action", "deadline"),
        ("clause", &clause),
        ("due", "2020-03-01"),
    ]);
    assert_eq!(
        shown
            .matches("<p class=\"office-applied\">Đã đặt hạn cho nhiệm vụ ")
            .count(),
        units.len().min(12),
        "{shown}"
    );
    phone.sync(&app);
    let doc = phone.replica.doc();
    assert_eq!(doc.review_state(T), ReviewState::Accepted);
    let mar1 = Day::from_date(chrono::NaiveDate::from_ymd_opt(2020, 3, 1).unwrap_or_default());
    assert_eq!(doc.office_deadline(T), Some(mar1));

    // The matrix export carries the review per cell.
    let (status, csv) = app.fetch(&token, "/exports/matrix.csv");
    assert_eq!(status, 200);
    let csv = String::from_utf8_lossy(&csv).into_owned();
    let row = csv
        .lines()
        .find(|l| l.starts_with(&format!("{clause},")))
        .unwrap_or_default();
    assert!(row.contains("Hoàn thành · Đã nghiệm thu"), "{row}");
    assert!(row.contains("Đôn đốc 1 lần"), "{row}");
}

on_every_store!(
    the_office_returns_urges_and_accepts_from_the_unit_page,
    members_see_no_forms_and_a_post_without_the_office_or_its_token_is_refused,
    the_clause_page_acts_on_every_unit_it_names_and_shows_their_review,
);
