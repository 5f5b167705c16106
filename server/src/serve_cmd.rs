//! `taskforce serve`, `taskforce user …`, `taskforce migrate`.

use std::io::BufRead;

use anyhow::Context;
use taskforce_migrations::{Migrator, MigratorTrait};
use taskforce_server::{
    accounts,
    app::{self, build_state, connect},
    auth::Role,
    config::Config,
    memory,
};
use tracing_subscriber::EnvFilter;

use crate::cli::{ServeArgs, UserCommand};

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

fn config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut c = match &args.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(db) = &args.db {
        c.db.clone_from(db);
    }
    if let Some(bind) = &args.bind {
        c.bind.clone_from(bind);
    }
    if args.workers.is_some() {
        c.workers = args.workers;
    }
    if let Some(mb) = args.doc_cache_mb {
        c.doc_cache_mb = mb;
    }
    if args.catalogue.is_some() {
        c.catalogue.clone_from(&args.catalogue);
    }
    Ok(c)
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before any thread starts (decisions 25, 26).
    memory::limit_arenas();
    init_tracing();
    let config = config(&args)?;
    memory::trim_periodically().context("starting the memory-trim thread")?;
    memory::purge_in_background();
    actix_web::rt::System::new().block_on(async move {
        let state = build_state(config).await?;
        if args.demo {
            demo_accounts(&state.db).await?;
        }
        let db_url = app::redact(&state.config.db);
        let (server, addr) = app::start(state)?;
        tracing::info!(%addr, db = %db_url, "taskforce is listening");
        println!("taskforce listening on http://{addr} (database {db_url})");
        server.await.context("server stopped")
    })
}

/// One account per role, for a few units; passwords are random and printed once.
async fn demo_accounts(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    /// Username, display name, role, memberships (unit, lead).
    type Demo = (
        &'static str,
        &'static str,
        Role,
        &'static [(&'static str, bool)],
    );
    let people: [Demo; 7] = [
        ("vanphong", "Văn phòng Bộ", Role::MinistryOffice, &[]),
        ("botruong", "Bộ trưởng", Role::Minister, &[]),
        ("admin", "Quản trị", Role::Admin, &[]),
        (
            "cucvt.lead",
            "Trưởng nhóm Cục Viễn thông",
            Role::Member,
            &[("cuc-vt", true)],
        ),
        (
            "cucvt.a",
            "Cán bộ Cục Viễn thông A",
            Role::Member,
            &[("cuc-vt", false)],
        ),
        (
            "cucvt.b",
            "Cán bộ Cục Viễn thông B",
            Role::Member,
            &[("cuc-vt", false)],
        ),
        (
            "viettel.a",
            "Đầu mối Viettel",
            Role::Member,
            &[("viettel", false)],
        ),
    ];
    println!("Demo accounts (tài khoản thử nghiệm):");
    for (username, name, role, units) in people {
        let mut bytes = [0u8; 9];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let units: Vec<(String, bool)> =
            units.iter().map(|(u, l)| ((*u).to_string(), *l)).collect();
        match accounts::create_user(db, username, name, &password, role, &units, None).await {
            Ok(_) => println!("  {username:<12} {password}  ({})", role.as_str()),
            Err(taskforce_server::error::ApiError::Conflict(_)) => {
                println!(
                    "  {username:<12} (exists; `taskforce user passwd {username}` sets a new password)"
                );
            }
            Err(e) => return Err(anyhow::anyhow!("demo account {username}: {e}")),
        }
    }
    Ok(())
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
                let db = connect(&db.db).await?;
                let catalogue = taskforce_core::directive::Catalogue::bundled()?;
                taskforce_server::seed::seed(&db, &catalogue).await?;
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
                let db = connect(&db.db).await?;
                accounts::set_password(&db, &username, &password, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("password of {username} changed; their sessions have ended");
            }
        }
        Ok(())
    })
}

pub fn migrate(url: &str, down: bool) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let db = connect(url).await?;
        if down {
            Migrator::down(&db, None).await?;
            println!("all migrations undone");
        } else {
            println!("migrations up to date");
        }
        Ok(())
    })
}
