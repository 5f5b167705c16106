//! The object a phone app holds: sign-in and device registration, the unit's tasks with their
//! clause text, edits that are durable before they return, conflicts, offline compliance
//! figures, and `sync()` — one round trip, retried with back-off, losing nothing on failure.
//! The unit's documents of every directive it has tasks in are held; one of them, the active
//! directive (`directives`), is the one tasks, edits and views act on; `sync()` takes them all
//! in one round trip.
//!
//! Laid out by job: `session` (sign-in, device registration, key), `edits`, `views` (tasks,
//! conflicts, progress, confirmations, reports), `sync` (round trip and retries), `directives`
//! (the directives followed and the active one), `parse`
//! (text to values), `error`, `transport` (the HTTP link). This file holds the `Client`
//! itself: its state, construction, and change observers.

mod directives;
mod edits;
mod error;
mod parse;
mod session;
mod sync;
mod transport;
mod views;

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

pub use directives::DirectiveView;
use ed25519_dalek::SigningKey;
pub use error::ClientError;
pub use sync::SyncReport;
pub use transport::{HttpTransport, Reply, Transport, TransportError, WireBytes};
pub use views::{ConfirmationView, ConflictView, DueView, NoticeView, ReportView, TaskView};

use crate::{
    doc::ActorId,
    store::{MemoryStore, Saved, SqliteStore, Store},
    sync::{DocKey, Replica, signing_key},
};

pub type ClientResult<T> = Result<T, ClientError>;

/// Told when the local data changed, so a screen can refresh.
pub trait ChangeObserver: Send + Sync {
    /// `what`: "edit", "sync", "login" or "directive" (another directive made active).
    fn changed(&self, what: &str);
}

/// Makes the transport to a server URL.
pub type TransportFactory = Box<dyn Fn(&str) -> Arc<dyn Transport> + Send + Sync>;

#[derive(Debug, Clone)]
struct Session {
    token: String,
    username: String,
    /// The active document's actor: the store's device, or the document's own identity.
    actor: ActorId,
    /// The store's device (its actor for every document without an identity of its own).
    device: ActorId,
    unit: String,
    /// The active directive: the document edits and views act on.
    directive: String,
    /// The account acts as the Ministry Office (its role is `ministry_office` or `admin`):
    /// it makes reviews, deadlines, urges and comments, not the unit's edits (decision 39).
    office: bool,
    /// The account is a member of the session's unit.
    member: bool,
}

impl Session {
    /// Whether this session may make `op` (the server checks it again, per operation).
    fn may_make(&self, op: &crate::doc::Op) -> bool {
        use crate::doc::Author;
        (self.member && op.permitted(Author::Unit)) || (self.office && op.permitted(Author::Office))
    }
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
    /// The unit's documents of the other directives it follows (the active one is above).
    parked: BTreeMap<String, Parked>,
    /// What each followed directive's text says of itself (for `directives()`).
    about: BTreeMap<String, directives::About>,
    /// The server has no batch route (an older one): documents are synced one at a time.
    single_only: bool,
}

/// One held document, active or parked, with the store: what a sync works on.
struct Slot<'a> {
    store: &'a mut dyn Store,
    replica: &'a mut Replica,
    saved: &'a mut Saved,
    actor: ActorId,
    key: SigningKey,
}

impl Inner {
    /// The document of `directive` this client holds, active or parked.
    fn slot(&mut self, directive: &str) -> Option<Slot<'_>> {
        let Inner {
            store,
            replica,
            saved,
            key,
            session,
            parked,
            ..
        } = self;
        let active = session.as_ref()?;
        if active.directive == directive {
            let replica = replica
                .as_mut()
                .filter(|r| r.key().directive == directive)?;
            Some(Slot {
                store: store.as_mut(),
                replica,
                saved,
                actor: active.actor,
                key: key.clone()?,
            })
        } else {
            let p = parked.get_mut(directive)?;
            Some(Slot {
                store: store.as_mut(),
                replica: &mut p.replica,
                saved: &mut p.saved,
                actor: p.actor,
                key: p.key.clone(),
            })
        }
    }

    /// The replica of `directive` this client holds, active or parked, and its actor.
    fn held(&self, directive: &str) -> Option<(&Replica, ActorId)> {
        let session = self.session.as_ref()?;
        match self.replica.as_ref() {
            Some(r) if session.directive == directive && r.key().directive == directive => {
                Some((r, session.actor))
            }
            _ => self.parked.get(directive).map(|p| (&p.replica, p.actor)),
        }
    }
}

/// A followed directive's document while another is active.
struct Parked {
    replica: Replica,
    saved: Saved,
    clauses: BTreeMap<String, (Option<String>, String)>,
    /// Its actor and key: the store's device, or the document's own identity.
    actor: ActorId,
    key: SigningKey,
}

/// The phone's client. Cheap to share (`Arc`); every method is safe from any thread.
pub struct Client {
    inner: Mutex<Inner>,
    /// Held for the whole of a `sync()` (one at a time), unlike `inner`.
    syncing: Mutex<()>,
    /// How long the server last asked to be left alone (`Retry-After` of a 503).
    retry_after: Mutex<Option<Duration>>,
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

/// The meta key of a document's own device identity.
fn identity_key(doc: &DocKey) -> String {
    format!("identity/{}/{}", doc.directive, doc.unit)
}

/// A document's own device identity (its actor and key), when a recovery gave it one: a
/// restored store re-used sequence numbers in that document only, so the store's device
/// stays what it is for its other documents (sequence numbers are counted per document).
fn doc_identity(store: &dyn Store, doc: &DocKey) -> ClientResult<Option<(ActorId, SigningKey)>> {
    let Some(value) = store.get_meta(&identity_key(doc))? else {
        return Ok(None);
    };
    let damaged = || ClientError::Storage("a document's device identity is damaged".into());
    let (actor, secret) = value.split_at_checked(4).ok_or_else(damaged)?;
    let actor: [u8; 4] = actor.try_into().map_err(|_| damaged())?;
    let secret: [u8; 32] = secret.try_into().map_err(|_| damaged())?;
    Ok(Some((ActorId::from_be_bytes(actor), signing_key(&secret))))
}

/// [`doc_identity`]'s stored form.
fn identity_value(actor: ActorId, secret: &[u8; 32]) -> Vec<u8> {
    let mut v = actor.to_be_bytes().to_vec();
    v.extend_from_slice(secret);
    v
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
            parked: BTreeMap::new(),
            about: BTreeMap::new(),
            single_only: false,
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
            let device = actor;
            let device_key = inner.key.clone();
            directives::upgrade(inner.store.as_mut(), directive, json.as_deref())?;
            let followed = directives::followed(inner.store.as_ref(), directive)?;
            for d in &followed {
                let json = directives::stored_json(inner.store.as_ref(), d)?;
                directives::open_document(&mut inner, unit, d, device, device_key.as_ref(), json)?;
            }
            let active = if followed.contains(directive) {
                directive.clone()
            } else {
                followed
                    .first()
                    .cloned()
                    .unwrap_or_else(|| directive.clone())
            };
            let actor = directives::unpark(&mut inner, &active).unwrap_or(device);
            // Stores from before decision 39 hold no role: a member's session.
            let role = text(inner.store.as_ref(), "role")?;
            let (office, member) = session::role_flags(role.as_deref());
            inner.session = Some(Session {
                token: token.clone(),
                username: username.clone(),
                actor,
                device,
                unit: unit.clone(),
                directive: active,
                office,
                member,
            });
        }
        Ok(Self {
            inner: Mutex::new(inner),
            syncing: Mutex::new(()),
            retry_after: Mutex::new(None),
            observers: Mutex::new(Vec::new()),
            make_transport,
            retries: 4,
            backoff: Duration::from_millis(200),
        })
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
}
