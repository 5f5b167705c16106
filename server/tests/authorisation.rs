//! Authorisation as a table: every route the server registers (the API's `API_ROUTES` and the
//! dashboard's `DASHBOARD_ROUTES`) × every kind of caller × the caller's own unit and another
//! unit, each asked over real HTTP and its answer checked against the rule the route is meant to
//! follow. The rules are written here, apart from the server's code (`Caller::may_*`), so a
//! handler that forgets its check, or checks the wrong thing, disagrees with the table. A route
//! with no row here fails the test: a new route cannot be left out.

mod common;

use std::collections::BTreeMap;

use common::*;
use ed25519_dalek::SigningKey;
use taskforce_core::{
    doc::{DocHeader, Status, TaskField, TaskRef},
    sync::{Replica, signing_key, wire},
};
use taskforce_server::{auth::Role, dashboard::DASHBOARD_ROUTES, routes::API_ROUTES};

const OWN: &str = "cuc-vt";
const OTHER: &str = "viettel";
/// Another member of the own unit: the user a request about "another user" is about.
const TARGET: &str = "authz.target";

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    /// A member of the own unit.
    Member,
    /// The own unit's lead.
    Lead,
    MinistryOffice,
    Minister,
    Admin,
    /// A member of the own unit whose account was disabled after signing in.
    Disabled,
    /// A member of the own unit, signed in, whose phone was revoked.
    RevokedDevice,
    /// A member of the own unit whose token expired.
    ExpiredToken,
}

const EVERYONE: [Who; 9] = [
    Who::Anonymous,
    Who::Member,
    Who::Lead,
    Who::MinistryOffice,
    Who::Minister,
    Who::Admin,
    Who::Disabled,
    Who::RevokedDevice,
    Who::ExpiredToken,
];

impl Who {
    fn username(self) -> &'static str {
        match self {
            Who::Anonymous => "nobody.at.all",
            Who::Member => "authz.member",
            Who::Lead => "authz.lead",
            Who::MinistryOffice => "authz.vanphong",
            Who::Minister => "authz.minister",
            Who::Admin => "authz.admin",
            Who::Disabled => "authz.disabled",
            Who::RevokedDevice => "authz.revoked",
            Who::ExpiredToken => "authz.expired",
        }
    }

    /// A valid session: the token is the server's and the account may act.
    fn signed_in(self) -> bool {
        !matches!(self, Who::Anonymous | Who::Disabled | Who::ExpiredToken)
    }

    fn reads_everything(self) -> bool {
        matches!(self, Who::MinistryOffice | Who::Minister | Who::Admin)
    }

    /// A member of the own unit (with a valid session or not).
    fn member_of_own(self) -> bool {
        matches!(
            self,
            Who::Member | Who::Lead | Who::Disabled | Who::RevokedDevice | Who::ExpiredToken
        )
    }
}

/// Whom a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// The route names no unit or user.
    None,
    /// The caller's own unit, or the caller themself.
    Own,
    /// Another unit, or another user.
    Other,
}

impl Scope {
    fn unit(self) -> &'static str {
        match self {
            Scope::Own | Scope::None => OWN,
            Scope::Other => OTHER,
        }
    }
}

/// The rule a route is meant to follow.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// The login itself: whoever holds an enabled account's password.
    Credentials,
    /// Any valid session.
    SignedIn,
    /// Members of the unit, and those who read everything.
    ReadUnit,
    /// Those who read everything (the Ministry Office, the Minister, an admin).
    ReadsEverything,
    /// The unit's own members, from a phone that is not revoked.
    WriteUnit,
    /// The Ministry Office, an admin, and the unit's lead.
    ManageMembers,
    /// The caller about themself (their own device), and an admin about anybody.
    SelfOrAdmin,
    /// The caller about themself, and the Ministry Office or an admin about anybody.
    SelfOrOffice,
    /// The Ministry Office and admins.
    OfficeOrAdmin,
    /// The unit's own members (a carrier's call records), the Ministry Office and admins.
    UnitOrOffice,
    /// Admins.
    Admin,
}

impl Rule {
    /// Whether the rule depends on whom the request is about: a unit (the caller's own or
    /// another), or a user (the caller or another).
    fn scoped(self) -> bool {
        matches!(
            self,
            Rule::ReadUnit
                | Rule::WriteUnit
                | Rule::ManageMembers
                | Rule::SelfOrAdmin
                | Rule::SelfOrOffice
                | Rule::UnitOrOffice
        )
    }

    /// Whether `who` may do it on `scope`'s unit (or user).
    fn allows(self, who: Who, scope: Scope) -> bool {
        let own = scope == Scope::Own;
        match self {
            Rule::Public => true,
            Rule::Credentials => !matches!(who, Who::Anonymous | Who::Disabled),
            Rule::SignedIn => who.signed_in(),
            Rule::ReadUnit => {
                who.signed_in() && (who.reads_everything() || (own && who.member_of_own()))
            }
            Rule::ReadsEverything => who.signed_in() && who.reads_everything(),
            Rule::WriteUnit => {
                who.signed_in() && own && who.member_of_own() && who != Who::RevokedDevice
            }
            Rule::SelfOrAdmin => who.signed_in() && (own || who == Who::Admin),
            Rule::SelfOrOffice => {
                who.signed_in() && (own || matches!(who, Who::MinistryOffice | Who::Admin))
            }
            Rule::OfficeOrAdmin => {
                who.signed_in() && matches!(who, Who::MinistryOffice | Who::Admin)
            }
            Rule::Admin => who.signed_in() && who == Who::Admin,
            Rule::UnitOrOffice => {
                who.signed_in()
                    && (matches!(who, Who::MinistryOffice | Who::Admin)
                        || (own && who.member_of_own()))
            }
            Rule::ManageMembers => {
                who.signed_in()
                    && (matches!(who, Who::MinistryOffice | Who::Admin)
                        || (own && who == Who::Lead))
            }
        }
    }
}

/// Every route's rule: the authorisation table.
const RULES: &[(&str, &str, Rule)] = &[
    ("get", "/healthz", Rule::Public),
    ("get", "/readyz", Rule::Public),
    ("get", "/metrics", Rule::Public),
    ("get", "/api/v1/openapi.json", Rule::Public),
    ("post", "/api/v1/auth/login", Rule::Credentials),
    ("post", "/api/v1/auth/logout", Rule::SignedIn),
    ("get", "/api/v1/me", Rule::SignedIn),
    ("post", "/api/v1/devices/challenge", Rule::SignedIn),
    ("post", "/api/v1/devices", Rule::SignedIn),
    ("post", "/api/v1/sync", Rule::WriteUnit),
    ("post", "/api/v1/sync/batch", Rule::WriteUnit),
    ("get", "/api/v1/directives", Rule::SignedIn),
    ("get", "/api/v1/directives/{id}", Rule::SignedIn),
    ("post", "/api/v1/directives/drafts", Rule::OfficeOrAdmin),
    ("get", "/api/v1/directives/drafts", Rule::OfficeOrAdmin),
    ("get", "/api/v1/directives/drafts/{id}", Rule::OfficeOrAdmin),
    (
        "post",
        "/api/v1/directives/drafts/{id}/corrections",
        Rule::OfficeOrAdmin,
    ),
    (
        "post",
        "/api/v1/directives/drafts/{id}/publish",
        Rule::OfficeOrAdmin,
    ),
    (
        "delete",
        "/api/v1/directives/drafts/{id}",
        Rule::OfficeOrAdmin,
    ),
    ("post", "/api/v1/directives/{id}/bring", Rule::OfficeOrAdmin),
    ("get", "/api/v1/units", Rule::SignedIn),
    ("get", "/api/v1/units/{id}/document", Rule::ReadUnit),
    ("get", "/api/v1/units/{id}/progress", Rule::ReadUnit),
    ("get", "/api/v1/progress", Rule::SignedIn),
    ("get", "/api/v1/events", Rule::SignedIn),
    ("get", "/api/v1/progress/clauses/{id}", Rule::ReadUnit),
    ("get", "/api/v1/progress/units/{id}", Rule::ReadUnit),
    ("get", "/api/v1/tasks", Rule::ReadUnit),
    ("get", "/api/v1/reports", Rule::ReadUnit),
    ("get", "/api/v1/confirmations", Rule::ReadUnit),
    ("post", "/api/v1/units/{id}/members", Rule::ManageMembers),
    (
        "delete",
        "/api/v1/units/{id}/members/{username}",
        Rule::ManageMembers,
    ),
    ("get", "/exports/{name}", Rule::SignedIn),
    (
        "get",
        "/api/v1/units/{id}/tasks/{task}/history",
        Rule::ReadUnit,
    ),
    ("post", "/api/v1/devices/{actor}/revoke", Rule::SelfOrAdmin),
    ("get", "/api/v1/users", Rule::OfficeOrAdmin),
    (
        "get",
        "/api/v1/users/{username}/devices",
        Rule::SelfOrOffice,
    ),
    ("post", "/api/v1/users/{username}/disable", Rule::Admin),
    ("post", "/api/v1/users/{username}/enable", Rule::Admin),
    ("post", "/api/v1/office/actions", Rule::OfficeOrAdmin),
    ("get", "/api/v1/hotlines", Rule::SignedIn),
    ("put", "/api/v1/hotlines", Rule::OfficeOrAdmin),
    ("get", "/api/v1/hotlines/table", Rule::ReadsEverything),
    ("delete", "/api/v1/hotlines/{number}", Rule::OfficeOrAdmin),
    ("get", "/api/v1/verifications", Rule::ReadUnit),
    ("get", "/api/v1/carriers/{id}/cdr-mapping", Rule::ReadUnit),
    (
        "put",
        "/api/v1/carriers/{id}/cdr-mapping",
        Rule::UnitOrOffice,
    ),
    ("post", "/api/v1/carriers/{id}/cdr", Rule::UnitOrOffice),
    ("get", "/units/{id}/tasks/{task}/history", Rule::ReadUnit),
    ("get", "/login", Rule::Public),
    ("post", "/login", Rule::Credentials),
    ("post", "/logout", Rule::Public),
    ("get", "/", Rule::SignedIn),
    ("get", "/matrix", Rule::SignedIn),
    ("get", "/clauses/{id}", Rule::ReadUnit),
    ("get", "/units/{id}", Rule::ReadUnit),
    ("get", "/hotlines", Rule::ReadsEverything),
    ("get", "/stale", Rule::SignedIn),
    ("get", "/report", Rule::SignedIn),
    ("post", "/office/actions", Rule::OfficeOrAdmin),
    ("get", "/directives", Rule::SignedIn),
    ("post", "/directives/drafts", Rule::OfficeOrAdmin),
    ("get", "/directives/drafts/{id}", Rule::OfficeOrAdmin),
    (
        "post",
        "/directives/drafts/{id}/corrections",
        Rule::OfficeOrAdmin,
    ),
    (
        "post",
        "/directives/drafts/{id}/publish",
        Rule::OfficeOrAdmin,
    ),
    (
        "post",
        "/directives/drafts/{id}/discard",
        Rule::OfficeOrAdmin,
    ),
    ("post", "/directives/{id}/bring", Rule::OfficeOrAdmin),
];

/// Every export, each asked.
const EXPORTS: [&str; 4] = ["tasks.csv", "tasks.xlsx", "matrix.csv", "matrix.xlsx"];

/// Routes a member is let through whose answers are filtered to the member's units.
const FILTERED: &[&str] = &[
    "/api/v1/progress",
    "/exports/{name}",
    "/",
    "/matrix",
    "/stale",
    "/report",
    "/directives",
];

/// The sign-in form's CSRF value, sent as its cookie and its field (any 64 hex digits the
/// client holds in both: double submit).
const LOGIN_CSRF: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// One request of the table.
struct Ask {
    method: &'static str,
    path: String,
    body: Body,
    /// A session of its own instead of the caller's (a logout ends the session it is sent with).
    token: Option<String>,
}

enum Body {
    None,
    Json(serde_json::Value),
    /// A directive's text.
    Text(Vec<u8>),
    /// A sync request from the caller's phone.
    Sync(Vec<u8>, u32),
}

/// The world the table is asked in: the server, every caller's session and phone.
struct World {
    app: TestApp,
    /// Each caller's session (renewed where a request ends it: revoking a device ends its
    /// owner's sessions).
    tokens: std::cell::RefCell<BTreeMap<Who, String>>,
    phones: BTreeMap<Who, (SigningKey, u32)>,
    headers: BTreeMap<&'static str, DocHeader>,
    /// The other unit's name, as the catalogue gives it.
    other_name: String,
    /// For each unit, a clause that names it and not the other unit.
    clauses: BTreeMap<&'static str, String>,
    next: std::cell::Cell<u32>,
}

impl World {
    fn new(db: TestDb) -> World {
        // Phones are registered for many cells: more than a user may hold by default.
        let app = spawn_app_with(db, |c| c.devices_per_user = 1000);
        let member_of_own = [(OWN, false)];
        app.create_user(TARGET, Role::Member, &member_of_own);
        for who in EVERYONE {
            match who {
                Who::Anonymous => {}
                Who::Lead => app.create_user(who.username(), Role::Member, &[(OWN, true)]),
                Who::MinistryOffice => app.create_user(who.username(), Role::MinistryOffice, &[]),
                Who::Minister => app.create_user(who.username(), Role::Minister, &[]),
                Who::Admin => app.create_user(who.username(), Role::Admin, &[]),
                _ => app.create_user(who.username(), Role::Member, &member_of_own),
            }
        }
        let mut tokens = BTreeMap::new();
        let mut phones = BTreeMap::new();
        for (i, who) in EVERYONE.into_iter().enumerate() {
            if who == Who::Anonymous {
                tokens.insert(who, "not-a-token-the-server-gave".to_string());
                continue;
            }
            let token = app.token(who.username());
            let mut secret = [0x33u8; 32];
            secret[0] = i as u8;
            let key = signing_key(&secret);
            let (status, body) = app.register_device(&token, &key, &format!("authz {i}"));
            assert_eq!(status, 201, "{who:?} registers a phone: {body}");
            let actor =
                u32::try_from(body["actor_id"].as_i64().unwrap_or_default()).unwrap_or_default();
            phones.insert(who, (key, actor));
            tokens.insert(who, token);
        }
        // The expired session is a second one, never used before it expires.
        let expired = app.token(Who::ExpiredToken.username());
        tokens.insert(Who::ExpiredToken, expired);
        let admin = tokens[&Who::Admin].clone();
        let mut headers = BTreeMap::new();
        for unit in [OWN, OTHER] {
            let doc = app.document(&admin, unit);
            let header: DocHeader = serde_json::from_value(doc["header"].clone())
                .unwrap_or_else(|e| panic!("header: {e}"));
            headers.insert(unit, header);
        }
        let (status, progress) = app.get(&admin, "/api/v1/progress");
        assert_eq!(status, 200, "{progress}");
        let names = |c: &serde_json::Value, unit: &str| {
            c["units"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|u| u["unit"] == unit)
        };
        let mut clauses = BTreeMap::new();
        for (unit, not) in [(OWN, OTHER), (OTHER, OWN)] {
            let clause = progress["clauses"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| names(c, unit) && !names(c, not))
                .and_then(|c| c["clause"].as_str())
                .unwrap_or_else(|| panic!("no clause names {unit} and not {not}"));
            clauses.insert(unit, clause.to_string());
        }
        let (status, units) = app.get(&admin, "/api/v1/units");
        assert_eq!(status, 200, "{units}");
        let other_name = units
            .as_array()
            .into_iter()
            .flatten()
            .chain(units["units"].as_array().into_iter().flatten())
            .find(|u| u["id"] == OTHER)
            .and_then(|u| u["name"].as_str())
            .unwrap_or_else(|| panic!("{OTHER} not in the catalogue: {units}"))
            .to_string();
        let world = World {
            app,
            other_name,
            tokens: std::cell::RefCell::new(tokens),
            phones,
            headers,
            clauses,
            next: std::cell::Cell::new(0),
        };
        world.spoil_sessions();
        world
    }

    /// Disable one account, revoke one phone and expire one token, as an operator would.
    fn spoil_sessions(&self) {
        let app = &self.app;
        let admin = &self.token(Who::Admin);
        let (status, body) = app.post_json(
            admin,
            &format!("/api/v1/users/{}/disable", Who::Disabled.username()),
            serde_json::json!({}),
        );
        assert!(status < 300, "disable: {status} {body}");
        let actor = self.phones[&Who::RevokedDevice].1;
        let (status, body) = app.post_json(
            &self.token(Who::RevokedDevice),
            &format!("/api/v1/devices/{actor}/revoke"),
            serde_json::json!({}),
        );
        assert!(status < 300, "revoke: {status} {body}");
        // Revoking ended the owner's sessions; the owner signs in again, and the revoked
        // phone is what that session then tries to use.
        self.renew(Who::RevokedDevice);
        self.expire(&self.token(Who::ExpiredToken));
    }

    fn token(&self, who: Who) -> String {
        self.tokens.borrow()[&who].clone()
    }

    /// A new session for `who` (after a request ended theirs).
    fn renew(&self, who: Who) {
        let token = self.app.token(who.username());
        self.tokens.borrow_mut().insert(who, token);
    }

    /// Expire a token that was never used (so no cache holds it).
    fn expire(&self, token: &str) {
        self.app.execute(&format!(
            "UPDATE tokens SET expires_at = 1 WHERE hash = '{}'",
            taskforce_server::auth::token_hash(token)
        ));
    }

    /// A session of `who`'s own for one request that ends it, spoiled as `who`'s is.
    fn throwaway(&self, who: Who) -> Option<String> {
        match who {
            Who::Anonymous | Who::Disabled => None,
            Who::ExpiredToken => {
                let token = self.app.token(who.username());
                self.expire(&token);
                Some(token)
            }
            _ => Some(self.app.token(who.username())),
        }
    }

    /// A phone of `username`'s registered now: its actor id.
    fn new_device(&self, username: &str) -> i64 {
        let token = self.app.token(username);
        let mut secret = [0x55; 32];
        secret[..4].copy_from_slice(&self.next.get().to_le_bytes());
        self.next.set(self.next.get() + 1);
        let (status, body) =
            self.app
                .register_device(&token, &signing_key(&secret), &self.fresh("phone"));
        assert_eq!(status, 201, "register a phone of {username}: {body}");
        body["actor_id"].as_i64().unwrap_or_default()
    }

    /// Whether a body names the other unit (its id or its name): which it names.
    fn other_unit_in(&self, body: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(body);
        [OTHER, self.other_name.as_str()]
            .into_iter()
            .find(|n| {
                text.contains(&format!("\"{n}\""))
                    || text.contains(&format!(">{n}<"))
                    || text.contains(&format!("/units/{n}"))
                    || text
                        .lines()
                        .any(|l| l.contains(&format!(",{n},")) || l.starts_with(&format!("{n},")))
            })
            .map(str::to_string)
    }

    /// A directive text of its own (a number not used before) and its draft's id.
    fn fresh_directive(&self) -> (String, String) {
        let n = self.next.get();
        self.next.set(n + 1);
        let number = format!("{}/CT-BTTTT", 100 + n);
        let text = include_str!("../../mobile-core/tests/fixtures/ct-btttt-tin-gia.txt")
            .replace("07/CT-BTTTT", &number);
        (text, taskforce_core::directive::slug(&number))
    }

    /// A draft of its own, imported by the Ministry Office: its id.
    fn fresh_draft(&self) -> String {
        let (text, id) = self.fresh_directive();
        let office = self.token(Who::MinistryOffice);
        let resp = ureq::post(&format!("{}/api/v1/directives/drafts", self.app.base))
            .header("Authorization", &format!("Bearer {office}"))
            .header("Content-Type", "text/plain; charset=utf-8")
            .send(text.as_bytes())
            .unwrap_or_else(|e| panic!("a draft for the table: {e}"));
        assert_eq!(resp.status().as_u16(), 201);
        id
    }

    /// A number not used before in this run.
    fn next_number(&self) -> u32 {
        let n = self.next.get();
        self.next.set(n + 1);
        n
    }

    fn fresh(&self, what: &str) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("authz.{what}{n}")
    }

    /// A sync from `who`'s phone carrying one edit to `unit`'s document.
    fn sync_body(&self, who: Who, unit: &'static str) -> Body {
        let Some((key, actor)) = self.phones.get(&who) else {
            return Body::Sync(Vec::new(), 1);
        };
        let mut replica = Replica::new(self.headers[unit].clone());
        let op = replica
            .doc()
            .set_op(TaskRef::Assigned(0), TaskField::Status(Status::InProgress));
        replica
            .edit(*actor, op)
            .unwrap_or_else(|e| panic!("edit: {e}"));
        replica.seal(*actor, key);
        Body::Sync(wire::encode_request(&replica.request()), *actor)
    }

    /// The request of one route by one caller about one unit; `None` for a route with no way
    /// to ask it here.
    fn ask(&self, method: &str, path: &str, who: Who, scope: Scope) -> Option<Ask> {
        let unit = scope.unit();
        let get = |p: String| Ask {
            method: "GET",
            path: p,
            body: Body::None,
            token: None,
        };
        let post = |p: &str, v: serde_json::Value| Ask {
            method: "POST",
            path: p.to_string(),
            body: Body::Json(v),
            token: None,
        };
        let d = DIRECTIVE;
        Some(match (method, path) {
            ("get", "/healthz") => get("/healthz".into()),
            ("get", "/readyz") => get("/readyz".into()),
            ("get", "/metrics") => get("/metrics".into()),
            ("get", "/api/v1/openapi.json") => get(path.into()),
            ("post", "/api/v1/auth/login") => post(
                path,
                serde_json::json!({"username": who.username(), "password": PASSWORD}),
            ),
            ("post", "/api/v1/auth/logout") => Ask {
                token: self.throwaway(who),
                ..post(path, serde_json::json!({}))
            },
            ("get", "/api/v1/me") => get(path.into()),
            ("post", "/api/v1/devices/challenge") => post(path, serde_json::json!({})),
            ("post", "/api/v1/devices") => {
                // A challenge cannot be had without a session: the registration is asked with
                // an honest challenge of the member's where the caller has none.
                let tokens = self.tokens.borrow();
                let token = tokens.get(&who).filter(|_| who.signed_in());
                let mut secret = [0x44; 32];
                secret[..4].copy_from_slice(&self.next.get().to_le_bytes());
                let key = signing_key(&secret);
                let holder = token.unwrap_or(&tokens[&Who::Member]).clone();
                drop(tokens);
                let holder = &holder;
                let (challenge, username, _) = self.app.challenge(holder);
                let name = self.fresh("device");
                let signature =
                    taskforce_core::sync::sign_registration(&key, &challenge, &username, &name);
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD;
                post(
                    path,
                    serde_json::json!({
                        "name": name,
                        "public_key": b64.encode(key.verifying_key().to_bytes()),
                        "challenge": b64.encode(challenge),
                        "signature": b64.encode(signature),
                    }),
                )
            }
            ("post", "/api/v1/sync") => Ask {
                method: "SYNC",
                path: path.into(),
                body: self.sync_body(who, unit),
                token: None,
            },
            // The unit's batch carrying the same edit.
            ("post", "/api/v1/sync/batch") => Ask {
                method: "SYNC",
                path: path.into(),
                body: match self.sync_body(who, unit) {
                    Body::Sync(bytes, actor) if !bytes.is_empty() => {
                        let request = wire::decode_request(&bytes)
                            .unwrap_or_else(|e| panic!("our own request: {e}"));
                        let batch = wire::BatchRequest {
                            unit: unit.to_string(),
                            requests: vec![request],
                        };
                        Body::Sync(wire::encode_batch_request(&batch), actor)
                    }
                    other => other,
                },
                token: None,
            },
            ("get", "/api/v1/directives") => get(path.into()),
            ("get", "/api/v1/directives/{id}") => get(format!("/api/v1/directives/{d}")),
            ("post", "/api/v1/directives/drafts") => Ask {
                method: "POST",
                path: path.into(),
                body: Body::Text(self.fresh_directive().0.into_bytes()),
                token: None,
            },
            ("get", "/api/v1/directives/drafts") => get(path.into()),
            ("get", "/api/v1/directives/drafts/{id}") => {
                get(format!("/api/v1/directives/drafts/{}", self.fresh_draft()))
            }
            ("post", "/api/v1/directives/drafts/{id}/corrections") => post(
                &format!(
                    "/api/v1/directives/drafts/{}/corrections",
                    self.fresh_draft()
                ),
                serde_json::json!({"corrections": [{"action": "not_actionable", "clause": "II.3", "value": true}]}),
            ),
            ("post", "/api/v1/directives/drafts/{id}/publish") => post(
                &format!("/api/v1/directives/drafts/{}/publish", self.fresh_draft()),
                serde_json::json!({}),
            ),
            ("delete", "/api/v1/directives/drafts/{id}") => Ask {
                method: "DELETE",
                path: format!("/api/v1/directives/drafts/{}", self.fresh_draft()),
                body: Body::None,
                token: None,
            },
            ("post", "/api/v1/directives/{id}/bring") => post(
                &format!("/api/v1/directives/{d}/bring"),
                serde_json::json!({}),
            ),
            ("get", "/api/v1/units") => get(path.into()),
            ("get", "/api/v1/units/{id}/document") => {
                get(format!("/api/v1/units/{unit}/document?directive={d}"))
            }
            ("get", "/api/v1/units/{id}/progress") => {
                get(format!("/api/v1/units/{unit}/progress?directive={d}"))
            }
            ("get", "/api/v1/progress") => get(path.into()),
            // A stream, ended at once after its opening lines (the table reads each answer whole).
            ("get", "/api/v1/events") => get("/api/v1/events?seconds=0".into()),
            ("get", "/api/v1/progress/clauses/{id}") => {
                get(format!("/api/v1/progress/clauses/{}", self.clauses[unit]))
            }
            ("get", "/api/v1/progress/units/{id}") => get(format!("/api/v1/progress/units/{unit}")),
            ("get", "/api/v1/tasks") => get(format!("/api/v1/tasks?unit={unit}")),
            ("get", "/api/v1/reports") => get(format!("/api/v1/reports?unit={unit}")),
            ("get", "/api/v1/confirmations") => get(format!("/api/v1/confirmations?unit={unit}")),
            ("post", "/api/v1/units/{id}/members") => post(
                &format!("/api/v1/units/{unit}/members"),
                serde_json::json!({"username": self.fresh("new"), "password": PASSWORD}),
            ),
            ("delete", "/api/v1/units/{id}/members/{username}") => {
                let victim = self.fresh("victim");
                self.app
                    .create_user(&victim, Role::Member, &[(unit, false)]);
                Ask {
                    method: "DELETE",
                    path: format!("/api/v1/units/{unit}/members/{victim}"),
                    body: Body::None,
                    token: None,
                }
            }
            ("post", "/api/v1/office/actions") => post(
                "/api/v1/office/actions",
                serde_json::json!({"action": "urge", "unit": unit, "task": "a0", "text": "Đề nghị báo cáo"}),
            ),
            ("get", "/api/v1/hotlines") => get(path.into()),
            ("put", "/api/v1/hotlines") => Ask {
                method: "PUT",
                path: path.into(),
                body: Body::Json(serde_json::json!({
                    "number": format!("1800{:04}", self.next_number()),
                    "name": "Tổng đài", "owner": "Bộ Y tế", "free_from": "2020-02-01",
                })),
                token: None,
            },
            ("get", "/api/v1/hotlines/table") => get(path.into()),
            ("delete", "/api/v1/hotlines/{number}") => {
                let n = format!("1800{:04}", self.next_number());
                self.app.execute(&format!(
                    "INSERT INTO hotlines (number, display, name, owner, free_from, updated_at, updated_by) \
                     VALUES ('{n}', '{n}', 'x', 'y', '2020-02-01', 0, 'test')"
                ));
                Ask {
                    method: "DELETE",
                    path: format!("/api/v1/hotlines/{n}"),
                    body: Body::None,
                    token: None,
                }
            }
            ("get", "/api/v1/verifications") => {
                get(format!("/api/v1/verifications?carrier={unit}"))
            }
            ("get", "/api/v1/carriers/{id}/cdr-mapping") => {
                get(format!("/api/v1/carriers/{unit}/cdr-mapping"))
            }
            ("put", "/api/v1/carriers/{id}/cdr-mapping") => Ask {
                method: "PUT",
                path: format!("/api/v1/carriers/{unit}/cdr-mapping"),
                body: Body::Json(serde_json::json!({
                    "spec": "caller=a,called=b,start=c,seconds=d,charge=e",
                })),
                token: None,
            },
            ("post", "/api/v1/carriers/{id}/cdr") => Ask {
                method: "POST",
                path: format!("/api/v1/carriers/{unit}/cdr"),
                body: Body::Text(
                    b"caller,called,start_time,duration,charge\n0912345678,19009095,2020-02-03 08:15:00,60,0\n"
                        .to_vec(),
                ),
                token: None,
            },
            ("get", "/exports/{name}") => get("/exports/tasks.csv".into()),
            ("get", "/api/v1/units/{id}/tasks/{task}/history") => get(format!(
                "/api/v1/units/{unit}/tasks/a0/history?directive={d}"
            )),
            ("get", "/units/{id}/tasks/{task}/history") => {
                get(format!("/units/{unit}/tasks/a0/history"))
            }
            ("post", "/api/v1/devices/{actor}/revoke") => {
                // A phone of the caller's own (where the caller has a session to register
                // it with) or of somebody else's, registered for this one request.
                let owner = match (scope, who.signed_in()) {
                    (Scope::Own, true) => who.username().to_string(),
                    _ => TARGET.to_string(),
                };
                let actor = self.new_device(&owner);
                post(
                    &format!("/api/v1/devices/{actor}/revoke"),
                    serde_json::json!({}),
                )
            }
            ("get", "/api/v1/users") => get(path.into()),
            ("get", "/api/v1/users/{username}/devices") => {
                let user = if scope == Scope::Own {
                    who.username()
                } else {
                    TARGET
                };
                get(format!("/api/v1/users/{user}/devices"))
            }
            ("post", "/api/v1/users/{username}/disable") => {
                let victim = self.fresh("victim");
                self.app.create_user(&victim, Role::Member, &[(OWN, false)]);
                post(
                    &format!("/api/v1/users/{victim}/disable"),
                    serde_json::json!({}),
                )
            }
            ("post", "/api/v1/users/{username}/enable") => {
                let victim = self.fresh("victim");
                self.app.create_user(&victim, Role::Member, &[(OWN, false)]);
                self.app.execute(&format!(
                    "UPDATE users SET disabled = true WHERE username = '{victim}'"
                ));
                post(
                    &format!("/api/v1/users/{victim}/enable"),
                    serde_json::json!({}),
                )
            }
            // The dashboard.
            ("get", "/login") => get("/login".into()),
            ("post", "/login") => Ask {
                method: "FORM",
                path: "/login".into(),
                body: Body::Json(serde_json::json!({
                    "username": who.username(),
                    "password": PASSWORD,
                    "csrf": LOGIN_CSRF,
                })),
                token: None,
            },
            ("post", "/logout") => {
                let token = self.throwaway(who);
                let mine = self.token(who);
                let session = token.as_deref().unwrap_or(&mine);
                Ask {
                    method: "FORM",
                    path: "/logout".into(),
                    body: Body::Json(serde_json::json!({
                        "csrf": taskforce_server::http::session_csrf(session),
                    })),
                    token,
                }
            }
            ("get", "/") => get("/".into()),
            ("get", "/matrix") => get("/matrix".into()),
            ("get", "/clauses/{id}") => get(format!("/clauses/{}", self.clauses[unit])),
            ("get", "/units/{id}") => get(format!("/units/{unit}")),
            ("get", "/hotlines") => get("/hotlines".into()),
            ("get", "/stale") => get("/stale".into()),
            ("get", "/report") => get("/report".into()),
            // The Ministry Office's forms: a comment on a task, with the session's token.
            ("post", "/office/actions") => Ask {
                method: "FORM",
                path: "/office/actions".into(),
                body: Body::Json(serde_json::json!({
                    "csrf": taskforce_server::http::session_csrf(&self.token(who)),
                    "action": "comment",
                    "unit": unit,
                    "task": "a0",
                    "text": "Đề nghị bổ sung số liệu",
                })),
                token: None,
            },
            ("get", "/directives") => get("/directives".into()),
            // The directive pages' forms, with the session's token; each on a draft of its own.
            ("post", "/directives/drafts") => Ask {
                method: "FORM",
                path: "/directives/drafts".into(),
                body: Body::Json(serde_json::json!({
                    "csrf": taskforce_server::http::session_csrf(&self.token(who)),
                    "text": self.fresh_directive().0,
                })),
                token: None,
            },
            ("get", "/directives/drafts/{id}") => {
                get(format!("/directives/drafts/{}", self.fresh_draft()))
            }
            ("post", "/directives/drafts/{id}/corrections") => Ask {
                method: "FORM",
                path: format!("/directives/drafts/{}/corrections", self.fresh_draft()),
                body: Body::Json(serde_json::json!({
                    "csrf": taskforce_server::http::session_csrf(&self.token(who)),
                    "action": "set_role",
                    "clause": "II.3",
                    "unit": "cuc-vt",
                    "role": "lead",
                })),
                token: None,
            },
            ("post", "/directives/drafts/{id}/publish" | "/directives/drafts/{id}/discard") => {
                Ask {
                    method: "FORM",
                    path: path.replace("{id}", &self.fresh_draft()),
                    body: Body::Json(serde_json::json!({
                        "csrf": taskforce_server::http::session_csrf(&self.token(who)),
                    })),
                    token: None,
                }
            }
            ("post", "/directives/{id}/bring") => Ask {
                method: "FORM",
                path: format!("/directives/{d}/bring"),
                body: Body::Json(serde_json::json!({
                    "csrf": taskforce_server::http::session_csrf(&self.token(who)),
                })),
                token: None,
            },
            _ => return None,
        })
    }

    /// What a refused request must leave as it was: the op log, accounts and their states,
    /// memberships and leads, devices and revocations, sessions, the audit log.
    fn written(&self) -> Vec<i64> {
        [
            "SELECT COUNT(*) FROM changes",
            "SELECT COUNT(*) FROM memberships",
            "SELECT COUNT(*) FROM memberships WHERE lead",
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM users WHERE disabled",
            "SELECT COUNT(*) FROM devices",
            "SELECT COUNT(*) FROM devices WHERE revoked_at IS NOT NULL",
            "SELECT COUNT(*) FROM tokens",
            "SELECT COUNT(*) FROM audit_log",
            "SELECT COUNT(*) FROM directives",
            "SELECT COUNT(*) FROM directive_drafts",
            "SELECT COUNT(*) FROM documents",
        ]
        .iter()
        .map(|q| self.app.query_i64(q))
        .collect()
    }

    /// Send one request as `who`: the status, where a redirect points, and the body.
    fn send(&self, who: Who, ask: &Ask) -> (u16, Option<String>, Vec<u8>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let url = format!("{}{}", self.app.base, ask.path);
        let mine = self.token(who);
        let token = ask.token.as_ref().unwrap_or(&mine);
        let auth = format!("Bearer {token}");
        let cookie = format!("{}={token}", taskforce_server::http::TOKEN_COOKIE);
        let result = match (&ask.body, ask.method) {
            (Body::None, "GET") => agent
                .get(&url)
                .header("Authorization", &auth)
                .header("Cookie", &cookie)
                .call(),
            (Body::None, "DELETE") => agent
                .delete(&url)
                .header("Authorization", &auth)
                .header("Cookie", &cookie)
                .call(),
            (Body::Json(v), "FORM") => {
                let fields: Vec<(String, String)> = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                // The sign-in form's double-submit cookie rides with the session's.
                let cookies = format!(
                    "{cookie}; {}={LOGIN_CSRF}",
                    taskforce_server::http::CSRF_COOKIE
                );
                agent
                    .post(&url)
                    .header("Cookie", &cookies)
                    .header("Origin", &self.app.base)
                    .send_form(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            }
            (Body::Json(v), "PUT") => agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Cookie", &cookie)
                .send_json(v),
            (Body::Json(v), _) => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Cookie", &cookie)
                .send_json(v),
            (Body::Text(text), _) => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "text/plain; charset=utf-8")
                .send(&text[..]),
            (Body::Sync(bytes, actor), _) => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("X-Taskforce-Device", &actor.to_string())
                .header("Content-Type", "application/octet-stream")
                .send(&bytes[..]),
            (Body::None, m) => panic!("no way to send {m}"),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{} {}: {e}", ask.method, ask.path));
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap_or_default();
        (resp.status().as_u16(), location, body)
    }
}

/// What an answer did: let the caller through (a success, or a redirect that is not to the
/// sign-in page — a public route's redirect anywhere: signing out ends there), refuse them
/// (401, 403, 404 — a unit one may not see is not shown — or the sign-in page), or neither
/// (any other status: a 400 or 409 would hide whether the caller's right was checked at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Through,
    Refused,
    Neither,
}

fn verdict(rule: Rule, status: u16, location: &Option<String>) -> Verdict {
    let to_sign_in = location.as_deref().is_some_and(|l| l.starts_with("/login"));
    match status {
        200..=299 => Verdict::Through,
        300..=399 if matches!(rule, Rule::Public) || !to_sign_in => Verdict::Through,
        300..=399 | 401 | 403 | 404 => Verdict::Refused,
        _ => Verdict::Neither,
    }
}

fn every_route_answers_every_caller_as_its_rule_says(db: TestDb) {
    let world = World::new(db);
    let routes: Vec<(&str, &str)> = API_ROUTES
        .iter()
        .chain(DASHBOARD_ROUTES.iter())
        .copied()
        .collect();
    let rules: BTreeMap<(&str, &str), Rule> =
        RULES.iter().map(|(m, p, r)| ((*m, *p), *r)).collect();
    for route in &routes {
        assert!(
            rules.contains_key(route),
            "{route:?} has no row in the authorisation table (server/tests/authorisation.rs, \
             RULES): add one"
        );
    }
    for (m, p, _) in RULES {
        assert!(
            routes.contains(&(*m, *p)),
            "the authorisation table names {m} {p}, which the server does not register"
        );
    }
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (method, path) in &routes {
        let rule = rules[&(*method, *path)];
        let scopes: &[Scope] = if rule.scoped() {
            &[Scope::Own, Scope::Other]
        } else {
            &[Scope::None]
        };
        for who in EVERYONE {
            for &scope in scopes {
                let Some(ask) = world.ask(method, path, who, scope) else {
                    panic!("{method} {path}: no way to ask it in World::ask: add one");
                };
                // The exports: every one of them, each a cell.
                let asks = if *path == "/exports/{name}" {
                    EXPORTS
                        .iter()
                        .map(|name| Ask {
                            method: "GET",
                            path: format!("/exports/{name}"),
                            body: Body::None,
                            token: None,
                        })
                        .collect()
                } else {
                    vec![ask]
                };
                for ask in asks {
                    let expected = rule.allows(who, scope);
                    let before = (ask.method != "GET").then(|| world.written());
                    let (status, location, body) = world.send(who, &ask);
                    if *path == "/api/v1/devices/{actor}/revoke" && status == 200 && who.signed_in()
                    {
                        // The revocation ended the owner's sessions: the caller's, when the phone
                        // was theirs.
                        world.renew(who);
                    }
                    if let Some(before) = before
                        && !expected
                        && world.written() != before
                    {
                        wrong.push(format!(
                            "{method} {path} as {who:?} on {scope:?}: refused ({status}) but wrote"
                        ));
                    }
                    cells += 1;
                    assert!(
                        status < 500,
                        "{method} {path} as {who:?} ({scope:?}): {status}"
                    );
                    let due = if expected {
                        Verdict::Through
                    } else {
                        Verdict::Refused
                    };
                    if verdict(rule, status, &location) != due {
                        wrong.push(format!(
                            "{method} {path} as {who:?} on {scope:?}: {status} {location:?}, \
                         the rule {rule:?} says {}",
                            if expected { "allow" } else { "refuse" }
                        ));
                    }
                    // What a member is let through to shows their unit, never another's: the
                    // listings, pages and exports that filter by the caller.
                    if expected
                        && who.member_of_own()
                        && FILTERED.contains(path)
                        && let Some(leak) = world.other_unit_in(&body)
                    {
                        wrong.push(format!(
                            "{method} {path} as {who:?}: the answer shows another unit ({leak})"
                        ));
                    }
                    // Those without a session are asked to sign in, never told "forbidden" or
                    // "not found" (which would say what exists).
                    if !who.signed_in()
                        && !expected
                        && matches!(
                            rule,
                            Rule::SignedIn
                                | Rule::ReadUnit
                                | Rule::ReadsEverything
                                | Rule::WriteUnit
                                | Rule::ManageMembers
                        )
                    {
                        let sign_in = status == 401
                            || location.as_deref().is_some_and(|l| l.starts_with("/login"));
                        if !sign_in {
                            wrong.push(format!(
                            "{method} {path} as {who:?} on {scope:?}: {status}, not 401 / sign-in"
                        ));
                        }
                    }
                }
            }
        }
    }
    println!(
        "authorisation: {} routes, {cells} cells asked, {} wrong",
        routes.len(),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

on_every_store!(every_route_answers_every_caller_as_its_rule_says);
