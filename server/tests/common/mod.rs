//! The test harness: a real server on a loopback port over a fresh database (an SQLite file,
//! or a PostgreSQL database made for the test and dropped after), and phones that sync with
//! it over real HTTP using mobile-core's replicas. The databases and `on_every_store!` are in
//! `test_db.rs`; the crash and fault tests' phones and checks in `fleet.rs`, their
//! fault-injecting proxy in `fault_proxy.rs`; the `taskforce serve` binary run as a child
//! process in `process.rs`; the real SMTP server (aiosmtpd) the mail tests send to in
//! `smtp.rs`.
#![allow(dead_code)]

pub mod certs;
pub mod fault_proxy;
pub mod fleet;
pub mod process;
pub mod smtp;
mod test_db;
pub mod web;

use std::{sync::atomic::Ordering, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::SigningKey;
use sea_orm::ConnectionTrait;
use taskforce_core::{
    doc::{DocHeader, Op, Status, TaskField, TaskRef},
    sync::{Replica, SyncOutcome, SyncResponse, sign_registration, signing_key, wire},
};
use taskforce_server::{
    accounts,
    auth::Role,
    config::Config,
    db::connect,
    startup::{build_state, start},
};

pub use test_db::*;

pub const DIRECTIVE: &str = "5-ct-btttt";

/// Login attempts at once from the tests' one address (the default is 20).
pub const LOOPBACK_LOGIN_BURST: u32 = 100_000;

/// A running server.
pub struct TestApp {
    pub http: Http,
    pub db: TestDb,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A server with two members of `cuc-vt`, one of `viettel` and the Ministry Office's `vanphong`.
pub fn spawn_app_with_members(db: TestDb) -> TestApp {
    let app = spawn_app(db);
    app.create_user("cucvt.a", Role::Member, &[("cuc-vt", false)]);
    app.create_user("cucvt.b", Role::Member, &[("cuc-vt", false)]);
    app.create_user("viettel.a", Role::Member, &[("viettel", false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    app
}

pub fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, |_| {})
}

pub fn spawn_app_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config {
        db: db.url().to_string(),
        bind: "127.0.0.1:0".into(),
        workers: Some(2),
        // Every test's phones and browsers log in from 127.0.0.1: one address standing for
        // many (tests/login_limits.rs sets the real limits).
        login_per_address_burst: LOOPBACK_LOGIN_BURST,
        ..Config::default()
    };
    tweak(&mut config);
    let (http, handle, thread) = serve(config);
    TestApp {
        http,
        db,
        handle,
        thread: Some(thread),
    }
}

/// A server in this process over `config`'s database: its address, handle and thread.
fn serve(
    config: Config,
) -> (
    Http,
    actix_web::dev::ServerHandle,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let state = build_state(config)
                .await
                .unwrap_or_else(|e| panic!("server state: {e:#}"));
            let (server, addr) = start(state).unwrap_or_else(|e| panic!("server start: {e:#}"));
            let _ = tx.send((server.handle(), addr));
            let _ = server.await;
        });
    });
    let (handle, addr) = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    (
        Http {
            base: format!("http://{addr}"),
        },
        handle,
        thread,
    )
}

/// Another server on a test app's database, as a second stateless replica; stopped when
/// dropped (before the app, whose database it uses).
pub struct OtherServer {
    pub http: Http,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::ops::Deref for OtherServer {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl OtherServer {
    /// A server with `config` (its database must exist), stopped when dropped; it does not
    /// own the database, so another can be started on it after.
    pub fn start(config: Config) -> Self {
        let (http, handle, thread) = serve(config);
        OtherServer {
            http,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for OtherServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ = std::thread::spawn(move || runtime().block_on(handle.stop(false))).join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        let _ = std::thread::spawn(move || runtime().block_on(handle.stop(false))).join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub const PASSWORD: &str = "mật-khẩu-thử-nghiệm";

/// Run the `taskforce` binary (outside `TASKFORCE_DB`): whether it succeeded, and what it
/// printed on both streams.
pub fn taskforce(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskforce"))
        .args(args)
        .env_remove("TASKFORCE_DB")
        .output()
        .unwrap_or_else(|e| panic!("run taskforce: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `unwrap` for tests, saying what failed.
pub trait Must<T> {
    fn must(self) -> T;
}
impl<T, E: std::fmt::Debug> Must<T> for Result<T, E> {
    fn must(self) -> T {
        self.unwrap_or_else(|e| panic!("{e:?}"))
    }
}
impl<T> Must<T> for Option<T> {
    fn must(self) -> T {
        self.unwrap_or_else(|| panic!("nothing"))
    }
}

impl std::ops::Deref for TestApp {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl TestApp {
    /// A second server process's equal, in this process, on the same database.
    pub fn other_server(&self) -> OtherServer {
        OtherServer::start(Config {
            db: self.db.url().to_string(),
            bind: "127.0.0.1:0".into(),
            workers: Some(2),
            login_per_address_burst: LOOPBACK_LOGIN_BURST,
            ..Config::default()
        })
    }

    /// The first column of the first row of one query on the app's database, as an integer
    /// (`SELECT COUNT(*) …`).
    pub fn query_i64(&self, sql: &str) -> i64 {
        let url = self.db.url().to_string();
        let sql = sql.to_string();
        std::thread::spawn(move || {
            runtime().block_on(async {
                let db = connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
                let backend = db.get_database_backend();
                db.query_one_raw(sea_orm::Statement::from_string(backend, sql.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .and_then(|row| row.try_get_by_index::<i64>(0).ok())
                    .unwrap_or_else(|| panic!("{sql}: no integer"))
            })
        })
        .join()
        .unwrap_or_else(|_| panic!("query panicked"))
    }

    /// Run one SQL statement on the app's database over a connection that does not migrate
    /// first (a test that changes `seaql_migrations` itself).
    pub fn execute_unmigrated(&self, sql: &str) {
        self.run_sql(sql, false);
    }

    /// Run one SQL statement on the app's database directly (as an operator would).
    pub fn execute(&self, sql: &str) {
        self.run_sql(sql, true);
    }

    fn run_sql(&self, sql: &str, migrate: bool) {
        let url = self.db.url().to_string();
        let sql = sql.to_string();
        std::thread::spawn(move || {
            runtime().block_on(async {
                let db = if migrate {
                    connect(&url).await.unwrap_or_else(|e| panic!("{e}"))
                } else {
                    sea_orm::Database::connect(&url)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"))
                };
                db.execute_unprepared(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            })
        })
        .join()
        .unwrap_or_else(|_| panic!("execute panicked"));
    }

    pub fn create_user(&self, username: &str, role: Role, units: &[(&str, bool)]) {
        let url = self.db.url().to_string();
        let units: Vec<(String, bool)> =
            units.iter().map(|(u, l)| ((*u).to_string(), *l)).collect();
        let username = username.to_string();
        std::thread::spawn(move || {
            runtime().block_on(async {
                let db = connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
                accounts::create_user(&db, &username, "", PASSWORD, role, &units, None)
                    .await
                    .unwrap_or_else(|e| panic!("create {username}: {e}"));
            })
        })
        .join()
        .unwrap_or_else(|_| panic!("create_user panicked"));
    }

    /// `per_unit` members of each of `units` (`UNIT.0`, `UNIT.1`, …) and the Ministry
    /// Office's `vanphong`: the members' names with their units, in order.
    pub fn create_fleet<'u>(&self, units: &[&'u str], per_unit: usize) -> Vec<(String, &'u str)> {
        let mut users = Vec::new();
        for &unit in units {
            for i in 0..per_unit {
                let name = format!("{unit}.{i}");
                self.create_user(&name, Role::Member, &[(unit, false)]);
                users.push((name, unit));
            }
        }
        self.create_user("vanphong", Role::MinistryOffice, &[]);
        users
    }
}

/// Run `f` on a fresh connection to `db`, on its own runtime.
pub fn with_db<T: Send + 'static>(
    db: &TestDb,
    f: impl AsyncFnOnce(sea_orm::DatabaseConnection) -> T + Send + 'static,
) -> T {
    let url = db.url().to_string();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let conn = connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
            f(conn).await
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("a database call panicked"))
}

/// HTTP to one server process.
#[derive(Debug, Clone)]
pub struct Http {
    pub base: String,
}

impl Http {
    pub fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    pub fn login(&self, username: &str, password: &str) -> (u16, serde_json::Value) {
        let mut resp = Self::agent()
            .post(&format!("{}/api/v1/auth/login", self.base))
            .send_json(serde_json::json!({ "username": username, "password": password }))
            .unwrap_or_else(|e| panic!("login: {e}"));
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or_default())
    }

    pub fn token(&self, username: &str) -> String {
        let (status, body) = self.login(username, PASSWORD);
        assert_eq!(status, 200, "login {username}: {body}");
        body["token"].as_str().unwrap_or_default().to_string()
    }

    /// A counter or gauge of `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let text = Self::agent()
            .get(&format!("{}/metrics", self.base))
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .unwrap_or_else(|e| panic!("/metrics: {e}"));
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
    }

    /// A GET with the token as bearer and as the dashboard's cookie, redirects not followed:
    /// the status and the body (pages, exports, JSON alike).
    pub fn fetch(&self, token: &str, path: &str) -> (u16, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut resp = agent
            .get(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header(
                "Cookie",
                &format!("{}={token}", taskforce_server::http::TOKEN_COOKIE),
            )
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        (status, body)
    }

    pub fn get(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let mut resp = Self::agent()
            .get(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or_default())
    }

    pub fn post_json(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut resp = Self::agent()
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().unwrap_or_default())
    }

    /// POST raw bytes to the sync endpoint: (status, body bytes).
    pub fn post_sync(&self, token: &str, actor: u32, body: &[u8]) -> (u16, Vec<u8>) {
        let mut resp = Self::agent()
            .post(&format!("{}/api/v1/sync", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("X-Taskforce-Device", &actor.to_string())
            .header("Content-Type", "application/octet-stream")
            .send(body)
            .unwrap_or_else(|e| panic!("POST /api/v1/sync: {e}"));
        let status = resp.status().as_u16();
        (
            status,
            resp.body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .unwrap_or_default(),
        )
    }

    /// The unit's document as the server stores it (header, fingerprint, op count).
    pub fn document(&self, token: &str, unit: &str) -> serde_json::Value {
        let (status, body) = self.get(
            token,
            &format!("/api/v1/units/{unit}/document?directive={DIRECTIVE}"),
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A registration challenge for the token's user: (challenge bytes, the username it was
    /// issued to, the whole answer).
    pub fn challenge(&self, token: &str) -> ([u8; 32], String, serde_json::Value) {
        let (status, body) =
            self.post_json(token, "/api/v1/devices/challenge", serde_json::json!({}));
        assert_eq!(status, 200, "challenge: {body}");
        let bytes = STANDARD
            .decode(body["challenge"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("challenge base64: {e}: {body}"));
        let challenge: [u8; 32] = bytes
            .try_into()
            .unwrap_or_else(|b: Vec<u8>| panic!("challenge of {} bytes", b.len()));
        let username = body["username"].as_str().unwrap_or_default().to_string();
        (challenge, username, body)
    }

    /// `POST /api/v1/devices` with the fields as given (base64 where they are bytes).
    pub fn post_device(
        &self,
        token: &str,
        name: &str,
        public_key: &[u8; 32],
        challenge: &[u8; 32],
        signature: &[u8; 64],
    ) -> (u16, serde_json::Value) {
        self.post_json(
            token,
            "/api/v1/devices",
            serde_json::json!({
                "name": name,
                "public_key": STANDARD.encode(public_key),
                "challenge": STANDARD.encode(challenge),
                "signature": STANDARD.encode(signature),
            }),
        )
    }

    /// Register `key` as an honest phone does: a challenge, signed, then the key.
    pub fn register_device(
        &self,
        token: &str,
        key: &SigningKey,
        name: &str,
    ) -> (u16, serde_json::Value) {
        let (challenge, username, _) = self.challenge(token);
        let signature = sign_registration(key, &challenge, &username, name);
        self.post_device(
            token,
            name,
            &key.verifying_key().to_bytes(),
            &challenge,
            &signature,
        )
    }

    /// A phone of `username`, registered, with the unit's document.
    pub fn phone(&self, username: &str, unit: &str) -> Phone {
        let token = self.token(username);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&n.to_le_bytes());
        secret[4..8].copy_from_slice(&std::process::id().to_le_bytes());
        secret[8] = 0x5a;
        let key = signing_key(&secret);
        let (status, body) = self.register_device(&token, &key, &format!("phone {n}"));
        assert_eq!(status, 201, "register device: {body}");
        let actor =
            u32::try_from(body["actor_id"].as_i64().unwrap_or_default()).unwrap_or_default();
        let doc = self.document(&token, unit);
        let header: DocHeader =
            serde_json::from_value(doc["header"].clone()).unwrap_or_else(|e| panic!("header: {e}"));
        Phone {
            replica: Replica::new(header),
            actor,
            key,
            token,
        }
    }
}

/// A phone: a replica of its unit's document, its device key and its session.
pub struct Phone {
    pub replica: Replica,
    pub actor: u32,
    pub key: SigningKey,
    pub token: String,
}

impl Phone {
    pub fn edit(&mut self, op: Op) {
        self.replica
            .edit(self.actor, op)
            .unwrap_or_else(|e| panic!("edit: {e}"));
    }

    pub fn set(&mut self, task: u32, value: TaskField) {
        let op = self.replica.doc().set_op(TaskRef::Assigned(task), value);
        self.edit(op);
    }

    pub fn status(&mut self, task: u32, s: Status) {
        self.set(task, TaskField::Status(s));
    }

    /// The request body the next sync would send.
    pub fn request_bytes(&mut self) -> Vec<u8> {
        self.replica.seal(self.actor, &self.key);
        wire::encode_request(&self.replica.request())
    }

    /// One round trip; on an error, the status and the JSON error body.
    pub fn try_sync(&mut self, app: &Http) -> Result<SyncOutcome, (u16, serde_json::Value)> {
        let body = self.request_bytes();
        let (status, bytes) = app.post_sync(&self.token, self.actor, &body);
        if status != 200 {
            return Err((status, serde_json::from_slice(&bytes).unwrap_or_default()));
        }
        let resp: SyncResponse =
            wire::decode_response(&bytes).unwrap_or_else(|e| panic!("response: {e}"));
        Ok(self
            .replica
            .receive(resp)
            .unwrap_or_else(|e| panic!("receive: {e}")))
    }

    pub fn sync(&mut self, app: &Http) -> SyncOutcome {
        self.try_sync(app)
            .unwrap_or_else(|(s, b)| panic!("sync failed: {s} {b}"))
    }

    pub fn canonical(&self) -> Vec<u8> {
        postcard::to_stdvec(&self.replica.doc().to_canonical()).unwrap_or_default()
    }
}
