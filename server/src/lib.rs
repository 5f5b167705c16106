//! The taskforce server: accounts and devices, the sync API over mobile-core's protocol, the
//! Ministry Office's dashboard, and persistence through sea-orm on SQLite (embedded default)
//! or PostgreSQL (production).
//!
//! Modules by layer, each using only those below it (a test holds it):
//! - the edge: `startup` (the app and its middleware), `routes` (the JSON API and exports),
//!   `dashboard` (HTML pages), `http` (what those two share);
//! - `state`: what every handler is given;
//! - services: `sync` (the write path: group commit, compactor, projections), `accounts`,
//!   `progress` (the Ministry Office's read models), `audit` (the op log's hash chains and
//!   signatures re-checked; exports), `task_history` (a task's operations read back from the op
//!   log);
//! - `docstore` (documents: rows, snapshots, change logs, the decoded cache), `auth` (roles,
//!   passwords, tokens);
//! - foundations: `db` (connection, entities, seed), `telemetry`, `config`, `clock`, `error`,
//!   `tls` (the HTTPS listener's certificate and key).

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod docstore;
pub mod drafts;
pub mod error;
pub mod events;
pub mod hotlines;
pub mod http;
pub mod mail;
pub mod office;
pub mod progress;
pub mod revisions;
pub mod routes;
pub mod startup;
pub mod state;
pub mod sync;
pub mod task_history;
pub mod telemetry;
pub mod tls;
