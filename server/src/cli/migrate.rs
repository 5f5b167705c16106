//! `taskforce migrate [--down]`.

use taskforce_migrations::{Migrator, MigratorTrait};
use taskforce_server::db;

pub fn migrate(url: &str, down: bool) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let db = db::connect(url).await?;
        if down {
            Migrator::down(&db, None).await?;
            println!("all migrations undone");
        } else {
            println!("migrations up to date");
        }
        Ok(())
    })
}
