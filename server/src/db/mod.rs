//! Storage: the connection (SQLite or PostgreSQL) and its migrations, the sea-orm entities
//! (one file per table), multi-row inserts, and the first start's seed.

pub mod chunked;
pub mod entity;
pub mod seed;

use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use taskforce_migrations::{Migrator, MigratorTrait};

pub use chunked::insert_chunked;

/// Connect and run the migrations. SQLite: WAL, and `synchronous=FULL` on every connection of
/// the pool — a sync the server acknowledged must survive a power cut, since the phone then
/// forgets the operations it sent.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        opts.max_connections(8).min_connections(1);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(16).min_connections(1);
    }
    let db = Database::connect(opts)
        .await
        .with_context(|| format!("cannot open the database {}", redact(url)))?;
    Migrator::up(&db, None)
        .await
        .context("running the migrations")?;
    Ok(db)
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
