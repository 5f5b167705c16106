//! The Ministry Office's dashboard and progress API over HTTP, on SQLite and PostgreSQL:
//! sign-in, the matrix, a clause, the language switch, exports that hold the API's figures,
//! a unit member refused other units, and progress that moves when a phone syncs.

mod common;

use common::{DIRECTIVE, PASSWORD, TestApp, TestDb, spawn_app};
use taskforce_core::doc::{Op, Report, Status};
use taskforce_server::auth::Role;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// The sign-in form's CSRF cookie (`tf_csrf=…`) and the same value for its hidden field.
fn login_csrf(app: &TestApp) -> (String, String) {
    let mut form = agent()
        .get(&format!("{}/login", app.base))
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    let cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tf_csrf="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no CSRF cookie"))
        .to_string();
    let value = cookie.trim_start_matches("tf_csrf=").to_string();
    let html = form.body_mut().read_to_string().unwrap_or_default();
    let field = csrf_field(&html);
    assert!(
        taskforce_server::http::csrf_matches(&value, &field),
        "the form carries the cookie's token, masked: {field}"
    );
    assert!(!html.contains(&value), "and never the token itself");
    (cookie, field)
}

/// The value of a page's hidden `csrf` field.
fn csrf_field(html: &str) -> String {
    let key = r#"name="csrf" value=""#;
    html.find(key)
        .and_then(|at| {
            let rest = &html[at + key.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .unwrap_or_else(|| panic!("no csrf field: {html}"))
}

/// A wrong password draws the sign-in form again (401), and its form signs in: its token is
/// the cookie's, masked once (not the field sent, masked again).
#[test]
fn after_a_wrong_password_the_form_drawn_again_signs_in() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let (cookie, csrf) = login_csrf(&app);
    let mut wrong = agent()
        .post(&format!("{}/login", app.base))
        .header("Cookie", &cookie)
        .send_form([
            ("username", "vanphong"),
            ("password", "sai-mật-khẩu"),
            ("csrf", &csrf),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wrong.status().as_u16(), 401);
    let page = wrong.body_mut().read_to_string().unwrap_or_default();
    let again = csrf_field(&page);
    assert_ne!(again, csrf, "masked afresh");
    let resp = agent()
        .post(&format!("{}/login", app.base))
        .header("Cookie", &cookie)
        .send_form([
            ("username", "vanphong"),
            ("password", PASSWORD),
            ("csrf", &again),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        resp.status().as_u16(),
        303,
        "signed in from the form drawn again"
    );
}

/// Sign in through the form; the session cookie.
fn sign_in(app: &TestApp, user: &str) -> String {
    let (csrf_cookie, csrf) = login_csrf(app);
    let resp = agent()
        .post(&format!("{}/login", app.base))
        .header("Cookie", &csrf_cookie)
        .send_form([("username", user), ("password", PASSWORD), ("csrf", &csrf)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tf_token="))
        .unwrap_or_else(|| panic!("no session cookie"));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap_or_default().to_string()
}

fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let mut resp = agent()
        .get(&format!("{}{path}", app.base))
        .header("Cookie", cookie)
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn dashboard_shows_progress(db: TestDb) {
    let app = spawn_app(db);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    // Signed out: sent to the sign-in page.
    assert_eq!(
        agent()
            .get(&format!("{}/matrix", app.base))
            .call()
            .map(|r| r.status().as_u16())
            .ok(),
        Some(303)
    );
    let (csrf_cookie, csrf) = login_csrf(&app);
    let bad = agent()
        .post(&format!("{}/login", app.base))
        .header("Cookie", &csrf_cookie)
        .send_form([
            ("username", "vanphong"),
            ("password", "wrong one!!"),
            ("csrf", &csrf),
        ]);
    assert_eq!(bad.map(|r| r.status().as_u16()).ok(), Some(401));

    let mo = sign_in(&app, "vanphong");
    let (status, html) = page(&app, &mo, "/matrix");
    assert_eq!(status, 200);
    assert!(html.contains("Ma trận điều khoản × đơn vị") && html.contains("id=\"matrix\""));
    for clause in ["II.1-1", "III.3-3", "III.14-2", "closing-3"] {
        assert!(
            html.contains(&format!("/clauses/{clause}\"")),
            "{clause} missing from the matrix"
        );
    }
    assert!(
        html.contains("Cục Viễn thông") && html.contains("(63)"),
        "the provinces show as one column of 63"
    );
    let (status, html) = page(&app, &mo, "/clauses/II.1-1");
    assert_eq!(status, 200);
    assert!(
        html.contains("Tổ chức nhắn tin tuyên truyền"),
        "the clause text"
    );
    let (_, html) = page(&app, &mo, "/?lang=en");
    assert!(html.contains("<h1>Overview</h1>") && html.contains("lang=\"en\""));
    let (_, html) = page(&app, &mo, "/hotlines?lang=vi");
    assert!(html.contains("Miễn cước đường dây nóng"));

    // A phone of Cục Viễn thông syncs; the API and the dashboard move without a restart.
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    let token = app.token("vanphong");
    let before = app
        .get(&token, &format!("/api/v1/progress?directive={DIRECTIVE}"))
        .1;
    assert_eq!(before["counts"]["done"], 0);
    let sms = phone
        .replica
        .doc()
        .header()
        .task_index("II.1-1")
        .unwrap_or_else(|| panic!("no SMS task"));
    phone.status(sms, Status::Done);
    phone.edit(Op::Report(Report {
        period: "2020-W06".into(),
        text: "120 triệu tin".into(),
        figures: vec![],
        at: chrono::Utc::now().timestamp(),
    }));
    phone.sync(&app);
    let after = app
        .get(&token, &format!("/api/v1/progress?directive={DIRECTIVE}"))
        .1;
    assert_eq!(after["counts"]["done"], 1);
    let (status, clause) = app.get(&token, "/api/v1/progress/clauses/II.1-1");
    assert_eq!(status, 200);
    assert_eq!(clause["counts"]["done"], 1);
    let cuc = clause["units"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["unit"] == "cuc-vt")
        .cloned()
        .unwrap_or_default();
    assert_eq!(cuc["status"], "done");
    let (_, unit) = app.get(&token, "/api/v1/progress/units/cuc-vt");
    assert_eq!(unit["unit"]["days_since_report"], 0);
    let (_, group) = app.get(&token, "/api/v1/progress/units/carriers");
    assert_eq!(group["group"]["members"], 6);
    let (_, reports) = app.get(&token, "/api/v1/reports?unit=cuc-vt");
    assert_eq!(reports.as_array().map(Vec::len), Some(1));
    let (_, tasks) = app.get(&token, "/api/v1/tasks?unit=cuc-vt&status=done");
    assert_eq!(tasks.as_array().map(Vec::len), Some(1));
    let (_, html) = page(&app, &mo, "/clauses/II.1-1");
    assert!(
        html.contains("class=\"s-done\""),
        "the clause page shows the unit as done"
    );
    let (_, html) = page(&app, &mo, "/");
    assert!(
        html.contains("id=\"total-done\">1/"),
        "the overview counts it"
    );
    assert!(
        html.contains("id=\"progress-chart\""),
        "the chart has a point"
    );

    // Exports hold the API's figures.
    let mut resp = agent()
        .get(&format!("{}/exports/matrix.csv", app.base))
        .header("Cookie", &mo)
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    let csv = resp.body_mut().read_to_string().unwrap_or_default();
    assert!(
        csv.starts_with('\u{feff}') && csv.contains("Điều khoản,Nội dung"),
        "Vietnamese headers"
    );
    let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let row = reader
        .records()
        .filter_map(Result::ok)
        .find(|r| r.get(0) == Some("II.1-1"))
        .unwrap_or_else(|| panic!("II.1-1 missing from the CSV"));
    assert_eq!(row.get(3), Some("1"), "done count in the CSV");
    assert_eq!(
        row.get(2).map(str::to_string),
        Some(clause["counts"]["assigned"].to_string())
    );
    let resp = agent()
        .get(&format!("{}/exports/tasks.xlsx", app.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 200);

    // A unit member sees their unit and is refused the others.
    let member = sign_in(&app, "cucvt.a");
    assert_eq!(page(&app, &member, "/units/cuc-vt").0, 200);
    assert_eq!(page(&app, &member, "/units/viettel").0, 403);
    assert_eq!(page(&app, &member, "/units/carriers").0, 403);
    assert_eq!(page(&app, &member, "/hotlines").0, 403);
    let (_, html) = page(&app, &member, "/matrix");
    assert!(
        !html.contains("/units/viettel\""),
        "a member's matrix shows only their unit"
    );
    let member_token = app.token("cucvt.a");
    assert_eq!(
        app.get(&member_token, "/api/v1/progress/units/viettel").0,
        403
    );
    assert_eq!(
        app.get(&member_token, "/api/v1/reports?unit=viettel").0,
        403
    );
    let (_, own) = app.get(&member_token, "/api/v1/progress");
    assert!(own["units"].as_array().is_some_and(|u| u.len() == 1));
}

on_every_store!(dashboard_shows_progress);
