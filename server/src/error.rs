//! Errors at the HTTP edge: `{"error": "code", "message": "…"}` with the right status. A 500
//! logs its cause and sends an opaque body.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use taskforce_core::{
    doc::DocError,
    sync::{SyncError, WireError},
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidOp(String),
    #[error("sign in first: the bearer token is missing, unknown or expired")]
    Unauthorized,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("change {start} of actor {actor} was not made by this device")]
    ForgedActor { actor: u32, start: u64 },
    #[error("the change of actor {actor} from {start} does not carry this device's signature")]
    BadSignature { actor: u32, start: u64 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("operations of actor {actor} are missing: send {from} to {to} first")]
    Gap {
        actor: u32,
        have: u64,
        from: u64,
        to: u64,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("the body is {size} bytes; at most {limit} are accepted here")]
    TooLarge { size: usize, limit: usize },
    #[error("too many attempts; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidOp(_) => "invalid_operation",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadCredentials => "bad_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::ForgedActor { .. } => "forged_actor",
            ApiError::BadSignature { .. } => "bad_signature",
            ApiError::NotFound(_) => "not_found",
            ApiError::Gap { .. } => "gap",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<WireError> for ApiError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::TooLarge { size, limit } => ApiError::TooLarge { size, limit },
            other => ApiError::BadRequest(format!("not a sync message: {other}")),
        }
    }
}

impl From<DocError> for ApiError {
    fn from(e: DocError) -> Self {
        match e {
            DocError::Gap { actor, have, from } => ApiError::Gap {
                actor,
                have,
                from: have + 1,
                to: from.saturating_sub(1),
            },
            DocError::Mismatch(m) => ApiError::Conflict(m.to_string()),
            other => ApiError::InvalidOp(other.to_string()),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Doc(d) => d.into(),
            SyncError::BadSignature { actor, start } => ApiError::BadSignature { actor, start },
            SyncError::Forbidden(a) => ApiError::Forbidden(format!("actor {a} may not write here")),
            SyncError::WrongDocument(k) => {
                ApiError::NotFound(format!("document {}/{}", k.directive, k.unit))
            }
        }
    }
}

/// Every error the API answers: a stable code to act on and a message for people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `gap`, `too_large` …
    error: String,
    message: String,
    /// For `gap`: the changes the server lacks before it can take the device's.
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<Missing>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Missing {
    actor: u32,
    have: u64,
    from: u64,
    to: u64,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidOp(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_)
            | ApiError::ForgedActor { .. }
            | ApiError::BadSignature { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gap { .. } | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let missing = match self {
            ApiError::Gap {
                actor,
                have,
                from,
                to,
            } => Some(Missing {
                actor: *actor,
                have: *have,
                from: *from,
                to: *to,
            }),
            _ => None,
        };
        let mut builder = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests { retry_after } = self {
            builder.insert_header(("Retry-After", retry_after.to_string()));
        }
        builder.json(ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
            missing,
        })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
