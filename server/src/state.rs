//! What every request handler shares: the database, the configuration, the catalogue, the
//! decoded documents, the sync writer, the login limiter, the token and device cache and the
//! metrics.

use std::sync::{Arc, atomic::AtomicI64};

use sea_orm::{DatabaseBackend, DatabaseConnection};
use taskforce_core::directive::Catalogue;

use crate::{
    audit::AuditKey,
    auth::{AuthCache, LoginLimiter, LoginLimits},
    config::{Config, mail::MailSettings},
    docstore::DocCache,
    events::Events,
    sync::{GroupWriter, WriteContext},
    telemetry::metrics::Metrics,
};

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub catalogue: Arc<Catalogue>,
    /// Decoded documents kept between syncs.
    pub docs: Arc<DocCache>,
    pub limiter: Arc<LoginLimiter>,
    /// Recently checked tokens and device keys.
    pub auth: Arc<AuthCache>,
    pub metrics: Arc<Metrics>,
    /// When this process last recorded the progress history (Unix seconds).
    pub history_recorded: Arc<AtomicI64>,
    /// The task that writes syncs in groups.
    pub writer: GroupWriter,
    /// Live updates: which documents changed, for the open event streams.
    pub events: Arc<Events>,
    /// This process's shared hold on its SQLite file (`db::backup::hold_shared`): a restore
    /// refuses to swap the file under it.
    pub db_lock: Arc<Option<std::fs::File>>,
    /// The key that seals the op log (read from outside the database at start).
    pub audit_key: Arc<AuditKey>,
    /// The mail settings, checked (`startup::build_state` sets them; off until then).
    pub mail: Arc<MailSettings>,
    /// Wakes the mail scheduler at once (an urge made: its mail goes out now).
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// The mail loop's thread, once started (`mail::spawn`), for `serve` to wait for.
    pub mail_thread: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// Set when the server stops: the mail loop ends after its round.
    pub mail_stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// The state of a server on `db`, sealing with `audit_key`: its writer task starts on the
    /// current runtime.
    pub fn new(
        db: DatabaseConnection,
        config: Config,
        catalogue: Catalogue,
        audit_key: Arc<AuditKey>,
    ) -> Self {
        let docs = Arc::new(DocCache::new(
            config.doc_cache_entries,
            config.doc_cache_mb.saturating_mul(1 << 20),
            config.doc_whole_kb.saturating_mul(1 << 10),
        ));
        let metrics = Arc::new(Metrics::default());
        let history_recorded = Arc::new(AtomicI64::new(0));
        let events = Arc::new(Events::new(
            config.live_streams,
            config.live_streams_per_user,
        ));
        let writer = GroupWriter::spawn(
            WriteContext {
                db: db.clone(),
                docs: docs.clone(),
                metrics: metrics.clone(),
                history_recorded: history_recorded.clone(),
                audit_key: audit_key.clone(),
                events: events.clone(),
            },
            config.writer_queue,
        );
        let limiter = Arc::new(LoginLimiter::new(LoginLimits {
            per_address_per_minute: config.login_per_address_per_minute,
            per_address_burst: config.login_per_address_burst,
            ..LoginLimits::default()
        }));
        let bind = config.bind.clone();
        Self {
            db,
            config: Arc::new(config),
            catalogue: Arc::new(catalogue),
            docs,
            limiter,
            auth: Arc::new(AuthCache::default()),
            metrics,
            history_recorded,
            writer,
            audit_key,
            events,
            db_lock: Arc::new(None),
            mail: Arc::new(MailSettings::off(&bind)),
            mail_wake: Arc::new(tokio::sync::Notify::new()),
            mail_thread: Arc::default(),
            mail_stopping: Arc::default(),
        }
    }

    /// What publishing a directive's revision writes with (decision 44).
    pub fn office(&self) -> crate::drafts::Office<'_> {
        crate::drafts::Office {
            writer: &self.writer,
            audit: &self.audit_key,
        }
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// What the sync writer works with (tests write batches directly through it).
    pub fn write_context(&self) -> WriteContext {
        WriteContext {
            db: self.db.clone(),
            docs: self.docs.clone(),
            metrics: self.metrics.clone(),
            history_recorded: self.history_recorded.clone(),
            audit_key: self.audit_key.clone(),
            events: self.events.clone(),
        }
    }
}
