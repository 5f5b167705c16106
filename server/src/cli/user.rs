//! `taskforce user add|passwd`: accounts from the command line.

use std::io::BufRead;

use anyhow::Context;
use clap::Subcommand;
use taskforce_server::{accounts, auth::Role, db};

use super::DbArg;

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
            } => {
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
                let id = accounts::create_user(
                    &db,
                    &username,
                    &name,
                    &password,
                    role,
                    &memberships,
                    None,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
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
        }
        Ok(())
    })
}
