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
    /// The task was accepted by the Ministry Office and is locked: the unit's edits to it
    /// are refused until it is returned (decision 39).
    #[error("locked: {0}")]
    Locked(String),
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
        // `document_full`: the unit's document has no room for these changes; retrying cannot
        // help. The server's message (Vietnamese and English) says which limit.
        422 => ClientError::InvalidInput(message),
        _ => ClientError::Network(format!("server answered {status}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server whose sync writer is overloaded answers 503 `overloaded`: a `Network` error,
    /// which `sync()` retries, keeping the edits queued; not an error the app must act on.
    #[test]
    fn an_overloaded_server_is_a_network_error_to_retry() {
        let body = serde_json::json!({
            "error": "overloaded",
            "message": "máy chủ đang quá tải; hãy đồng bộ lại sau 1 giây / the server is overloaded; sync again in 1 seconds",
        });
        match from_reply(503, &body) {
            ClientError::Network(m) => {
                assert!(m.contains("503") && m.contains("overloaded"), "{m}");
            }
            other => panic!("503 must be retried, not {other:?}"),
        }
        // So are the other statuses that say "later", with or without a body.
        for status in [429, 500, 502, 504] {
            let e = from_reply(status, &serde_json::Value::Null);
            assert!(matches!(e, ClientError::Network(_)), "{status}: {e:?}");
        }
    }

    /// A unit's full document answers 422 `document_full`: an error the app shows (with the
    /// server's message), not a network error retried for ever.
    #[test]
    fn a_full_document_is_refused_input_the_app_shows() {
        let message = "tài liệu của đơn vị đã đầy: … / the unit's document is full: …";
        let body = serde_json::json!({ "error": "document_full", "message": message });
        assert_eq!(
            from_reply(422, &body),
            ClientError::InvalidInput(message.to_string())
        );
    }
}
