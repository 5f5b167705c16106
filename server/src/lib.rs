//! The taskforce server: accounts and devices, the sync API over mobile-core's protocol, and
//! persistence through sea-orm on SQLite (embedded default) or PostgreSQL (production).

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod docstore;
pub mod entity;
pub mod error;
pub mod exports;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod progress;
pub mod progress_api;
pub mod seed;
pub mod state;
pub mod sync_api;
pub mod writer;
