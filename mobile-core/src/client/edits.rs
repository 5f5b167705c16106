//! Edits: each is checked, written to the store, then applied, so it is durable when the call
//! returns.

use super::{
    Client, ClientError, ClientResult, Inner,
    parse::{parse_date, parse_sha256},
};
use crate::{
    doc::{
        Confirmation, ConfirmationState, Day, Evidence, FieldKind, Figure, Op, Report, Status,
        TaskField, TaskRef, UnitDocument, Urge, Verdict,
    },
    sync::{Replica, admit_op},
};

impl Client {
    /// Make an edit: checked, written to the store, then applied; durable when this returns.
    fn edit(&self, make: impl FnOnce(&Replica) -> ClientResult<Op>) -> ClientResult<String> {
        let mut inner = self.lock();
        let Inner {
            store,
            replica,
            session,
            ..
        } = &mut *inner;
        let session = session
            .as_ref()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let actor = session.actor;
        let replica = replica.as_mut().ok_or_else(|| {
            ClientError::InvalidInput(
                "đơn vị chưa có chỉ thị nào để cập nhật / the unit has no directive to edit yet"
                    .into(),
            )
        })?;
        let op = make(replica)?;
        if !session.may_make(&op) {
            return Err(ClientError::Forbidden(if op.is_office() {
                "chỉ Văn phòng Bộ được nghiệm thu, trả lại, đôn đốc và đặt hạn / only the Ministry Office accepts, returns, urges and sets deadlines".into()
            } else {
                "Văn phòng Bộ chỉ nghiệm thu, trả lại, đôn đốc, đặt hạn và bình luận / the Ministry Office only accepts, returns, urges, sets deadlines and comments".into()
            }));
        }
        if let Some(task) = locked_task(replica.doc(), &op) {
            return Err(ClientError::Locked(format!(
                "nhiệm vụ {task} đã được Văn phòng Bộ nghiệm thu; không sửa được trừ khi bị trả lại / task {task} was accepted by the Ministry Office and is locked until it is returned"
            )));
        }
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

    /// The Ministry Office accepts task `task` as this phone holds it (Ministry Office
    /// accounts only).
    pub fn accept_task(&self, task: &str, remark: &str, at: i64) -> ClientResult<()> {
        self.review(task, Verdict::Accepted, remark, at)
    }

    /// The Ministry Office returns task `task` to the unit with a reason (Ministry Office
    /// accounts only); the phones show the reason.
    pub fn return_task(&self, task: &str, reason: &str, at: i64) -> ClientResult<()> {
        self.review(task, Verdict::Returned, reason, at)
    }

    fn review(&self, task: &str, verdict: Verdict, reason: &str, at: i64) -> ClientResult<()> {
        let t = self.listed_task(task)?;
        self.edit(|r| {
            if verdict == Verdict::Accepted && !r.doc().reported_done(t) {
                return Err(ClientError::InvalidInput(format!(
                    "đơn vị chưa báo cáo hoàn thành nhiệm vụ {task} / the unit has not reported task {task} done"
                )));
            }
            Ok(r.doc().review_op(t, verdict, reason.to_string(), at))
        })
        .map(|_| ())
    }

    /// The Ministry Office's deadline for task `task` (`YYYY-MM-DD`, or `None` to clear it).
    pub fn set_deadline(&self, task: &str, due: Option<&str>) -> ClientResult<()> {
        let day = due.map(|d| parse_date(d).map(Day::from_date)).transpose()?;
        self.set(task, TaskField::Deadline(day))
    }

    /// The Ministry Office urges the unit on task `task`, with a new deadline if given (then
    /// set as the task's deadline too).
    pub fn urge(&self, task: &str, message: &str, due: Option<&str>, at: i64) -> ClientResult<()> {
        let t = self.listed_task(task)?;
        let day = due.map(|d| parse_date(d).map(Day::from_date)).transpose()?;
        self.edit(|_| {
            Ok(Op::Urge {
                task: t,
                urge: Urge {
                    message: message.to_string(),
                    due: day,
                    at,
                },
            })
        })?;
        if day.is_some() {
            self.set(task, TaskField::Deadline(day))?;
        }
        Ok(())
    }

    /// A task id this document lists.
    fn listed_task(&self, task: &str) -> ClientResult<TaskRef> {
        let t = Self::task_ref(task)?;
        let (listed, withdrawn_task) = self.lock().replica.as_ref().map_or((false, false), |r| {
            (r.doc().is_listed(t), r.doc().is_withdrawn(t))
        });
        if withdrawn_task {
            return Err(withdrawn(task));
        }
        if !listed {
            return Err(ClientError::InvalidInput(format!(
                "there is no task {task}"
            )));
        }
        Ok(t)
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
            if r.doc().is_withdrawn(t) {
                return Err(withdrawn(task));
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

/// The task `op` would change that the Ministry Office accepted (and so locked), if any: a
/// unit field written, evidence added, a sub-task added under it. Comments stay open.
fn locked_task(doc: &UnitDocument, op: &Op) -> Option<TaskRef> {
    let task = match op {
        Op::Set { task, value, .. } if FieldKind::UNIT.contains(&value.kind()) => *task,
        Op::AddEvidence { task, .. } => *task,
        Op::AddTask {
            parent: Some(parent),
            ..
        } => *parent,
        _ => return None,
    };
    doc.review_state(task).locks().then_some(task)
}

/// A task a revision of the directive withdrew: its work is kept and shown, no longer edited
/// (decision 44).
fn withdrawn(task: &str) -> ClientError {
    ClientError::InvalidInput(format!(
        "nhiệm vụ {task} đã được rút khỏi chỉ thị khi chỉ thị được sửa đổi; kết quả đã ghi vẫn được giữ / task {task} was withdrawn by a revision of the directive; the work recorded on it is kept"
    ))
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

    /// The Ministry Office's operations arriving as a sync would bring them: an office
    /// device's change applied to the client's replica.
    fn from_office(c: &Client, make: impl FnOnce(&UnitDocument) -> Vec<Op>) {
        let mut inner = c.lock();
        let Some(replica) = inner.replica.as_mut() else {
            panic!("signed in")
        };
        let office = 900;
        let ops = make(replica.doc());
        let start = replica.doc().next_id(office).seq;
        let change = crate::sync::Change::unsigned(office, start, ops);
        let mut vv = replica.doc().version().dots.clone();
        vv.insert(office, change.end());
        let own = inner.session.as_ref().map_or(0, |s| s.actor);
        vv.remove(&own);
        if let Some(replica) = inner.replica.as_mut()
            && let Err(e) = replica.receive(crate::sync::SyncResponse {
                vv,
                payload: crate::sync::Payload::Changes(vec![change]),
            })
        {
            panic!("the office's change: {e}");
        }
    }

    /// A Ministry Office account's phone on a unit it is not a member of: it reviews, urges,
    /// sets deadlines and comments; the unit's edits are refused.
    #[derive(Debug)]
    struct OfficeSignIn;

    impl Transport for OfficeSignIn {
        fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, TransportError> {
            SignIn.get(path, token)
        }
        fn post_json(
            &self,
            path: &str,
            token: Option<&str>,
            body: &serde_json::Value,
        ) -> Result<Reply, TransportError> {
            if path.ends_with("/login") {
                let body = serde_json::json!({
                    "token": "t",
                    "user": { "role": "ministry_office", "units": [] },
                });
                return Ok(Reply {
                    status: 200,
                    body: body.to_string().into_bytes(),
                    retry_after: None,
                });
            }
            SignIn.post_json(path, token, body)
        }
        fn post_sync(&self, _: &str, _: u32, _: Vec<u8>) -> Result<Reply, TransportError> {
            Err(TransportError("offline".into()))
        }
    }

    #[test]
    fn the_offices_phone_reviews_urges_and_comments_and_makes_no_unit_edit() -> ClientResult<()> {
        let c = Client::with_store(
            Box::new(MemoryStore::default()),
            Box::new(|_: &str| Arc::new(OfficeSignIn) as Arc<dyn Transport>),
        )?;
        assert!(
            matches!(
                c.login("http://server", "vanphong", "mật khẩu", "phone", None),
                Err(ClientError::Forbidden(_))
            ),
            "an office account names the unit it works on"
        );
        c.login(
            "http://server",
            "vanphong",
            "mật khẩu",
            "phone",
            Some("cuc-vt"),
        )?;
        for refused in [
            c.set_status("a0", "done"),
            c.set_progress("a0", 10),
            c.set_notes("a0", "n"),
            c.submit_report("2020-W06", "r", &[], 1).map(|_| ()),
        ] {
            assert!(
                matches!(refused, Err(ClientError::Forbidden(_))),
                "{refused:?}"
            );
        }
        assert!(
            matches!(
                c.accept_task("a0", "", 1),
                Err(ClientError::InvalidInput(_))
            ),
            "not reported done"
        );
        c.return_task("a0", "Chưa làm", 1)?;
        c.urge("a0", "Đề nghị làm ngay", Some("2020-02-14"), 2)?;
        c.set_deadline("a0", Some("2020-02-20"))?;
        c.add_comment("a0", "Ghi chú", 3)?;
        assert_eq!(
            c.unsynced(),
            5,
            "a return, an urge and its deadline, a deadline, a comment"
        );
        assert!(
            matches!(
                c.return_task("a0", " ", 4),
                Err(ClientError::InvalidInput(_))
            ),
            "a return needs a reason"
        );
        let task = c.tasks()?.remove(0);
        assert_eq!(task.review, "returned");
        assert_eq!(task.deadline.as_deref(), Some("2020-02-20"));
        assert_eq!(task.urges, 1);
        Ok(())
    }

    #[test]
    fn an_accepted_task_is_locked_a_return_reopens_it_and_notices_are_listed() -> ClientResult<()> {
        let c = signed_in()?;
        c.set_status("a0", "done")?;
        // A member may not act for the Ministry Office.
        assert!(matches!(
            c.accept_task("a0", "", 1_580_000_000),
            Err(ClientError::Forbidden(_))
        ));
        let queued = c.unsynced();
        from_office(&c, |d| {
            vec![d.review_op(TaskRef::Assigned(0), Verdict::Accepted, String::new(), 100)]
        });
        let task = c.tasks()?.remove(0);
        assert_eq!((task.review.as_str(), task.locked), ("accepted", true));
        assert!(matches!(
            c.set_progress("a0", 50),
            Err(ClientError::Locked(_))
        ));
        for refused in [
            c.add_evidence("a0", "a.pdf", 1, &"ab".repeat(32), 1),
            c.set_status("a0", "in_progress"),
            c.set_notes("a0", "n"),
            c.set_assignee("a0", "An"),
            c.set_due("a0", Some("2020-02-20")),
            c.add_task(Some("a0"), "việc con").map(|_| ()),
            c.resolve_conflict("a0", "status", "todo"),
        ] {
            assert!(
                matches!(refused, Err(ClientError::Locked(_))),
                "{refused:?}"
            );
        }
        assert_eq!(c.unsynced(), queued, "a refused edit is not queued");
        c.add_comment("a0", "Cảm ơn", 1_580_000_100)?;

        let friday = Day::from_date(parse_date("2020-02-14")?);
        from_office(&c, |d| {
            vec![
                d.review_op(
                    TaskRef::Assigned(0),
                    Verdict::Returned,
                    "Thiếu ảnh".into(),
                    200,
                ),
                Op::Urge {
                    task: TaskRef::Assigned(0),
                    urge: Urge {
                        message: "Bổ sung trước thứ Sáu".into(),
                        due: Some(friday),
                        at: 300,
                    },
                },
                d.set_op(TaskRef::Assigned(0), TaskField::Deadline(Some(friday))),
            ]
        });
        let task = c.tasks()?.remove(0);
        assert_eq!(task.review, "returned");
        assert_eq!(task.review_reason.as_deref(), Some("Thiếu ảnh"));
        assert!(!task.locked);
        assert_eq!(task.deadline.as_deref(), Some("2020-02-14"));
        assert_eq!(
            task.due.as_deref(),
            Some("2020-02-14"),
            "the office's deadline counts"
        );
        assert_eq!(task.urges, 1);
        c.set_progress("a0", 90)?;

        let notices = c.notices()?;
        let kinds: Vec<&str> = notices.iter().map(|n| n.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["urge", "returned"],
            "newest first; the replaced acceptance is gone"
        );
        assert_eq!(c.unread_notices()?, 2);
        c.mark_notices_read()?;
        assert_eq!(c.unread_notices()?, 0);

        // Offline reminders: due on the 14th, overdue from the 15th; nothing after a
        // window that ends before it.
        let days = |from: &str, to: &str| -> ClientResult<Vec<(String, String)>> {
            Ok(c.due_between(from, to)?
                .into_iter()
                .map(|d| (d.kind, d.date))
                .collect())
        };
        let pair = |k: &str, d: &str| (k.to_string(), d.to_string());
        // Never reported: a report is due at once.
        assert_eq!(
            days("2020-02-10", "2020-02-20")?,
            [
                pair("report_due", "2020-02-10"),
                pair("report_overdue", "2020-02-11"),
                pair("due", "2020-02-14"),
                pair("overdue", "2020-02-15"),
            ]
        );
        // A report on 8 February (Unix 1581120000): the next falls due on the 15th.
        c.submit_report("2020-W06", "Báo cáo", &[], 1_581_120_000)?;
        assert_eq!(
            days("2020-02-12", "2020-02-20")?,
            [
                pair("due", "2020-02-14"),
                // One day: the report (no task) first.
                pair("report_due", "2020-02-15"),
                pair("overdue", "2020-02-15"),
                pair("report_overdue", "2020-02-16"),
            ]
        );
        assert!(days("2020-02-12", "2020-02-13")?.is_empty());
        assert!(c.due_between("2020-02-20", "2020-02-10").is_err());

        // Done again: reported, and then nothing to remind of but the report.
        c.set_status("a0", "done")?;
        assert_eq!(c.tasks()?.remove(0).review, "reported");
        assert_eq!(
            days("2020-02-12", "2020-02-15")?,
            [pair("report_due", "2020-02-15")]
        );
        Ok(())
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
