//! Whether sync changes may be applied to a document, and applying them: the rule written
//! once, for a phone's [`Replica`](super::Replica) (both of its sides) and the server's
//! writer alike.
//!
//! # The rule
//!
//! Changes are checked in the order given, each against the document as applying the ones
//! before it would leave it. For each actor, `have` is the highest sequence number of its
//! operations the document holds (its entry in the version vector), then advanced by each
//! change of the batch that passes.
//!
//! 1. **No empty change.** A change carries at least one operation. An empty one is refused
//!    (`DocError::Invalid`, [`EMPTY_CHANGE`]) and moves nothing: it never advances `have`, so
//!    the change after it can neither be misnumbered nor fail later with a gap.
//! 2. **Sequence numbers start at 1.** A change from 0 is refused (`DocError::Invalid`).
//! 3. **The next sequence number per actor.** A change from `start` may apply when
//!    `start <= have + 1`. A later start is a gap, refused with the missing range:
//!    `DocError::Gap { actor, have, from: start }`, operations `have + 1 ..= start - 1` are
//!    missing, and the sender resends from `have + 1`.
//! 4. **Whole changes only.** A change held whole (its last operation `<= have`) is
//!    accepted and applies nothing: an idempotent resend. A change that starts within what
//!    is held and ends past it is refused ([`OVERLAPPING_CHANGE`]): an honest device seals
//!    its operations into changes once and resends them whole, so changes never straddle
//!    what a replica holds, and a server that applied the new part of such a change would
//!    store it under an op-log key (actor, start) it already holds. A held change is not
//!    compared with the operations held here: a replica that takes a *device's* changes (the
//!    server) first runs [`admit_changes`](super::admit_changes), which refuses one that is
//!    not a byte-identical resend (a restored phone re-using sequence numbers, issue 18),
//!    together with the value and room rules only new operations must meet.
//! 5. **Every operation well-formed**, the held prefix included: [`Op::validate`] through
//!    the document's `check_ops`: tasks the header gives or ad-hoc tasks made earlier by the
//!    same actor, confirmations changed only after they were made, progress 0 to 100, dates
//!    in range, text within [`limits::SHORT_TEXT`] and [`limits::LONG_TEXT`], at most
//!    [`limits::FIGURES`] figures in a report.
//! 6. **Causal contexts** (of `Op::Set` and `Op::SetConfirmation`), as `Op::validate` checks
//!    them: at most [`limits::CONTEXT`] entries, actors strictly increasing, no counter 0,
//!    and none naming an operation of the same actor at or after the one it is the context
//!    of.
//! 7. **Only operations the replica holds are named** ([`UNKNOWN_OPERATION`]): every entry
//!    of a causal context, the confirmation a `SetConfirmation` changes and the ad-hoc task
//!    an operation names, when they are another actor's, must be within what the document
//!    holds once the batch is applied. An honest device can only have seen what its server
//!    has; a context naming another actor far ahead would dominate every write that actor
//!    ever makes to the register (found by reading, issue 18), and a made-up task or
//!    confirmation would show in the projections.
//! 8. **All or nothing.** [`apply_changes`] checks the whole batch first; when the check
//!    refuses, the document is left as it was.
//!
//! Not part of the rule, and left to the callers: signatures, whether the actor may write
//! the document, and whether both sides hold the same document (its fingerprint).
//!
//! [`limits::SHORT_TEXT`]: crate::doc::limits::SHORT_TEXT
//! [`limits::LONG_TEXT`]: crate::doc::limits::LONG_TEXT
//! [`limits::FIGURES`]: crate::doc::limits::FIGURES
//! [`limits::CONTEXT`]: crate::doc::limits::CONTEXT

use std::collections::BTreeMap;

use super::change::Change;
use crate::doc::{
    ActorId, BoundedDocument, DocError, Op, TaskField, TaskRef, UnitDocument, VersionVector,
};

/// Why an empty change is refused (the message of its `DocError::Invalid`).
pub const EMPTY_CHANGE: &str = "a change must carry at least one operation";

/// Why an operation naming another actor's operation the replica does not hold is refused.
pub const UNKNOWN_OPERATION: &str =
    "an operation names another device's operation this replica does not hold";

/// Why a change that straddles what is held is refused (the message of its
/// `DocError::Invalid`).
pub const OVERLAPPING_CHANGE: &str =
    "a change starts within the operations held and ends past them: send changes whole";

/// A document changes can be checked against and applied to: UnitDocument and BoundedDocument.
pub trait ChangeTarget {
    /// The highest sequence number held per actor.
    fn version(&self) -> &VersionVector;
    /// Whether `apply_ops(actor, start, ops)` would succeed once `actor`'s operations up to
    /// `have` are held ([`UnitDocument::check_ops`]).
    fn check_ops(&self, have: u64, actor: ActorId, start: u64, ops: &[Op]) -> Result<(), DocError>;
    /// Apply operations `start, start + 1, …` of `actor`, skipping those held; how many were
    /// new ([`UnitDocument::apply_ops`]).
    fn apply_ops(&mut self, actor: ActorId, start: u64, ops: &[Op]) -> Result<usize, DocError>;
    /// Whether the ad-hoc task made by operation `id` is held (its `AddTask` applied).
    fn made(&self, task: TaskRef) -> bool;
}

impl ChangeTarget for UnitDocument {
    fn version(&self) -> &VersionVector {
        UnitDocument::version(self)
    }

    fn check_ops(&self, have: u64, actor: ActorId, start: u64, ops: &[Op]) -> Result<(), DocError> {
        UnitDocument::check_ops(self, have, actor, start, ops)
    }

    fn apply_ops(&mut self, actor: ActorId, start: u64, ops: &[Op]) -> Result<usize, DocError> {
        UnitDocument::apply_ops(self, actor, start, ops)
    }

    fn made(&self, task: TaskRef) -> bool {
        self.task(task).is_some_and(|t| t.created)
    }
}

impl ChangeTarget for BoundedDocument {
    fn version(&self) -> &VersionVector {
        BoundedDocument::version(self)
    }

    fn check_ops(&self, have: u64, actor: ActorId, start: u64, ops: &[Op]) -> Result<(), DocError> {
        BoundedDocument::check_ops(self, have, actor, start, ops)
    }

    fn apply_ops(&mut self, actor: ActorId, start: u64, ops: &[Op]) -> Result<usize, DocError> {
        BoundedDocument::apply_ops(self, actor, start, ops)
    }

    fn made(&self, task: TaskRef) -> bool {
        self.task(task).is_some_and(|t| t.created)
    }
}

/// Check every change against `doc` in order, as applying them one after the other would,
/// without changing anything (the rule above). Refuses: an empty change, start 0, a gap
/// (`DocError::Gap`), a change straddling what is held, any invalid operation
/// (`Op::validate` through `check_ops`). A change held whole is accepted (an idempotent
/// resend).
pub fn check_changes<D: ChangeTarget + ?Sized>(
    doc: &D,
    changes: &[Change],
) -> Result<(), DocError> {
    let mut have: BTreeMap<ActorId, u64> = BTreeMap::new();
    for c in changes {
        let held = have
            .entry(c.actor)
            .or_insert_with(|| doc.version().get(&c.actor));
        if c.ops.is_empty() {
            return Err(DocError::Invalid(EMPTY_CHANGE));
        }
        doc.check_ops(*held, c.actor, c.start, &c.ops)?;
        // Passed: `start <= held + 1`, so its last sequence number cannot overflow.
        if c.start <= *held && c.end() > *held {
            return Err(DocError::Invalid(OVERLAPPING_CHANGE));
        }
        *held = (*held).max(c.end());
    }
    // What the document holds once the batch is applied: every operation named must be in it.
    let reach = |actor: ActorId| {
        have.get(&actor)
            .copied()
            .unwrap_or_else(|| doc.version().get(&actor))
    };
    for c in changes {
        for op in &c.ops {
            let known = |(actor, seq): (ActorId, u64)| actor == c.actor || seq <= reach(actor);
            if !named_operations(op).all(known) {
                return Err(DocError::Invalid(UNKNOWN_OPERATION));
            }
        }
    }
    Ok(())
}

/// The task made by an operation that `op` refers to (the task it writes, comments on or adds
/// a sub-task to): an ad-hoc task, or one a revision added.
pub(super) fn adhoc_tasks(op: &Op) -> Option<TaskRef> {
    let task = match op {
        Op::Set { task, .. }
        | Op::Comment { task, .. }
        | Op::AddEvidence { task, .. }
        | Op::Urge { task, .. } => Some(task),
        Op::AddTask { parent, .. } => parent.as_ref(),
        Op::Confirm(_)
        | Op::Report(_)
        | Op::SetConfirmation { .. }
        | Op::Assign(_)
        | Op::Verify(_) => None,
    };
    match task {
        Some(t @ (TaskRef::Adhoc(_) | TaskRef::Added(_))) => Some(*t),
        _ => None,
    }
}

/// The operations `op` names: its causal context's entries, the confirmation it changes, the
/// ad-hoc tasks it refers to.
fn named_operations(op: &Op) -> impl Iterator<Item = (ActorId, u64)> + '_ {
    let adhoc = |t: &TaskRef| match t {
        TaskRef::Adhoc(id) | TaskRef::Added(id) => Some((id.actor, id.seq)),
        TaskRef::Assigned(_) => None,
    };
    let none: &[(ActorId, u64)] = &[];
    // A review's `seen` names operations too: one naming another actor far ahead would
    // cover every edit that actor ever makes, and the task would stay accepted for good.
    let (ctx, seen, other) = match op {
        Op::Set {
            task,
            ctx,
            value: TaskField::Review(r),
        } => (ctx.as_slice(), r.seen.as_slice(), adhoc(task)),
        Op::Set { task, ctx, .. } => (ctx.as_slice(), none, adhoc(task)),
        Op::SetConfirmation { id, ctx, .. } => (ctx.as_slice(), none, Some((id.actor, id.seq))),
        Op::AddTask { parent, .. } => (none, none, parent.as_ref().and_then(adhoc)),
        Op::Comment { task, .. } | Op::AddEvidence { task, .. } | Op::Urge { task, .. } => {
            (none, none, adhoc(task))
        }
        Op::Confirm(_) | Op::Report(_) | Op::Assign(_) | Op::Verify(_) => (none, none, None),
    };
    ctx.iter().chain(seen).copied().chain(other)
}

/// What applying one change did: the actor's held sequence number before it, and how many of
/// its operations were new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub before: u64,
    pub applied: usize,
}

/// check_changes, then apply them all in order; `each(change, Applied)` is called for every
/// change after it is applied (the server uses it to log rows and touch projections).
/// All or nothing: when the check refuses, the document is unchanged and `each` never called.
/// An error from apply after a passed check is a bug; return it (DocError) rather than panic.
///
/// Returns how many operations were new in all.
pub fn apply_changes<D: ChangeTarget + ?Sized>(
    doc: &mut D,
    changes: &[Change],
    each: impl FnMut(&Change, Applied),
) -> Result<usize, DocError> {
    check_changes(doc, changes)?;
    apply_checked(doc, changes, each)
}

/// [`apply_changes`] for changes [`check_changes`] has just passed on this same document
/// (the server's writer checks on its shared copy, then applies to its own): the check is not
/// repeated. Changes that were not checked may be refused half-way, leaving the document
/// partly changed, so the caller must then drop it.
pub fn apply_checked<D: ChangeTarget + ?Sized>(
    doc: &mut D,
    changes: &[Change],
    mut each: impl FnMut(&Change, Applied),
) -> Result<usize, DocError> {
    let mut total = 0usize;
    for c in changes {
        let before = doc.version().get(&c.actor);
        let applied = doc.apply_ops(c.actor, c.start, &c.ops)?;
        total = total.saturating_add(applied);
        each(c, Applied { before, applied });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        directive::Role,
        doc::{CanonicalDoc, DocHeader, HeaderTask, Status, TaskField, TaskRef},
    };

    fn header() -> DocHeader {
        DocHeader {
            directive: "5-ct-btttt".into(),
            unit: "cuc-vt".into(),
            tasks: vec![
                HeaderTask {
                    clause: "2.a".into(),
                    role: Role::Lead,
                },
                HeaderTask {
                    clause: "2.b".into(),
                    role: Role::Coordinating,
                },
            ],
        }
    }

    fn progress(p: u8) -> Op {
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Progress(p),
            ctx: Vec::new(),
        }
    }

    fn comment(text: &str) -> Op {
        Op::Comment {
            task: TaskRef::Assigned(1),
            text: text.into(),
            at: 1,
        }
    }

    /// The rule ignores signatures: an unsigned change will do.
    fn change(actor: ActorId, start: u64, ops: Vec<Op>) -> Change {
        Change::unsigned(actor, start, ops)
    }

    /// A document under test, with its state to compare.
    trait Probe: ChangeTarget {
        fn kind(&self) -> &'static str;
        fn state(&self) -> CanonicalDoc;
    }

    impl Probe for UnitDocument {
        fn kind(&self) -> &'static str {
            "UnitDocument"
        }
        fn state(&self) -> CanonicalDoc {
            self.to_canonical()
        }
    }

    impl Probe for BoundedDocument {
        fn kind(&self) -> &'static str {
            "shed BoundedDocument"
        }
        fn state(&self) -> CanonicalDoc {
            self.registers().to_canonical()
        }
    }

    fn shed() -> BoundedDocument {
        let mut d = BoundedDocument::new(UnitDocument::new(header()));
        d.shed_bodies();
        d
    }

    /// Run `test` on a UnitDocument and on a shed BoundedDocument.
    fn on_both(test: impl Fn(&mut dyn Probe) -> Result<(), DocError>) -> Result<(), DocError> {
        test(&mut UnitDocument::new(header()))?;
        test(&mut shed())
    }

    /// What `each` was called with: the change's actor and start, and what it did.
    type Calls = Vec<(ActorId, u64, Applied)>;

    /// `apply_changes`, recording what `each` was called with.
    fn apply_logged(doc: &mut dyn Probe, changes: &[Change]) -> (Result<usize, DocError>, Calls) {
        let mut calls = Vec::new();
        let r = apply_changes(doc, changes, |c, a| calls.push((c.actor, c.start, a)));
        (r, calls)
    }

    #[test]
    fn an_empty_change_is_refused_and_the_document_unchanged() -> Result<(), DocError> {
        on_both(|doc| {
            apply_changes(doc, &[change(1, 1, vec![progress(10)])], |_, _| {})?;
            let before = doc.state();
            for batch in [
                vec![change(1, 2, Vec::new())],
                vec![change(2, 1, Vec::new())],
                // Even where it would be held whole, or start at 0.
                vec![change(1, 1, Vec::new())],
                vec![change(1, 0, Vec::new())],
                vec![change(2, 1, vec![progress(20)]), change(1, 2, Vec::new())],
            ] {
                assert_eq!(
                    check_changes(doc, &batch),
                    Err(DocError::Invalid(EMPTY_CHANGE)),
                    "{}",
                    doc.kind()
                );
                let (r, calls) = apply_logged(doc, &batch);
                assert_eq!(r, Err(DocError::Invalid(EMPTY_CHANGE)), "{}", doc.kind());
                assert!(calls.is_empty(), "{}", doc.kind());
                assert!(doc.state() == before, "{}", doc.kind());
            }
            assert_eq!(doc.version().get(&1), 1);
            assert_eq!(doc.version().get(&2), 0);
            Ok(())
        })
    }

    #[test]
    fn a_change_after_a_refused_empty_one_is_not_misnumbered() -> Result<(), DocError> {
        on_both(|doc| {
            // The empty change from 1 is refused; it does not make 1 held.
            assert_eq!(
                apply_changes(doc, &[change(1, 1, Vec::new())], |_, _| {}),
                Err(DocError::Invalid(EMPTY_CHANGE))
            );
            // In one batch, the change after it is not checked as if 1 were held (it would
            // then pass the check and fail with a gap when applied).
            let after = change(1, 2, vec![progress(10)]);
            assert_eq!(
                check_changes(doc, &[change(1, 1, Vec::new()), after.clone()]),
                Err(DocError::Invalid(EMPTY_CHANGE))
            );
            assert_eq!(
                check_changes(doc, std::slice::from_ref(&after)),
                Err(DocError::Gap {
                    actor: 1,
                    have: 0,
                    from: 2
                })
            );
            // The real first change is numbered from 1 and applies whole.
            let first = change(1, 1, vec![progress(10), progress(20)]);
            let (r, calls) = apply_logged(doc, &[first]);
            assert_eq!(r, Ok(2), "{}", doc.kind());
            assert_eq!(
                calls,
                vec![(
                    1,
                    1,
                    Applied {
                        before: 0,
                        applied: 2
                    }
                )]
            );
            assert_eq!(doc.version().get(&1), 2);
            Ok(())
        })
    }

    #[test]
    fn a_change_straddling_what_is_held_is_refused_and_changes_nothing() -> Result<(), DocError> {
        on_both(|doc| {
            apply_changes(
                doc,
                &[change(1, 1, vec![progress(10), progress(20)])],
                |_, _| {},
            )?;
            let before = doc.state();
            // 1..=2 held; 2..=4 sent (a restored or hostile device): refused whole.
            let overlap = change(1, 2, vec![progress(20), progress(30), progress(40)]);
            let (r, calls) = apply_logged(doc, &[overlap]);
            assert_eq!(
                r,
                Err(DocError::Invalid(OVERLAPPING_CHANGE)),
                "{}",
                doc.kind()
            );
            assert!(calls.is_empty());
            // The same start as a held change, longer: what a server would store under a key
            // it already holds.
            let longer = change(1, 1, vec![progress(10), progress(20), progress(30)]);
            assert_eq!(
                apply_logged(doc, &[longer]).0,
                Err(DocError::Invalid(OVERLAPPING_CHANGE))
            );
            // Within one batch too: the second change straddles the first.
            let batch = [
                change(2, 1, vec![progress(50), progress(60)]),
                change(2, 2, vec![progress(60), progress(70)]),
            ];
            let (r, calls) = apply_logged(doc, &batch);
            assert_eq!(r, Err(DocError::Invalid(OVERLAPPING_CHANGE)));
            assert!(calls.is_empty());
            assert_eq!(doc.state(), before, "{}", doc.kind());
            // A change held whole, then the next one: fine.
            let batch = [
                change(1, 1, vec![progress(10), progress(20)]),
                change(1, 3, vec![progress(30)]),
            ];
            let (r, calls) = apply_logged(doc, &batch);
            assert_eq!(r, Ok(1));
            assert_eq!(
                calls,
                vec![
                    (
                        1,
                        1,
                        Applied {
                            before: 2,
                            applied: 0
                        }
                    ),
                    (
                        1,
                        3,
                        Applied {
                            before: 2,
                            applied: 1
                        }
                    ),
                ]
            );
            Ok(())
        })
    }

    #[test]
    fn an_operation_naming_what_the_replica_does_not_hold_is_refused() -> Result<(), DocError> {
        use crate::doc::{ConfirmationState, OpId};
        on_both(|doc| {
            // Actor 2 holds 1 operation; actor 1 writes with a context naming 2's first: fine.
            apply_changes(doc, &[change(2, 1, vec![progress(10)])], |_, _| {})?;
            let honest = Op::Set {
                task: TaskRef::Assigned(0),
                value: TaskField::Progress(20),
                ctx: vec![(2, 1)],
            };
            assert_eq!(apply_logged(doc, &[change(1, 1, vec![honest])]).0, Ok(1));
            let before = doc.state();
            // A context naming actor 2 far ahead (it would dominate 2's later writes).
            let forged = Op::Set {
                task: TaskRef::Assigned(0),
                value: TaskField::Progress(30),
                ctx: vec![(2, 1_000_000)],
            };
            // Another actor's confirmation, and ad-hoc task, that do not exist.
            let ghost_confirmation = Op::SetConfirmation {
                id: OpId::new(2, 50),
                state: ConfirmationState::Withdrawn,
                ctx: Vec::new(),
            };
            let ghost_task = Op::Set {
                task: TaskRef::Adhoc(OpId::new(3, 7)),
                value: TaskField::Progress(30),
                ctx: Vec::new(),
            };
            // A review whose `seen` names actor 2 far ahead: it would cover every edit 2
            // ever makes, and the task would stay accepted for good (issue 20).
            let frozen = Op::Set {
                task: TaskRef::Assigned(0),
                value: TaskField::Review(crate::doc::Review {
                    verdict: crate::doc::Verdict::Accepted,
                    reason: String::new(),
                    seen: vec![(2, 1_000_000)],
                    at: 1,
                }),
                ctx: Vec::new(),
            };
            for op in [forged, ghost_confirmation, ghost_task, frozen] {
                let (r, calls) = apply_logged(doc, &[change(1, 2, vec![op])]);
                assert_eq!(
                    r,
                    Err(DocError::Invalid(UNKNOWN_OPERATION)),
                    "{}",
                    doc.kind()
                );
                assert!(calls.is_empty());
            }
            assert_eq!(doc.state(), before);
            // Named operations arriving in the same batch (a phone receiving a server's
            // answer, ordered by actor) are held once it is applied.
            let later = Op::Set {
                task: TaskRef::Assigned(0),
                value: TaskField::Progress(40),
                ctx: vec![(2, 2)],
            };
            let batch = [change(1, 2, vec![later]), change(2, 2, vec![progress(50)])];
            assert_eq!(apply_logged(doc, &batch).0, Ok(2));
            Ok(())
        })
    }

    #[test]
    fn an_exact_resend_applies_nothing() -> Result<(), DocError> {
        on_both(|doc| {
            let batch = [
                change(1, 1, vec![progress(10), comment("Đã gửi.")]),
                change(2, 1, vec![progress(30)]),
            ];
            assert_eq!(apply_changes(doc, &batch, |_, _| {})?, 3);
            let before = doc.state();
            for _ in 0..2 {
                assert_eq!(check_changes(doc, &batch), Ok(()));
                let (r, calls) = apply_logged(doc, &batch);
                assert_eq!(r, Ok(0), "{}", doc.kind());
                assert_eq!(
                    calls,
                    vec![
                        (
                            1,
                            1,
                            Applied {
                                before: 2,
                                applied: 0
                            }
                        ),
                        (
                            2,
                            1,
                            Applied {
                                before: 1,
                                applied: 0
                            }
                        ),
                    ]
                );
                assert!(doc.state() == before, "{}", doc.kind());
            }
            // A held prefix alone (a resend of part of what is held) applies nothing either.
            assert_eq!(
                apply_changes(doc, &[change(1, 1, vec![progress(10)])], |_, _| {}),
                Ok(0)
            );
            Ok(())
        })
    }

    #[test]
    fn a_gap_is_refused_with_the_missing_range() -> Result<(), DocError> {
        on_both(|doc| {
            apply_changes(doc, &[change(1, 1, vec![progress(10)])], |_, _| {})?;
            let before = doc.state();
            // Held up to 1, sent from 4: 2 and 3 are missing.
            let gap = DocError::Gap {
                actor: 1,
                have: 1,
                from: 4,
            };
            let batch = [change(1, 4, vec![progress(40)])];
            assert_eq!(check_changes(doc, &batch), Err(gap.clone()));
            let (r, calls) = apply_logged(doc, &batch);
            assert_eq!(r, Err(gap), "{}", doc.kind());
            assert!(calls.is_empty());
            // Counted from what the batch's earlier changes bring.
            let batch = [
                change(1, 2, vec![progress(20)]),
                change(1, 5, vec![progress(50)]),
            ];
            assert_eq!(
                apply_changes(doc, &batch, |_, _| {}),
                Err(DocError::Gap {
                    actor: 1,
                    have: 2,
                    from: 5
                })
            );
            // An actor never seen: from 1 only.
            assert_eq!(
                check_changes(doc, &[change(3, 2, vec![progress(1)])]),
                Err(DocError::Gap {
                    actor: 3,
                    have: 0,
                    from: 2
                })
            );
            assert!(doc.state() == before, "{}", doc.kind());
            assert_eq!(doc.version().get(&1), 1);
            Ok(())
        })
    }

    #[test]
    fn a_change_from_zero_is_refused() -> Result<(), DocError> {
        on_both(|doc| {
            assert_eq!(
                apply_changes(doc, &[change(1, 0, vec![progress(10)])], |_, _| {}),
                Err(DocError::Invalid("sequence numbers start at 1"))
            );
            assert_eq!(doc.version().get(&1), 0);
            Ok(())
        })
    }

    #[test]
    fn a_batch_whose_second_change_is_bad_leaves_the_document_unchanged_and_each_uncalled()
    -> Result<(), DocError> {
        on_both(|doc| {
            apply_changes(doc, &[change(1, 1, vec![progress(10)])], |_, _| {})?;
            let before = doc.state();
            let good = change(1, 2, vec![progress(20), comment("Báo cáo tuần.")]);
            let bad_seconds = [
                // An invalid operation (progress over 100), after a valid one.
                (
                    change(2, 1, vec![progress(30), progress(101)]),
                    DocError::Invalid("progress is a percentage, 0 to 100"),
                ),
                // A task the header does not give.
                (
                    change(
                        2,
                        1,
                        vec![Op::Set {
                            task: TaskRef::Assigned(9),
                            value: TaskField::Status(Status::Done),
                            ctx: Vec::new(),
                        }],
                    ),
                    DocError::UnknownTask(TaskRef::Assigned(9)),
                ),
                // A gap after the first change's operations.
                (
                    change(1, 5, vec![progress(50)]),
                    DocError::Gap {
                        actor: 1,
                        have: 3,
                        from: 5,
                    },
                ),
                (change(2, 1, Vec::new()), DocError::Invalid(EMPTY_CHANGE)),
                (
                    change(2, 0, vec![progress(1)]),
                    DocError::Invalid("sequence numbers start at 1"),
                ),
            ];
            for (bad, refusal) in bad_seconds {
                let batch = [good.clone(), bad, change(3, 1, vec![progress(70)])];
                assert_eq!(check_changes(doc, &batch), Err(refusal.clone()));
                let (r, calls) = apply_logged(doc, &batch);
                assert_eq!(r, Err(refusal), "{}", doc.kind());
                assert!(calls.is_empty(), "{}", doc.kind());
                assert!(doc.state() == before, "{}", doc.kind());
                assert_eq!(doc.version().get(&1), 1);
            }
            // The good change alone applies.
            assert_eq!(apply_changes(doc, &[good], |_, _| {}), Ok(2));
            Ok(())
        })
    }

    #[test]
    fn a_unit_document_and_a_shed_bounded_document_give_the_same_results() {
        let batches = [
            vec![change(
                1,
                1,
                vec![progress(10), comment("Đã gửi tin nhắn.")],
            )],
            vec![change(1, 1, Vec::new())],
            vec![change(1, 4, vec![progress(30)])],
            vec![
                change(2, 1, vec![progress(20)]),
                change(1, 3, vec![progress(25)]),
            ],
            // Straddles what is held (1..=3): refused on every kind of document.
            vec![change(1, 3, vec![progress(25), progress(40)])],
            vec![change(1, 1, vec![progress(10)]), change(2, 2, Vec::new())],
            vec![change(2, 1, vec![progress(20), progress(101)])],
            vec![
                change(2, 1, vec![progress(20)]),
                change(2, 2, vec![progress(60)]),
            ],
            vec![change(1, 0, vec![progress(1)])],
        ];
        let mut unit = UnitDocument::new(header());
        let mut lean = shed();
        let mut whole = BoundedDocument::new(UnitDocument::new(header()));
        for batch in &batches {
            let (u, u_calls) = apply_logged(&mut unit, batch);
            let (l, l_calls) = apply_logged(&mut lean, batch);
            let (w, w_calls) = apply_logged(&mut whole, batch);
            assert_eq!(u, l, "{batch:?}");
            assert_eq!(u, w, "{batch:?}");
            assert_eq!(u_calls, l_calls, "{batch:?}");
            assert_eq!(u_calls, w_calls, "{batch:?}");
            assert_eq!(unit.version(), lean.version());
            assert_eq!(
                unit.statuses(TaskRef::Assigned(0)),
                lean.registers().statuses(TaskRef::Assigned(0))
            );
            assert_eq!(
                unit.progresses(TaskRef::Assigned(0)),
                lean.registers().progresses(TaskRef::Assigned(0))
            );
            assert!(whole.whole().is_some_and(|d| d.state() == unit.state()));
        }
        assert_eq!(unit.version().get(&1), 3);
        assert_eq!(unit.version().get(&2), 2);
        // The two actors' last writes, concurrent (their contexts are empty): both kept.
        assert_eq!(unit.progresses(TaskRef::Assigned(0)), vec![25, 60]);
        // Shed, the comment is gone; whole, it is kept.
        assert!(
            lean.registers()
                .task(TaskRef::Assigned(1))
                .is_some_and(|t| t.comments.is_empty())
        );
        assert!(
            unit.task(TaskRef::Assigned(1))
                .is_some_and(|t| t.comments.len() == 1)
        );
    }
}
