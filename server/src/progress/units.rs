//! Each unit's figures from the projections the writer keeps (decision 8): the task rows and
//! the latest report per unit, never the CRDT documents, so a read costs in proportion to the
//! directive's tasks, not to any document's history, and one unreadable document cannot take
//! the reads of the others down.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, Order, Query, QueryStatementBuilder},
};
use taskforce_core::{
    directive::Role,
    doc::{ReviewState, Status, TaskRef},
    progress::{OfficeMarks, TaskProgress, UnitProgress},
};

use crate::{
    db::entity::{documents, reports, tasks},
    error::ApiResult,
};

/// A task row's columns that progress reads.
type TaskRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i32,
    Option<String>,
    bool,
    String,
    i32,
    Option<i64>,
);

/// The projected role's column value back to the role (`db::seed::role_str`'s inverse).
fn role_of(s: &str) -> Option<Role> {
    match s {
        "lead" => Some(Role::Lead),
        "coordinating" => Some(Role::Coordinating),
        _ => None,
    }
}

/// A projected task as mobile-core's progress rules take it; `None` for a row whose task id
/// does not read (never written by this server), which is left out and logged.
fn task_of(row: &TaskRow, today: NaiveDate) -> Option<TaskProgress> {
    let (
        unit,
        task_ref,
        clause,
        role,
        status,
        progress,
        due,
        conflicted,
        review,
        urges,
        last_urged_at,
    ) = row;
    let Ok(task) = task_ref.parse::<TaskRef>() else {
        tracing::warn!(%unit, %task_ref, "a task projection with an unreadable id is left out");
        return None;
    };
    let review = ReviewState::parse(review).unwrap_or_else(|| {
        tracing::warn!(%unit, %task_ref, %review, "an unknown review state reads as open");
        ReviewState::Open
    });
    let marks = OfficeMarks {
        review,
        urges: u32::try_from(*urges).unwrap_or(0),
        last_urged_at: *last_urged_at,
    };
    Some(TaskProgress::new(
        task,
        clause.clone(),
        role.as_deref().and_then(role_of),
        Status::parse(status).unwrap_or(Status::Todo),
        u8::try_from((*progress).clamp(0, 100)).unwrap_or(0),
        due.as_deref().and_then(|d| d.parse::<NaiveDate>().ok()),
        *conflicted,
        marks,
        today,
    ))
}

/// The progress of every unit of `directive` that has a document (or of `only` those units), in
/// unit order, each with its tasks in task order.
pub async fn units_progress(
    db: &impl ConnectionTrait,
    directive: &str,
    only: Option<&[String]>,
    today: NaiveDate,
) -> ApiResult<Vec<UnitProgress>> {
    // Each unit document with its latest report: one index seek per unit (the reports'
    // index by unit and time), however many reports it has made.
    let latest = Query::select()
        .column((reports::Entity, reports::Column::At))
        .from(reports::Entity)
        .and_where(
            Expr::col((reports::Entity, reports::Column::DirectiveId))
                .equals((documents::Entity, documents::Column::DirectiveId)),
        )
        .and_where(
            Expr::col((reports::Entity, reports::Column::UnitId))
                .equals((documents::Entity, documents::Column::UnitId)),
        )
        .order_by((reports::Entity, reports::Column::At), Order::Desc)
        .limit(1)
        .to_owned();
    let mut units = Query::select()
        .column((documents::Entity, documents::Column::UnitId))
        .expr_as(
            Expr::SubQuery(None, Box::new(latest.into_sub_query_statement())),
            "latest_report_at",
        )
        .from(documents::Entity)
        .and_where(Expr::col((documents::Entity, documents::Column::DirectiveId)).eq(directive))
        .order_by((documents::Entity, documents::Column::UnitId), Order::Asc)
        .to_owned();
    let mut rows = tasks::Entity::find()
        .select_only()
        .columns([
            tasks::Column::UnitId,
            tasks::Column::TaskRef,
            tasks::Column::ClauseId,
            tasks::Column::Role,
            tasks::Column::Status,
            tasks::Column::Progress,
            tasks::Column::Due,
            tasks::Column::Conflicted,
            tasks::Column::Review,
            tasks::Column::Urges,
            tasks::Column::LastUrgedAt,
        ])
        .filter(tasks::Column::DirectiveId.eq(directive));
    if let Some(only) = only {
        units.and_where(
            Expr::col((documents::Entity, documents::Column::UnitId)).is_in(only.iter().cloned()),
        );
        rows = rows.filter(tasks::Column::UnitId.is_in(only.iter().cloned()));
    }
    let mut latest: Vec<(String, Option<i64>)> = Vec::new();
    for row in db
        .query_all_raw(db.get_database_backend().build(&units))
        .await?
    {
        latest.push((
            row.try_get("", "unit_id")?,
            row.try_get("", "latest_report_at")?,
        ));
    }
    let rows: Vec<TaskRow> = rows.into_tuple().all(db).await?;
    let mut tasks_of: BTreeMap<&str, Vec<TaskProgress>> = BTreeMap::new();
    for row in &rows {
        if let Some(t) = task_of(row, today) {
            tasks_of.entry(row.0.as_str()).or_default().push(t);
        }
    }
    Ok(latest
        .into_iter()
        .map(|(unit, last_report_at)| {
            let mut tasks = tasks_of.remove(unit.as_str()).unwrap_or_default();
            tasks.sort_by_key(|t| t.task);
            UnitProgress::from_tasks(unit, tasks, last_report_at, today)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projected_row_reads_as_the_task_it_stands_for() {
        let today = NaiveDate::from_ymd_opt(2020, 2, 10).unwrap_or_default();
        let row: TaskRow = (
            "cuc-vt".into(),
            "a3".into(),
            Some("II.1".into()),
            Some("lead".into()),
            "in_progress".into(),
            40,
            Some("2020-02-05".into()),
            true,
            "returned".into(),
            2,
            Some(1_581_000_000),
        );
        let t = task_of(&row, today);
        assert_eq!(
            t,
            Some(TaskProgress::new(
                TaskRef::Assigned(3),
                Some("II.1".into()),
                Some(Role::Lead),
                Status::InProgress,
                40,
                NaiveDate::from_ymd_opt(2020, 2, 5),
                true,
                OfficeMarks {
                    review: ReviewState::Returned,
                    urges: 2,
                    last_urged_at: Some(1_581_000_000),
                },
                today,
            ))
        );
        assert!(t.is_some_and(|t| t.overdue));
        let mut unreadable = row.clone();
        unreadable.1 = "zz".into();
        assert_eq!(task_of(&unreadable, today), None);
        let mut odd = row.clone();
        odd.5 = 1_000;
        odd.4 = "done".into();
        odd.8 = "reported".into();
        assert_eq!(
            task_of(&odd, today).map(|t| (t.progress, t.overdue)),
            Some((100, false))
        );
        // Returned work is overdue past its date whatever its status says.
        odd.8 = "returned".into();
        assert_eq!(
            task_of(&odd, today).map(|t| (t.review, t.overdue)),
            Some((ReviewState::Returned, true))
        );
        let mut unknown = row;
        unknown.8 = "approved-ish".into();
        unknown.9 = -3;
        assert_eq!(
            task_of(&unknown, today).map(|t| (t.review, t.urges)),
            Some((ReviewState::Open, 0))
        );
    }

    #[test]
    fn every_role_reads_back() {
        for r in [Role::Lead, Role::Coordinating] {
            assert_eq!(role_of(crate::db::seed::role_str(r)), Some(r));
        }
    }
}
