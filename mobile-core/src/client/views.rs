//! What screens show: the unit's tasks with their clause text, conflicts, offline progress,
//! confirmations, reports, and the document's fingerprint.

use super::{Client, ClientError, ClientResult, Inner, parse::parse_date};
use crate::{
    doc::{ConfirmationState, Day, TaskField},
    progress::{UnitProgress, unit_progress},
    sync::Replica,
};

/// One task as a screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// `a3` for the directive's tasks, `t2.17` for ones the unit added.
    pub id: String,
    /// The directive whose document holds it (the active one).
    pub directive: String,
    pub clause: Option<String>,
    pub clause_heading: Option<String>,
    pub clause_text: Option<String>,
    pub title: Option<String>,
    /// `lead` or `coordinating` for the directive's tasks.
    pub role: Option<String>,
    /// The status the task counts as (`todo`, `in_progress`, `done`, `blocked`).
    pub status: String,
    /// Every value the status holds: more than one is a conflict.
    pub statuses: Vec<String>,
    pub progress: u8,
    pub assignees: Vec<String>,
    pub due: Option<String>,
    pub notes: Vec<String>,
    pub comments: u32,
    pub evidence: u32,
    pub conflicted: bool,
    /// Where it stands with the Ministry Office: `open`, `reported`, `accepted`,
    /// `changed_after_acceptance`, `returned`, `conflict` (decision 39).
    pub review: String,
    /// The reason of the latest return (or remark of the latest acceptance).
    pub review_reason: Option<String>,
    /// Accepted and unchanged: the unit's edits to it are refused.
    pub locked: bool,
    /// The Ministry Office's deadline, when it set one (`due` already counts it).
    pub deadline: Option<String>,
    pub urges: u32,
    /// A revision of the directive withdrew the task (decision 44): shown with its work, not
    /// counted, not edited. Listed after the others.
    pub withdrawn: bool,
}

/// Something the Ministry Office sent the unit: an urge, a return or an acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeView {
    /// The operation's id (`9.4`).
    pub id: String,
    pub task: String,
    /// `urge`, `returned` or `accepted`.
    pub kind: String,
    pub message: String,
    /// The new deadline an urge set (`YYYY-MM-DD`).
    pub due: Option<String>,
    /// Unix seconds (the Ministry Office's clock).
    pub at: i64,
    pub unread: bool,
}

/// A task falling due, or becoming overdue, on a day, or the unit's next status report: what
/// an app schedules a local notification for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueView {
    /// The task's id; empty for a report.
    pub task: String,
    pub clause: Option<String>,
    pub title: Option<String>,
    /// `due` (its deadline is that day) or `overdue` (the first day past it) for a task;
    /// `report_due` (the last day of the reporting period,
    /// [`REPORT_EVERY_DAYS`](crate::progress::REPORT_EVERY_DAYS) after the latest report) or
    /// `report_overdue` (the day after) for the unit's status report.
    pub kind: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// The store's meta key of the notices read: their ids, one a line. By id, not by time: a
/// notice's time is the sender's clock, and one far ahead would hide every later one.
const NOTICES_READ: &str = "notices_read";

/// A hotline-free billing confirmation as a screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationView {
    pub id: String,
    pub carrier: String,
    pub hotline: String,
    /// `YYYY-MM-DD`.
    pub free_from: String,
    pub attested_by: String,
    /// `confirmed`, `withdrawn`, `conflict` while both are recorded, or `contradicted`:
    /// confirmed, but a call-record verification found charged calls since its day.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportView {
    pub id: String,
    pub period: String,
    pub text: String,
    pub figures: Vec<(String, i64)>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictView {
    pub task: String,
    pub field: String,
    pub values: Vec<String>,
}

impl Client {
    /// `f` on the active document; signed in to a unit with no document yet, on an empty one
    /// (no tasks, nothing done): the views answer empty.
    fn with_replica<T>(&self, f: impl FnOnce(&Replica, &Inner) -> T) -> ClientResult<T> {
        let inner = self.lock();
        if let Some(replica) = inner.replica.as_ref() {
            return Ok(f(replica, &inner));
        }
        let session = inner
            .session
            .as_ref()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let empty = Replica::new(crate::doc::DocHeader {
            directive: String::new(),
            unit: session.unit.clone(),
            tasks: Vec::new(),
        });
        Ok(f(&empty, &inner))
    }

    /// The unit's tasks with their clause text.
    pub fn tasks(&self) -> ClientResult<Vec<TaskView>> {
        let today = chrono::Utc::now().date_naive();
        self.with_replica(|r, inner| {
            let doc = r.doc();
            let progress = unit_progress(doc, today);
            // The withdrawn ones after the others, with the clause they were given for.
            let withdrawn: Vec<_> = doc
                .withdrawn_refs()
                .into_iter()
                .map(|t| {
                    let mut p = crate::progress::task_progress(doc, t, today);
                    let given = doc.given_task(t);
                    p.clause = given.as_ref().map(|g| g.clause.clone());
                    p.role = given.map(|g| g.role);
                    (p, true)
                })
                .collect();
            progress
                .tasks
                .iter()
                .cloned()
                .map(|p| (p, false))
                .chain(withdrawn)
                .map(|(p, withdrawn)| {
                    let state = doc.task(p.task);
                    let clause = p.clause.as_ref().and_then(|c| inner.clauses.get(c));
                    TaskView {
                        id: p.task.to_string(),
                        directive: r.key().directive.clone(),
                        clause: p.clause.clone(),
                        clause_heading: clause.and_then(|c| c.0.clone()),
                        clause_text: clause.map(|c| c.1.clone()),
                        title: doc.titles(p.task).first().cloned(),
                        role: p.role.map(|r| match r {
                            crate::directive::Role::Lead => "lead".to_string(),
                            crate::directive::Role::Coordinating => "coordinating".to_string(),
                        }),
                        status: p.status.as_str().to_string(),
                        statuses: doc
                            .statuses(p.task)
                            .iter()
                            .map(|s| s.as_str().to_string())
                            .collect(),
                        progress: p.progress,
                        assignees: doc.assignees(p.task),
                        due: p.due.map(|d| d.to_string()),
                        notes: doc.notes(p.task),
                        comments: state
                            .map_or(0, |s| u32::try_from(s.comments.len()).unwrap_or(u32::MAX)),
                        evidence: state
                            .map_or(0, |s| u32::try_from(s.evidence.len()).unwrap_or(u32::MAX)),
                        conflicted: p.conflicted,
                        review: p.review.as_str().to_string(),
                        review_reason: doc
                            .reviews(p.task)
                            .into_iter()
                            .max_by_key(|r| r.at)
                            .map(|r| r.reason)
                            .filter(|r| !r.is_empty()),
                        locked: p.review.locks(),
                        deadline: doc
                            .office_deadline(p.task)
                            .and_then(Day::date)
                            .map(|d| d.to_string()),
                        urges: p.urges,
                        withdrawn,
                    }
                })
                .collect()
        })
    }

    /// What the Ministry Office sent the unit (urges, returns, acceptances), newest first;
    /// `unread` for those newer than the last [`Client::mark_notices_read`].
    pub fn notices(&self) -> ClientResult<Vec<NoticeView>> {
        let read = self.notices_read()?;
        self.with_replica(|r, _| {
            let doc = r.doc();
            let mut out = Vec::new();
            for t in doc.task_refs() {
                for (id, u) in doc.urges(t) {
                    out.push(NoticeView {
                        id: id.to_string(),
                        task: t.to_string(),
                        kind: "urge".into(),
                        message: u.message.clone(),
                        due: u.due.and_then(Day::date).map(|d| d.to_string()),
                        at: u.at,
                        unread: !read.contains(&id.to_string()),
                    });
                }
                if let Some(state) = doc.task(t) {
                    for (clock, review) in state.review.canonical() {
                        // A register keeps no writer: the id names the task, the time and
                        // the clock's size, unique among the register's values.
                        let id = format!("{t}:review:{}:{}", review.at, clock.len());
                        out.push(NoticeView {
                            unread: !read.contains(&id),
                            id,
                            task: t.to_string(),
                            kind: review.verdict.as_str().into(),
                            message: review.reason.clone(),
                            due: None,
                            at: review.at,
                        });
                    }
                }
            }
            out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
            out
        })
    }

    /// How many notices are unread.
    pub fn unread_notices(&self) -> ClientResult<u32> {
        let n = self.notices()?.iter().filter(|n| n.unread).count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Mark every notice now held as read (kept in the phone's store).
    pub fn mark_notices_read(&self) -> ClientResult<()> {
        let ids: Vec<String> = self.notices()?.into_iter().map(|n| n.id).collect();
        self.lock()
            .store
            .set_meta(NOTICES_READ, ids.join("\n").as_bytes())?;
        Ok(())
    }

    fn notices_read(&self) -> ClientResult<std::collections::BTreeSet<String>> {
        let raw = self.lock().store.get_meta(NOTICES_READ)?;
        Ok(raw
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Offline, with the deadlines as last synced: the tasks that fall due or become
    /// overdue on a day from `from` to `to` (`YYYY-MM-DD`, both included), and the days the
    /// unit's next status report falls due and becomes late, in date order. Tasks done (and
    /// not returned) or accepted are left out: nothing to remind of. A unit that never
    /// reported has a report due on `from`.
    pub fn due_between(&self, from: &str, to: &str) -> ClientResult<Vec<DueView>> {
        let (from, to) = (parse_date(from)?, parse_date(to)?);
        if to < from {
            return Err(ClientError::InvalidInput(format!("{to} is before {from}")));
        }
        self.with_replica(|r, _| {
            let doc = r.doc();
            let progress = unit_progress(doc, from);
            let mut out = Vec::new();
            for p in &progress.tasks {
                let finished = (p.status == crate::doc::Status::Done
                    && p.review != crate::doc::ReviewState::Returned)
                    || p.review == crate::doc::ReviewState::Accepted;
                let Some(due) = p.due.filter(|_| !finished) else {
                    continue;
                };
                let title = doc.titles(p.task).first().cloned();
                let mut add = |kind: &str, date: chrono::NaiveDate| {
                    if (from..=to).contains(&date) {
                        out.push(DueView {
                            task: p.task.to_string(),
                            clause: p.clause.clone(),
                            title: title.clone(),
                            kind: kind.into(),
                            date: date.to_string(),
                        });
                    }
                };
                add("due", due);
                if let Some(next) = due.succ_opt() {
                    add("overdue", next);
                }
            }
            let report_due = progress
                .last_report_at
                .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
                .map(|t| t.date_naive())
                .and_then(|d| {
                    d.checked_add_days(chrono::Days::new(
                        crate::progress::REPORT_EVERY_DAYS.unsigned_abs(),
                    ))
                })
                .unwrap_or(from);
            for (kind, date) in [
                ("report_due", Some(report_due)),
                ("report_overdue", report_due.succ_opt()),
            ] {
                if let Some(date) = date.filter(|d| (from..=to).contains(d)) {
                    out.push(DueView {
                        task: String::new(),
                        clause: None,
                        title: Some("Báo cáo định kỳ / status report".into()),
                        kind: kind.into(),
                        date: date.to_string(),
                    });
                }
            }
            out.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.task.cmp(&b.task)));
            out
        })
    }

    pub fn conflicts(&self) -> ClientResult<Vec<ConflictView>> {
        self.with_replica(|r, _| {
            r.doc()
                .conflicts()
                .into_iter()
                .map(|c| ConflictView {
                    task: c.task.to_string(),
                    field: c.field.as_str().to_string(),
                    values: c.values.iter().map(field_text).collect(),
                })
                .collect()
        })
    }

    /// The unit's compliance figures, computed offline with the server's rules.
    pub fn progress(&self, today: Option<&str>) -> ClientResult<UnitProgress> {
        let today = match today {
            Some(d) => parse_date(d)?,
            None => chrono::Utc::now().date_naive(),
        };
        self.with_replica(|r, _| unit_progress(r.doc(), today))
    }

    pub fn confirmations(&self) -> ClientResult<Vec<ConfirmationView>> {
        self.with_replica(|r, _| {
            r.doc()
                .confirmations()
                .into_iter()
                .map(|(id, c, states)| ConfirmationView {
                    id: id.to_string(),
                    carrier: c.carrier.clone(),
                    hotline: c.hotline.clone(),
                    free_from: c
                        .free_from
                        .date()
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    attested_by: c.attested_by.clone(),
                    state: match states.as_slice() {
                        // A call-record verification found charged calls to the hotline
                        // since the day the carrier said they became free (decision 46).
                        [ConfirmationState::Confirmed] if r.doc().is_contradicted(c) => {
                            "contradicted"
                        }
                        [ConfirmationState::Confirmed] => "confirmed",
                        [ConfirmationState::Withdrawn] => "withdrawn",
                        _ => "conflict",
                    }
                    .to_string(),
                })
                .collect()
        })
    }

    pub fn reports(&self) -> ClientResult<Vec<ReportView>> {
        self.with_replica(|r, _| {
            r.doc()
                .reports()
                .into_iter()
                .map(|(id, rep)| ReportView {
                    id: id.to_string(),
                    period: rep.period.clone(),
                    text: rep.text.clone(),
                    figures: rep
                        .figures
                        .iter()
                        .map(|f| (f.name.clone(), f.value))
                        .collect(),
                    at: rep.at,
                })
                .collect()
        })
    }

    /// The document's canonical state, encoded: two replicas that have seen the same
    /// operations hold the same bytes.
    pub fn state_fingerprint(&self) -> ClientResult<Vec<u8>> {
        self.with_replica(|r, _| {
            let bytes = postcard::to_stdvec(&r.doc().to_canonical()).unwrap_or_default();
            use sha2::Digest;
            sha2::Sha256::digest(bytes).to_vec()
        })
    }
}

fn field_text(f: &TaskField) -> String {
    match f {
        TaskField::Status(s) => s.as_str().to_string(),
        TaskField::Progress(p) => p.to_string(),
        TaskField::Assignee(s) | TaskField::Notes(s) | TaskField::Title(s) => s.clone(),
        TaskField::Due(d) => d
            .and_then(Day::date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        TaskField::Removed(b) => b.to_string(),
        TaskField::Deadline(d) => d
            .and_then(Day::date)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        TaskField::Review(r) => {
            if r.reason.is_empty() {
                r.verdict.as_str().to_string()
            } else {
                format!("{}: {}", r.verdict.as_str(), r.reason)
            }
        }
        TaskField::Assignment(Some(crate::directive::Role::Lead)) => "lead".into(),
        TaskField::Assignment(Some(crate::directive::Role::Coordinating)) => "coordinating".into(),
        TaskField::Assignment(None) => "withdrawn".into(),
    }
}
