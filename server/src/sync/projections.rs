//! The read side a write keeps up to date: the projection rows of the tasks, reports and
//! confirmations a batch touched, as the documents now have them.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use taskforce_core::{
    doc::{BoundedDocument, Confirmation, ConfirmationState, Op, OpId, TaskRef},
    progress::bounded_task_progress,
    sync::{Change, DocKey},
};

use crate::{
    db::{
        entity::{changes, confirmations, reports, tasks, verifications},
        insert_chunked,
        seed::role_str,
    },
    error::ApiResult,
};

#[derive(Default)]
pub(super) struct Touched {
    pub tasks: BTreeSet<TaskRef>,
    /// With the confirmation's details when this batch brings the `Confirm` itself (the
    /// document in memory does not keep them).
    pub confirmations: BTreeMap<OpId, Option<Confirmation>>,
    pub reports: Vec<reports::ActiveModel>,
    pub verifications: Vec<verifications::ActiveModel>,
}

/// Note what the operations of `c` past `before` touch: tasks and confirmations to project
/// again, reports to add.
pub(super) fn touch(touched: &mut Touched, directive: &str, unit: &str, c: &Change, before: u64) {
    for (i, op) in c.ops.iter().enumerate() {
        let id = OpId::new(c.actor, c.start + i as u64);
        if id.seq <= before {
            continue;
        }
        match op {
            Op::Set { task, .. }
            | Op::Comment { task, .. }
            | Op::AddEvidence { task, .. }
            | Op::Urge { task, .. } => {
                touched.tasks.insert(*task);
            }
            Op::AddTask { .. } => {
                touched.tasks.insert(TaskRef::Adhoc(id));
            }
            Op::Assign(_) => {
                touched.tasks.insert(TaskRef::Added(id));
            }
            Op::Confirm(c) => {
                touched.confirmations.insert(id, Some(c.clone()));
            }
            Op::SetConfirmation { id: target, .. } => {
                touched.confirmations.entry(*target).or_insert(None);
            }
            Op::Report(r) => touched.reports.push(reports::ActiveModel {
                directive_id: Set(directive.into()),
                unit_id: Set(unit.into()),
                op_id: Set(id.to_string()),
                actor_id: Set(i32::try_from(c.actor).unwrap_or(i32::MAX)),
                period: Set(r.period.clone()),
                text: Set(r.text.clone()),
                figures: Set(serde_json::to_string(
                    &r.figures
                        .iter()
                        .map(|f| (&f.name, f.value))
                        .collect::<Vec<_>>(),
                )
                .unwrap_or_default()),
                at: Set(r.at),
            }),
            Op::Verify(v) => touched
                .verifications
                .push(verification_row(directive, unit, id, v)),
        }
    }
}

/// A date of the projections (`YYYY-MM-DD`).
fn day_text(d: Option<taskforce_core::doc::Day>) -> Option<String> {
    d.and_then(|d| d.date()).map(|d| d.to_string())
}

/// The projection row of verification `id`.
fn verification_row(
    directive: &str,
    unit: &str,
    id: OpId,
    v: &taskforce_core::doc::Verification,
) -> verifications::ActiveModel {
    let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    // What `progress::hotlines::Detail` reads back.
    let detail = serde_json::json!({"hotlines": v.hotlines, "offending": v.offending});
    verifications::ActiveModel {
        directive_id: Set(directive.into()),
        unit_id: Set(unit.into()),
        op_id: Set(id.to_string()),
        carrier: Set(v.carrier.clone()),
        file_name: Set(v.file_name.clone()),
        size: Set(big(v.size)),
        sha256: Set(taskforce_core::cdr::hex(&v.sha256)),
        layout: Set(v.layout.clone()),
        rows: Set(big(v.rows)),
        checked: Set(big(v.checked)),
        broken: Set(big(v.broken)),
        charged: Set(big(v.charged())),
        first_day: Set(day_text(v.first_day)),
        last_day: Set(day_text(v.last_day)),
        detail: Set(detail.to_string()),
        uploaded_by: Set(v.uploaded_by.clone()),
        at: Set(v.at),
    }
}

/// The projection rows of the touched tasks, as the document now has them, and the touched
/// tasks it does not list (an ad-hoc task removed, a task a revision withdrew, or one named
/// before it was made): their rows go, so the reads list exactly the document's tasks.
pub(super) fn task_rows_of(
    doc: &BoundedDocument,
    key: &DocKey,
    touched: &BTreeSet<TaskRef>,
    today: chrono::NaiveDate,
    t: i64,
) -> (Vec<tasks::ActiveModel>, Vec<TaskRef>) {
    let (listed, unlisted): (Vec<TaskRef>, Vec<TaskRef>) =
        touched.iter().partition(|&&r| doc.is_listed(r));
    let rows = listed
        .into_iter()
        .map(|r| {
            let p = bounded_task_progress(doc, r, today);
            tasks::ActiveModel {
                directive_id: Set(key.directive.clone()),
                unit_id: Set(key.unit.clone()),
                task_ref: Set(r.to_string()),
                clause_id: Set(p.clause.clone()),
                role: Set(p.role.map(|x| role_str(x).to_string())),
                title: Set(doc.titles(r).first().cloned()),
                status: Set(p.status.as_str().into()),
                progress: Set(i32::from(p.progress)),
                assignee: Set(Some(doc.assignees(r).join(" / ")).filter(|s| !s.is_empty())),
                due: Set(p.due.map(|d| d.to_string())),
                conflicted: Set(p.conflicted),
                updated_at: Set(t),
                review: Set(p.review.as_str().into()),
                urges: Set(i32::try_from(p.urges).unwrap_or(i32::MAX)),
                last_urged_at: Set(p.last_urged_at),
            }
        })
        .collect();
    (rows, unlisted)
}

/// Drop the projection rows of tasks their documents no longer list, one statement per
/// document (rare: an ad-hoc task removed, a revision's withdrawals).
pub(super) async fn drop_task_rows(
    db: &impl ConnectionTrait,
    gone: Vec<(DocKey, Vec<TaskRef>)>,
) -> ApiResult<()> {
    for (key, refs) in gone {
        tasks::Entity::delete_many()
            .filter(tasks::Column::DirectiveId.eq(key.directive.as_str()))
            .filter(tasks::Column::UnitId.eq(key.unit.as_str()))
            .filter(tasks::Column::TaskRef.is_in(refs.iter().map(ToString::to_string)))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The projection of the touched confirmations: rows to insert for those this batch made
/// (their details come with the batch's `Confirm`), new states for the others (their rows
/// exist: a device can only change a confirmation the server gave it).
pub(super) fn confirmation_rows_of(
    doc: &BoundedDocument,
    key: &DocKey,
    touched: &BTreeMap<OpId, Option<Confirmation>>,
) -> (
    Vec<confirmations::ActiveModel>,
    Vec<(DocKey, OpId, &'static str)>,
) {
    let mut rows = Vec::new();
    let mut states = Vec::new();
    for (&id, made) in touched {
        let state = match doc.confirmation_states(id).as_slice() {
            [] => continue,
            [ConfirmationState::Confirmed] => "confirmed",
            [ConfirmationState::Withdrawn] => "withdrawn",
            _ => "conflict",
        };
        let Some(c) = made else {
            states.push((key.clone(), id, state));
            continue;
        };
        rows.push(confirmations::ActiveModel {
            directive_id: Set(key.directive.clone()),
            unit_id: Set(key.unit.clone()),
            op_id: Set(id.to_string()),
            actor_id: Set(i32::try_from(id.actor).unwrap_or(i32::MAX)),
            carrier: Set(c.carrier.clone()),
            hotline: Set(c.hotline.clone()),
            free_from: Set(c
                .free_from
                .date()
                .map(|d| d.to_string())
                .unwrap_or_default()),
            attested_by: Set(c.attested_by.clone()),
            state: Set(state.into()),
            at: Set(c.at),
        });
    }
    (rows, states)
}

/// The new states of confirmations made before this batch, one statement each (a
/// confirmation's state changes seldom: withdrawn, or confirmed again).
pub(super) async fn store_confirmation_states(
    db: &impl ConnectionTrait,
    states: Vec<(DocKey, OpId, &'static str)>,
) -> ApiResult<()> {
    for (key, id, state) in states {
        confirmations::Entity::update_many()
            .col_expr(confirmations::Column::State, Expr::value(state))
            .filter(confirmations::Column::DirectiveId.eq(key.directive.as_str()))
            .filter(confirmations::Column::UnitId.eq(key.unit.as_str()))
            .filter(confirmations::Column::OpId.eq(id.to_string()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Store the batch's rows: the op log idempotently, the projections as upserts.
pub async fn store_rows(
    db: &impl ConnectionTrait,
    change_rows: Vec<changes::ActiveModel>,
    task_rows: Vec<tasks::ActiveModel>,
    report_rows: Vec<reports::ActiveModel>,
    confirmation_rows: Vec<confirmations::ActiveModel>,
    verification_rows: Vec<verifications::ActiveModel>,
) -> ApiResult<()> {
    let changes_once = OnConflict::columns([
        changes::Column::DirectiveId,
        changes::Column::UnitId,
        changes::Column::ActorId,
        changes::Column::StartSeq,
    ])
    .do_nothing()
    .to_owned();
    insert_chunked(db, &change_rows, Some(&changes_once)).await?;
    let task_upsert = OnConflict::columns([
        tasks::Column::DirectiveId,
        tasks::Column::UnitId,
        tasks::Column::TaskRef,
    ])
    .update_columns([
        // A revision changes a task's role (decision 44).
        tasks::Column::Role,
        tasks::Column::Title,
        tasks::Column::Status,
        tasks::Column::Progress,
        tasks::Column::Assignee,
        tasks::Column::Due,
        tasks::Column::Conflicted,
        tasks::Column::UpdatedAt,
        tasks::Column::Review,
        tasks::Column::Urges,
        tasks::Column::LastUrgedAt,
    ])
    .to_owned();
    insert_chunked(db, &task_rows, Some(&task_upsert)).await?;
    let reports_once = OnConflict::columns([
        reports::Column::DirectiveId,
        reports::Column::UnitId,
        reports::Column::OpId,
    ])
    .do_nothing()
    .to_owned();
    insert_chunked(db, &report_rows, Some(&reports_once)).await?;
    let confirmation_upsert = OnConflict::columns([
        confirmations::Column::DirectiveId,
        confirmations::Column::UnitId,
        confirmations::Column::OpId,
    ])
    .update_columns([confirmations::Column::State])
    .to_owned();
    insert_chunked(db, &confirmation_rows, Some(&confirmation_upsert)).await?;
    let verifications_once = OnConflict::columns([
        verifications::Column::DirectiveId,
        verifications::Column::UnitId,
        verifications::Column::OpId,
    ])
    .do_nothing()
    .to_owned();
    insert_chunked(db, &verification_rows, Some(&verifications_once)).await?;
    Ok(())
}
