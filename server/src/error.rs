//! Errors at the HTTP edge: `{"error": "code", "message": "…"}` with the right status. A 500
//! logs its cause and sends an opaque body.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use taskforce_core::{
    doc::{DocError, DocLimit},
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
    #[error(
        "thiết bị đã khôi phục hoặc sao chép dữ liệu cũ: các thao tác của tác nhân {actor} từ số {start} khác với bản máy chủ đã lưu; hãy đăng ký lại thiết bị / this device's store was restored or copied: actor {actor}'s operations from {start} differ from those stored under the same numbers; register the device again"
    )]
    Reused { actor: u32, start: u64 },
    #[error("the body is {size} bytes; at most {limit} are accepted here")]
    TooLarge { size: usize, limit: usize },
    /// A request body in a content coding (`Content-Encoding: gzip` …): refused unread, so a
    /// small compressed body cannot unpack into megabytes of the server's memory.
    #[error(
        "nội dung gửi lên không được nén (Content-Encoding: {0}); hãy gửi lại không nén / request bodies are not taken in a content coding (Content-Encoding: {0}); send it uncompressed"
    )]
    UnsupportedEncoding(String),
    /// The changes would take the unit's document past one of its limits (`doc::check_room`):
    /// none of them was taken. Sending them again cannot help; changes that do not grow the
    /// document (or, under the limit for new items, add none) still are taken.
    #[error(
        "tài liệu của đơn vị đã đầy: {vi} sẽ là {after}, vượt giới hạn {max}; các thay đổi này không được nhận / the unit's document is full: its {limit} would be {after}, past the limit of {max}; these changes were not taken",
        vi = .limit.label_vi()
    )]
    DocumentFull {
        limit: DocLimit,
        after: usize,
        max: usize,
    },
    /// Too many login attempts from the client (its address, the account, or its device
    /// token): the `Retry-After` header says when to try again.
    #[error(
        "quá nhiều lần thử; hãy thử lại sau {retry_after} giây / too many attempts; try again in {retry_after} seconds"
    )]
    TooManyRequests { retry_after: u64 },
    /// The sync writer's queue is full: nothing of the sync was taken; send it again later.
    #[error(
        "máy chủ đang quá tải; hãy đồng bộ lại sau {retry_after} giây / the server is overloaded; sync again in {retry_after} seconds"
    )]
    Overloaded { retry_after: u64 },
    #[error(transparent)]
    Registration(#[from] RegistrationRefused),
    #[error(transparent)]
    Account(#[from] AccountRefused),
    #[error(transparent)]
    Draft(#[from] DraftRefused),
    /// The database has no room left (its disk, or PostgreSQL's): nothing of the write was
    /// stored; the phones keep their changes and send them again.
    #[error(
        "bộ nhớ lưu trữ của máy chủ đã đầy; các thay đổi chưa được nhận, hãy đồng bộ lại sau / the server's storage is full; the changes were not taken, sync again later"
    )]
    StorageFull,
    /// The database refuses writes (a read-only file system, file or database): nothing of
    /// the write was stored; reads go on.
    #[error(
        "cơ sở dữ liệu của máy chủ đang ở chế độ chỉ đọc; các thay đổi chưa được nhận, hãy đồng bộ lại sau / the server's database is read-only; the changes were not taken, sync again later"
    )]
    StorageReadOnly,
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
            ApiError::Reused { .. } => "reused_sequence",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::UnsupportedEncoding(_) => "unsupported_encoding",
            ApiError::DocumentFull { .. } => "document_full",
            ApiError::TooManyRequests { .. } => "too_many_attempts",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::Registration(r) => r.code(),
            ApiError::Account(a) => a.code(),
            ApiError::Draft(d) => d.code(),
            ApiError::StorageFull => "storage_full",
            ApiError::StorageReadOnly => "storage_read_only",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// A storage fault (full, read-only) as such, for each of the syncs of a failed batch.
    pub fn storage_fault(&self) -> Option<ApiError> {
        match self {
            ApiError::StorageFull => Some(ApiError::StorageFull),
            ApiError::StorageReadOnly => Some(ApiError::StorageReadOnly),
            _ => None,
        }
    }
}

/// A database error that says the storage is full or read-only: SQLite's result codes
/// (`SQLITE_FULL`, `SQLITE_READONLY` and its extended codes) or PostgreSQL's SQLSTATE
/// (`53100` disk full, `25006` read-only transaction); or, on SQLite, busy past its timeout
/// (503 `overloaded`).
fn storage_fault(e: &sea_orm::DbErr) -> Option<ApiError> {
    let (code, sqlite) = database_code(e)?;
    if sqlite {
        // SQLite: the primary result code is the low byte of the extended one.
        return match code.parse::<i32>().ok()? & 0xff {
            13 => Some(ApiError::StorageFull),
            8 => Some(ApiError::StorageReadOnly),
            // SQLITE_BUSY / SQLITE_LOCKED past the busy timeout: another writer held the
            // database that long. Nothing was written; the client may try again shortly.
            5 | 6 => Some(ApiError::Overloaded { retry_after: 1 }),
            _ => None,
        };
    }
    match &*code {
        "53100" => Some(ApiError::StorageFull),
        "25006" => Some(ApiError::StorageReadOnly),
        _ => None,
    }
}

/// The driver's code of a database error, and whether it is SQLite's (else PostgreSQL's
/// SQLSTATE).
fn database_code(e: &sea_orm::DbErr) -> Option<(String, bool)> {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    let (DbErr::Conn(RuntimeErr::SqlxError(e))
    | DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))) = e
    else {
        return None;
    };
    let sqlx::Error::Database(db) = &**e else {
        return None;
    };
    let code = db.code()?.into_owned();
    Some((
        code,
        db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some(),
    ))
}

/// PostgreSQL's "could not serialize access" (SQLSTATE 40001): a REPEATABLE READ transaction
/// met a row another transaction committed after it began.
pub fn is_serialization_failure(e: &sea_orm::DbErr) -> bool {
    database_code(e).is_some_and(|(code, sqlite)| !sqlite && code == "40001")
}

/// Why a device registration was refused: its proof that the device holds the private key
/// (a signed challenge, issue 18) is missing or does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationRefused {
    #[error(
        "thiếu mã thử thách: hãy xin mã tại POST /api/v1/devices/challenge rồi ký bằng khóa của thiết bị / no challenge: ask POST /api/v1/devices/challenge for one and sign it with the device's key"
    )]
    ChallengeRequired,
    #[error(
        "máy chủ không cấp mã thử thách này; hãy xin mã mới / the server did not issue this challenge (or it was replaced by newer ones); ask for a new one"
    )]
    ChallengeUnknown,
    #[error(
        "mã thử thách đã hết hạn; hãy xin mã mới / this challenge has expired; ask for a new one"
    )]
    ChallengeExpired,
    #[error(
        "mã thử thách đã được dùng; hãy xin mã mới / this challenge has been used already; ask for a new one"
    )]
    ChallengeUsed,
    #[error(
        "mã thử thách này được cấp cho người dùng khác / this challenge was issued to another user"
    )]
    ChallengeOfAnotherUser,
    #[error(
        "chữ ký đăng ký không hợp lệ: thiết bị phải ký mã thử thách, tên người dùng, khóa công khai và tên thiết bị bằng khóa bí mật của chính khóa công khai đó / the registration signature does not verify: the device signs the challenge, the username, the public key and the device name with the private key of that public key"
    )]
    BadSignature,
}

impl RegistrationRefused {
    pub fn code(self) -> &'static str {
        match self {
            RegistrationRefused::ChallengeRequired => "challenge_required",
            RegistrationRefused::ChallengeUnknown => "challenge_unknown",
            RegistrationRefused::ChallengeExpired => "challenge_expired",
            RegistrationRefused::ChallengeUsed => "challenge_used",
            RegistrationRefused::ChallengeOfAnotherUser => "challenge_not_yours",
            RegistrationRefused::BadSignature => "bad_registration_signature",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            RegistrationRefused::ChallengeRequired
            | RegistrationRefused::ChallengeUnknown
            | RegistrationRefused::ChallengeExpired
            | RegistrationRefused::ChallengeUsed => StatusCode::BAD_REQUEST,
            RegistrationRefused::ChallengeOfAnotherUser | RegistrationRefused::BadSignature => {
                StatusCode::FORBIDDEN
            }
        }
    }
}

/// Why importing, reviewing or publishing a directive was refused (issue 21); nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftRefused {
    /// The text is not a directive, or is unreadable (the importer's reason).
    #[error("văn bản không nhập được / the text cannot be imported: {0}")]
    NotImported(String),
    /// A correction of the review cannot be made (mobile-core's `ReviewError`).
    #[error(transparent)]
    Review(#[from] taskforce_core::directive::ReviewError),
    /// The directive was published by another request meanwhile (two publishes of one
    /// draft at once).
    #[error(
        "chỉ thị {0} vừa được ban hành bởi một yêu cầu khác; hãy tải lại / directive {0} was just published by another request; reload"
    )]
    Published(String),
    /// A revision of a published directive writes signed operations into the units'
    /// documents: an account of the Ministry Office publishes it, not the bare command line
    /// (decision 44).
    #[error(
        "bản sửa đổi của chỉ thị {0} phải do một tài khoản của Văn phòng Bộ ban hành (thay đổi được ký bằng thiết bị của tài khoản đó): dùng bảng điều khiển, API, hoặc `taskforce directive publish {0} --as TÊN` / the revision of directive {0} must be published by an account of the Ministry Office (its changes are signed by that account's device): use the dashboard, the API, or `taskforce directive publish {0} --as NAME`"
    )]
    RevisionNeedsAccount(String),
    /// Two reviewers at once: the draft changed since it was read.
    #[error(
        "bản nháp {0} vừa được người khác sửa; hãy tải lại rồi sửa tiếp / draft {0} was changed by someone else meanwhile; reload it and correct again"
    )]
    Changed(String),
}

impl DraftRefused {
    pub fn code(&self) -> &'static str {
        match self {
            DraftRefused::NotImported(_) => "not_a_directive",
            DraftRefused::Review(_) => "bad_correction",
            DraftRefused::Published(_) => "already_published",
            DraftRefused::Changed(_) => "draft_changed",
            DraftRefused::RevisionNeedsAccount(_) => "revision_needs_account",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            DraftRefused::NotImported(_)
            | DraftRefused::Review(_)
            | DraftRefused::RevisionNeedsAccount(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DraftRefused::Published(_) | DraftRefused::Changed(_) => StatusCode::CONFLICT,
        }
    }
}

/// Why an account operation was refused (issue 19): a quota reached, a name not allowed, the
/// last admin, a revoked device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountRefused {
    #[error(
        "{username} đã có {max} thiết bị, mức tối đa; hãy thu hồi một thiết bị cũ trước / {username} has {max} devices, the most allowed; revoke an old one first"
    )]
    TooManyDevices { username: String, max: u64 },
    #[error(
        "đơn vị {unit} đã có {max} thành viên, mức tối đa / unit {unit} has {max} members, the most allowed"
    )]
    TooManyMembers { unit: String, max: u64 },
    #[error(
        "tên đăng nhập gồm {min}–{max} ký tự a-z, 0-9, '.', '_', '-' / a username is {min}–{max} of a-z, 0-9, '.', '_', '-'"
    )]
    BadUsername { min: usize, max: usize },
    #[error(
        "tên hiển thị tối đa {max} ký tự, không chứa ký tự điều khiển / a display name is at most {max} characters, with no control characters"
    )]
    BadDisplayName { max: usize },
    #[error(
        "không thể vô hiệu hóa quản trị viên cuối cùng còn hoạt động / the last enabled admin cannot be disabled"
    )]
    LastAdmin,
    #[error(
        "thiết bị {actor} đã bị thu hồi: máy chủ không nhận đồng bộ từ thiết bị này nữa; hãy đăng ký thiết bị mới / device {actor} has been revoked: its syncs are refused; register a new device"
    )]
    DeviceRevoked { actor: u32 },
}

impl AccountRefused {
    pub fn code(&self) -> &'static str {
        match self {
            AccountRefused::TooManyDevices { .. } | AccountRefused::TooManyMembers { .. } => {
                "quota_exceeded"
            }
            AccountRefused::BadUsername { .. } => "bad_username",
            AccountRefused::BadDisplayName { .. } => "bad_display_name",
            AccountRefused::LastAdmin => "last_admin",
            AccountRefused::DeviceRevoked { .. } => "device_revoked",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AccountRefused::BadUsername { .. } | AccountRefused::BadDisplayName { .. } => {
                StatusCode::BAD_REQUEST
            }
            AccountRefused::TooManyDevices { .. }
            | AccountRefused::TooManyMembers { .. }
            | AccountRefused::LastAdmin => StatusCode::CONFLICT,
            AccountRefused::DeviceRevoked { .. } => StatusCode::FORBIDDEN,
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        storage_fault(&e).unwrap_or_else(|| ApiError::Internal(e.into()))
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
            DocError::Reused { actor, start } => ApiError::Reused { actor, start },
            DocError::Full { limit, after, max } => ApiError::DocumentFull { limit, after, max },
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
    /// For `reused_sequence`: the first change whose sequence numbers are held with other
    /// content. The device re-issues its operations from `start` under a new device.
    #[serde(skip_serializing_if = "Option::is_none")]
    reused: Option<ReusedFrom>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReusedFrom {
    actor: u32,
    start: u64,
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
            ApiError::Gap { .. } | ApiError::Conflict(_) | ApiError::Reused { .. } => {
                StatusCode::CONFLICT
            }
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // Not 413: the request may be small; it is the document that is full, and no way
            // of sending these changes would be taken.
            ApiError::DocumentFull { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Registration(r) => r.status(),
            ApiError::Account(a) => a.status(),
            ApiError::Draft(d) => d.status(),
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::StorageReadOnly => StatusCode::SERVICE_UNAVAILABLE,
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
        let reused = match self {
            ApiError::Reused { actor, start } => Some(ReusedFrom {
                actor: *actor,
                start: *start,
            }),
            _ => None,
        };
        let mut builder = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests { retry_after } | ApiError::Overloaded { retry_after } =
            self
        {
            builder.insert_header(("Retry-After", retry_after.to_string()));
        }
        builder.json(ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
            missing,
            reused,
        })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch refused for want of room: 422 `document_full`, with the limit named in
    /// Vietnamese and English.
    #[test]
    fn a_full_document_is_a_422_naming_the_limit() {
        let e = ApiError::from(DocError::Full {
            limit: DocLimit::Items,
            after: 100_001,
            max: 100_000,
        });
        assert_eq!(e.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.code(), "document_full");
        let message = e.to_string();
        assert!(
            message.contains("tài liệu của đơn vị đã đầy: số mục")
                && message.contains("the unit's document is full: its items")
                && message.contains("100001")
                && message.contains("100000"),
            "{message}"
        );
    }
}
