//! A unit document that can shed its bodies: what a server keeps in memory. While small it
//! is whole (snapshots are made from it); once its owner finds it large it drops comments,
//! evidence, reports and confirmations' details, as held and as they are applied, and keeps
//! what a server needs to check operations, merge them into the registers and project tasks
//! and confirmations, in memory that grows with the tasks, the devices and the
//! confirmations, not with everything typed.
//!
//! Bodies are only ever added and nothing in a document's registers depends on them, so a
//! server can drop them: they stay in the op log and the stored snapshot. A document without
//! its bodies cannot make a snapshot; snapshots then come from the whole document loaded
//! from storage (decision 25).

use super::{
    ActorId, ConfirmationState, DocError, DocHeader, Footprint, Op, OpId, TaskRef, UnitDocument,
    VersionVector, state::Bodies,
};

#[derive(Debug, Clone)]
pub struct BoundedDocument {
    doc: UnitDocument,
    whole: bool,
}

/// Two documents are equal when their registers, confirmation states, versions and (where
/// kept) bodies are.
impl PartialEq for BoundedDocument {
    fn eq(&self, other: &Self) -> bool {
        self.whole == other.whole && self.doc.to_canonical() == other.doc.to_canonical()
    }
}

impl BoundedDocument {
    /// A whole document, bodies kept.
    pub fn new(doc: UnitDocument) -> Self {
        Self { doc, whole: true }
    }

    /// Drop every body, now and as operations are applied from now on.
    pub fn shed_bodies(&mut self) {
        self.doc.drop_bodies();
        self.whole = false;
    }

    /// The whole document, if it still has its bodies.
    pub fn whole(&self) -> Option<&UnitDocument> {
        self.whole.then_some(&self.doc)
    }

    pub fn is_whole(&self) -> bool {
        self.whole
    }

    pub fn header(&self) -> &DocHeader {
        self.doc.header()
    }

    pub fn version(&self) -> &VersionVector {
        self.doc.version()
    }

    /// [`UnitDocument::footprint`]: the whole document's, also once its bodies are shed (their
    /// sizes and count are kept as they are dropped), so it bounds the snapshot the whole
    /// document stored makes.
    pub fn footprint(&self) -> Footprint {
        self.doc.footprint()
    }

    /// [`UnitDocument::check_ops`].
    pub fn check_ops(
        &self,
        have: u64,
        actor: ActorId,
        start: u64,
        ops: &[Op],
    ) -> Result<(), DocError> {
        self.doc.check_ops(have, actor, start, ops)
    }

    /// [`UnitDocument::apply_ops`], dropping the bodies once they are shed.
    pub fn apply_ops(&mut self, actor: ActorId, start: u64, ops: &[Op]) -> Result<usize, DocError> {
        let bodies = if self.whole {
            Bodies::Keep
        } else {
            Bodies::Drop
        };
        self.doc.apply_ops_keeping(actor, start, ops, bodies)
    }

    pub fn tasks_with_state(&self) -> usize {
        self.doc.tasks_with_state()
    }

    pub fn confirmations_with_state(&self) -> usize {
        self.doc.confirmations_with_state()
    }

    pub fn confirmation_states(&self, id: OpId) -> Vec<ConfirmationState> {
        self.doc.confirmation_states(id)
    }

    /// [`UnitDocument::task`].
    pub fn task(&self, t: TaskRef) -> Option<&super::TaskState> {
        self.doc.task(t)
    }

    /// [`UnitDocument::is_listed`].
    pub fn is_listed(&self, t: TaskRef) -> bool {
        self.doc.is_listed(t)
    }

    pub fn titles(&self, t: TaskRef) -> Vec<String> {
        self.doc.titles(t)
    }

    pub fn assignees(&self, t: TaskRef) -> Vec<String> {
        self.doc.assignees(t)
    }

    /// The registers, for the progress rules (crate-only: without bodies it must not be
    /// snapshotted).
    pub(crate) fn registers(&self) -> &UnitDocument {
        &self.doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Confirmation, Day, Report, Status, TaskField, test_header as header};

    #[test]
    fn bodies_are_dropped_and_registers_kept() -> Result<(), DocError> {
        let t = TaskRef::Assigned(0);
        let confirm = Op::Confirm(Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from: Day(18_295),
            attested_by: "Nguyễn Văn An".into(),
            evidence: None,
            at: 1,
        });
        let mut full = UnitDocument::new(header());
        let ops = vec![
            full.set_op(t, TaskField::Status(Status::InProgress)),
            Op::Comment {
                task: t,
                text: "Đã gửi tin nhắn.".into(),
                at: 2,
            },
            Op::Report(Report {
                period: "2020-02-05".into(),
                text: "Báo cáo".into(),
                figures: Vec::new(),
                at: 3,
            }),
            confirm,
        ];
        full.apply_ops(1, 1, &ops)?;
        let withdraw = full.set_confirmation_op(OpId::new(1, 4), ConfirmationState::Withdrawn);
        full.apply_ops(2, 1, std::slice::from_ref(&withdraw))?;

        // Whole: bodies kept, the same document.
        let mut whole = BoundedDocument::new(UnitDocument::new(header()));
        whole.apply_ops(1, 1, &ops)?;
        whole.apply_ops(2, 1, std::slice::from_ref(&withdraw))?;
        assert!(
            whole
                .whole()
                .is_some_and(|d| d.to_canonical() == full.to_canonical())
        );

        let mut lean = BoundedDocument::new(UnitDocument::new(header()));
        lean.shed_bodies();
        assert!(lean.whole().is_none());
        assert_eq!(lean.apply_ops(1, 1, &ops)?, 4);
        assert_eq!(lean.apply_ops(2, 1, std::slice::from_ref(&withdraw))?, 1);
        // Applied again: skipped, as in a whole document.
        assert_eq!(lean.apply_ops(1, 1, &ops)?, 0);

        let mut shed = BoundedDocument::new(full.clone());
        assert!(
            shed.whole()
                .is_some_and(|d| d.to_canonical() == full.to_canonical())
        );
        shed.shed_bodies();
        assert!(lean == shed);
        assert_eq!(lean.version(), full.version());
        assert_eq!(
            lean.confirmation_states(OpId::new(1, 4)),
            vec![ConfirmationState::Withdrawn]
        );
        let kept = lean.registers();
        assert!(kept.reports().is_empty() && kept.confirmations().is_empty());
        assert!(kept.task(t).is_some_and(|s| s.comments.is_empty()));
        assert_eq!(kept.statuses(t), vec![Status::InProgress]);
        // The whole document still has them.
        assert_eq!(full.reports().len(), 1);
        assert_eq!(full.confirmations().len(), 1);
        Ok(())
    }

    #[test]
    fn a_lean_document_refuses_what_a_whole_one_refuses() {
        let mut lean = BoundedDocument::new(UnitDocument::new(header()));
        lean.shed_bodies();
        let op = Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Progress(50),
            ctx: Vec::new(),
        };
        assert!(matches!(
            lean.apply_ops(1, 3, std::slice::from_ref(&op)),
            Err(DocError::Gap { .. })
        ));
        let unknown = Op::Set {
            task: TaskRef::Assigned(7),
            value: TaskField::Progress(50),
            ctx: Vec::new(),
        };
        assert!(lean.apply_ops(1, 1, &[unknown]).is_err());
        assert_eq!(lean.version().get(&1), 0);
    }
}
