//! What every request handler shares: the database, the configuration, the catalogue, the
//! per-document write locks and decoded documents, the sync writer, the login limiter, the
//! token and device cache and the metrics.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sea_orm::{DatabaseBackend, DatabaseConnection};
use taskforce_core::{directive::Catalogue, sync::DocKey};

use crate::{
    auth::{AuthCache, LoginLimiter},
    config::Config,
    docstore::DocCache,
    metrics::Metrics,
    writer::GroupWriter,
};

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub catalogue: Arc<Catalogue>,
    pub locks: Arc<DocLocks>,
    /// Decoded documents kept between syncs.
    pub docs: Arc<DocCache>,
    pub limiter: Arc<LoginLimiter>,
    /// Recently checked tokens and device keys.
    pub auth: Arc<AuthCache>,
    pub metrics: Arc<Metrics>,
    /// When this process last recorded the progress history (Unix seconds).
    pub history_recorded: Arc<std::sync::atomic::AtomicI64>,
    /// The task that writes syncs in groups (`writer`); none only in that task's own copy.
    pub writer: Option<GroupWriter>,
}

impl AppState {
    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }
}

/// Writes to one document serialise in this process here when they do not go through the
/// writer task (`writer::write` on a state without one), and across processes on its row
/// (`SELECT … FOR UPDATE` on PostgreSQL). SQLite allows one writer at a time anyway, so there
/// all documents share one lock and transactions never meet a busy database.
#[derive(Debug, Default)]
pub struct DocLocks {
    sqlite: bool,
    global: Arc<tokio::sync::Mutex<()>>,
    per_doc: Mutex<HashMap<DocKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl DocLocks {
    pub fn new(backend: DatabaseBackend) -> Self {
        Self {
            sqlite: backend == DatabaseBackend::Sqlite,
            ..Self::default()
        }
    }

    pub fn get(&self, key: &DocKey) -> Arc<tokio::sync::Mutex<()>> {
        if self.sqlite {
            return self.global.clone();
        }
        let mut map = self
            .per_doc
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(key.clone()).or_default().clone()
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
