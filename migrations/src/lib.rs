//! taskforce's database schema, one migration per step, each with `up` and `down`. The same
//! code runs on SQLite (the embedded default) and PostgreSQL (production). Times are stored as
//! Unix seconds and dates as `YYYY-MM-DD` text, identically on both.

// `MigrationTrait` is an `async_trait`: its methods must take `&SchemaManager` with the
// lifetime elided, which `rust_2018_idioms` would otherwise flag.
#![allow(elided_lifetimes_in_paths)]

pub use m20200202_000018_hotlines::VERIFIER;
pub use sea_orm_migration::prelude::*;

mod m20200202_000001_directory;
mod m20200202_000002_accounts;
mod m20200202_000003_sync;
mod m20200202_000004_projections;
mod m20200202_000005_progress_history;
mod m20200202_000006_document_tail;
mod m20200202_000007_latest_report_index;
mod m20200202_000008_device_challenges;
mod m20200202_000009_audit_chain;
mod m20200202_000010_account_controls;
mod m20200202_000011_settings;
mod m20200202_000012_audit_seals;
mod m20200202_000013_changes_by_time;
mod m20200202_000014_task_reviews;
mod m20200202_000015_directive_drafts;
mod m20200202_000016_directive_revisions;
mod m20200202_000017_mail;
mod m20200202_000018_hotlines;

#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20200202_000001_directory::Migration),
            Box::new(m20200202_000002_accounts::Migration),
            Box::new(m20200202_000003_sync::Migration),
            Box::new(m20200202_000004_projections::Migration),
            Box::new(m20200202_000005_progress_history::Migration),
            Box::new(m20200202_000006_document_tail::Migration),
            Box::new(m20200202_000007_latest_report_index::Migration),
            Box::new(m20200202_000008_device_challenges::Migration),
            Box::new(m20200202_000009_audit_chain::Migration),
            Box::new(m20200202_000010_account_controls::Migration),
            Box::new(m20200202_000011_settings::Migration),
            Box::new(m20200202_000012_audit_seals::Migration),
            Box::new(m20200202_000013_changes_by_time::Migration),
            Box::new(m20200202_000014_task_reviews::Migration),
            Box::new(m20200202_000015_directive_drafts::Migration),
            Box::new(m20200202_000016_directive_revisions::Migration),
            Box::new(m20200202_000017_mail::Migration),
            Box::new(m20200202_000018_hotlines::Migration),
        ]
    }
}
