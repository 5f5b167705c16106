//! The object a phone app holds: sign-in and device registration, the unit's tasks with their
//! clause text, edits that are durable before they return, conflicts, offline compliance
//! figures, and `sync()` — one round trip, retried with back-off, losing nothing on failure.
//!
//! Laid out by job: `session` (sign-in, device registration, key), `edits`, `views` (tasks,
//! conflicts, progress, confirmations, reports), `sync` (round trip and retries), `parse`
//! (text to values), `error`, `transport` (the HTTP link). This file holds the `Client`
//! itself: its state, construction, and change observers.

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

use ed25519_dalek::SigningKey;
pub use error::ClientError;
use parse::clause_index;
pub use sync::SyncReport;
pub use transport::{HttpTransport, Reply, Transport, TransportError};
pub use views::{ConfirmationView, ConflictView, DueView, NoticeView, ReportView, TaskView};

use crate::{
    doc::ActorId,
    store::{MemoryStore, Saved, SqliteStore, Store, load_replica},
    sync::{DocKey, Replica, signing_key},
};

pub type ClientResult<T> = Result<T, ClientError>;

/// Told when the local data changed, so a screen can refresh.
pub trait ChangeObserver: Send + Sync {
    /// `what`: "edit", "sync" or "login".
    fn changed(&self, what: &str);
}

/// Makes the transport to a server URL.
pub type TransportFactory = Box<dyn Fn(&str) -> Arc<dyn Transport> + Send + Sync>;

#[derive(Debug, Clone)]
struct Session {
    token: String,
    username: String,
    actor: ActorId,
    unit: String,
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
            let actor = match doc_identity(inner.store.as_ref(), &key)? {
                Some((own, signing)) => {
                    inner.key = Some(signing);
                    own
                }
                None => actor,
            };
            if let Some((replica, saved)) = load_replica(inner.store.as_ref(), &key, actor)? {
                inner.replica = Some(replica);
                inner.saved = saved;
            }
            if let Some(json) = json {
                inner.clauses = clause_index(&serde_json::from_str(json).unwrap_or_default());
            }
            // Stores from before decision 39 hold no role: a member's session.
            let role = text(inner.store.as_ref(), "role")?;
            let (office, member) = session::role_flags(role.as_deref());
            inner.session = Some(Session {
                token: token.clone(),
                username: username.clone(),
                actor,
                unit: unit.clone(),
                directive: directive.clone(),
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
