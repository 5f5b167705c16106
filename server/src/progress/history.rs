//! The progress history for the chart: today's totals, recorded from the task projections.

use chrono::NaiveDate;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::OnConflict,
};

use crate::{
    db::entity::{progress_history, tasks},
    error::ApiResult,
};

/// Record today's totals at most every few seconds per process, outside any sync's
/// transaction (the row is shared by every unit); a failure is logged, never fatal.
pub async fn maybe_record_history(
    db: &impl ConnectionTrait,
    last_recorded: &std::sync::atomic::AtomicI64,
    directive: &str,
) {
    use std::sync::atomic::Ordering;
    let now = chrono::Utc::now();
    let last = last_recorded.load(Ordering::Relaxed);
    if now.timestamp() - last < 10
        || last_recorded
            .compare_exchange(last, now.timestamp(), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    if let Err(e) = record_history(db, directive, now.date_naive()).await {
        tracing::warn!(error = %e, "could not record the progress history");
    }
}

/// Record today's totals for the chart (one upsert from the task projections).
pub async fn record_history(
    db: &impl ConnectionTrait,
    directive: &str,
    today: NaiveDate,
) -> ApiResult<()> {
    let rows: Vec<(String, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Status)
        .column_as(tasks::Column::TaskRef.count(), "n")
        .filter(tasks::Column::DirectiveId.eq(directive))
        .filter(tasks::Column::ClauseId.is_not_null())
        .group_by(tasks::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let get = |s: &str| {
        rows.iter()
            .find(|(k, _)| k == s)
            .map_or(0, |(_, n)| i32::try_from(*n).unwrap_or(i32::MAX))
    };
    let assigned = rows
        .iter()
        .map(|(_, n)| i32::try_from(*n).unwrap_or(0))
        .sum();
    progress_history::Entity::insert(progress_history::ActiveModel {
        directive_id: Set(directive.to_string()),
        day: Set(today.to_string()),
        assigned: Set(assigned),
        done: Set(get("done")),
        in_progress: Set(get("in_progress")),
        blocked: Set(get("blocked")),
    })
    .on_conflict(
        OnConflict::columns([
            progress_history::Column::DirectiveId,
            progress_history::Column::Day,
        ])
        .update_columns([
            progress_history::Column::Assigned,
            progress_history::Column::Done,
            progress_history::Column::InProgress,
            progress_history::Column::Blocked,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn history(
    db: &impl ConnectionTrait,
    directive: &str,
) -> ApiResult<Vec<progress_history::Model>> {
    Ok(progress_history::Entity::find()
        .filter(progress_history::Column::DirectiveId.eq(directive))
        .order_by_asc(progress_history::Column::Day)
        .all(db)
        .await?)
}
