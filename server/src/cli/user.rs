//! `taskforce user add|passwd|list|devices|revoke-device|disable|enable` and `taskforce member
//! add`: accounts from the command line. They write the database directly: a running server
//! sees a revocation or a disabled account within 5 s (`auth::CALLER_TTL`, `auth::DEVICE_TTL`).

use std::{io::BufRead, path::PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use taskforce_server::{
    accounts::{self, NewUser, Quotas},
    auth::Role,
    config::Config,
    db,
};

use super::DbArg;

/// The server's config file, for its quotas (`devices_per_user`, `members_per_unit`, the
/// lengths of names); without it, the defaults.
#[derive(Debug, Args)]
pub struct QuotaArg {
    #[arg(long, env = "TASKFORCE_CONFIG")]
    pub config: Option<PathBuf>,
}

impl QuotaArg {
    fn quotas(&self) -> anyhow::Result<Quotas> {
        Ok(match &self.config {
            Some(p) => Quotas::of(&Config::from_file(p)?),
            None => Quotas::default(),
        })
    }
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
        #[command(flatten)]
        quota: QuotaArg,
    },
    /// Set a user's password (read like `user add`'s); ends the user's sessions.
    Passwd {
        #[command(flatten)]
        db: DbArg,
        username: String,
    },
    /// List every account: username, role, whether disabled, units (a `*` marks a lead).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// List a user's devices: actor id, registered, revoked, name.
    Devices {
        #[command(flatten)]
        db: DbArg,
        username: String,
    },
    /// Revoke a device (a lost phone) by its actor id: its later syncs are refused; what it
    /// wrote stays.
    RevokeDevice {
        #[command(flatten)]
        db: DbArg,
        actor: u32,
    },
    /// Disable an account: its sessions end and it cannot sign in.
    Disable {
        #[command(flatten)]
        db: DbArg,
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        #[command(flatten)]
        db: DbArg,
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add an existing account to a unit.
    Add {
        #[command(flatten)]
        db: DbArg,
        unit: String,
        username: String,
        /// Make the user the unit's lead.
        #[arg(long)]
        lead: bool,
        #[command(flatten)]
        quota: QuotaArg,
    },
}

/// An account refusal as the command's error: its message (Vietnamese and English).
fn refused(e: taskforce_server::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` UTC.
fn when(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(
        || at.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("TASKFORCE_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn user(cmd: UserCommand) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        match cmd {
            UserCommand::Add {
                db,
                username,
                role,
                units,
                leads,
                name,
                quota,
            } => {
                let quotas = quota.quotas()?;
                let role = Role::parse(&role).with_context(|| {
                    format!("unknown role {role}: use member, ministry_office, minister or admin")
                })?;
                let password = read_password()?;
                let db = db::connect(&db.db).await?;
                let catalogue = taskforce_core::directive::Catalogue::bundled()?;
                db::seed::seed(&db, &catalogue).await?;
                let memberships: Vec<(String, bool)> = units
                    .into_iter()
                    .map(|u| (u, false))
                    .chain(leads.into_iter().map(|u| (u, true)))
                    .collect();
                let new = NewUser {
                    username: &username,
                    display_name: &name,
                    password: &password,
                    role,
                    units: &memberships,
                };
                let id = accounts::create_user_within(&db, &quotas, &new, None)
                    .await
                    .map_err(refused)?;
                println!("created user {username} (id {id}, {})", role.as_str());
            }
            UserCommand::Passwd { db, username } => {
                let password = read_password()?;
                let db = db::connect(&db.db).await?;
                accounts::set_password(&db, &username, &password, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("password of {username} changed; their sessions have ended");
            }
            UserCommand::List { db } => {
                let db = db::connect(&db.db).await?;
                let mut page = 1;
                loop {
                    let (users, total) = accounts::list_users(&db, page, accounts::MAX_PAGE)
                        .await
                        .map_err(refused)?;
                    if page == 1 {
                        println!("{total} users");
                    }
                    for u in &users {
                        let units: Vec<String> = u
                            .units
                            .iter()
                            .map(|m| format!("{}{}", m.unit, if m.lead { "*" } else { "" }))
                            .collect();
                        println!(
                            "{:<24} {:<16} {:<9} {}",
                            u.username,
                            u.role.as_str(),
                            if u.disabled { "disabled" } else { "enabled" },
                            units.join(",")
                        );
                    }
                    if (users.len() as u64) < accounts::MAX_PAGE {
                        break;
                    }
                    page += 1;
                }
            }
            UserCommand::Devices { db, username } => {
                let db = db::connect(&db.db).await?;
                let devices = accounts::devices_of(&db, &username)
                    .await
                    .map_err(refused)?;
                println!("{} devices of {username}", devices.len());
                for d in devices {
                    let revoked = d
                        .revoked_at
                        .map_or_else(|| "-".to_string(), |at| format!("revoked {}", when(at)));
                    println!(
                        "{:>8}  {}  {:<27}  {}",
                        d.actor_id,
                        when(d.created_at),
                        revoked,
                        d.name
                    );
                }
            }
            UserCommand::RevokeDevice { db, actor } => {
                let db = db::connect(&db.db).await?;
                let d = accounts::revoke_device(&db, actor, None)
                    .await
                    .map_err(refused)?;
                println!(
                    "device {actor} ({}) revoked at {}; running servers refuse its syncs within 5 s",
                    d.name,
                    when(d.revoked_at.unwrap_or_default())
                );
            }
            UserCommand::Disable { db, username } => {
                let db = db::connect(&db.db).await?;
                accounts::set_disabled(&db, &username, true, None)
                    .await
                    .map_err(refused)?;
                println!(
                    "{username} disabled; their sessions have ended (running servers: within 5 s)"
                );
            }
            UserCommand::Enable { db, username } => {
                let db = db::connect(&db.db).await?;
                accounts::set_disabled(&db, &username, false, None)
                    .await
                    .map_err(refused)?;
                println!("{username} enabled; they sign in again");
            }
        }
        Ok(())
    })
}

pub fn member(cmd: MemberCommand) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        match cmd {
            MemberCommand::Add {
                db,
                unit,
                username,
                lead,
                quota,
            } => {
                let quotas = quota.quotas()?;
                let db = db::connect(&db.db).await?;
                accounts::add_membership(&db, &quotas, &username, &unit, lead, None)
                    .await
                    .map_err(refused)?;
                let role = if lead { "lead" } else { "member" };
                println!("{username} added to {unit} as {role}");
            }
        }
        Ok(())
    })
}
