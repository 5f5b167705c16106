//! Storage: the connection (SQLite or PostgreSQL) and its migrations, the sea-orm entities
//! (one file per table), multi-row inserts, and the first start's seed.

pub mod backup;
pub mod chunked;
pub mod entity;
pub mod seed;

use anyhow::Context;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
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
        // A connection handed back still inside a transaction is closed, not pooled: when a
        // COMMIT fails (SQLITE_FULL), SQLite has ended the transaction but sqlx still counts
        // it open and its ROLLBACK fails too; pooled again, the next `begin` would be a mere
        // SAVEPOINT inside a transaction that never commits, and the writer would answer 200
        // for syncs it never stored (server/tests/storage_faults.rs).
        opts.map_sqlx_sqlite_pool_opts(|p| {
            p.after_release(|conn, _| {
                Box::pin(async move {
                    use sea_orm::sqlx::Connection;
                    Ok(!conn.is_in_transaction())
                })
            })
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

/// The value of setting `name` every replica shares: the one stored, or `value` stored now if
/// no replica has stored one yet (the first insert wins; everyone reads what was stored).
pub async fn shared_setting(
    db: &impl sea_orm::ConnectionTrait,
    name: &str,
    value: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, sea_orm::DbErr> {
    use entity::settings;
    use sea_orm::{EntityTrait, Set, sea_query::OnConflict};
    if let Some(row) = settings::Entity::find_by_id(name).one(db).await? {
        return Ok(row.value);
    }
    let row = settings::ActiveModel {
        name: Set(name.to_string()),
        value: Set(value()),
    };
    match settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(settings::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
    {
        Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e),
    }
    settings::Entity::find_by_id(name)
        .one(db)
        .await?
        .map(|r| r.value)
        .ok_or(sea_orm::DbErr::RecordNotFound(name.into()))
}

/// A transaction that writes. On SQLite it is IMMEDIATE: the write lock is taken at BEGIN
/// (waiting out the busy timeout), not when the first write upgrades a read — which fails at
/// once with "database is locked" while another connection writes. PostgreSQL ignores it.
pub async fn begin_write<C: sea_orm::TransactionTrait>(
    db: &C,
) -> Result<C::Transaction, sea_orm::DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..sea_orm::TransactionOptions::default()
    })
    .await
}

/// Open an existing database to read it, without migrating (`taskforce audit verify`): no
/// journal mode or other setting is written, so a read-only copy opens (SQLite
/// `?mode=ro`, or `?immutable=1` for a copy on read-only media), and a database with
/// migrations not yet run is refused rather than changed.
pub async fn connect_existing(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false)
        .max_connections(2)
        .min_connections(1);
    let db = Database::connect(opts)
        .await
        .with_context(|| format!("cannot open the database {}", redact(url)))?;
    let Migrations { pending, .. } = migrations(&db).await.with_context(|| {
        format!(
            "{} has no migrations table: not a taskforce database",
            redact(url)
        )
    })?;
    if !pending.is_empty() {
        anyhow::bail!(
            "{} has migrations not yet run ({}): run `taskforce migrate` on a copy, then check the copy / cơ sở dữ liệu còn bước chuyển đổi chưa chạy: chạy `taskforce migrate` trên một bản sao rồi kiểm tra bản sao",
            redact(url),
            pending.join(", ")
        );
    }
    Ok(db)
}

/// How a database's migrations stand against this binary's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrations {
    /// This binary's steps the database has not run.
    pub pending: Vec<String>,
    /// Steps the database has run that this binary does not know: a newer binary migrated it.
    pub unknown: Vec<String>,
}

/// Read `seaql_migrations` and compare it with this binary's steps (`/readyz`, and the
/// read-only open above).
pub async fn migrations(db: &impl ConnectionTrait) -> Result<Migrations, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await?;
    let applied: std::collections::BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "version").ok())
        .collect();
    let known: std::collections::BTreeSet<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok(Migrations {
        pending: known.difference(&applied).cloned().collect(),
        unknown: applied.difference(&known).cloned().collect(),
    })
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
