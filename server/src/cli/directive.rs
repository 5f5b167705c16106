//! `taskforce directive parse|seed`: the importer on the command line.

use std::{
    io::{Read, Write},
    path::Path,
};

use std::path::PathBuf;

use anyhow::Context;
use taskforce_core::directive::{
    Catalogue, Clause, Directive, MAX_DIRECTIVE_BYTES, Overrides, Role, SEED_DIRECTIVE, import,
};

use clap::{Args, Subcommand};

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

pub fn run(cmd: DirectiveCommand) -> anyhow::Result<()> {
    match cmd {
        DirectiveCommand::Parse(args) => parse(&args),
        DirectiveCommand::Seed => seed(),
    }
}

/// Read a file (or stdin for `-`), refusing anything larger than a directive can be before
/// reading it all.
fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let limit = u64::try_from(MAX_DIRECTIVE_BYTES + 1).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        file.take(limit)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(bytes)
}

pub fn load_catalogue(path: Option<&Path>) -> anyhow::Result<Catalogue> {
    match path {
        None => Ok(Catalogue::bundled()?),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read catalogue {}", p.display()))?;
            Catalogue::from_toml(&text).with_context(|| format!("catalogue {}", p.display()))
        }
    }
}

fn load(bytes: &[u8], sources: &Sources) -> anyhow::Result<Directive> {
    let catalogue = load_catalogue(sources.catalogue.as_deref())?;
    let overrides = match &sources.overrides {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read overrides {}", p.display()))?;
            Some(
                Overrides::from_toml(&text)
                    .with_context(|| format!("overrides {}", p.display()))?,
            )
        }
    };
    Ok(import(bytes, &catalogue, overrides.as_ref())?)
}

pub fn parse(args: &ParseArgs) -> anyhow::Result<()> {
    let bytes = read_input(&args.file)?;
    let directive = load(&bytes, &args.sources)
        .with_context(|| format!("{} is refused", args.file.display()))?;
    print(&directive, args.json)
}

pub fn seed() -> anyhow::Result<()> {
    let directive = load(
        SEED_DIRECTIVE.as_bytes(),
        &Sources {
            catalogue: None,
            overrides: None,
        },
    )?;
    print(&directive, false)
}

fn print(directive: &Directive, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, directive)?;
        writeln!(out)?;
    } else {
        write_tree(&mut out, directive)?;
    }
    Ok(())
}

/// The readable form: header, then one line per clause, indented, with its units.
fn write_tree(out: &mut impl Write, d: &Directive) -> std::io::Result<()> {
    writeln!(
        out,
        "Chỉ thị số {} — {} — {}",
        d.number,
        d.issuer,
        d.date.format("%d/%m/%Y")
    )?;
    writeln!(out, "{}", d.title)?;
    writeln!(out, "Ký: {} {}", d.signer.title, d.signer.name)?;
    writeln!(
        out,
        "Nơi nhận: {} | Điều khoản: {}",
        d.recipients.len(),
        d.all_clauses().count()
    )?;
    writeln!(out)?;
    fn clause(out: &mut impl Write, c: &Clause, depth: usize) -> std::io::Result<()> {
        let label = c.heading.as_deref().unwrap_or(&c.text);
        let short: String = label.chars().take(90).collect();
        let more = if label.chars().count() > 90 {
            "…"
        } else {
            ""
        };
        writeln!(
            out,
            "{:indent$}{:<10} {short}{more}",
            "",
            c.id,
            indent = depth * 2
        )?;
        if !c.units.is_empty() {
            let units: Vec<String> = c
                .units
                .iter()
                .map(|a| match a.role {
                    Role::Lead => format!("{} (chủ trì)", a.unit),
                    Role::Coordinating => format!("{} (phối hợp)", a.unit),
                })
                .collect();
            writeln!(
                out,
                "{:indent$}           → {}",
                "",
                units.join(", "),
                indent = depth * 2
            )?;
        }
        for child in &c.children {
            clause(out, child, depth + 1)?;
        }
        Ok(())
    }
    for c in &d.clauses {
        clause(out, c, 0)?;
    }
    Ok(())
}
