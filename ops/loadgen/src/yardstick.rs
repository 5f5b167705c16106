//! The yardstick: how fast the server's database takes the rows the server wrote in this
//! run, written as the server's group commit wrote them.
//!
//! With the server stopped, the run's own rows are read back: its op-log changes (real bodies,
//! hashes and seals), the unit documents and task rows it updated, and its report rows. They
//! are then written again, in as many transactions as the server's writer used (its
//! `sync_write_transactions`), each taking its share of every kind: the document updates,
//! the change rows and the projection rows, through the server's own code
//! (`taskforce_server::sync::store_rows`, the same multi-row statements and conflict
//! clauses) on the server's own connection settings (`db::connect`: the same driver, SQLite's
//! WAL and `synchronous=FULL`). Change and report rows go in under shifted keys and are
//! deleted afterwards; documents and tasks get new values (a row written unchanged would
//! cost SQLite nothing) and are restored after each pass. Only
//! the decoding, merging and HTTP are left out: what is measured is the database's part.
//! Confirmation and verification rows are written as report rows (of like size). Five
//! passes, each undone before the next; the median is reported.

use std::time::Instant;

use anyhow::Context;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, sea_query::Expr,
};
use taskforce_server::db::entity::{changes, documents, reports, tasks};

/// What the run's server wrote (its `/metrics` counters over the run).
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    pub transactions: u64,
    pub changes: u64,
    pub documents: u64,
    pub task_rows: u64,
    pub event_rows: u64,
}

/// The yardstick's figures.
#[derive(Debug, Clone, Copy)]
pub struct Yardstick {
    /// Rows of every kind written per second.
    pub rows_per_sec: f64,
    /// The run's operations per second of the yardstick's time: the most the database
    /// allows the server at this batching.
    pub ops_per_sec: f64,
    pub rows: u64,
    pub seconds: f64,
}

/// Passes of the yardstick; the median is reported.
const REPEATS: usize = 5;

/// Key offset for the rows written again (far above any real sequence number).
const SHIFT: i64 = 1 << 48;

/// Write the run's rows again into the database at `url`: see the module's notes. `since`:
/// the run's start (seconds), `units`: its units, `ops`: the operations the run made.
pub fn yardstick(
    url: &str,
    since: i64,
    units: &[String],
    written: Written,
    ops: u64,
) -> anyhow::Result<Option<Yardstick>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(replay(url, since, units, written, ops))
}

/// `n` items spread over `parts` as evenly as they go: part `i`'s range.
fn share(n: usize, parts: usize, i: usize) -> std::ops::Range<usize> {
    let parts = parts.max(1);
    (n * i / parts)..(n * (i + 1) / parts)
}

/// `count` items cycling through `pool` (the rows the run left are fewer than it wrote when
/// it wrote some rows more than once: a task upserted in many batches).
fn cycled<T: Clone>(pool: &[T], count: usize) -> Vec<T> {
    pool.iter().cycle().take(count).cloned().collect()
}

async fn replay(
    url: &str,
    since: i64,
    units: &[String],
    w: Written,
    ops: u64,
) -> anyhow::Result<Option<Yardstick>> {
    let db = taskforce_server::db::connect(url).await?;
    let units: Vec<&str> = units.iter().map(String::as_str).collect();
    let change_rows = changes::Entity::find()
        .filter(changes::Column::ReceivedAt.gte(since))
        .filter(changes::Column::UnitId.is_in(units.clone()))
        .filter(changes::Column::StartSeq.lt(SHIFT))
        .order_by_asc(changes::Column::ReceivedAt)
        .order_by_asc(changes::Column::Position)
        .all(&db)
        .await
        .context("the run's change rows")?;
    if change_rows.is_empty() || w.transactions == 0 {
        return Ok(None);
    }
    let docs = documents::Entity::find()
        .filter(documents::Column::UnitId.is_in(units.clone()))
        .all(&db)
        .await?;
    // The rows this run wrote: tasks it updated, reports it made.
    let task_pool = tasks::Entity::find()
        .filter(tasks::Column::UnitId.is_in(units.clone()))
        .filter(tasks::Column::UpdatedAt.gte(since))
        .all(&db)
        .await?;
    let report_pool = reports::Entity::find()
        .filter(reports::Column::UnitId.is_in(units.clone()))
        .filter(reports::Column::At.gte(since))
        .filter(reports::Column::OpId.not_like("%~yardstick%"))
        .all(&db)
        .await?;
    let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let changes: Vec<changes::ActiveModel> = cycled(&change_rows, count(w.changes))
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            // Each copy under its own key, as the real rows are.
            let lap = i64::try_from(i / change_rows.len()).unwrap_or(0);
            c.start_seq += SHIFT + lap * (1 << 32);
            c.end_seq += SHIFT + lap * (1 << 32);
            c.position += SHIFT + lap * (1 << 32);
            c.into_active_model().reset_all()
        })
        .collect();
    let txns = count(w.transactions);
    // Each transaction's task rows: its share, each task once (as a batch has it), a moment
    // later than stored (a real change of the row; undone after each pass).
    let mut next = 0;
    let task_rows: Vec<Vec<tasks::ActiveModel>> = (0..txns)
        .map(|i| {
            let n = share(count(w.task_rows), txns, i)
                .len()
                .min(task_pool.len());
            let rows = (0..n)
                .filter_map(|k| task_pool.get((next + k) % task_pool.len()))
                .map(|t| {
                    let mut t = t.clone();
                    t.updated_at += 1;
                    t.into_active_model().reset_all()
                })
                .collect();
            next += n;
            rows
        })
        .collect();
    let event_rows: Vec<reports::ActiveModel> = if report_pool.is_empty() {
        Vec::new()
    } else {
        cycled(&report_pool, count(w.event_rows))
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r.op_id = format!("{}~yardstick{i}", r.op_id);
                r.into_active_model().reset_all()
            })
            .collect()
    };
    let doc_updates = cycled(&docs, count(w.documents));
    let undo = Undo {
        units: &units,
        docs: &docs,
        tasks: &task_pool,
    };

    // Copies a run stopped midway left behind, first; and after each pass, also when it
    // failed.
    undo.run(&db).await?;
    // Several times (each undone before the next), the median: one pass is often under a
    // second, where the machine's noise is large.
    let mut times = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let t = Instant::now();
        let pass = write_pass(&db, txns, &doc_updates, &changes, &task_rows, &event_rows).await;
        times.push(t.elapsed().as_secs_f64().max(1e-9));
        // What went in, counted before it is undone: a copy refused by a conflict clause
        // would make the yardstick fast for nothing.
        let copied = changes::Entity::find()
            .filter(changes::Column::UnitId.is_in(units.clone()))
            .filter(changes::Column::StartSeq.gte(SHIFT))
            .count(&db)
            .await;
        undo.run(&db).await?;
        pass?;
        if copied? != changes.len() as u64 {
            anyhow::bail!("the yardstick's change rows did not all go in");
        }
    }
    times.sort_by(f64::total_cmp);
    let seconds = times.get(times.len() / 2).copied().unwrap_or(1e-9);
    let task_count: usize = task_rows.iter().map(Vec::len).sum();
    let rows = (changes.len() + task_count + event_rows.len() + doc_updates.len()) as u64;
    Ok(Some(Yardstick {
        rows_per_sec: rows as f64 / seconds,
        ops_per_sec: ops as f64 / seconds,
        rows,
        seconds,
    }))
}

/// One pass: `txns` transactions, each with its share of every kind of row.
async fn write_pass(
    db: &sea_orm::DatabaseConnection,
    txns: usize,
    doc_updates: &[documents::Model],
    changes: &[changes::ActiveModel],
    task_rows: &[Vec<tasks::ActiveModel>],
    event_rows: &[reports::ActiveModel],
) -> anyhow::Result<()> {
    for i in 0..txns {
        let txn: DatabaseTransaction = taskforce_server::db::begin_write(db).await?;
        for d in &doc_updates[share(doc_updates.len(), txns, i)] {
            // The columns the writer sets, each to a new value (undone after the pass):
            // an unchanged row would cost SQLite nothing.
            let mut chain_head = d.chain_head.clone().unwrap_or_default();
            if let Some(b) = chain_head.first_mut() {
                *b ^= 0xff;
            }
            documents::Entity::update_many()
                .col_expr(documents::Column::Ops, Expr::value(d.ops + 1))
                .col_expr(documents::Column::UpdatedAt, Expr::value(d.updated_at + 1))
                .col_expr(documents::Column::Head, Expr::value(d.head.clone()))
                .col_expr(documents::Column::ChainLen, Expr::value(d.chain_len + 1))
                .col_expr(documents::Column::ChainHead, Expr::value(chain_head))
                .filter(documents::Column::DirectiveId.eq(d.directive_id.as_str()))
                .filter(documents::Column::UnitId.eq(d.unit_id.as_str()))
                .exec(&txn)
                .await?;
        }
        taskforce_server::sync::store_rows(
            &txn,
            changes[share(changes.len(), txns, i)].to_vec(),
            task_rows.get(i).cloned().unwrap_or_default(),
            event_rows[share(event_rows.len(), txns, i)].to_vec(),
            Vec::new(),
            Vec::new(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("the yardstick's rows: {e:?}"))?;
        txn.commit().await?;
    }
    Ok(())
}

/// What undoes a pass: the copies deleted (shifted change keys, marked report ids, in the
/// run's units), the documents and tasks written back as they were read.
struct Undo<'a> {
    units: &'a [&'a str],
    docs: &'a [documents::Model],
    tasks: &'a [tasks::Model],
}

impl Undo<'_> {
    async fn run(&self, db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
        let units = self.units.to_vec();
        changes::Entity::delete_many()
            .filter(changes::Column::UnitId.is_in(units.clone()))
            .filter(changes::Column::StartSeq.gte(SHIFT))
            .exec(db)
            .await
            .context("delete the yardstick's change rows")?;
        reports::Entity::delete_many()
            .filter(reports::Column::UnitId.is_in(units))
            .filter(reports::Column::OpId.like("%~yardstick%"))
            .exec(db)
            .await
            .context("delete the yardstick's report rows")?;
        for d in self.docs {
            documents::Entity::update_many()
                .col_expr(documents::Column::Ops, Expr::value(d.ops))
                .col_expr(documents::Column::UpdatedAt, Expr::value(d.updated_at))
                .col_expr(documents::Column::ChainLen, Expr::value(d.chain_len))
                .col_expr(
                    documents::Column::ChainHead,
                    Expr::value(d.chain_head.clone()),
                )
                .filter(documents::Column::DirectiveId.eq(d.directive_id.as_str()))
                .filter(documents::Column::UnitId.eq(d.unit_id.as_str()))
                .exec(db)
                .await
                .context("restore the documents")?;
        }
        for t in self.tasks {
            tasks::Entity::update_many()
                .col_expr(tasks::Column::UpdatedAt, Expr::value(t.updated_at))
                .filter(tasks::Column::DirectiveId.eq(t.directive_id.as_str()))
                .filter(tasks::Column::UnitId.eq(t.unit_id.as_str()))
                .filter(tasks::Column::TaskRef.eq(t.task_ref.as_str()))
                .exec(db)
                .await
                .context("restore the tasks")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_item_once() {
        for (n, parts) in [(0, 3), (10, 3), (3, 10), (1000, 7)] {
            let covered: Vec<usize> = (0..parts).flat_map(|i| share(n, parts, i)).collect();
            assert_eq!(covered, (0..n).collect::<Vec<_>>(), "{n} over {parts}");
        }
    }

    #[test]
    fn cycling_fills_the_count() {
        assert_eq!(cycled(&[1, 2], 5), vec![1, 2, 1, 2, 1]);
        assert!(cycled::<u8>(&[], 5).is_empty());
    }
}
