//! What every request handler shares: the database, the configuration, the catalogue, the
//! decoded documents, the sync writer, the login limiter, the
//! token and device cache and the metrics.

use std::sync::Arc;

use sea_orm::{DatabaseBackend, DatabaseConnection};
use taskforce_core::directive::Catalogue;

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

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
