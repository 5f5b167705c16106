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
}

/// A hotline-free billing confirmation as a screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationView {
    pub id: String,
    pub carrier: String,
    pub hotline: String,
    /// `YYYY-MM-DD`.
    pub free_from: String,
    pub attested_by: String,
    /// `confirmed`, `withdrawn`, or `conflict` while both are recorded.
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
    fn with_replica<T>(&self, f: impl FnOnce(&Replica, &Inner) -> T) -> ClientResult<T> {
        let inner = self.lock();
        let replica = inner
            .replica
            .as_ref()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        Ok(f(replica, &inner))
    }

    /// The unit's tasks with their clause text.
    pub fn tasks(&self) -> ClientResult<Vec<TaskView>> {
        let today = chrono::Utc::now().date_naive();
        self.with_replica(|r, inner| {
            let doc = r.doc();
            let progress = unit_progress(doc, today);
            progress
                .tasks
                .iter()
                .map(|p| {
                    let state = doc.task(p.task);
                    let clause = p.clause.as_ref().and_then(|c| inner.clauses.get(c));
                    TaskView {
                        id: p.task.to_string(),
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
                    }
                })
                .collect()
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
    }
}
