//! A revision of a published directive, as operations on a unit's document (decision 44).
//!
//! A published document's header never changes (every signature covers its fingerprint), so
//! a corrected text reaches the documents as the Ministry Office's signed operations: a task
//! whose clause the revision no longer gives the unit is withdrawn (its assignment register
//! set to `None`: its work is kept, it leaves the counts), one whose role changed gets the new
//! role, one withdrawn before and given again is reinstated with its work, and a clause the
//! unit had no task for gets one (`Op::Assign`, a `TaskRef::Added`). Clause ids are the key:
//! a clause that kept its id keeps its task and everything recorded on it.
//!
//! [`revision_ops`] is a function of the document and the tasks the revised directive gives
//! the unit: applied, the document's directive tasks are exactly those; made again on the
//! result, it makes nothing. So a revision interrupted half-way is finished by making it again.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    ids::{HeaderTask, TaskRef},
    ops::{Op, TaskField},
    state::UnitDocument,
};
use crate::directive::Role;

/// What a revision does to one document, clause by clause.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RevisionSummary {
    /// Clauses whose task stays as it was.
    pub kept: Vec<String>,
    /// Clauses given to the unit anew: a task each.
    pub added: Vec<String>,
    /// Clauses no longer given to the unit: their tasks are withdrawn, their work kept.
    pub withdrawn: Vec<String>,
    /// Clauses withdrawn before and given again: their tasks count again, with their work.
    pub reinstated: Vec<String>,
    /// Clauses whose role changed.
    pub role_changed: Vec<String>,
}

impl RevisionSummary {
    /// Whether the revision changes nothing in the document.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.withdrawn.is_empty()
            && self.reinstated.is_empty()
            && self.role_changed.is_empty()
    }
}

/// What a revision means for a unit, from the tasks the directive gave it before (`old`)
/// and gives it now (`new`): what a reviewer reads before publishing. (What publishing does
/// to a document is [`revision_ops`]'s summary: it also finds tasks to reinstate.)
pub fn diff_tasks(old: &[HeaderTask], new: &[HeaderTask]) -> RevisionSummary {
    let before: BTreeMap<&str, Role> = old.iter().map(|t| (t.clause.as_str(), t.role)).collect();
    let after: BTreeMap<&str, Role> = new.iter().map(|t| (t.clause.as_str(), t.role)).collect();
    let mut s = RevisionSummary::default();
    for (clause, role) in &after {
        match before.get(clause) {
            None => s.added.push((*clause).to_string()),
            Some(r) if r != role => s.role_changed.push((*clause).to_string()),
            Some(_) => s.kept.push((*clause).to_string()),
        }
    }
    s.withdrawn = before
        .keys()
        .filter(|c| !after.contains_key(*c))
        .map(|c| (*c).to_string())
        .collect();
    s
}

/// The operations that bring `doc`'s directive tasks to `target` (the tasks the revised
/// directive gives its unit: `DocHeader::for_unit(..).tasks`), and what they do.
pub fn revision_ops(doc: &UnitDocument, target: &[HeaderTask]) -> (Vec<Op>, RevisionSummary) {
    let wanted: BTreeMap<&str, Role> = target.iter().map(|t| (t.clause.as_str(), t.role)).collect();
    // Every directive task the document has, withdrawn or not, by clause: the header's in
    // order, then those revisions added (in the order of their `Assign`).
    let mut by_clause: BTreeMap<String, Vec<TaskRef>> = BTreeMap::new();
    for t in doc.task_refs().into_iter().chain(doc.withdrawn_refs()) {
        if let Some(given) = doc.given_task(t) {
            by_clause.entry(given.clause).or_default().push(t);
        }
    }
    let mut ops = Vec::new();
    let mut summary = RevisionSummary::default();
    for (clause, mut tasks) in by_clause {
        tasks.sort();
        // One task per clause counts: the first listed one, else the first (two revisions
        // made at once may each have added one; the others are withdrawn, their work kept).
        let Some(primary) = tasks
            .iter()
            .copied()
            .find(|t| doc.directive_task(*t).is_some())
            .or_else(|| tasks.first().copied())
        else {
            continue;
        };
        for t in tasks {
            let now = doc.directive_task(t).map(|h| h.role);
            let want = if t == primary {
                wanted.get(clause.as_str()).copied()
            } else {
                None
            };
            // A register holding several values is written again to leave one.
            let settled = doc.task(t).is_none_or(|s| s.assignment.len() <= 1);
            if now == want && settled {
                if want.is_some() {
                    summary.kept.push(clause.clone());
                }
                continue;
            }
            ops.push(doc.set_op(t, TaskField::Assignment(want)));
            if t != primary {
                continue;
            }
            match (now, want) {
                (Some(_), None) => summary.withdrawn.push(clause.clone()),
                (None, Some(_)) => summary.reinstated.push(clause.clone()),
                (Some(a), Some(b)) if a != b => summary.role_changed.push(clause.clone()),
                _ => summary.kept.push(clause.clone()),
            }
        }
    }
    for t in target {
        let has = doc
            .task_refs()
            .into_iter()
            .chain(doc.withdrawn_refs())
            .any(|r| doc.given_task(r).is_some_and(|g| g.clause == t.clause));
        if !has {
            ops.push(Op::Assign(t.clone()));
            summary.added.push(t.clause.clone());
        }
    }
    (ops, summary)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::doc::{DocHeader, Status};

    fn task(clause: &str, role: Role) -> HeaderTask {
        HeaderTask {
            clause: clause.into(),
            role,
        }
    }

    fn header() -> DocHeader {
        DocHeader {
            directive: "7-ct-btttt".into(),
            unit: "cuc-vt".into(),
            tasks: vec![
                task("1", Role::Lead),
                task("2", Role::Coordinating),
                task("3", Role::Lead),
            ],
        }
    }

    /// Apply `ops` as the Ministry Office's actor 9 would.
    fn apply(doc: &mut UnitDocument, ops: &[Op]) {
        let start = doc.next_id(9).seq;
        doc.apply_ops(9, start, ops)
            .unwrap_or_else(|e| panic!("revision ops refused: {e}"));
    }

    /// The document's directive tasks as (clause, role), in order.
    fn tasks_of(doc: &UnitDocument) -> Vec<(String, Role)> {
        let mut out: Vec<(String, Role)> = doc
            .task_refs()
            .into_iter()
            .filter_map(|t| doc.directive_task(t))
            .map(|h| (h.clause, h.role))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_revision_keeps_withdraws_adds_and_changes_roles_without_losing_work() {
        let mut doc = UnitDocument::new(header());
        // The unit's work on clauses 1 and 2.
        let done = doc.set_op(TaskRef::Assigned(0), TaskField::Status(Status::Done));
        let notes = doc.set_op(
            TaskRef::Assigned(1),
            TaskField::Notes("Đã gửi 3 tin.".into()),
        );
        doc.apply_ops(1, 1, &[done, notes])
            .unwrap_or_else(|e| panic!("{e}"));
        // Clause 2 is no longer the unit's, 3 becomes coordinating, 4 is new.
        let target = vec![
            task("1", Role::Lead),
            task("3", Role::Coordinating),
            task("4", Role::Lead),
        ];
        let (ops, summary) = revision_ops(&doc, &target);
        assert_eq!(summary.kept, vec!["1".to_string()]);
        assert_eq!(summary.withdrawn, vec!["2".to_string()]);
        assert_eq!(summary.role_changed, vec!["3".to_string()]);
        assert_eq!(summary.added, vec!["4".to_string()]);
        assert!(ops.iter().all(Op::is_office), "{ops:?}");
        apply(&mut doc, &ops);
        assert_eq!(
            tasks_of(&doc),
            vec![
                ("1".into(), Role::Lead),
                ("3".into(), Role::Coordinating),
                ("4".into(), Role::Lead)
            ]
        );
        // The work on the kept task counts; the withdrawn task keeps its notes.
        assert_eq!(doc.statuses(TaskRef::Assigned(0)), vec![Status::Done]);
        assert!(doc.is_withdrawn(TaskRef::Assigned(1)));
        assert_eq!(
            doc.notes(TaskRef::Assigned(1)),
            vec!["Đã gửi 3 tin.".to_string()]
        );
        assert_eq!(doc.withdrawn_refs(), vec![TaskRef::Assigned(1)]);
        // The new task is the Assign's own.
        let added = doc
            .task_refs()
            .into_iter()
            .find(|t| matches!(t, TaskRef::Added(_)));
        assert!(added.is_some_and(|t| doc.given_task(t) == Some(task("4", Role::Lead))));
        // Made again, it makes nothing.
        let (again, summary) = revision_ops(&doc, &target);
        assert!(again.is_empty(), "{again:?}");
        assert!(summary.is_empty());
        // Given back: reinstated, with its notes; the added task withdrawn.
        let (ops, summary) = revision_ops(&doc, &header().tasks);
        assert_eq!(summary.reinstated, vec!["2".to_string()]);
        assert_eq!(summary.withdrawn, vec!["4".to_string()]);
        apply(&mut doc, &ops);
        assert_eq!(
            tasks_of(&doc),
            vec![
                ("1".into(), Role::Lead),
                ("2".into(), Role::Coordinating),
                ("3".into(), Role::Lead)
            ]
        );
        assert_eq!(
            doc.notes(TaskRef::Assigned(1)),
            vec!["Đã gửi 3 tin.".to_string()]
        );
    }

    #[test]
    fn the_reviewers_diff_names_what_changes() {
        let old = header().tasks;
        let new = vec![
            task("1", Role::Lead),
            task("3", Role::Coordinating),
            task("4", Role::Lead),
        ];
        let d = diff_tasks(&old, &new);
        assert_eq!(d.kept, vec!["1".to_string()]);
        assert_eq!(d.role_changed, vec!["3".to_string()]);
        assert_eq!(d.added, vec!["4".to_string()]);
        assert_eq!(d.withdrawn, vec!["2".to_string()]);
        assert!(diff_tasks(&old, &old).is_empty());
    }

    #[test]
    fn two_revisions_made_at_once_converge_on_one_task_per_clause() {
        let base = UnitDocument::new(header());
        let target = vec![task("1", Role::Lead), task("9", Role::Lead)];
        // Two office replicas each make the revision on the same state.
        let (a, _) = revision_ops(&base, &target);
        let (b, _) = revision_ops(&base, &target);
        let mut doc = base.clone();
        doc.apply_ops(8, 1, &a).unwrap_or_else(|e| panic!("{e}"));
        doc.apply_ops(9, 1, &b).unwrap_or_else(|e| panic!("{e}"));
        // Two tasks for clause 9 now; making the revision again leaves one.
        let nines = doc
            .task_refs()
            .into_iter()
            .filter(|t| doc.directive_task(*t).is_some_and(|h| h.clause == "9"))
            .count();
        assert_eq!(nines, 2);
        let (ops, _) = revision_ops(&doc, &target);
        doc.apply_ops(8, doc.next_id(8).seq, &ops)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            tasks_of(&doc),
            vec![("1".into(), Role::Lead), ("9".into(), Role::Lead)]
        );
        let (again, _) = revision_ops(&doc, &target);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn concurrent_assignments_keep_a_task_assigned_until_both_withdraw_it() {
        let mut doc = UnitDocument::new(header());
        let t = TaskRef::Assigned(2);
        let withdraw = doc.set_op(t, TaskField::Assignment(None));
        let lead = doc.set_op(t, TaskField::Assignment(Some(Role::Coordinating)));
        doc.apply_ops(8, 1, &[withdraw])
            .unwrap_or_else(|e| panic!("{e}"));
        doc.apply_ops(9, 1, &[lead])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc.directive_task(t), Some(task("3", Role::Coordinating)));
        assert!(!doc.is_withdrawn(t));
        // A revision made on both settles the register.
        let (ops, _) = revision_ops(
            &doc,
            &[task("1", Role::Lead), task("2", Role::Coordinating)],
        );
        apply(&mut doc, &ops);
        assert!(doc.is_withdrawn(t));
        assert_eq!(doc.task(t).map(|s| s.assignment.len()), Some(1));
    }

    fn targets() -> impl Strategy<Value = Vec<HeaderTask>> {
        proptest::collection::btree_map(0u8..8, any::<bool>(), 0..8).prop_map(|m| {
            m.into_iter()
                .map(|(c, lead)| {
                    task(
                        &c.to_string(),
                        if lead { Role::Lead } else { Role::Coordinating },
                    )
                })
                .collect()
        })
    }

    proptest! {
        // Recorded failures, if any, are in proptest-regressions/doc/revision.txt.
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever revisions came before, a revision's operations leave exactly its tasks,
        /// the unit's work on every task (kept or withdrawn) is still there, and making it
        /// again makes nothing.
        #[test]
        fn any_sequence_of_revisions_ends_at_the_last_one(revisions in proptest::collection::vec(targets(), 1..6)) {
            let mut doc = UnitDocument::new(header());
            let mut seq = 0u64;
            let mut worked = Vec::new();
            for target in &revisions {
                // The unit records work on every listed task before each revision.
                let work: Vec<Op> = doc
                    .task_refs()
                    .into_iter()
                    .map(|t| doc.set_op(t, TaskField::Progress(10)))
                    .collect();
                worked.extend(doc.task_refs());
                if !work.is_empty() {
                    doc.apply_ops(1, seq + 1, &work).unwrap_or_else(|e| panic!("{e}"));
                    seq += work.len() as u64;
                }
                let (ops, _) = revision_ops(&doc, target);
                apply(&mut doc, &ops);
                let mut want: Vec<(String, Role)> =
                    target.iter().map(|t| (t.clause.clone(), t.role)).collect();
                want.sort();
                prop_assert_eq!(tasks_of(&doc), want);
                let (again, _) = revision_ops(&doc, target);
                prop_assert!(again.is_empty());
            }
            for t in worked {
                prop_assert_eq!(doc.progresses(t), vec![10]);
            }
        }
    }
}
