//! Backups of the embedded SQLite database, taken while the server runs, and their restore.
//!
//! A backup is `VACUUM INTO` a hidden file beside the destination: one consistent snapshot
//! in a single read transaction, so phones keep syncing while it is written (SQLite's WAL lets
//! the writer go on beside a reader). The copy is then checked as a restore would check it —
//! `PRAGMA integrity_check`, the migrations of this binary or older, the tables counted — made
//! durable (the file, then its directory) and linked into place under its name, which never
//! replaces a file already there. A backup that fails leaves nothing behind but its message.
//!
//! A restore checks the backup the same way, copies it beside the target and checks the copy,
//! then moves it into place; a target already there is refused unless `--replace`, which keeps
//! it (and its `-wal`/`-shm` files) under a `.before-restore-STAMP` name instead of deleting it.
//!
//! PostgreSQL has its own tools for this (`pg_dump -Fc`, `pg_restore`); both are refused here
//! with a message naming them (docs/operations.md).

use std::{
    fs::File,
    path::{Path, PathBuf},
    str::FromStr,
};

use crate::config::sqlite_file;
use sea_orm::sqlx::{
    self, Row,
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
};

/// What a checked SQLite file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub path: PathBuf,
    pub bytes: u64,
    /// Unit documents.
    pub documents: i64,
    /// Rows of the op log.
    pub changes: i64,
    /// Migrations run.
    pub migrations: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "{0} is a PostgreSQL database: back it up with `pg_dump -Fc -f FILE URL` and restore it into a new, empty database with `pg_restore --no-owner -d URL FILE` (docs/operations.md) / cơ sở dữ liệu PostgreSQL: sao lưu bằng pg_dump, khôi phục bằng pg_restore"
    )]
    Postgres(String),
    #[error(
        "{0} is not an SQLite file database (sqlite://PATH) / không phải tệp cơ sở dữ liệu SQLite"
    )]
    NotSqliteFile(String),
    #[error(
        "{0} already exists: a backup never overwrites a file, choose another name / tệp đã có, sao lưu không ghi đè"
    )]
    BackupExists(PathBuf),
    #[error(
        "{0} already exists: stop the server, then restore with --replace (the current database is kept beside it as .before-restore-…) / cơ sở dữ liệu đã có: dừng máy chủ rồi dùng --replace"
    )]
    TargetExists(PathBuf),
    #[error("{0} does not exist / không có tệp này")]
    Missing(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite { path: PathBuf, source: sqlx::Error },
    #[error("{path} is not a sound taskforce database: {why} / tệp không phải bản sao lưu hợp lệ")]
    Unsound { path: PathBuf, why: String },
    #[error(
        "{0} is in use by a running taskforce server: stop it first (systemctl stop taskforce) / máy chủ đang chạy trên cơ sở dữ liệu này: hãy dừng máy chủ trước"
    )]
    InUse(PathBuf),
    #[error(
        "{path} was written by a newer taskforce (migrations {steps} unknown to this binary): restore it with that version / bản sao lưu của phiên bản mới hơn"
    )]
    Newer { path: PathBuf, steps: String },
}

type Result<T> = std::result::Result<T, BackupError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sqlite(path: &Path) -> impl FnOnce(sqlx::Error) -> BackupError + '_ {
    move |source| BackupError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn source_file(url: &str) -> Result<&Path> {
    if is_postgres(url) {
        return Err(BackupError::Postgres(super::redact(url)));
    }
    sqlite_file(url).ok_or_else(|| BackupError::NotSqliteFile(super::redact(url)))
}

/// A one-connection pool on `path`, read-only unless `write`; never creates the file.
async fn open(path: &Path, write: bool) -> Result<sqlx::SqlitePool> {
    let opts = SqliteConnectOptions::from_str("sqlite://")
        .map_err(sqlite(path))?
        .filename(path)
        .read_only(!write)
        .create_if_missing(false);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .map_err(sqlite(path))
}

/// A hidden name beside `dest` for the file being written, this process's own.
fn partial(dest: &Path, what: &str) -> PathBuf {
    let name = dest.file_name().map_or_else(
        || "taskforce.db".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    dest.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flush `path` to the disk, then its directory's entry for it.
fn durable(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))?;
    sync_dir(parent(path))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// The lock file beside an SQLite database: every server process on it holds it shared
/// ([`hold_shared`]); a restore takes it alone, so it never swaps the file under a server.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(db: &Path) -> Result<File> {
    let path = lock_path(db);
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io(&path))
}

/// A server's hold on its SQLite database (none for PostgreSQL or in memory), kept as long
/// as the server runs; a restore under way makes the start fail, named.
pub fn hold_shared(url: &str) -> Result<Option<File>> {
    let Some(db) = sqlite_file(url) else {
        return Ok(None);
    };
    let lock = match open_lock(db) {
        Ok(lock) => lock,
        // A directory the server may not write (a read-only file system, a read-only copy):
        // no lock to hold; SQLite names what it cannot do with the database itself.
        Err(BackupError::Io { path, source })
            if matches!(
                source.kind(),
                std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            tracing::warn!(path = %path.display(), error = %source, "cannot hold the database's lock: a restore could not tell that this server runs");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    match lock.try_lock_shared() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Err(BackupError::InUse(db.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(BackupError::Io {
            path: lock_path(db),
            source: e,
        }),
    }
}

/// A new file only this user may read (a copy holds password hashes and every unit's data),
/// refused if anything is at `path` already (left there, or put there by someone else).
fn create_private(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))
}

/// That `path` is still the file `file` was opened as (not replaced while it was written).
fn same_file(file: &File, path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mine = file.metadata().map_err(io(path))?;
    let now = std::fs::symlink_metadata(path).map_err(io(path))?;
    if now.file_type().is_file() && (mine.dev(), mine.ino()) == (now.dev(), now.ino()) {
        Ok(())
    } else {
        Err(BackupError::Unsound {
            path: path.to_path_buf(),
            why: "the file was replaced while it was written / tệp bị thay thế khi đang ghi".into(),
        })
    }
}

/// Removes a partial file unless it was put in place.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Check an SQLite file as a restore needs it: SQLite's own integrity check, migrations this
/// binary knows (an older database is fine: the server migrates it on start), the tables read.
pub async fn check(path: &Path) -> Result<Summary> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BackupError::Missing(path.to_path_buf()),
        _ => BackupError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    let unsound = |why: String| BackupError::Unsound {
        path: path.to_path_buf(),
        why,
    };
    let pool = open(path, false).await?;
    let result = async {
        let rows = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&pool)
            .await
            .map_err(|e| unsound(e.to_string()))?;
        let findings: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect();
        if findings != ["ok"] {
            return Err(unsound(findings.join("; ")));
        }
        let db = sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool.clone());
        let steps = super::migrations(&db)
            .await
            .map_err(|e| unsound(format!("no migrations table ({e})")))?;
        if !steps.unknown.is_empty() {
            return Err(BackupError::Newer {
                path: path.to_path_buf(),
                steps: steps.unknown.join(", "),
            });
        }
        // Its triggers and views must be those its migrations make: a file crafted to pass
        // the checks above could carry a trigger that, say, makes an account an admin at the
        // server's next write.
        let count = |table: &'static str, sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query(sql)
                    .fetch_one(&pool)
                    .await
                    .and_then(|r| r.try_get::<i64, _>(0))
                    .map_err(|e| format!("{table}: {e}"))
            }
        };
        let migrations = count("seaql_migrations", "SELECT COUNT(*) FROM seaql_migrations")
            .await
            .map_err(unsound)?;
        let applied = u32::try_from(migrations).unwrap_or(u32::MAX);
        let theirs = schema_objects(&pool)
            .await
            .map_err(|e| unsound(e.to_string()))?;
        let expected = expected_objects(applied)
            .await
            .map_err(|e| unsound(format!("the expected schema: {e}")))?;
        if theirs != expected {
            let odd: Vec<String> = theirs
                .symmetric_difference(&expected)
                .map(|(kind, name, _)| format!("{kind} {name}"))
                .collect();
            return Err(unsound(format!(
                "its triggers and views are not those of its migrations: {}",
                odd.join(", ")
            )));
        }
        Ok(Summary {
            path: path.to_path_buf(),
            bytes: meta.len(),
            documents: count("documents", "SELECT COUNT(*) FROM documents")
                .await
                .map_err(unsound)?,
            changes: count("changes", "SELECT COUNT(*) FROM changes")
                .await
                .map_err(unsound)?,
            migrations,
        })
    }
    .await;
    pool.close().await;
    result
}

type Objects = std::collections::BTreeSet<(String, String, String)>;

/// The triggers and views of a database, and what their SQL says.
async fn schema_objects(pool: &sqlx::SqlitePool) -> std::result::Result<Objects, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT type, name, COALESCE(sql, '') FROM sqlite_schema \
         WHERE type IN ('trigger', 'view') ORDER BY type, name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// The triggers and views this binary's first `steps` migrations make, in a database of
/// their own in memory.
async fn expected_objects(steps: u32) -> anyhow::Result<Objects> {
    use taskforce_migrations::{Migrator, MigratorTrait};
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?)
        .await?;
    let db = sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool.clone());
    Migrator::up(&db, Some(steps)).await?;
    let objects = schema_objects(&pool).await?;
    pool.close().await;
    Ok(objects)
}

/// Write a consistent copy of the SQLite database `url` to `dest`, which must not exist;
/// safe while servers write to it.
pub async fn backup(url: &str, dest: &Path) -> Result<Summary> {
    let source = source_file(url)?;
    if !source.exists() {
        return Err(BackupError::Missing(source.to_path_buf()));
    }
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::BackupExists(dest.to_path_buf()));
    }
    let tmp = partial(dest, "partial");
    let made = create_private(&tmp)?;
    let guard = Partial(Some(tmp.clone()));
    let target = tmp.to_str().ok_or_else(|| BackupError::Io {
        path: tmp.clone(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path is not UTF-8 / đường dẫn không phải UTF-8",
        ),
    })?;
    let pool = open(source, false).await?;
    let vacuum = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&pool)
        .await;
    pool.close().await;
    vacuum.map_err(sqlite(source))?;
    same_file(&made, &tmp)?;
    let mut summary = check(&tmp).await?;
    durable(&tmp)?;
    same_file(&made, &tmp)?;
    // A link fails when `dest` exists (made since the check above): never overwritten.
    std::fs::hard_link(&tmp, dest).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::BackupExists(dest.to_path_buf()),
        _ => BackupError::Io {
            path: dest.to_path_buf(),
            source: e,
        },
    })?;
    drop(guard);
    sync_dir(parent(dest))?;
    summary.path = dest.to_path_buf();
    Ok(summary)
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub summary: Summary,
    /// Where the replaced database (and its `-wal`/`-shm`) now are.
    pub kept: Vec<PathBuf>,
}

/// Put the backup `from` in place as the SQLite database `url`. The server must be stopped;
/// an existing database is refused unless `replace`, which keeps it under another name.
pub async fn restore(from: &Path, url: &str, replace: bool) -> Result<Restored> {
    let target = source_file(url)?;
    check(from).await?;
    let dir = parent(target);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Held alone until the restored file is in place: no server runs on it meanwhile.
    let lock = open_lock(target)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(BackupError::InUse(target.to_path_buf()));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(BackupError::Io {
                path: lock_path(target),
                source: e,
            });
        }
    }
    let companions = |p: &Path| {
        ["", "-wal", "-shm"].map(|suffix| {
            let mut name = p.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
    };
    let existing: Vec<PathBuf> = companions(target)
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    if !existing.is_empty() && !replace {
        return Err(BackupError::TargetExists(target.to_path_buf()));
    }
    let tmp = partial(target, "restoring");
    let mut made = create_private(&tmp)?;
    let guard = Partial(Some(tmp.clone()));
    let mut source = File::open(from).map_err(io(from))?;
    std::io::copy(&mut source, &mut made).map_err(io(&tmp))?;
    // The replaced database's owner and mode (a restore run as root must leave a file the
    // service's user can open).
    if let Some(old) = existing.first().and_then(|p| std::fs::metadata(p).ok()) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let _ = std::os::unix::fs::chown(&tmp, Some(old.uid()), Some(old.gid()));
        let _ =
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(old.mode() & 0o7777));
    }
    durable(&tmp)?;
    same_file(&made, &tmp)?;
    let mut summary = check(&tmp).await?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut kept = Vec::new();
    for old in &existing {
        let mut name = old.as_os_str().to_owned();
        name.push(format!(".before-restore-{stamp}"));
        let aside = PathBuf::from(name);
        std::fs::rename(old, &aside).map_err(io(old))?;
        kept.push(aside);
    }
    std::fs::rename(&tmp, target).map_err(io(target))?;
    drop(guard);
    sync_dir(parent(target))?;
    drop(lock);
    summary.path = target.to_path_buf();
    Ok(Restored { summary, kept })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_of_a_url() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/taskforce/taskforce.db?mode=rwc"),
            Some(Path::new("/var/lib/taskforce/taskforce.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:taskforce.db"),
            Some(Path::new("taskforce.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn postgres_is_refused_with_its_own_tools_named() {
        let e = source_file("postgres://tf:secret@db/taskforce").err();
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("pg_dump") && text.contains("pg_restore"),
            "{text}"
        );
        assert!(
            !text.contains("secret"),
            "the password is not printed: {text}"
        );
    }

    #[test]
    fn partial_files_are_hidden_beside_the_destination() {
        let p = partial(Path::new("/srv/backups/tf.db"), "partial");
        assert_eq!(p.parent(), Some(Path::new("/srv/backups")));
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(name.is_some_and(|n| n.starts_with(".tf.db.partial-")));
    }
}
