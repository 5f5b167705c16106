//! The operations a device makes on a unit document, and the limits every operation must
//! respect before it is applied anywhere.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    error::DocError,
    ids::{ActorId, HeaderTask, OpId, TaskRef},
    verification::Verification,
};
use crate::directive::Role;

/// Limits on what one operation may carry. The lengths are checked before anything is applied
/// (`Op::validate`); the ranges below them only when an operation is new (`Op::admissible`).
pub mod limits {
    use chrono::NaiveDate;

    /// Assignee, title, carrier, hotline, period, file name, attested-by, figure name.
    pub const SHORT_TEXT: usize = 200;
    /// Notes, comments, report text.
    pub const LONG_TEXT: usize = 20_000;
    /// Figures in one report.
    pub const FIGURES: usize = 64;
    /// Entries in an operation's causal context: one per device that ever wrote the field, so
    /// generous (a register's context only grows; a lower bound would freeze a field once that
    /// many devices had written it). Every entry must name an operation held (the accept rule),
    /// and a change's size is bounded by the room rules.
    pub const CONTEXT: usize = 4096;
    /// Entries in a review's `seen`: the join of a task's seven unit fields' clocks, each of
    /// which may name up to [`CONTEXT`] devices, so that no number of writers can push a task
    /// past what a review may cover (decision 39). Every entry must name an operation held.
    pub const SEEN: usize = 7 * CONTEXT;

    // What a whole unit document may hold (`doc::check_room`), measured by its footprint
    // (`UnitDocument::footprint`: an upper bound of its encoded snapshot and of a snapshot
    // answer): checked when changes are accepted, so that every accepted state can be sent
    // and decoded as one message (`sync::wire::MAX_MESSAGE_BYTES`, 16 MiB).

    /// The largest footprint of a document, in bytes: half a message, so that a phone's own
    /// copy — the server's accepted state and, at worst, as much again of its own edits the
    /// server has not taken yet — still fits one (its store saves it as a snapshot).
    pub const DOC_BYTES: usize = 8 * 1024 * 1024;
    /// Bytes of [`DOC_BYTES`] only task fields may take: past `DOC_BYTES - DOC_FIELD_ROOM`
    /// no change adding an item is accepted, so a document full of reports still takes
    /// status and progress edits (a field's clock grows by an entry per device).
    pub const DOC_FIELD_ROOM: usize = 1024 * 1024;
    /// Items in a document: tasks holding state, comments, evidence, confirmations and
    /// reports. Bounds what a server holds of a document without its bodies (decision 25).
    pub const DOC_ITEMS: usize = 100_000;
    /// Items past [`DOC_ITEMS`] kept for the Ministry Office's urges (decision 39): a unit
    /// that filled its document still gets urged.
    pub const OFFICE_ITEMS: usize = 10_000;

    // What a new operation may carry (`Op::admissible`), so that every reader of the
    // document can hold it: checked when an operation is made or first accepted, never when
    // a stored one is replayed.

    /// The first date a person may type (a task's due date, a hotline's free-of-charge date).
    pub const EARLIEST_DATE: NaiveDate = date(2000, 1, 1);
    /// The last date a person may type.
    pub const LATEST_DATE: NaiveDate = date(2100, 12, 31);
    /// The earliest time a phone's clock may give (Unix seconds): 1970-01-01T00:00:00Z.
    pub const EARLIEST_AT: i64 = 0;
    /// The latest time a phone's clock may give (Unix seconds): 9999-12-31T23:59:59Z, the
    /// last second a four-digit year (ISO 8601, a spreadsheet's dates) can show.
    pub const LATEST_AT: i64 = 253_402_300_799;
    /// The largest magnitude of a report's figure and of an evidence file's size: exact as
    /// an `f64` (2^53 ≈ 9.007 × 10^15), so in JSON clients and spreadsheets, and far inside
    /// a `BIGINT`.
    pub const MAGNITUDE: i64 = 1_000_000_000_000_000;

    const fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        match NaiveDate::from_ymd_opt(year, month, day) {
            Some(d) => d,
            None => NaiveDate::MIN,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Todo,
    InProgress,
    Done,
    Blocked,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Todo,
        Status::InProgress,
        Status::Done,
        Status::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Todo => "todo",
            Status::InProgress => "in_progress",
            Status::Done => "done",
            Status::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Vietnamese label for screens and exports.
    pub fn label_vi(self) -> &'static str {
        match self {
            Status::Todo => "Chưa thực hiện",
            Status::InProgress => "Đang thực hiện",
            Status::Done => "Hoàn thành",
            Status::Blocked => "Vướng mắc",
        }
    }
}

/// A calendar day, stored as days since 1 January of year 1 (compact on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Day(pub i32);

impl Day {
    pub fn from_date(d: NaiveDate) -> Self {
        use chrono::Datelike;
        Day(d.num_days_from_ce())
    }
    pub fn date(self) -> Option<NaiveDate> {
        NaiveDate::from_num_days_from_ce_opt(self.0)
    }
}

/// A field of a task and the value written to it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskField {
    Status(Status),
    /// 0–100.
    Progress(u8),
    Assignee(String),
    Due(Option<Day>),
    Notes(String),
    /// Ad-hoc tasks only.
    Title(String),
    /// Ad-hoc tasks only: hidden from lists (never erased).
    Removed(bool),
    /// The deadline the Ministry Office sets (per task, or for a clause in every unit's
    /// document); it overrides the unit's own `Due`. Office operation (decision 39).
    Deadline(Option<Day>),
    /// The Ministry Office's review: accepted or returned, over the task's state as the
    /// reviewer saw it. Office operation (decision 39).
    Review(Review),
    /// A revision of the directive (decision 44): the role the unit now has on a directive
    /// task, or `None` when the revision withdrew the task (its work is kept; it leaves the
    /// counts). Unwritten, the header's (or the `Assign`'s) role holds. Office operation.
    Assignment(Option<Role>),
}

/// A reviewer's verdict on a task a unit reported.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    Returned,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Returned => "returned",
        }
    }
}

/// The Ministry Office's review of a task: what it decided, why, and over which state. The
/// verdict covers the task's unit fields as far as `seen` (the join of their registers'
/// clocks when the reviewer looked): a value written later, or concurrently, is not covered,
/// and the task reads as changed after the review (decision 39).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Review {
    pub verdict: Verdict,
    /// Why it was returned (or a remark on acceptance); may be empty for an acceptance.
    pub reason: String,
    /// The causal context of the task's state the verdict covers.
    pub seen: Context,
    /// Unix seconds.
    pub at: i64,
}

/// The Ministry Office urging a unit on a task: a message, and the new deadline it set (the
/// deadline itself is the task's `Deadline` register, written in the same change).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Urge {
    pub message: String,
    pub due: Option<Day>,
    /// Unix seconds.
    pub at: i64,
}

/// Which field, without a value: for conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FieldKind {
    Status,
    Progress,
    Assignee,
    Due,
    Notes,
    Title,
    Removed,
    Deadline,
    Review,
    Assignment,
}

impl FieldKind {
    /// The fields a unit writes: the state a review covers (the others are the Ministry
    /// Office's).
    pub const UNIT: [FieldKind; 7] = [
        FieldKind::Status,
        FieldKind::Progress,
        FieldKind::Assignee,
        FieldKind::Due,
        FieldKind::Notes,
        FieldKind::Title,
        FieldKind::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Status => "status",
            FieldKind::Progress => "progress",
            FieldKind::Assignee => "assignee",
            FieldKind::Due => "due",
            FieldKind::Notes => "notes",
            FieldKind::Title => "title",
            FieldKind::Removed => "removed",
            FieldKind::Deadline => "deadline",
            FieldKind::Review => "review",
            FieldKind::Assignment => "assignment",
        }
    }
}

impl TaskField {
    pub fn kind(&self) -> FieldKind {
        match self {
            TaskField::Status(_) => FieldKind::Status,
            TaskField::Progress(_) => FieldKind::Progress,
            TaskField::Assignee(_) => FieldKind::Assignee,
            TaskField::Due(_) => FieldKind::Due,
            TaskField::Notes(_) => FieldKind::Notes,
            TaskField::Title(_) => FieldKind::Title,
            TaskField::Removed(_) => FieldKind::Removed,
            TaskField::Deadline(_) => FieldKind::Deadline,
            TaskField::Review(_) => FieldKind::Review,
            TaskField::Assignment(_) => FieldKind::Assignment,
        }
    }
}

/// File metadata for a piece of evidence; the file itself travels elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Evidence {
    pub file_name: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// Unix seconds.
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfirmationState {
    Confirmed,
    Withdrawn,
}

/// A carrier's attestation that calls to a Ministry of Health hotline are free of charge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Confirmation {
    /// Carrier unit id (`viettel`).
    pub carrier: String,
    /// The hotline number (`19009095`).
    pub hotline: String,
    pub free_from: Day,
    pub attested_by: String,
    pub evidence: Option<Evidence>,
    /// Unix seconds.
    pub at: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Figure {
    /// `sms_sent`, `articles_published`, `takedown_requests_sent` …
    pub name: String,
    pub value: i64,
}

/// A unit's periodic status report. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Report {
    /// `2020-W06`, `2020-02-05` …
    pub period: String,
    pub text: String,
    pub figures: Vec<Figure>,
    /// Unix seconds.
    pub at: i64,
}

/// The causal context of a register write: the dots of the values it has seen (and so
/// replaces). The author's own new dot is not in it; it comes from the change envelope.
pub type Context = Vec<(ActorId, u64)>;

/// One operation. Its id (actor, seq) is not stored in it: the change it travels in gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Write a task field (multi-value register).
    Set {
        task: TaskRef,
        value: TaskField,
        ctx: Context,
    },
    /// Add an ad-hoc task; its id is this operation's id.
    AddTask {
        parent: Option<TaskRef>,
        title: String,
    },
    Comment {
        task: TaskRef,
        text: String,
        at: i64,
    },
    AddEvidence {
        task: TaskRef,
        evidence: Evidence,
    },
    /// Record a hotline-free confirmation; its id is this operation's id.
    Confirm(Confirmation),
    /// Confirm again or withdraw (multi-value register).
    SetConfirmation {
        id: OpId,
        state: ConfirmationState,
        ctx: Context,
    },
    Report(Report),
    /// The Ministry Office urges the unit on a task (decision 39); kept, never erased.
    Urge {
        task: TaskRef,
        urge: Urge,
    },
    /// A revision of the directive gives the unit a task for a clause (decision 44); its id
    /// is this operation's id (`TaskRef::Added`). Office operation.
    Assign(HeaderTask),
    /// What the server found in a carrier's call records (issue 23, decision 46); kept,
    /// never erased. Made only by the server (`Author::Verifier`).
    Verify(Box<Verification>),
}

/// Who makes an operation: a unit's member, or the Ministry Office (its staff, or an admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Unit,
    Office,
    /// The server, recording what it verified (a call-record verification).
    Verifier,
}

impl Op {
    /// Whether this is one of the Ministry Office's operations: a review, a deadline, an
    /// urge, a revision's assignment.
    pub fn is_office(&self) -> bool {
        matches!(
            self,
            Op::Set {
                value: TaskField::Deadline(_) | TaskField::Review(_) | TaskField::Assignment(_),
                ..
            } | Op::Urge { .. }
                | Op::Assign(_)
        )
    }

    /// Whether this is what the server verified (a call-record verification): no device makes
    /// it.
    pub fn is_verified(&self) -> bool {
        matches!(self, Op::Verify(_))
    }

    /// Whether `author` may make this operation (decision 39): the Ministry Office makes
    /// its own operations and comments, nothing else; a unit makes everything but the
    /// Ministry Office's. Checked per operation by the server, and by a phone before an edit.
    pub fn permitted(&self, author: Author) -> bool {
        match author {
            Author::Unit => !self.is_office() && !self.is_verified(),
            Author::Office => self.is_office() || matches!(self, Op::Comment { .. }),
            Author::Verifier => self.is_verified(),
        }
    }
}

pub(super) fn short(field: &'static str, s: &str) -> Result<(), DocError> {
    if s.chars().count() > limits::SHORT_TEXT {
        return Err(DocError::TooLong {
            field,
            limit: limits::SHORT_TEXT,
        });
    }
    Ok(())
}

fn long(field: &'static str, s: &str) -> Result<(), DocError> {
    if s.chars().count() > limits::LONG_TEXT {
        return Err(DocError::TooLong {
            field,
            limit: limits::LONG_TEXT,
        });
    }
    Ok(())
}

fn context(ctx: &Context, id: OpId) -> Result<(), DocError> {
    context_within(ctx, id, limits::CONTEXT)
}

fn context_within(ctx: &Context, id: OpId, limit: usize) -> Result<(), DocError> {
    if ctx.len() > limit {
        return Err(DocError::Invalid("causal context too large"));
    }
    // Strictly increasing actors: one entry each, and a canonical encoding.
    if ctx.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(DocError::Invalid("causal context not sorted by actor"));
    }
    if ctx
        .iter()
        .any(|&(a, c)| c == 0 || (a == id.actor && c >= id.seq))
    {
        return Err(DocError::Invalid(
            "causal context names an operation that cannot precede it",
        ));
    }
    Ok(())
}

fn evidence(e: &Evidence) -> Result<(), DocError> {
    short("file_name", &e.file_name)?;
    if e.file_name.trim().is_empty() {
        return Err(DocError::Invalid("evidence without a file name"));
    }
    Ok(())
}

impl Op {
    /// Checks that do not depend on the document's state beyond the number of tasks the
    /// directive gives it.
    pub fn validate(&self, id: OpId, assigned_tasks: usize) -> Result<(), DocError> {
        let task = |t: &TaskRef| match t {
            TaskRef::Assigned(i) if (*i as usize) >= assigned_tasks => {
                Err(DocError::UnknownTask(*t))
            }
            TaskRef::Adhoc(created) | TaskRef::Added(created)
                if *created >= id && created.actor == id.actor =>
            {
                Err(DocError::UnknownTask(*t))
            }
            _ => Ok(()),
        };
        match self {
            Op::Set {
                task: t,
                value,
                ctx,
            } => {
                task(t)?;
                context(ctx, id)?;
                match value {
                    TaskField::Progress(p) if *p > 100 => {
                        Err(DocError::Invalid("progress is a percentage, 0 to 100"))
                    }
                    TaskField::Assignee(s) => short("assignee", s),
                    TaskField::Title(s) => short("title", s),
                    TaskField::Notes(s) => long("notes", s),
                    TaskField::Due(Some(d)) | TaskField::Deadline(Some(d))
                        if d.date().is_none() =>
                    {
                        Err(DocError::Invalid("due date out of range"))
                    }
                    TaskField::Review(r) => {
                        long("review reason", &r.reason)?;
                        context_within(&r.seen, id, limits::SEEN)
                    }
                    _ => Ok(()),
                }
            }
            Op::Urge { task: t, urge } => {
                task(t)?;
                long("urge", &urge.message)?;
                match urge.due {
                    Some(d) if d.date().is_none() => {
                        Err(DocError::Invalid("due date out of range"))
                    }
                    _ => Ok(()),
                }
            }
            Op::Assign(h) => {
                short("clause", &h.clause)?;
                if h.clause.trim().is_empty() {
                    return Err(DocError::Invalid("an assignment needs a clause"));
                }
                Ok(())
            }
            Op::AddTask { parent, title } => {
                if let Some(p) = parent {
                    task(p)?;
                }
                short("title", title)?;
                if title.trim().is_empty() {
                    return Err(DocError::Invalid("a task needs a title"));
                }
                Ok(())
            }
            Op::Comment { task: t, text, .. } => {
                task(t)?;
                long("comment", text)
            }
            Op::AddEvidence {
                task: t,
                evidence: e,
            } => {
                task(t)?;
                evidence(e)
            }
            Op::Confirm(c) => {
                short("carrier", &c.carrier)?;
                short("hotline", &c.hotline)?;
                short("attested_by", &c.attested_by)?;
                if c.free_from.date().is_none() {
                    return Err(DocError::Invalid("free-of-charge date out of range"));
                }
                if c.hotline.trim().is_empty() || c.carrier.trim().is_empty() {
                    return Err(DocError::Invalid(
                        "a confirmation needs a carrier and a hotline",
                    ));
                }
                c.evidence.as_ref().map_or(Ok(()), evidence)
            }
            Op::SetConfirmation {
                id: target, ctx, ..
            } => {
                if target.actor == id.actor && *target >= id {
                    return Err(DocError::Invalid(
                        "a confirmation cannot be changed before it exists",
                    ));
                }
                context(ctx, id)
            }
            Op::Report(r) => {
                short("period", &r.period)?;
                long("report", &r.text)?;
                if r.figures.len() > limits::FIGURES {
                    return Err(DocError::TooLong {
                        field: "figures",
                        limit: limits::FIGURES,
                    });
                }
                r.figures
                    .iter()
                    .try_for_each(|f| short("figure name", &f.name))
            }
            Op::Verify(v) => v.validate(),
        }
    }
}

fn refused(field: &'static str, reason: String) -> DocError {
    DocError::Inadmissible { field, reason }
}

/// Text every reader can hold: no control character but tab, new line and carriage return
/// (PostgreSQL refuses NUL in text, failing a whole write batch; XML, so an XLSX file, holds
/// the other C0 controls only escaped; nobody types DEL or the C1 controls), and neither of
/// the two characters XML excludes (U+FFFE, U+FFFF).
fn plain(field: &'static str, s: &str) -> Result<(), DocError> {
    match s.chars().find(|&c| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    }) {
        Some(c) => Err(refused(
            field,
            format!(
                "contains the character U+{:04X}; only tab, new line and carriage return are allowed among control characters",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// A name or title a reader shows: not blank.
fn named(field: &'static str, s: &str) -> Result<(), DocError> {
    if s.trim().is_empty() {
        return Err(refused(field, "must not be blank".into()));
    }
    Ok(())
}

/// A date a person types, within `limits::EARLIEST_DATE ..= limits::LATEST_DATE`.
fn typed_date(field: &'static str, d: Day) -> Result<(), DocError> {
    match d.date() {
        Some(date) if (limits::EARLIEST_DATE..=limits::LATEST_DATE).contains(&date) => Ok(()),
        date => Err(refused(
            field,
            format!(
                "{} is not between {} and {}",
                date.map_or_else(|| format!("day {}", d.0), |x| x.to_string()),
                limits::EARLIEST_DATE,
                limits::LATEST_DATE
            ),
        )),
    }
}

/// A time from the phone's clock, within `limits::EARLIEST_AT ..= limits::LATEST_AT`.
fn clock(field: &'static str, at: i64) -> Result<(), DocError> {
    if (limits::EARLIEST_AT..=limits::LATEST_AT).contains(&at) {
        return Ok(());
    }
    Err(refused(
        field,
        format!(
            "{at} is not a time between 1970-01-01 and 9999-12-31 (Unix seconds); is the device's clock set?"
        ),
    ))
}

fn evidence_admissible(e: &Evidence) -> Result<(), DocError> {
    plain("file name", &e.file_name)?;
    if e.size > limits::MAGNITUDE.unsigned_abs() {
        return Err(refused(
            "evidence size",
            format!("{} bytes is more than {}", e.size, limits::MAGNITUDE),
        ));
    }
    clock("evidence time", e.at)
}

impl Op {
    /// The rules a new operation must meet on top of [`Op::validate`]: values that every
    /// reader of the document can hold (the phones, the server's projections on SQLite and
    /// PostgreSQL, its JSON, CSV and XLSX exports, the dashboard). Dates a person types within
    /// `limits::EARLIEST_DATE ..= limits::LATEST_DATE`; times from the phone's clock within
    /// `limits::EARLIEST_AT ..= limits::LATEST_AT`; figures and evidence sizes within
    /// `limits::MAGNITUDE`; text without control characters other than tab, new line and
    /// carriage return; a title, a report's period and a figure's name not blank.
    ///
    /// Checked where an operation is made (the phone's edit) and where it is first accepted
    /// (the server), never where a stored operation is replayed: operations stored before a
    /// rule existed must still load, so every reader tolerates what this refuses. The rules
    /// depend on the operation alone (no clock, no document), so a phone and the server
    /// always decide alike: an operation the phone let through is never refused after it
    /// was sealed, which would block every later change of that device.
    pub fn admissible(&self) -> Result<(), DocError> {
        match self {
            Op::Set { value, .. } => match value {
                TaskField::Assignee(s) => plain("assignee", s),
                TaskField::Notes(s) => plain("notes", s),
                TaskField::Title(s) => {
                    plain("title", s)?;
                    named("title", s)
                }
                TaskField::Due(Some(d)) => typed_date("due date", *d),
                TaskField::Deadline(Some(d)) => typed_date("deadline", *d),
                TaskField::Review(r) => {
                    plain("review reason", &r.reason)?;
                    if r.verdict == Verdict::Returned {
                        named("reason for returning", &r.reason)?;
                    }
                    clock("review time", r.at)
                }
                TaskField::Status(_)
                | TaskField::Progress(_)
                | TaskField::Due(None)
                | TaskField::Deadline(None)
                | TaskField::Removed(_)
                | TaskField::Assignment(_) => Ok(()),
            },
            Op::Assign(h) => plain("clause", &h.clause),
            Op::Urge { urge, .. } => {
                plain("urge", &urge.message)?;
                named("urge", &urge.message)?;
                if let Some(d) = urge.due {
                    typed_date("deadline", d)?;
                }
                clock("urge time", urge.at)
            }
            Op::AddTask { title, .. } => {
                plain("title", title)?;
                named("title", title)
            }
            Op::Comment { text, at, .. } => {
                plain("comment", text)?;
                clock("comment time", *at)
            }
            Op::AddEvidence { evidence, .. } => evidence_admissible(evidence),
            Op::Confirm(c) => {
                plain("carrier", &c.carrier)?;
                plain("hotline", &c.hotline)?;
                plain("attested by", &c.attested_by)?;
                typed_date("free-of-charge date", c.free_from)?;
                clock("confirmation time", c.at)?;
                c.evidence.as_ref().map_or(Ok(()), evidence_admissible)
            }
            Op::SetConfirmation { .. } => Ok(()),
            Op::Report(r) => {
                plain("period", &r.period)?;
                named("period", &r.period)?;
                plain("report", &r.text)?;
                clock("report time", r.at)?;
                r.figures.iter().try_for_each(|f| {
                    plain("figure name", &f.name)?;
                    named("figure name", &f.name)?;
                    if f.value.unsigned_abs() > limits::MAGNITUDE.unsigned_abs() {
                        return Err(refused(
                            "figure",
                            format!("{} = {} is beyond ±{}", f.name, f.value, limits::MAGNITUDE),
                        ));
                    }
                    Ok(())
                })
            }
            Op::Verify(v) => {
                for (field, text) in [
                    ("carrier", &v.carrier),
                    ("file name", &v.file_name),
                    ("uploaded by", &v.uploaded_by),
                ] {
                    plain(field, text)?;
                }
                clock("verification time", v.at)?;
                for day in [v.first_day, v.last_day]
                    .into_iter()
                    .chain(
                        v.hotlines
                            .iter()
                            .flat_map(|h| [h.first_charged, h.last_charged]),
                    )
                    .flatten()
                {
                    if day.date().is_none() {
                        return Err(DocError::Invalid("a verified day out of range"));
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{UnitDocument, test_header};

    const T: TaskRef = TaskRef::Assigned(0);

    fn ymd(y: i32, m: u32, d: u32) -> Day {
        Day::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
    }

    fn set(value: TaskField) -> Op {
        Op::Set {
            task: T,
            value,
            ctx: Vec::new(),
        }
    }

    fn confirmation(free_from: Day, at: i64) -> Confirmation {
        Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from,
            attested_by: "Nguyễn Văn An".into(),
            evidence: None,
            at,
        }
    }

    fn evidence(size: u64, at: i64) -> Evidence {
        Evidence {
            file_name: "cong-van.pdf".into(),
            size,
            sha256: [7; 32],
            at,
        }
    }

    fn report(period: &str, figures: Vec<Figure>, at: i64) -> Op {
        Op::Report(Report {
            period: period.into(),
            text: "Đã gửi 120 triệu tin nhắn.".into(),
            figures,
            at,
        })
    }

    fn figure(name: &str, value: i64) -> Figure {
        Figure {
            name: name.into(),
            value,
        }
    }

    fn field_of(r: Result<(), DocError>) -> Option<&'static str> {
        match r {
            Err(DocError::Inadmissible { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn the_date_bounds_are_the_first_of_2000_and_the_last_of_2100() {
        assert_eq!(limits::EARLIEST_DATE.to_string(), "2000-01-01");
        assert_eq!(limits::LATEST_DATE.to_string(), "2100-12-31");
    }

    #[test]
    fn a_due_date_outside_2000_to_2100_is_refused() {
        for day in [
            ymd(1800, 1, 1),
            ymd(1999, 12, 31),
            ymd(2101, 1, 1),
            Day(i32::MAX),
        ] {
            assert_eq!(
                field_of(set(TaskField::Due(Some(day))).admissible()),
                Some("due date"),
                "{day:?}"
            );
        }
        for day in [ymd(2000, 1, 1), ymd(2020, 2, 15), ymd(2100, 12, 31)] {
            assert_eq!(
                set(TaskField::Due(Some(day))).admissible(),
                Ok(()),
                "{day:?}"
            );
        }
        assert_eq!(
            set(TaskField::Due(None)).admissible(),
            Ok(()),
            "clearing it"
        );
    }

    #[test]
    fn a_free_of_charge_date_outside_2000_to_2100_is_refused() {
        let at = 1_580_000_000;
        assert_eq!(
            field_of(Op::Confirm(confirmation(ymd(1800, 1, 1), at)).admissible()),
            Some("free-of-charge date")
        );
        assert_eq!(
            field_of(Op::Confirm(confirmation(ymd(2101, 1, 1), at)).admissible()),
            Some("free-of-charge date")
        );
        assert_eq!(
            Op::Confirm(confirmation(ymd(2020, 2, 1), at)).admissible(),
            Ok(())
        );
    }

    #[test]
    fn the_latest_time_is_the_last_second_of_9999() {
        let last = NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_opt(23, 59, 59))
            .map(|t| t.and_utc().timestamp());
        assert_eq!(last, Some(limits::LATEST_AT));
    }

    #[test]
    fn a_time_before_1970_or_after_9999_is_refused_wherever_a_phone_gives_one() {
        let ops = |at: i64| {
            let mut with_evidence = confirmation(ymd(2020, 2, 1), 1_580_000_000);
            with_evidence.evidence = Some(evidence(10, at));
            vec![
                (
                    Op::Comment {
                        task: T,
                        text: "Đã xong.".into(),
                        at,
                    },
                    "comment time",
                ),
                (
                    Op::AddEvidence {
                        task: T,
                        evidence: evidence(10, at),
                    },
                    "evidence time",
                ),
                (
                    Op::Confirm(confirmation(ymd(2020, 2, 1), at)),
                    "confirmation time",
                ),
                (Op::Confirm(with_evidence), "evidence time"),
                (report("2020-W06", Vec::new(), at), "report time"),
            ]
        };
        for at in [-1, i64::MIN, limits::LATEST_AT + 1, i64::MAX] {
            for (op, field) in ops(at) {
                assert_eq!(field_of(op.admissible()), Some(field), "{at}: {op:?}");
            }
        }
        // A wrong clock is not refused: 1970 (a clock reset), a year off, 9999.
        for at in [0, 31_536_000, 1_580_000_000, limits::LATEST_AT] {
            for (op, _) in ops(at) {
                assert_eq!(op.admissible(), Ok(()), "{at}: {op:?}");
            }
        }
    }

    #[test]
    fn a_figure_beyond_ten_to_the_fifteen_is_refused() {
        for value in [
            limits::MAGNITUDE + 1,
            -limits::MAGNITUDE - 1,
            1_000_000_000_000_000_000,
            i64::MIN,
            i64::MAX,
        ] {
            let op = report("2020-W06", vec![figure("sms_sent", value)], 1_580_000_000);
            assert_eq!(field_of(op.admissible()), Some("figure"), "{value}");
        }
        for value in [0, 120_000_000, limits::MAGNITUDE, -limits::MAGNITUDE] {
            let op = report("2020-W06", vec![figure("sms_sent", value)], 1_580_000_000);
            assert_eq!(op.admissible(), Ok(()), "{value}");
        }
    }

    #[test]
    fn an_evidence_size_beyond_ten_to_the_fifteen_bytes_is_refused() {
        let op = |size| Op::AddEvidence {
            task: T,
            evidence: evidence(size, 1_580_000_000),
        };
        assert_eq!(field_of(op(u64::MAX).admissible()), Some("evidence size"));
        assert_eq!(
            field_of(op(limits::MAGNITUDE.unsigned_abs() + 1).admissible()),
            Some("evidence size")
        );
        assert_eq!(op(limits::MAGNITUDE.unsigned_abs()).admissible(), Ok(()));
    }

    #[test]
    fn a_control_character_is_refused_in_every_text_but_tab_new_line_and_return() {
        let texts = |s: &str| {
            let mut c = confirmation(ymd(2020, 2, 1), 1_580_000_000);
            let mut carrier = c.clone();
            carrier.carrier = s.into();
            let mut hotline = c.clone();
            hotline.hotline = format!("1900{s}");
            c.attested_by = s.into();
            let mut with_evidence = confirmation(ymd(2020, 2, 1), 1_580_000_000);
            with_evidence.evidence = Some(Evidence {
                file_name: format!("a{s}.pdf"),
                ..evidence(1, 1_580_000_000)
            });
            vec![
                (set(TaskField::Assignee(s.into())), "assignee"),
                (set(TaskField::Notes(s.into())), "notes"),
                (set(TaskField::Title(format!("Việc {s}"))), "title"),
                (
                    Op::AddTask {
                        parent: None,
                        title: format!("Việc {s}"),
                    },
                    "title",
                ),
                (
                    Op::Comment {
                        task: T,
                        text: s.into(),
                        at: 1,
                    },
                    "comment",
                ),
                (
                    Op::AddEvidence {
                        task: T,
                        evidence: Evidence {
                            file_name: format!("a{s}.pdf"),
                            ..evidence(1, 1)
                        },
                    },
                    "file name",
                ),
                (Op::Confirm(carrier), "carrier"),
                (Op::Confirm(hotline), "hotline"),
                (Op::Confirm(c), "attested by"),
                (Op::Confirm(with_evidence), "file name"),
                (report(&format!("2020-W06{s}"), Vec::new(), 1), "period"),
                (
                    Op::Report(Report {
                        period: "2020-W06".into(),
                        text: s.into(),
                        figures: Vec::new(),
                        at: 1,
                    }),
                    "report",
                ),
                (
                    report("2020-W06", vec![figure(&format!("sms{s}"), 1)], 1),
                    "figure name",
                ),
            ]
        };
        for bad in [
            "a\0b",
            "\u{1}",
            "\u{1b}[31m",
            "\u{7f}",
            "\u{85}",
            "\u{fffe}",
            "\u{ffff}",
        ] {
            for (op, field) in texts(bad) {
                assert_eq!(field_of(op.admissible()), Some(field), "{bad:?}: {op:?}");
            }
        }
        for good in ["Dòng một\nDòng hai\r\n\tthụt lề", "Nguyễn Văn An", "🙂 ổn"] {
            for (op, _) in texts(good) {
                assert_eq!(op.admissible(), Ok(()), "{good:?}: {op:?}");
            }
        }
    }

    #[test]
    fn a_blank_title_period_or_figure_name_is_refused() {
        assert_eq!(
            field_of(set(TaskField::Title(" \t ".into())).admissible()),
            Some("title")
        );
        assert_eq!(
            field_of(
                Op::AddTask {
                    parent: None,
                    title: "\n".into()
                }
                .admissible()
            ),
            Some("title")
        );
        assert_eq!(
            field_of(report("  ", Vec::new(), 1).admissible()),
            Some("period")
        );
        assert_eq!(
            field_of(report("2020-W06", vec![figure(" ", 1)], 1).admissible()),
            Some("figure name")
        );
        // Clearing an assignee or notes is an ordinary edit.
        assert_eq!(set(TaskField::Assignee(String::new())).admissible(), Ok(()));
        assert_eq!(set(TaskField::Notes(String::new())).admissible(), Ok(()));
    }

    #[test]
    fn a_refusal_names_the_field_and_the_value() {
        let e = set(TaskField::Due(Some(ymd(1800, 1, 1)))).admissible();
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("due date: 1800-01-01 is not between 2000-01-01 and 2100-12-31".to_string())
        );
        let e = report("2020-W06", vec![figure("sms_sent", i64::MAX)], 1).admissible();
        assert!(
            e.as_ref()
                .is_err_and(|e| e.to_string().contains("sms_sent = 9223372036854775807")),
            "{e:?}"
        );
        let e = Op::Comment {
            task: T,
            text: "a\0".into(),
            at: 1,
        }
        .admissible();
        assert!(
            e.as_ref().is_err_and(|e| e
                .to_string()
                .starts_with("comment: contains the character U+0000")),
            "{e:?}"
        );
    }

    /// Operations stored before these rules (an older phone, an older server) still validate
    /// and apply: only new operations are held to them.
    #[test]
    fn an_inadmissible_operation_stored_before_the_rules_still_applies() -> Result<(), DocError> {
        let mut doc = UnitDocument::new(test_header());
        let ops = vec![
            set(TaskField::Due(Some(ymd(1800, 1, 1)))),
            Op::Comment {
                task: T,
                text: "a\0b".into(),
                at: -5,
            },
            report(
                " ",
                vec![figure("sms_sent", 1_000_000_000_000_000_000)],
                i64::MIN,
            ),
            Op::Confirm(confirmation(ymd(1800, 1, 1), i64::MAX)),
        ];
        for (i, op) in ops.iter().enumerate() {
            assert!(op.admissible().is_err(), "{op:?}");
            op.validate(OpId::new(1, i as u64 + 1), doc.header().tasks.len())?;
        }
        assert_eq!(doc.apply_ops(1, 1, &ops)?, 4);
        assert_eq!(doc.dues(T), vec![Some(ymd(1800, 1, 1))]);
        Ok(())
    }
}
