//! `taskforce cdr` (verify a carrier's call records, generate sample ones) and `taskforce
//! hotline` (the hotline register), issue 23.

use std::{fs::File, io::BufWriter, path::PathBuf};

use anyhow::Context;
use clap::Subcommand;
use taskforce_core::cdr::{Mapping, Options, format_amount, hex};
use taskforce_server::{
    error::ApiError,
    hotlines::{self, HotlineInput, Services, sample},
    progress::hotlines::{register, registered},
};

use super::{DbArg, directive::load_catalogue};

#[derive(Debug, Subcommand)]
pub enum CdrCommand {
    /// Read a carrier's call records (CSV) against the hotline register and record the
    /// result in the carrier's document (as the server's verifier; the phones and the audit
    /// see it). Prints the figures; a refused file records nothing.
    Verify {
        /// The CSV file.
        file: PathBuf,
        /// The carrier's unit id (`viettel`).
        #[arg(long)]
        carrier: String,
        #[command(flatten)]
        db: DbArg,
        /// Default: the bundled directive.
        #[arg(long, default_value = taskforce_server::progress::DEFAULT_DIRECTIVE)]
        directive: String,
        /// A column mapping for this file (`caller=…,called=…,start=…,seconds=…,charge=…`),
        /// whatever its header; default: the presets, then the carrier's own mapping.
        #[arg(long)]
        mapping: Option<String>,
        /// The server's audit key file (the verifier's device key is derived from it).
        /// Default: the one beside the SQLite file (as `serve`'s).
        #[arg(long, env = "TASKFORCE_AUDIT_KEY")]
        audit_key: Option<PathBuf>,
        /// A unit catalogue instead of the bundled one.
        #[arg(long, env = "TASKFORCE_CATALOGUE")]
        catalogue: Option<PathBuf>,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write sample call records (normal traffic, calls to the 2020 hotlines, some charged
    /// in the free period, some before it, broken rows) and print what a verification must
    /// find (JSON).
    Generate {
        /// The file to write.
        out: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
        #[arg(long, default_value_t = 23)]
        seed: u64,
        #[arg(long, value_enum, default_value = "generic")]
        layout: sample::Layout,
        /// One row in this many broken (0: none).
        #[arg(long, default_value_t = 997)]
        broken_every: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum HotlineCommand {
    /// The hotline register.
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Add a hotline or change one (as a Ministry Office account; audited).
    Set {
        /// As written (`1900 9095`).
        number: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner: String,
        /// `YYYY-MM-DD`.
        #[arg(long)]
        free_from: String,
        /// `YYYY-MM-DD`, included.
        #[arg(long)]
        free_until: Option<String>,
        /// The Ministry Office account the change is made as.
        #[arg(long = "as")]
        as_user: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Take a hotline off the register (as a Ministry Office account; audited).
    Remove {
        number: String,
        #[arg(long = "as")]
        as_user: String,
        #[command(flatten)]
        db: DbArg,
    },
}

fn refused(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn cdr(cmd: CdrCommand) -> anyhow::Result<()> {
    match cmd {
        CdrCommand::Generate {
            out,
            rows,
            seed,
            layout,
            broken_every,
        } => {
            let spec = sample::Spec {
                rows,
                seed,
                layout,
                broken_every,
                ..sample::Spec::default()
            };
            let hotlines = taskforce_server::hotlines::sample::hotlines_2020();
            let file =
                File::create(&out).with_context(|| format!("cannot write {}", out.display()))?;
            let truth =
                sample::generate(BufWriter::with_capacity(1 << 20, file), &spec, &hotlines)?;
            println!("{}", serde_json::to_string_pretty(&truth)?);
            Ok(())
        }
        CdrCommand::Verify {
            file,
            carrier,
            db,
            directive,
            mapping,
            audit_key,
            catalogue,
            json,
        } => runtime()?.block_on(async move {
            let loaded = load_catalogue(catalogue.as_deref())?;
            let url = db.db;
            let conn = taskforce_server::db::connect(&url).await?;
            taskforce_server::db::seed::seed(&conn, &loaded).await?;
            let path =
                audit_key.unwrap_or_else(|| taskforce_server::config::default_audit_key(&url));
            // The server's own key, never a new one: a new key would seal with another key
            // and register another verifier device.
            let key = taskforce_server::audit::AuditKey::load(&path).with_context(|| {
                format!(
                    "the server's audit key {} cannot be read (give --audit-key, as serve has it)",
                    path.display()
                )
            })?;
            let config = taskforce_server::config::Config {
                db: url.clone(),
                ..Default::default()
            };
            let state = taskforce_server::state::AppState::new(
                conn.clone(),
                config,
                loaded,
                std::sync::Arc::new(key),
            );
            let input =
                File::open(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let mut options = Options::default();
            if let Some(spec) = mapping {
                options.mapping = Some(Mapping::parse(&spec).map_err(refused)?);
                options.force_mapping = true;
            }
            let name = file.file_name().map_or_else(
                || "cdr.csv".to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let services = Services {
                db: &state.db,
                writer: &state.writer,
                audit: &state.audit_key,
                catalogue: &state.catalogue,
            };
            let verified = hotlines::verify(
                services,
                None,
                &carrier,
                &directive,
                &name,
                std::io::BufReader::with_capacity(1 << 20, input),
                options,
                taskforce_server::clock::now(),
            )
            .await
            .map_err(|e| refused(ApiError::from(e)))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&verified)?);
                return Ok(());
            }
            let r = &verified.report;
            println!(
                "tệp / file           {name} ({} bytes, {})",
                r.bytes, r.layout
            );
            println!("SHA-256              {}", hex(&r.sha256));
            println!(
                "dòng / rows          {} ({} checked, {} broken)",
                r.rows, r.checked, r.broken
            );
            for b in &r.broken_rows {
                println!("  line {:>10}: {}", b.line, b.reason);
            }
            println!(
                "gọi đường dây nóng / calls to hotlines   {}",
                r.hotline_calls
            );
            println!(
                "ngoài thời gian miễn cước / outside the free period   {}",
                r.outside_free_period
            );
            println!("bị tính cước / charged in the free period   {}", r.charged);
            for (c, a) in &r.wrongly_charged {
                println!("tính sai / wrongly charged   {} {c}", format_amount(*a));
            }
            for o in &r.offending {
                println!(
                    "  line {:>10}: {} → {} at {}, {} s, {} {}",
                    o.line,
                    o.caller,
                    o.hotline,
                    o.start,
                    o.seconds,
                    format_amount(o.charge),
                    o.currency
                );
            }
            println!(
                "ghi vào / recorded in {}/{} as {}",
                verified.directive, verified.carrier, verified.operation
            );
            Ok(())
        }),
    }
}

pub fn hotline(cmd: HotlineCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        match cmd {
            HotlineCommand::List { db } => {
                let conn = taskforce_server::db::connect(&db.db).await?;
                let list = register(&conn).await.map_err(refused)?;
                for h in &list {
                    println!(
                        "{:<12} {:<12} {} → {}  {} ({})",
                        h.number,
                        h.display,
                        h.free_from,
                        h.free_until.as_deref().unwrap_or("…"),
                        h.name,
                        h.owner
                    );
                }
                if registered(&list).is_empty() {
                    eprintln!("the register is empty: call records cannot be verified");
                }
                Ok(())
            }
            HotlineCommand::Set {
                number,
                name,
                owner,
                free_from,
                free_until,
                as_user,
                db,
            } => {
                let conn = taskforce_server::db::connect(&db.db).await?;
                let caller = hotlines::office_account(&conn, &as_user)
                    .await
                    .map_err(refused)?;
                let input = HotlineInput {
                    number,
                    name,
                    owner,
                    free_from,
                    free_until,
                };
                let h =
                    hotlines::set_hotline(&conn, &caller, &input, taskforce_server::clock::now())
                        .await
                        .map_err(refused)?;
                println!(
                    "{} {} → {}",
                    h.number,
                    h.free_from,
                    h.free_until.as_deref().unwrap_or("…")
                );
                Ok(())
            }
            HotlineCommand::Remove {
                number,
                as_user,
                db,
            } => {
                let conn = taskforce_server::db::connect(&db.db).await?;
                let caller = hotlines::office_account(&conn, &as_user)
                    .await
                    .map_err(refused)?;
                hotlines::remove_hotline(&conn, &caller, &number)
                    .await
                    .map_err(refused)?;
                println!("removed {number}");
                Ok(())
            }
        }
    })
}
