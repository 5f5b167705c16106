//! Hotline-free billing, the writes (issue 23, decision 46): the Ministry Office keeps the
//! hotline register; a carrier keeps its call-record column mapping; a carrier's call
//! records are verified against the register and the result written into the carrier's
//! document as an `Op::Verify`, signed by the device the server holds for its verifier
//! account and written through the sync writer like any change: the carrier's phones get it,
//! the audit chain covers it, the projections show the confirmations it contradicts.
//!
//! Reading a file never writes anything until the whole file has been read and accepted: a
//! refused file (unknown layout, wrong encoding, too many broken rows, too large) leaves the
//! document and the database as they were.

pub mod sample;

use std::io::Read;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use taskforce_core::{
    Catalogue,
    cdr::{self, CdrError, CdrReport, Mapping},
    doc::{Author, Op},
    sync::{Change, DocKey},
};

use crate::{
    audit::AuditKey,
    auth::{Caller, Role},
    db::entity::{cdr_mappings, hotlines, users},
    docstore,
    error::{ApiError, ApiResult},
    progress::hotlines::{Hotline, parse_day, register, registered},
    sync::{GroupWriter, WriteJob},
};

/// A hotline as the Ministry Office enters it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HotlineInput {
    /// As written (`1900 9095`, `+84 1900 9095`); kept as its national number.
    #[schema(min_length = 3, max_length = 40)]
    pub number: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub owner: String,
    /// `YYYY-MM-DD`, 2000-01-01 to 2100-12-31.
    #[schema(format = Date)]
    pub free_from: String,
    /// `YYYY-MM-DD`, included, not before `free_from`; absent: still free.
    #[serde(default)]
    #[schema(format = Date)]
    pub free_until: Option<String>,
}

fn text(field: &str, s: &str) -> ApiResult<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{field}: 1 đến 200 ký tự, không ký tự điều khiển / {field}: 1 to 200 characters, no control characters"
        )));
    }
    Ok(s.to_string())
}

/// The national number of `raw`, or why it is not one.
pub fn number_of(raw: &str) -> ApiResult<String> {
    taskforce_core::doc::national_digits(raw)
        .filter(|d| (3..=15).contains(&d.len()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{raw:?} không phải số điện thoại Việt Nam / is not a Vietnamese telephone number"
            ))
        })
}

/// Add a hotline to the register or change one (the Ministry Office).
pub async fn set_hotline(
    db: &DatabaseConnection,
    caller: &Caller,
    input: &HotlineInput,
    at: i64,
) -> ApiResult<Hotline> {
    caller.require(caller.acts_for_office(), "keep the hotline register")?;
    let number = number_of(&input.number)?;
    let display = text("number", &input.number)?;
    let name = text("name", &input.name)?;
    let owner = text("owner", &input.owner)?;
    let from = parse_day("free_from", &input.free_from)?;
    let until = input
        .free_until
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_day("free_until", s))
        .transpose()?;
    if until.is_some_and(|u| u < from) {
        return Err(ApiError::BadRequest(
            "free_until trước free_from / free_until is before free_from".into(),
        ));
    }
    let row = hotlines::Model {
        number: number.clone(),
        display,
        name,
        owner,
        free_from: from.to_string(),
        free_until: until.map(|u| u.to_string()),
        updated_at: at,
        updated_by: caller.username.clone(),
    };
    let txn = crate::db::begin_write(db).await?;
    let before = hotlines::Entity::find_by_id(number.clone())
        .one(&txn)
        .await?;
    let mut active = row.clone().into_active_model();
    if before.is_some() {
        active = active.reset_all();
        active.update(&txn).await?;
    } else {
        active.insert(&txn).await?;
    }
    crate::accounts::audit(
        &txn,
        Some(caller.user_id),
        "hotline.set",
        &number,
        serde_json::json!({
            "display": row.display, "name": row.name, "owner": row.owner,
            "free_from": row.free_from, "free_until": row.free_until,
            "before": before.map(|b| serde_json::json!({
                "free_from": b.free_from, "free_until": b.free_until, "name": b.name, "owner": b.owner,
            })),
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(row.into())
}

/// Take a hotline off the register (the Ministry Office). Verifications already made keep
/// what they found.
pub async fn remove_hotline(db: &DatabaseConnection, caller: &Caller, raw: &str) -> ApiResult<()> {
    caller.require(caller.acts_for_office(), "keep the hotline register")?;
    // What is not a number is no hotline of the register.
    let number = number_of(raw)
        .map_err(|_| ApiError::NotFound(format!("đường dây nóng / hotline {raw:?}")))?;
    let txn = crate::db::begin_write(db).await?;
    let gone = hotlines::Entity::delete_by_id(number.clone())
        .exec(&txn)
        .await?;
    if gone.rows_affected == 0 {
        return Err(ApiError::NotFound(format!(
            "đường dây nóng / hotline {number}"
        )));
    }
    crate::accounts::audit(
        &txn,
        Some(caller.user_id),
        "hotline.remove",
        &number,
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The carrier `id` of the catalogue, or 404.
fn carrier<'c>(catalogue: &'c Catalogue, id: &str) -> ApiResult<&'c taskforce_core::Unit> {
    catalogue
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("đơn vị / unit {id}")))
}

/// Whether `caller` may act for carrier `id`'s call records: one of its members, or the
/// Ministry Office.
fn may_act_for(caller: &Caller, id: &str) -> bool {
    caller.acts_for_office() || caller.is_member_of(id)
}

/// The carrier's own column mapping, if it set one.
pub async fn mapping_of(db: &DatabaseConnection, carrier: &str) -> ApiResult<Option<Mapping>> {
    let Some(row) = cdr_mappings::Entity::find_by_id(carrier.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    // Written only after `Mapping::parse` accepted it.
    Ok(Mapping::parse(&row.spec).ok())
}

/// Set (or, with `None`, clear) carrier `id`'s column mapping: its members or the Ministry
/// Office.
pub async fn set_mapping(
    db: &DatabaseConnection,
    catalogue: &Catalogue,
    caller: &Caller,
    id: &str,
    spec: Option<&str>,
    at: i64,
) -> ApiResult<Option<Mapping>> {
    carrier(catalogue, id)?;
    caller.require(
        may_act_for(caller, id),
        "set this carrier's call-record mapping",
    )?;
    let mapping = spec
        .map(Mapping::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let txn = crate::db::begin_write(db).await?;
    cdr_mappings::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    if let Some(m) = &mapping {
        cdr_mappings::ActiveModel {
            carrier: Set(id.to_string()),
            spec: Set(m.spec()),
            updated_at: Set(at),
            updated_by: Set(caller.username.clone()),
        }
        .insert(&txn)
        .await?;
    }
    crate::accounts::audit(
        &txn,
        Some(caller.user_id),
        "cdr.mapping",
        id,
        serde_json::json!({"spec": mapping.as_ref().map(Mapping::spec)}),
    )
    .await?;
    txn.commit().await?;
    Ok(mapping)
}

/// What a verification did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Verified {
    pub directive: String,
    pub carrier: String,
    /// The `Op::Verify` in the carrier's document (`actor.seq`).
    pub operation: String,
    /// The figures.
    #[schema(value_type = Object)]
    pub report: CdrReport,
}

/// Why a verification was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file (400, with its line).
    #[error(transparent)]
    File(#[from] CdrError),
    /// Everything else: the caller, the carrier, the document, the write.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<sea_orm::DbErr> for VerifyError {
    fn from(e: sea_orm::DbErr) -> Self {
        VerifyError::Api(e.into())
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::File(f) => ApiError::BadRequest(f.to_string()),
            VerifyError::Api(a) => a,
        }
    }
}

/// Who verifies: the server's verifier account, as a caller.
async fn verifier(db: &DatabaseConnection) -> ApiResult<Caller> {
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(taskforce_migrations::VERIFIER))
        .one(db)
        .await?
        .filter(|u| u.disabled && u.password_hash == "!")
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "the verifier account {} is missing or was changed",
                taskforce_migrations::VERIFIER
            ))
        })?;
    Ok(Caller {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        role: Role::Member,
        units: Vec::new(),
    })
}

/// The name of the verifier's server-held device.
pub const VERIFIER_DEVICE: &str = "Máy chủ — đối soát cước (máy chủ giữ khóa) / server — call-record verifier (key held by the server)";

/// A file name as kept with the evidence: 1 to 200 characters without control characters
/// (checked before the file is read).
pub fn file_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "file_name: 1 đến 200 ký tự, không ký tự điều khiển / 1 to 200 characters, no control characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// Everything a verification needs of the server.
#[derive(Debug, Clone, Copy)]
pub struct Services<'a> {
    pub db: &'a DatabaseConnection,
    pub writer: &'a GroupWriter,
    pub audit: &'a AuditKey,
    pub catalogue: &'a Catalogue,
}

/// Check that `caller` (none: the command line, on the server) may verify `carrier`'s call
/// records in `directive`, and that its document is there: before a byte is read.
pub async fn may_verify(
    s: Services<'_>,
    caller: Option<&Caller>,
    carrier_id: &str,
    directive: &str,
) -> ApiResult<()> {
    carrier(s.catalogue, carrier_id)?;
    if let Some(c) = caller {
        c.require(
            may_act_for(c, carrier_id),
            "verify this carrier's call records",
        )?;
    }
    let key = DocKey {
        directive: directive.to_string(),
        unit: carrier_id.to_string(),
    };
    if crate::db::entity::documents::Entity::find_by_id((key.directive, key.unit))
        .one(s.db)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "tài liệu / document {directive}/{carrier_id}"
        )));
    }
    Ok(())
}

/// Read `input` (call records of `carrier_id`, named `file_name`) against the register,
/// then write the result into the carrier's document of `directive`. `options.mapping`
/// defaults to the carrier's own. Runs the reading on a blocking thread.
#[allow(clippy::too_many_arguments)]
pub async fn verify<R: Read + Send + 'static>(
    s: Services<'_>,
    caller: Option<&Caller>,
    carrier_id: &str,
    directive: &str,
    file_name: &str,
    input: R,
    mut options: cdr::Options,
    at: i64,
) -> Result<Verified, VerifyError> {
    may_verify(s, caller, carrier_id, directive).await?;
    let file_name = self::file_name(file_name)?;
    let hotlines = registered(&register(s.db).await?);
    if options.mapping.is_none() {
        options.mapping = mapping_of(s.db, carrier_id).await?;
    }
    let report = tokio::task::spawn_blocking(move || cdr::verify(input, &hotlines, &options))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("the verification stopped: {e}")))??;
    let uploaded_by = caller.map_or("taskforce cdr verify", |c| c.username.as_str());
    let verification = report.to_verification(carrier_id, &file_name, uploaded_by, at);
    let op = Op::Verify(Box::new(verification));
    op.admissible()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let operation = record(s, carrier_id, directive, op).await?;
    tracing::info!(
        carrier = carrier_id,
        directive,
        operation,
        rows = report.rows,
        charged = report.charged,
        "call records verified"
    );
    Ok(Verified {
        directive: directive.to_string(),
        carrier: carrier_id.to_string(),
        operation,
        report,
    })
}

/// Write `op` into `carrier`'s document as the verifier; its id.
async fn record(s: Services<'_>, carrier_id: &str, directive: &str, op: Op) -> ApiResult<String> {
    if !op.permitted(Author::Verifier) {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the verifier made an operation it may not make"
        )));
    }
    let who = verifier(s.db).await?;
    let (actor, key) =
        crate::office::server_device_named(s.db, s.audit, &who, VERIFIER_DEVICE).await?;
    let doc_key = DocKey {
        directive: directive.to_string(),
        unit: carrier_id.to_string(),
    };
    let _turn = crate::office::TURNS.lock().await;
    for _ in 0..crate::office::ATTEMPTS {
        let Some((doc, _)) = docstore::load_whole(s.db, &doc_key).await? else {
            return Err(ApiError::NotFound(format!(
                "tài liệu / document {directive}/{carrier_id}"
            )));
        };
        let start = doc.next_id(actor).seq;
        let fingerprint = doc.header().fingerprint();
        let change = Change::sign(fingerprint, actor, start, vec![op.clone()], &key);
        let written = s
            .writer
            .write(WriteJob {
                key: doc_key.clone(),
                fingerprint,
                vv: doc.version().dots.clone(),
                changes: vec![change],
            })
            .await;
        match written {
            Ok(_) => return Ok(format!("{actor}.{start}")),
            // Another replica's verification took the sequence number first: again.
            Err(ApiError::Reused { .. } | ApiError::Gap { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Conflict(
        "tài liệu đang được ghi liên tục; hãy thử lại / the document kept changing; try again"
            .into(),
    ))
}

/// The account `username` as a caller acting for the Ministry Office (the command line's
/// `--as`): it must exist, be enabled and act for the office.
pub async fn office_account(db: &DatabaseConnection, username: &str) -> ApiResult<Caller> {
    let caller = crate::accounts::enabled_account(db, username).await?;
    caller.require(caller.acts_for_office(), "keep the hotline register")?;
    Ok(caller)
}
