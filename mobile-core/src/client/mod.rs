//! The object a phone app holds: sign-in and device registration, the unit's tasks with their
//! clause text, edits that are durable before they return, conflicts, offline compliance
//! figures, and `sync()` — one round trip, retried with back-off, losing nothing on failure.

mod error;
mod transport;

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use ed25519_dalek::SigningKey;
pub use error::ClientError;
pub use transport::{HttpTransport, Reply, Transport, TransportError};

use crate::{
    doc::{
        ActorId, Confirmation, ConfirmationState, Day, DocHeader, Evidence, Figure, Op, Report,
        Status, TaskField, TaskRef,
    },
    progress::{UnitProgress, unit_progress},
    store::{
        MemoryStore, Saved, SqliteStore, Store, load_replica, save_after_sync, save_replica,
        seal_change,
    },
    sync::{DocKey, Replica, signing_key, wire},
};

pub type ClientResult<T> = Result<T, ClientError>;

/// Told when the local data changed, so a screen can refresh.
pub trait ChangeObserver: Send + Sync {
    /// `what`: "edit", "sync" or "login".
    fn changed(&self, what: &str);
}

/// One task as a screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// `a3` for the directive's tasks, `t2.17` for ones the unit added.
    pub id: String,
    pub clause: Option<String>,
    pub clause_heading: Option<String>,
    pub clause_text: Option<String>,
    pub title: Option<String>,
    /// `lead` or `coordinating` for the directive's tasks.
    pub role: Option<String>,
    /// The status the task counts as (`todo`, `in_progress`, `done`, `blocked`).
    pub status: String,
    /// Every value the status holds: more than one is a conflict.
    pub statuses: Vec<String>,
    pub progress: u8,
    pub assignees: Vec<String>,
    pub due: Option<String>,
    pub notes: Vec<String>,
    pub comments: u32,
    pub evidence: u32,
    pub conflicted: bool,
}

/// Makes the transport to a server URL.
pub type TransportFactory = Box<dyn Fn(&str) -> Arc<dyn Transport> + Send + Sync>;

/// A hotline-free billing confirmation as a screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationView {
    pub id: String,
    pub carrier: String,
    pub hotline: String,
    /// `YYYY-MM-DD`.
    pub free_from: String,
    pub attested_by: String,
    /// `confirmed`, `withdrawn`, or `conflict` while both are recorded.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportView {
    pub id: String,
    pub period: String,
    pub text: String,
    pub figures: Vec<(String, i64)>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictView {
    pub task: String,
    pub field: String,
    pub values: Vec<String>,
}

/// What one `sync()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// This device's operations the server acknowledged in this sync.
    pub pushed: u64,
    /// Operations received from other devices.
    pub pulled: u64,
    /// Conflicts in the document after the sync.
    pub conflicts: u32,
    /// Attempts it took (1 when the first succeeded).
    pub attempts: u32,
    pub snapshot: bool,
}

#[derive(Debug, Clone)]
struct Session {
    token: String,
    username: String,
    actor: ActorId,
    unit: String,
    directive: String,
}

struct Inner {
    store: Box<dyn Store>,
    transport: Option<Arc<dyn Transport>>,
    key: Option<SigningKey>,
    session: Option<Session>,
    replica: Option<Replica>,
    /// What the store holds of the replica (saved state and tail), to decide when to rewrite.
    saved: Saved,
    clauses: BTreeMap<String, (Option<String>, String)>,
}

/// The phone's client. Cheap to share (`Arc`); every method is safe from any thread.
pub struct Client {
    inner: Mutex<Inner>,
    observers: Mutex<Vec<Arc<dyn ChangeObserver>>>,
    make_transport: TransportFactory,
    retries: u32,
    backoff: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

const META: [&str; 7] = [
    "server",
    "token",
    "username",
    "actor",
    "unit",
    "directive",
    "directive_json",
];

fn text(store: &dyn Store, key: &str) -> ClientResult<Option<String>> {
    Ok(store
        .get_meta(key)?
        .map(|v| String::from_utf8_lossy(&v).into_owned()))
}

fn clause_index(json: &serde_json::Value) -> BTreeMap<String, (Option<String>, String)> {
    fn walk(v: &serde_json::Value, out: &mut BTreeMap<String, (Option<String>, String)>) {
        for c in v.as_array().into_iter().flatten() {
            if let Some(id) = c["id"].as_str() {
                let heading = c["heading"].as_str().map(str::to_string);
                out.insert(
                    id.to_string(),
                    (heading, c["text"].as_str().unwrap_or_default().to_string()),
                );
            }
            walk(&c["children"], out);
        }
    }
    let mut out = BTreeMap::new();
    walk(&json["clauses"], &mut out);
    out
}

impl Client {
    /// Open (or create) the client's store at `path`.
    pub fn open(path: impl AsRef<Path>) -> ClientResult<Self> {
        let store = SqliteStore::open(path)?;
        Self::with_store(
            Box::new(store),
            Box::new(|base: &str| Arc::new(HttpTransport::new(base)) as Arc<dyn Transport>),
        )
    }

    /// A client that keeps nothing on disk.
    pub fn in_memory() -> ClientResult<Self> {
        Self::with_store(
            Box::new(MemoryStore::default()),
            Box::new(|base: &str| Arc::new(HttpTransport::new(base)) as Arc<dyn Transport>),
        )
    }

    /// A client over any store and transport (tests cut the network with this).
    pub fn with_store(
        store: Box<dyn Store>,
        make_transport: TransportFactory,
    ) -> ClientResult<Self> {
        let mut inner = Inner {
            store,
            transport: None,
            key: None,
            session: None,
            replica: None,
            saved: Saved::default(),
            clauses: BTreeMap::new(),
        };
        if let Some(secret) = inner.store.get_meta("secret")? {
            let secret: [u8; 32] = secret
                .as_slice()
                .try_into()
                .map_err(|_| ClientError::Storage("device key damaged".into()))?;
            inner.key = Some(signing_key(&secret));
        }
        let m: Vec<Option<String>> = META
            .iter()
            .map(|k| text(inner.store.as_ref(), k))
            .collect::<ClientResult<_>>()?;
        if let [
            Some(server),
            Some(token),
            Some(username),
            Some(actor),
            Some(unit),
            Some(directive),
            json,
        ] = m.as_slice()
        {
            let actor: ActorId = actor
                .parse()
                .map_err(|_| ClientError::Storage("actor id damaged".into()))?;
            inner.transport = Some(make_transport(server));
            let key = DocKey {
                directive: directive.clone(),
                unit: unit.clone(),
            };
            if let Some((replica, saved)) = load_replica(inner.store.as_ref(), &key, actor)? {
                inner.replica = Some(replica);
                inner.saved = saved;
            }
            if let Some(json) = json {
                inner.clauses = clause_index(&serde_json::from_str(json).unwrap_or_default());
            }
            inner.session = Some(Session {
                token: token.clone(),
                username: username.clone(),
                actor,
                unit: unit.clone(),
                directive: directive.clone(),
            });
        }
        Ok(Self {
            inner: Mutex::new(inner),
            observers: Mutex::new(Vec::new()),
            make_transport,
            retries: 4,
            backoff: Duration::from_millis(200),
        })
    }

    /// How often `sync()` tries, and the first pause between tries (doubled each time). The
    /// first retry is not delayed: see `sync`.
    pub fn set_retry_policy(&mut self, attempts: u32, first_pause: Duration) {
        self.retries = attempts.max(1);
        self.backoff = first_pause;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self, what: &str) {
        let observers = self
            .observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for o in observers {
            o.changed(what);
        }
    }

    pub fn add_observer(&self, observer: Arc<dyn ChangeObserver>) {
        self.observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer);
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

    /// Sign in, register this device (its key pair is made here, once), and fetch the
    /// directive and the unit's document. `unit`: which of the user's units (the first when
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
                &serde_json::json!({ "username": username, "password": password }),
            )
            .map_err(net)?;
        let body = reply.json();
        if reply.status != 200 {
            return Err(error::from_reply(reply.status, &body));
        }
        let token = body["token"].as_str().unwrap_or_default().to_string();
        let units: Vec<String> = body["user"]["units"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u["unit"].as_str().map(str::to_string))
            .collect();
        let unit = match unit {
            Some(u) if units.iter().any(|x| x == u) => u.to_string(),
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
        let key = match &inner.key {
            Some(k) => k.clone(),
            None => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| ClientError::Storage(format!("no randomness for a key: {e}")))?;
                inner.store.set_meta("secret", &secret)?;
                signing_key(&secret)
            }
        };
        use base64_encode as b64;
        let reply = transport
            .post_json(
                "/api/v1/devices",
                Some(&token),
                &serde_json::json!({ "name": device_name, "public_key": b64(&key.verifying_key().to_bytes()) }),
            )
            .map_err(net)?;
        if reply.status != 201 {
            return Err(error::from_reply(reply.status, &reply.json()));
        }
        let actor = ActorId::try_from(reply.json()["actor_id"].as_u64().unwrap_or_default())
            .map_err(|_| ClientError::Network("the server sent an invalid actor id".into()))?;

        let directive = "5-ct-btttt".to_string();
        let reply = transport
            .get(&format!("/api/v1/directives/{directive}"), Some(&token))
            .map_err(net)?;
        if reply.status != 200 {
            return Err(error::from_reply(reply.status, &reply.json()));
        }
        let directive_json = String::from_utf8_lossy(&reply.body).into_owned();
        let reply = transport
            .get(
                &format!("/api/v1/units/{unit}/document?directive={directive}"),
                Some(&token),
            )
            .map_err(net)?;
        if reply.status != 200 {
            return Err(error::from_reply(reply.status, &reply.json()));
        }
        let header: DocHeader =
            serde_json::from_value(reply.json()["header"].clone()).map_err(|e| {
                ClientError::Network(format!("the server sent an invalid document header: {e}"))
            })?;

        let doc_key = DocKey {
            directive: directive.clone(),
            unit: unit.clone(),
        };
        let (replica, saved) = match load_replica(inner.store.as_ref(), &doc_key, actor)? {
            Some((r, saved)) if r.doc().header() == &header => (r, saved),
            Some(_) => {
                return Err(ClientError::Conflict(
                    "the directive on the server changed; this store holds the old one".into(),
                ));
            }
            None => {
                let r = Replica::new(header);
                let saved = save_replica(inner.store.as_mut(), &r, actor)?;
                (r, saved)
            }
        };
        for (k, v) in [
            ("server", server),
            ("token", token.as_str()),
            ("username", username),
            ("actor", &actor.to_string()),
            ("unit", unit.as_str()),
            ("directive", directive.as_str()),
            ("directive_json", directive_json.as_str()),
        ] {
            inner.store.set_meta(k, v.as_bytes())?;
        }
        inner.clauses = clause_index(&serde_json::from_str(&directive_json).unwrap_or_default());
        inner.key = Some(key);
        inner.transport = Some(transport);
        inner.replica = Some(replica);
        inner.saved = saved;
        inner.session = Some(Session {
            token,
            username: username.to_string(),
            actor,
            unit,
            directive,
        });
        drop(inner);
        self.notify("login");
        Ok(())
    }

    fn with_replica<T>(&self, f: impl FnOnce(&Replica, &Inner) -> T) -> ClientResult<T> {
        let inner = self.lock();
        let replica = inner
            .replica
            .as_ref()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        Ok(f(replica, &inner))
    }

    /// Make an edit: checked, written to the store, then applied; durable when this returns.
    fn edit(&self, make: impl FnOnce(&Replica) -> ClientResult<Op>) -> ClientResult<String> {
        let mut inner = self.lock();
        let actor = inner
            .session
            .as_ref()
            .map(|s| s.actor)
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let Inner { store, replica, .. } = &mut *inner;
        let replica = replica
            .as_mut()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let op = make(replica)?;
        let id = replica.doc().next_id(actor);
        op.validate(id, replica.doc().header().tasks.len())?;
        store.append_pending(replica.key(), id.seq, &op)?;
        replica.edit(actor, op)?;
        drop(inner);
        self.notify("edit");
        Ok(id.to_string())
    }

    fn task_ref(id: &str) -> ClientResult<TaskRef> {
        id.parse().map_err(ClientError::InvalidInput)
    }

    fn set(&self, task: &str, value: TaskField) -> ClientResult<()> {
        let t = Self::task_ref(task)?;
        self.edit(|r| {
            if let TaskRef::Assigned(i) = t
                && i as usize >= r.doc().header().tasks.len()
            {
                return Err(ClientError::InvalidInput(format!(
                    "there is no task {task}"
                )));
            }
            Ok(r.doc().set_op(t, value))
        })
        .map(|_| ())
    }

    pub fn set_status(&self, task: &str, status: &str) -> ClientResult<()> {
        let s = Status::parse(status).ok_or_else(|| {
            ClientError::InvalidInput(format!(
                "unknown status {status:?}: todo, in_progress, done, blocked"
            ))
        })?;
        self.set(task, TaskField::Status(s))
    }
    pub fn set_progress(&self, task: &str, percent: u8) -> ClientResult<()> {
        self.set(task, TaskField::Progress(percent))
    }
    pub fn set_assignee(&self, task: &str, assignee: &str) -> ClientResult<()> {
        self.set(task, TaskField::Assignee(assignee.to_string()))
    }
    pub fn set_notes(&self, task: &str, notes: &str) -> ClientResult<()> {
        self.set(task, TaskField::Notes(notes.to_string()))
    }
    /// `due`: `YYYY-MM-DD`, or `None` to clear it.
    pub fn set_due(&self, task: &str, due: Option<&str>) -> ClientResult<()> {
        let day = match due {
            None => None,
            Some(d) => Some(Day::from_date(parse_date(d)?)),
        };
        self.set(task, TaskField::Due(day))
    }

    /// Add a task of the unit's own under `parent`; returns its id.
    pub fn add_task(&self, parent: Option<&str>, title: &str) -> ClientResult<String> {
        let parent = parent.map(Self::task_ref).transpose()?;
        let actor = self.actor().unwrap_or_default();
        self.edit(|_| {
            Ok(Op::AddTask {
                parent,
                title: title.to_string(),
            })
        })
        .map(|id| {
            let seq = id
                .rsplit('.')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            TaskRef::Adhoc(crate::doc::OpId::new(actor, seq)).to_string()
        })
    }

    pub fn add_comment(&self, task: &str, text: &str, at: i64) -> ClientResult<()> {
        let task = Self::task_ref(task)?;
        self.edit(|_| {
            Ok(Op::Comment {
                task,
                text: text.to_string(),
                at,
            })
        })
        .map(|_| ())
    }

    /// Evidence metadata; `sha256` as 64 hex digits.
    pub fn add_evidence(
        &self,
        task: &str,
        file_name: &str,
        size: u64,
        sha256: &str,
        at: i64,
    ) -> ClientResult<()> {
        let task = Self::task_ref(task)?;
        let sha256 = parse_sha256(sha256)?;
        let evidence = Evidence {
            file_name: file_name.to_string(),
            size,
            sha256,
            at,
        };
        self.edit(|_| Ok(Op::AddEvidence { task, evidence }))
            .map(|_| ())
    }

    /// A carrier's attestation that calls to a hotline are free from a date; returns its id.
    pub fn record_confirmation(
        &self,
        carrier: &str,
        hotline: &str,
        free_from: &str,
        attested_by: &str,
        at: i64,
    ) -> ClientResult<String> {
        let free_from = Day::from_date(parse_date(free_from)?);
        let c = Confirmation {
            carrier: carrier.to_string(),
            hotline: hotline.to_string(),
            free_from,
            attested_by: attested_by.to_string(),
            evidence: None,
            at,
        };
        self.edit(|_| Ok(Op::Confirm(c)))
    }

    pub fn withdraw_confirmation(&self, id: &str) -> ClientResult<()> {
        let (a, s) = id
            .split_once('.')
            .ok_or_else(|| ClientError::InvalidInput(format!("{id:?} is not a confirmation id")))?;
        let oid = crate::doc::OpId::new(
            a.parse()
                .map_err(|_| ClientError::InvalidInput(id.into()))?,
            s.parse()
                .map_err(|_| ClientError::InvalidInput(id.into()))?,
        );
        self.edit(|r| {
            Ok(r.doc()
                .set_confirmation_op(oid, ConfirmationState::Withdrawn))
        })
        .map(|_| ())
    }

    /// A status report with figures (name, value); returns its id.
    pub fn submit_report(
        &self,
        period: &str,
        text: &str,
        figures: &[(String, i64)],
        at: i64,
    ) -> ClientResult<String> {
        let figures = figures
            .iter()
            .map(|(name, value)| Figure {
                name: name.clone(),
                value: *value,
            })
            .collect();
        let report = Report {
            period: period.to_string(),
            text: text.to_string(),
            figures,
            at,
        };
        self.edit(|_| Ok(Op::Report(report)))
    }

    /// The unit's tasks with their clause text.
    pub fn tasks(&self) -> ClientResult<Vec<TaskView>> {
        let today = chrono::Utc::now().date_naive();
        self.with_replica(|r, inner| {
            let doc = r.doc();
            let progress = unit_progress(doc, today);
            progress
                .tasks
                .iter()
                .map(|p| {
                    let state = doc.task(p.task);
                    let clause = p.clause.as_ref().and_then(|c| inner.clauses.get(c));
                    TaskView {
                        id: p.task.to_string(),
                        clause: p.clause.clone(),
                        clause_heading: clause.and_then(|c| c.0.clone()),
                        clause_text: clause.map(|c| c.1.clone()),
                        title: doc.titles(p.task).first().cloned(),
                        role: p.role.map(|r| match r {
                            crate::directive::Role::Lead => "lead".to_string(),
                            crate::directive::Role::Coordinating => "coordinating".to_string(),
                        }),
                        status: p.status.as_str().to_string(),
                        statuses: doc
                            .statuses(p.task)
                            .iter()
                            .map(|s| s.as_str().to_string())
                            .collect(),
                        progress: p.progress,
                        assignees: doc.assignees(p.task),
                        due: p.due.map(|d| d.to_string()),
                        notes: doc.notes(p.task),
                        comments: state
                            .map_or(0, |s| u32::try_from(s.comments.len()).unwrap_or(u32::MAX)),
                        evidence: state
                            .map_or(0, |s| u32::try_from(s.evidence.len()).unwrap_or(u32::MAX)),
                        conflicted: p.conflicted,
                    }
                })
                .collect()
        })
    }

    pub fn conflicts(&self) -> ClientResult<Vec<ConflictView>> {
        self.with_replica(|r, _| {
            r.doc()
                .conflicts()
                .into_iter()
                .map(|c| ConflictView {
                    task: c.task.to_string(),
                    field: c.field.as_str().to_string(),
                    values: c.values.iter().map(field_text).collect(),
                })
                .collect()
        })
    }

    /// Resolve a conflict by writing the value to keep (it replaces every value seen).
    pub fn resolve_conflict(&self, task: &str, field: &str, value: &str) -> ClientResult<()> {
        let value =
            match field {
                "status" => TaskField::Status(Status::parse(value).ok_or_else(|| {
                    ClientError::InvalidInput(format!("unknown status {value:?}"))
                })?),
                "progress" => TaskField::Progress(value.parse().map_err(|_| {
                    ClientError::InvalidInput(format!("{value:?} is not a percentage"))
                })?),
                "assignee" => TaskField::Assignee(value.to_string()),
                "notes" => TaskField::Notes(value.to_string()),
                "due" => TaskField::Due(if value.is_empty() {
                    None
                } else {
                    Some(Day::from_date(parse_date(value)?))
                }),
                "title" => TaskField::Title(value.to_string()),
                other => {
                    return Err(ClientError::InvalidInput(format!(
                        "unknown field {other:?}"
                    )));
                }
            };
        self.set(task, value)
    }

    /// The unit's compliance figures, computed offline with the server's rules.
    pub fn progress(&self, today: Option<&str>) -> ClientResult<UnitProgress> {
        let today = match today {
            Some(d) => parse_date(d)?,
            None => chrono::Utc::now().date_naive(),
        };
        self.with_replica(|r, _| unit_progress(r.doc(), today))
    }

    pub fn confirmations(&self) -> ClientResult<Vec<ConfirmationView>> {
        self.with_replica(|r, _| {
            r.doc()
                .confirmations()
                .into_iter()
                .map(|(id, c, states)| ConfirmationView {
                    id: id.to_string(),
                    carrier: c.carrier.clone(),
                    hotline: c.hotline.clone(),
                    free_from: c
                        .free_from
                        .date()
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    attested_by: c.attested_by.clone(),
                    state: match states.as_slice() {
                        [ConfirmationState::Confirmed] => "confirmed",
                        [ConfirmationState::Withdrawn] => "withdrawn",
                        _ => "conflict",
                    }
                    .to_string(),
                })
                .collect()
        })
    }

    pub fn reports(&self) -> ClientResult<Vec<ReportView>> {
        self.with_replica(|r, _| {
            r.doc()
                .reports()
                .into_iter()
                .map(|(id, rep)| ReportView {
                    id: id.to_string(),
                    period: rep.period.clone(),
                    text: rep.text.clone(),
                    figures: rep
                        .figures
                        .iter()
                        .map(|f| (f.name.clone(), f.value))
                        .collect(),
                    at: rep.at,
                })
                .collect()
        })
    }

    /// Operations made here that the server has not acknowledged yet.
    pub fn unsynced(&self) -> u64 {
        let inner = self.lock();
        match (&inner.replica, &inner.session) {
            (Some(r), Some(s)) => r.unacknowledged(s.actor) as u64,
            _ => 0,
        }
    }

    /// The document's canonical state, encoded: two replicas that have seen the same
    /// operations hold the same bytes.
    pub fn state_fingerprint(&self) -> ClientResult<Vec<u8>> {
        self.with_replica(|r, _| {
            let bytes = postcard::to_stdvec(&r.doc().to_canonical()).unwrap_or_default();
            use sha2::Digest;
            sha2::Sha256::digest(bytes).to_vec()
        })
    }

    /// Push what this device has and pull what it lacks, in one round trip; network failures
    /// are retried with back-off. On failure every edit stays queued for the next sync.
    ///
    /// The first retry goes at once: the usual first failure is a kept-alive connection that
    /// the server or a NAT closed while the phone was idle (RFC 9112 §9.3.1), and a sync may
    /// be resent safely (the server applies each operation once). Later retries wait the
    /// policy's pause, doubled each time.
    pub fn sync(&self) -> ClientResult<SyncReport> {
        let mut pause = self.backoff;
        let mut last = ClientError::Network("no attempt".into());
        for attempt in 1..=self.retries {
            match self.sync_once() {
                Ok(mut report) => {
                    report.attempts = attempt;
                    self.notify("sync");
                    return Ok(report);
                }
                Err(e @ ClientError::Network(_)) => last = e,
                Err(e) => return Err(e),
            }
            if attempt > 1 && attempt < self.retries {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
            }
        }
        Err(last)
    }

    fn sync_once(&self) -> ClientResult<SyncReport> {
        let mut inner = self.lock();
        let session = inner
            .session
            .clone()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let transport = inner
            .transport
            .clone()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let key = inner
            .key
            .clone()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let Inner {
            store,
            replica,
            saved,
            ..
        } = &mut *inner;
        let replica = replica
            .as_mut()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        if let Some(change) = replica.seal(session.actor, &key) {
            seal_change(store.as_mut(), replica.key(), &change, saved)?;
        }
        let acked_before = replica.remote_version().get(&session.actor);
        let body = wire::encode_request(&replica.request());
        let reply = transport
            .post_sync(&session.token, session.actor, body)
            .map_err(|e| ClientError::Network(e.0))?;
        if reply.status == 409 {
            let json = reply.json();
            if json["error"] == "gap" {
                // The server has less of ours than we thought: resend from there next time.
                let have = json["missing"]["have"].as_u64().unwrap_or(0);
                replica.rewind_remote(session.actor, have);
                return Err(ClientError::Network(
                    "the server asked for operations again; retrying".into(),
                ));
            }
        }
        if reply.status != 200 {
            return Err(error::from_reply(reply.status, &reply.json()));
        }
        let response = wire::decode_response(&reply.body)
            .map_err(|e| ClientError::Network(format!("a damaged answer: {e}")))?;
        // The changes it brings go to the store's tail (those this replica lacked, in order).
        let (outcome, received) = replica.receive_keeping(response)?;
        replica.prune_acknowledged();
        save_after_sync(
            store.as_mut(),
            replica,
            session.actor,
            received.as_deref(),
            saved,
        )?;
        Ok(SyncReport {
            pushed: replica
                .remote_version()
                .get(&session.actor)
                .saturating_sub(acked_before),
            pulled: outcome.pulled as u64,
            conflicts: u32::try_from(replica.doc().conflict_count()).unwrap_or(u32::MAX),
            attempts: 1,
            snapshot: outcome.snapshot,
        })
    }

    /// Forget the session (the device key and the queued edits stay).
    pub fn logout(&self) -> ClientResult<()> {
        let mut inner = self.lock();
        inner.store.set_meta("token", b"")?;
        inner.session = None;
        Ok(())
    }

    /// The directive the document belongs to (its slug).
    pub fn directive(&self) -> Option<String> {
        self.lock().session.as_ref().map(|s| s.directive.clone())
    }

    /// Who is signed in.
    pub fn username(&self) -> Option<String> {
        self.lock().session.as_ref().map(|s| s.username.clone())
    }
}

fn field_text(f: &TaskField) -> String {
    match f {
        TaskField::Status(s) => s.as_str().to_string(),
        TaskField::Progress(p) => p.to_string(),
        TaskField::Assignee(s) | TaskField::Notes(s) | TaskField::Title(s) => s.clone(),
        TaskField::Due(d) => d
            .and_then(Day::date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        TaskField::Removed(b) => b.to_string(),
    }
}

fn parse_date(s: &str) -> ClientResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ClientError::InvalidInput(format!("{s:?} is not a date (YYYY-MM-DD)")))
}

fn parse_sha256(s: &str) -> ClientResult<[u8; 32]> {
    let bad = || ClientError::InvalidInput("sha256 is 64 hexadecimal digits".into());
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
