//! HTTPS without a proxy (issue 19, point 6): the `taskforce` binary with `--tls-cert` and
//! `--tls-key` (a certificate rcgen makes for 127.0.0.1 and localhost, signed by a test CA)
//! answers /healthz, a login and a phone's sync over HTTPS; plain HTTP to its port and a
//! client that does not trust the CA get nothing; the dashboard's cookies, the session's after
//! a sign-in with the form included, are `Secure`. The key is given once by its flag, once by
//! `TASKFORCE_TLS_KEY`.

mod common;

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use common::{PASSWORD, TestDb, spawn_app};
use taskforce_core::{
    client::{Client, HttpTransport, Transport},
    store::MemoryStore,
};
use taskforce_server::auth::Role;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn healthz(t: &dyn Transport) -> bool {
    t.get("/healthz", None).is_ok_and(|r| r.status == 200)
}

/// Where `serve` is told the TLS key: its flag, or the environment.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyBy {
    Flag,
    Env,
}

/// `taskforce serve` on a free port of 127.0.0.1 over TLS, answering /healthz to a client
/// trusting `ca` (waited for): the server and its base URL.
fn serve_tls(db: &str, cert: &Path, key: &Path, key_by: KeyBy, ca: &str) -> (Server, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskforce"));
    cmd.arg("serve")
        .args(["--bind", &format!("127.0.0.1:{port}"), "--db", db])
        .arg("--tls-cert")
        .arg(cert)
        .env_remove("TASKFORCE_TLS_KEY")
        .env_remove("TASKFORCE_TLS_CERT")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match key_by {
        KeyBy::Flag => cmd.arg("--tls-key").arg(key),
        KeyBy::Env => cmd.env("TASKFORCE_TLS_KEY", key),
    };
    let server = Server(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("spawn taskforce: {e}")),
    );
    let base = format!("https://127.0.0.1:{port}");
    let trusting = HttpTransport::with_extra_ca(&base, ca.as_bytes())
        .unwrap_or_else(|e| panic!("the CA: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthz(&trusting) {
        assert!(
            Instant::now() < deadline,
            "no /healthz over HTTPS (key by {key_by:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, base)
}

/// The `Set-Cookie` lines of an answer.
fn set_cookies(resp: &ureq::http::Response<ureq::Body>) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

fn has_attr(set_cookie: &str, attr: &str) -> bool {
    set_cookie
        .split(';')
        .any(|a| a.trim().eq_ignore_ascii_case(attr))
}

#[test]
fn the_server_speaks_https_with_its_certificate_and_only_to_clients_trusting_it() {
    let dir = std::env::temp_dir().join(format!("taskforce-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (ca, cert, key) = common::certs::certificates(&dir);

    // Migrate, seed and make the account through an in-process server, then stop it.
    let setup = spawn_app(TestDb::sqlite());
    setup.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    setup.create_user("vanphong", Role::MinistryOffice, &[]);
    let url = setup.db.url().to_string();
    // The key by its flag here; by the environment below.
    let (server, base) = serve_tls(&url, &cert, &key, KeyBy::Flag, &ca);
    let port = base.rsplit(':').next().unwrap_or_default().to_string();
    let trusting = HttpTransport::with_extra_ca(&base, ca.as_bytes())
        .unwrap_or_else(|e| panic!("the CA: {e}"));
    // Also by name.
    let by_name = format!("https://localhost:{port}");
    let named = HttpTransport::with_extra_ca(&by_name, ca.as_bytes())
        .unwrap_or_else(|e| panic!("the CA: {e}"));
    assert!(healthz(&named), "https://localhost");

    // Not trusting the CA (the public roots only): refused before any request.
    let untrusting = HttpTransport::new(&base);
    let refused = untrusting.get("/healthz", None);
    assert!(refused.is_err(), "{refused:?}");
    // Plain HTTP to the TLS port: no answer.
    let plain = HttpTransport::new(&format!("http://127.0.0.1:{port}"));
    let answer = plain.get("/healthz", None);
    assert!(
        !answer.as_ref().is_ok_and(|r| r.status == 200),
        "{answer:?}"
    );

    // A login, then a phone's sync over HTTPS.
    let login = trusting
        .post_json(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({ "username": "cucvt.a", "password": PASSWORD }),
        )
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(login.status, 200, "{:?}", login.json());
    let ca_for_phone = ca.clone();
    let phone = Client::with_store(
        Box::new(MemoryStore::default()),
        Box::new(move |b: &str| {
            Arc::new(
                HttpTransport::with_extra_ca(b, ca_for_phone.as_bytes())
                    .unwrap_or_else(|e| panic!("the CA: {e}")),
            ) as Arc<dyn Transport>
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    phone
        .login(&base, "cucvt.a", PASSWORD, "điện thoại", None)
        .unwrap_or_else(|e| panic!("phone login over HTTPS: {e}"));
    let tasks = phone.tasks().unwrap_or_else(|e| panic!("{e}"));
    let task = tasks.first().unwrap_or_else(|| panic!("no task"));
    phone
        .set_status(&task.id, "done")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(phone.unsynced(), 1);
    phone
        .sync()
        .unwrap_or_else(|e| panic!("sync over HTTPS: {e}"));
    assert_eq!(phone.unsynced(), 0, "the server took the edit");
    assert_eq!(
        setup.query_i64("SELECT COUNT(*) FROM changes WHERE unit_id = 'cuc-vt'"),
        1,
        "stored"
    );

    // The dashboard's cookies over TLS are Secure: the sign-in form's CSRF cookie, and the
    // session's after signing in with that form.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::from(
                    ureq::tls::parse_pem(ca.as_bytes())
                        .filter_map(|i| match i {
                            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ))
                .build(),
        )
        .build()
        .into();
    let form = agent
        .get(&format!("{base}/login"))
        .call()
        .unwrap_or_else(|e| panic!("/login: {e}"));
    let cookies = set_cookies(&form);
    let pre = cookies
        .iter()
        .find(|c| c.starts_with("tf_csrf="))
        .unwrap_or_else(|| panic!("the sign-in form sets its CSRF cookie: {cookies:?}"));
    for c in &cookies {
        assert!(has_attr(c, "Secure"), "{c}");
    }
    let pre = pre.split(';').next().unwrap_or_default().to_string();
    let page = form
        .into_body()
        .read_to_string()
        .unwrap_or_else(|e| panic!("/login: {e}"));
    let marker = "name=\"csrf\" value=\"";
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field: {page}"));
    let rest = &page[at + marker.len()..];
    let csrf = &rest[..rest.find('"').unwrap_or(0)];
    let done = agent
        .post(&format!("{base}/login"))
        .header("Cookie", &pre)
        .header("Origin", &base)
        .send_form([
            ("username", "vanphong"),
            ("password", PASSWORD),
            ("csrf", csrf),
        ])
        .unwrap_or_else(|e| panic!("POST /login: {e}"));
    assert_eq!(done.status().as_u16(), 303);
    let cookies = set_cookies(&done);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("tf_token="))
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert!(has_attr(session, "Secure"), "{session}");
    assert!(has_attr(session, "HttpOnly"), "{session}");
    for c in &cookies {
        assert!(has_attr(c, "Secure"), "{c}");
    }
    drop(server);

    // The key from TASKFORCE_TLS_KEY serves as well.
    let (_server, base) = serve_tls(&url, &cert, &key, KeyBy::Env, &ca);
    let by_env = HttpTransport::with_extra_ca(&base, ca.as_bytes())
        .unwrap_or_else(|e| panic!("the CA: {e}"));
    assert!(healthz(&by_env), "{base}");
    drop(setup);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_refuses_missing_or_mismatched_tls_files_saying_which() {
    let dir = std::env::temp_dir().join(format!("taskforce-tls-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (_, cert, _) = common::certs::certificates(&dir);
    let db = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_taskforce"))
            .arg("serve")
            .args(["--bind", "127.0.0.1:0", "--db", &db])
            .args(args)
            .env_remove("TASKFORCE_TLS_KEY")
            .env_remove("TASKFORCE_TLS_CERT")
            .output()
            .unwrap_or_else(|e| panic!("run taskforce: {e}"));
        assert!(!out.status.success(), "it served");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = dir.join("missing.key");
    let err = run(&[
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        missing.as_os_str(),
    ]);
    assert!(
        err.contains("cannot read the TLS key") && err.contains("missing.key"),
        "{err}"
    );
    // The certificate given as its own key.
    let err = run(&[
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        cert.as_os_str(),
    ]);
    assert!(err.contains("holds no PEM private key"), "{err}");
    // A certificate without a key is not plain HTTP.
    let err = run(&["--tls-cert".as_ref(), cert.as_os_str()]);
    assert!(err.contains("--tls-key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
