//! `/api/v1/openapi.json` against the server itself: the document lists exactly the route
//! table's operations, and every operation, called for real (after a phone has synced a status,
//! a report and a confirmation), answers with a status the document lists and a body that its
//! schema accepts — with no field the schema does not declare.

mod common;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use common::{DIRECTIVE, Http, PASSWORD, TestApp, TestDb, spawn_app};
use serde_json::{Value, json};
use taskforce_core::doc::{Confirmation, Day, Op, Report, Status};
use taskforce_server::{auth::Role, routes::API_ROUTES};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A copy of `schema` that refuses properties it does not name, at every level.
fn strict(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), strict(v))).collect();
            if out.contains_key("properties") && !out.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strict).collect()),
        other => other.clone(),
    }
}

struct Checker {
    doc: Value,
    components: Value,
    exercised: BTreeSet<(String, String)>,
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Checker {
    /// Call `method path` (`template` is the documented path) and check the answer against the
    /// document; the JSON body, when there is one.
    fn call(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let answer = send(&self.base(), method, path, token, body);
        self.check(method, template, path, &answer);
        let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        (answer.status, json)
    }

    fn base(&self) -> String {
        self.doc["x-test-base"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn check(&mut self, method: &str, template: &str, path: &str, answer: &Answer) {
        self.exercised
            .insert((method.to_string(), template.to_string()));
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not documented");
        let status = answer.status.to_string();
        let response = &op["responses"][&status];
        assert!(
            response.is_object(),
            "{method} {path} answered {status}, which the document does not list: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            assert!(
                answer.body.is_empty(),
                "{method} {path} {status}: the document promises no body"
            );
            return;
        };
        let mime = answer
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let (_, media) = content
            .iter()
            .find(|(k, _)| k.split(';').next().unwrap_or_default().trim() == mime)
            .unwrap_or_else(|| {
                panic!(
                    "{method} {path} {status}: content type {mime} not in {:?}",
                    content.keys()
                )
            });
        if mime != "application/json" {
            return;
        }
        let instance: Value = serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON: {e}"));
        let mut schema = strict(&media["schema"]);
        if let Value::Object(map) = &mut schema {
            map.insert("components".into(), self.components.clone());
        }
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{method} {template}: schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .take(5)
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the answer does not match the document: {errors:#?}"
        );
    }
}

fn send(base: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
    let agent = Http::agent();
    let url = format!("{base}{path}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let result = match (method, body) {
        ("get", _) => {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        ("delete", _) => {
            let mut r = agent.delete(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        ("put", body) => {
            let mut r = agent.put(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            match body {
                Some(b) => r.send_json(b),
                None => r.send_empty(),
            }
        }
        (_, body) => {
            let mut r = agent.post(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            match body {
                Some(b) => r.send_json(b),
                None => r.send_empty(),
            }
        }
    };
    answer_of(result.unwrap_or_else(|e| panic!("{method} {path}: {e}")))
}

fn answer_of(mut resp: ureq::http::Response<ureq::Body>) -> Answer {
    Answer {
        status: resp.status().as_u16(),
        content_type: resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default(),
    }
}

/// A sync request, with the device's token or without one.
fn sync(base: &str, token: Option<&str>, actor: u32, body: &[u8]) -> Answer {
    sync_to(base, "/api/v1/sync", token, actor, body)
}

/// A sync request to `path` (the single route or the batch).
fn sync_to(base: &str, path: &str, token: Option<&str>, actor: u32, body: &[u8]) -> Answer {
    let mut r = Http::agent()
        .post(&format!("{base}{path}"))
        .header("X-Taskforce-Device", &actor.to_string());
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    answer_of(r.send(body).unwrap_or_else(|e| panic!("POST {path}: {e}")))
}

fn openapi_matches_the_server(db: TestDb) {
    let app: TestApp = spawn_app(db);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    app.create_user("viettel.a", Role::Member, &[("viettel", true)]);

    // Served without a token, OpenAPI 3.1.
    let answer = send(&app.base, "get", "/api/v1/openapi.json", None, None);
    assert_eq!(answer.status, 200);
    let mut doc: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );

    // The document and the route table list the same operations.
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .flat_map(|(path, item)| {
                    METHODS
                        .iter()
                        .filter(|m| item.get(**m).is_some())
                        .map(|m| ((*m).to_string(), path.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let table: BTreeSet<(String, String)> = API_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_string(), (*p).to_string()))
        .collect();
    assert_eq!(
        documented.difference(&table).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not routed"
    );
    assert_eq!(
        table.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routed but not documented"
    );
    // Every operation but the public ones asks for a token.
    let public = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/auth/login",
    ];
    for (m, p) in &table {
        let security = &doc["paths"][p][m]["security"];
        assert_eq!(
            security.as_array().is_some_and(|s| !s.is_empty()),
            !public.contains(&p.as_str()),
            "{m} {p}: security {security}"
        );
    }

    // Data to answer with: a phone of Viettel syncs a status, a report and a confirmation.
    let mut phone = app.phone("viettel.a", "viettel");
    phone.status(0, Status::InProgress);
    let now = chrono::Utc::now().timestamp();
    phone.edit(Op::Report(Report {
        period: "2020-02-05".into(),
        text: "Đã nhắn tin tới toàn bộ thuê bao".into(),
        figures: vec![taskforce_core::doc::Figure {
            name: "sms_sent".into(),
            value: 120_000_000,
        }],
        at: now,
    }));
    let free_from = NaiveDate::from_ymd_opt(2020, 2, 3).map_or(Day(0), Day::from_date);
    phone.edit(Op::Confirm(Confirmation {
        carrier: "viettel".into(),
        hotline: "19009095".into(),
        free_from,
        attested_by: "Nguyễn Văn A".into(),
        evidence: None,
        at: now,
    }));
    phone.sync(&app);

    let components = doc["components"].clone();
    if let Value::Object(map) = &mut doc {
        map.insert("x-test-base".into(), Value::String(app.base.clone()));
    }
    let mut c = Checker {
        doc,
        components,
        exercised: BTreeSet::new(),
    };
    // The sync itself: binary both ways, checked by content type and status.
    let body = phone.request_bytes();
    let answer = sync(&app.base, Some(&phone.token), phone.actor, &body);
    assert_eq!(answer.status, 200);
    c.check("post", "/api/v1/sync", "/api/v1/sync", &answer);
    // Without a token: refused, in the documented error body.
    let refused = sync(&app.base, None, phone.actor, &body);
    assert_eq!(refused.status, 401);
    c.check("post", "/api/v1/sync", "/api/v1/sync", &refused);
    // The batch: the same request for the unit's document, binary both ways.
    let request = taskforce_core::sync::wire::decode_request(&body)
        .unwrap_or_else(|e| panic!("our own request: {e}"));
    let batch = taskforce_core::sync::wire::encode_batch_request(
        &taskforce_core::sync::wire::BatchRequest {
            unit: request.doc.unit.clone(),
            requests: vec![request],
        },
    );
    let path = "/api/v1/sync/batch";
    let answer = sync_to(&app.base, path, Some(&phone.token), phone.actor, &batch);
    assert_eq!(answer.status, 200);
    c.check("post", path, path, &answer);
    let refused = sync_to(&app.base, path, None, phone.actor, &batch);
    assert_eq!(refused.status, 401);
    c.check("post", path, path, &refused);

    // Public operations.
    c.call("get", "/healthz", "/healthz", None, None);
    c.call("get", "/readyz", "/readyz", None, None);
    c.call("get", "/metrics", "/metrics", None, None);
    c.call(
        "get",
        "/api/v1/openapi.json",
        "/api/v1/openapi.json",
        None,
        None,
    );
    let (status, _) = c.call(
        "post",
        "/api/v1/auth/login",
        "/api/v1/auth/login",
        None,
        Some(json!({ "username": "vanphong", "password": "sai mật khẩu" })),
    );
    assert_eq!(status, 401);
    let (status, login) = c.call(
        "post",
        "/api/v1/auth/login",
        "/api/v1/auth/login",
        None,
        Some(json!({ "username": "vanphong", "password": PASSWORD })),
    );
    assert_eq!(status, 200, "{login}");
    let office = login["token"].as_str().unwrap_or_default().to_string();
    let t = Some(office.as_str());

    // Everything the Ministry Office reads.
    let (_, progress) = c.call(
        "get",
        "/api/v1/progress",
        &format!("/api/v1/progress?directive={DIRECTIVE}"),
        t,
        None,
    );
    // Live updates: a stream, ended at once after its opening lines; 401 without a sign-in.
    let (status, _) = c.call("get", "/api/v1/events", "/api/v1/events?seconds=0", t, None);
    assert_eq!(status, 200);
    let (status, _) = c.call("get", "/api/v1/events", "/api/v1/events", None, None);
    assert_eq!(status, 401);
    let group = progress["groups"][0]["group"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!group.is_empty(), "no groups in {progress}");
    let clause = progress["clauses"][0]["clause"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reads = [
        ("/api/v1/me", "/api/v1/me".to_string()),
        ("/api/v1/directives", "/api/v1/directives".into()),
        (
            "/api/v1/directives/{id}",
            format!("/api/v1/directives/{DIRECTIVE}"),
        ),
        ("/api/v1/units", "/api/v1/units".into()),
        (
            "/api/v1/units/{id}/document",
            "/api/v1/units/viettel/document".into(),
        ),
        (
            "/api/v1/units/{id}/progress",
            "/api/v1/units/viettel/progress".into(),
        ),
        (
            "/api/v1/progress/clauses/{id}",
            format!("/api/v1/progress/clauses/{clause}"),
        ),
        (
            "/api/v1/progress/units/{id}",
            "/api/v1/progress/units/viettel".into(),
        ),
        (
            "/api/v1/progress/units/{id}",
            format!("/api/v1/progress/units/{group}"),
        ),
        (
            "/api/v1/progress/units/{id}",
            "/api/v1/progress/units/khong-co".into(),
        ),
        ("/api/v1/tasks", "/api/v1/tasks?unit=viettel".into()),
        ("/api/v1/tasks", "/api/v1/tasks?status=in_progress".into()),
        ("/api/v1/reports", "/api/v1/reports?unit=viettel".into()),
        ("/api/v1/confirmations", "/api/v1/confirmations".into()),
        ("/exports/{name}", "/exports/matrix.csv".into()),
        ("/exports/{name}", "/exports/tasks.xlsx".into()),
        ("/exports/{name}", "/exports/nothing.pdf".into()),
    ];
    for (template, path) in &reads {
        let (status, body) = c.call("get", template, path, t, None);
        assert!(
            status == 200 || path.contains("khong-co") || path.contains("nothing"),
            "{path}: {status} {body}"
        );
    }
    // The listings hold the phone's edits, in the documented shapes.
    let (_, tasks) = c.call(
        "get",
        "/api/v1/tasks",
        "/api/v1/tasks?status=in_progress",
        t,
        None,
    );
    assert!(
        tasks
            .as_array()
            .is_some_and(|ts| ts.iter().any(|t| t["unit"] == "viettel")),
        "{tasks}"
    );
    let (_, reports) = c.call("get", "/api/v1/reports", "/api/v1/reports", t, None);
    assert_eq!(
        reports[0]["figures"],
        json!([{ "name": "sms_sent", "value": 120_000_000 }]),
        "{reports}"
    );
    let (_, confirmations) = c.call(
        "get",
        "/api/v1/confirmations",
        "/api/v1/confirmations?carrier=viettel",
        t,
        None,
    );
    assert_eq!(confirmations[0]["state"], "confirmed", "{confirmations}");
    // A task's history from the op log: the phone's status edit, by whom and from which device.
    let (status, history) = c.call(
        "get",
        "/api/v1/units/{id}/tasks/{task}/history",
        "/api/v1/units/viettel/tasks/a0/history?order=newest&limit=5",
        t,
        None,
    );
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["entries"][0]["what"]["kind"], "status", "{history}");

    // Writes: a device (a challenge, signed), a member added and removed; errors in the
    // documented body.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    use base64::{Engine, engine::general_purpose::STANDARD};
    let public_key = STANDARD.encode(key.verifying_key().to_bytes());
    let (status, issued) = c.call(
        "post",
        "/api/v1/devices/challenge",
        "/api/v1/devices/challenge",
        t,
        None,
    );
    assert_eq!(status, 200);
    let challenge: [u8; 32] = STANDARD
        .decode(issued["challenge"].as_str().unwrap_or_default())
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_else(|| panic!("a challenge of 32 bytes: {issued}"));
    let username = issued["username"].as_str().unwrap_or_default();
    let signature =
        taskforce_core::sync::sign_registration(&key, &challenge, username, "máy tính bảng");
    let device = json!({ "name": "máy tính bảng", "public_key": public_key,
        "challenge": STANDARD.encode(challenge), "signature": STANDARD.encode(signature) });
    let (status, _) = c.call(
        "post",
        "/api/v1/devices",
        "/api/v1/devices",
        t,
        Some(device.clone()),
    );
    assert_eq!(status, 201);
    let (status, _) = c.call(
        "post",
        "/api/v1/devices",
        "/api/v1/devices",
        t,
        Some(device),
    );
    assert_eq!(status, 400, "the challenge is used");
    let (status, _) = c.call(
        "post",
        "/api/v1/devices",
        "/api/v1/devices",
        t,
        Some(json!({ "name": "x", "public_key": "không phải base64" })),
    );
    assert_eq!(status, 400);
    let member =
        json!({ "username": "viettel.b", "display_name": "Trần Thị B", "password": PASSWORD });
    let (status, _) = c.call(
        "post",
        "/api/v1/units/{id}/members",
        "/api/v1/units/viettel/members",
        t,
        Some(member.clone()),
    );
    assert_eq!(status, 201);
    let (status, _) = c.call(
        "post",
        "/api/v1/units/{id}/members",
        "/api/v1/units/viettel/members",
        t,
        Some(member),
    );
    assert_eq!(status, 409);
    let (status, _) = c.call(
        "delete",
        "/api/v1/units/{id}/members/{username}",
        "/api/v1/units/viettel/members/viettel.b",
        t,
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = c.call(
        "delete",
        "/api/v1/units/{id}/members/{username}",
        "/api/v1/units/viettel/members/viettel.b",
        t,
        None,
    );
    assert_eq!(status, 404);
    // Accounts: the list, a user's devices, revoking one, disabling and enabling (admins).
    let (status, users) = c.call("get", "/api/v1/users", "/api/v1/users?per_page=2", t, None);
    assert_eq!(
        (status, users["per_page"].as_u64()),
        (200, Some(2)),
        "{users}"
    );
    let (status, devices) = c.call(
        "get",
        "/api/v1/users/{username}/devices",
        "/api/v1/users/vanphong/devices",
        t,
        None,
    );
    assert_eq!(status, 200, "{devices}");
    let actor = devices["devices"][0]["actor_id"]
        .as_u64()
        .unwrap_or_default();
    let (status, _) = c.call(
        "post",
        "/api/v1/devices/{actor}/revoke",
        &format!("/api/v1/devices/{actor}/revoke"),
        t,
        Some(json!({})),
    );
    assert_eq!(status, 200);
    // Revoking the device ended the Ministry Office's sessions: signed in again.
    let office = app.token("vanphong");
    let t = Some(office.as_str());
    app.create_user("quantri", Role::Admin, &[]);
    let admin = app.token("quantri");
    // The Ministry Office acts: an urge made, a blank reason and an unreported acceptance
    // refused, as documented.
    let office_action = "/api/v1/office/actions";
    let (status, made) = c.call(
        "post",
        office_action,
        office_action,
        t,
        Some(json!({"action": "urge", "unit": "cuc-vt", "task": "a1", "text": "Đề nghị báo cáo", "due": "2020-02-14"})),
    );
    assert_eq!(status, 200, "{made}");
    for (body, want) in [
        (
            json!({"action": "return", "unit": "cuc-vt", "task": "a1", "text": " "}),
            400,
        ),
        (
            json!({"action": "accept", "unit": "cuc-vt", "task": "a1"}),
            409,
        ),
        (
            json!({"action": "urge", "unit": "nowhere", "task": "a1", "text": "x"}),
            404,
        ),
    ] {
        let (status, answer) = c.call("post", office_action, office_action, t, Some(body));
        assert_eq!(status, want, "{answer}");
    }
    let member = app.token("viettel.a");
    let (status, _) = c.call(
        "post",
        office_action,
        office_action,
        Some(&member),
        Some(json!({"action": "urge", "unit": "viettel", "task": "a0", "text": "x"})),
    );
    assert_eq!(status, 403, "a member does not act for the Ministry Office");

    // Hotline-free billing (issue 23): the register kept, a mapping set, call records
    // uploaded (a good file and a refused one), the table and the verifications read.
    let hotlines = "/api/v1/hotlines";
    let (status, list) = c.call("get", hotlines, hotlines, t, None);
    assert_eq!(status, 200, "{list}");
    let (status, made) = c.call(
        "put",
        hotlines,
        hotlines,
        t,
        Some(json!({"number": "1800 1234", "name": "Tổng đài", "owner": "Bộ Y tế", "free_from": "2020-02-01", "free_until": "2020-12-31"})),
    );
    assert_eq!(status, 200, "{made}");
    let (status, _) = c.call(
        "put",
        hotlines,
        hotlines,
        t,
        Some(json!({"number": "x", "name": "a", "owner": "b", "free_from": "2020-02-01"})),
    );
    assert_eq!(status, 400);
    let one = "/api/v1/hotlines/{number}";
    assert_eq!(
        c.call("delete", one, "/api/v1/hotlines/18001234", t, None)
            .0,
        204
    );
    assert_eq!(
        c.call("delete", one, "/api/v1/hotlines/18001234", t, None)
            .0,
        404
    );
    let mapping = "/api/v1/carriers/{id}/cdr-mapping";
    let at = "/api/v1/carriers/viettel/cdr-mapping";
    let (status, m) = c.call(
        "put",
        mapping,
        at,
        t,
        Some(json!({"spec": "caller=a,called=b,start=c,seconds=d,charge=e"})),
    );
    assert_eq!(status, 200, "{m}");
    assert_eq!(c.call("get", mapping, at, t, None).0, 200);
    assert_eq!(
        c.call(
            "get",
            mapping,
            "/api/v1/carriers/nobody/cdr-mapping",
            t,
            None
        )
        .0,
        404
    );
    let cdr = "/api/v1/carriers/{id}/cdr";
    let post_cdr = |c: &mut Checker, path: &str, body: &str| {
        let answer = answer_of(
            Http::agent()
                .post(&format!("{}{path}", c.base()))
                .header("Content-Type", "text/csv")
                .header("Authorization", &format!("Bearer {office}"))
                .send(body.as_bytes())
                .unwrap_or_else(|e| panic!("upload: {e}")),
        );
        c.check("post", cdr, path, &answer);
        answer.status
    };
    let good = "caller,called,start_time,duration,charge\n0912345678,19009095,2020-02-03 08:15:00,60,1500\n";
    assert_eq!(
        post_cdr(
            &mut c,
            "/api/v1/carriers/viettel/cdr?file_name=feb.csv",
            good
        ),
        200
    );
    assert_eq!(
        post_cdr(&mut c, "/api/v1/carriers/viettel/cdr", "a,b\n"),
        400
    );
    assert_eq!(post_cdr(&mut c, "/api/v1/carriers/nobody/cdr", good), 404);
    let (status, cells) = c.call(
        "get",
        "/api/v1/hotlines/table",
        "/api/v1/hotlines/table",
        t,
        None,
    );
    assert_eq!(status, 200, "{cells}");
    let (status, vs) = c.call(
        "get",
        "/api/v1/verifications",
        "/api/v1/verifications?carrier=viettel",
        t,
        None,
    );
    assert_eq!(status, 200, "{vs}");
    assert_eq!(vs.as_array().map(Vec::len), Some(1));

    // A second directive: imported as a draft (plain text), read, corrected, published; a
    // refused import and correction, and a discarded draft, as documented.
    let drafts = "/api/v1/directives/drafts";
    let text = include_str!("../../mobile-core/tests/fixtures/ct-btttt-tin-gia.txt");
    let upload = |c: &mut Checker, text: &str, token: Option<&str>| {
        let mut req = Http::agent()
            .post(&format!("{}{drafts}", c.base()))
            .header("Content-Type", "text/plain; charset=utf-8");
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let answer = answer_of(
            req.send(text.as_bytes())
                .unwrap_or_else(|e| panic!("upload: {e}")),
        );
        c.check("post", drafts, drafts, &answer);
        let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        (answer.status, json)
    };
    let (status, draft) = upload(&mut c, text, t);
    assert_eq!(status, 201, "{draft}");
    assert_eq!(upload(&mut c, "không phải chỉ thị", t).0, 422);
    assert_eq!(upload(&mut c, text, Some(&member)).0, 403);
    c.call("get", drafts, drafts, t, None);
    let one = "/api/v1/directives/drafts/{id}";
    c.call("get", one, "/api/v1/directives/drafts/07-ct-btttt", t, None);
    let corrections = "/api/v1/directives/drafts/{id}/corrections";
    let at = "/api/v1/directives/drafts/07-ct-btttt/corrections";
    let (status, _) = c.call(
        "post",
        corrections,
        at,
        t,
        Some(json!({"updated_at": draft["updated_at"], "corrections": [{"action": "set_role", "clause": "II.3", "unit": "cuc-vt", "role": "lead"}]})),
    );
    assert_eq!(status, 200);
    let (status, _) = c.call(
        "post",
        corrections,
        at,
        t,
        Some(json!({"corrections": [{"action": "add", "clause": "II.3", "unit": "nowhere", "role": "lead"}]})),
    );
    assert_eq!(status, 422);
    let (status, _) = c.call(
        "post",
        corrections,
        at,
        t,
        Some(json!({"updated_at": draft["updated_at"], "corrections": [{"action": "set_role", "clause": "II.3", "unit": "cuc-vt", "role": "coordinating"}]})),
    );
    assert_eq!(status, 409, "a stale review");
    let publish = "/api/v1/directives/drafts/{id}/publish";
    let (status, _) = c.call(
        "post",
        publish,
        "/api/v1/directives/drafts/07-ct-btttt/publish",
        t,
        Some(json!({})),
    );
    assert_eq!(status, 201);
    let (status, _) = c.call(
        "post",
        publish,
        "/api/v1/directives/drafts/07-ct-btttt/publish",
        t,
        Some(json!({})),
    );
    assert_eq!(status, 404);
    // The text again: a draft of its revision (decision 44), published as one.
    let (status, revision) = upload(
        &mut c,
        &text.replace("theo đề nghị của Cục Viễn thông", ""),
        t,
    );
    assert_eq!(status, 201, "{revision}");
    assert_eq!(revision["revision"]["revision"], 1, "{revision}");
    let (status, _) = c.call(
        "post",
        publish,
        "/api/v1/directives/drafts/07-ct-btttt/publish",
        t,
        Some(json!({})),
    );
    assert_eq!(status, 201);
    let bring = "/api/v1/directives/{id}/bring";
    let (status, _) = c.call(
        "post",
        bring,
        "/api/v1/directives/07-ct-btttt/bring",
        t,
        Some(json!({})),
    );
    assert_eq!(status, 200);
    let (status, _) = c.call(
        "post",
        bring,
        "/api/v1/directives/07-ct-btttt/bring",
        Some(&member),
        Some(json!({})),
    );
    assert_eq!(status, 403);
    let (status, _) = c.call(
        "post",
        bring,
        "/api/v1/directives/nothing/bring",
        t,
        Some(json!({})),
    );
    assert_eq!(status, 404);
    let other = text.replace("07/CT-BTTTT", "08/CT-BTTTT");
    assert_eq!(upload(&mut c, &other, t).0, 201);
    let (status, _) = c.call(
        "delete",
        one,
        "/api/v1/directives/drafts/08-ct-btttt",
        t,
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = c.call(
        "delete",
        one,
        "/api/v1/directives/drafts/08-ct-btttt",
        t,
        None,
    );
    assert_eq!(status, 404);

    for action in ["disable", "enable"] {
        let template = format!("/api/v1/users/{{username}}/{action}");
        let path = format!("/api/v1/users/viettel.b/{action}");
        let (status, _) = c.call("post", &template, &path, t, Some(json!({})));
        assert_eq!(
            status, 403,
            "the Ministry Office does not {action} accounts"
        );
        let (status, _) = c.call("post", &template, &path, Some(&admin), Some(json!({})));
        assert_eq!(status, 204, "{action}");
    }

    // A member reads their own unit and is refused another's.
    let member_token = app.token("viettel.a");
    let m = Some(member_token.as_str());
    c.call("get", "/api/v1/me", "/api/v1/me", m, None);
    let (status, _) = c.call(
        "get",
        "/api/v1/progress/units/{id}",
        "/api/v1/progress/units/cuc-vt",
        m,
        None,
    );
    assert_eq!(status, 403);
    let (status, _) = c.call(
        "get",
        "/api/v1/units/{id}/document",
        "/api/v1/units/cuc-vt/document",
        m,
        None,
    );
    assert_eq!(status, 403);
    // Signed out, then refused.
    let (status, _) = c.call(
        "post",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout",
        t,
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = c.call("get", "/api/v1/me", "/api/v1/me", t, None);
    assert_eq!(status, 401);
    let (status, _) = c.call("get", "/api/v1/progress", "/api/v1/progress", None, None);
    assert_eq!(status, 401);

    // Every operation of the table was called and checked.
    assert_eq!(
        table.difference(&c.exercised).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "operations this test did not call"
    );
}

on_every_store!(openapi_matches_the_server);
