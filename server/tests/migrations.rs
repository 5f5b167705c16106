//! Every migration runs up, down and up again, on SQLite and on PostgreSQL.

mod common;

use common::{TestDb, runtime};
use sea_orm::{ConnectionTrait, Database, Statement};
use taskforce_migrations::{Migrator, MigratorTrait};

const TABLES: [&str; 20] = [
    "units",
    "directives",
    "clauses",
    "assignments",
    "users",
    "memberships",
    "tokens",
    "devices",
    "audit_log",
    "documents",
    "changes",
    "tasks",
    "reports",
    "confirmations",
    "progress_history",
    "device_challenges",
    "settings",
    "directive_drafts",
    "mail_runs",
    "mail_outbox",
];

fn up_down_up(db: TestDb) {
    runtime().block_on(async {
        let conn = Database::connect(db.url())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let backend = conn.get_database_backend();
        let count = |table: &'static str| {
            let conn = &conn;
            async move {
                conn.query_one_raw(Statement::from_string(
                    backend,
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
            }
        };
        for round in 0..2 {
            Migrator::up(&conn, None)
                .await
                .unwrap_or_else(|e| panic!("up (round {round}): {e}"));
            for t in TABLES {
                assert!(count(t).await.is_ok(), "{t} missing after up");
            }
            let pending = Migrator::get_pending_migrations(&conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(pending.is_empty());
            if round == 0 {
                Migrator::down(&conn, None)
                    .await
                    .unwrap_or_else(|e| panic!("down: {e}"));
                for t in TABLES {
                    assert!(count(t).await.is_err(), "{t} still there after down");
                }
            }
        }
        // One step at a time, too: the last step adds the device challenges, the one before
        // it the reports' index by unit and time, then the documents' tail columns, then the
        // progress history.
        let column = |sql: &'static str| {
            let conn = &conn;
            async move {
                conn.query_one_raw(Statement::from_string(backend, sql.to_string()))
                    .await
            }
        };
        let index = if backend == sea_orm::DatabaseBackend::Postgres {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'reports_unit_at'"
        } else {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'reports_unit_at'"
        };
        let indexed = || {
            let conn = &conn;
            async move {
                conn.query_one_raw(Statement::from_string(backend, index.to_string()))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            }
        };
        assert_eq!(indexed().await, Some(1), "the reports' index");
        // The last step: hotline-free billing (decision 46), seeded with the 2020 hotlines
        // and the verifier's reserved account; undone, then mail (decision 45).
        assert!(count("hotlines").await.is_ok());
        assert!(count("verifications").await.is_ok() && count("cdr_mappings").await.is_ok());
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(count("hotlines").await.is_err(), "hotlines still there");
        assert!(count("mail_runs").await.is_ok() && count("mail_outbox").await.is_ok());
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(count("mail_runs").await.is_err(), "mail_runs still there");
        assert!(
            count("mail_outbox").await.is_err(),
            "mail_outbox still there"
        );
        // The one before: revisions (decision 44).
        let revision = "SELECT revision FROM directives";
        let brought = "SELECT revision FROM documents";
        assert!(column(revision).await.is_ok() && column(brought).await.is_ok());
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            column(revision).await.is_err(),
            "directives.revision still there"
        );
        assert!(
            column(brought).await.is_err(),
            "documents.revision still there"
        );
        assert!(count("directive_drafts").await.is_ok());
        // The one before: directive drafts, and a published directive's text and overrides.
        let source = "SELECT source, overrides FROM directives";
        assert!(column(source).await.is_ok());
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            count("directive_drafts").await.is_err(),
            "drafts still there"
        );
        assert!(column(source).await.is_err(), "source columns still there");
        assert!(count("directives").await.is_ok());
        Migrator::up(&conn, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(count("directive_drafts").await.is_ok() && column(source).await.is_ok());
        assert!(column(revision).await.is_ok() && column(brought).await.is_ok());
        assert!(count("mail_outbox").await.is_ok());
        // The steps after the device challenges' (issue 19's), all at once.
        let after_challenges = Migrator::migrations().len() as u32 - 8;
        Migrator::down(&conn, Some(after_challenges))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(count("settings").await.is_err(), "settings still there");
        assert!(count("device_challenges").await.is_ok());
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            count("device_challenges").await.is_err(),
            "device_challenges still there"
        );
        assert_eq!(indexed().await, Some(1), "the reports' index");
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(indexed().await, Some(0), "the reports' index still there");
        let tail = "SELECT state_ops, head FROM documents";
        assert!(column(tail).await.is_ok());
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(column(tail).await.is_err(), "tail columns still there");
        assert!(count("documents").await.is_ok() && count("progress_history").await.is_ok());
        Migrator::down(&conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(count("progress_history").await.is_err() && count("tasks").await.is_ok());
        Migrator::up(&conn, None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(count("progress_history").await.is_ok());
        assert!(column(tail).await.is_ok());
        assert_eq!(indexed().await, Some(1));
        assert!(count("device_challenges").await.is_ok());
    });
}

on_every_store!(up_down_up);
