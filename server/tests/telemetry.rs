//! What operators and the load generator read, after issue 17 moved it onto crates: `/metrics`
//! in the OpenMetrics text format under the names read before (prometheus-client), the login
//! limits, a logout dropping the cached caller (moka), and every request's log line
//! carrying a request id (tracing-actix-web).

mod common;

use std::{
    collections::BTreeMap,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{Http, PASSWORD, TestApp, TestDb, spawn_app};
use taskforce_server::auth::Role;

fn metrics(app: &TestApp) -> (String, String) {
    let mut resp = Http::agent()
        .get(&format!("{}/metrics", app.base))
        .call()
        .unwrap_or_else(|e| panic!("/metrics: {e}"));
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("{e}"));
    (content_type, text)
}

/// Every sample of the exposition (its name with its labels), checked against the text
/// format's rules as it goes.
fn samples(text: &str) -> BTreeMap<String, f64> {
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics ends with EOF:\n{text}"
    );
    let mut typed = BTreeMap::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(
                typed.insert(family.to_string(), kind.to_string()).is_none(),
                "{family} typed twice"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let bare = name.split('{').next().unwrap_or(name);
        assert!(
            bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if let Some(labels) = name.strip_prefix(bare) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        let kind_of = |suffix: &str, kinds: &[&str]| {
            bare.strip_suffix(suffix)
                .filter(|f| typed.get(*f).is_some_and(|k| kinds.contains(&k.as_str())))
        };
        let family = kind_of("_total", &["counter"])
            .or_else(|| kind_of("_bucket", &["histogram"]))
            .or_else(|| kind_of("_sum", &["histogram"]))
            .or_else(|| kind_of("_count", &["histogram"]))
            .unwrap_or(bare);
        assert!(typed.contains_key(family), "{name} has no TYPE before it");
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(
            out.insert(name.to_string(), value).is_none(),
            "{name} twice"
        );
    }
    out
}

/// The histograms (issue 24), each with its `_count` sample's labels as a test reads them.
const HISTOGRAMS: [&str; 3] = [
    "taskforce_sync_seconds_count{outcome=\"ok\"}",
    "taskforce_sync_write_batch_syncs_count",
    "taskforce_sync_write_batch_seconds_count",
];

/// Every name a test, the load generator or the documentation reads, and its kind.
const NAMES: [&str; 35] = [
    "taskforce_http_requests_total",
    "taskforce_http_errors_total",
    "taskforce_sync_requests_total",
    "taskforce_sync_rejected_total",
    "taskforce_ops_applied_total",
    "taskforce_changes_stored_total",
    "taskforce_sync_write_transactions_total",
    "taskforce_sync_write_transactions_with_changes_total",
    "taskforce_documents_written_total",
    "taskforce_task_rows_written_total",
    "taskforce_event_rows_written_total",
    "taskforce_sync_bytes_in_total",
    "taskforce_sync_bytes_out_total",
    "taskforce_snapshots_sent_total",
    "taskforce_snapshots_stored_total",
    "taskforce_doc_cache_hits_total",
    "taskforce_doc_cache_misses_total",
    "taskforce_logins_total",
    "taskforce_login_failures_total",
    "taskforce_sync_overloaded_total",
    "taskforce_mail_decided_total",
    "taskforce_mail_sent_total",
    "taskforce_mail_deferred_total",
    "taskforce_mail_failed_total",
    "taskforce_mail_rounds_total",
    "taskforce_mail_round_failures_total",
    "taskforce_sync_queued",
    "taskforce_doc_cache_entries",
    "taskforce_doc_cache_bytes",
    "taskforce_doc_cache_evictions_total",
    "taskforce_heap_allocated_bytes",
    "taskforce_heap_resident_bytes",
    "taskforce_live_streams",
    "taskforce_mail_outbox_waiting",
    "taskforce_mail_outbox_failed",
];

#[test]
fn metrics_are_openmetrics_under_the_names_read_before() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    phone.status(0, taskforce_core::doc::Status::InProgress);
    phone.sync(&app.http);
    assert_eq!(app.login("cucvt.a", "wrong password!").0, 401);
    let (content_type, text) = metrics(&app);
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let got = samples(&text);
    // Every plain sample, by its name; the histograms' samples beside them.
    let histogram = |n: &str| {
        ["taskforce_sync_seconds", "taskforce_sync_write_batch"]
            .iter()
            .any(|h| n.starts_with(h))
    };
    let names: Vec<&str> = got
        .keys()
        .map(String::as_str)
        .filter(|n| !histogram(n))
        .collect();
    let mut expected = NAMES.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "{text}");
    let v = |name: &str| got[name] as u64;
    for h in HISTOGRAMS {
        assert!(got.get(h).is_some_and(|n| *n >= 1.0), "{h}: {text}");
    }
    assert!(
        got.get("taskforce_sync_write_batch_syncs_bucket{le=\"1.0\"}")
            .is_some_and(|n| *n >= 1.0),
        "one sync, one transaction: {text}"
    );
    assert!(v("taskforce_http_requests_total") >= 5, "{text}");
    assert!(v("taskforce_http_errors_total") >= 1, "{text}");
    assert_eq!(v("taskforce_logins_total"), 1, "the phone's login");
    assert_eq!(v("taskforce_login_failures_total"), 1);
    assert_eq!(v("taskforce_sync_requests_total"), 1);
    assert_eq!(v("taskforce_ops_applied_total"), 1);
    assert!(v("taskforce_sync_bytes_in_total") > 0 && v("taskforce_sync_bytes_out_total") > 0);
    assert_eq!(v("taskforce_doc_cache_entries"), 1, "{text}");
    assert!(v("taskforce_doc_cache_bytes") > 0);
    assert!(v("taskforce_heap_resident_bytes") > 0);
}

fn login(app: &TestApp, username: &str, password: &str) -> (u16, Option<String>) {
    let resp = Http::agent()
        .post(&format!("{}/api/v1/auth/login", app.base))
        .send_json(serde_json::json!({ "username": username, "password": password }))
        .unwrap_or_else(|e| panic!("login: {e}"));
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (resp.status().as_u16(), retry)
}

#[test]
fn failed_logins_lock_a_username_whatever_its_case_and_say_when_to_retry() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("viettel.a", Role::Member, &[("viettel", false)]);
    app.create_user("viettel.b", Role::Member, &[("viettel", false)]);
    // Successes count for nothing.
    for _ in 0..8 {
        assert_eq!(login(&app, "viettel.a", PASSWORD).0, 200);
    }
    for name in [
        "viettel.a",
        "Viettel.A",
        " VIETTEL.A",
        "viettel.A ",
        "ViEtTeL.a",
    ] {
        assert_eq!(
            login(&app, name, "wrong password!"),
            (401, None),
            "{name:?}"
        );
    }
    let (status, retry) = login(&app, "viettel.a", PASSWORD);
    assert_eq!(status, 429);
    let retry: u64 = retry
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After"));
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    assert_eq!(login(&app, "VIETTEL.a", PASSWORD).0, 429);
    assert_eq!(login(&app, "viettel.b", PASSWORD).0, 200, "another user");
}

#[test]
fn a_logout_refuses_the_token_at_once() {
    let app = spawn_app(TestDb::sqlite());
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    let token = app.token("cucvt.a");
    let other = app.token("cucvt.a");
    // Both callers are now cached.
    assert_eq!(app.get(&token, "/api/v1/me").0, 200);
    assert_eq!(app.get(&other, "/api/v1/me").0, 200);
    let (status, _) = app.post_json(&token, "/api/v1/auth/logout", serde_json::json!({}));
    assert_eq!(status, 204);
    assert_eq!(
        app.get(&token, "/api/v1/me").0,
        401,
        "within the cache's 5 s"
    );
    assert_eq!(
        app.get(&other, "/api/v1/me").0,
        200,
        "the other token stays"
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Text without the terminal's colour codes.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `taskforce serve` on a fresh directory with its standard error in a file: the server, its
/// address, the log file and the directory.
fn logging_server(name: &str, env: &[(&str, &str)]) -> (Server, String, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("taskforce-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("{e}"));
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let bind = format!("127.0.0.1:{port}");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_taskforce"))
            .args(["serve", "--bind", &bind])
            .current_dir(&dir)
            .env_remove("TASKFORCE_DB")
            .env_remove("TASKFORCE_LOG_FORMAT")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn taskforce: {e}")),
    );
    let base = format!("http://{bind}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Http::agent()
        .get(&format!("{base}/healthz"))
        .call()
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "taskforce serve did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, base, log_path, dir)
}

#[test]
fn every_request_is_logged_in_a_span_with_its_request_id() {
    let (server, base, log_path, dir) = logging_server("spans", &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    for path in ["/metrics", "/api/v1/me"] {
        let _ = Http::agent().get(&format!("{base}{path}")).call();
    }
    // The span closes once the answer is sent: wait for both lines.
    let lines = loop {
        let text = plain(&std::fs::read_to_string(&log_path).unwrap_or_default());
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains("HTTP request{") && l.contains("close"))
            .map(str::to_string)
            .collect();
        let logged = |route: &str| {
            lines
                .iter()
                .any(|l| l.contains(&format!("http.route={route} ")))
        };
        if logged("/metrics") && logged("/api/v1/me") {
            break lines;
        }
        assert!(Instant::now() < deadline, "no request lines in:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(server);
    let ids: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|l| {
            let id = l
                .split("request_id=")
                .nth(1)
                .unwrap_or_else(|| panic!("no request id: {l}"));
            id.split([' ', '}']).next().unwrap_or_default()
        })
        .collect();
    assert_eq!(ids.len(), lines.len(), "one id per request: {lines:#?}");
    assert!(ids.iter().all(|id| id.len() == 36), "uuids: {ids:?}");
    let me = lines
        .iter()
        .find(|l| l.contains("http.route=/api/v1/me "))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(me.contains("http.status_code=401"), "{me}");
    assert!(me.contains("time.busy="), "how long it took: {me}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn readyz(app: &TestApp) -> (u16, serde_json::Value) {
    let mut resp = Http::agent()
        .get(&format!("{}/readyz", app.base))
        .call()
        .unwrap_or_else(|e| panic!("/readyz: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_json().unwrap_or_default())
}

/// `/readyz`: ready on a current database. A step a newer binary ran (a rolling upgrade) is
/// named but still ready; a step of this binary the database lacks makes it 503 with the step
/// named, and ready again once it is back. `/healthz` stays 200 throughout: the process is
/// alive.
fn readyz_names_what_is_not_ready(db: TestDb) {
    let app = spawn_app(db);
    let (status, body) = readyz(&app);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["database", "migrations", "writer"], "{body}");
    assert!(
        body["checks"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["ok"] == true)),
        "{body}"
    );
    assert_eq!(body["checks"][1]["detail"], "current", "{body}");
    assert_eq!(
        body["checks"][2]["detail"], "0 of 1024 syncs waiting",
        "{body}"
    );

    app.execute_unmigrated(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_future', 0)",
    );
    let (status, body) = readyz(&app);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["checks"][1]["detail"], "current; also run by a newer binary: m29990101_000001_future",
        "{body}"
    );

    let last = "m20200202_000018_hotlines";
    app.execute_unmigrated(&format!(
        "DELETE FROM seaql_migrations WHERE version = '{last}'"
    ));
    let (status, body) = readyz(&app);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready", "{body}");
    assert_eq!(body["checks"][0]["ok"], true, "{body}");
    assert_eq!(body["checks"][1]["ok"], false, "{body}");
    assert_eq!(
        body["checks"][1]["detail"],
        format!("not yet run: {last}"),
        "{body}"
    );
    let alive = Http::agent()
        .get(&format!("{}/healthz", app.base))
        .call()
        .map(|r| r.status().as_u16());
    assert_eq!(alive.ok(), Some(200));

    app.execute_unmigrated(&format!(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{last}', 0)"
    ));
    let (status, body) = readyz(&app);
    assert_eq!(status, 200, "{body}");
    // Through a proxy (no metrics_token here), only each check's name and outcome.
    let mut proxied = Http::agent()
        .get(&format!("{}/readyz", app.base))
        .header("X-Forwarded-For", "203.0.113.9")
        .call()
        .unwrap_or_else(|e| panic!("/readyz: {e}"));
    let proxied: serde_json::Value = proxied.body_mut().read_json().unwrap_or_default();
    assert_eq!(proxied["status"], "ready", "{proxied}");
    assert!(
        proxied["checks"]
            .as_array()
            .is_some_and(|c| c.len() == 3 && c.iter().all(|c| c.get("detail").is_none())),
        "{proxied}"
    );
}

on_every_store!(readyz_names_what_is_not_ready);

/// `log_format = json` (here `TASKFORCE_LOG_FORMAT=json`): every line of standard error is a
/// JSON object, and a request's closing line carries its request id, route and status in its
/// span, for a log collector.
#[test]
fn json_logs_are_one_object_per_line_with_the_request_id() {
    let (server, base, log_path, dir) =
        logging_server("json-logs", &[("TASKFORCE_LOG_FORMAT", "json")]);
    let _ = Http::agent().get(&format!("{base}/api/v1/me")).call();
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        // The last line may be half written: only whole lines are read.
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        let objects: Vec<serde_json::Value> = whole
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect();
        let me = objects
            .into_iter()
            .find(|o| o["span"]["http.route"] == "/api/v1/me" && o["fields"]["message"] == "close");
        if let Some(me) = me {
            break me;
        }
        assert!(Instant::now() < deadline, "no request line in:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(server);
    let id = line["span"]["request_id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 36, "a uuid: {line}");
    let status = line["span"]["http.status_code"].to_string();
    assert_eq!(status.trim_matches('"'), "401", "{line}");
    assert!(
        line["level"].is_string() && line["timestamp"].is_string(),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// ops/grafana/taskforce.json: every metric its panels query is one the server exports (a
/// renamed metric would leave an empty panel, which nobody notices until it is needed).
#[test]
fn the_grafana_dashboard_asks_only_for_metrics_the_server_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/grafana/taskforce.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 12, "{exprs:?}");
    let app = spawn_app(TestDb::sqlite());
    let (_, exported) = metrics(&app);
    let families: Vec<(&str, &str)> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    for expr in exprs {
        let names = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("taskforce_"));
        for name in names {
            let known = families.iter().any(|(family, kind)| {
                let suffixes: &[&str] = match *kind {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_sum", "_count"],
                    _ => &[""],
                };
                suffixes.iter().any(|s| name == format!("{family}{s}"))
            });
            assert!(known, "{name} (in {expr}) is not exported:\n{exported}");
        }
    }
}
