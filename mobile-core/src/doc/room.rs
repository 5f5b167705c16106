//! Whether a document has room for changes: the limits of a whole unit document, checked
//! when changes are accepted, so that every state a replica accepts can still be sent as one
//! message and decoded (`sync::wire::MAX_MESSAGE_BYTES`) and a server's copy without its
//! bodies stays bounded.
//!
//! A document is measured by its [`Footprint`] ([`UnitDocument::footprint`]): an upper bound
//! of its encoded snapshot and of a snapshot answer, kept up to date as operations apply, and
//! the items it holds. [`check_room`] works out, without changing the document, the
//! footprint once the *new* operations of a batch are applied (operations it holds add
//! nothing; one that replaces a register's values may take bytes away) and refuses the batch
//! whole ([`DocError::Full`]) when it would take the document
//!
//! - past [`limits::DOC_ITEMS`] items, adding one;
//! - past `limits::DOC_BYTES - limits::DOC_FIELD_ROOM` bytes, adding an item or growing a
//!   text field: the last [`limits::DOC_FIELD_ROOM`] are kept for small task fields (status,
//!   progress, due date, removal) and confirmations' states, so a unit whose document is full
//!   of reports or long notes can still move its tasks on;
//! - past [`limits::DOC_BYTES`] bytes, growing at all.
//!
//! A batch that does not grow the document is always taken, even by a document already past
//! a limit (stored before the limits existed).

use std::{collections::BTreeMap, fmt};

use super::{
    ActorId, BoundedDocument, DocError, Op, OpId, UnitDocument,
    footprint::{Footprint, encoded},
    limits,
    state::Trial,
};
use crate::sync::Change;

/// Which limit of a document a batch would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocLimit {
    /// [`limits::DOC_BYTES`]: its footprint in bytes.
    Bytes,
    /// `limits::DOC_BYTES - limits::DOC_FIELD_ROOM`: its footprint in bytes, for a batch
    /// adding an item.
    ItemBytes,
    /// [`limits::DOC_ITEMS`].
    Items,
}

impl DocLimit {
    /// The limit's value.
    pub fn max(self) -> usize {
        match self {
            DocLimit::Bytes => limits::DOC_BYTES,
            DocLimit::ItemBytes => limits::DOC_BYTES - limits::DOC_FIELD_ROOM,
            DocLimit::Items => limits::DOC_ITEMS,
        }
    }

    /// What the limit counts, in Vietnamese.
    pub fn label_vi(self) -> &'static str {
        match self {
            DocLimit::Bytes => "dung lượng (byte)",
            DocLimit::ItemBytes => "dung lượng (byte) dành cho mục mới và văn bản",
            DocLimit::Items => "số mục (nhiệm vụ thêm, bình luận, minh chứng, xác nhận, báo cáo)",
        }
    }

    /// What the limit counts, in English.
    pub fn label_en(self) -> &'static str {
        match self {
            DocLimit::Bytes => "size in bytes",
            DocLimit::ItemBytes => "size in bytes for new items and text",
            DocLimit::Items => "items (tasks, comments, evidence, confirmations, reports)",
        }
    }
}

impl fmt::Display for DocLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_en())
    }
}

/// A document that can be measured: a [`UnitDocument`], or a [`BoundedDocument`], whole or
/// without its bodies (which it kept counting as they were shed).
pub trait Measured {
    /// [`UnitDocument::footprint`].
    fn footprint(&self) -> Footprint;

    /// The footprint once the operations of `runs` — each `(actor, start, ops)`: operations
    /// `start, start + 1, …` of `actor`, in the order they would apply — are applied. Those
    /// the document holds, or an earlier run gave, add nothing.
    fn footprint_after<'a>(
        &self,
        runs: impl IntoIterator<Item = (ActorId, u64, &'a [Op])>,
    ) -> Footprint;

    /// Whether the document has room for the operations of `runs` (as in
    /// [`Measured::footprint_after`]): [`check_room`]'s rule.
    fn room_for<'a>(
        &self,
        runs: impl IntoIterator<Item = (ActorId, u64, &'a [Op])>,
    ) -> Result<(), DocError>;
}

/// The operations of `runs` that `doc` does not hold, nor an earlier run gave, in order.
fn new_ops<'a>(
    doc: &UnitDocument,
    runs: impl IntoIterator<Item = (ActorId, u64, &'a [Op])>,
) -> Vec<(OpId, &'a Op)> {
    let mut have: BTreeMap<ActorId, u64> = BTreeMap::new();
    let mut new = Vec::new();
    for (actor, start, ops) in runs {
        let held = have
            .entry(actor)
            .or_insert_with(|| doc.version().get(&actor));
        for (seq, op) in (start..).zip(ops) {
            if seq > *held {
                new.push((OpId::new(actor, seq), op));
                *held = seq;
            }
        }
    }
    new
}

fn after(doc: &UnitDocument, new: &[(OpId, &Op)]) -> Footprint {
    let mut trial = Trial::new(doc);
    for &(id, op) in new {
        trial.apply(id, op);
    }
    trial.footprint()
}

/// Bytes an operation adds to a document at most besides its own encoding, whatever the
/// document holds: its key, a task's entry (key, parent, flag, registers and maps' lengths at
/// their largest), a register's and a clock's length growing, its own dot, a confirmation's
/// entry, and a new device's entries in both version vectors.
const OP_SLACK: usize = 256;

/// Items an operation adds at most: a task's entry and a comment or a piece of evidence.
const OP_ITEMS: usize = 2;

fn room_in(doc: &UnitDocument, new: &[(OpId, &Op)]) -> Result<(), DocError> {
    let before = doc.footprint();
    // Most batches are far from every limit: what they can add at most says so without
    // working out what they add (which copies the registers they touch).
    let most: usize = new
        .iter()
        .map(|(_, op)| encoded(*op).saturating_add(OP_SLACK))
        .sum();
    let bound = Footprint {
        bytes: before.bytes.saturating_add(most),
        items: before
            .items
            .saturating_add(new.len().saturating_mul(OP_ITEMS)),
    };
    let texts = new.iter().any(|(_, op)| !is_small_field(op));
    // The server's verifications take the office's room too: a carrier that filled its
    // document cannot keep the proof out of it (attacker review of issue 23).
    let office = new.iter().all(|(_, op)| op.is_office() || op.is_verified());
    if room(before, bound, texts, office).is_ok() {
        return Ok(());
    }
    room(before, after(doc, new), texts, office)
}

/// A write of a task field of a few bytes (status, progress, due date, removal) or of a
/// confirmation's state, or one of the Ministry Office's operations (a review, a deadline, an
/// urge): what the room kept past the item limit is for. Text fields (notes, assignee,
/// title) count as items do, so nobody can fill that room with long notes and leave the unit
/// unable to move its tasks on — nor leave the Ministry Office unable to review, return or
/// urge (only the office makes its operations, `Op::permitted`; found by the attacker review
/// of issue 20: a member's comments filled the item room and every review was refused).
fn is_small_field(op: &Op) -> bool {
    use crate::doc::TaskField;
    if op.is_office() || op.is_verified() {
        return true;
    }
    match op {
        Op::Set { value, .. } => matches!(
            value,
            TaskField::Status(_)
                | TaskField::Progress(_)
                | TaskField::Due(_)
                | TaskField::Deadline(_)
                | TaskField::Removed(_)
        ),
        Op::SetConfirmation { .. } => true,
        _ => false,
    }
}

impl Measured for UnitDocument {
    fn footprint(&self) -> Footprint {
        UnitDocument::footprint(self)
    }

    fn footprint_after<'a>(
        &self,
        runs: impl IntoIterator<Item = (ActorId, u64, &'a [Op])>,
    ) -> Footprint {
        after(self, &new_ops(self, runs))
    }

    fn room_for<'a>(
        &self,
        runs: impl IntoIterator<Item = (ActorId, u64, &'a [Op])>,
    ) -> Result<(), DocError> {
        room_in(self, &new_ops(self, runs))
    }
}

impl Measured for BoundedDocument {
    fn footprint(&self) -> Footprint {
        BoundedDocument::footprint(self)
    }

    fn footprint_after<'a>(
        &self,
        runs: impl IntoIterator<Item = (ActorId, u64, &'a [Op])>,
    ) -> Footprint {
        self.registers().footprint_after(runs)
    }

    fn room_for<'a>(
        &self,
        runs: impl IntoIterator<Item = (ActorId, u64, &'a [Op])>,
    ) -> Result<(), DocError> {
        self.registers().room_for(runs)
    }
}

/// Whether `doc` has room for the new operations of `changes` (checked in order, as
/// `sync::check_changes` would apply them): refused whole with [`DocError::Full`] naming the
/// limit, as the module says. Pure and all-or-nothing; the document is not changed.
pub fn check_room<D: Measured + ?Sized>(doc: &D, changes: &[Change]) -> Result<(), DocError> {
    doc.room_for(changes.iter().map(|c| (c.actor, c.start, c.ops.as_slice())))
}

/// [`check_room`] for operations `start, start + 1, …` of `actor` (a phone's edit, before it
/// is sealed into a change).
pub fn check_room_ops<D: Measured + ?Sized>(
    doc: &D,
    actor: ActorId,
    start: u64,
    ops: &[Op],
) -> Result<(), DocError> {
    doc.room_for([(actor, start, ops)])
}

/// The rule: `before` and `after` a batch; `texts`: whether it writes more than small fields
/// ([`is_small_field`]).
/// `office`: the batch holds only the Ministry Office's operations, which the limits for
/// items keep room for (the urges it adds are items): a unit's members cannot fill the
/// document so that the office can no longer review, return or urge (decision 39). The
/// document's byte limit holds for everyone.
fn room(before: Footprint, after: Footprint, texts: bool, office: bool) -> Result<(), DocError> {
    let full = |limit: DocLimit, value: usize| DocError::Full {
        limit,
        after: value,
        max: limit.max(),
    };
    let adds_items = after.items > before.items;
    let item_room = if office {
        DocLimit::Items.max().saturating_add(limits::OFFICE_ITEMS)
    } else {
        DocLimit::Items.max()
    };
    if adds_items && after.items > item_room {
        return Err(full(DocLimit::Items, after.items));
    }
    let grows = after.bytes > before.bytes;
    if !office && (adds_items || (texts && grows)) && after.bytes > DocLimit::ItemBytes.max() {
        return Err(full(DocLimit::ItemBytes, after.bytes));
    }
    if after.bytes > before.bytes && after.bytes > DocLimit::Bytes.max() {
        return Err(full(DocLimit::Bytes, after.bytes));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        doc::{
            Confirmation, ConfirmationState, Day, Evidence, Report, Status, TaskField, TaskRef,
            test_header as header,
        },
        sync::wire::{self, SyncResponse},
    };

    /// A report as large as `Op::validate` and `Op::admissible` allow: 20,000 four-byte
    /// characters, 64 figures with 200-character names and the largest values.
    fn largest_report(n: usize) -> Op {
        Op::Report(Report {
            period: format!("{n:0>200}"),
            text: "𝔸".repeat(limits::LONG_TEXT),
            figures: (0..limits::FIGURES)
                .map(|i| crate::doc::Figure {
                    name: format!("{i:🄰>200}"),
                    value: -limits::MAGNITUDE,
                })
                .collect(),
            at: limits::LATEST_AT,
        })
    }

    /// The rule ignores signatures: an unsigned change will do.
    fn change(actor: ActorId, start: u64, ops: Vec<Op>) -> Change {
        Change::unsigned(actor, start, ops)
    }

    fn snapshot_len(doc: &UnitDocument) -> usize {
        wire::encode_snapshot(&doc.to_canonical()).len()
    }

    fn answer_len(doc: &UnitDocument) -> usize {
        let canonical = doc.to_canonical();
        wire::encode_response(&SyncResponse {
            vv: canonical.vv.clone(),
            payload: wire::Payload::Snapshot(Box::new(canonical)),
        })
        .len()
    }

    #[test]
    fn the_largest_report_fits_a_message_many_times_over() {
        let Op::Report(r) = largest_report(0) else {
            panic!("a report");
        };
        let len = postcard::experimental::serialized_size(&r).unwrap_or(usize::MAX);
        assert!(len < 140_000, "{len}");
        assert!(len > 100_000, "four-byte characters: {len}");
    }

    /// Reports until the document is full: the batch that would pass the limit for new items
    /// is refused, naming it; the document is unchanged, its snapshot and a snapshot answer
    /// fit a message and decode; a status edit still fits in the room kept for fields.
    #[test]
    fn a_document_fills_up_with_reports_and_still_takes_field_edits() -> Result<(), DocError> {
        let mut doc = UnitDocument::new(header());
        let mut seq = 1;
        let refused = loop {
            let batch = [change(1, seq, vec![largest_report(seq as usize)])];
            match check_room(&doc, &batch) {
                Ok(()) => {
                    crate::sync::apply_changes(&mut doc, &batch, |_, _| {})?;
                    seq += 1;
                }
                Err(e) => break e,
            }
            assert!(seq < 1_000, "never full");
        };
        let DocError::Full { limit, after, max } = refused else {
            panic!("{refused:?}");
        };
        assert_eq!(
            (limit, max),
            (
                DocLimit::ItemBytes,
                limits::DOC_BYTES - limits::DOC_FIELD_ROOM
            )
        );
        let now = doc.footprint();
        assert!(now.bytes <= max && after > max, "{now:?} {after}");
        assert!(refused.to_string().contains("size in bytes for new items"));
        assert_eq!(doc.version().get(&1), seq - 1, "nothing of it applied");
        let (snapshot, answer) = (snapshot_len(&doc), answer_len(&doc));
        assert!(
            snapshot <= now.bytes && answer <= now.bytes,
            "{snapshot} {answer} {now:?}"
        );
        assert!(answer < wire::MAX_MESSAGE_BYTES);
        let decoded = wire::decode_snapshot(&wire::encode_snapshot(&doc.to_canonical()));
        assert!(decoded.is_ok(), "{decoded:?}");
        // Filled to the byte with the smallest items the limit lets in.
        loop {
            let tiny = Op::Report(crate::doc::Report {
                period: "p".into(),
                text: String::new(),
                figures: Vec::new(),
                at: 1,
            });
            let batch = [change(1, seq, vec![tiny])];
            if check_room(&doc, &batch).is_err() {
                break;
            }
            crate::sync::apply_changes(&mut doc, &batch, |_, _| {})?;
            seq += 1;
        }
        // A status edit of another device still has room, on a task never written before
        // (its first write makes the task's entry: not an item).
        assert!(doc.task(TaskRef::Assigned(0)).is_none());
        let status = doc.set_op(TaskRef::Assigned(0), TaskField::Status(Status::Done));
        assert_eq!(
            check_room_ops(&doc, 2, 1, std::slice::from_ref(&status)),
            Ok(())
        );
        Ok(())
    }

    #[test]
    fn a_phone_refuses_an_edit_that_would_fill_its_document() {
        let mut phone = crate::sync::Replica::new(header());
        let mut made = 0;
        let refused = loop {
            match phone.edit(7, largest_report(made)) {
                Ok(_) => made += 1,
                Err(e) => break e,
            }
            assert!(made < 1_000, "never full");
        };
        assert!(
            matches!(
                refused,
                DocError::Full {
                    limit: DocLimit::ItemBytes,
                    ..
                }
            ),
            "{refused:?}"
        );
        assert_eq!(
            phone.pending().1.len(),
            made,
            "the refused edit is not queued"
        );
        assert_eq!(phone.doc().version().get(&7), made as u64);
        let status = phone
            .doc()
            .set_op(TaskRef::Assigned(0), TaskField::Status(Status::Done));
        assert!(phone.edit(7, status).is_ok());
    }

    #[test]
    fn operations_held_add_nothing_and_the_batch_is_counted_in_order() -> Result<(), DocError> {
        let mut doc = UnitDocument::new(header());
        let first = change(1, 1, vec![largest_report(1), largest_report(2)]);
        crate::sync::apply_changes(&mut doc, std::slice::from_ref(&first), |_, _| {})?;
        let now = doc.footprint();
        assert_eq!(doc.footprint_after([(1, 1, first.ops.as_slice())]), now);
        // The same change twice in a batch, then one more: counted once, then the new one.
        let next = change(1, 3, vec![largest_report(3)]);
        let runs = [&first, &first, &next, &next].map(|c| (c.actor, c.start, c.ops.as_slice()));
        let expected = {
            let mut d = doc.clone();
            crate::sync::apply_changes(&mut d, std::slice::from_ref(&next), |_, _| {})?;
            d.footprint()
        };
        assert_eq!(doc.footprint_after(runs), expected);
        assert_eq!(expected.items, now.items + 1);
        Ok(())
    }

    #[test]
    fn too_many_items_are_refused_naming_the_count() -> Result<(), DocError> {
        let mut doc = UnitDocument::new(header());
        let comment = |i: usize| Op::Comment {
            task: TaskRef::Assigned(0),
            text: String::new(),
            at: i as i64,
        };
        // Comments up to the limit (the directive's task holding them is not an item).
        let ops: Vec<Op> = (0..limits::DOC_ITEMS).map(comment).collect();
        let batch = [change(1, 1, ops)];
        check_room(&doc, &batch)?;
        crate::sync::apply_changes(&mut doc, &batch, |_, _| {})?;
        assert_eq!(doc.footprint().items, limits::DOC_ITEMS);
        let one_more = [change(1, limits::DOC_ITEMS as u64 + 1, vec![comment(0)])];
        assert_eq!(
            check_room(&doc, &one_more),
            Err(DocError::Full {
                limit: DocLimit::Items,
                after: limits::DOC_ITEMS + 1,
                max: limits::DOC_ITEMS,
            })
        );
        // A progress edit adds no item.
        let progress = doc.set_op(TaskRef::Assigned(0), TaskField::Progress(40));
        assert_eq!(
            check_room_ops(&doc, 1, limits::DOC_ITEMS as u64, &[progress]),
            Ok(())
        );
        Ok(())
    }

    #[test]
    fn long_notes_cannot_take_the_room_kept_for_small_fields() -> Result<(), DocError> {
        // Filled with reports to the limit for items, then notes as long as they may be.
        let mut doc = UnitDocument::new(header());
        let mut seq = 1;
        while check_room(&doc, &[change(1, seq, vec![largest_report(seq as usize)])]).is_ok() {
            crate::sync::apply_changes(
                &mut doc,
                &[change(1, seq, vec![largest_report(seq as usize)])],
                |_, _| {},
            )?;
            seq += 1;
        }
        let notes = Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Notes("𝔸".repeat(limits::LONG_TEXT)),
            ctx: Vec::new(),
        };
        // Enough to pass the item bytes: refused, naming that limit.
        let mut refused = None;
        for actor in 2..40 {
            match check_room_ops(&doc, actor, 1, std::slice::from_ref(&notes)) {
                Ok(()) => {
                    doc.apply_ops(actor, 1, std::slice::from_ref(&notes))?;
                }
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert!(
            matches!(
                refused,
                Some(DocError::Full {
                    limit: DocLimit::ItemBytes,
                    ..
                })
            ),
            "{refused:?}"
        );
        // The room past it is still there for a status.
        let status = doc.set_op(
            TaskRef::Assigned(0),
            TaskField::Status(crate::doc::Status::Done),
        );
        assert_eq!(check_room_ops(&doc, 50, 1, &[status]), Ok(()));
        // And for the Ministry Office: a review, a deadline and an urge (items past the
        // unit's limit for them), but not a comment (found by the attacker review, issue 20).
        let t = TaskRef::Assigned(0);
        let office = vec![
            doc.review_op(t, crate::doc::Verdict::Returned, "Thiếu".into(), 1),
            doc.set_op(t, TaskField::Deadline(Some(Day(737_470)))),
            Op::Urge {
                task: t,
                urge: crate::doc::Urge {
                    message: "Đề nghị bổ sung".repeat(100),
                    due: None,
                    at: 1,
                },
            },
        ];
        assert_eq!(check_room_ops(&doc, 60, 1, &office), Ok(()));
        let comment = Op::Comment {
            task: t,
            text: "𝔸".repeat(limits::LONG_TEXT),
            at: 1,
        };
        assert!(check_room_ops(&doc, 60, 1, &[office[2].clone(), comment]).is_err());
        Ok(())
    }

    #[test]
    fn past_the_byte_limit_only_what_does_not_grow_is_taken() -> Result<(), DocError> {
        // A document stored before the limits: 9 MiB of notes, concurrent values of 120
        // devices (4-byte characters).
        let mut doc = UnitDocument::new(header());
        let notes = "𝔸".repeat(limits::LONG_TEXT);
        for actor in 1..=120 {
            let op = Op::Set {
                task: TaskRef::Assigned(0),
                value: TaskField::Notes(notes.clone()),
                ctx: Vec::new(),
            };
            doc.apply_ops(actor, 1, &[op])?;
        }
        let full = doc.footprint();
        assert!(full.bytes > limits::DOC_BYTES, "{full:?}");
        // One more concurrent value: refused (text past the room kept for small fields).
        let grow = Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Notes(notes),
            ctx: Vec::new(),
        };
        assert!(matches!(
            check_room_ops(&doc, 121, 1, &[grow]),
            Err(DocError::Full {
                limit: DocLimit::ItemBytes,
                ..
            })
        ));
        // A small field that grows it: refused too, past the whole limit.
        let status = Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Status(crate::doc::Status::Done),
            ctx: Vec::new(),
        };
        assert!(matches!(
            check_room_ops(&doc, 121, 1, &[status]),
            Err(DocError::Full {
                limit: DocLimit::Bytes,
                ..
            })
        ));
        // A write that has seen them all replaces them: taken, and the document shrinks.
        let replace = doc.set_op(TaskRef::Assigned(0), TaskField::Notes("Gọn lại.".into()));
        assert_eq!(
            check_room_ops(&doc, 121, 1, std::slice::from_ref(&replace)),
            Ok(())
        );
        doc.apply_ops(121, 1, &[replace])?;
        assert!(doc.footprint().bytes < 10_000, "{:?}", doc.footprint());
        Ok(())
    }

    /// The footprint of a shed document is the whole one's, as it grows, and the trial on
    /// either gives what applying gives.
    #[test]
    fn a_shed_document_keeps_counting_its_bodies() -> Result<(), DocError> {
        let mut whole = UnitDocument::new(header());
        let mut shed = BoundedDocument::new(UnitDocument::new(header()));
        let evidence = Evidence {
            file_name: "bien-ban.pdf".into(),
            size: 12_345,
            sha256: [7; 32],
            at: 1,
        };
        let confirm = Op::Confirm(Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from: Day(737_000),
            attested_by: "Nguyễn Văn An".into(),
            evidence: Some(evidence.clone()),
            at: 2,
        });
        let first = vec![
            Op::Comment {
                task: TaskRef::Assigned(0),
                text: "Đã gửi.".into(),
                at: 1,
            },
            Op::AddEvidence {
                task: TaskRef::Assigned(0),
                evidence,
            },
            confirm,
            largest_report(1),
        ];
        whole.apply_ops(1, 1, &first)?;
        shed.apply_ops(1, 1, &first)?;
        shed.shed_bodies();
        assert_eq!(shed.footprint(), whole.footprint());
        let withdraw = whole.set_confirmation_op(OpId::new(1, 3), ConfirmationState::Withdrawn);
        let second = vec![
            withdraw,
            Op::AddTask {
                parent: Some(TaskRef::Assigned(0)),
                title: "Việc thêm".into(),
            },
            largest_report(2),
        ];
        let predicted = shed.footprint_after([(2, 1, second.as_slice())]);
        assert_eq!(
            whole.footprint_after([(2, 1, second.as_slice())]),
            predicted
        );
        whole.apply_ops(2, 1, &second)?;
        shed.apply_ops(2, 1, &second)?;
        assert_eq!(whole.footprint(), predicted);
        assert_eq!(shed.footprint(), predicted);
        // An ad-hoc task, a comment, a piece of evidence, a confirmation, two reports (the
        // directive's task is not an item).
        assert_eq!(predicted.items, 1 + 1 + 1 + 1 + 2);
        assert!(snapshot_len(&whole) <= predicted.bytes);
        Ok(())
    }

    /// One operation of a random document, drawn from (actor, kind, a number, a length).
    fn random_op(doc: &UnitDocument, actor: ActorId, kind: u8, n: u16, len: usize) -> Op {
        let text: String = "ạb𝔸".chars().cycle().take(len).collect();
        // Some operation held: an actor, then one of its sequence numbers.
        let dots: Vec<(ActorId, u64)> = doc.version().dots.iter().map(|(&a, &s)| (a, s)).collect();
        let some_op = dots
            .get(usize::from(n) % dots.len().max(1))
            .map(|&(a, s)| OpId::new(a, 1 + (u64::from(n) * 7_919) % s.max(1)));
        let task = match some_op {
            Some(id) if n.is_multiple_of(3) => TaskRef::Adhoc(id),
            _ => TaskRef::Assigned(0),
        };
        // A context that has seen some of what is held: concurrent values stay.
        let seen = |ctx: Vec<(ActorId, u64)>| -> Vec<(ActorId, u64)> {
            ctx.into_iter()
                .filter(|&(a, s)| {
                    (u32::from(n) + a) % 2 == 0 && !(a == actor && s >= doc.next_id(actor).seq)
                })
                .collect()
        };
        match kind {
            0 => match doc.set_op(task, TaskField::Status(Status::ALL[usize::from(n) % 4])) {
                Op::Set { task, value, ctx } => Op::Set {
                    task,
                    value,
                    ctx: seen(ctx),
                },
                other => other,
            },
            1 => match doc.set_op(task, TaskField::Notes(text)) {
                Op::Set { task, value, ctx } => Op::Set {
                    task,
                    value,
                    ctx: seen(ctx),
                },
                other => other,
            },
            2 => doc.set_op(task, TaskField::Progress((n % 101) as u8)),
            3 => Op::AddTask {
                parent: n.is_multiple_of(2).then_some(task),
                title: format!("Việc {n} {text}"),
            },
            4 => Op::Comment {
                task,
                text,
                at: i64::from(n) * 1_000_003,
            },
            5 => Op::AddEvidence {
                task,
                evidence: Evidence {
                    file_name: format!("tep-{n}.pdf"),
                    size: u64::from(n) << 20,
                    sha256: [n as u8; 32],
                    at: i64::from(n),
                },
            },
            6 => Op::Confirm(Confirmation {
                carrier: "viettel".into(),
                hotline: format!("1900{n}"),
                free_from: Day(737_000 + i32::from(n)),
                attested_by: text,
                evidence: None,
                at: i64::from(n),
            }),
            7 => match some_op {
                Some(target) if target.actor != actor || target.seq < doc.next_id(actor).seq => {
                    match doc.set_confirmation_op(
                        target,
                        if n.is_multiple_of(2) {
                            ConfirmationState::Withdrawn
                        } else {
                            ConfirmationState::Confirmed
                        },
                    ) {
                        Op::SetConfirmation { id, state, ctx } => Op::SetConfirmation {
                            id,
                            state,
                            ctx: seen(ctx),
                        },
                        other => other,
                    }
                }
                _ => doc.set_op(task, TaskField::Assignee(text)),
            },
            // A revision: a task given for a clause, or a role changed or withdrawn.
            9 if n.is_multiple_of(2) => Op::Assign(crate::doc::HeaderTask {
                clause: format!("{n}.{text}").chars().take(200).collect(),
                role: crate::directive::Role::Coordinating,
            }),
            9 => doc.set_op(
                match some_op {
                    Some(id) if n % 4 == 1 => TaskRef::Added(id),
                    _ => task,
                },
                TaskField::Assignment(
                    (!n.is_multiple_of(3)).then_some(crate::directive::Role::Lead),
                ),
            ),
            _ => Op::Report(Report {
                period: format!("2020-W{n:02}"),
                text,
                figures: (0..usize::from(n % 5))
                    .map(|i| crate::doc::Figure {
                        name: format!("so_{i}"),
                        value: i64::from(n) * 1_000_000_007,
                    })
                    .collect(),
                at: i64::from(n),
            }),
        }
    }

    type Draw = (ActorId, u8, u16, usize);

    /// Apply drawn operations one at a time (each made from the document as it is); the
    /// operations applied, as (actor, seq, op).
    fn grow(doc: &mut UnitDocument, draws: &[Draw]) -> Vec<(ActorId, u64, Op)> {
        let mut made = Vec::new();
        for &(actor, kind, n, len) in draws {
            let op = random_op(doc, actor, kind, n, len);
            let seq = doc.next_id(actor).seq;
            if doc.apply_ops(actor, seq, std::slice::from_ref(&op)).is_ok() {
                made.push((actor, seq, op));
            }
        }
        made
    }

    fn check_bounds(doc: &UnitDocument) -> Result<(), TestCaseError> {
        let f = doc.footprint();
        let (snapshot, answer) = (snapshot_len(doc), answer_len(doc));
        prop_assert!(
            snapshot <= f.bytes && answer <= f.bytes,
            "{snapshot} {answer} {f:?}"
        );
        // Tight: what it counts at its largest is a few bytes per task and per device.
        let tasks = doc.tasks_with_state();
        let actors = doc.version().dots.len();
        prop_assert!(
            f.bytes <= answer + 64 + 30 * tasks + 30 * actors,
            "{f:?} {answer} {tasks} {actors}"
        );
        // The same footprint counted from scratch (a decoded snapshot).
        let decoded = UnitDocument::from_canonical(doc.to_canonical())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.footprint(), f);
        Ok(())
    }

    use proptest::prelude::*;

    fn draws() -> impl Strategy<Value = Vec<Draw>> {
        prop::collection::vec((1u32..4, 0u8..10, any::<u16>(), 0usize..300), 0..80)
    }

    proptest! {
        // Seeds of failures are recorded in proptest-regressions/.
        #[test]
        fn the_footprint_bounds_the_snapshot_and_the_trial_is_exact(
            first in draws(),
            second in draws(),
            shed_at in any::<bool>(),
        ) {
            let mut doc = UnitDocument::new(header());
            let applied = grow(&mut doc, &first);
            check_bounds(&doc)?;
            let mut bounded = BoundedDocument::new(UnitDocument::new(header()));
            if shed_at {
                bounded.shed_bodies();
            }
            for (actor, seq, op) in &applied {
                bounded
                    .apply_ops(*actor, *seq, std::slice::from_ref(op))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            bounded.shed_bodies();
            prop_assert_eq!(bounded.footprint(), doc.footprint());
            // The next operations, predicted on the whole and the shed copy, then applied.
            let mut next = doc.clone();
            let more = grow(&mut next, &second);
            let runs = || more.iter().map(|(a, s, op)| (*a, *s, std::slice::from_ref(op)));
            let predicted = doc.footprint_after(runs());
            prop_assert_eq!(bounded.footprint_after(runs()), predicted);
            // What a batch can add at most, which most checks stop at, is at least what it adds.
            let now = doc.footprint();
            let most: usize = more.iter().map(|(_, _, op)| encoded(op) + OP_SLACK).sum();
            prop_assert!(predicted.bytes <= now.bytes + most, "{predicted:?} {now:?} {most}");
            prop_assert!(predicted.items <= now.items + OP_ITEMS * more.len());
            prop_assert_eq!(next.footprint(), predicted);
            for (actor, seq, op) in &more {
                bounded
                    .apply_ops(*actor, *seq, std::slice::from_ref(op))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert_eq!(bounded.footprint(), predicted);
            check_bounds(&next)?;
            // Merged from a snapshot: the merged document's, counted again.
            let mut merged = doc.clone();
            merged
                .merge(UnitDocument::from_canonical(next.to_canonical())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(merged.footprint(), next.footprint());
        }
    }

    /// What the check costs a sync against what applying it costs (both with the footprint
    /// kept): 50 operations of the load generator's mix (status and progress mostly, some
    /// notes, comments and reports) by one of 20 devices, on a document of 120 tasks that
    /// already holds 100,000. Run in release:
    /// `cargo test --release -p taskforce-core --lib doc::room::tests::measure -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: run in release with --ignored --nocapture"]
    fn measure() -> Result<(), DocError> {
        use std::{hint::black_box, time::Instant};
        let header = crate::doc::DocHeader {
            directive: "5-ct-btttt".into(),
            unit: "cuc-vt".into(),
            tasks: (0..120)
                .map(|i| crate::doc::HeaderTask {
                    clause: format!("II.{i}"),
                    role: crate::directive::Role::Lead,
                })
                .collect(),
        };
        let edit = |doc: &UnitDocument, k: u64| -> Op {
            let task = TaskRef::Assigned((k * 7 % 120) as u32);
            match k % 100 {
                0..40 => doc.set_op(task, TaskField::Status(Status::ALL[(k % 4) as usize])),
                40..80 => doc.set_op(task, TaskField::Progress((k % 101) as u8)),
                80..85 => doc.set_op(task, TaskField::Notes(format!("Đã làm việc, lần {k}."))),
                85..93 => Op::Comment {
                    task,
                    text: "Đề nghị đơn vị cập nhật tiến độ trước 17h.".into(),
                    at: 1,
                },
                _ => Op::Report(Report {
                    period: "2020-02-05".into(),
                    text: "Đã gửi tin nhắn khuyến cáo tới thuê bao.".into(),
                    figures: Vec::new(),
                    at: 1,
                }),
            }
        };
        let mut doc = UnitDocument::new(header);
        for k in 0..100_000u64 {
            let actor = (k % 20) as ActorId + 1;
            let op = edit(&doc, k);
            doc.apply_ops(actor, doc.next_id(actor).seq, &[op])?;
        }
        let actor = 3;
        let start = doc.next_id(actor).seq;
        let mut ops = Vec::new();
        for k in 0..50 {
            ops.push(edit(&doc, 100_000 + k));
        }
        let batch = [change(actor, start, ops)];
        const ROUNDS: u32 = 2_000;
        let t = Instant::now();
        for _ in 0..ROUNDS {
            black_box(check_room(black_box(&doc), &batch))?;
        }
        let check = t.elapsed() / ROUNDS;
        // Near a limit the check works out what the batch adds.
        let runs = || batch.iter().map(|c| (c.actor, c.start, c.ops.as_slice()));
        let t = Instant::now();
        for _ in 0..ROUNDS {
            black_box(black_box(&doc).footprint_after(runs()));
        }
        let exact = t.elapsed() / ROUNDS;
        let mut apply = std::time::Duration::ZERO;
        for _ in 0..ROUNDS / 4 {
            let mut copy = doc.clone();
            let t = Instant::now();
            crate::sync::apply_changes(&mut copy, &batch, |_, _| {})?;
            apply += t.elapsed();
        }
        let apply = apply / (ROUNDS / 4);
        println!(
            "a sync of 50 operations on a document of 100,000: check_room {check:?} (near a \
             limit: {exact:?}), check_changes and apply {apply:?}; {:?}, snapshot {} bytes",
            doc.footprint(),
            wire::encode_snapshot(&doc.to_canonical()).len()
        );
        Ok(())
    }

    /// A large random document (some 7 MiB, 27,000 items): the footprint bounds its snapshot
    /// closely.
    #[test]
    fn a_large_random_document_is_bounded_closely() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(18);
        let draws: Vec<Draw> = (0..40_000)
            .map(|_| {
                (
                    rng.random_range(1..12),
                    rng.random_range(0..9),
                    rng.random(),
                    rng.random_range(0..400),
                )
            })
            .collect();
        let mut doc = UnitDocument::new(header());
        grow(&mut doc, &draws);
        let f = doc.footprint();
        let (snapshot, answer) = (snapshot_len(&doc), answer_len(&doc));
        assert!(snapshot > 6 << 20, "{snapshot}");
        assert!(
            snapshot <= f.bytes && answer <= f.bytes,
            "{snapshot} {answer} {f:?}"
        );
        // What it counts at its largest: each task's three lengths, each device's entries.
        let slack = 64 + 30 * doc.tasks_with_state() + 30 * doc.version().dots.len();
        assert!(f.bytes <= answer + slack, "{f:?} {answer} {slack}");
        assert!(
            (f.bytes - snapshot) * 33 < snapshot,
            "within 3%: {f:?} {snapshot}"
        );
    }
}
