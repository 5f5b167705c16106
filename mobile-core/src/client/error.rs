//! The client's errors: a few kinds an app can act on, each with a message for a person.

use crate::{doc::DocError, store::StoreError, sync::SyncError};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    /// No connection, a timeout, or a server error: retry later; nothing is lost.
    #[error("network: {0}")]
    Network(String),
    /// Signed out, or the session expired: sign in again.
    #[error("unauthorised: {0}")]
    Unauthorized(String),
    /// The user may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The server's copy disagrees in a way a retry will not fix (the directive changed).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input was refused (an unknown task, a progress over 100, a text too long …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The local database failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        ClientError::Storage(e.to_string())
    }
}

impl From<DocError> for ClientError {
    fn from(e: DocError) -> Self {
        ClientError::InvalidInput(e.to_string())
    }
}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> Self {
        ClientError::Conflict(e.to_string())
    }
}

/// The error a server reply carries.
pub fn from_reply(status: u16, body: &serde_json::Value) -> ClientError {
    let message = body["message"].as_str().unwrap_or("no message").to_string();
    match status {
        401 => ClientError::Unauthorized(message),
        403 => ClientError::Forbidden(message),
        409 => ClientError::Conflict(message),
        400 | 404 | 413 => ClientError::InvalidInput(message),
        _ => ClientError::Network(format!("server answered {status}: {message}")),
    }
}
