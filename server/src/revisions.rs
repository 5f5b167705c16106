//! Bringing the units' documents to a revision of their directive (issue 21, decision 44).
//!
//! A published document's header never changes, so a revision reaches the documents as the
//! Ministry Office's signed operations (mobile-core's `revision_ops`: tasks withdrawn with
//! their work kept, roles changed, tasks withdrawn before given again, tasks given for new
//! clauses), written through the sync writer by the device the server holds for the account
//! that publishes, as every other office action is. Each document records the revision it was
//! brought to (`documents.revision`): those behind the directive's are the ones still to
//! bring (a write refused, the server stopped half-way), and bringing them again is safe —
//! the operations are worked out from the document as stored, so a document already brought
//! gets none.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use serde::Serialize;
use taskforce_core::{
    directive::{Catalogue, Directive},
    doc::{DocHeader, HeaderTask, RevisionSummary, revision_ops},
    sync::DocKey,
};
use utoipa::ToSchema;

use crate::{
    audit::AuditKey,
    auth::Caller,
    db::entity::{directives, documents},
    docstore,
    error::{ApiError, ApiResult},
    office::{ATTEMPTS, TURNS, server_device, write_change},
    sync::GroupWriter,
};

/// What bringing one unit's document to the revision did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BroughtDocument {
    pub unit: String,
    /// `revised` (operations written), `unchanged` (nothing to write) or `not_written` (the
    /// write was refused: bring the documents again later).
    pub outcome: String,
    #[serde(flatten)]
    pub summary: RevisionSummary,
    /// Why it was not written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Bringing a directive's documents to its revision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Brought {
    pub directive: String,
    pub revision: i32,
    /// The documents that were behind it, each with what was done.
    pub documents: Vec<BroughtDocument>,
    /// Documents still behind (those not written).
    pub behind: u64,
}

/// The tasks `directive` gives each unit it gives any (what publishing stores).
pub fn tasks_by_unit(
    directive: &Directive,
    catalogue: &Catalogue,
) -> BTreeMap<String, Vec<HeaderTask>> {
    DocHeader::all_for(directive, catalogue)
        .into_iter()
        .map(|h| (h.unit, h.tasks))
        .collect()
}

/// How many of `directive`'s documents are behind its revision.
pub async fn behind(db: &DatabaseConnection, directive: &str, revision: i32) -> ApiResult<u64> {
    Ok(documents::Entity::find()
        .filter(documents::Column::DirectiveId.eq(directive))
        .filter(documents::Column::Revision.lt(revision))
        .count(db)
        .await?)
}

/// What the documents are brought to: the directive's revision and the tasks it gives each
/// unit, read again before every document (a newer revision may be published meanwhile, on
/// this server or another).
struct Target {
    directive: String,
    revision: i32,
    tasks: BTreeMap<String, Vec<HeaderTask>>,
}

impl Target {
    async fn read(
        db: &DatabaseConnection,
        catalogue: &Catalogue,
        directive: &str,
    ) -> ApiResult<Self> {
        let row = directives::Entity::find_by_id(directive.to_string())
            .one(db)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("directive {directive}")))?;
        let d: Directive = serde_json::from_str(&row.document).map_err(ApiError::internal)?;
        Ok(Self {
            directive: directive.to_string(),
            revision: row.revision,
            tasks: tasks_by_unit(&d, catalogue),
        })
    }

    /// Read the directive's revision again; its text too when it moved.
    async fn refresh(&mut self, db: &DatabaseConnection, catalogue: &Catalogue) -> ApiResult<()> {
        let now: Option<i32> = directives::Entity::find_by_id(self.directive.clone())
            .select_only()
            .column(directives::Column::Revision)
            .into_tuple()
            .one(db)
            .await?;
        if now != Some(self.revision) {
            *self = Self::read(db, catalogue, &self.directive).await?;
        }
        Ok(())
    }
}

/// Bring every document of `directive` that is behind its revision to it, as `caller` (who
/// must act for the Ministry Office). A document whose write is refused is listed and left
/// behind; the others go on. Each document is brought to a fixpoint: after writing, it is
/// read again with the directive's revision, and written again until its operations are
/// none — so a newer revision published meanwhile, or another bringing at once (another
/// server, the command line), never leaves it at an older revision's tasks or with two tasks
/// for one clause; only then is it marked as brought.
pub async fn bring_documents(
    db: &DatabaseConnection,
    writer: &GroupWriter,
    audit: &AuditKey,
    catalogue: &Catalogue,
    caller: &Caller,
    directive: &str,
) -> ApiResult<Brought> {
    caller.require(caller.acts_for_office(), "bring documents to a revision")?;
    let mut target = Target::read(db, catalogue, directive).await?;
    let units: Vec<String> = documents::Entity::find()
        .select_only()
        .column(documents::Column::UnitId)
        .filter(documents::Column::DirectiveId.eq(directive))
        .filter(documents::Column::Revision.lt(target.revision))
        .order_by_asc(documents::Column::UnitId)
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Vec::new();
    if !units.is_empty() {
        let (actor, key) = server_device(db, audit, caller).await?;
        let _turn = TURNS.lock().await;
        for unit in units {
            let doc_key = DocKey {
                directive: directive.to_string(),
                unit: unit.clone(),
            };
            let brought = bring_unit(
                db,
                writer,
                catalogue,
                caller,
                &doc_key,
                actor,
                &key,
                &mut target,
            )
            .await?;
            out.push(brought);
        }
        crate::accounts::audit(
            db,
            Some(caller.user_id),
            "directive.bring",
            directive,
            serde_json::json!({
                "revision": target.revision,
                "documents": out.iter().map(|b| (&b.unit, &b.outcome)).collect::<Vec<_>>(),
            }),
        )
        .await?;
    }
    Ok(Brought {
        directive: directive.to_string(),
        revision: target.revision,
        behind: behind(db, directive, target.revision).await?,
        documents: out,
    })
}

/// Bring one document to the directive's revision as it stands (see [`bring_documents`]).
#[allow(clippy::too_many_arguments)]
async fn bring_unit(
    db: &DatabaseConnection,
    writer: &GroupWriter,
    catalogue: &Catalogue,
    caller: &Caller,
    doc_key: &DocKey,
    actor: u32,
    key: &ed25519_dalek::SigningKey,
    target: &mut Target,
) -> ApiResult<BroughtDocument> {
    let unit = doc_key.unit.clone();
    let mut first: Option<RevisionSummary> = None;
    let mut last_error: Option<ApiError> = None;
    // Writes of its own, then one more read that finds nothing to write.
    for _ in 0..2 * ATTEMPTS {
        target.refresh(db, catalogue).await?;
        let tasks = target.tasks.get(&unit).cloned().unwrap_or_default();
        match bring_one(db, writer, caller, doc_key, actor, key, &tasks).await {
            Ok((summary, false)) => {
                documents::Entity::update_many()
                    .col_expr(documents::Column::Revision, Expr::value(target.revision))
                    .filter(documents::Column::DirectiveId.eq(doc_key.directive.as_str()))
                    .filter(documents::Column::UnitId.eq(unit.as_str()))
                    .filter(documents::Column::Revision.lt(target.revision))
                    .exec(db)
                    .await?;
                let wrote = first.is_some();
                return Ok(BroughtDocument {
                    unit,
                    outcome: if wrote { "revised" } else { "unchanged" }.into(),
                    summary: first.unwrap_or(summary),
                    reason: None,
                });
            }
            Ok((summary, true)) => {
                first.get_or_insert(summary);
            }
            // The account's sequence numbers were taken by another of its writes since the
            // document was read (on another replica): read it again.
            Err(e @ (ApiError::Reused { .. } | ApiError::Gap { .. })) => {
                last_error = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => {
                tracing::warn!(directive = %doc_key.directive, unit = %unit, error = %e, "a document was not brought to its directive's revision");
                return Ok(not_written(unit, &e));
            }
        }
    }
    let e = last_error.unwrap_or_else(|| {
        ApiError::Conflict(
            "tài liệu đang được ghi liên tục; hãy thử lại / the document kept changing; try again"
                .into(),
        )
    });
    Ok(not_written(unit, &e))
}

fn not_written(unit: String, e: &ApiError) -> BroughtDocument {
    BroughtDocument {
        unit,
        outcome: "not_written".into(),
        summary: RevisionSummary::default(),
        reason: Some(e.to_string()),
    }
}

/// Bring one document to `target` (the tasks the revision gives its unit): its operations,
/// worked out from the document as stored, written as one change. What they do, and whether
/// there were any.
async fn bring_one(
    db: &DatabaseConnection,
    writer: &GroupWriter,
    caller: &Caller,
    doc_key: &DocKey,
    actor: u32,
    key: &ed25519_dalek::SigningKey,
    target: &[HeaderTask],
) -> ApiResult<(RevisionSummary, bool)> {
    let Some((doc, _)) = docstore::load_whole(db, doc_key).await? else {
        return Err(ApiError::NotFound(format!(
            "tài liệu / document {}/{}",
            doc_key.directive, doc_key.unit
        )));
    };
    let (ops, summary) = revision_ops(&doc, target);
    if ops.is_empty() {
        return Ok((summary, false));
    }
    write_change(writer, caller, doc_key, &doc, actor, key, ops).await?;
    Ok((summary, true))
}
