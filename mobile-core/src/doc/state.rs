//! A unit document: one CRDT per (directive, unit) holding that unit's tasks, hotline-free
//! confirmations and status reports.
//!
//! Every field is a multi-value [`Register`] (`crdts::MVReg`'s rules over `crdts::VClock`):
//! concurrent writes are all kept (a conflict the API reports) until a write that has seen
//! them replaces them. Collections only grow: tasks,
//! comments, evidence, confirmations and reports are keyed by the operation that made them
//! and never erased (an ad-hoc task is hidden by its `removed` register), so no remove
//! operation exists and none of `crdts`' remove pitfalls apply.

use std::collections::{BTreeMap, BTreeSet, btree_map::Entry};

use crdts::{CmRDT, CvRDT, VClock};
use serde::{Deserialize, Serialize};

pub use super::register::CanonicalReg;
use super::{
    error::DocError,
    footprint::{FIXED, Footprint, MAX_LEN, Sizes, VV_ENTRY, encoded},
    ids::{ActorId, DocHeader, HeaderTask, OpId, TaskRef, VersionVector},
    ops::{
        Confirmation, ConfirmationState, Context, Day, Evidence, FieldKind, Op, Report, Review,
        Status, TaskField, Urge,
    },
    register::Register,
    verification::Verification,
};

/// One task's registers and logs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskState {
    /// Set by the `AddTask` that made an ad-hoc task.
    pub parent: Option<TaskRef>,
    pub created: bool,
    pub status: Register<Status>,
    pub progress: Register<u8>,
    pub assignee: Register<String>,
    pub due: Register<Option<Day>>,
    pub notes: Register<String>,
    pub title: Register<String>,
    pub removed: Register<bool>,
    /// The Ministry Office's deadline (decision 39).
    pub deadline: Register<Option<Day>>,
    /// The Ministry Office's review (decision 39).
    pub review: Register<Review>,
    /// A revision's role for the task, or its withdrawal (`None`) (decision 44).
    pub assignment: Register<Option<crate::directive::Role>>,
    /// Set by the `Assign` that gave the unit a task after publishing (`TaskRef::Added`).
    pub assigned: Option<HeaderTask>,
    pub comments: BTreeMap<OpId, (String, i64)>,
    pub evidence: BTreeMap<OpId, Evidence>,
    /// The Ministry Office's urges; a document that shed its bodies keeps each urge's time
    /// and deadline (progress counts them) without its message.
    pub urges: BTreeMap<OpId, Urge>,
}

impl TaskState {
    /// The clock of every value of the unit's fields: what a review made now covers.
    pub fn unit_clock(&self) -> VersionVector {
        let mut clock = VersionVector::new();
        for c in [
            self.status.clock(),
            self.progress.clock(),
            self.assignee.clock(),
            self.due.clock(),
            self.notes.clock(),
            self.title.clock(),
            self.removed.clock(),
        ] {
            clock.merge(c);
        }
        clock
    }

    /// Whether every value of the unit's fields is within `seen`: nothing was written to
    /// them that a review over `seen` did not see.
    pub fn unit_fields_within(&self, seen: &VersionVector) -> bool {
        self.status.within(seen)
            && self.progress.within(seen)
            && self.assignee.within(seen)
            && self.due.within(seen)
            && self.notes.within(seen)
            && self.title.within(seen)
            && self.removed.within(seen)
    }
}

/// A confirmation: its details and its state register.
#[derive(Debug, Clone)]
struct ConfirmationEntry {
    /// `None` until the `Confirm` operation arrives (a state change may come first), and
    /// once the document has shed its bodies.
    info: Option<Box<Confirmation>>,
    /// `None` stands for the register its `Confirm` made — `Confirmed`, written with the
    /// confirmation's own dot — which nearly every confirmation keeps: a held register and its
    /// clock take some 300 bytes, and a document can gather hundreds of thousands of
    /// confirmations (decision 26). Held once a state change arrives.
    state: Option<Register<ConfirmationState>>,
}

impl ConfirmationEntry {
    /// The register a `Confirm` with id `id` makes.
    fn as_made(id: OpId) -> Register<ConfirmationState> {
        let mut r = Register::default();
        put(&mut r, id, &Vec::new(), ConfirmationState::Confirmed);
        r
    }

    /// Whether a snapshot's register of confirmation `id` is the one its `Confirm` made.
    fn is_as_made(id: OpId, reg: &CanonicalReg<ConfirmationState>) -> bool {
        match reg.as_slice() {
            [(clock, ConfirmationState::Confirmed)] => {
                id.seq > 0 && clock.len() == 1 && clock.get(&id.actor) == Some(&id.seq)
            }
            _ => false,
        }
    }

    /// An entry for a state change that arrived before its confirmation.
    fn changed_first() -> Self {
        Self {
            info: None,
            state: Some(Register::default()),
        }
    }

    fn register_mut(&mut self, id: OpId) -> &mut Register<ConfirmationState> {
        self.state.get_or_insert_with(|| Self::as_made(id))
    }

    /// The bytes its state register takes in a snapshot (the implied one as the register
    /// its `Confirm` made).
    fn register_bytes(&self, id: OpId) -> usize {
        match &self.state {
            None => encoded(&Self::as_made(id)),
            Some(r) => encoded(r),
        }
    }

    /// The bytes it takes in a snapshot, with its key: the details as held.
    fn bytes(&self, id: OpId) -> usize {
        encoded(&id) + encoded(&self.info) + self.register_bytes(id)
    }

    fn values(&self) -> Vec<ConfirmationState> {
        match &self.state {
            None => vec![ConfirmationState::Confirmed],
            Some(r) => r.values(),
        }
    }

    fn clock(&self, id: OpId) -> Context {
        match &self.state {
            None => clock_of(&Self::as_made(id)),
            Some(r) => clock_of(r),
        }
    }

    fn canonical(&self, id: OpId) -> CanonicalReg<ConfirmationState> {
        match &self.state {
            None => Self::as_made(id).canonical(),
            Some(r) => r.canonical(),
        }
    }

    /// Merge another replica's entry for confirmation `id`; two implied registers stay
    /// implied.
    fn merge(&mut self, id: OpId, other: Self) {
        if other.info.is_some() {
            self.info = other.info;
        }
        if self.state.is_some() || other.state.is_some() {
            let theirs = other.state.unwrap_or_else(|| Self::as_made(id));
            self.register_mut(id).merge(theirs);
        }
    }
}

fn clock_of<V: Clone + Ord>(r: &Register<V>) -> Context {
    r.clock().dots.into_iter().collect()
}

fn put<V: Clone + Ord>(r: &mut Register<V>, id: OpId, ctx: &Context, val: V) {
    let mut clock: VClock<ActorId> = VClock::new();
    for &(a, c) in ctx {
        clock.apply(crdts::Dot::new(a, c));
    }
    clock.apply(id.dot());
    r.apply(clock, val);
}

/// [`put`], keeping `sizes` up to date with the register's encoded size.
fn put_counted<V: Clone + Ord + Serialize>(
    sizes: &mut Sizes,
    r: &mut Register<V>,
    id: OpId,
    ctx: &Context,
    val: V,
) {
    let before = encoded(r);
    put(r, id, ctx, val);
    sizes.replace(before, encoded(r));
}

/// The bytes a comment takes in a snapshot, with its key.
fn comment_bytes(id: OpId, text: &str, at: i64) -> usize {
    encoded(&id) + encoded(text) + encoded(&at)
}

/// The bytes a piece of evidence takes in a snapshot, with its key.
fn evidence_bytes(id: OpId, e: &Evidence) -> usize {
    encoded(&id) + encoded(e)
}

/// The bytes a report takes in a snapshot, with its key.
fn report_bytes(id: OpId, r: &Report) -> usize {
    encoded(&id) + encoded(r)
}

/// The bytes a task takes in a snapshot, with its key: its parent, flag and registers, its
/// comments and evidence as held, and the two maps' lengths at their largest.
fn task_bytes(r: &TaskRef, t: &TaskState) -> usize {
    let registers = encoded(&t.status)
        + encoded(&t.progress)
        + encoded(&t.assignee)
        + encoded(&t.due)
        + encoded(&t.notes)
        + encoded(&t.title)
        + encoded(&t.removed)
        + encoded(&t.deadline)
        + encoded(&t.review)
        + encoded(&t.assignment);
    let urges: usize = t.urges.iter().map(|(id, u)| urge_bytes(*id, u)).sum();
    let comments: usize = t
        .comments
        .iter()
        .map(|(id, (text, at))| comment_bytes(*id, text, *at))
        .sum();
    let evidence: usize = t
        .evidence
        .iter()
        .map(|(id, e)| evidence_bytes(*id, e))
        .sum();
    encoded(r)
        + encoded(&t.parent)
        + encoded(&t.created)
        + encoded(&t.assigned)
        + registers
        + 3 * MAX_LEN
        + comments
        + evidence
        + urges
}

/// The bytes an urge takes in a snapshot, with its key.
fn urge_bytes(id: OpId, u: &Urge) -> usize {
    encoded(&id) + encoded(u)
}

/// A task's entry, made (and counted) if the document has none yet.
fn task_entry<'t>(
    tasks: &'t mut BTreeMap<TaskRef, TaskState>,
    sizes: &mut Sizes,
    r: TaskRef,
) -> &'t mut TaskState {
    match tasks.entry(r) {
        Entry::Occupied(o) => o.into_mut(),
        Entry::Vacant(v) => {
            let t = v.insert(TaskState::default());
            sizes.add(task_bytes(&r, t));
            t
        }
    }
}

/// Whether applying an operation keeps its body (a comment's text, evidence, a report, a
/// confirmation's details) or only what registers and projections need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bodies {
    Keep,
    Drop,
}

/// A conflict: a field with several concurrent values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub task: TaskRef,
    pub field: FieldKind,
    pub values: Vec<TaskField>,
}

#[derive(Debug, Clone)]
pub struct UnitDocument {
    header: DocHeader,
    vv: VersionVector,
    tasks: BTreeMap<TaskRef, TaskState>,
    confirmations: BTreeMap<OpId, ConfirmationEntry>,
    reports: BTreeMap<OpId, Report>,
    /// Call-record verifications (issue 23), kept like reports.
    verifications: BTreeMap<OpId, Verification>,
    /// The footprint's parts kept up to date ([`UnitDocument::footprint`]); bodies shed are
    /// still counted.
    sizes: Sizes,
}

impl UnitDocument {
    pub fn new(header: DocHeader) -> Self {
        let sizes = Sizes {
            bytes: encoded(&header),
            bodies: 0,
        };
        Self {
            header,
            vv: VersionVector::new(),
            tasks: BTreeMap::new(),
            confirmations: BTreeMap::new(),
            reports: BTreeMap::new(),
            verifications: BTreeMap::new(),
            sizes,
        }
    }

    /// How large the document is: an upper bound of its encoded snapshot
    /// (`sync::wire::encode_snapshot`) and of a snapshot answer carrying it, and the items it
    /// holds (ad-hoc tasks, comments, evidence, confirmations, reports). Kept up to
    /// date as operations are applied, so it costs nothing to read; a document that shed its
    /// bodies counts them as they were (see `doc/footprint.rs`).
    pub fn footprint(&self) -> Footprint {
        let vv = MAX_LEN.saturating_add(self.vv.dots.len().saturating_mul(VV_ENTRY));
        Footprint {
            bytes: FIXED
                .saturating_add(vv.saturating_mul(2))
                .saturating_add(self.sizes.bytes),
            // The directive's own tasks are not counted: there are as many as the header
            // gives at most, and a unit must always be able to move them on, full or not.
            items: self
                .tasks
                .len()
                .saturating_sub(
                    self.tasks
                        .keys()
                        .take_while(|t| matches!(t, TaskRef::Assigned(_)))
                        .count(),
                )
                .saturating_add(self.confirmations.len())
                .saturating_add(self.sizes.bodies),
        }
    }

    /// The footprint's parts counted from what the document holds (all of it: not for a
    /// document that shed its bodies).
    fn measure(&self) -> Sizes {
        let mut s = Sizes {
            bytes: encoded(&self.header),
            bodies: 0,
        };
        for (r, t) in &self.tasks {
            s.add(task_bytes(r, t));
            s.bodies += t.comments.len() + t.evidence.len() + t.urges.len();
        }
        for (id, c) in &self.confirmations {
            s.add(c.bytes(*id));
        }
        for (id, r) in &self.reports {
            s.add_body(report_bytes(*id, r));
        }
        for (id, v) in &self.verifications {
            s.add_body(encoded(id) + encoded(v));
        }
        s
    }

    pub fn header(&self) -> &DocHeader {
        &self.header
    }

    pub fn version(&self) -> &VersionVector {
        &self.vv
    }

    /// The id the next operation of `actor` gets.
    pub fn next_id(&self, actor: ActorId) -> OpId {
        OpId::new(actor, self.vv.get(&actor) + 1)
    }

    /// Apply operations `start, start+1, …` of `actor`. Those already applied are skipped
    /// (idempotent); a start beyond the next expected one is a gap, refused whole. Every
    /// operation is checked before any is applied: a bad change leaves the document as it was.
    pub fn apply_ops(&mut self, actor: ActorId, start: u64, ops: &[Op]) -> Result<usize, DocError> {
        self.apply_ops_keeping(actor, start, ops, Bodies::Keep)
    }

    /// [`UnitDocument::apply_ops`], keeping or dropping the operations' bodies.
    pub(super) fn apply_ops_keeping(
        &mut self,
        actor: ActorId,
        start: u64,
        ops: &[Op],
        bodies: Bodies,
    ) -> Result<usize, DocError> {
        let have = self.vv.get(&actor);
        self.check_ops(have, actor, start, ops)?;
        let mut applied = 0;
        for (i, op) in ops.iter().enumerate() {
            let id = OpId::new(actor, start + i as u64);
            if id.seq <= have {
                continue;
            }
            self.apply_unchecked(id, op, bodies);
            self.vv.apply(id.dot());
            applied += 1;
        }
        Ok(applied)
    }

    /// Whether `apply_ops(actor, start, ops)` would succeed once `actor`'s operations up to
    /// `have` are applied: sequence numbers from 1, no gap, every operation well-formed. Lets
    /// a caller check several changes before applying any, without copying the document.
    pub fn check_ops(
        &self,
        have: u64,
        actor: ActorId,
        start: u64,
        ops: &[Op],
    ) -> Result<(), DocError> {
        if start == 0 {
            return Err(DocError::Invalid("sequence numbers start at 1"));
        }
        if start > have + 1 {
            return Err(DocError::Gap {
                actor,
                have,
                from: start,
            });
        }
        let assigned = self.header.tasks.len();
        for (i, op) in ops.iter().enumerate() {
            op.validate(OpId::new(actor, start + i as u64), assigned)?;
        }
        Ok(())
    }

    fn task_mut(&mut self, t: TaskRef) -> &mut TaskState {
        task_entry(&mut self.tasks, &mut self.sizes, t)
    }

    fn apply_unchecked(&mut self, id: OpId, op: &Op, bodies: Bodies) {
        let keep = bodies == Bodies::Keep;
        let sizes = &mut self.sizes;
        match op {
            Op::Set { task, value, ctx } => {
                let t = task_entry(&mut self.tasks, sizes, *task);
                match value.clone() {
                    TaskField::Status(v) => put_counted(sizes, &mut t.status, id, ctx, v),
                    TaskField::Progress(v) => put_counted(sizes, &mut t.progress, id, ctx, v),
                    TaskField::Assignee(v) => put_counted(sizes, &mut t.assignee, id, ctx, v),
                    TaskField::Due(v) => put_counted(sizes, &mut t.due, id, ctx, v),
                    TaskField::Notes(v) => put_counted(sizes, &mut t.notes, id, ctx, v),
                    TaskField::Title(v) => put_counted(sizes, &mut t.title, id, ctx, v),
                    TaskField::Removed(v) => put_counted(sizes, &mut t.removed, id, ctx, v),
                    TaskField::Deadline(v) => put_counted(sizes, &mut t.deadline, id, ctx, v),
                    TaskField::Review(v) => put_counted(sizes, &mut t.review, id, ctx, v),
                    TaskField::Assignment(v) => put_counted(sizes, &mut t.assignment, id, ctx, v),
                }
            }
            Op::Assign(h) => {
                let t = task_entry(&mut self.tasks, sizes, TaskRef::Added(id));
                t.created = true;
                let before = encoded(&t.assigned);
                t.assigned = Some(h.clone());
                sizes.replace(before, encoded(&t.assigned));
            }
            Op::Urge { task, urge } => {
                let t = task_entry(&mut self.tasks, sizes, *task);
                sizes.add_body(urge_bytes(id, urge));
                let kept = if keep {
                    urge.clone()
                } else {
                    Urge {
                        message: String::new(),
                        ..urge.clone()
                    }
                };
                t.urges.insert(id, kept);
            }
            Op::AddTask { parent, title } => {
                let t = task_entry(&mut self.tasks, sizes, TaskRef::Adhoc(id));
                t.created = true;
                let before = encoded(&t.parent);
                t.parent = *parent;
                sizes.replace(before, encoded(&t.parent));
                put_counted(sizes, &mut t.title, id, &Vec::new(), title.clone());
            }
            Op::Comment { task, text, at } => {
                let t = task_entry(&mut self.tasks, sizes, *task);
                sizes.add_body(comment_bytes(id, text, *at));
                if keep {
                    t.comments.insert(id, (text.clone(), *at));
                }
            }
            Op::AddEvidence { task, evidence } => {
                let t = task_entry(&mut self.tasks, sizes, *task);
                sizes.add_body(evidence_bytes(id, evidence));
                if keep {
                    t.evidence.insert(id, evidence.clone());
                }
            }
            Op::Confirm(c) => {
                let info = keep.then(|| Box::new(c.clone()));
                // Its details are counted whether held or shed.
                sizes.add(encoded(c));
                match self.confirmations.entry(id) {
                    Entry::Vacant(v) => {
                        let e = v.insert(ConfirmationEntry {
                            info: None,
                            state: None,
                        });
                        sizes.add(e.bytes(id));
                        e.info = info;
                    }
                    // A state change came first: write into the register it holds.
                    Entry::Occupied(mut o) => {
                        let e = o.get_mut();
                        e.info = info;
                        let before = e.register_bytes(id);
                        put(
                            e.register_mut(id),
                            id,
                            &Vec::new(),
                            ConfirmationState::Confirmed,
                        );
                        sizes.replace(before, e.register_bytes(id));
                    }
                }
            }
            Op::SetConfirmation {
                id: target,
                state,
                ctx,
            } => {
                let e = match self.confirmations.entry(*target) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        let e = v.insert(ConfirmationEntry::changed_first());
                        sizes.add(e.bytes(*target));
                        e
                    }
                };
                let before = e.register_bytes(*target);
                put(e.register_mut(*target), id, ctx, *state);
                sizes.replace(before, e.register_bytes(*target));
            }
            Op::Report(r) => {
                sizes.add_body(report_bytes(id, r));
                if keep {
                    self.reports.insert(id, r.clone());
                }
            }
            Op::Verify(v) => {
                sizes.add_body(encoded(&id) + encoded(v.as_ref()));
                if keep {
                    self.verifications.insert(id, v.as_ref().clone());
                }
            }
        }
    }

    /// Drop every body: comments, evidence, reports, confirmations' details. The footprint
    /// keeps counting them.
    pub(super) fn drop_bodies(&mut self) {
        for t in self.tasks.values_mut() {
            t.comments = BTreeMap::new();
            t.evidence = BTreeMap::new();
            for u in t.urges.values_mut() {
                u.message = String::new();
            }
        }
        for c in self.confirmations.values_mut() {
            c.info = None;
        }
        self.reports = BTreeMap::new();
        self.verifications = BTreeMap::new();
    }

    /// How many confirmations hold state (made, or changed before they arrived).
    pub fn confirmations_with_state(&self) -> usize {
        self.confirmations.len()
    }

    /// The state(s) of one confirmation; empty if it is unknown.
    pub fn confirmation_states(&self, id: OpId) -> Vec<ConfirmationState> {
        self.confirmations
            .get(&id)
            .map(ConfirmationEntry::values)
            .unwrap_or_default()
    }

    // ---- building local operations -------------------------------------------------

    /// The operation that sets a task field, replacing every value now in it (which resolves
    /// a conflict).
    pub fn set_op(&self, task: TaskRef, value: TaskField) -> Op {
        let ctx = self
            .tasks
            .get(&task)
            .map_or_else(Vec::new, |t| match value.kind() {
                FieldKind::Status => clock_of(&t.status),
                FieldKind::Progress => clock_of(&t.progress),
                FieldKind::Assignee => clock_of(&t.assignee),
                FieldKind::Due => clock_of(&t.due),
                FieldKind::Notes => clock_of(&t.notes),
                FieldKind::Title => clock_of(&t.title),
                FieldKind::Removed => clock_of(&t.removed),
                FieldKind::Deadline => clock_of(&t.deadline),
                FieldKind::Review => clock_of(&t.review),
                FieldKind::Assignment => clock_of(&t.assignment),
            });
        Op::Set { task, value, ctx }
    }

    pub fn set_confirmation_op(&self, id: OpId, state: ConfirmationState) -> Op {
        let ctx = self
            .confirmations
            .get(&id)
            .map_or_else(Vec::new, |c| c.clock(id));
        Op::SetConfirmation { id, state, ctx }
    }

    // ---- reading ---------------------------------------------------------------------

    /// How many tasks hold state: the directive's tasks edited so far and every ad-hoc task.
    pub fn tasks_with_state(&self) -> usize {
        self.tasks.len()
    }

    pub fn task(&self, t: TaskRef) -> Option<&TaskState> {
        self.tasks.get(&t)
    }

    /// Every task: the directive's (the header's, then those revisions added, in the order
    /// of their `Assign`), then the ad-hoc ones; not those withdrawn or removed.
    pub fn task_refs(&self) -> Vec<TaskRef> {
        let assigned = (0..self.header.tasks.len())
            .filter_map(|i| u32::try_from(i).ok())
            .map(TaskRef::Assigned)
            .filter(|r| self.is_listed(*r));
        let added = self
            .tasks
            .keys()
            .filter(|r| matches!(r, TaskRef::Added(_)) && self.is_listed(**r));
        let adhoc = self
            .tasks
            .keys()
            .filter(|r| matches!(r, TaskRef::Adhoc(_)) && self.is_listed(**r));
        assigned
            .chain(added.copied())
            .chain(adhoc.copied())
            .collect()
    }

    /// The directive's tasks a revision withdrew (decision 44): their work is kept and shown,
    /// and they leave the counts; header order, then the added ones.
    pub fn withdrawn_refs(&self) -> Vec<TaskRef> {
        let assigned = (0..self.header.tasks.len())
            .filter_map(|i| u32::try_from(i).ok())
            .map(TaskRef::Assigned);
        let added = self
            .tasks
            .keys()
            .filter(|r| matches!(r, TaskRef::Added(_)))
            .copied();
        assigned
            .chain(added)
            .filter(|r| self.is_withdrawn(*r))
            .collect()
    }

    /// Whether `t` is one of [`UnitDocument::task_refs`]: a task the directive gives (in the
    /// header, or by a revision whose `Assign` is held) that no revision withdrew, or an
    /// ad-hoc task that was made (its `AddTask` is held) and is not removed. Operations may
    /// name a task before the operation that makes it arrives, or after it was removed or
    /// withdrawn: they are kept, and count again if it is listed again.
    pub fn is_listed(&self, t: TaskRef) -> bool {
        match t {
            TaskRef::Assigned(_) | TaskRef::Added(_) => self.directive_task(t).is_some(),
            TaskRef::Adhoc(_) => self
                .tasks
                .get(&t)
                .is_some_and(|s| s.created && !s.removed.values().contains(&true)),
        }
    }

    /// The clause and role of a directive task as the latest revision has it (decision 44):
    /// the header's (or the `Assign`'s) role unless a revision's assignment register says
    /// otherwise. Under concurrent revisions a task stays assigned while any of them assigns
    /// it (the leading role first), and is withdrawn only when every one withdraws it. `None`
    /// for ad-hoc tasks, tasks not (yet) made, and withdrawn ones.
    pub fn directive_task(&self, t: TaskRef) -> Option<HeaderTask> {
        let given = self.given_task(t)?;
        let values = self
            .tasks
            .get(&t)
            .map(|s| s.assignment.values())
            .unwrap_or_default();
        if values.is_empty() {
            return Some(given);
        }
        values.into_iter().flatten().min().map(|role| HeaderTask {
            clause: given.clause,
            role,
        })
    }

    /// The clause and role a directive task was given with (the header's, or its `Assign`'s),
    /// withdrawn or not; `None` for ad-hoc tasks and tasks not (yet) made.
    pub fn given_task(&self, t: TaskRef) -> Option<HeaderTask> {
        match t {
            TaskRef::Assigned(i) => self.header.tasks.get(i as usize).cloned(),
            TaskRef::Added(_) => self.tasks.get(&t).and_then(|s| s.assigned.clone()),
            TaskRef::Adhoc(_) => None,
        }
    }

    /// Whether a revision withdrew this directive task (it exists, and every value of its
    /// assignment register withdraws it).
    pub fn is_withdrawn(&self, t: TaskRef) -> bool {
        self.given_task(t).is_some() && self.directive_task(t).is_none()
    }

    pub fn statuses(&self, t: TaskRef) -> Vec<Status> {
        self.tasks
            .get(&t)
            .map(|s| s.status.values())
            .unwrap_or_default()
    }
    pub fn progresses(&self, t: TaskRef) -> Vec<u8> {
        self.tasks
            .get(&t)
            .map(|s| s.progress.values())
            .unwrap_or_default()
    }
    pub fn assignees(&self, t: TaskRef) -> Vec<String> {
        self.tasks
            .get(&t)
            .map(|s| s.assignee.values())
            .unwrap_or_default()
    }
    pub fn dues(&self, t: TaskRef) -> Vec<Option<Day>> {
        self.tasks
            .get(&t)
            .map(|s| s.due.values())
            .unwrap_or_default()
    }
    pub fn notes(&self, t: TaskRef) -> Vec<String> {
        self.tasks
            .get(&t)
            .map(|s| s.notes.values())
            .unwrap_or_default()
    }
    pub fn titles(&self, t: TaskRef) -> Vec<String> {
        self.tasks
            .get(&t)
            .map(|s| s.title.values())
            .unwrap_or_default()
    }

    /// Whether any of the unit's fields of this task holds more than one value. The Ministry
    /// Office's registers are not the unit's to resolve: concurrent deadlines give the
    /// strictest, concurrent reviews that disagree a `ReviewState::Conflict` (decision 39).
    pub fn task_conflicted(&self, t: TaskRef) -> bool {
        self.tasks.get(&t).is_some_and(|s| {
            s.status.len() > 1
                || s.progress.len() > 1
                || s.assignee.len() > 1
                || s.due.len() > 1
                || s.notes.len() > 1
                || s.title.len() > 1
                || s.removed.len() > 1
        })
    }

    /// How many fields hold more than one value: `conflicts().len()` without building them.
    pub fn conflict_count(&self) -> usize {
        self.tasks
            .values()
            .map(|t| {
                [
                    t.status.conflicted(),
                    t.progress.conflicted(),
                    t.assignee.conflicted(),
                    t.due.conflicted(),
                    t.notes.conflicted(),
                    t.title.conflicted(),
                    t.removed.conflicted(),
                ]
                .into_iter()
                .filter(|&c| c)
                .count()
            })
            .sum()
    }

    /// The unit's fields holding more than one value, task by task (not the Ministry
    /// Office's: see [`UnitDocument::task_conflicted`]).
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        for (r, t) in &self.tasks {
            let mut check = |field: FieldKind, vals: Vec<TaskField>| {
                if vals.len() > 1 {
                    out.push(Conflict {
                        task: *r,
                        field,
                        values: vals,
                    });
                }
            };
            check(
                FieldKind::Status,
                t.status
                    .values()
                    .into_iter()
                    .map(TaskField::Status)
                    .collect(),
            );
            check(
                FieldKind::Progress,
                t.progress
                    .values()
                    .into_iter()
                    .map(TaskField::Progress)
                    .collect(),
            );
            check(
                FieldKind::Assignee,
                t.assignee
                    .values()
                    .into_iter()
                    .map(TaskField::Assignee)
                    .collect(),
            );
            check(
                FieldKind::Due,
                t.due.values().into_iter().map(TaskField::Due).collect(),
            );
            check(
                FieldKind::Notes,
                t.notes.values().into_iter().map(TaskField::Notes).collect(),
            );
            check(
                FieldKind::Title,
                t.title.values().into_iter().map(TaskField::Title).collect(),
            );
            check(
                FieldKind::Removed,
                t.removed
                    .values()
                    .into_iter()
                    .map(TaskField::Removed)
                    .collect(),
            );
        }
        out
    }

    /// Confirmations with their current state(s), in the order they were made per device.
    pub fn confirmations(&self) -> Vec<(OpId, &Confirmation, Vec<ConfirmationState>)> {
        self.confirmations
            .iter()
            .filter_map(|(id, e)| e.info.as_deref().map(|c| (*id, c, e.values())))
            .collect()
    }

    /// Reports, oldest first by their time, then by id.
    pub fn reports(&self) -> Vec<(OpId, &Report)> {
        let mut r: Vec<_> = self.reports.iter().map(|(id, r)| (*id, r)).collect();
        r.sort_by_key(|(id, r)| (r.at, *id));
        r
    }

    /// Call-record verifications, oldest first by their time, then by id.
    pub fn verifications(&self) -> Vec<(OpId, &Verification)> {
        let mut v: Vec<_> = self.verifications.iter().map(|(id, v)| (*id, v)).collect();
        v.sort_by_key(|(id, v)| (v.at, *id));
        v
    }

    /// Whether a verification this document holds contradicts confirmation `c`.
    pub fn is_contradicted(&self, c: &Confirmation) -> bool {
        self.verifications
            .values()
            .any(|v| super::verification::contradicts(v, c))
    }

    // ---- snapshots ---------------------------------------------------------------------

    /// Merge another replica's state (a snapshot) into this one; its footprint is counted
    /// again from what it then holds.
    pub fn merge(&mut self, other: UnitDocument) -> Result<(), DocError> {
        if other.header != self.header {
            return Err(DocError::Mismatch("the snapshot is of another document"));
        }
        for (r, t) in other.tasks {
            let mine = self.task_mut(r);
            mine.created |= t.created;
            if t.parent.is_some() {
                mine.parent = t.parent;
            }
            mine.status.merge(t.status);
            mine.progress.merge(t.progress);
            mine.assignee.merge(t.assignee);
            mine.due.merge(t.due);
            mine.notes.merge(t.notes);
            mine.title.merge(t.title);
            mine.removed.merge(t.removed);
            mine.deadline.merge(t.deadline);
            mine.review.merge(t.review);
            mine.assignment.merge(t.assignment);
            if t.assigned.is_some() {
                mine.assigned = t.assigned;
            }
            mine.comments.extend(t.comments);
            mine.evidence.extend(t.evidence);
            mine.urges.extend(t.urges);
        }
        for (id, c) in other.confirmations {
            match self.confirmations.entry(id) {
                Entry::Vacant(v) => {
                    v.insert(c);
                }
                Entry::Occupied(mut o) => o.get_mut().merge(id, c),
            }
        }
        self.reports.extend(other.reports);
        self.verifications.extend(other.verifications);
        self.vv.merge(other.vv);
        self.sizes = self.measure();
        Ok(())
    }

    /// The canonical form of the state: registers' values sorted, so that two replicas that
    /// have seen the same operations encode to the same bytes.
    pub fn to_canonical(&self) -> CanonicalDoc {
        let tasks = self
            .tasks
            .iter()
            .map(|(r, t)| {
                (
                    *r,
                    CanonicalTask {
                        parent: t.parent,
                        created: t.created,
                        status: t.status.canonical(),
                        progress: t.progress.canonical(),
                        assignee: t.assignee.canonical(),
                        due: t.due.canonical(),
                        notes: t.notes.canonical(),
                        title: t.title.canonical(),
                        removed: t.removed.canonical(),
                        comments: t.comments.clone(),
                        evidence: t.evidence.clone(),
                        deadline: t.deadline.canonical(),
                        review: t.review.canonical(),
                        urges: t.urges.clone(),
                        assignment: t.assignment.canonical(),
                        assigned: t.assigned.clone(),
                    },
                )
            })
            .collect();
        let confirmations = self
            .confirmations
            .iter()
            .map(|(id, c)| (*id, (c.info.as_deref().cloned(), c.canonical(*id))))
            .collect();
        CanonicalDoc {
            header: self.header.clone(),
            vv: self.vv.dots.clone(),
            tasks,
            confirmations,
            reports: self.reports.clone(),
            verifications: self.verifications.clone(),
        }
    }

    pub fn from_canonical(c: CanonicalDoc) -> Result<Self, DocError> {
        let mut tasks = BTreeMap::new();
        for (r, t) in c.tasks {
            tasks.insert(
                r,
                TaskState {
                    parent: t.parent,
                    created: t.created,
                    status: Register::from_canonical(t.status),
                    progress: Register::from_canonical(t.progress),
                    assignee: Register::from_canonical(t.assignee),
                    due: Register::from_canonical(t.due),
                    notes: Register::from_canonical(t.notes),
                    title: Register::from_canonical(t.title),
                    removed: Register::from_canonical(t.removed),
                    deadline: Register::from_canonical(t.deadline),
                    review: Register::from_canonical(t.review),
                    assignment: Register::from_canonical(t.assignment),
                    assigned: t.assigned,
                    comments: t.comments,
                    evidence: t.evidence,
                    urges: t.urges,
                },
            );
        }
        let mut confirmations = BTreeMap::new();
        for (id, (info, state)) in c.confirmations {
            confirmations.insert(
                id,
                ConfirmationEntry {
                    info: info.map(Box::new),
                    state: (!ConfirmationEntry::is_as_made(id, &state))
                        .then(|| Register::from_canonical(state)),
                },
            );
        }
        let mut doc = Self {
            header: c.header,
            vv: VClock { dots: c.vv },
            tasks,
            confirmations,
            reports: c.reports,
            verifications: c.verifications,
            sizes: Sizes::default(),
        };
        doc.sizes = doc.measure();
        Ok(doc)
    }
}

/// What a document's footprint becomes once new operations are applied, worked out without
/// changing the document or copying it: the parts the operations touch (a task's register,
/// a confirmation's state) are copied, without their bodies, into a scratch document, the
/// operations applied to it with the same accounting as [`UnitDocument::apply_ops`], and
/// the copied parts' sizes replaced by what they became. Exact: the footprint after applying
/// the operations is the one the trial gives.
pub(super) struct Trial<'a> {
    doc: &'a UnitDocument,
    scratch: UnitDocument,
    /// The bytes of the parts copied into the scratch document.
    copied: usize,
    copied_tasks: usize,
    /// The registers copied, of the tasks copied.
    copied_fields: BTreeSet<(TaskRef, FieldKind)>,
    copied_confirmations: usize,
    /// Actors the document's version does not name yet.
    new_actors: BTreeSet<ActorId>,
}

impl<'a> Trial<'a> {
    pub(super) fn new(doc: &'a UnitDocument) -> Self {
        let header = DocHeader {
            directive: String::new(),
            unit: String::new(),
            tasks: Vec::new(),
        };
        Self {
            doc,
            scratch: UnitDocument {
                header,
                vv: VersionVector::new(),
                tasks: BTreeMap::new(),
                confirmations: BTreeMap::new(),
                reports: BTreeMap::new(),
                verifications: BTreeMap::new(),
                sizes: Sizes::default(),
            },
            copied: 0,
            copied_tasks: 0,
            copied_fields: BTreeSet::new(),
            copied_confirmations: 0,
            new_actors: BTreeSet::new(),
        }
    }

    /// Apply operation `id`, which the document does not hold (the caller skips those it
    /// holds), after the ones given before.
    pub(super) fn apply(&mut self, id: OpId, op: &Op) {
        if !self.doc.vv.dots.contains_key(&id.actor) {
            self.new_actors.insert(id.actor);
        }
        match op {
            Op::Set { task, value, .. } => self.copy_task(*task, Some(value.kind())),
            Op::Comment { task, .. } | Op::AddEvidence { task, .. } | Op::Urge { task, .. } => {
                self.copy_task(*task, None)
            }
            Op::AddTask { .. } => self.copy_task(TaskRef::Adhoc(id), Some(FieldKind::Title)),
            Op::Assign(_) => self.copy_task(TaskRef::Added(id), None),
            Op::Confirm(_) => self.copy_confirmation(id),
            Op::SetConfirmation { id: target, .. } => self.copy_confirmation(*target),
            Op::Report(_) | Op::Verify(_) => {}
        }
        self.scratch.apply_unchecked(id, op, Bodies::Drop);
    }

    /// Copy task `r` into the scratch document, if the document has it: its parent and flag,
    /// and the register of `field` (the one operation applies to; the others stay empty in
    /// the copy, and so take the same bytes in the copy as in what the trial makes of it).
    fn copy_task(&mut self, r: TaskRef, field: Option<FieldKind>) {
        let Some(t) = self.doc.tasks.get(&r) else {
            return;
        };
        let copy = match self.scratch.tasks.entry(r) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let copy = v.insert(TaskState {
                    parent: t.parent,
                    created: t.created,
                    assigned: t.assigned.clone(),
                    ..TaskState::default()
                });
                let bytes = task_bytes(&r, copy);
                self.copied += bytes;
                self.copied_tasks += 1;
                self.scratch.sizes.add(bytes);
                copy
            }
        };
        let Some(field) = field else {
            return;
        };
        if !self.copied_fields.insert((r, field)) {
            return;
        }
        /// Copy one register; the bytes it adds to the copy (an empty register takes one).
        fn take<V: Clone + Serialize>(to: &mut Register<V>, from: &Register<V>) -> usize {
            *to = from.clone();
            encoded(from).saturating_sub(encoded(&Register::<V>::default()))
        }
        let bytes = match field {
            FieldKind::Status => take(&mut copy.status, &t.status),
            FieldKind::Progress => take(&mut copy.progress, &t.progress),
            FieldKind::Assignee => take(&mut copy.assignee, &t.assignee),
            FieldKind::Due => take(&mut copy.due, &t.due),
            FieldKind::Notes => take(&mut copy.notes, &t.notes),
            FieldKind::Title => take(&mut copy.title, &t.title),
            FieldKind::Removed => take(&mut copy.removed, &t.removed),
            FieldKind::Deadline => take(&mut copy.deadline, &t.deadline),
            FieldKind::Review => take(&mut copy.review, &t.review),
            FieldKind::Assignment => take(&mut copy.assignment, &t.assignment),
        };
        self.copied += bytes;
        self.scratch.sizes.add(bytes);
    }

    fn copy_confirmation(&mut self, id: OpId) {
        if self.scratch.confirmations.contains_key(&id) {
            return;
        }
        let Some(c) = self.doc.confirmations.get(&id) else {
            return;
        };
        let copy = ConfirmationEntry {
            info: None,
            state: c.state.clone(),
        };
        let bytes = copy.bytes(id);
        self.copied += bytes;
        self.copied_confirmations += 1;
        self.scratch.sizes.add(bytes);
        self.scratch.confirmations.insert(id, copy);
    }

    /// The document's footprint once the operations given are applied.
    pub(super) fn footprint(&self) -> Footprint {
        let now = self.doc.footprint();
        let actors = self.new_actors.len().saturating_mul(2 * VV_ENTRY);
        // New tasks not in the header only: the header's are not items (see `footprint`).
        let new_tasks = self
            .scratch
            .tasks
            .keys()
            .filter(|t| !matches!(t, TaskRef::Assigned(_)) && !self.doc.tasks.contains_key(t))
            .count();
        let made = new_tasks
            + (self.scratch.confirmations.len() - self.copied_confirmations)
            + self.scratch.sizes.bodies;
        Footprint {
            bytes: now
                .bytes
                .saturating_sub(self.copied)
                .saturating_add(self.scratch.sizes.bytes)
                .saturating_add(actors),
            items: now.items.saturating_add(made),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalTask {
    pub parent: Option<TaskRef>,
    pub created: bool,
    pub status: CanonicalReg<Status>,
    pub progress: CanonicalReg<u8>,
    pub assignee: CanonicalReg<String>,
    pub due: CanonicalReg<Option<Day>>,
    pub notes: CanonicalReg<String>,
    pub title: CanonicalReg<String>,
    pub removed: CanonicalReg<bool>,
    pub comments: BTreeMap<OpId, (String, i64)>,
    pub evidence: BTreeMap<OpId, Evidence>,
    /// Since format version 2 (decision 39): the Ministry Office's registers and urges.
    pub deadline: CanonicalReg<Option<Day>>,
    pub review: CanonicalReg<Review>,
    pub urges: BTreeMap<OpId, Urge>,
    /// Since format version 3 (decision 44): a revision's assignment register, and the
    /// clause and role of a task a revision added.
    pub assignment: CanonicalReg<Option<crate::directive::Role>>,
    pub assigned: Option<HeaderTask>,
}

/// The canonical state of a document: what a snapshot carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalDoc {
    pub header: DocHeader,
    pub vv: BTreeMap<ActorId, u64>,
    pub tasks: BTreeMap<TaskRef, CanonicalTask>,
    pub confirmations: BTreeMap<OpId, (Option<Confirmation>, CanonicalReg<ConfirmationState>)>,
    pub reports: BTreeMap<OpId, Report>,
    /// Since format version 4 (issue 23).
    pub verifications: BTreeMap<OpId, Verification>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::test_header as header;

    fn confirm(by: &str) -> Op {
        Op::Confirm(Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from: Day(18_295),
            attested_by: by.into(),
            evidence: None,
            at: 1,
        })
    }

    /// An untouched confirmation's register is implied, not held, and reads, encodes, merges
    /// and changes exactly as the register its `Confirm` made.
    #[test]
    fn an_untouched_confirmation_holds_no_register() -> Result<(), DocError> {
        let (a, b) = (OpId::new(1, 1), OpId::new(1, 2));
        let mut doc = UnitDocument::new(header());
        doc.apply_ops(1, 1, &[confirm("An"), confirm("Bình")])?;
        assert!(doc.confirmations.values().all(|e| e.state.is_none()));
        assert_eq!(doc.confirmation_states(a), [ConfirmationState::Confirmed]);
        assert_eq!(
            doc.to_canonical().confirmations[&a].1,
            ConfirmationEntry::as_made(a).canonical()
        );
        assert_eq!(
            doc.set_confirmation_op(a, ConfirmationState::Withdrawn),
            Op::SetConfirmation {
                id: a,
                state: ConfirmationState::Withdrawn,
                ctx: vec![(1, 1)],
            }
        );

        // A snapshot decodes to the implied form again.
        let decoded = UnitDocument::from_canonical(doc.to_canonical())?;
        assert!(decoded.confirmations.values().all(|e| e.state.is_none()));

        // Withdrawn by another device: the register is held from then on.
        let withdraw = doc.set_confirmation_op(b, ConfirmationState::Withdrawn);
        doc.apply_ops(2, 1, std::slice::from_ref(&withdraw))?;
        assert!(doc.confirmations[&a].state.is_none());
        assert!(doc.confirmations[&b].state.is_some());
        assert_eq!(doc.confirmation_states(b), [ConfirmationState::Withdrawn]);

        // The withdrawal arriving before the confirmation gives the same document.
        let mut early = UnitDocument::new(header());
        early.apply_ops(2, 1, std::slice::from_ref(&withdraw))?;
        assert_eq!(early.confirmation_states(b), [ConfirmationState::Withdrawn]);
        early.apply_ops(1, 1, &[confirm("An"), confirm("Bình")])?;
        assert_eq!(early.to_canonical(), doc.to_canonical());

        // Merges: implied with implied stays implied; implied with held gives the held.
        let mut merged = decoded.clone();
        merged.merge(decoded.clone())?;
        assert!(merged.confirmations.values().all(|e| e.state.is_none()));
        merged.merge(UnitDocument::from_canonical(doc.to_canonical())?)?;
        assert_eq!(merged.to_canonical(), doc.to_canonical());
        let mut other_way = UnitDocument::from_canonical(doc.to_canonical())?;
        other_way.merge(decoded)?;
        assert_eq!(other_way.to_canonical(), doc.to_canonical());
        Ok(())
    }

    #[test]
    fn a_snapshot_register_unlike_the_made_one_is_held() {
        let id = OpId::new(3, 5);
        let made = ConfirmationEntry::as_made(id).canonical();
        assert!(ConfirmationEntry::is_as_made(id, &made));
        assert!(!ConfirmationEntry::is_as_made(OpId::new(3, 6), &made));
        assert!(!ConfirmationEntry::is_as_made(id, &Vec::new()));
        let mut two = made.clone();
        two.push((BTreeMap::from([(4, 1)]), ConfirmationState::Withdrawn));
        assert!(!ConfirmationEntry::is_as_made(id, &two));
        let withdrawn = vec![(BTreeMap::from([(3, 5)]), ConfirmationState::Withdrawn)];
        assert!(!ConfirmationEntry::is_as_made(id, &withdrawn));
    }
}
