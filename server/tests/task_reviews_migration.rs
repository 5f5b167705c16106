//! The step that adds the Ministry Office's marks to the task projection (issue 20) on rows
//! stored before it, on SQLite and PostgreSQL: a task reported done reads as reported, any
//! other as open, none urged — what mobile-core's rules say of a document without reviews.

mod common;

use common::{TestDb, runtime};
use sea_orm::{ConnectionTrait, Database, Statement};
use taskforce_migrations::{Migrator, MigratorTrait};

fn rows_stored_before_the_step_read_as_the_rules_say(db: TestDb) {
    runtime().block_on(async {
        let conn = Database::connect(db.url())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let backend = conn.get_database_backend();
        // The steps before this one (later steps may follow it).
        let before = Migrator::migrations()
            .iter()
            .position(|m| m.name() == "m20200202_000014_task_reviews")
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or_else(|| panic!("no task reviews step"));
        Migrator::up(&conn, Some(before))
            .await
            .unwrap_or_else(|e| panic!("up to the step before: {e}"));
        for (task, status) in [("a0", "done"), ("a1", "in_progress"), ("a2", "blocked")] {
            conn.execute_raw(Statement::from_string(
                backend,
                format!(
                    "INSERT INTO tasks (directive_id, unit_id, task_ref, status, progress, \
                     conflicted, updated_at) VALUES ('05-ct-btttt', 'cuc-vt', '{task}', \
                     '{status}', 10, false, 1)"
                ),
            ))
            .await
            .unwrap_or_else(|e| panic!("insert {task}: {e}"));
        }
        Migrator::up(&conn, None)
            .await
            .unwrap_or_else(|e| panic!("up: {e}"));
        let rows = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT task_ref, review, urges, last_urged_at FROM tasks ORDER BY task_ref"
                    .to_string(),
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let read: Vec<(String, String, i32, Option<i64>)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("", "task_ref").unwrap_or_default(),
                    r.try_get("", "review").unwrap_or_default(),
                    r.try_get("", "urges").unwrap_or(-1),
                    r.try_get("", "last_urged_at").unwrap_or(Some(-1)),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                ("a0".to_string(), "reported".to_string(), 0, None),
                ("a1".to_string(), "open".to_string(), 0, None),
                ("a2".to_string(), "open".to_string(), 0, None),
            ]
        );
    });
}

on_every_store!(rows_stored_before_the_step_read_as_the_rules_say);
