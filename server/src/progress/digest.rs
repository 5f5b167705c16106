//! What the mails say (issue 22): the Ministry Office's daily digest, a unit lead's reminder,
//! the Minister's weekly summary and an urge, as figures read from the same projections and
//! rules as the progress API ([`directive_progress`], [`units_progress`]) within the caller's
//! transaction, so a digest says what the API said at the moment it was decided. Rendering is
//! `dashboard::mail`'s; deciding and sending, `mail`'s.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use taskforce_core::{
    directive::Catalogue,
    doc::{ReviewState, TaskRef},
    progress::{REPORT_EVERY_DAYS, UnitProgress},
    sync::wire::DocKey,
};

use super::{ClauseRow, DirectiveProgress, directive_progress, units_progress};
use crate::{
    db::entity::{confirmations, directives, tasks},
    error::ApiResult,
};

/// Lists in a mail stop after this many lines ("and N more", with the page's link).
pub const LIST_LIMIT: usize = 40;

/// A list that may have been cut at [`LIST_LIMIT`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cut<T> {
    pub shown: Vec<T>,
    /// How many were left out.
    pub more: usize,
}

impl<T> Cut<T> {
    fn of(all: Vec<T>) -> Self {
        let more = all.len().saturating_sub(LIST_LIMIT);
        let mut shown = all;
        shown.truncate(LIST_LIMIT);
        Self { shown, more }
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    pub fn len(&self) -> usize {
        self.shown.len() + self.more
    }
}

/// A unit's name in both languages.
#[derive(Debug, Clone, Serialize)]
pub struct UnitName {
    pub id: String,
    pub vi: String,
    pub en: String,
}

impl UnitName {
    pub fn of(catalogue: &Catalogue, id: &str) -> Self {
        let u = catalogue.get(id);
        Self {
            id: id.to_string(),
            vi: u.map_or_else(|| id.to_string(), |u| u.name.clone()),
            en: u.map_or_else(|| id.to_string(), |u| u.en.clone()),
        }
    }
}

/// One task in a list.
#[derive(Debug, Clone, Serialize)]
pub struct TaskLine {
    pub unit: UnitName,
    /// The task's id (`a3`, `r9.4`): the history page's link.
    pub task: String,
    pub clause: Option<String>,
    /// The task's title, else its clause's words, shortened.
    pub title: String,
    pub due: Option<NaiveDate>,
    pub review: ReviewState,
    pub urges: u32,
    pub last_urged_at: Option<i64>,
}

/// A clause whose figures changed since the digest before.
#[derive(Debug, Clone, Serialize)]
pub struct MovedClause {
    pub clause: String,
    pub label: String,
    /// (done, assigned) then and now.
    pub before: (u32, u32),
    pub now: (u32, u32),
    /// The clause gives no task any more (a revision withdrew them).
    pub gone: bool,
}

/// A unit that has not reported for more than the silent days (or never).
#[derive(Debug, Clone, Serialize)]
pub struct SilentUnit {
    pub unit: UnitName,
    pub days_since_report: Option<i64>,
}

/// A hotline-free confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct HotlineLine {
    pub carrier: UnitName,
    pub hotline: String,
    pub free_from: String,
    /// `confirmed`, `withdrawn`, `conflict`, `contradicted` (by a call-record verification).
    pub state: String,
    pub at: i64,
}

/// One directive in the Ministry Office's digest.
#[derive(Debug, Clone, Serialize)]
pub struct DirectiveDigest {
    pub progress: DirectiveProgress,
    /// `None`: no digest before this one to compare with.
    pub moved: Option<Cut<MovedClause>>,
    /// Published since the digest before (nothing to compare its clauses with).
    pub new_directive: bool,
    pub reported: Cut<TaskLine>,
    pub overdue: Cut<TaskLine>,
    pub silent: Cut<SilentUnit>,
    /// Confirmations the digest before did not list (the first digest: those made in the
    /// last day), whenever the phones made them.
    pub new_confirmations: Cut<HotlineLine>,
    /// Confirmations withdrawn, or confirmed and withdrawn at once by different devices,
    /// since the digest before (in that state then, they are not listed again).
    pub contradicted: Cut<HotlineLine>,
}

/// The Ministry Office's daily digest.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeDigest {
    pub silent_days: i64,
    pub directives: Vec<DirectiveDigest>,
}

/// Per directive, per clause, (done, assigned): what the next digest compares with.
pub type Figures = BTreeMap<String, BTreeMap<String, (u32, u32)>>;

/// Per directive, each confirmation (`unit/op`) and its state: what the next digest compares
/// with.
pub type Confirmations = BTreeMap<String, BTreeMap<String, String>>;

/// One directive in a unit lead's reminder.
#[derive(Debug, Clone, Serialize)]
pub struct UnitDirectiveReminder {
    pub directive: String,
    pub number: String,
    pub title: String,
    pub overdue: Cut<TaskLine>,
    pub returned: Cut<TaskLine>,
    pub urged: Cut<TaskLine>,
    pub days_since_report: Option<i64>,
    /// No report within the reporting period (`REPORT_EVERY_DAYS`).
    pub report_missing: bool,
}

impl UnitDirectiveReminder {
    pub fn is_empty(&self) -> bool {
        self.overdue.is_empty()
            && self.returned.is_empty()
            && self.urged.is_empty()
            && !self.report_missing
    }
}

/// A unit lead's daily reminder.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReminder {
    pub unit: UnitName,
    pub directives: Vec<UnitDirectiveReminder>,
}

/// An urge on one task, mailed to the unit's lead.
#[derive(Debug, Clone, Serialize)]
pub struct Urge {
    pub directive: String,
    pub number: String,
    pub task: TaskLine,
    /// The Ministry Office's words, and the deadline it set, of the latest urge (as the
    /// unit's document holds them; none when it cannot be read).
    pub message: Option<String>,
    pub due: Option<NaiveDate>,
}

/// The published directives, oldest first.
pub async fn published(db: &impl ConnectionTrait) -> ApiResult<Vec<directives::Model>> {
    Ok(directives::Entity::find()
        .order_by_asc(directives::Column::Date)
        .order_by_asc(directives::Column::Id)
        .all(db)
        .await?)
}

fn short(text: &str, n: usize) -> String {
    let t: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        format!("{t}…")
    } else {
        t
    }
}

/// A clause's short label, as the dashboard's pages show it.
pub fn clause_label(c: &ClauseRow) -> String {
    short(c.heading.as_deref().unwrap_or(&c.text), 90)
}

/// The directive's task rows by (unit, task id).
async fn task_rows(
    db: &impl ConnectionTrait,
    directive: &str,
    units: Option<&[String]>,
) -> ApiResult<BTreeMap<(String, String), tasks::Model>> {
    let mut q = tasks::Entity::find().filter(tasks::Column::DirectiveId.eq(directive));
    if let Some(u) = units {
        q = q.filter(tasks::Column::UnitId.is_in(u.iter().cloned()));
    }
    Ok(q.all(db)
        .await?
        .into_iter()
        .map(|r| ((r.unit_id.clone(), r.task_ref.clone()), r))
        .collect())
}

/// The lines of `units`' tasks that `keep` picks, in unit then task order.
fn lines(
    catalogue: &Catalogue,
    units: &[UnitProgress],
    clauses: &BTreeMap<&str, &ClauseRow>,
    rows: &BTreeMap<(String, String), tasks::Model>,
    keep: impl Fn(&taskforce_core::progress::TaskProgress) -> bool,
) -> Vec<TaskLine> {
    let mut out = Vec::new();
    for u in units {
        for t in u.tasks.iter().filter(|t| keep(t)) {
            let id = t.task.to_string();
            let row = rows.get(&(u.unit.clone(), id.clone()));
            let clause_words = t
                .clause
                .as_deref()
                .and_then(|c| clauses.get(c))
                .map(|c| clause_label(c));
            let title = row
                .and_then(|r| r.title.clone())
                .filter(|s| !s.trim().is_empty())
                .map(|s| short(&s, 120))
                .or(clause_words)
                .unwrap_or_else(|| id.clone());
            out.push(TaskLine {
                unit: UnitName::of(catalogue, &u.unit),
                task: id,
                clause: t.clause.clone(),
                title,
                due: t.due,
                review: t.review,
                urges: t.urges,
                last_urged_at: t.last_urged_at,
            });
        }
    }
    out
}

fn figures_of(p: &DirectiveProgress) -> BTreeMap<String, (u32, u32)> {
    p.clauses
        .iter()
        .map(|c| (c.clause.clone(), (c.counts.done, c.counts.assigned)))
        .collect()
}

/// The Ministry Office's digest on `today` (the progress API's day), compared with the
/// `previous` digest's figures when there was one; and the figures to keep.
pub async fn office_digest(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    today: NaiveDate,
    now: i64,
    previous: Option<&RunFigures>,
    silent_days: i64,
) -> ApiResult<(OfficeDigest, RunFigures)> {
    let mut out = Vec::new();
    let mut figures = RunFigures::default();
    for d in published(db).await? {
        let progress = directive_progress(db, catalogue, &d.id, None, today).await?;
        let units = units_progress(db, &d.id, None, today).await?;
        let rows = task_rows(db, &d.id, None).await?;
        let clauses: BTreeMap<&str, &ClauseRow> = progress
            .clauses
            .iter()
            .map(|c| (c.clause.as_str(), c))
            .collect();
        let now_figures = figures_of(&progress);
        let before = previous.and_then(|p| p.clauses.get(&d.id));
        let new_directive = previous.is_some() && before.is_none();
        let moved = before.map(|before| {
            let mut moved: Vec<MovedClause> = progress
                .clauses
                .iter()
                .filter_map(|c| {
                    let now = (c.counts.done, c.counts.assigned);
                    let then = before.get(&c.clause).copied().unwrap_or((0, 0));
                    (then != now).then(|| MovedClause {
                        clause: c.clause.clone(),
                        label: clause_label(c),
                        before: then,
                        now,
                        gone: false,
                    })
                })
                .collect();
            // Clauses the digest before counted that give no task now.
            moved.extend(
                before
                    .iter()
                    .filter(|(c, _)| !now_figures.contains_key(*c))
                    .map(|(c, then)| MovedClause {
                        clause: c.clone(),
                        label: String::new(),
                        before: *then,
                        now: (0, 0),
                        gone: true,
                    }),
            );
            Cut::of(moved)
        });
        let reported = lines(catalogue, &units, &clauses, &rows, |t| {
            t.review == ReviewState::Reported
        });
        let overdue = lines(catalogue, &units, &clauses, &rows, |t| t.overdue);
        let silent = progress
            .units
            .iter()
            .filter(|u| u.days_since_report.is_none_or(|d| d > silent_days))
            .map(|u| SilentUnit {
                unit: UnitName::of(catalogue, &u.unit),
                days_since_report: u.days_since_report,
            })
            .collect();
        let seen = previous.map(|p| p.confirmations.get(&d.id).cloned().unwrap_or_default());
        // With the state each shows: `contradicted` when a call-record verification
        // contradicts it (issue 23).
        let confirmations = super::hotlines::confirmations_shown(db, &d.id).await?;
        let line = |(c, state): &(confirmations::Model, String)| HotlineLine {
            carrier: UnitName::of(catalogue, &c.carrier),
            hotline: c.hotline.clone(),
            free_from: c.free_from.clone(),
            state: state.clone(),
            at: c.at,
        };
        let key = |(c, _): &(confirmations::Model, String)| format!("{}/{}", c.unit_id, c.op_id);
        let new_confirmations = confirmations
            .iter()
            .filter(|(c, _)| match &seen {
                Some(seen) => !seen.contains_key(&format!("{}/{}", c.unit_id, c.op_id)),
                None => c.at > now - 86_400,
            })
            .map(line)
            .collect();
        // Withdrawn or contradicted since the digest before; one new (or, in the first
        // digest, made in the last day) is listed once, as new, with its state.
        let contradicted = confirmations
            .iter()
            .filter(|(_, state)| state != "confirmed")
            .filter(|c| match &seen {
                Some(seen) => seen.contains_key(&key(c)) && seen.get(&key(c)) != Some(&c.1),
                None => false,
            })
            .map(line)
            .collect();
        figures.confirmations.insert(
            d.id.clone(),
            confirmations
                .iter()
                .map(|c| (key(c), c.1.clone()))
                .collect(),
        );
        figures.clauses.insert(d.id.clone(), now_figures);
        out.push(DirectiveDigest {
            progress,
            moved,
            new_directive,
            reported: Cut::of(reported),
            overdue: Cut::of(overdue),
            silent: Cut::of(silent),
            new_confirmations: Cut::of(new_confirmations),
            contradicted: Cut::of(contradicted),
        });
    }
    Ok((
        OfficeDigest {
            silent_days,
            directives: out,
        },
        figures,
    ))
}

/// The reminders of `units` (each unit's lead), for every directive that gives the unit
/// tasks; a unit with nothing to remind of has none.
pub async fn unit_reminders(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    today: NaiveDate,
    units: &[String],
) -> ApiResult<Vec<UnitReminder>> {
    let mut by_unit: BTreeMap<String, Vec<UnitDirectiveReminder>> = BTreeMap::new();
    if units.is_empty() {
        return Ok(Vec::new());
    }
    for d in published(db).await? {
        let progress = directive_progress(db, catalogue, &d.id, Some(units), today).await?;
        let all = units_progress(db, &d.id, Some(units), today).await?;
        let rows = task_rows(db, &d.id, Some(units)).await?;
        let clauses: BTreeMap<&str, &ClauseRow> = progress
            .clauses
            .iter()
            .map(|c| (c.clause.as_str(), c))
            .collect();
        for u in &all {
            let one = std::slice::from_ref(u);
            let open = |t: &taskforce_core::progress::TaskProgress| {
                !matches!(t.review, ReviewState::Accepted)
            };
            let r = UnitDirectiveReminder {
                directive: d.id.clone(),
                number: d.number.clone(),
                title: d.title.clone(),
                overdue: Cut::of(lines(catalogue, one, &clauses, &rows, |t| t.overdue)),
                returned: Cut::of(lines(catalogue, one, &clauses, &rows, |t| {
                    t.review == ReviewState::Returned
                })),
                urged: Cut::of(lines(catalogue, one, &clauses, &rows, |t| {
                    t.urges > 0 && open(t) && t.status != taskforce_core::doc::Status::Done
                })),
                days_since_report: u.days_since_report,
                report_missing: u.days_since_report.is_none_or(|d| d > REPORT_EVERY_DAYS),
            };
            if !r.is_empty() {
                by_unit.entry(u.unit.clone()).or_default().push(r);
            }
        }
    }
    Ok(by_unit
        .into_iter()
        .map(|(unit, directives)| UnitReminder {
            unit: UnitName::of(catalogue, &unit),
            directives,
        })
        .collect())
}

/// The Minister's weekly summary: every published directive's progress (the printable
/// report's figures).
pub async fn minister_summary(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    today: NaiveDate,
) -> ApiResult<Vec<DirectiveProgress>> {
    let mut out = Vec::new();
    for d in published(db).await? {
        out.push(directive_progress(db, catalogue, &d.id, None, today).await?);
    }
    Ok(out)
}

/// The task rows of `units` urged after `since` (Unix seconds): what decides which urges are
/// still to mail (a cheap read: no document is loaded).
pub async fn urged_rows(
    db: &impl ConnectionTrait,
    since: i64,
    units: &[String],
) -> ApiResult<Vec<tasks::Model>> {
    Ok(tasks::Entity::find()
        .filter(tasks::Column::LastUrgedAt.gt(since))
        .filter(tasks::Column::UnitId.is_in(units.iter().cloned()))
        .order_by_asc(tasks::Column::LastUrgedAt)
        .all(db)
        .await?)
}

/// The urges of these task rows, each with its line and the office's words.
pub async fn urges_of(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    today: NaiveDate,
    urged: Vec<tasks::Model>,
) -> ApiResult<Vec<Urge>> {
    let mut out = Vec::new();
    let mut by_directive: BTreeMap<String, Vec<tasks::Model>> = BTreeMap::new();
    for r in urged {
        by_directive
            .entry(r.directive_id.clone())
            .or_default()
            .push(r);
    }
    for (directive, rows) in by_directive {
        let Some(d) = directives::Entity::find_by_id(directive.clone())
            .one(db)
            .await?
        else {
            continue;
        };
        let urged_units: Vec<String> = {
            let mut u: Vec<String> = rows.iter().map(|r| r.unit_id.clone()).collect();
            u.sort_unstable();
            u.dedup();
            u
        };
        let progress =
            directive_progress(db, catalogue, &directive, Some(&urged_units), today).await?;
        let units = units_progress(db, &directive, Some(&urged_units), today).await?;
        let clauses: BTreeMap<&str, &ClauseRow> = progress
            .clauses
            .iter()
            .map(|c| (c.clause.as_str(), c))
            .collect();
        let keyed: BTreeMap<(String, String), tasks::Model> = rows
            .into_iter()
            .map(|r| ((r.unit_id.clone(), r.task_ref.clone()), r))
            .collect();
        let picked: Vec<TaskLine> = lines(catalogue, &units, &clauses, &keyed, |t| t.urges > 0)
            .into_iter()
            .filter(|l| keyed.contains_key(&(l.unit.id.clone(), l.task.clone())))
            .collect();
        let mut docs: BTreeMap<String, Option<taskforce_core::doc::UnitDocument>> = BTreeMap::new();
        for task in picked {
            if !docs.contains_key(&task.unit.id) {
                let key = DocKey {
                    directive: directive.clone(),
                    unit: task.unit.id.clone(),
                };
                let doc = match crate::docstore::load_whole(db, &key).await {
                    Ok(d) => d.map(|(doc, _)| doc),
                    Err(e) => {
                        tracing::warn!(unit = %key.unit, error = %e, "an urged unit's document cannot be read: its urge is mailed without its words");
                        None
                    }
                };
                docs.insert(task.unit.id.clone(), doc);
            }
            let latest = docs
                .get(&task.unit.id)
                .and_then(Option::as_ref)
                .zip(task.task.parse::<TaskRef>().ok())
                .and_then(|(doc, t)| doc.urges(t).last().map(|(_, u)| (*u).clone()));
            out.push(Urge {
                directive: directive.clone(),
                number: d.number.clone(),
                message: latest
                    .as_ref()
                    .map(|u| short(u.message.trim(), 2000))
                    .filter(|m| !m.is_empty()),
                due: latest.and_then(|u| u.due).and_then(|d| d.date()),
                task,
            });
        }
    }
    Ok(out)
}

/// What a digest run keeps for the next one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunFigures {
    pub clauses: Figures,
    #[serde(default)]
    pub confirmations: Confirmations,
}
