//! `taskforce backup PATH` and `taskforce restore BACKUP`: the embedded SQLite database,
//! copied while the server runs and put back while it is stopped (`db::backup`). PostgreSQL
//! is refused with the names of its own tools.

use std::path::PathBuf;

use clap::Args;
use taskforce_server::{config, db::backup};

use super::DbArg;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    db: DbArg,
    /// The file to write; it must not exist yet.
    path: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    db: DbArg,
    /// Replace the database already there (stop the server first); it is kept beside the
    /// restored one as `NAME.before-restore-STAMP`.
    #[arg(long)]
    replace: bool,
    /// The backup file (`taskforce backup`, or the nightly timer's).
    backup: PathBuf,
}

fn describe(s: &backup::Summary) -> String {
    format!(
        "{} ({} bytes: {} documents, {} changes, {} migrations)",
        s.path.display(),
        s.bytes,
        s.documents,
        s.changes,
        s.migrations
    )
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let summary = backup::backup(&args.db.db, &args.path).await?;
        println!("backup written / đã sao lưu: {}", describe(&summary));
        println!(
            "the audit key is not in the backup: keep a copy of {} with it / khóa kiểm toán không nằm trong bản sao lưu: hãy giữ một bản sao của tệp này cùng bản sao lưu",
            config::default_audit_key(&args.db.db).display()
        );
        Ok(())
    })
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let done = backup::restore(&args.backup, &args.db.db, args.replace).await?;
        println!("restored / đã khôi phục: {}", describe(&done.summary));
        for kept in &done.kept {
            println!("kept / giữ lại: {}", kept.display());
        }
        println!(
            "put the audit key of the backed-up server at {} (or pass --audit-key) before starting the server / đặt khóa kiểm toán của máy chủ cũ vào đây trước khi khởi động",
            config::default_audit_key(&args.db.db).display()
        );
        Ok(())
    })
}
