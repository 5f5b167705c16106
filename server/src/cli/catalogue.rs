//! `taskforce catalogue check|show`: the unit catalogue on the command line.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use clap::Subcommand;

use super::directive::load_catalogue;

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

pub fn run(cmd: CatalogueCommand) -> anyhow::Result<()> {
    match cmd {
        CatalogueCommand::Check { file } => check_catalogue(&file),
        CatalogueCommand::Show { catalogue, json } => show_catalogue(catalogue.as_deref(), json),
    }
}

pub fn check_catalogue(path: &Path) -> anyhow::Result<()> {
    let c = load_catalogue(Some(path))?;
    let groups = c.units().iter().filter(|u| u.is_group()).count();
    println!(
        "{}: {} units, {groups} groups — OK",
        path.display(),
        c.units().len()
    );
    Ok(())
}

pub fn show_catalogue(path: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let c = load_catalogue(path)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, c.units())?;
        writeln!(out)?;
        return Ok(());
    }
    for u in c.units() {
        writeln!(
            out,
            "{:<24} {:<22} {} — {}",
            u.id,
            format!("{:?}", u.kind),
            u.name,
            u.en
        )?;
    }
    Ok(())
}
