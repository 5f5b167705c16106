//! Test databases: a fresh SQLite file, or a PostgreSQL database made for the test and dropped
//! after (`TASKFORCE_TEST_PG`, else a server started with `ops/pg.sh`; unavailable is a failure
//! under `CI=true` and a visible skip elsewhere), and `on_every_store!`, one test per store.
//! No server code: `common/mod.rs` re-exports it for the server's tests, and
//! `ops/loadgen/tests/loadgen.rs` includes this file alone (`#[path]`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database};

pub static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The PostgreSQL server the tests use: `TASKFORCE_TEST_PG` (an admin URL) when set, else
/// one the harness starts with `ops/pg.sh`. Unavailable in CI is a failure; elsewhere the
/// test says it skips.
pub fn pg_admin_url() -> Option<String> {
    static URL: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let url = URL.get_or_init(|| match std::env::var("TASKFORCE_TEST_PG") {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => {
            // The workspace's ops/pg.sh, from whichever crate includes this harness.
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|d| d.join("ops/pg.sh"))
                .find(|p| p.is_file())
                .ok_or_else(|| "no ops/pg.sh above this crate".to_string());
            let dir = std::env::temp_dir().join("taskforce-test-pg");
            script.and_then(|script| {
                std::process::Command::new("bash")
                    .arg(script)
                    .args(["start", &dir.to_string_lossy(), "55433"])
                    .output()
                    .map_err(|e| e.to_string())
                    .and_then(|o| {
                        if o.status.success() {
                            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
                        } else {
                            Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                        }
                    })
            })
        }
    });
    match url {
        Ok(url) => Some(url.clone()),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and no PostgreSQL: {why}")
        }
        Err(why) => {
            eprintln!(
                "SKIPPED (PostgreSQL unavailable: {why}); set TASKFORCE_TEST_PG=postgres://…"
            );
            None
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// A database for one test, removed when dropped.
pub enum TestDb {
    Sqlite {
        dir: std::path::PathBuf,
        url: String,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(unique("taskforce-test"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}?mode=rwc", dir.join("taskforce.db").display());
        TestDb::Sqlite { dir, url }
    }

    pub fn postgres() -> Option<Self> {
        let admin = pg_admin_url()?;
        let name = unique("tf_test");
        runtime().block_on(async {
            let db = Database::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
            db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        });
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_string();
        let url = format!("{base}/{name}");
        Some(TestDb::Postgres { admin, name, url })
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres { admin, name, .. } => {
                let (admin, name) = (admin.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    runtime().block_on(async {
                        if let Ok(db) = Database::connect(&admin).await {
                            let _ = db
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                        }
                    })
                })
                .join();
            }
        }
    }
}

/// Generate one test per store from a scenario taking a `TestDb`.
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::common::TestDb::sqlite()); } )*
        }
        mod postgres {
            $( #[test] fn $name() { if let Some(db) = super::common::TestDb::postgres() { super::$name(db); } } )*
        }
    };
}
