//! A document's footprint: an upper bound of the bytes its snapshot takes on the wire, kept
//! up to date as operations are applied, and the items it holds.
//!
//! A snapshot is postcard (`sync::wire`): every value is written as it is, lengths and
//! integers as varints. The footprint adds up the exact encoded size of every part of the
//! document — each task's registers, parent and flag, each comment, evidence, confirmation
//! and report with its key — and bounds what changes with every operation without saying
//! anything about the state: the length of each collection (counted at its largest,
//! [`MAX_LEN`]) and each entry of the version vector (at its largest, [`VV_ENTRY`]), twice:
//! a snapshot answer carries the version vector once more beside the snapshot. So it is at
//! least the size of the encoded snapshot, and of the answer carrying it, whatever the
//! document holds, and it depends on the state alone: a document applied operation by
//! operation, one decoded from a snapshot and one that has shed its bodies (whose sizes it
//! kept as they were dropped) have the same footprint.

use serde::Serialize;

/// The largest varint postcard writes for a collection's length (a `usize`, 64 bits).
pub(super) const MAX_LEN: usize = 10;
/// The largest encoded entry of a version vector: an actor (a `u32` varint, 5 bytes) and a
/// sequence number (a `u64` varint, 10 bytes).
pub(super) const VV_ENTRY: usize = 5 + 10;
/// What a snapshot answer holds besides the document's parts and the version vectors: the
/// format and kind bytes, the payload's variant, and the lengths of the tasks,
/// confirmations, reports and verifications maps.
pub(super) const FIXED: usize = 2 + 1 + 4 * MAX_LEN;

/// How large a document is: `bytes`, an upper bound of its encoded snapshot and of a
/// snapshot answer carrying it; `items`, the tasks holding state, comments, evidence,
/// confirmations and reports it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Footprint {
    pub bytes: usize,
    pub items: usize,
}

/// The bytes postcard writes for `value`. Our own values into a counter: it cannot fail
/// (postcard fails only on sequences of unknown length, which none of them has).
pub(super) fn encoded<T: Serialize + ?Sized>(value: &T) -> usize {
    postcard::experimental::serialized_size(value).unwrap_or(0)
}

/// The part of a document's size kept up to date as operations are applied: everything but
/// the version vectors and [`FIXED`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Sizes {
    /// Bytes of the header, tasks, confirmations and reports, counted as if every body were
    /// held (a document that shed them keeps counting them as they are applied).
    pub bytes: usize,
    /// Comments, evidence and reports.
    pub bodies: usize,
}

impl Sizes {
    pub fn add(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// A part that took `before` bytes now takes `after`.
    pub fn replace(&mut self, before: usize, after: usize) {
        self.bytes = self.bytes.saturating_sub(before).saturating_add(after);
    }

    pub fn add_body(&mut self, bytes: usize) {
        self.add(bytes);
        self.bodies = self.bodies.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_postcards_largest_encodings() {
        assert_eq!(encoded(&usize::MAX), MAX_LEN);
        assert_eq!(encoded(&(u32::MAX, u64::MAX)), VV_ENTRY);
        assert_eq!(encoded(&vec![0u8; 300]), 2 + 300);
    }
}
