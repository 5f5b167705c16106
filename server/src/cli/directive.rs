//! `taskforce directive parse|seed`: the importer on the command line; `taskforce directive
//! import|drafts|correct|publish|discard`: bring in a new directive as a draft, review it and
//! publish it (issue 21, `taskforce_server::drafts`), as the dashboard and the API do.

use std::{
    io::{Read, Write},
    path::Path,
};

use std::path::PathBuf;

use anyhow::Context;
use taskforce_core::directive::{
    Catalogue, Clause, Correction, Directive, MAX_DIRECTIVE_BYTES, Overrides, Role, SEED_DIRECTIVE,
    import,
};
use taskforce_server::{
    drafts::{self, By, DraftView},
    error::ApiError,
};

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum DirectiveCommand {
    /// Parse a directive's text and print its clause tree with the units assigned.
    Parse(ParseArgs),
    /// Print the directive bundled with taskforce (05/CT-BTTTT).
    Seed,
    /// Import a directive's text into the database as a draft for review (a draft of the same
    /// directive is replaced, keeping its corrections that still apply).
    Import {
        /// The directive's text (UTF-8); `-` reads stdin.
        file: PathBuf,
        #[command(flatten)]
        db: super::DbArg,
        /// A unit catalogue (TOML) instead of the bundled one: the server's own.
        #[arg(long, env = "TASKFORCE_CATALOGUE")]
        catalogue: Option<PathBuf>,
    },
    /// List the drafts awaiting review.
    Drafts {
        #[command(flatten)]
        db: super::DbArg,
    },
    /// Correct a draft's review. Each correction is JSON, e.g.
    /// '{"action":"add","clause":"II.3","unit":"cuc-vt","role":"lead"}', '{"action":"remove",
    /// "clause":"II.3","unit":"cuc-attt"}', '{"action":"set_role",…}',
    /// '{"action":"not_actionable","clause":"I.1","value":true}'; made in order, all or none.
    Correct {
        /// The draft's id (`12-ct-btttt`).
        id: String,
        /// A correction (repeatable).
        #[arg(long = "correction", required = true)]
        corrections: Vec<String>,
        #[command(flatten)]
        db: super::DbArg,
        #[arg(long, env = "TASKFORCE_CATALOGUE")]
        catalogue: Option<PathBuf>,
    },
    /// Publish a draft: its clauses and one document per unit it gives tasks to.
    Publish {
        id: String,
        #[command(flatten)]
        db: super::DbArg,
        #[arg(long, env = "TASKFORCE_CATALOGUE")]
        catalogue: Option<PathBuf>,
        /// The Ministry Office account publishing a revision of a directive already published:
        /// its changes to the units' documents are signed by the device the server holds for
        /// it (decision 44).
        #[arg(long = "as", value_name = "USERNAME")]
        as_user: Option<String>,
        /// The server's audit key (default: beside an SQLite database, else in the working
        /// directory), from which the account's device key is derived.
        #[arg(long, env = "TASKFORCE_AUDIT_KEY")]
        audit_key: Option<PathBuf>,
    },
    /// Throw a draft away.
    Discard {
        id: String,
        #[command(flatten)]
        db: super::DbArg,
    },
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
        other => actix_web::rt::System::new().block_on(drafts(other)),
    }
}

fn refused(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The database, migrated, with the catalogue stored (a fresh database gets the bundled
/// directive as `serve` would give it).
async fn open(url: &str, catalogue: &Catalogue) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = taskforce_server::db::connect(url).await?;
    taskforce_server::db::seed::seed(&db, catalogue).await?;
    Ok(db)
}

fn print_draft(d: &DraftView) {
    println!("draft {} — {} — {} — {}", d.id, d.number, d.issuer, d.date);
    println!("{}", d.title);
    for w in &d.directive.warnings {
        println!("  warning [{}]: {} / {}", w.field, w.vi, w.en);
    }
    let tasks: usize = d.documents.iter().map(|p| p.tasks).sum();
    println!(
        "publishing gives {} units {tasks} tasks: {}",
        d.documents.len(),
        d.documents
            .iter()
            .map(|p| format!("{} ({})", p.unit, p.tasks))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

async fn drafts(cmd: DirectiveCommand) -> anyhow::Result<()> {
    let by = By::operator();
    match cmd {
        DirectiveCommand::Parse(args) => parse(&args)?,
        DirectiveCommand::Seed => seed()?,
        DirectiveCommand::Import {
            file,
            db,
            catalogue,
        } => {
            let catalogue = std::sync::Arc::new(load_catalogue(catalogue.as_deref())?);
            let bytes = read_input(&file)?;
            let db = open(&db.db, &catalogue).await?;
            let draft = drafts::import_draft(&db, &catalogue, &by, &bytes)
                .await
                .map_err(refused)
                .with_context(|| format!("{} is refused", file.display()))?;
            print_draft(&draft);
        }
        DirectiveCommand::Drafts { db } => {
            let db = taskforce_server::db::connect(&db.db).await?;
            let list = drafts::list_drafts(&db).await.map_err(refused)?;
            println!("{} drafts", list.len());
            for d in list {
                println!(
                    "{:<16} {:<14} {} warnings  {}",
                    d.id, d.date, d.warnings, d.title
                );
            }
        }
        DirectiveCommand::Correct {
            id,
            corrections,
            db,
            catalogue,
        } => {
            let catalogue = std::sync::Arc::new(load_catalogue(catalogue.as_deref())?);
            let corrections: Vec<Correction> = corrections
                .iter()
                .map(|c| {
                    serde_json::from_str(c).with_context(|| format!("correction {c} is not valid"))
                })
                .collect::<anyhow::Result<_>>()?;
            let db = taskforce_server::db::connect(&db.db).await?;
            let draft = drafts::correct(&db, &catalogue, &by, &id, &corrections, None)
                .await
                .map_err(refused)?;
            print_draft(&draft);
        }
        DirectiveCommand::Publish {
            id,
            db,
            catalogue,
            as_user,
            audit_key,
        } => {
            let loaded = load_catalogue(catalogue.as_deref())?;
            let catalogue = std::sync::Arc::new(loaded.clone());
            let url = db.db;
            let db = taskforce_server::db::connect(&url).await?;
            // A revision is written through the sync writer, as the named account.
            let (by, state) = match as_user {
                Some(name) => {
                    let account = By::account(&db, &name).await.map_err(refused)?;
                    let path = audit_key
                        .unwrap_or_else(|| taskforce_server::config::default_audit_key(&url));
                    let key =
                        taskforce_server::audit::AuditKey::load(&path).with_context(|| {
                            format!("the server's audit key {} cannot be read", path.display())
                        })?;
                    let config = taskforce_server::config::Config {
                        db: url.clone(),
                        ..Default::default()
                    };
                    let state = taskforce_server::state::AppState::new(
                        db.clone(),
                        config,
                        loaded,
                        std::sync::Arc::new(key),
                    );
                    (account, Some(state))
                }
                None => (by, None),
            };
            let office = state
                .as_ref()
                .map(taskforce_server::state::AppState::office);
            let done = drafts::publish(&db, &catalogue, &by, &id, None, office)
                .await
                .map_err(refused)?;
            let tasks: usize = done.documents.iter().map(|p| p.tasks).sum();
            println!(
                "published {} ({}): {} unit documents, {tasks} tasks",
                done.id,
                done.number,
                done.documents.len()
            );
            if let Some(r) = &done.revision {
                println!(
                    "revision {}: {} documents brought to it, {} still behind",
                    r.revision,
                    r.documents.len(),
                    r.behind
                );
                for d in &r.documents {
                    println!(
                        "  {:<24} {:<12} kept {}, added {}, withdrawn {}, reinstated {}, role changed {}{}",
                        d.unit,
                        d.outcome,
                        d.summary.kept.len(),
                        d.summary.added.len(),
                        d.summary.withdrawn.len(),
                        d.summary.reinstated.len(),
                        d.summary.role_changed.len(),
                        d.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        DirectiveCommand::Discard { id, db } => {
            let db = taskforce_server::db::connect(&db.db).await?;
            let number = drafts::discard(&db, &by, &id, None)
                .await
                .map_err(refused)?;
            println!("discarded draft {id} ({number})");
        }
    }
    Ok(())
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
