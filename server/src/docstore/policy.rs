//! When a document's snapshot is rewritten, and how a snapshot answer is priced.

use taskforce_core::sync::snapshot_worth_pricing;

/// Rewrite a document's snapshot once the op-log tail past it holds this many operations and
/// at least half as many as the snapshot itself, or [`SNAPSHOT_MAX_TAIL`]: the cost of
/// rewriting stays proportional to the operations that arrived, and a cold load reads at
/// most a bounded tail.
pub const SNAPSHOT_MIN_TAIL: i64 = 2_000;

/// The longest tail a cold load replays, whatever the history (issue 25): with half the
/// snapshot's alone, a unit with 1,000,000 operations could leave 500,000 to replay after a
/// restart (1.3 s here). A rewrite costs at most one state (8 MiB, `limits::DOC_BYTES`), so
/// one every 20,000 operations is at most ~420 bytes written per operation, and far less
/// for the usual document, whose state is small beside its history.
pub const SNAPSHOT_MAX_TAIL: i64 = 20_000;

pub fn snapshot_due(ops: i64, state_ops: i64) -> bool {
    let tail = ops - state_ops;
    tail >= SNAPSHOT_MIN_TAIL && (tail >= state_ops / 2 || tail >= SNAPSHOT_MAX_TAIL)
}

/// Bytes of a document's last encoded snapshot, and the op count it was measured at.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotMeasure {
    pub len: usize,
    pub at: i64,
}

impl SnapshotMeasure {
    /// Whether to build a snapshot to compare with `changes_len` bytes of changes: mobile-core's
    /// rule, with the last measure scaled by the document's growth since (snapshots rarely grow
    /// faster than their operations), so a document measured a little while ago is not priced
    /// again on every sync.
    pub fn worth_pricing(&self, ops: i64, changes_len: usize) -> bool {
        snapshot_worth_pricing(changes_len, Some(self.scaled_to(ops)))
    }

    /// The snapshot's size estimated at op count `ops`: the measure scaled by the growth since.
    pub fn scaled_to(&self, ops: i64) -> usize {
        let estimate = match (u64::try_from(self.at), u64::try_from(ops)) {
            (Ok(at), Ok(now)) if at > 0 && now > at => (self.len as u64).saturating_mul(now) / at,
            _ => self.len as u64,
        };
        usize::try_from(estimate).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_pricing_scales_the_last_measure() {
        let m = SnapshotMeasure {
            len: 10_000,
            at: 1_000,
        };
        assert!(!m.worth_pricing(1_000, 9_000), "the snapshot was larger");
        assert!(m.worth_pricing(1_000, 11_000));
        // Doubled since measured: about 20,000 bytes now.
        assert!(!m.worth_pricing(2_000, 11_000));
        assert!(m.worth_pricing(2_000, 21_000));
        let fresh = SnapshotMeasure { len: 0, at: 0 };
        assert!(
            !fresh.worth_pricing(0, 100),
            "small answers are never priced"
        );
        assert!(fresh.worth_pricing(10, 10_000));
    }

    #[test]
    fn snapshots_are_rewritten_when_the_tail_is_long() {
        assert!(!snapshot_due(10, 0));
        assert!(snapshot_due(SNAPSHOT_MIN_TAIL, 0));
        assert!(!snapshot_due(100_000 + SNAPSHOT_MIN_TAIL, 100_000));
        assert!(snapshot_due(150_000, 100_000));
        // A long history: the tail stops at SNAPSHOT_MAX_TAIL, not half the snapshot's.
        assert!(!snapshot_due(1_000_000 + SNAPSHOT_MAX_TAIL - 1, 1_000_000));
        assert!(snapshot_due(1_000_000 + SNAPSHOT_MAX_TAIL, 1_000_000));
    }
}
