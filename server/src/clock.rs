//! The server's clock.

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
