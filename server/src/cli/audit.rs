//! `taskforce audit verify|export`: re-check the op log's hash chains and signatures, from
//! the database or from an export file; write one document's log out as a file anyone can
//! verify without the server.
//!
//! `verify --db` opens the database without migrating it (`db::connect_existing`: a
//! read-only copy verifies, an older database is refused rather than changed) and checks
//! the server's seals with a public key from outside the database: `--server-key`, else the
//! public half of the audit key file (`--audit-key`, `TASKFORCE_AUDIT_KEY`, else the
//! default beside the SQLite file); the output names the key used.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use ed25519_dalek::VerifyingKey;
use taskforce_server::{
    audit::{self, AuditKey, Export, Report},
    config, db,
};

use super::DbArg;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Re-check every document's chain and every signature; exits non-zero on the first bad
    /// entry of any document (reported with its document, position and why).
    Verify {
        /// The database (`sqlite://PATH?mode=rw` or `postgres://…`); default TASKFORCE_DB.
        #[arg(long, env = "TASKFORCE_DB", conflicts_with = "file")]
        db: Option<String>,
        /// An export file (`taskforce audit export`) instead of a database.
        #[arg(long)]
        file: Option<PathBuf>,
        /// An earlier export (repeatable): its document's log must still extend the chain it
        /// saw, which shows entries removed from the end with every claim moved back.
        #[arg(long, conflicts_with = "file")]
        since: Vec<PathBuf>,
        /// The server's trusted public key (64 hex digits, or a file: a public key or the
        /// audit key file). With --file, the file's key must be this one. Default (--db):
        /// the public half of the audit key file.
        #[arg(long)]
        server_key: Option<String>,
        /// The server's audit key file, for its public half when --server-key is not given
        /// [default: taskforce-audit.key beside the SQLite file, or in the working directory].
        #[arg(long, env = "TASKFORCE_AUDIT_KEY")]
        audit_key: Option<PathBuf>,
    },
    /// Write one unit document's log, its chain and the keys of the devices that signed it
    /// to a self-contained JSON file.
    Export {
        #[command(flatten)]
        db: DbArg,
        /// The unit.
        #[arg(long)]
        unit: String,
        /// The directive (needed when the unit has documents in several).
        #[arg(long)]
        directive: Option<String>,
        /// The file to write; standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The server's audit key file, whose public half the export carries [default:
        /// taskforce-audit.key beside the SQLite file, or in the working directory].
        #[arg(long, env = "TASKFORCE_AUDIT_KEY")]
        audit_key: Option<PathBuf>,
    },
}

pub fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify {
            file: Some(f),
            server_key,
            ..
        } => {
            let export = read_export(&f)?;
            let trusted = server_key.as_deref().map(audit::server_key).transpose()?;
            let report = audit::verify_export(&export, trusted.as_ref())?;
            match (&export.server_key, &trusted) {
                (Some(k), Some(_)) => println!(
                    "server key {k} (the file's, which is the trusted one / khóa máy chủ trong tệp, đúng khóa tin cậy)"
                ),
                (Some(k), None) => println!(
                    "server key {k} (the file's own: give --server-key to check it is the server's / khóa trong tệp: dùng --server-key để đối chiếu)"
                ),
                (None, _) => println!(
                    "the file carries no server key: its seals are not checked / tệp không có khóa máy chủ"
                ),
            }
            conclude(&report)
        }
        AuditCommand::Verify {
            db: url,
            file: None,
            since,
            server_key,
            audit_key,
        } => {
            let checkpoints = since
                .iter()
                .map(|f| anyhow::Ok(read_export(f)?.checkpoint()?))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let url = url.unwrap_or_else(|| "sqlite://taskforce.db?mode=rw".into());
            let (key, source) = trusted_key(server_key.as_deref(), audit_key, &url)?;
            println!(
                "server key {} (from {source}) / khóa máy chủ (từ {source})",
                audit::hex(key.as_bytes())
            );
            let report = actix_web::rt::System::new().block_on(async move {
                let db = db::connect_existing(&url).await?;
                anyhow::Ok(audit::verify_db_since(&db, &key, &checkpoints).await?)
            })?;
            conclude(&report)
        }
        AuditCommand::Export {
            db,
            unit,
            directive,
            out,
            audit_key,
        } => {
            let path = audit_key.unwrap_or_else(|| config::default_audit_key(&db.db));
            let key = AuditKey::load(&path)?.public();
            let export = actix_web::rt::System::new().block_on(async move {
                let db = db::connect_existing(&db.db).await?;
                anyhow::Ok(audit::export(&db, &unit, directive.as_deref(), &key).await?)
            })?;
            let json = serde_json::to_string_pretty(&export)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, json + "\n")
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "{}/{}: {} entries written to {}",
                        export.directive,
                        export.unit,
                        export.entries.len(),
                        path.display()
                    );
                }
                None => println!("{json}"),
            }
            Ok(())
        }
    }
}

/// The key seals are checked with, and where it came from: `--server-key`, else the public
/// half of the audit key file (never created here).
fn trusted_key(
    server_key: Option<&str>,
    audit_key: Option<PathBuf>,
    url: &str,
) -> anyhow::Result<(VerifyingKey, String)> {
    if let Some(arg) = server_key {
        return Ok((audit::server_key(arg)?, format!("--server-key {arg}")));
    }
    let path = audit_key.unwrap_or_else(|| config::default_audit_key(url));
    let key = AuditKey::load(&path).context(
        "no trusted server key: give --server-key, or --audit-key for the server's key file / không có khóa máy chủ tin cậy: dùng --server-key hoặc --audit-key",
    )?;
    Ok((
        key.public(),
        format!("the audit key file {}", path.display()),
    ))
}

fn read_export(f: &std::path::Path) -> anyhow::Result<Export> {
    let text =
        std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
    Ok(serde_json::from_str(&text)
        .map_err(|e| audit::AuditError::BadFile(format!("{}: {e}", f.display())))?)
}

/// Print each document's counts and, if any, the first bad entry; `Err` (a non-zero exit)
/// when there is one.
fn conclude(report: &Report) -> anyhow::Result<()> {
    let mut entries = 0u64;
    for d in &report.docs {
        entries += d.entries;
        match &d.bad {
            None if d.never_sealed => println!(
                "{}/{}: {} entries, {} operations: consistent but NEVER SEALED (chưa từng được niêm phong)",
                d.directive, d.unit, d.entries, d.ops
            ),
            None => println!(
                "{}/{}: {} entries, {} operations: ok",
                d.directive, d.unit, d.entries, d.ops
            ),
            Some(bad) => println!(
                "{}/{}: BAD at position {}: {} (sai tại vị trí {})",
                d.directive, d.unit, bad.position, bad.why, bad.position
            ),
        }
    }
    let never_sealed = report.never_sealed().count();
    match report.first_bad() {
        None if never_sealed > 0 => anyhow::bail!(
            "warning: no bad entry, but {never_sealed} documents were never sealed by the server, so nothing proves their logs (a database from before seals, not written to since, or seals stripped) / cảnh báo: {never_sealed} tài liệu chưa từng được máy chủ niêm phong"
        ),
        None => {
            println!(
                "{} documents, {entries} entries: every chain, signature and seal verifies / mọi chuỗi, chữ ký và niêm phong đều hợp lệ",
                report.docs.len()
            );
            Ok(())
        }
        Some(bad) => anyhow::bail!(
            "the audit found a bad entry / kiểm toán phát hiện mục sai: {}/{} position {}: {}",
            bad.directive,
            bad.unit,
            bad.position,
            bad.why
        ),
    }
}
