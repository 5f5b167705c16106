//! Directives brought in after the first start (issue 21, decision 41): import a text as a
//! **draft**, review who does what (corrections kept as the directive's overrides), publish it
//! (its clauses, assignments and one document per unit it gives tasks to), or discard it.
//!
//! The rules of the review live in mobile-core (`Overrides::correct`); this module keeps the
//! drafts in the database, checks who may act (the Ministry Office and admins), serialises two
//! reviewers of one draft (a correction made on a draft that changed meanwhile is refused, not
//! lost), and logs every step in `audit_log`.
//!
//! A corrected text of a directive already published is imported, reviewed and published the
//! same way, as a **revision** (decision 44): publishing it replaces the directive's text,
//! clauses and assignments, gives units newly named a document, and brings every existing
//! document to it with signed operations (`revisions`).

use std::sync::Arc;

use chrono::DateTime;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait, sea_query::Expr,
};
use serde::Serialize;
use taskforce_core::directive::{
    Catalogue, Correction, Directive, MAX_DIRECTIVE_BYTES, Overrides, import, parse_bytes,
};
use utoipa::ToSchema;

use crate::{
    accounts::audit,
    audit::AuditKey,
    auth::Caller,
    clock::now,
    db::{
        self,
        entity::{assignments, clauses, directive_drafts, directives, documents},
        seed::{Source, document_headers, insert_documents, store_clauses, store_directive_in},
    },
    error::{ApiError, ApiResult, DraftRefused},
    revisions::{Brought, bring_documents, tasks_by_unit},
    sync::GroupWriter,
};

/// The longest directive id taken (`Directive::slug`: the dashboard's picker and cookie take
/// ids up to this long).
pub const MAX_ID: usize = 64;

/// At most this many corrections in one request (the review page sends one at a time).
pub const MAX_CORRECTIONS_PER_REQUEST: usize = 100;

/// A draft as the review reads it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftView {
    /// The directive's id once published (`12-ct-btttt`).
    pub id: String,
    pub number: String,
    pub issuer: String,
    /// ISO date of issue.
    pub date: String,
    pub title: String,
    /// The directive as imported under the review's corrections (mobile-core's model as JSON),
    /// with the importer's warnings.
    #[schema(value_type = Object)]
    pub directive: Directive,
    /// The review's corrections, as overrides TOML.
    pub overrides: String,
    /// The units that publishing gives a document to, with how many tasks each.
    pub documents: Vec<PlannedDocument>,
    /// For a corrected text of a directive already published: what publishing it changes for
    /// each unit (decision 44).
    pub revision: Option<RevisionPreview>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What publishing a revision changes, unit by unit, against the directive as published.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionPreview {
    /// The revision publishing makes (1 for the first).
    pub revision: i32,
    /// The units whose tasks change, with what changes.
    pub units: Vec<UnitPreview>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitPreview {
    pub unit: String,
    /// The unit has no document for the directive yet: publishing gives it one.
    pub new_document: bool,
    #[serde(flatten)]
    pub summary: taskforce_core::doc::RevisionSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedDocument {
    pub unit: String,
    pub tasks: usize,
}

/// A draft in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftSummary {
    pub id: String,
    pub number: String,
    pub issuer: String,
    pub date: String,
    pub title: String,
    /// How many warnings the importer left for the reviewer.
    pub warnings: usize,
    pub updated_at: i64,
}

/// What publishing made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    pub id: String,
    pub number: String,
    /// The units given a document, with how many tasks each.
    pub documents: Vec<PlannedDocument>,
    /// A revision: the documents brought to it (decision 44).
    pub revision: Option<Brought>,
}

/// What publishing a revision writes with: the sync writer, and the key the server holds its
/// accounts' devices under.
#[derive(Clone, Copy)]
pub struct Office<'a> {
    pub writer: &'a GroupWriter,
    pub audit: &'a AuditKey,
}

impl std::fmt::Debug for Office<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Office")
    }
}

/// Who imports, reviews or publishes: a signed-in member of the Ministry Office (or an
/// admin), or the operator at the server's command line.
#[derive(Debug, Clone)]
pub struct By {
    user: Option<i64>,
    name: String,
    /// The account, when one acts (a revision is signed by its device).
    caller: Option<Caller>,
}

impl By {
    /// The caller, when it acts for the Ministry Office (else 403).
    pub fn caller(caller: &Caller) -> ApiResult<Self> {
        caller.require(
            caller.acts_for_office(),
            "import, review and publish directives",
        )?;
        Ok(Self {
            user: Some(caller.user_id),
            name: caller.username.clone(),
            caller: Some(caller.clone()),
        })
    }

    /// An account named at the command line (`taskforce directive publish --as NAME`): it
    /// must act for the Ministry Office and not be disabled; a revision is signed by the
    /// device the server holds for it.
    pub async fn account(db: &DatabaseConnection, username: &str) -> ApiResult<Self> {
        Self::caller(&crate::accounts::enabled_account(db, username).await?)
    }

    /// The operator of the server (`taskforce directive …`).
    pub fn operator() -> Self {
        Self {
            user: None,
            name: "operator".into(),
            caller: None,
        }
    }
}

fn planned(d: &Directive, catalogue: &Catalogue) -> Vec<PlannedDocument> {
    planned_of(&document_headers(d, catalogue))
}

fn planned_of(headers: &[taskforce_core::doc::DocHeader]) -> Vec<PlannedDocument> {
    headers
        .iter()
        .map(|h| PlannedDocument {
            unit: h.unit.clone(),
            tasks: h.tasks.len(),
        })
        .collect()
}

fn refused(e: impl std::fmt::Display) -> ApiError {
    DraftRefused::NotImported(e.to_string()).into()
}

async fn view(
    db: &DatabaseConnection,
    row: directive_drafts::Model,
    catalogue: &Catalogue,
) -> ApiResult<DraftView> {
    let directive: Directive = serde_json::from_str(&row.document).map_err(ApiError::internal)?;
    let revision = match directives::Entity::find_by_id(row.id.clone())
        .one(db)
        .await?
    {
        Some(published) => Some(preview(db, &published, &directive, catalogue).await?),
        None => None,
    };
    Ok(DraftView {
        documents: planned(&directive, catalogue),
        revision,
        id: row.id,
        number: row.number,
        issuer: row.issuer,
        date: row.date,
        title: row.title,
        directive,
        overrides: row.overrides,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// What publishing `draft` as a revision of `published` changes for each unit.
async fn preview(
    db: &DatabaseConnection,
    published: &directives::Model,
    draft: &Directive,
    catalogue: &Catalogue,
) -> ApiResult<RevisionPreview> {
    let old: Directive = serde_json::from_str(&published.document).map_err(ApiError::internal)?;
    let before = tasks_by_unit(&old, catalogue);
    let after = tasks_by_unit(draft, catalogue);
    let with_document = document_units(db, &published.id).await?;
    let mut units: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    units.sort();
    units.dedup();
    let none = Vec::new();
    let units = units
        .into_iter()
        .filter_map(|unit| {
            let summary = taskforce_core::doc::diff_tasks(
                before.get(&unit).unwrap_or(&none),
                after.get(&unit).unwrap_or(&none),
            );
            let new_document = after.contains_key(&unit) && !with_document.contains(&unit);
            (!summary.is_empty() || new_document).then_some(UnitPreview {
                unit,
                new_document,
                summary,
            })
        })
        .collect();
    Ok(RevisionPreview {
        revision: published.revision + 1,
        units,
    })
}

/// The units with a document for `directive`.
async fn document_units(
    db: &impl ConnectionTrait,
    directive: &str,
) -> ApiResult<std::collections::BTreeSet<String>> {
    let units: Vec<String> = documents::Entity::find()
        .select_only()
        .column(documents::Column::UnitId)
        .filter(documents::Column::DirectiveId.eq(directive))
        .into_tuple()
        .all(db)
        .await?;
    Ok(units.into_iter().collect())
}

/// The overrides of a draft row (written by this module: a damaged one is an internal error).
fn overrides_of(row: &directive_drafts::Model) -> ApiResult<Overrides> {
    Overrides::from_toml(&row.overrides).map_err(ApiError::internal)
}

/// Import `text` as a draft. A draft of the same directive is replaced by the new text and
/// keeps the review's corrections of the clauses the new text still has (a corrected text
/// does not undo the review); the corrections that no longer apply are dropped and said so
/// in the warnings. The text of a directive already published is a draft of its revision
/// (decision 44), starting from the published review's corrections. The importer runs off the
/// async workers and outside the write transaction; the write then holds only if the draft is
/// still as read (else 409 `draft_changed`: nothing is lost, the upload is made again).
pub async fn import_draft(
    db: &DatabaseConnection,
    catalogue: &Arc<Catalogue>,
    by: &By,
    text: &[u8],
) -> ApiResult<DraftView> {
    if text.len() > MAX_DIRECTIVE_BYTES {
        return Err(ApiError::TooLarge {
            size: text.len(),
            limit: MAX_DIRECTIVE_BYTES,
        });
    }
    let bytes: Arc<[u8]> = Arc::from(text);
    // Parsed once to learn the number, the id and what an earlier draft reviewed.
    let parsed = blocking({
        let bytes = bytes.clone();
        move || parse_bytes(&bytes).map_err(refused)
    })
    .await?;
    let id = parsed.slug();
    if id.len() > MAX_ID {
        return Err(DraftRefused::NotImported(format!(
            "số hiệu {} quá dài (tối đa {MAX_ID} ký tự) / the number {} is too long (at most {MAX_ID} characters)",
            parsed.number, parsed.number
        ))
        .into());
    }
    let published = directives::Entity::find_by_id(id.clone()).one(db).await?;
    let earlier = directive_drafts::Entity::find_by_id(id.clone())
        .one(db)
        .await?;
    let start = match (
        &earlier,
        published.as_ref().and_then(|p| p.overrides.as_ref()),
    ) {
        (Some(row), _) => overrides_of(row)?,
        // A revision starts from the review the published directive was made with.
        (None, Some(reviewed)) => Overrides::from_toml(reviewed).map_err(ApiError::internal)?,
        (None, None) => match Overrides::bundled_for(&parsed.number) {
            Some(bundled) => bundled.map_err(ApiError::internal)?,
            None => Overrides::empty(&parsed.number),
        },
    };
    let (overrides, directive, dropped) = blocking({
        let (bytes, catalogue, number) = (bytes.clone(), catalogue.clone(), parsed.number.clone());
        move || reimport(&bytes, &catalogue, &number, start)
    })
    .await?;
    let source = String::from_utf8_lossy(text).into_owned();
    let document = serde_json::to_string(&directive).map_err(ApiError::internal)?;

    let txn = db::begin_write(db).await?;
    let t = now();
    match &earlier {
        Some(e) => {
            // Strictly later than anything a reviewer may hold, and only over the row read.
            let at = t.max(e.updated_at + 1);
            let done = directive_drafts::Entity::update_many()
                .col_expr(
                    directive_drafts::Column::Number,
                    Expr::value(directive.number.clone()),
                )
                .col_expr(
                    directive_drafts::Column::Issuer,
                    Expr::value(directive.issuer.clone()),
                )
                .col_expr(
                    directive_drafts::Column::Date,
                    Expr::value(directive.date.to_string()),
                )
                .col_expr(
                    directive_drafts::Column::Title,
                    Expr::value(directive.title.clone()),
                )
                .col_expr(directive_drafts::Column::Source, Expr::value(source))
                .col_expr(
                    directive_drafts::Column::Overrides,
                    Expr::value(overrides.to_toml()),
                )
                .col_expr(directive_drafts::Column::Document, Expr::value(document))
                .col_expr(directive_drafts::Column::UpdatedAt, Expr::value(at))
                .filter(directive_drafts::Column::Id.eq(id.as_str()))
                .filter(directive_drafts::Column::UpdatedAt.eq(e.updated_at))
                .exec(&txn)
                .await?;
            if done.rows_affected != 1 {
                return Err(DraftRefused::Changed(id).into());
            }
        }
        None => {
            let row = directive_drafts::ActiveModel {
                id: Set(id.clone()),
                number: Set(directive.number.clone()),
                issuer: Set(directive.issuer.clone()),
                date: Set(directive.date.to_string()),
                title: Set(directive.title.clone()),
                source: Set(source),
                overrides: Set(overrides.to_toml()),
                document: Set(document),
                created_by: Set(by.user),
                created_at: Set(t),
                updated_at: Set(t),
            };
            // Two first imports of one directive at once: the second finds the first's row.
            if let Err(e) = directive_drafts::Entity::insert(row)
                .exec_without_returning(&txn)
                .await
            {
                return Err(match e.sql_err() {
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                        DraftRefused::Changed(id).into()
                    }
                    _ => e.into(),
                });
            }
        }
    }
    audit(
        &txn,
        by.user,
        if earlier.is_some() {
            "directive.reimport"
        } else {
            "directive.import"
        },
        &id,
        serde_json::json!({
            "number": directive.number,
            "bytes": text.len(),
            "warnings": directive.warnings.len(),
            "dropped_corrections": dropped,
            "revision_of_published": published.is_some(),
        }),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(directive = %id, by = %by.name, "directive imported as a draft");
    let row = find(db, &id).await?;
    view(db, row, catalogue).await
}

/// CPU-bound work (the importer) on the blocking pool, not on an async worker.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// Import `text` under `overrides`, dropping the corrections that no longer apply (a clause
/// the text lost or reworded, a unit the catalogue lost), each dropped one named in a warning.
fn reimport(
    text: &[u8],
    catalogue: &Catalogue,
    number: &str,
    mut overrides: Overrides,
) -> ApiResult<(Overrides, Directive, Vec<String>)> {
    let bare = import(text, catalogue, Some(&Overrides::empty(number))).map_err(refused)?;
    overrides.directive = number.to_string();
    let dropped = overrides.keep_applicable(&bare, catalogue);
    let mut directive = import(text, catalogue, Some(&overrides)).map_err(refused)?;
    for id in &dropped {
        directive
            .warnings
            .push(taskforce_core::directive::ImportWarning::new(
                format!("clause:{id}"),
                format!(
                    "Bỏ hiệu chỉnh của điều khoản {id}: văn bản mới không còn điều khoản này, đã sửa lời của nó, hoặc không còn đơn vị của nó"
                ),
                format!(
                    "The correction of clause {id} was dropped: the new text no longer has the clause, words it differently, or lost its unit"
                ),
            ));
    }
    Ok((overrides, directive, dropped))
}

/// The drafts awaiting review, newest first.
pub async fn list_drafts(db: &DatabaseConnection) -> ApiResult<Vec<DraftSummary>> {
    let rows = directive_drafts::Entity::find()
        .order_by_desc(directive_drafts::Column::UpdatedAt)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|r| {
            let warnings = serde_json::from_str::<Directive>(&r.document)
                .map(|d| d.warnings.len())
                .map_err(ApiError::internal)?;
            Ok(DraftSummary {
                id: r.id,
                number: r.number,
                issuer: r.issuer,
                date: r.date,
                title: r.title,
                warnings,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

async fn find(db: &impl ConnectionTrait, id: &str) -> ApiResult<directive_drafts::Model> {
    directive_drafts::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("draft {id}")))
}

/// A draft, for the review.
pub async fn get_draft(
    db: &DatabaseConnection,
    catalogue: &Catalogue,
    id: &str,
) -> ApiResult<DraftView> {
    view(db, find(db, id).await?, catalogue).await
}

/// Make the review's `corrections`, in order, all or none. `expected`: the `updated_at` the
/// reviewer read, when it is known (the review page sends it): a draft changed since is
/// refused rather than corrected blind.
pub async fn correct(
    db: &DatabaseConnection,
    catalogue: &Arc<Catalogue>,
    by: &By,
    id: &str,
    corrections: &[Correction],
    expected: Option<i64>,
) -> ApiResult<DraftView> {
    if corrections.is_empty() || corrections.len() > MAX_CORRECTIONS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "send 1 to {MAX_CORRECTIONS_PER_REQUEST} corrections"
        )));
    }
    let row = find(db, id).await?;
    if expected.is_some_and(|e| e != row.updated_at) {
        return Err(DraftRefused::Changed(id.to_string()).into());
    }
    let mut overrides = overrides_of(&row)?;
    let mut directive: Directive =
        serde_json::from_str(&row.document).map_err(ApiError::internal)?;
    let note = format!(
        "review: {} on {}",
        by.name,
        DateTime::from_timestamp(now(), 0).map_or_else(String::new, |t| t.date_naive().to_string())
    );
    let (overrides, directive) = blocking({
        let (catalogue, corrections, source) =
            (catalogue.clone(), corrections.to_vec(), row.source.clone());
        move || {
            for k in &corrections {
                overrides
                    .correct(&directive, &catalogue, k, &note)
                    .map_err(DraftRefused::from)?;
                directive =
                    import(source.as_bytes(), &catalogue, Some(&overrides)).map_err(refused)?;
            }
            Ok((overrides, directive))
        }
    })
    .await?;
    let t = now().max(row.updated_at + 1);
    let txn = db.begin().await?;
    // Only over the row that was read: a concurrent correction wins the race, this one is
    // refused (and can be made again on the new state).
    let done = directive_drafts::Entity::update_many()
        .col_expr(
            directive_drafts::Column::Overrides,
            Expr::value(overrides.to_toml()),
        )
        .col_expr(
            directive_drafts::Column::Document,
            Expr::value(serde_json::to_string(&directive).map_err(ApiError::internal)?),
        )
        .col_expr(directive_drafts::Column::UpdatedAt, Expr::value(t))
        .filter(directive_drafts::Column::Id.eq(id))
        .filter(directive_drafts::Column::UpdatedAt.eq(row.updated_at))
        .filter(directive_drafts::Column::Overrides.eq(row.overrides.clone()))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(DraftRefused::Changed(id.to_string()).into());
    }
    audit(
        &txn,
        by.user,
        "directive.review",
        id,
        serde_json::to_value(corrections).map_err(ApiError::internal)?,
    )
    .await?;
    txn.commit().await?;
    view(db, find(db, id).await?, catalogue).await
}

/// Publish a draft: the directive, its clauses and assignments, and a document for every unit
/// it gives tasks to, in one transaction that also removes the draft. The text is imported
/// again under the review (the catalogue may have changed since the draft was read).
/// `expected`: the `updated_at` the reviewer read, when known: a draft changed since is
/// refused (checked inside the transaction). A draft of a directive already published is
/// published as its revision ([`publish_revision`]), which needs an account (`by`) and
/// `office`.
pub async fn publish(
    db: &DatabaseConnection,
    catalogue: &Arc<Catalogue>,
    by: &By,
    id: &str,
    expected: Option<i64>,
    office: Option<Office<'_>>,
) -> ApiResult<Published> {
    let row = find(db, id).await?;
    if expected.is_some_and(|e| e != row.updated_at) {
        return Err(DraftRefused::Changed(id.to_string()).into());
    }
    let overrides = overrides_of(&row)?;
    let directive = blocking({
        let (catalogue, source) = (catalogue.clone(), row.source.clone());
        move || import(source.as_bytes(), &catalogue, Some(&overrides)).map_err(refused)
    })
    .await?;
    if directive.slug() != id {
        return Err(ApiError::internal(anyhow::anyhow!(
            "draft {id} now reads as {}",
            directive.slug()
        )));
    }
    if let Some(published) = directives::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
    {
        return publish_revision(db, catalogue, by, &row, published, directive, office).await;
    }
    let txn = db::begin_write(db).await?;
    let documents = planned(&directive, catalogue);
    let stored = store_directive_in(
        &txn,
        &directive,
        catalogue,
        Some(Source {
            text: &row.source,
            overrides: &row.overrides,
        }),
    )
    .await
    .map_err(ApiError::internal)?;
    if !stored {
        return Err(DraftRefused::Published(directive.number).into());
    }
    // Only the draft as read: a correction (or an import) that landed since leaves this one
    // to roll back, not published without it.
    let gone = directive_drafts::Entity::delete_many()
        .filter(directive_drafts::Column::Id.eq(id))
        .filter(directive_drafts::Column::UpdatedAt.eq(row.updated_at))
        .filter(directive_drafts::Column::Overrides.eq(row.overrides.clone()))
        .exec(&txn)
        .await?;
    if gone.rows_affected != 1 {
        return Err(DraftRefused::Changed(id.to_string()).into());
    }
    audit(
        &txn,
        by.user,
        "directive.publish",
        id,
        serde_json::json!({
            "number": directive.number,
            "documents": documents.len(),
            "tasks": documents.iter().map(|d| d.tasks).sum::<usize>(),
        }),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(directive = %id, by = %by.name, documents = documents.len(), "directive published");
    Ok(Published {
        id: id.to_string(),
        number: directive.number,
        documents,
        revision: None,
    })
}

/// Publish `draft` (imported as `directive`) as the next revision of `published` (decision
/// 44): in one transaction, the directive's row takes the new text, overrides and revision,
/// its clauses and assignments are replaced, units newly named get a document (made at the
/// new revision) and the draft is removed; then every other document is brought to the
/// revision by `by`'s signed operations. A document whose write is refused stays behind and
/// is listed (`POST /api/v1/directives/{id}/bring` brings it later); nothing recorded on any
/// task is lost: withdrawn tasks keep their work.
async fn publish_revision(
    db: &DatabaseConnection,
    catalogue: &Arc<Catalogue>,
    by: &By,
    draft: &directive_drafts::Model,
    published: directives::Model,
    directive: Directive,
    office: Option<Office<'_>>,
) -> ApiResult<Published> {
    let id = published.id.clone();
    let (Some(caller), Some(office)) = (by.caller.as_ref(), office) else {
        return Err(DraftRefused::RevisionNeedsAccount(id).into());
    };
    caller.require(caller.acts_for_office(), "publish a revision")?;
    let revision = published.revision + 1;
    let headers = document_headers(&directive, catalogue);
    let documents = planned_of(&headers);
    let txn = db::begin_write(db).await?;
    // Only over the directive as read: two revisions published at once, the second refused.
    let done = directives::Entity::update_many()
        .col_expr(
            directives::Column::Number,
            Expr::value(directive.number.clone()),
        )
        .col_expr(
            directives::Column::Issuer,
            Expr::value(directive.issuer.clone()),
        )
        .col_expr(
            directives::Column::Date,
            Expr::value(directive.date.to_string()),
        )
        .col_expr(
            directives::Column::Title,
            Expr::value(directive.title.clone()),
        )
        .col_expr(
            directives::Column::Document,
            Expr::value(serde_json::to_string(&directive).map_err(ApiError::internal)?),
        )
        .col_expr(
            directives::Column::Source,
            Expr::value(draft.source.clone()),
        )
        .col_expr(
            directives::Column::Overrides,
            Expr::value(draft.overrides.clone()),
        )
        .col_expr(directives::Column::ImportedAt, Expr::value(now()))
        .col_expr(directives::Column::Revision, Expr::value(revision))
        .filter(directives::Column::Id.eq(id.as_str()))
        .filter(directives::Column::Revision.eq(published.revision))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(DraftRefused::Changed(id).into());
    }
    clauses::Entity::delete_many()
        .filter(clauses::Column::DirectiveId.eq(id.as_str()))
        .exec(&txn)
        .await?;
    assignments::Entity::delete_many()
        .filter(assignments::Column::DirectiveId.eq(id.as_str()))
        .exec(&txn)
        .await?;
    store_clauses(&txn, &directive)
        .await
        .map_err(ApiError::internal)?;
    let with_document = document_units(&txn, &id).await?;
    let new_headers: Vec<_> = headers
        .into_iter()
        .filter(|h| !with_document.contains(&h.unit))
        .collect();
    insert_documents(&txn, &id, &new_headers, revision)
        .await
        .map_err(ApiError::internal)?;
    let gone = directive_drafts::Entity::delete_many()
        .filter(directive_drafts::Column::Id.eq(id.as_str()))
        .filter(directive_drafts::Column::UpdatedAt.eq(draft.updated_at))
        .filter(directive_drafts::Column::Overrides.eq(draft.overrides.clone()))
        .exec(&txn)
        .await?;
    if gone.rows_affected != 1 {
        return Err(DraftRefused::Changed(id).into());
    }
    audit(
        &txn,
        by.user,
        "directive.revise",
        &id,
        serde_json::json!({
            "number": directive.number,
            "revision": revision,
            "new_documents": new_headers.iter().map(|h| &h.unit).collect::<Vec<_>>(),
        }),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(directive = %id, by = %by.name, revision, "directive revised");
    let brought = bring_documents(db, office.writer, office.audit, catalogue, caller, &id).await?;
    Ok(Published {
        id,
        number: directive.number,
        documents,
        revision: Some(brought),
    })
}

/// Throw a draft away; `expected` as for [`publish`]. The discarded draft's number.
pub async fn discard(
    db: &DatabaseConnection,
    by: &By,
    id: &str,
    expected: Option<i64>,
) -> ApiResult<String> {
    let txn = db::begin_write(db).await?;
    let row = find(&txn, id).await?;
    if expected.is_some_and(|e| e != row.updated_at) {
        return Err(DraftRefused::Changed(id.to_string()).into());
    }
    let gone = directive_drafts::Entity::delete_many()
        .filter(directive_drafts::Column::Id.eq(id))
        .filter(directive_drafts::Column::UpdatedAt.eq(row.updated_at))
        .exec(&txn)
        .await?;
    if gone.rows_affected != 1 {
        return Err(DraftRefused::Changed(id.to_string()).into());
    }
    audit(
        &txn,
        by.user,
        "directive.discard",
        id,
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(row.number)
}
