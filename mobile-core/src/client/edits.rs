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
    sync::{Replica, admit_op},
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
        // Refused as typed, not by the server once sealed (which would hold up every later
        // change of this device); and checked whole before it is stored, so that nothing
        // refused comes back from the store after a restart.
        admit_op(replica.doc(), &op)?;
        replica.check_edit(actor, &op)?;
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
        let bad = || ClientError::InvalidInput(format!("{id:?} is not a confirmation id (3.12)"));
        let (a, s) = id.split_once('.').ok_or_else(bad)?;
        let oid =
            crate::doc::OpId::new(a.parse().map_err(|_| bad())?, s.parse().map_err(|_| bad())?);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        client::{Reply, Transport, TransportError},
        directive::Role,
        doc::{DocHeader, HeaderTask},
        store::MemoryStore,
    };

    /// A server that signs in, registers the device (any signature will do) and hands out a
    /// one-task document.
    #[derive(Debug)]
    struct SignIn;

    impl Transport for SignIn {
        fn get(&self, path: &str, _: Option<&str>) -> Result<Reply, TransportError> {
            let header = DocHeader {
                directive: "5-ct-btttt".into(),
                unit: "cuc-vt".into(),
                tasks: vec![HeaderTask {
                    clause: "II.1".into(),
                    role: Role::Lead,
                }],
            };
            let body = if path.contains("/document") {
                serde_json::json!({ "header": header })
            } else {
                serde_json::json!({ "clauses": [] })
            };
            Ok(Reply {
                status: 200,
                body: body.to_string().into_bytes(),
                retry_after: None,
            })
        }
        fn post_json(
            &self,
            path: &str,
            _: Option<&str>,
            _: &serde_json::Value,
        ) -> Result<Reply, TransportError> {
            let (status, body) = if path.ends_with("/devices") {
                (201, serde_json::json!({ "actor_id": 3 }))
            } else if path.ends_with("/challenge") {
                let challenge = crate::client::parse::base64_encode(&[1; 32]);
                (
                    200,
                    serde_json::json!({ "challenge": challenge, "username": "cucvt.a" }),
                )
            } else {
                (
                    200,
                    serde_json::json!({ "token": "t", "user": { "units": [{ "unit": "cuc-vt" }] } }),
                )
            };
            Ok(Reply {
                status,
                body: body.to_string().into_bytes(),
                retry_after: None,
            })
        }
        fn post_sync(&self, _: &str, _: u32, _: Vec<u8>) -> Result<Reply, TransportError> {
            Err(TransportError("offline".into()))
        }
    }

    fn signed_in() -> ClientResult<Client> {
        let client = Client::with_store(
            Box::new(MemoryStore::default()),
            Box::new(|_: &str| Arc::new(SignIn) as Arc<dyn Transport>),
        )?;
        client.login("http://server", "cucvt.a", "mật khẩu", "phone", None)?;
        Ok(client)
    }

    fn refused_as_input(r: ClientResult<impl std::fmt::Debug>, says: &str) {
        match r {
            Err(ClientError::InvalidInput(m)) => assert!(m.contains(says), "{m}"),
            other => panic!("expected invalid input saying {says:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_value_no_reader_can_hold_is_refused_as_it_is_typed_and_nothing_is_queued()
    -> ClientResult<()> {
        let c = signed_in()?;
        refused_as_input(
            c.set_due("a0", Some("1800-01-01")),
            "due date: 1800-01-01 is not between 2000-01-01 and 2100-12-31",
        );
        refused_as_input(c.add_comment("a0", "a\0b", 1_580_000_000), "U+0000");
        refused_as_input(
            c.add_comment("a0", "Đã xong.", -1),
            "is the device's clock set?",
        );
        refused_as_input(
            c.submit_report(
                "2020-W06",
                "Báo cáo",
                &[("sms_sent".into(), 1_000_000_000_000_000_000)],
                1_580_000_000,
            ),
            "sms_sent = 1000000000000000000",
        );
        refused_as_input(
            c.record_confirmation("viettel", "19009095", "2101-01-01", "An", 1_580_000_000),
            "free-of-charge date",
        );
        refused_as_input(c.add_task(None, " "), "title");
        refused_as_input(c.withdraw_confirmation("3"), "is not a confirmation id");
        assert_eq!(c.unsynced(), 0, "a refused edit is not queued");

        // The same edits with values every reader holds are kept.
        c.set_due("a0", Some("2020-02-15"))?;
        c.add_comment("a0", "Dòng một\nDòng hai", 1_580_000_000)?;
        c.submit_report(
            "2020-W06",
            "Báo cáo",
            &[("sms_sent".into(), 120_000_000)],
            1_580_000_000,
        )?;
        assert_eq!(c.unsynced(), 3);
        let due = c.tasks()?.first().and_then(|t| t.due.clone());
        assert_eq!(due.as_deref(), Some("2020-02-15"));
        Ok(())
    }
}
