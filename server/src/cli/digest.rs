//! `taskforce digest`: decide and send the digests now (`--now`) or those due on the
//! schedule, or print them without writing or sending anything (`--dry-run`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use taskforce_server::{
    config::{
        Config,
        mail::{Language, MailSettings, Recipient, RecipientRole},
    },
    mail::{
        outbox,
        schedule::{self, Decided, Due, Kind},
        sender,
    },
};

use super::{directive::load_catalogue, serve::MailArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    All,
    Office,
    Reminders,
    Minister,
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Every digest now, whatever the schedule says (each is a run of its own); without it,
    /// those the schedule has due and not yet decided, as `serve` would.
    #[arg(long)]
    pub now: bool,
    /// Print the mails (plain-text parts) instead of writing and sending them.
    #[arg(long)]
    pub dry_run: bool,
    /// Which digests.
    #[arg(long, value_enum, default_value = "all")]
    pub only: Which,
    /// Only show the outbox: how many mails are in each state, and those waiting or given
    /// up, with their last error.
    #[arg(long, conflicts_with_all = ["now", "dry_run"])]
    pub outbox: bool,
    /// Put the mails given up (`failed`) back to be sent, once what refused them is fixed (a
    /// sender's address, a relay's rules), and deliver what is due.
    #[arg(long, conflicts_with_all = ["now", "dry_run", "outbox"])]
    pub retry_failed: bool,
    /// A TOML config file (as `serve`'s).
    #[arg(long, env = "TASKFORCE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL [default: sqlite://taskforce.db?mode=rwc].
    #[arg(long, env = "TASKFORCE_DB")]
    pub db: Option<String>,
    /// A unit catalogue instead of the bundled one.
    #[arg(long, env = "TASKFORCE_CATALOGUE")]
    pub catalogue: Option<PathBuf>,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// A database that does not exist yet: an SQLite file not there (PostgreSQL databases are
/// made by their operator, so one is never "new" here).
fn is_new(url: &str) -> bool {
    taskforce_server::config::sqlite_file(url).is_some_and(|f| !f.exists())
}

fn kinds(which: Which) -> Vec<Kind> {
    match which {
        Which::All => Kind::ALL.to_vec(),
        Which::Office => vec![Kind::OfficeDigest],
        Which::Reminders => vec![Kind::UnitReminders],
        Which::Minister => vec![Kind::MinisterSummary],
    }
}

fn placeholder(address: &str, role: RecipientRole) -> anyhow::Result<Recipient> {
    Ok(Recipient {
        address: address
            .parse()
            .map_err(|e| anyhow::anyhow!("{address}: {e}"))?,
        role,
        language: Language::Vi,
    })
}

pub fn run(args: DigestArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(db) = &args.db {
        config.db.clone_from(db);
    }
    if args.catalogue.is_some() {
        config.catalogue.clone_from(&args.catalogue);
    }
    args.mail.apply(&mut config.mail)?;
    let catalogue = load_catalogue(config.catalogue.as_deref())?;
    let mut settings = MailSettings::check(&config.mail, &catalogue, &config.bind)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    actix_web::rt::System::new().block_on(async move {
        // Looking (--outbox, --dry-run) changes nothing in a database in use: it is opened as
        // it is, never migrated; only for --dry-run is a database that does not exist yet made
        // (and seeded with the bundled directive), to show what a fresh server's digests say.
        let looking = args.outbox || args.dry_run;
        if is_new(&config.db) && !args.dry_run {
            anyhow::bail!(
                "the database {} does not exist: nothing to send (--dry-run shows what a fresh server's digests say)",
                taskforce_server::db::redact(&config.db)
            );
        }
        let db = if is_new(&config.db) {
            let db = taskforce_server::db::connect(&config.db).await?;
            taskforce_server::db::seed::seed(&db, &catalogue).await?;
            db
        } else if looking {
            taskforce_server::db::connect_existing(&config.db).await?
        } else {
            taskforce_server::db::connect(&config.db).await?
        };
        if args.outbox {
            return show_outbox(&db).await;
        }
        if args.retry_failed {
            let n = outbox::retry_failed(&db, chrono::Utc::now().timestamp()).await?;
            println!("{n} mails given up are to be sent again");
            let Some(sender) = sender::Sender::new(&settings)? else {
                anyhow::bail!("mail.smtp_host: no SMTP server is configured, nothing can be sent");
            };
            let done = sender::deliver_due(&db, &sender, &settings).await?;
            println!(
                "delivered {}, to be tried again {}, given up {}",
                done.sent, done.later, done.failed
            );
            return Ok(());
        }
        let now = chrono::Utc::now();
        let local_day = now.with_timezone(&settings.time_zone).date_naive();
        let due: Vec<Due> = if args.now {
            kinds(args.only)
                .into_iter()
                .map(|kind| Due {
                    kind,
                    period: format!("{}{}", schedule::MANUAL, now.timestamp()),
                    day: local_day,
                })
                .collect()
        } else {
            let wanted = kinds(args.only);
            schedule::due(&settings, now)
                .into_iter()
                .filter(|d| wanted.contains(&d.kind))
                .collect()
        };
        if due.is_empty() {
            println!("nothing is due (the schedule's times have not come yet today)");
            return Ok(());
        }
        if args.dry_run {
            // Nobody configured: show the Ministry Office's and the Minister's mails as a
            // Vietnamese reader would get them.
            let wants = |r: &RecipientRole, k: Kind| match k {
                Kind::OfficeDigest => *r == RecipientRole::MinistryOffice,
                Kind::MinisterSummary => *r == RecipientRole::Minister,
                Kind::UnitReminders => matches!(r, RecipientRole::UnitLead(_)),
            };
            for (kind, addr, role) in [
                (
                    Kind::OfficeDigest,
                    "Văn phòng Bộ <vanphong@example.invalid>",
                    RecipientRole::MinistryOffice,
                ),
                (
                    Kind::MinisterSummary,
                    "Bộ trưởng <botruong@example.invalid>",
                    RecipientRole::Minister,
                ),
            ] {
                if !settings.recipients.iter().any(|r| wants(&r.role, kind)) {
                    settings.recipients.push(placeholder(addr, role)?);
                }
            }
            for d in &due {
                if d.kind == Kind::UnitReminders
                    && !settings.recipients.iter().any(|r| wants(&r.role, d.kind))
                {
                    println!(
                        "(unit reminders: no unit lead configured — --mail-recipient unit_lead/UNIT=ADDRESS)\n"
                    );
                    continue;
                }
                let (mails, _) = schedule::mails_of(&db, &catalogue, &settings, d, now.timestamp())
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", d.kind.as_str()))?;
                if mails.is_empty() {
                    println!("({}: nothing to say)\n", d.kind.as_str());
                }
                for m in mails {
                    println!("To: {}", m.recipient);
                    println!("Subject: {}", m.rendered.subject);
                    println!("Content-Language: {}\n", m.language);
                    println!("{}", m.rendered.text);
                    println!("{}\n", "=".repeat(72));
                }
            }
            return Ok(());
        }
        let Some(sender) = sender::Sender::new(&settings)? else {
            anyhow::bail!(
                "mail.smtp_host: no SMTP server is configured, nothing can be sent (--dry-run prints the mails)"
            );
        };
        for d in &due {
            let outcome = schedule::decide(&db, &catalogue, &settings, d)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", d.kind.as_str()))?;
            match outcome {
                Decided::Mails(n) => println!("{} {}: {n} mails written to the outbox", d.kind.as_str(), d.period),
                Decided::AlreadyDecided => println!("{} {}: already decided", d.kind.as_str(), d.period),
                Decided::NoRecipients => println!("{}: nobody receives it (mail.recipients)", d.kind.as_str()),
            }
        }
        let done = sender::deliver_due(&db, &sender, &settings).await?;
        println!(
            "delivered {}, to be tried again {}, given up {}",
            done.sent, done.later, done.failed
        );
        for (state, n) in outbox::counts(&db).await? {
            println!("outbox {state}: {n}");
        }
        Ok(())
    })
}

/// The outbox's states, then every mail not delivered, oldest first.
async fn show_outbox(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use taskforce_server::db::entity::mail_outbox;
    for (state, n) in outbox::counts(db).await? {
        println!("outbox {state}: {n}");
    }
    let waiting = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::State.ne("sent"))
        .order_by_asc(mail_outbox::Column::Id)
        .all(db)
        .await?;
    for m in waiting {
        println!(
            "#{} {} {} to {} · {} attempts, {} refused · next {} · {}",
            m.id,
            m.state,
            m.kind,
            m.recipient,
            m.attempts,
            m.refusals,
            chrono::DateTime::from_timestamp(m.next_attempt_at, 0)
                .map_or_else(|| m.next_attempt_at.to_string(), |t| t.to_rfc3339()),
            m.last_error.as_deref().unwrap_or("—")
        );
    }
    Ok(())
}
