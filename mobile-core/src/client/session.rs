//! The session: sign-in with device registration (the device key is made here, once), sign-out,
//! and who is signed in.

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::SigningKey;

use super::{
    Client, ClientError, ClientResult, Parked, Reply, Session, Transport, TransportError,
    directives, doc_identity, error, parse::base64_encode,
};
use crate::{
    doc::ActorId,
    store::{load_replica, save_replica},
    sync::{DocKey, Replica, sign_registration, signing_key},
};

/// Register the device's key for the token's user, proving it holds the private key: ask
/// for a challenge, sign it (with the username it was issued to, the public key and the
/// device name: [`crate::sync::registration_message`]), send key and signature. A challenge
/// that expired or was retired on the way (the phone slept, the account's other phones took
/// its place) is replaced, twice at most. The same key registered again by the same user
/// answers the same actor id.
pub(super) fn register_device(
    transport: &dyn Transport,
    token: &str,
    key: &SigningKey,
    device_name: &str,
) -> ClientResult<ActorId> {
    const RENEWABLE: [&str; 3] = ["challenge_expired", "challenge_unknown", "challenge_used"];
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reply = register_once(transport, token, key, device_name)?;
        let body = reply.json();
        if reply.status == 201 {
            return ActorId::try_from(body["actor_id"].as_u64().unwrap_or_default())
                .map_err(|_| ClientError::Network("the server sent an invalid actor id".into()));
        }
        let renewable = RENEWABLE.contains(&body["error"].as_str().unwrap_or_default());
        if !renewable || attempt == 3 {
            return Err(error::from_reply(reply.status, &body));
        }
    }
}

/// One challenge, signed and sent: the server's answer to the registration.
fn register_once(
    transport: &dyn Transport,
    token: &str,
    key: &SigningKey,
    device_name: &str,
) -> ClientResult<Reply> {
    let net = |e: TransportError| ClientError::Network(e.0);
    let reply = transport
        .post_json(
            "/api/v1/devices/challenge",
            Some(token),
            &serde_json::json!({}),
        )
        .map_err(net)?;
    let body = reply.json();
    if reply.status != 200 {
        return Err(error::from_reply(reply.status, &body));
    }
    let invalid = || ClientError::Network("the server sent an invalid challenge".into());
    let challenge: [u8; 32] = STANDARD
        .decode(body["challenge"].as_str().unwrap_or_default())
        .map_err(|_| invalid())?
        .try_into()
        .map_err(|_| invalid())?;
    let username = body["username"].as_str().ok_or_else(invalid)?;
    let signature = sign_registration(key, &challenge, username, device_name);
    transport
        .post_json(
            "/api/v1/devices",
            Some(token),
            &serde_json::json!({
                "name": device_name,
                "public_key": base64_encode(&key.verifying_key().to_bytes()),
                "challenge": base64_encode(&challenge),
                "signature": base64_encode(&signature),
            }),
        )
        .map_err(net)
}

/// The store's meta key of the device token the server gave this device at its last login:
/// sent back with the next, it lets a correct password through while strangers' failures hold
/// the account back (the server's login limits).
pub(super) const DEVICE_TOKEN: &str = "device_token";

/// The login request: with the device token, when the device has one.
fn login_body(username: &str, password: &str, device_token: Option<String>) -> serde_json::Value {
    let mut body = serde_json::json!({ "username": username, "password": password });
    if let Some(t) = device_token {
        body["device_token"] = serde_json::Value::String(t);
    }
    body
}

impl Client {
    /// The device token the server gave this device at its last login, if any.
    pub fn device_token(&self) -> ClientResult<Option<String>> {
        Ok(self
            .lock()
            .store
            .get_meta(DEVICE_TOKEN)?
            .and_then(|t| String::from_utf8(t).ok())
            .filter(|t| !t.is_empty()))
    }

    pub fn is_logged_in(&self) -> bool {
        self.lock().session.is_some()
    }

    /// The signed-in user's unit.
    pub fn unit(&self) -> Option<String> {
        self.lock().session.as_ref().map(|s| s.unit.clone())
    }

    pub fn actor(&self) -> Option<ActorId> {
        self.lock().session.as_ref().map(|s| s.actor)
    }

    /// Sign in, register this device (its key pair is made here, once), and fetch every
    /// directive with tasks for the unit and the unit's document of each; the one active
    /// before stays so, else the oldest. `unit`: which of the user's units (the first when
    /// `None`). Needs the network; everything after works offline.
    pub fn login(
        &self,
        server: &str,
        username: &str,
        password: &str,
        device_name: &str,
        unit: Option<&str>,
    ) -> ClientResult<()> {
        let transport = (self.make_transport)(server);
        let net = |e: TransportError| ClientError::Network(e.0);
        let reply = transport
            .post_json(
                "/api/v1/auth/login",
                None,
                &login_body(username, password, self.device_token()?),
            )
            .map_err(net)?;
        let body = reply.json();
        if reply.status != 200 {
            return Err(error::from_reply(reply.status, &body));
        }
        if let Some(t) = body["device_token"].as_str() {
            self.lock().store.set_meta(DEVICE_TOKEN, t.as_bytes())?;
        }
        let token = body["token"].as_str().unwrap_or_default().to_string();
        let units: Vec<String> = body["user"]["units"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u["unit"].as_str().map(str::to_string))
            .collect();
        let role = body["user"]["role"]
            .as_str()
            .unwrap_or("member")
            .to_string();
        let (office, _) = role_flags(Some(&role));
        let unit = match unit {
            Some(u) if units.iter().any(|x| x == u) => u.to_string(),
            // The Ministry Office reads and reviews every unit's document.
            Some(u) if office => u.to_string(),
            Some(u) => {
                return Err(ClientError::Forbidden(format!(
                    "{username} is not a member of {u}"
                )));
            }
            None => units
                .first()
                .cloned()
                .ok_or_else(|| ClientError::Forbidden(format!("{username} belongs to no unit")))?,
        };

        let mut inner = self.lock();
        // The store's device key (not a document's own, which `inner.key` may hold).
        let stored: Option<[u8; 32]> = inner
            .store
            .get_meta("secret")?
            .and_then(|s| s.as_slice().try_into().ok());
        let key = match stored {
            Some(secret) => signing_key(&secret),
            None => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| ClientError::Storage(format!("no randomness for a key: {e}")))?;
                inner.store.set_meta("secret", &secret)?;
                signing_key(&secret)
            }
        };
        let actor = register_device(transport.as_ref(), &token, &key, device_name)?;

        // Every directive with tasks for the unit: none, for a unit no published directive
        // names yet (the phone follows what is published later at its syncs). A server
        // without the batch route serves the first one only.
        let names: Vec<String> =
            match directives::list_documents(transport.as_ref(), &token, actor, &unit)? {
                Some(listed) => listed.into_iter().map(|d| d.directive).collect(),
                None => vec![directives::FIRST_DIRECTIVE.to_string()],
            };
        let mut fetched = Vec::with_capacity(names.len());
        for directive in &names {
            let (json, header) =
                directives::fetch_document(transport.as_ref(), &token, &unit, directive)?;
            fetched.push((directive.clone(), json, header));
        }

        // Checked before anything changes: a held document must be the server's.
        let mut opened = Vec::with_capacity(fetched.len());
        for (directive, json, header) in fetched {
            let doc_key = DocKey {
                directive: directive.clone(),
                unit: unit.clone(),
            };
            // A document a recovery gave its own device (see `doc_identity`).
            let (doc_actor, doc_signing) =
                doc_identity(inner.store.as_ref(), &doc_key)?.unwrap_or((actor, key.clone()));
            let held = match load_replica(inner.store.as_ref(), &doc_key, doc_actor)? {
                Some((r, saved)) if r.doc().header() == &header => Some((r, saved)),
                Some(_) => {
                    return Err(ClientError::Conflict(format!(
                        "chỉ thị {directive} trên máy chủ đã thay đổi; máy này giữ bản cũ / the directive {directive} on the server changed; this store holds the old one"
                    )));
                }
                None => None,
            };
            opened.push((directive, json, header, held, doc_actor, doc_signing));
        }
        inner.replica = None;
        inner.parked.clear();
        inner.about.clear();
        for (directive, json, header, held, doc_actor, doc_signing) in opened {
            let (replica, saved) = match held {
                Some(held) => held,
                None => {
                    let r = Replica::new(header);
                    let saved = save_replica(inner.store.as_mut(), &r, doc_actor)?;
                    (r, saved)
                }
            };
            let parked = Parked {
                replica,
                saved,
                clauses: Default::default(),
                actor: doc_actor,
                key: doc_signing,
            };
            directives::follow(&mut inner, &directive, &json, parked)?;
        }
        directives::write_followed(&mut inner)?;
        // The one active before, if still followed; else the oldest; none (empty) when the
        // unit has no document yet.
        let before = inner
            .store
            .get_meta("directive")?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .filter(|d| names.contains(d));
        let directive = match before {
            Some(d) => d,
            None => directives::oldest(&inner, &names).unwrap_or_default(),
        };
        for (k, v) in [
            ("server", server),
            ("token", token.as_str()),
            ("username", username),
            ("device_name", device_name),
            ("actor", &actor.to_string()),
            ("unit", unit.as_str()),
            ("directive", directive.as_str()),
            ("role", role_meta(office, units.contains(&unit))),
        ] {
            inner.store.set_meta(k, v.as_bytes())?;
        }
        let active_actor = directives::unpark(&mut inner, &directive).unwrap_or(actor);
        if inner.key.is_none() {
            inner.key = Some(key);
        }
        inner.transport = Some(transport);
        let member = units.contains(&unit);
        inner.session = Some(Session {
            token,
            username: username.to_string(),
            actor: active_actor,
            device: actor,
            unit,
            directive,
            office,
            member,
        });
        drop(inner);
        self.notify("login");
        Ok(())
    }

    /// Forget the session (the device key and the queued edits stay).
    pub fn logout(&self) -> ClientResult<()> {
        let mut inner = self.lock();
        inner.store.set_meta("token", b"")?;
        inner.session = None;
        Ok(())
    }

    /// The active directive (its slug): the document tasks, edits and views act on; `None`
    /// signed out or while the unit has no document yet.
    pub fn directive(&self) -> Option<String> {
        self.lock()
            .session
            .as_ref()
            .map(|s| s.directive.clone())
            .filter(|d| !d.is_empty())
    }

    /// Who is signed in.
    pub fn username(&self) -> Option<String> {
        self.lock().session.as_ref().map(|s| s.username.clone())
    }
}

/// What a session's stored `role` says: (acts for the Ministry Office, member of the unit).
/// `office` for the Ministry Office not a member, `office+member` for both, anything else
/// (or nothing: a store from before decision 39) a member's session.
pub(super) fn role_flags(role: Option<&str>) -> (bool, bool) {
    match role {
        Some("ministry_office" | "admin" | "office") => (true, false),
        Some("office+member") => (true, true),
        _ => (false, true),
    }
}

/// The stored form of a session's role ([`role_flags`] reads it back).
fn role_meta(office: bool, member: bool) -> &'static str {
    match (office, member) {
        (true, true) => "office+member",
        (true, false) => "office",
        _ => "member",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::{
        client::Transport,
        directive::Role,
        doc::{DocHeader, HeaderTask},
        store::MemoryStore,
    };

    /// A server that signs in (answering `device_token` "dt-N" to the Nth login), registers
    /// the device and hands out a one-task document; it keeps the login requests.
    #[derive(Debug, Default)]
    struct Server {
        logins: Mutex<Vec<serde_json::Value>>,
    }

    fn ok(status: u16, body: serde_json::Value) -> Result<Reply, TransportError> {
        Ok(Reply {
            status,
            body: body.to_string().into_bytes(),
            retry_after: None,
        })
    }

    impl Transport for Server {
        fn get(&self, path: &str, _: Option<&str>) -> Result<Reply, TransportError> {
            let header = DocHeader {
                directive: "5-ct-btttt".into(),
                unit: "cuc-vt".into(),
                tasks: vec![HeaderTask {
                    clause: "II.1".into(),
                    role: Role::Lead,
                }],
            };
            if path.contains("/document") {
                ok(200, serde_json::json!({ "header": header }))
            } else {
                ok(200, serde_json::json!({ "clauses": [] }))
            }
        }
        fn post_json(
            &self,
            path: &str,
            _: Option<&str>,
            body: &serde_json::Value,
        ) -> Result<Reply, TransportError> {
            if path.ends_with("/devices") {
                return ok(201, serde_json::json!({ "actor_id": 3 }));
            }
            if path.ends_with("/challenge") {
                let challenge = base64_encode(&[1; 32]);
                return ok(
                    200,
                    serde_json::json!({ "challenge": challenge, "username": "cucvt.a" }),
                );
            }
            let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
            logins.push(body.clone());
            ok(
                200,
                serde_json::json!({ "token": "t", "device_token": format!("dt-{}", logins.len()),
                    "user": { "units": [{ "unit": "cuc-vt" }] } }),
            )
        }
        fn post_sync(&self, _: &str, _: u32, _: Vec<u8>) -> Result<Reply, TransportError> {
            Err(TransportError("offline".into()))
        }
    }

    #[test]
    fn the_device_token_of_a_login_is_kept_and_sent_with_the_next() -> ClientResult<()> {
        let server = Arc::new(Server::default());
        let s = server.clone();
        let client = Client::with_store(
            Box::new(MemoryStore::default()),
            Box::new(move |_: &str| s.clone() as Arc<dyn Transport>),
        )?;
        assert_eq!(client.device_token()?, None);
        client.login("http://server", "cucvt.a", "mật khẩu", "phone", None)?;
        assert_eq!(client.device_token()?.as_deref(), Some("dt-1"));
        client.logout()?;
        client.login("http://server", "cucvt.a", "mật khẩu", "phone", None)?;
        assert_eq!(
            client.device_token()?.as_deref(),
            Some("dt-2"),
            "the newest kept"
        );
        let logins = server.logins.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(logins[0].get("device_token"), None, "none the first time");
        assert_eq!(logins[1]["device_token"], "dt-1");
        assert_eq!(logins[1]["username"], "cucvt.a");
        // In the store's meta: a restarted app has it too.
        let stored = client.lock().store.get_meta(DEVICE_TOKEN)?;
        assert_eq!(stored.as_deref(), Some(&b"dt-2"[..]));
        Ok(())
    }
}
