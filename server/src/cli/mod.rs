//! The command line: one file per command, each with its own options.

mod audit;
mod backup;
mod catalogue;
mod cdr;
mod digest;
mod directive;
mod migrate;
mod serve;
mod user;

use clap::{Args, Parser, Subcommand};

/// taskforce: track a directive's tasks, clause by clause and unit by unit.
///
/// taskforce: theo dõi việc thực hiện chỉ thị theo từng điều khoản và từng đơn vị.
#[derive(Debug, Parser)]
#[command(name = "taskforce", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: migrations and the bundled directive on first start, then the API.
    Serve(serve::ServeArgs),
    /// Accounts: create, list, disable and enable users, reset passwords, list and revoke devices.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Unit memberships: add an existing account to a unit.
    #[command(subcommand)]
    Member(user::MemberCommand),
    /// Run the database migrations (up, or down to nothing) and exit.
    Migrate {
        #[command(flatten)]
        db: DbArg,
        /// Undo every migration instead.
        #[arg(long)]
        down: bool,
    },
    /// Read directives (chỉ thị): parse a text into clauses, units and assignments.
    #[command(subcommand)]
    Directive(directive::DirectiveCommand),
    /// The unit catalogue: list it, or check an edited file.
    #[command(subcommand)]
    Catalogue(catalogue::CatalogueCommand),
    /// The audit trail: verify the op log's hash chains and signatures, export a unit's log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Mail: send the digests now, or print them (--dry-run); `serve` sends them on schedule.
    Digest(digest::DigestArgs),
    /// Back up the SQLite database to a new file, safely while the server runs.
    Backup(backup::BackupArgs),
    /// Put an SQLite backup in place (the server stopped); checked before and after copying.
    Restore(backup::RestoreArgs),
    /// Call records: verify a carrier's against the hotline register, or write sample ones.
    #[command(subcommand)]
    Cdr(cdr::CdrCommand),
    /// The hotline register: list, add or change, remove.
    #[command(subcommand)]
    Hotline(cdr::HotlineCommand),
}

#[derive(Debug, Args)]
pub struct DbArg {
    /// `sqlite://PATH?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "TASKFORCE_DB",
        default_value = "sqlite://taskforce.db?mode=rwc"
    )]
    pub db: String,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::User(cmd) => user::user(cmd),
        Command::Member(cmd) => user::member(cmd),
        Command::Migrate { db, down } => migrate::migrate(&db.db, down),
        Command::Directive(cmd) => directive::run(cmd),
        Command::Catalogue(cmd) => catalogue::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Digest(args) => digest::run(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Cdr(cmd) => cdr::cdr(cmd),
        Command::Hotline(cmd) => cdr::hotline(cmd),
    }
}
