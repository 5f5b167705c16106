//! Edits: each is checked, written to the store, then applied, so it is durable when the call
//! returns.

use super::{
    Client, ClientError, ClientResult, Inner,
    parse::{parse_date, parse_sha256},
};
use crate::{
    doc::{
        Confirmation, ConfirmationState, Day, Evidence, Figure, Op, Report, Status, TaskField,
        TaskRef,
    },
    sync::Replica,
};

impl Client {
    /// Make an edit: checked, written to the store, then applied; durable when this returns.
    fn edit(&self, make: impl FnOnce(&Replica) -> ClientResult<Op>) -> ClientResult<String> {
        let mut inner = self.lock();
        let actor = inner
            .session
            .as_ref()
            .map(|s| s.actor)
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let Inner { store, replica, .. } = &mut *inner;
        let replica = replica
            .as_mut()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let op = make(replica)?;
        let id = replica.doc().next_id(actor);
        op.validate(id, replica.doc().header().tasks.len())?;
        store.append_pending(replica.key(), id.seq, &op)?;
        replica.edit(actor, op)?;
        drop(inner);
        self.notify("edit");
        Ok(id.to_string())
    }

    fn task_ref(id: &str) -> ClientResult<TaskRef> {
        id.parse().map_err(ClientError::InvalidInput)
    }

    fn set(&self, task: &str, value: TaskField) -> ClientResult<()> {
        let t = Self::task_ref(task)?;
        self.edit(|r| {
            if let TaskRef::Assigned(i) = t
                && i as usize >= r.doc().header().tasks.len()
            {
                return Err(ClientError::InvalidInput(format!(
                    "there is no task {task}"
                )));
            }
            Ok(r.doc().set_op(t, value))
        })
        .map(|_| ())
    }

    pub fn set_status(&self, task: &str, status: &str) -> ClientResult<()> {
        let s = Status::parse(status).ok_or_else(|| {
            ClientError::InvalidInput(format!(
                "unknown status {status:?}: todo, in_progress, done, blocked"
            ))
        })?;
        self.set(task, TaskField::Status(s))
    }
    pub fn set_progress(&self, task: &str, percent: u8) -> ClientResult<()> {
        self.set(task, TaskField::Progress(percent))
    }
    pub fn set_assignee(&self, task: &str, assignee: &str) -> ClientResult<()> {
        self.set(task, TaskField::Assignee(assignee.to_string()))
    }
    pub fn set_notes(&self, task: &str, notes: &str) -> ClientResult<()> {
        self.set(task, TaskField::Notes(notes.to_string()))
    }
    /// `due`: `YYYY-MM-DD`, or `None` to clear it.
    pub fn set_due(&self, task: &str, due: Option<&str>) -> ClientResult<()> {
        let day = match due {
            None => None,
            Some(d) => Some(Day::from_date(parse_date(d)?)),
        };
        self.set(task, TaskField::Due(day))
    }

    /// Add a task of the unit's own under `parent`; returns its id.
    pub fn add_task(&self, parent: Option<&str>, title: &str) -> ClientResult<String> {
        let parent = parent.map(Self::task_ref).transpose()?;
        let actor = self.actor().unwrap_or_default();
        self.edit(|_| {
            Ok(Op::AddTask {
                parent,
                title: title.to_string(),
            })
        })
        .map(|id| {
            let seq = id
                .rsplit('.')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            TaskRef::Adhoc(crate::doc::OpId::new(actor, seq)).to_string()
        })
    }

    pub fn add_comment(&self, task: &str, text: &str, at: i64) -> ClientResult<()> {
        let task = Self::task_ref(task)?;
        self.edit(|_| {
            Ok(Op::Comment {
                task,
                text: text.to_string(),
                at,
            })
        })
        .map(|_| ())
    }

    /// Evidence metadata; `sha256` as 64 hex digits.
    pub fn add_evidence(
        &self,
        task: &str,
        file_name: &str,
        size: u64,
        sha256: &str,
        at: i64,
    ) -> ClientResult<()> {
        let task = Self::task_ref(task)?;
        let sha256 = parse_sha256(sha256)?;
        let evidence = Evidence {
            file_name: file_name.to_string(),
            size,
            sha256,
            at,
        };
        self.edit(|_| Ok(Op::AddEvidence { task, evidence }))
            .map(|_| ())
    }

    /// A carrier's attestation that calls to a hotline are free from a date; returns its id.
    pub fn record_confirmation(
        &self,
        carrier: &str,
        hotline: &str,
        free_from: &str,
        attested_by: &str,
        at: i64,
    ) -> ClientResult<String> {
        let free_from = Day::from_date(parse_date(free_from)?);
        let c = Confirmation {
            carrier: carrier.to_string(),
            hotline: hotline.to_string(),
            free_from,
            attested_by: attested_by.to_string(),
            evidence: None,
            at,
        };
        self.edit(|_| Ok(Op::Confirm(c)))
    }

    pub fn withdraw_confirmation(&self, id: &str) -> ClientResult<()> {
        let (a, s) = id
            .split_once('.')
            .ok_or_else(|| ClientError::InvalidInput(format!("{id:?} is not a confirmation id")))?;
        let oid = crate::doc::OpId::new(
            a.parse()
                .map_err(|_| ClientError::InvalidInput(id.into()))?,
            s.parse()
                .map_err(|_| ClientError::InvalidInput(id.into()))?,
        );
        self.edit(|r| {
            Ok(r.doc()
                .set_confirmation_op(oid, ConfirmationState::Withdrawn))
        })
        .map(|_| ())
    }

    /// A status report with figures (name, value); returns its id.
    pub fn submit_report(
        &self,
        period: &str,
        text: &str,
        figures: &[(String, i64)],
        at: i64,
    ) -> ClientResult<String> {
        let figures = figures
            .iter()
            .map(|(name, value)| Figure {
                name: name.clone(),
                value: *value,
            })
            .collect();
        let report = Report {
            period: period.to_string(),
            text: text.to_string(),
            figures,
            at,
        };
        self.edit(|_| Ok(Op::Report(report)))
    }

    /// Resolve a conflict by writing the value to keep (it replaces every value seen).
    pub fn resolve_conflict(&self, task: &str, field: &str, value: &str) -> ClientResult<()> {
        let value =
            match field {
                "status" => TaskField::Status(Status::parse(value).ok_or_else(|| {
                    ClientError::InvalidInput(format!("unknown status {value:?}"))
                })?),
                "progress" => TaskField::Progress(value.parse().map_err(|_| {
                    ClientError::InvalidInput(format!("{value:?} is not a percentage"))
                })?),
                "assignee" => TaskField::Assignee(value.to_string()),
                "notes" => TaskField::Notes(value.to_string()),
                "due" => TaskField::Due(if value.is_empty() {
                    None
                } else {
                    Some(Day::from_date(parse_date(value)?))
                }),
                "title" => TaskField::Title(value.to_string()),
                other => {
                    return Err(ClientError::InvalidInput(format!(
                        "unknown field {other:?}"
                    )));
                }
            };
        self.set(task, value)
    }
}
