//! The phone library's foreign interface: a thin shell over mobile-core's [`Client`], exported
//! to Kotlin, Swift and Python with uniffi. No logic lives here: each method converts its
//! arguments, calls the core, and converts the result or the error.

use std::sync::Arc;

use taskforce_core::client::{self, Client, ClientError};

uniffi::setup_scaffolding!();

/// What can go wrong, in kinds an app can act on; `detail` says it for a person. (Not
/// `message`: Kotlin exceptions have one already.)
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TaskforceError {
    /// No connection, a timeout, a server error: try again later; nothing is lost.
    #[error("{detail}")]
    Network { detail: String },
    /// Signed out or the session expired: sign in again.
    #[error("{detail}")]
    Unauthorized { detail: String },
    /// The user may not do this.
    #[error("{detail}")]
    Forbidden { detail: String },
    /// The server's copy disagrees in a way a retry will not fix.
    #[error("{detail}")]
    Conflict { detail: String },
    /// The input was refused: the message says why.
    #[error("{detail}")]
    InvalidInput { detail: String },
    /// The phone's database failed.
    #[error("{detail}")]
    Storage { detail: String },
    /// The task was accepted by the Ministry Office: locked until it is returned.
    #[error("{detail}")]
    Locked { detail: String },
}

impl From<ClientError> for TaskforceError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Network(detail) => TaskforceError::Network { detail },
            ClientError::Unauthorized(detail) => TaskforceError::Unauthorized { detail },
            ClientError::Forbidden(detail) => TaskforceError::Forbidden { detail },
            ClientError::Conflict(detail) => TaskforceError::Conflict { detail },
            ClientError::InvalidInput(detail) => TaskforceError::InvalidInput { detail },
            ClientError::Storage(detail) => TaskforceError::Storage { detail },
            ClientError::Locked(detail) => TaskforceError::Locked { detail },
        }
    }
}

type Result<T> = std::result::Result<T, TaskforceError>;

#[derive(Debug, Clone, uniffi::Record)]
pub struct Task {
    pub id: String,
    /// The directive whose document holds the task.
    pub directive: String,
    pub clause: Option<String>,
    pub clause_heading: Option<String>,
    pub clause_text: Option<String>,
    pub title: Option<String>,
    pub role: Option<String>,
    pub status: String,
    pub statuses: Vec<String>,
    pub progress: u8,
    pub assignees: Vec<String>,
    pub due: Option<String>,
    pub notes: Vec<String>,
    pub comments: u32,
    pub evidence: u32,
    pub conflicted: bool,
    /// open, reported, accepted, changed_after_acceptance, returned, conflict.
    pub review: String,
    pub review_reason: Option<String>,
    pub locked: bool,
    pub deadline: Option<String>,
    pub urges: u32,
    /// A revision of the directive withdrew it: shown with its work, not counted, not edited.
    pub withdrawn: bool,
}

/// Something the Ministry Office sent the unit: an urge, a return, an acceptance.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Notice {
    pub id: String,
    pub task: String,
    /// urge, returned, accepted.
    pub kind: String,
    pub message: String,
    pub due: Option<String>,
    pub at: i64,
    pub unread: bool,
}

impl From<client::NoticeView> for Notice {
    fn from(n: client::NoticeView) -> Self {
        Self {
            id: n.id,
            task: n.task,
            kind: n.kind,
            message: n.message,
            due: n.due,
            at: n.at,
            unread: n.unread,
        }
    }
}

/// A task falling due (`due`) or becoming overdue (`overdue`) on `date`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DueDate {
    pub task: String,
    pub clause: Option<String>,
    pub title: Option<String>,
    pub kind: String,
    pub date: String,
}

impl From<client::DueView> for DueDate {
    fn from(d: client::DueView) -> Self {
        Self {
            task: d.task,
            clause: d.clause,
            title: d.title,
            kind: d.kind,
            date: d.date,
        }
    }
}

impl From<client::TaskView> for Task {
    fn from(t: client::TaskView) -> Self {
        Self {
            id: t.id,
            directive: t.directive,
            clause: t.clause,
            clause_heading: t.clause_heading,
            clause_text: t.clause_text,
            title: t.title,
            role: t.role,
            status: t.status,
            statuses: t.statuses,
            progress: t.progress,
            assignees: t.assignees,
            due: t.due,
            notes: t.notes,
            comments: t.comments,
            evidence: t.evidence,
            conflicted: t.conflicted,
            review: t.review,
            review_reason: t.review_reason,
            locked: t.locked,
            deadline: t.deadline,
            urges: t.urges,
            withdrawn: t.withdrawn,
        }
    }
}

/// A directive the phone follows (one with tasks for its unit).
#[derive(Debug, Clone, uniffi::Record)]
pub struct DirectiveInfo {
    pub id: String,
    /// As written: `05/CT-BTTTT`.
    pub number: String,
    pub title: String,
    pub issuer: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub tasks: u32,
    pub unsynced: u64,
    /// The one tasks, edits and notices act on.
    pub active: bool,
}

impl From<client::DirectiveView> for DirectiveInfo {
    fn from(d: client::DirectiveView) -> Self {
        Self {
            id: d.id,
            number: d.number,
            title: d.title,
            issuer: d.issuer,
            date: d.date,
            tasks: d.tasks,
            unsynced: d.unsynced,
            active: d.active,
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct Conflict {
    pub task: String,
    pub field: String,
    pub values: Vec<String>,
}

impl From<client::ConflictView> for Conflict {
    fn from(c: client::ConflictView) -> Self {
        Self {
            task: c.task,
            field: c.field,
            values: c.values,
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct Figure {
    pub name: String,
    pub value: i64,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct StatusReport {
    pub id: String,
    pub period: String,
    pub text: String,
    pub figures: Vec<Figure>,
    pub at: i64,
}

impl From<client::ReportView> for StatusReport {
    fn from(r: client::ReportView) -> Self {
        Self {
            id: r.id,
            period: r.period,
            text: r.text,
            figures: r
                .figures
                .into_iter()
                .map(|(name, value)| Figure { name, value })
                .collect(),
            at: r.at,
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct HotlineConfirmation {
    pub id: String,
    pub carrier: String,
    pub hotline: String,
    pub free_from: String,
    pub attested_by: String,
    pub state: String,
}

impl From<client::ConfirmationView> for HotlineConfirmation {
    fn from(c: client::ConfirmationView) -> Self {
        Self {
            id: c.id,
            carrier: c.carrier,
            hotline: c.hotline,
            free_from: c.free_from,
            attested_by: c.attested_by,
            state: c.state,
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncReport {
    pub pushed: u64,
    pub pulled: u64,
    pub conflicts: u32,
    pub attempts: u32,
    pub snapshot: bool,
}

impl From<client::SyncReport> for SyncReport {
    fn from(r: client::SyncReport) -> Self {
        Self {
            pushed: r.pushed,
            pulled: r.pulled,
            conflicts: r.conflicts,
            attempts: r.attempts,
            snapshot: r.snapshot,
        }
    }
}

/// The unit's compliance figures, computed on the phone with the server's rules.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Compliance {
    pub unit: String,
    pub assigned: u32,
    pub todo: u32,
    pub in_progress: u32,
    pub done: u32,
    pub blocked: u32,
    pub overdue: u32,
    pub percent_done: u8,
    pub mean_progress: u8,
    pub days_since_report: Option<i64>,
    /// Done as reported, not yet reviewed by the Ministry Office.
    pub reported: u32,
    pub accepted: u32,
    pub returned: u32,
    pub changed_after_acceptance: u32,
    /// Tasks the Ministry Office urged.
    pub urged: u32,
}

/// Told when the local data changed ("edit", "sync", "login"), so a screen can refresh.
#[uniffi::export(with_foreign)]
pub trait ChangeListener: Send + Sync {
    fn on_change(&self, what: String);
}

struct Listener(Arc<dyn ChangeListener>);

impl client::ChangeObserver for Listener {
    fn changed(&self, what: &str) {
        self.0.on_change(what.to_string());
    }
}

/// The object an app holds.
#[derive(Debug, uniffi::Object)]
pub struct TaskforceClient {
    inner: Arc<Client>,
}

#[uniffi::export]
impl TaskforceClient {
    /// Open (or create) the store at `path`.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            inner: Arc::new(Client::open(path)?),
        }))
    }

    /// Sign in, register this device and download the unit's tasks (needs the network).
    pub fn login(
        &self,
        server: String,
        username: String,
        password: String,
        device_name: String,
        unit: Option<String>,
    ) -> Result<()> {
        Ok(self
            .inner
            .login(&server, &username, &password, &device_name, unit.as_deref())?)
    }

    pub fn logout(&self) -> Result<()> {
        Ok(self.inner.logout()?)
    }

    pub fn is_logged_in(&self) -> bool {
        self.inner.is_logged_in()
    }

    pub fn unit(&self) -> Option<String> {
        self.inner.unit()
    }

    /// The directives this phone follows, oldest first; a newly published one appears after
    /// the next sync.
    pub fn directives(&self) -> Result<Vec<DirectiveInfo>> {
        Ok(self
            .inner
            .directives()?
            .into_iter()
            .map(DirectiveInfo::from)
            .collect())
    }

    /// The directive tasks, edits and notices act on.
    pub fn active_directive(&self) -> Option<String> {
        self.inner.active_directive()
    }

    /// Make `directive` the active one (kept across restarts).
    pub fn select_directive(&self, directive: String) -> Result<()> {
        Ok(self.inner.select_directive(&directive)?)
    }

    pub fn tasks(&self) -> Result<Vec<Task>> {
        Ok(self.inner.tasks()?.into_iter().map(Task::from).collect())
    }

    /// The Ministry Office's urges, returns and acceptances, newest first.
    pub fn notices(&self) -> Result<Vec<Notice>> {
        Ok(self
            .inner
            .notices()?
            .into_iter()
            .map(Notice::from)
            .collect())
    }

    pub fn unread_notices(&self) -> Result<u32> {
        Ok(self.inner.unread_notices()?)
    }

    pub fn mark_notices_read(&self) -> Result<()> {
        Ok(self.inner.mark_notices_read()?)
    }

    /// Offline: what falls due or becomes overdue from `from` to `to` (YYYY-MM-DD).
    pub fn due_between(&self, from: String, to: String) -> Result<Vec<DueDate>> {
        Ok(self
            .inner
            .due_between(&from, &to)?
            .into_iter()
            .map(DueDate::from)
            .collect())
    }

    /// Ministry Office accounts: accept a unit's task as this phone holds it.
    pub fn accept_task(&self, task: String, remark: String, at: i64) -> Result<()> {
        Ok(self.inner.accept_task(&task, &remark, at)?)
    }

    /// Ministry Office accounts: return a task to the unit with a reason.
    pub fn return_task(&self, task: String, reason: String, at: i64) -> Result<()> {
        Ok(self.inner.return_task(&task, &reason, at)?)
    }

    /// Ministry Office accounts: urge the unit on a task, with a new deadline if given.
    pub fn urge(&self, task: String, message: String, due: Option<String>, at: i64) -> Result<()> {
        Ok(self.inner.urge(&task, &message, due.as_deref(), at)?)
    }

    /// Ministry Office accounts: set or clear a task's deadline.
    pub fn set_deadline(&self, task: String, due: Option<String>) -> Result<()> {
        Ok(self.inner.set_deadline(&task, due.as_deref())?)
    }

    /// `status`: todo, in_progress, done, blocked.
    pub fn set_status(&self, task: String, status: String) -> Result<()> {
        Ok(self.inner.set_status(&task, &status)?)
    }

    pub fn set_progress(&self, task: String, percent: u8) -> Result<()> {
        Ok(self.inner.set_progress(&task, percent)?)
    }

    pub fn set_assignee(&self, task: String, assignee: String) -> Result<()> {
        Ok(self.inner.set_assignee(&task, &assignee)?)
    }

    /// `due`: YYYY-MM-DD, or null to clear.
    pub fn set_due(&self, task: String, due: Option<String>) -> Result<()> {
        Ok(self.inner.set_due(&task, due.as_deref())?)
    }

    pub fn set_notes(&self, task: String, notes: String) -> Result<()> {
        Ok(self.inner.set_notes(&task, &notes)?)
    }

    pub fn add_task(&self, parent: Option<String>, title: String) -> Result<String> {
        Ok(self.inner.add_task(parent.as_deref(), &title)?)
    }

    pub fn add_comment(&self, task: String, text: String, at: i64) -> Result<()> {
        Ok(self.inner.add_comment(&task, &text, at)?)
    }

    pub fn add_evidence(
        &self,
        task: String,
        file_name: String,
        size: u64,
        sha256: String,
        at: i64,
    ) -> Result<()> {
        Ok(self
            .inner
            .add_evidence(&task, &file_name, size, &sha256, at)?)
    }

    pub fn record_confirmation(
        &self,
        carrier: String,
        hotline: String,
        free_from: String,
        attested_by: String,
        at: i64,
    ) -> Result<String> {
        Ok(self
            .inner
            .record_confirmation(&carrier, &hotline, &free_from, &attested_by, at)?)
    }

    pub fn withdraw_confirmation(&self, id: String) -> Result<()> {
        Ok(self.inner.withdraw_confirmation(&id)?)
    }

    pub fn confirmations(&self) -> Result<Vec<HotlineConfirmation>> {
        Ok(self
            .inner
            .confirmations()?
            .into_iter()
            .map(HotlineConfirmation::from)
            .collect())
    }

    pub fn submit_report(
        &self,
        period: String,
        text: String,
        figures: Vec<Figure>,
        at: i64,
    ) -> Result<String> {
        let figures: Vec<(String, i64)> = figures.into_iter().map(|f| (f.name, f.value)).collect();
        Ok(self.inner.submit_report(&period, &text, &figures, at)?)
    }

    pub fn reports(&self) -> Result<Vec<StatusReport>> {
        Ok(self
            .inner
            .reports()?
            .into_iter()
            .map(StatusReport::from)
            .collect())
    }

    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        Ok(self
            .inner
            .conflicts()?
            .into_iter()
            .map(Conflict::from)
            .collect())
    }

    /// Keep `value` for `field` of `task` (it replaces every value seen).
    pub fn resolve_conflict(&self, task: String, field: String, value: String) -> Result<()> {
        Ok(self.inner.resolve_conflict(&task, &field, &value)?)
    }

    /// `today`: YYYY-MM-DD, or null for the phone's date.
    pub fn compliance(&self, today: Option<String>) -> Result<Compliance> {
        let p = self.inner.progress(today.as_deref())?;
        Ok(Compliance {
            unit: p.unit,
            assigned: p.counts.assigned,
            todo: p.counts.todo,
            in_progress: p.counts.in_progress,
            done: p.counts.done,
            blocked: p.counts.blocked,
            overdue: p.counts.overdue,
            percent_done: p.counts.percent_done(),
            mean_progress: p.mean_progress,
            days_since_report: p.days_since_report,
            reported: p.counts.reported,
            accepted: p.counts.accepted,
            returned: p.counts.returned,
            changed_after_acceptance: p.counts.changed_after_acceptance,
            urged: p.counts.urged,
        })
    }

    /// Edits made here the server has not acknowledged yet.
    pub fn unsynced(&self) -> u64 {
        self.inner.unsynced()
    }

    /// A hash of the document's state: equal on two phones that have seen the same edits.
    pub fn state_fingerprint(&self) -> Result<String> {
        Ok(self
            .inner
            .state_fingerprint()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// Push and pull in one round trip, retried with back-off.
    pub fn sync(&self) -> Result<SyncReport> {
        Ok(self.inner.sync()?.into())
    }

    pub fn add_listener(&self, listener: Arc<dyn ChangeListener>) {
        self.inner.add_observer(Arc::new(Listener(listener)));
    }
}
