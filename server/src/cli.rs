//! The command line: every subcommand and its options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::directive_cmd;

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
    /// Read directives (chỉ thị): parse a text into clauses, units and assignments.
    #[command(subcommand)]
    Directive(DirectiveCommand),
    /// The unit catalogue: list it, or check an edited file.
    #[command(subcommand)]
    Catalogue(CatalogueCommand),
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

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Directive(DirectiveCommand::Parse(args)) => directive_cmd::parse(&args),
        Command::Directive(DirectiveCommand::Seed) => directive_cmd::seed(),
        Command::Catalogue(CatalogueCommand::Check { file }) => {
            directive_cmd::check_catalogue(&file)
        }
        Command::Catalogue(CatalogueCommand::Show { catalogue, json }) => {
            directive_cmd::show_catalogue(catalogue.as_deref(), json)
        }
    }
}
