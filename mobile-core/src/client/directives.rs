//! The directives a phone follows: every directive that has tasks for its unit, one document
//! each, and the **active** one that tasks, edits, notices and figures act on (issue 21).
//!
//! The store keeps each document under its `DocKey` as before; its meta names the followed
//! directives (`directives`, one a line), each one's text (`directive_json/{id}`) and the
//! active one (`directive`). A store written before (one directive: `directive` and
//! `directive_json`) reads as following that one directive, active.

use ed25519_dalek::SigningKey;

use super::{
    Client, ClientError, ClientResult, Inner, Parked, Transport, TransportError, doc_identity,
    error, parse::clause_index, text,
};
use crate::{
    doc::{ActorId, DocHeader},
    store::{Store, load_replica},
    sync::{DocKey, wire},
};

/// The directive a store written before issue 21 follows, and the one a server without the
/// batch route serves.
pub(super) const FIRST_DIRECTIVE: &str = "5-ct-btttt";
/// The meta key of the followed directives, one a line.
const FOLLOWED: &str = "directives";

/// Whether `id` can be a directive's slug (1–64 of `[a-z0-9.-]`, not only dots): the only
/// ids a phone follows. A server's listing is not trusted: an id goes into the followed list
/// (one a line) and into URL paths.
pub(super) fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !id.bytes().all(|b| b == b'.')
}

/// `s` as one URL path segment (or query value): every byte but the unreserved ones
/// (RFC 3986 §2.3) percent-encoded.
pub(super) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The meta key of a followed directive's text (the server's JSON).
fn json_key(directive: &str) -> String {
    format!("directive_json/{directive}")
}

/// One followed directive as a screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveView {
    /// Its id on the server (`5-ct-btttt`).
    pub id: String,
    /// As written: `05/CT-BTTTT`.
    pub number: String,
    pub title: String,
    pub issuer: String,
    /// Date of issue, `YYYY-MM-DD`.
    pub date: String,
    /// The tasks the directive gives the unit.
    pub tasks: u32,
    /// This device's operations in it the server has not acknowledged yet.
    pub unsynced: u64,
    /// The one tasks, edits and notices act on.
    pub active: bool,
}

/// What a directive's text says of itself.
#[derive(Debug, Clone, Default)]
pub(super) struct About {
    number: String,
    title: String,
    issuer: String,
    date: String,
    /// The directive's revision the text held is (decision 44; 0 for a text from before).
    revision: u32,
}

impl About {
    fn of(json: &serde_json::Value) -> Self {
        let field = |k: &str| json[k].as_str().unwrap_or_default().to_string();
        Self {
            number: field("number"),
            title: field("title"),
            issuer: field("issuer"),
            date: field("date"),
            revision: json["revision"]
                .as_u64()
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0),
        }
    }
}

/// The directives a store follows: its list, or (a store from before) the one it names.
pub(super) fn followed(store: &dyn Store, legacy: &str) -> ClientResult<Vec<String>> {
    Ok(match text(store, FOLLOWED)? {
        Some(list) => list
            .lines()
            .filter(|l| valid_id(l))
            .map(str::to_string)
            .collect(),
        None => vec![legacy.to_string()],
    })
}

/// A store from before (one directive, its text under `directive_json`) rewritten in
/// today's keys: the list naming that directive, its text under its own key. The old keys
/// stay as they were.
pub(super) fn upgrade(
    store: &mut dyn Store,
    directive: &str,
    legacy_json: Option<&str>,
) -> ClientResult<()> {
    if text(store, FOLLOWED)?.is_some() {
        return Ok(());
    }
    if let Some(json) = legacy_json
        && text(store, &json_key(directive))?.is_none()
    {
        store.set_meta(&json_key(directive), json.as_bytes())?;
    }
    store.set_meta(FOLLOWED, directive.as_bytes())?;
    Ok(())
}

/// A followed directive's stored text.
pub(super) fn stored_json(store: &dyn Store, directive: &str) -> ClientResult<Option<String>> {
    text(store, &json_key(directive))
}

/// Load a followed document from the store (under its own identity when a recovery gave it
/// one) and park it; its text is indexed. Nothing when the store holds no such document.
pub(super) fn open_document(
    inner: &mut Inner,
    unit: &str,
    directive: &str,
    device: ActorId,
    device_key: Option<&SigningKey>,
    json: Option<String>,
) -> ClientResult<()> {
    let key = DocKey {
        directive: directive.to_string(),
        unit: unit.to_string(),
    };
    let (actor, signing) = match doc_identity(inner.store.as_ref(), &key)? {
        Some((a, k)) => (a, k),
        None => match device_key {
            Some(k) => (device, k.clone()),
            None => return Ok(()),
        },
    };
    let json: serde_json::Value = json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    inner.about.insert(directive.to_string(), About::of(&json));
    if let Some((replica, saved)) = load_replica(inner.store.as_ref(), &key, actor)? {
        inner.parked.insert(
            directive.to_string(),
            Parked {
                replica,
                saved,
                clauses: clause_index(&json),
                actor,
                key: signing,
            },
        );
    }
    Ok(())
}

/// Make a parked document the active one's fields; its actor. (The caller parks the active
/// one first, or there is none yet.)
pub(super) fn unpark(inner: &mut Inner, directive: &str) -> Option<ActorId> {
    let p = inner.parked.remove(directive)?;
    inner.replica = Some(p.replica);
    inner.saved = p.saved;
    inner.clauses = p.clauses;
    inner.key = Some(p.key);
    Some(p.actor)
}

/// Park the active document (if there is one) under its directive.
fn park_active(inner: &mut Inner) {
    let Some(session) = inner.session.as_ref() else {
        return;
    };
    let (directive, actor) = (session.directive.clone(), session.actor);
    if let (Some(replica), Some(key)) = (inner.replica.take(), inner.key.clone()) {
        inner.parked.insert(
            directive,
            Parked {
                replica,
                saved: std::mem::take(&mut inner.saved),
                clauses: std::mem::take(&mut inner.clauses),
                actor,
                key,
            },
        );
    }
}

/// With no active directive (the unit had no document), the oldest one followed since made
/// active, and kept so. Whether one was.
pub(super) fn activate_oldest_if_none(inner: &mut Inner) -> ClientResult<bool> {
    let none_active = inner.replica.is_none()
        && inner
            .session
            .as_ref()
            .is_some_and(|s| s.directive.is_empty());
    if !none_active {
        return Ok(false);
    }
    let parked: Vec<String> = inner.parked.keys().cloned().collect();
    let Some(directive) = oldest(inner, &parked) else {
        return Ok(false);
    };
    inner.store.set_meta("directive", directive.as_bytes())?;
    let actor = unpark(inner, &directive);
    if let Some(session) = inner.session.as_mut() {
        session.directive = directive;
        if let Some(actor) = actor {
            session.actor = actor;
        }
    }
    Ok(true)
}

/// The oldest of `directives` by date of issue (then by id): the default active one.
pub(super) fn oldest(inner: &Inner, directives: &[String]) -> Option<String> {
    directives
        .iter()
        .min_by_key(|d| {
            let date = inner
                .about
                .get(*d)
                .map(|a| a.date.clone())
                .unwrap_or_default();
            // An unknown date sorts last.
            (date.is_empty(), date, (*d).clone())
        })
        .cloned()
}

/// The documents `unit` has on the server (a batch naming none; those whose id cannot be a
/// directive's left out: [`valid_id`]), or `None` from a server without the batch route.
pub(super) fn list_documents(
    transport: &dyn Transport,
    token: &str,
    actor: ActorId,
    unit: &str,
) -> ClientResult<Option<Vec<wire::ListedDocument>>> {
    let body = wire::encode_batch_request(&wire::BatchRequest {
        unit: unit.to_string(),
        requests: Vec::new(),
    });
    let reply = transport
        .post_sync_batch(token, actor, body)
        .map_err(|e| ClientError::Network(e.0))?;
    if reply.status == 404 {
        return Ok(None);
    }
    if reply.status != 200 {
        return Err(error::from_reply(reply.status, &reply.json()));
    }
    let answer = wire::decode_batch_response(&reply.body)
        .map_err(|e| ClientError::Network(format!("a damaged answer: {e}")))?;
    Ok(Some(
        answer
            .documents
            .into_iter()
            .filter(|d| valid_id(&d.directive))
            .collect(),
    ))
}

/// A directive's text as the server has it now (its JSON).
pub(super) fn fetch_text(
    transport: &dyn Transport,
    token: &str,
    directive: &str,
) -> ClientResult<String> {
    let reply = transport
        .get(
            &format!("/api/v1/directives/{}", segment(directive)),
            Some(token),
        )
        .map_err(|e: TransportError| ClientError::Network(e.0))?;
    if reply.status != 200 {
        return Err(error::from_reply(reply.status, &reply.json()));
    }
    Ok(String::from_utf8_lossy(&reply.body).into_owned())
}

/// The directives held whose text is of an older revision than the server lists (a
/// revision published since: corrected words, new clauses; decision 44).
pub(super) fn stale_texts(inner: &Inner, listed: &[wire::ListedDocument]) -> Vec<String> {
    listed
        .iter()
        .filter(|d| inner.held(&d.directive).is_some())
        .filter(|d| {
            inner
                .about
                .get(&d.directive)
                .is_none_or(|a| a.revision < d.revision)
        })
        .map(|d| d.directive.clone())
        .collect()
}

/// Keep `json` as the text of `directive` (held, active or parked) and index its clauses.
pub(super) fn replace_text(inner: &mut Inner, directive: &str, json: &str) -> ClientResult<()> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        ClientError::Network(format!("the server sent a damaged directive text: {e}"))
    })?;
    inner
        .store
        .set_meta(&json_key(directive), json.as_bytes())?;
    inner.about.insert(directive.to_string(), About::of(&value));
    let clauses = clause_index(&value);
    if inner
        .replica
        .as_ref()
        .is_some_and(|r| r.key().directive == directive)
    {
        inner.clauses = clauses;
    } else if let Some(p) = inner.parked.get_mut(directive) {
        p.clauses = clauses;
    }
    Ok(())
}

/// A directive's text (the server's JSON) and the header of the unit's document for it.
pub(super) fn fetch_document(
    transport: &dyn Transport,
    token: &str,
    unit: &str,
    directive: &str,
) -> ClientResult<(String, DocHeader)> {
    let net = |e: TransportError| ClientError::Network(e.0);
    let (unit_segment, directive_segment) = (segment(unit), segment(directive));
    let json = fetch_text(transport, token, directive)?;
    let reply = transport
        .get(
            &format!("/api/v1/units/{unit_segment}/document?directive={directive_segment}"),
            Some(token),
        )
        .map_err(net)?;
    if reply.status != 200 {
        return Err(error::from_reply(reply.status, &reply.json()));
    }
    let header: DocHeader =
        serde_json::from_value(reply.json()["header"].clone()).map_err(|e| {
            ClientError::Network(format!("the server sent an invalid document header: {e}"))
        })?;
    if header.directive != directive || header.unit != unit {
        return Err(ClientError::Network(format!(
            "the server sent the header of {}/{} for {directive}/{unit}",
            header.directive, header.unit
        )));
    }
    Ok((json, header))
}

/// Follow a directive whose document the store already holds (just made or loaded): its
/// text kept and indexed, its name added to the followed list.
pub(super) fn follow(
    inner: &mut Inner,
    directive: &str,
    json: &str,
    parked: Parked,
) -> ClientResult<()> {
    inner
        .store
        .set_meta(&json_key(directive), json.as_bytes())?;
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    inner.about.insert(directive.to_string(), About::of(&value));
    let mut parked = parked;
    parked.clauses = clause_index(&value);
    inner.parked.insert(directive.to_string(), parked);
    write_followed(inner)
}

/// Every directive held, active first.
pub(super) fn held(inner: &Inner) -> Vec<String> {
    let active = inner.replica.as_ref().map(|r| r.key().directive.clone());
    active
        .into_iter()
        .chain(inner.parked.keys().cloned())
        .collect()
}

/// Write the followed list (every directive held) to the store.
pub(super) fn write_followed(inner: &mut Inner) -> ClientResult<()> {
    let mut all = held(inner);
    all.sort();
    inner.store.set_meta(FOLLOWED, all.join("\n").as_bytes())?;
    Ok(())
}

impl Client {
    /// The directives this phone follows (every one with tasks for its unit), oldest first.
    pub fn directives(&self) -> ClientResult<Vec<DirectiveView>> {
        let inner = self.lock();
        let session = inner
            .session
            .as_ref()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let mut out: Vec<DirectiveView> = Vec::new();
        let mut add = |id: &str, replica: &crate::sync::Replica, actor: ActorId, active: bool| {
            let about = inner.about.get(id).cloned().unwrap_or_default();
            out.push(DirectiveView {
                id: id.to_string(),
                number: about.number,
                title: about.title,
                issuer: about.issuer,
                date: about.date,
                tasks: u32::try_from(replica.doc().header().tasks.len()).unwrap_or(u32::MAX),
                unsynced: replica.unacknowledged(actor) as u64,
                active,
            });
        };
        if let Some(r) = inner.replica.as_ref() {
            add(&session.directive, r, session.actor, true);
        }
        for (id, p) in &inner.parked {
            add(id, &p.replica, p.actor, false);
        }
        out.sort_by(|a, b| {
            (a.date.is_empty(), &a.date, &a.id).cmp(&(b.date.is_empty(), &b.date, &b.id))
        });
        Ok(out)
    }

    /// The active directive: the one tasks, edits and notices act on; `None` signed out or
    /// while the unit has no document yet.
    pub fn active_directive(&self) -> Option<String> {
        self.directive()
    }

    /// Make `directive` (one of [`Client::directives`]) the active one; kept across restarts.
    pub fn select_directive(&self, directive: &str) -> ClientResult<()> {
        let mut inner = self.lock();
        let session = inner
            .session
            .as_ref()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        if !directive.is_empty() && session.directive == directive {
            return Ok(());
        }
        if !inner.parked.contains_key(directive) {
            return Err(ClientError::InvalidInput(format!(
                "điện thoại không theo dõi chỉ thị {directive} / this phone follows no directive {directive}"
            )));
        }
        inner.store.set_meta("directive", directive.as_bytes())?;
        park_active(&mut inner);
        let actor = unpark(&mut inner, directive);
        if let Some(session) = inner.session.as_mut() {
            session.directive = directive.to_string();
            if let Some(actor) = actor {
                session.actor = actor;
            }
        }
        drop(inner);
        self.notify("directive");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;
    use crate::{
        client::{Reply, parse::base64_encode},
        directive::Role,
        doc::HeaderTask,
        store::{MemoryStore, save_replica},
        sync::{Payload, Replica, SyncResponse},
    };

    const SECOND: &str = "07-ct-btttt";

    /// A server for unit `cuc-vt` with the directives in `listed` (05/CT-BTTTT of 2020 and,
    /// once published, 07/CT-BTTTT of 2021), each giving it one task; with or without the
    /// batch route. It takes every change and counts the round trips.
    #[derive(Debug)]
    struct Server {
        listed: Mutex<Vec<&'static str>>,
        batch: bool,
        batches: AtomicU32,
        singles: AtomicU32,
        /// The documents of the last batch.
        last_batch: Mutex<Vec<String>>,
        /// The path of every GET.
        gets: Mutex<Vec<String>>,
    }

    impl Server {
        fn new(batch: bool) -> Arc<Self> {
            Arc::new(Server {
                listed: Mutex::new(vec![FIRST_DIRECTIVE]),
                batch,
                batches: AtomicU32::new(0),
                singles: AtomicU32::new(0),
                last_batch: Mutex::new(Vec::new()),
                gets: Mutex::new(Vec::new()),
            })
        }

        fn publish(&self) {
            self.listed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(SECOND);
        }
    }

    fn header(directive: &str) -> DocHeader {
        DocHeader {
            directive: directive.into(),
            unit: "cuc-vt".into(),
            tasks: vec![HeaderTask {
                clause: "II.1".into(),
                role: Role::Lead,
            }],
        }
    }

    fn reply(status: u16, body: Vec<u8>) -> Result<Reply, TransportError> {
        Ok(Reply {
            status,
            body,
            retry_after: None,
        })
    }

    /// What the server answers a request: nothing new, and every change it carries taken.
    fn answer(request: &crate::sync::SyncRequest) -> Vec<u8> {
        let mut vv = request.vv.clone();
        for c in &request.changes {
            let have = vv.entry(c.actor).or_default();
            *have = (*have).max(c.end());
        }
        wire::encode_response(&SyncResponse {
            vv,
            payload: Payload::Changes(Vec::new()),
        })
    }

    impl Transport for Server {
        fn get(&self, path: &str, _: Option<&str>) -> Result<Reply, TransportError> {
            self.gets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(path.to_string());
            let directive = if path.contains(SECOND) {
                SECOND
            } else {
                FIRST_DIRECTIVE
            };
            let body = if path.contains("/document") {
                serde_json::json!({ "header": header(directive) })
            } else if directive == SECOND {
                serde_json::json!({ "number": "07/CT-BTTTT", "date": "2021-08-09",
                    "title": "Về việc xử lý tin giả", "issuer": "Bộ Thông tin và Truyền thông",
                    "clauses": [{ "id": "II.1", "text": "Xử lý tin giả." }] })
            } else {
                serde_json::json!({ "number": "05/CT-BTTTT", "date": "2020-02-14",
                    "title": "Về việc phòng chống dịch", "issuer": "Bộ Thông tin và Truyền thông",
                    "clauses": [{ "id": "II.1", "text": "Nhắn tin tuyên truyền." }] })
            };
            reply(200, body.to_string().into_bytes())
        }
        fn post_json(
            &self,
            path: &str,
            _: Option<&str>,
            _: &serde_json::Value,
        ) -> Result<Reply, TransportError> {
            let body = if path.ends_with("/devices") {
                return reply(201, br#"{"actor_id": 3}"#.to_vec());
            } else if path.ends_with("/challenge") {
                serde_json::json!({ "challenge": base64_encode(&[1; 32]), "username": "cucvt.a" })
            } else {
                serde_json::json!({ "token": "t", "user": { "units": [{ "unit": "cuc-vt" }] } })
            };
            reply(200, body.to_string().into_bytes())
        }
        fn post_sync(&self, _: &str, _: u32, body: Vec<u8>) -> Result<Reply, TransportError> {
            self.singles.fetch_add(1, Ordering::SeqCst);
            let request = wire::decode_request(&body).map_err(|e| TransportError(e.to_string()))?;
            reply(200, answer(&request))
        }
        fn post_sync_batch(&self, _: &str, _: u32, body: Vec<u8>) -> Result<Reply, TransportError> {
            if !self.batch {
                return reply(404, Vec::new());
            }
            self.batches.fetch_add(1, Ordering::SeqCst);
            let batch =
                wire::decode_batch_request(&body).map_err(|e| TransportError(e.to_string()))?;
            *self.last_batch.lock().unwrap_or_else(|p| p.into_inner()) = batch
                .requests
                .iter()
                .map(|r| r.doc.directive.clone())
                .collect();
            let answers = batch
                .requests
                .iter()
                .map(|r| wire::DocAnswer {
                    doc: r.doc.clone(),
                    result: wire::DocResult::Synced(answer(r)),
                })
                .collect();
            let documents = self
                .listed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|d| wire::ListedDocument {
                    directive: (*d).to_string(),
                    fingerprint: header(d).fingerprint(),
                    ops: 0,
                    revision: 0,
                })
                .collect();
            reply(
                200,
                wire::encode_batch_response(&wire::BatchResponse { answers, documents }),
            )
        }
    }

    fn client(store: &MemoryStore, server: &Arc<Server>) -> ClientResult<Client> {
        let s = server.clone();
        Client::with_store(
            Box::new(store.clone()),
            Box::new(move |_: &str| s.clone() as Arc<dyn Transport>),
        )
    }

    fn ids(c: &Client) -> ClientResult<Vec<String>> {
        Ok(c.directives()?.into_iter().map(|d| d.id).collect())
    }

    #[test]
    fn a_directive_published_later_is_followed_at_the_next_sync_and_05_stays_active()
    -> ClientResult<()> {
        let server = Server::new(true);
        let store = MemoryStore::default();
        let c = client(&store, &server)?;
        c.login("http://server", "cucvt.a", "mật khẩu", "phone", None)?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE]);
        c.set_progress("a0", 20)?;

        server.publish();
        c.sync()?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE, SECOND]);
        let listed = c.directives()?;
        assert_eq!(listed[1].number, "07/CT-BTTTT");
        assert_eq!(
            (listed[1].date.as_str(), listed[1].tasks),
            ("2021-08-09", 1)
        );
        assert_eq!(c.active_directive().as_deref(), Some(FIRST_DIRECTIVE));
        assert_eq!(c.tasks()?[0].progress, 20);
        assert_eq!(c.tasks()?[0].directive, FIRST_DIRECTIVE);

        // The second one's tasks, with its own clause text; an edit of it.
        c.select_directive(SECOND)?;
        let tasks = c.tasks()?;
        assert_eq!(tasks[0].directive, SECOND);
        assert_eq!(tasks[0].clause_text.as_deref(), Some("Xử lý tin giả."));
        assert_eq!(tasks[0].progress, 0, "the 05 edit is not in 07");
        c.set_progress("a0", 70)?;
        c.select_directive(FIRST_DIRECTIVE)?;
        c.set_progress("a0", 25)?;
        assert_eq!(c.unsynced(), 2, "one edit in each");

        // Both in one round trip.
        server.batches.store(0, Ordering::SeqCst);
        let report = c.sync()?;
        assert_eq!(report.pushed, 2);
        assert_eq!(server.batches.load(Ordering::SeqCst), 1);
        assert_eq!(server.singles.load(Ordering::SeqCst), 0);
        let mut sent = server
            .last_batch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        sent.sort();
        assert_eq!(sent, [SECOND, FIRST_DIRECTIVE]);
        assert_eq!(c.unsynced(), 0);

        // Reopened: both followed, each with its work; the active one kept.
        c.select_directive(SECOND)?;
        drop(c);
        let c = client(&store, &server)?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE, SECOND]);
        assert_eq!(c.active_directive().as_deref(), Some(SECOND));
        assert_eq!(c.tasks()?[0].progress, 70);
        c.select_directive(FIRST_DIRECTIVE)?;
        assert_eq!(c.tasks()?[0].progress, 25);
        assert!(matches!(
            c.select_directive("99-nothing"),
            Err(ClientError::InvalidInput(_))
        ));
        Ok(())
    }

    /// A store as the client wrote it before issue 21: one directive, in `directive` and
    /// `directive_json`, and no list. It opens as following that directive, keeps its
    /// queued edit, and follows a second one at its next sync.
    #[test]
    fn a_store_of_one_directive_written_before_opens_and_keeps_working() -> ClientResult<()> {
        let server = Server::new(true);
        let mut store = MemoryStore::default();
        let secret = [7u8; 32];
        let replica = Replica::new(header(FIRST_DIRECTIVE));
        save_replica(&mut store, &replica, 3)?;
        let op = replica.doc().set_op(
            crate::doc::TaskRef::Assigned(0),
            crate::doc::TaskField::Progress(40),
        );
        let id = replica.doc().next_id(3);
        store.append_pending(replica.key(), id.seq, &op)?;
        let json = serde_json::json!({ "number": "05/CT-BTTTT", "date": "2020-02-14",
            "clauses": [{ "id": "II.1", "text": "Nhắn tin tuyên truyền." }] });
        for (k, v) in [
            ("server", "http://server"),
            ("token", "t"),
            ("username", "cucvt.a"),
            ("actor", "3"),
            ("unit", "cuc-vt"),
            ("directive", FIRST_DIRECTIVE),
            ("directive_json", &json.to_string()),
        ] {
            store.set_meta(k, v.as_bytes())?;
        }
        store.set_meta("secret", &secret)?;

        let c = client(&store, &server)?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE]);
        assert_eq!(c.active_directive().as_deref(), Some(FIRST_DIRECTIVE));
        let tasks = c.tasks()?;
        assert_eq!(tasks[0].progress, 40, "the queued edit");
        assert_eq!(
            tasks[0].clause_text.as_deref(),
            Some("Nhắn tin tuyên truyền.")
        );
        assert_eq!(c.unsynced(), 1);

        server.publish();
        assert_eq!(c.sync()?.pushed, 1);
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE, SECOND]);
        drop(c);
        let c = client(&store, &server)?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE, SECOND]);
        assert_eq!(
            c.tasks()?[0].clause_text.as_deref(),
            Some("Nhắn tin tuyên truyền."),
            "the old text still read"
        );
        Ok(())
    }

    /// A server without the batch route (older than the phone): the phone follows its one
    /// directive and syncs document by document.
    #[test]
    fn a_server_without_the_batch_route_is_synced_one_document_at_a_time() -> ClientResult<()> {
        let server = Server::new(false);
        let c = client(&MemoryStore::default(), &server)?;
        c.login("http://server", "cucvt.a", "mật khẩu", "phone", None)?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE]);
        c.set_progress("a0", 10)?;
        assert_eq!(c.sync()?.pushed, 1);
        assert_eq!(server.singles.load(Ordering::SeqCst), 1);
        assert_eq!(server.batches.load(Ordering::SeqCst), 0);
        Ok(())
    }

    /// A hostile server lists ids no directive has (a newline, a path): the phone follows
    /// none of them, asks nothing about them, and follows the good ones.
    #[test]
    fn listed_ids_that_cannot_be_a_directives_are_ignored() -> ClientResult<()> {
        let server = Server::new(true);
        server
            .listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(["a\nb", "../x", ".."]);
        let store = MemoryStore::default();
        let c = client(&store, &server)?;
        c.login("http://server", "cucvt.a", "mật khẩu", "phone", None)?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE]);
        server.publish();
        c.sync()?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE, SECOND]);
        let gets = server
            .gets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        assert_eq!(
            gets.len(),
            4,
            "05's and 07's text and header only: {gets:?}"
        );
        assert!(
            gets.iter().all(|g| !g.contains("..") && !g.contains('\n')),
            "{gets:?}"
        );
        drop(c);
        let c = client(&store, &server)?;
        assert_eq!(ids(&c)?, [FIRST_DIRECTIVE, SECOND]);
        Ok(())
    }

    #[test]
    fn a_directive_id_is_1_to_64_of_lowercase_digits_dots_and_dashes() {
        for good in ["5-ct-btttt", "07-ct-btttt", "12.2024-qd", &"a".repeat(64)] {
            assert!(valid_id(good), "{good}");
        }
        for bad in [
            "",
            "a\nb",
            "../x",
            "..",
            ".",
            "A-ct",
            "chỉ-thị",
            "a/b",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_path_segment_is_percent_encoded() {
        assert_eq!(segment("5-ct-btttt"), "5-ct-btttt");
        assert_eq!(segment("../x?y=1&z"), "..%2Fx%3Fy%3D1%26z");
        assert_eq!(segment("sở tttt"), "s%E1%BB%9F%20tttt");
    }

    /// A server listing no document for the unit: the phone signs in following nothing, its
    /// views answer empty, an edit is refused as input, and a sync follows what is published.
    #[test]
    fn a_unit_with_no_document_signs_in_following_nothing() -> ClientResult<()> {
        let server = Server::new(true);
        server
            .listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let store = MemoryStore::default();
        let c = client(&store, &server)?;
        c.login("http://server", "cucvt.a", "mật khẩu", "phone", None)?;
        assert!(ids(&c)?.is_empty());
        assert_eq!(c.active_directive(), None);
        assert!(c.tasks()?.is_empty());
        assert!(c.conflicts()?.is_empty());
        assert!(matches!(
            c.set_progress("a0", 10),
            Err(ClientError::InvalidInput(_))
        ));
        assert!(matches!(
            c.select_directive(""),
            Err(ClientError::InvalidInput(_))
        ));
        server.batches.store(0, Ordering::SeqCst);
        assert_eq!(c.sync()?.pushed, 0);
        assert_eq!(server.batches.load(Ordering::SeqCst), 1, "the listing");
        assert!(
            server
                .gets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        );

        server.publish();
        c.sync()?;
        assert_eq!(ids(&c)?, [SECOND]);
        assert_eq!(c.active_directive().as_deref(), Some(SECOND));
        c.set_progress("a0", 10)?;
        assert_eq!(c.sync()?.pushed, 1);
        drop(c);
        let c = client(&store, &server)?;
        assert_eq!(c.active_directive().as_deref(), Some(SECOND));
        assert_eq!(c.tasks()?[0].progress, 10);
        Ok(())
    }
}
