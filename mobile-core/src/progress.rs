//! Progress rules: from unit documents and the directive's assignments to the figures the
//! Ministry Office reads — per task, per unit, per clause. The phone computes its own unit's
//! figures offline with the same functions the server uses for everyone.
//!
//! Conflicts never inflate progress: where a field holds concurrent values, a task counts as
//! done only if every value says done, is blocked if any value says blocked, and its progress
//! is the smallest value.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{
    directive::Role,
    doc::{BoundedDocument, Day, ReviewState, Status, TaskRef, UnitDocument},
};

/// Days a unit may go without a status report: on the day after, it is not reporting (the
/// dashboard's stale list, the phone's reminders).
pub const REPORT_EVERY_DAYS: i64 = 7;

/// The status a task counts as.
pub fn effective_status(values: &[Status]) -> Status {
    if values.contains(&Status::Blocked) {
        Status::Blocked
    } else if values.is_empty() {
        Status::Todo
    } else if values.iter().all(|s| *s == Status::Done) {
        Status::Done
    } else if values.iter().any(|s| *s != Status::Todo) {
        Status::InProgress
    } else {
        Status::Todo
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskProgress {
    pub task: TaskRef,
    /// The clause, for tasks the directive gives; `None` for ad-hoc tasks.
    pub clause: Option<String>,
    pub role: Option<Role>,
    pub status: Status,
    /// 0–100; a done task is 100.
    pub progress: u8,
    /// The deadline that counts: the Ministry Office's when it set one, else the unit's.
    pub due: Option<NaiveDate>,
    pub overdue: bool,
    /// Some field holds concurrent values.
    pub conflicted: bool,
    /// Where the task stands with the Ministry Office (decision 39).
    #[serde(default = "open")]
    pub review: ReviewState,
    /// How many times the Ministry Office urged the unit on it.
    #[serde(default)]
    pub urges: u32,
    /// Unix seconds of the latest urge.
    #[serde(default)]
    pub last_urged_at: Option<i64>,
}

fn open() -> ReviewState {
    ReviewState::Open
}

/// What the Ministry Office did about a task: its review state and its urges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficeMarks {
    pub review: ReviewState,
    pub urges: u32,
    pub last_urged_at: Option<i64>,
}

impl Default for OfficeMarks {
    fn default() -> Self {
        Self {
            review: ReviewState::Open,
            urges: 0,
            last_urged_at: None,
        }
    }
}

impl OfficeMarks {
    /// The marks of task `t` of a document.
    pub fn of(doc: &UnitDocument, t: TaskRef) -> Self {
        let state = doc.task(t);
        Self {
            review: doc.review_state(t),
            urges: state.map_or(0, |s| u32::try_from(s.urges.len()).unwrap_or(u32::MAX)),
            last_urged_at: state.and_then(|s| s.urges.values().map(|u| u.at).max()),
        }
    }
}

impl TaskProgress {
    /// A task's progress on `today` from its effective values — as a document gives them
    /// ([`task_progress`]) or as the server's projection of the task keeps them: overdue when
    /// its due date has passed and it is not done.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        task: TaskRef,
        clause: Option<String>,
        role: Option<Role>,
        status: Status,
        progress: u8,
        due: Option<NaiveDate>,
        conflicted: bool,
        marks: OfficeMarks,
        today: NaiveDate,
    ) -> Self {
        Self {
            task,
            clause,
            role,
            status,
            progress: if status == Status::Done {
                100
            } else {
                progress
            },
            due,
            // Accepted work is not overdue; returned work is, whatever its status says.
            overdue: due.is_some_and(|d| d < today)
                && (status != Status::Done || marks.review == ReviewState::Returned)
                && marks.review != ReviewState::Accepted,
            conflicted,
            review: marks.review,
            urges: marks.urges,
            last_urged_at: marks.last_urged_at,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub assigned: u32,
    pub todo: u32,
    pub in_progress: u32,
    pub done: u32,
    pub blocked: u32,
    pub overdue: u32,
    /// Done as reported and not reviewed (or done again after a return).
    #[serde(default)]
    pub reported: u32,
    /// Done and accepted by the Ministry Office.
    #[serde(default)]
    pub accepted: u32,
    #[serde(default)]
    pub returned: u32,
    #[serde(default)]
    pub changed_after_acceptance: u32,
    /// Reviews in conflict.
    #[serde(default)]
    pub review_conflicts: u32,
    /// Tasks urged at least once.
    #[serde(default)]
    pub urged: u32,
}

impl Counts {
    fn add(&mut self, t: &TaskProgress) {
        self.assigned += 1;
        match t.status {
            Status::Todo => self.todo += 1,
            Status::InProgress => self.in_progress += 1,
            Status::Done => self.done += 1,
            Status::Blocked => self.blocked += 1,
        }
        if t.overdue {
            self.overdue += 1;
        }
        match t.review {
            ReviewState::Open => {}
            ReviewState::Reported => self.reported += 1,
            ReviewState::Accepted => self.accepted += 1,
            ReviewState::Returned => self.returned += 1,
            ReviewState::ChangedAfterAcceptance => self.changed_after_acceptance += 1,
            ReviewState::Conflict => self.review_conflicts += 1,
        }
        if t.urges > 0 {
            self.urged += 1;
        }
    }

    /// Add another set of counts to these (a directive's totals, a group's members).
    pub fn absorb(&mut self, other: &Counts) {
        self.assigned += other.assigned;
        self.todo += other.todo;
        self.in_progress += other.in_progress;
        self.done += other.done;
        self.blocked += other.blocked;
        self.overdue += other.overdue;
        self.reported += other.reported;
        self.accepted += other.accepted;
        self.returned += other.returned;
        self.changed_after_acceptance += other.changed_after_acceptance;
        self.review_conflicts += other.review_conflicts;
        self.urged += other.urged;
    }

    /// Done over assigned, in percent (0 when nothing is assigned).
    pub fn percent_done(&self) -> u8 {
        if self.assigned == 0 {
            return 0;
        }
        u8::try_from(u64::from(self.done) * 100 / u64::from(self.assigned)).unwrap_or(100)
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitProgress {
    pub unit: String,
    /// Counts over the directive's tasks (ad-hoc tasks are listed, not counted).
    pub counts: Counts,
    /// Mean progress of the directive's tasks, 0–100.
    pub mean_progress: u8,
    /// Unix seconds of the latest status report.
    pub last_report_at: Option<i64>,
    pub days_since_report: Option<i64>,
    pub tasks: Vec<TaskProgress>,
}

/// Unix seconds at the start of `day` (UTC).
fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
}

/// One task's progress on `today`.
pub fn task_progress(doc: &UnitDocument, task: TaskRef, today: NaiveDate) -> TaskProgress {
    let mut p = task_progress_fast(doc, task, today);
    p.conflicted = doc.task_conflicted(task);
    p
}

/// [`task_progress`] from a server's document, whole or not (progress reads no body).
pub fn bounded_task_progress(
    doc: &BoundedDocument,
    task: TaskRef,
    today: NaiveDate,
) -> TaskProgress {
    task_progress(doc.registers(), task, today)
}

/// A unit's progress on `today`, computed from its document alone.
pub fn unit_progress(doc: &UnitDocument, today: NaiveDate) -> UnitProgress {
    let tasks: Vec<TaskProgress> = doc
        .task_refs()
        .into_iter()
        .map(|t| task_progress(doc, t, today))
        .collect();
    let last_report_at = doc.reports().iter().map(|(_, r)| r.at).max();
    UnitProgress::from_tasks(doc.header().unit.clone(), tasks, last_report_at, today)
}

impl UnitProgress {
    /// A unit's figures from its tasks' progress (in task order) and its latest report: the
    /// one counting rule, for a phone's document and for the server's projections alike.
    pub fn from_tasks(
        unit: String,
        tasks: Vec<TaskProgress>,
        last_report_at: Option<i64>,
        today: NaiveDate,
    ) -> Self {
        let mut counts = Counts::default();
        let mut sum: u64 = 0;
        for t in tasks.iter().filter(|t| t.clause.is_some()) {
            counts.add(t);
            sum += u64::from(t.progress);
        }
        let mean_progress = if counts.assigned == 0 {
            0
        } else {
            u8::try_from(sum / u64::from(counts.assigned)).unwrap_or(100)
        };
        let days_since_report = last_report_at.map(|at| {
            day_start(today)
                .saturating_sub(at)
                .div_euclid(86_400)
                .max(0)
        });
        Self {
            unit,
            counts,
            mean_progress,
            last_report_at,
            days_since_report,
            tasks,
        }
    }
}

/// [`task_progress`] without the conflict scan (the caller fills `conflicted`).
fn task_progress_fast(doc: &UnitDocument, task: TaskRef, today: NaiveDate) -> TaskProgress {
    let statuses = doc.statuses(task);
    let status = effective_status(&statuses);
    let progress = if status == Status::Done {
        100
    } else {
        doc.progresses(task).into_iter().min().unwrap_or(0)
    };
    // The Ministry Office's deadline, when it set one, over the unit's own due date.
    let due = doc.office_deadline(task).and_then(Day::date).or_else(|| {
        doc.dues(task)
            .into_iter()
            .flatten()
            .filter_map(Day::date)
            .min()
    });
    let header_task = doc.directive_task(task);
    TaskProgress::new(
        task,
        header_task.as_ref().map(|t| t.clause.clone()),
        header_task.as_ref().map(|t| t.role),
        status,
        progress,
        due,
        false,
        OfficeMarks::of(doc, task),
        today,
    )
}

/// One unit's standing on one clause.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseUnit {
    pub unit: String,
    pub role: Role,
    pub status: Status,
    pub progress: u8,
    pub overdue: bool,
    #[serde(default = "open")]
    pub review: ReviewState,
    #[serde(default)]
    pub urges: u32,
    /// Unix seconds of the latest urge.
    #[serde(default)]
    pub last_urged_at: Option<i64>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseProgress {
    pub clause: String,
    pub units: Vec<ClauseUnit>,
    pub counts: Counts,
}

/// Every clause's progress across the units' documents: the clause × unit matrix.
pub fn clause_progress(docs: &[&UnitDocument], today: NaiveDate) -> Vec<ClauseProgress> {
    let units: Vec<(String, Vec<TaskProgress>)> = docs
        .iter()
        .map(|doc| {
            let tasks = doc
                .task_refs()
                .into_iter()
                .filter(|t| t.is_directive())
                .map(|t| task_progress_fast(doc, t, today))
                .collect();
            (doc.header().unit.clone(), tasks)
        })
        .collect();
    clause_progress_of(units.iter().map(|(u, t)| (u.as_str(), t.as_slice())))
}

/// The clause × unit matrix from each unit's tasks' progress (the directive's tasks count;
/// ad-hoc ones have no clause): clauses in the order they first appear, units in the order
/// given. The one rule for a phone's documents and the server's projections alike.
pub fn clause_progress_of<'a>(
    units: impl IntoIterator<Item = (&'a str, &'a [TaskProgress])>,
) -> Vec<ClauseProgress> {
    let mut by_clause: std::collections::BTreeMap<&str, ClauseProgress> = Default::default();
    let mut order: Vec<&str> = Vec::new();
    for (unit, tasks) in units {
        for t in tasks {
            let (Some(clause), Some(role)) = (t.clause.as_deref(), t.role) else {
                continue;
            };
            let entry = by_clause.entry(clause).or_insert_with(|| {
                order.push(clause);
                ClauseProgress {
                    clause: clause.to_string(),
                    units: Vec::new(),
                    counts: Counts::default(),
                }
            });
            entry.counts.add(t);
            entry.units.push(ClauseUnit {
                unit: unit.to_string(),
                role,
                status: t.status,
                progress: t.progress,
                overdue: t.overdue,
                review: t.review,
                urges: t.urges,
                last_urged_at: t.last_urged_at,
            });
        }
    }
    order
        .into_iter()
        .filter_map(|c| by_clause.remove(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_from_any_time_counts_days_without_overflow() {
        let today = NaiveDate::from_ymd_opt(2020, 2, 10).unwrap_or_default();
        for at in [i64::MIN, -1, 0, i64::MAX] {
            let p = UnitProgress::from_tasks("u".into(), Vec::new(), Some(at), today);
            assert!(p.days_since_report.is_some_and(|d| d >= 0), "{at}: {p:?}");
        }
    }

    #[test]
    fn conflicts_never_inflate_status() {
        use Status::*;
        assert_eq!(effective_status(&[]), Todo);
        assert_eq!(effective_status(&[Done]), Done);
        assert_eq!(effective_status(&[Done, InProgress]), InProgress);
        assert_eq!(effective_status(&[Done, Todo]), InProgress);
        assert_eq!(effective_status(&[Done, Blocked]), Blocked);
        assert_eq!(effective_status(&[Todo]), Todo);
    }
}
