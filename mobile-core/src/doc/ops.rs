//! The operations a device makes on a unit document, and the limits every operation must
//! respect before it is applied anywhere.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    error::DocError,
    ids::{ActorId, OpId, TaskRef},
};

/// Limits on what one operation may carry. Checked before anything is applied.
pub mod limits {
    /// Assignee, title, carrier, hotline, period, file name, attested-by, figure name.
    pub const SHORT_TEXT: usize = 200;
    /// Notes, comments, report text.
    pub const LONG_TEXT: usize = 20_000;
    /// Figures in one report.
    pub const FIGURES: usize = 64;
    /// Entries in an operation's causal context.
    pub const CONTEXT: usize = 256;
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
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Status => "status",
            FieldKind::Progress => "progress",
            FieldKind::Assignee => "assignee",
            FieldKind::Due => "due",
            FieldKind::Notes => "notes",
            FieldKind::Title => "title",
            FieldKind::Removed => "removed",
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
}

fn short(field: &'static str, s: &str) -> Result<(), DocError> {
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
    if ctx.len() > limits::CONTEXT {
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
            TaskRef::Adhoc(created) if *created >= id && created.actor == id.actor => {
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
                    TaskField::Due(Some(d)) if d.date().is_none() => {
                        Err(DocError::Invalid("due date out of range"))
                    }
                    _ => Ok(()),
                }
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
        }
    }
}
