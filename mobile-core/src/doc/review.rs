//! The Ministry Office's review of a task, and what it means under concurrent offline edits
//! (decision 39).
//!
//! A review is a value of the task's `review` register (`TaskField::Review`): a verdict, a
//! reason, and `seen`, the join of the clocks of the task's unit fields (status, progress,
//! assignee, due date, notes, title, removal) when the reviewer looked. From the register and
//! the unit fields every replica derives the same [`ReviewState`]:
//!
//! - no review: **reported** when the unit's status is done (every value says done), else
//!   **open**;
//! - concurrent reviews with different verdicts (an acceptance and a return by two staff
//!   members): a **conflict**, kept like any register's, until a review that has seen both
//!   replaces them;
//! - accepted, and every value of the unit fields within every acceptance's `seen`:
//!   **accepted** — a phone that shows this refuses edits to the task ([`ReviewState::locks`]);
//! - accepted, and some value written that an acceptance did not see (after it, or offline
//!   concurrently with it): **changed after acceptance** — the edit is kept, and the
//!   Ministry Office accepts again or returns;
//! - returned: **returned** (the reason shown) until the unit writes its status again and
//!   it reads done: then **reported** again.
//!
//! Nothing here decides who may write a review: `Op::permitted` does (the Ministry Office).

use serde::{Deserialize, Serialize};

use crdts::CmRDT as _;

use super::{
    ids::{TaskRef, VersionVector},
    ops::{Context, Day, Op, Review, Status, TaskField, Urge, Verdict},
    state::{TaskState, UnitDocument},
};

/// Where a task stands with the Ministry Office.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Not reported done, not reviewed.
    Open,
    /// Reported done by the unit, not reviewed since (or done again after a return).
    Reported,
    /// Accepted, and unchanged since.
    Accepted,
    /// Accepted, then changed (or changed offline before the phone saw the acceptance).
    ChangedAfterAcceptance,
    /// Returned with a reason; the unit has not reported it done again.
    Returned,
    /// Concurrent reviews disagree.
    Conflict,
}

impl ReviewState {
    pub const ALL: [ReviewState; 6] = [
        ReviewState::Open,
        ReviewState::Reported,
        ReviewState::Accepted,
        ReviewState::ChangedAfterAcceptance,
        ReviewState::Returned,
        ReviewState::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Open => "open",
            ReviewState::Reported => "reported",
            ReviewState::Accepted => "accepted",
            ReviewState::ChangedAfterAcceptance => "changed_after_acceptance",
            ReviewState::Returned => "returned",
            ReviewState::Conflict => "conflict",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Vietnamese label for screens and exports.
    pub fn label_vi(self) -> &'static str {
        match self {
            ReviewState::Open => "Chưa báo cáo",
            ReviewState::Reported => "Đã báo cáo hoàn thành",
            ReviewState::Accepted => "Đã nghiệm thu",
            ReviewState::ChangedAfterAcceptance => "Thay đổi sau nghiệm thu",
            ReviewState::Returned => "Bị trả lại",
            ReviewState::Conflict => "Đánh giá xung đột",
        }
    }

    /// English label.
    pub fn label_en(self) -> &'static str {
        match self {
            ReviewState::Open => "Not reported",
            ReviewState::Reported => "Reported done",
            ReviewState::Accepted => "Accepted",
            ReviewState::ChangedAfterAcceptance => "Changed after acceptance",
            ReviewState::Returned => "Returned",
            ReviewState::Conflict => "Conflicting reviews",
        }
    }

    /// Whether a phone showing this state refuses the unit's edits to the task.
    pub fn locks(self) -> bool {
        self == ReviewState::Accepted
    }
}

/// Whether the unit reports the task done: every value of its status says done.
fn reported_done(t: &TaskState) -> bool {
    let statuses = t.status.values();
    !statuses.is_empty() && statuses.iter().all(|s| *s == Status::Done)
}

fn clock_of(seen: &Context) -> VersionVector {
    let mut clock = VersionVector::new();
    for &(actor, seq) in seen {
        clock.apply(crdts::Dot::new(actor, seq));
    }
    clock
}

/// The review state of a task's registers (`None`: a task nobody wrote to).
pub fn review_state(t: Option<&TaskState>) -> ReviewState {
    let Some(t) = t else {
        return ReviewState::Open;
    };
    let reviews = t.review.values();
    let Some(first) = reviews.first() else {
        return if reported_done(t) {
            ReviewState::Reported
        } else {
            ReviewState::Open
        };
    };
    if reviews.iter().any(|r| r.verdict != first.verdict) {
        return ReviewState::Conflict;
    }
    let seens: Vec<VersionVector> = reviews.iter().map(|r| clock_of(&r.seen)).collect();
    match first.verdict {
        Verdict::Accepted => {
            if seens.iter().all(|seen| t.unit_fields_within(seen)) {
                ReviewState::Accepted
            } else {
                ReviewState::ChangedAfterAcceptance
            }
        }
        Verdict::Returned => {
            let written_again = seens.iter().any(|seen| !t.status.within(seen));
            if written_again && reported_done(t) {
                ReviewState::Reported
            } else {
                ReviewState::Returned
            }
        }
    }
}

/// The deadline the Ministry Office set for a task: the earliest of concurrent values (the
/// strictest; a cleared value counts only when nothing else is set).
pub fn office_deadline(t: Option<&TaskState>) -> Option<Day> {
    t.and_then(|t| t.deadline.values().into_iter().flatten().min())
}

impl UnitDocument {
    /// Whether the unit reports task `t` done (every value of its status says done): what an
    /// acceptance needs, here and in every place that makes one.
    pub fn reported_done(&self, t: TaskRef) -> bool {
        self.task(t).is_some_and(reported_done)
    }

    /// The review state of task `t` (decision 39).
    pub fn review_state(&self, t: TaskRef) -> ReviewState {
        review_state(self.task(t))
    }

    /// The reviews task `t` holds (several when concurrent), sorted.
    pub fn reviews(&self, t: TaskRef) -> Vec<Review> {
        self.task(t).map(|s| s.review.values()).unwrap_or_default()
    }

    /// The Ministry Office's deadline for task `t`.
    pub fn office_deadline(&self, t: TaskRef) -> Option<Day> {
        office_deadline(self.task(t))
    }

    /// The urges of task `t` with their ids, oldest first (by time, then id).
    pub fn urges(&self, t: TaskRef) -> Vec<(super::ids::OpId, &Urge)> {
        let mut u: Vec<_> = self
            .task(t)
            .map(|s| s.urges.iter().map(|(id, u)| (*id, u)).collect())
            .unwrap_or_default();
        u.sort_by_key(|(id, u)| (u.at, *id));
        u
    }

    /// The operation that reviews task `t` as this replica holds it: the verdict covers
    /// every value of its unit fields now held, and replaces every review now held (a
    /// conflict included).
    pub fn review_op(&self, t: TaskRef, verdict: Verdict, reason: String, at: i64) -> Op {
        let seen = self
            .task(t)
            .map(|s| s.unit_clock().dots.into_iter().collect())
            .unwrap_or_default();
        self.review_op_over(t, verdict, reason, seen, at)
    }

    /// [`UnitDocument::review_op`] over the state a reviewer saw (`seen`, the unit clock the
    /// page showed), which may be older than what this replica holds now.
    pub fn review_op_over(
        &self,
        t: TaskRef,
        verdict: Verdict,
        reason: String,
        seen: Context,
        at: i64,
    ) -> Op {
        self.set_op(
            t,
            TaskField::Review(Review {
                verdict,
                reason,
                seen,
                at,
            }),
        )
    }

    /// The unit clock of task `t` as held: what a review made now would cover.
    pub fn unit_clock(&self, t: TaskRef) -> Context {
        self.task(t)
            .map(|s| s.unit_clock().dots.into_iter().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{DocError, test_header};

    const T: TaskRef = TaskRef::Assigned(0);

    fn status(doc: &UnitDocument, s: Status) -> Op {
        doc.set_op(T, TaskField::Status(s))
    }

    /// Apply `op` as the next operation of `actor`.
    fn apply(doc: &mut UnitDocument, actor: u32, op: Op) -> Result<(), DocError> {
        let id = doc.next_id(actor);
        doc.apply_ops(actor, id.seq, &[op]).map(|_| ())
    }

    #[test]
    fn the_states_follow_the_rule() -> Result<(), DocError> {
        let office = 9;
        let mut doc = UnitDocument::new(test_header());
        assert_eq!(doc.review_state(T), ReviewState::Open);
        let op = status(&doc, Status::Done);
        apply(&mut doc, 1, op)?;
        assert_eq!(doc.review_state(T), ReviewState::Reported);

        // Returned: stays returned through edits until the status is written done again.
        let ret = doc.review_op(T, Verdict::Returned, "Thiếu số liệu".into(), 10);
        apply(&mut doc, office, ret)?;
        assert_eq!(doc.review_state(T), ReviewState::Returned);
        let op = doc.set_op(T, TaskField::Notes("đang bổ sung".into()));
        apply(&mut doc, 1, op)?;
        assert_eq!(doc.review_state(T), ReviewState::Returned);
        let op = status(&doc, Status::InProgress);
        apply(&mut doc, 1, op)?;
        assert_eq!(doc.review_state(T), ReviewState::Returned);
        let op = status(&doc, Status::Done);
        apply(&mut doc, 1, op)?;
        assert_eq!(doc.review_state(T), ReviewState::Reported);

        // Accepted, then any unit field written: changed after acceptance.
        let acc = doc.review_op(T, Verdict::Accepted, String::new(), 20);
        apply(&mut doc, office, acc)?;
        assert_eq!(doc.review_state(T), ReviewState::Accepted);
        assert!(doc.review_state(T).locks());
        // The office's own deadline and comments change nothing the review covers.
        let op = doc.set_op(T, TaskField::Deadline(None));
        apply(&mut doc, office, op)?;
        assert_eq!(doc.review_state(T), ReviewState::Accepted);
        let op = doc.set_op(T, TaskField::Progress(90));
        apply(&mut doc, 1, op)?;
        assert_eq!(doc.review_state(T), ReviewState::ChangedAfterAcceptance);
        // Accepted again over what it now holds.
        let again = doc.review_op(T, Verdict::Accepted, String::new(), 30);
        apply(&mut doc, office, again)?;
        assert_eq!(doc.review_state(T), ReviewState::Accepted);
        assert_eq!(doc.reviews(T).len(), 1, "the new review replaced the old");
        Ok(())
    }

    /// Each of the unit's seven fields written after an acceptance makes it changed; the
    /// office's own fields, comments and evidence do not (the sceptic review of issue 20 saw
    /// three fields untested).
    #[test]
    fn every_unit_field_and_only_they_undo_an_acceptance() -> Result<(), DocError> {
        let mut accepted = UnitDocument::new(test_header());
        let op = status(&accepted, Status::Done);
        apply(&mut accepted, 1, op)?;
        let op = accepted.review_op(T, Verdict::Accepted, String::new(), 5);
        apply(&mut accepted, 9, op)?;
        for kind in crate::doc::FieldKind::UNIT {
            let value = match kind {
                crate::doc::FieldKind::Status => TaskField::Status(Status::Done),
                crate::doc::FieldKind::Progress => TaskField::Progress(100),
                crate::doc::FieldKind::Assignee => TaskField::Assignee("An".into()),
                crate::doc::FieldKind::Due => TaskField::Due(None),
                crate::doc::FieldKind::Notes => TaskField::Notes("n".into()),
                crate::doc::FieldKind::Title => TaskField::Title("t".into()),
                crate::doc::FieldKind::Removed => TaskField::Removed(false),
                other => panic!("{other:?} is not a unit field"),
            };
            let mut doc = accepted.clone();
            let op = doc.set_op(T, value);
            apply(&mut doc, 2, op)?;
            assert_eq!(
                doc.review_state(T),
                ReviewState::ChangedAfterAcceptance,
                "{kind:?}"
            );
        }
        let mut doc = accepted.clone();
        for op in [
            Op::Comment {
                task: T,
                text: "c".into(),
                at: 6,
            },
            Op::AddEvidence {
                task: T,
                evidence: crate::doc::Evidence {
                    file_name: "a.pdf".into(),
                    size: 1,
                    sha256: [0; 32],
                    at: 6,
                },
            },
            doc.set_op(T, TaskField::Deadline(Some(Day(737_470)))),
            Op::Urge {
                task: T,
                urge: Urge {
                    message: "m".into(),
                    due: None,
                    at: 7,
                },
            },
        ] {
            apply(&mut doc, 2, op)?;
            assert_eq!(doc.review_state(T), ReviewState::Accepted);
        }
        Ok(())
    }

    #[test]
    fn an_offline_edit_before_the_acceptance_arrived_shows_as_changed() -> Result<(), DocError> {
        let (office, phone) = (9, 1);
        let mut server = UnitDocument::new(test_header());
        let op = status(&server, Status::Done);
        apply(&mut server, phone, op)?;
        let mut offline = server.clone();
        // The phone, offline, edits the notes; the office accepts what the server holds.
        let edit = offline.set_op(T, TaskField::Notes("thêm ảnh".into()));
        apply(&mut offline, phone, edit.clone())?;
        let acc = server.review_op(T, Verdict::Accepted, String::new(), 5);
        apply(&mut server, office, acc.clone())?;
        assert_eq!(server.review_state(T), ReviewState::Accepted);
        // Both sides exchange: the same state, the edit kept, changed after acceptance.
        apply(&mut server, phone, edit)?;
        apply(&mut offline, office, acc)?;
        assert_eq!(server.to_canonical(), offline.to_canonical());
        assert_eq!(server.notes(T), ["thêm ảnh".to_string()]);
        assert_eq!(server.review_state(T), ReviewState::ChangedAfterAcceptance);
        Ok(())
    }

    #[test]
    fn concurrent_accept_and_return_are_a_conflict_until_one_replaces_both() -> Result<(), DocError>
    {
        let mut a = UnitDocument::new(test_header());
        let op = status(&a, Status::Done);
        apply(&mut a, 1, op)?;
        let mut b = a.clone();
        let accept = a.review_op(T, Verdict::Accepted, String::new(), 5);
        let ret = b.review_op(T, Verdict::Returned, "Chưa đủ".into(), 6);
        apply(&mut a, 8, accept.clone())?;
        apply(&mut b, 9, ret.clone())?;
        apply(&mut a, 9, ret)?;
        apply(&mut b, 8, accept)?;
        assert_eq!(a.to_canonical(), b.to_canonical());
        assert_eq!(a.review_state(T), ReviewState::Conflict);
        assert_eq!(a.reviews(T).len(), 2);
        // Not a conflict the unit resolves: the review state says it.
        assert!(a.conflicts().is_empty());
        assert!(!a.task_conflicted(T));
        let settle = a.review_op(T, Verdict::Accepted, String::new(), 7);
        apply(&mut a, 8, settle)?;
        assert_eq!(a.review_state(T), ReviewState::Accepted);
        Ok(())
    }

    #[test]
    fn the_strictest_deadline_counts() -> Result<(), DocError> {
        let mut a = UnitDocument::new(test_header());
        let mut b = a.clone();
        let early = a.set_op(T, TaskField::Deadline(Some(Day(737_460))));
        let late = b.set_op(T, TaskField::Deadline(Some(Day(737_470))));
        apply(&mut a, 8, early.clone())?;
        apply(&mut b, 9, late.clone())?;
        apply(&mut a, 9, late)?;
        apply(&mut b, 8, early)?;
        assert_eq!(a.office_deadline(T), Some(Day(737_460)));
        assert_eq!(b.office_deadline(T), Some(Day(737_460)));
        Ok(())
    }
}
