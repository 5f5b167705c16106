//! `taskforce catalogue check|show`: the unit catalogue on the command line.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use chrono::NaiveDate;
use clap::Subcommand;
use taskforce_core::directive::{Catalogue, Scope, Unit};

use super::directive::load_catalogue;

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Check catalogue files (read together as one catalogue, as the bundled units.toml,
    /// government.toml and provinces.toml are) and print a summary, or the reason they are
    /// refused.
    Check {
        /// The catalogue (TOML), or several.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the catalogue in use (the bundled one unless --catalogue is given).
    Show {
        #[arg(long, env = "TASKFORCE_CATALOGUE")]
        catalogue: Option<PathBuf>,
        /// Only the units in force on this day (YYYY-MM-DD): a directive of that date finds
        /// these.
        #[arg(long)]
        on: Option<NaiveDate>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: CatalogueCommand) -> anyhow::Result<()> {
    match cmd {
        CatalogueCommand::Check { files } => check_catalogues(&files),
        CatalogueCommand::Show {
            catalogue,
            on,
            json,
        } => show_catalogue(catalogue.as_deref(), on, json),
    }
}

/// Validate `paths` as one catalogue; prints its units by scope.
pub fn check_catalogues(paths: &[PathBuf]) -> anyhow::Result<()> {
    let c = match paths {
        [one] => load_catalogue(Some(one))?,
        _ => {
            let mut texts = Vec::new();
            for p in paths {
                texts.push(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("cannot open {}", p.display()))?,
                );
            }
            Catalogue::from_tomls(texts.iter().map(String::as_str))?
        }
    };
    let groups = c.units().iter().filter(|u| u.is_group()).count();
    let of = |scope: Scope| {
        c.units()
            .iter()
            .filter(|u| !u.is_group() && c.scope(&u.id) == Some(scope))
            .count()
    };
    let dated = c
        .units()
        .iter()
        .filter(|u| u.valid_from.is_some() || u.valid_until.is_some())
        .count();
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    println!(
        "{}: {} units, {groups} groups; {} of the ministry, {} of the government (assigned by a \
         Government directive), {} never assigned; {dated} with dates — OK",
        names.join(", "),
        c.units().len(),
        of(Scope::Ministry),
        of(Scope::Government),
        of(Scope::Never),
    );
    Ok(())
}

/// `2025-07-01 – …`, `… – 2025-06-30`, or empty for a unit that always existed.
fn period(u: &Unit) -> String {
    let day = |d: Option<NaiveDate>| d.map_or_else(|| "…".to_string(), |d| d.to_string());
    if u.valid_from.is_none() && u.valid_until.is_none() {
        return String::new();
    }
    format!("{} – {}", day(u.valid_from), day(u.valid_until))
}

pub fn show_catalogue(
    path: Option<&Path>,
    on: Option<NaiveDate>,
    json: bool,
) -> anyhow::Result<()> {
    let c = load_catalogue(path)?;
    let units: Vec<&Unit> = match on {
        Some(day) => c.in_force_on(day).collect(),
        None => c.units().iter().collect(),
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &units)?;
        writeln!(out)?;
        return Ok(());
    }
    for u in units {
        writeln!(
            out,
            "{:<28} {:<22} {:<25} {} — {}",
            u.id,
            format!("{:?}", u.kind),
            period(u),
            u.name,
            u.en
        )?;
    }
    Ok(())
}
