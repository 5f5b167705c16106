//! The command line: every subcommand and its options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{directive_cmd, serve_cmd};

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
    Serve(ServeArgs),
    /// Accounts: create users, reset passwords.
    #[command(subcommand)]
    User(UserCommand),
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
    Directive(DirectiveCommand),
    /// The unit catalogue: list it, or check an edited file.
    #[command(subcommand)]
    Catalogue(CatalogueCommand),
    /// Simulate many phones editing offline and syncing at once; print the figures.
    Loadgen(crate::loadgen::LoadgenArgs),
}

#[derive(Debug, Subcommand)]
pub enum DirectiveCommand {
    /// Parse a directive's text and print its clause tree with the units assigned.
    Parse(ParseArgs),
    /// Print the directive bundled with taskforce (05/CT-BTTTT).
    Seed,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The directive's text (UTF-8, as extracted from the signed PDF); `-` reads stdin.
    pub file: PathBuf,
    /// Print one JSON document instead of the readable tree.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sources: Sources,
}

#[derive(Debug, Args)]
pub struct Sources {
    /// A unit catalogue (TOML) instead of the bundled one.
    #[arg(long, env = "TASKFORCE_CATALOGUE")]
    pub catalogue: Option<PathBuf>,
    /// A reviewed overrides file (TOML) instead of the bundled one for this directive.
    #[arg(long)]
    pub overrides: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Check a catalogue file and print a summary, or the reason it is refused.
    Check {
        /// The catalogue (TOML).
        file: PathBuf,
    },
    /// Print the catalogue in use (the bundled one unless --catalogue is given).
    Show {
        #[arg(long, env = "TASKFORCE_CATALOGUE")]
        catalogue: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML config file (keys as in `Config`: db, bind, sync_body_limit, …).
    #[arg(long, env = "TASKFORCE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL [default: sqlite://taskforce.db?mode=rwc].
    #[arg(long, env = "TASKFORCE_DB")]
    pub db: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TASKFORCE_BIND")]
    pub bind: Option<String>,
    /// HTTP worker threads [default: one per core].
    #[arg(long, env = "TASKFORCE_WORKERS")]
    pub workers: Option<usize>,
    /// A unit catalogue instead of the bundled one.
    #[arg(long, env = "TASKFORCE_CATALOGUE")]
    pub catalogue: Option<PathBuf>,
    /// The most memory, in MiB, decoded documents may take [default: 512].
    #[arg(long, env = "TASKFORCE_DOC_CACHE_MB")]
    pub doc_cache_mb: Option<usize>,
    /// Also create demo accounts (one per role, for a few units) and print their passwords.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from the TASKFORCE_PASSWORD environment variable
    /// or, without it, from the first line of standard input.
    Add {
        #[command(flatten)]
        db: DbArg,
        username: String,
        /// member, ministry_office, minister or admin.
        #[arg(long, default_value = "member")]
        role: String,
        /// A unit the user belongs to (repeatable).
        #[arg(long = "unit")]
        units: Vec<String>,
        /// A unit the user leads (repeatable).
        #[arg(long = "lead")]
        leads: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Set a user's password (read like `user add`'s); ends the user's sessions.
    Passwd {
        #[command(flatten)]
        db: DbArg,
        username: String,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve_cmd::serve(args),
        Command::User(cmd) => serve_cmd::user(cmd),
        Command::Migrate { db, down } => serve_cmd::migrate(&db.db, down),
        Command::Directive(DirectiveCommand::Parse(args)) => directive_cmd::parse(&args),
        Command::Directive(DirectiveCommand::Seed) => directive_cmd::seed(),
        Command::Catalogue(CatalogueCommand::Check { file }) => {
            directive_cmd::check_catalogue(&file)
        }
        Command::Loadgen(args) => crate::loadgen::run(args),
        Command::Catalogue(CatalogueCommand::Show { catalogue, json }) => {
            directive_cmd::show_catalogue(catalogue.as_deref(), json)
        }
    }
}
