//! What a replica that keeps the record (the server) checks of a device's changes on top of
//! [`check_changes`](super::check_changes): the part of the rule for accepting a change that
//! applies to *new* changes from a device, and not to changes relayed from a replica that has
//! already accepted them (a phone receiving its server's answer, a store replaying its log).
//!
//! 1. **Sequence numbers are used once.** A change that starts within what the document holds
//!    for its actor must be, byte for byte, a change already held (an idempotent resend):
//!    the same change earlier in the batch, or one the caller holds (`held`, the server's op
//!    log). Anything else — other content at a held start, a change straddling what is held —
//!    means the device's store was restored from a backup or copied, and it numbered new
//!    operations again: [`DocError::Reused`], refused, so the device registers anew and
//!    re-issues them under a new actor instead of having them skipped as held and lost
//!    (issue 18, point 4).
//!
//! 2. **New operations hold values every reader can hold** ([`Op::admissible`]: dates a
//!    person types within 2000–2100, times a phone's clock can give, figures within 10^15,
//!    no control characters in text, no blank names). Only new changes: a held change, and
//!    what a replica replays or relays, is not held to rules added after it was accepted.
//!
//! 3. **Ad-hoc tasks named are tasks** ([`NOT_A_TASK`]): a new operation naming an ad-hoc
//!    task (writing it, commenting on it, adding a sub-task) names one whose `AddTask` is held
//!    or comes earlier in the batch. `check_changes` only holds that the operation named is
//!    held; a device could name one of its comments as a task and grow an unlisted phantom
//!    task (found by the hostile-peer simulation). Honest phones only name tasks they list.
//!
//! Changes with no operations or starting at 0 are left to `check_changes`, which refuses
//! them.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    accept::{ChangeTarget, adhoc_tasks},
    change::Change,
};
use crate::doc::{ActorId, DocError, Op, OpId, TaskRef};

/// Why an operation naming an ad-hoc task no `AddTask` made (or a revision's task no
/// `Assign` made) is refused.
pub const NOT_A_TASK: &str =
    "an operation names an ad-hoc task that no task-adding operation held here made";

/// Check a device's `changes` against `doc` before [`check_changes`](super::check_changes):
/// every change starting within what is held must be identical to the same change earlier in
/// `changes` or one for which `held(change)` is true (the caller compares it with its log).
pub fn admit_changes<D: ChangeTarget + ?Sized>(
    doc: &D,
    changes: &[Change],
    held: impl Fn(&Change) -> bool,
) -> Result<(), DocError> {
    let mut have: BTreeMap<ActorId, u64> = BTreeMap::new();
    let mut made: BTreeSet<TaskRef> = BTreeSet::new();
    // The first change of the batch at each (actor, start).
    let mut seen: BTreeMap<(ActorId, u64), &Change> = BTreeMap::new();
    for c in changes {
        if c.ops.is_empty() || c.start == 0 {
            continue;
        }
        let held_up_to = have
            .entry(c.actor)
            .or_insert_with(|| doc.version().get(&c.actor));
        if c.start <= *held_up_to {
            let earlier = seen.get(&(c.actor, c.start)).is_some_and(|e| *e == c);
            seen.entry((c.actor, c.start)).or_insert(c);
            if !earlier && !held(c) {
                return Err(DocError::Reused {
                    actor: c.actor,
                    start: c.start,
                });
            }
        } else if c.start == *held_up_to + 1 {
            seen.insert((c.actor, c.start), c);
            for (seq, op) in (c.start..).zip(&c.ops) {
                op.admissible()?;
                if let Some(task) = adhoc_tasks(op)
                    && !doc.made(task)
                    && !made.contains(&task)
                {
                    return Err(DocError::Invalid(NOT_A_TASK));
                }
                match op {
                    Op::AddTask { .. } => {
                        made.insert(TaskRef::Adhoc(OpId::new(c.actor, seq)));
                    }
                    Op::Assign(_) => {
                        made.insert(TaskRef::Added(OpId::new(c.actor, seq)));
                    }
                    _ => {}
                }
            }
            *held_up_to = c.end();
        }
    }
    Ok(())
}

/// Whether a new operation may be made on `doc` (a phone's edit, before it is stored):
/// values every reader can hold, and an ad-hoc task named that is a task — what
/// [`admit_changes`] will ask of it at the server.
pub fn admit_op<D: ChangeTarget + ?Sized>(doc: &D, op: &Op) -> Result<(), DocError> {
    op.admissible()?;
    match adhoc_tasks(op) {
        Some(task) if !doc.made(task) => Err(DocError::Invalid(NOT_A_TASK)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        directive::Role,
        doc::{DocHeader, HeaderTask, Op, TaskField, TaskRef, UnitDocument},
        sync::{apply_changes, signing_key},
    };

    fn doc() -> UnitDocument {
        UnitDocument::new(DocHeader {
            directive: "5-ct-btttt".into(),
            unit: "cuc-vt".into(),
            tasks: vec![HeaderTask {
                clause: "2.a".into(),
                role: Role::Lead,
            }],
        })
    }

    fn change(start: u64, progress: &[u8]) -> Change {
        let ops = progress
            .iter()
            .map(|&p| Op::Set {
                task: TaskRef::Assigned(0),
                value: TaskField::Progress(p),
                ctx: Vec::new(),
            })
            .collect();
        Change::sign(1, 7, start, ops, &signing_key(&[3; 32]))
    }

    fn holding(changes: &[Change]) -> UnitDocument {
        let mut d = doc();
        let applied = apply_changes(&mut d, changes, |_, _| {});
        assert!(applied.is_ok(), "{applied:?}");
        d
    }

    #[test]
    fn a_resend_of_a_held_change_is_admitted() {
        let first = change(1, &[10, 20]);
        let d = holding(std::slice::from_ref(&first));
        let log = [first.clone()];
        assert_eq!(admit_changes(&d, &[first], |c| log.contains(c)), Ok(()));
    }

    #[test]
    fn other_content_at_a_held_start_is_a_reused_sequence() {
        let first = change(1, &[10, 20]);
        let d = holding(std::slice::from_ref(&first));
        let log = [first];
        // A phone restored from a backup taken before it made change 1 makes new operations
        // from 1 again: other content under the same numbers.
        let restored = change(1, &[90]);
        assert_eq!(
            admit_changes(&d, &[restored], |c| log.contains(c)),
            Err(DocError::Reused { actor: 7, start: 1 })
        );
    }

    #[test]
    fn a_change_straddling_what_is_held_is_a_reused_sequence() {
        let first = change(1, &[10, 20]);
        let d = holding(std::slice::from_ref(&first));
        let log = [first];
        let straddling = change(2, &[30, 40]);
        assert_eq!(
            admit_changes(&d, &[straddling], |c| log.contains(c)),
            Err(DocError::Reused { actor: 7, start: 2 })
        );
    }

    #[test]
    fn the_same_change_twice_in_one_batch_is_admitted_and_a_different_one_is_not() {
        let d = doc();
        let one = change(1, &[10]);
        assert_eq!(
            admit_changes(&d, &[one.clone(), one.clone()], |_| false),
            Ok(())
        );
        let other = change(1, &[11]);
        assert_eq!(
            admit_changes(&d, &[one, other], |_| false),
            Err(DocError::Reused { actor: 7, start: 1 })
        );
    }

    #[test]
    fn a_new_value_no_reader_can_hold_is_refused_but_a_held_one_is_resent_freely() {
        let due = |y: i32| Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Due(
                chrono::NaiveDate::from_ymd_opt(y, 1, 1).map(crate::doc::Day::from_date),
            ),
            ctx: Vec::new(),
        };
        let key = signing_key(&[3; 32]);
        let old = Change::sign(1, 7, 1, vec![due(1800)], &key);
        // Accepted before the rule (replayed with the operation-level checks only).
        let d = holding(std::slice::from_ref(&old));
        let log = [old.clone()];
        assert_eq!(admit_changes(&d, &[old], |c| log.contains(c)), Ok(()));
        let new = Change::sign(1, 7, 2, vec![due(1800)], &key);
        assert!(matches!(
            admit_changes(&d, &[new], |_| false),
            Err(DocError::Inadmissible { .. })
        ));
        let fine = Change::sign(1, 7, 2, vec![due(2020)], &key);
        assert_eq!(admit_changes(&d, &[fine], |_| false), Ok(()));
    }

    #[test]
    fn an_operation_naming_something_other_than_a_task_as_one_is_refused() {
        let key = signing_key(&[3; 32]);
        let comment = Op::Comment {
            task: TaskRef::Assigned(0),
            text: "ghi chú".into(),
            at: 1,
        };
        let first = Change::sign(1, 7, 1, vec![comment], &key);
        let d = holding(std::slice::from_ref(&first));
        let on = |id: OpId| Op::Set {
            task: TaskRef::Adhoc(id),
            value: TaskField::Progress(10),
            ctx: Vec::new(),
        };
        // Operation 7.1 is a comment, not a task.
        let phantom = Change::sign(1, 7, 2, vec![on(OpId::new(7, 1))], &key);
        assert_eq!(
            admit_changes(&d, &[phantom], |_| false),
            Err(DocError::Invalid(NOT_A_TASK))
        );
        // A task made earlier in the same batch may be written at once.
        let add = Op::AddTask {
            parent: None,
            title: "Việc mới".into(),
        };
        let made = Change::sign(1, 7, 2, vec![add, on(OpId::new(7, 2))], &key);
        assert_eq!(admit_changes(&d, &[made], |_| false), Ok(()));
    }
}
