//! sea-orm entities, one module per table of `migrations/`.
//!
//! The migration test runs every migration up, down and up again, and every query below runs
//! in the integration tests on SQLite and PostgreSQL, so a drift between the two fails a test.

pub mod assignments;
pub mod audit_log;
pub mod cdr_mappings;
pub mod changes;
pub mod clauses;
pub mod confirmations;
pub mod device_challenges;
pub mod devices;
pub mod directive_drafts;
pub mod directives;
pub mod documents;
pub mod hotlines;
pub mod mail_outbox;
pub mod mail_runs;
pub mod memberships;
pub mod progress_history;
pub mod reports;
pub mod settings;
pub mod tasks;
pub mod tokens;
pub mod units;
pub mod users;
pub mod verifications;
