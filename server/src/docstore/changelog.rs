//! A document's latest stored changes, kept in memory to answer syncs from.

use std::{collections::BTreeMap, sync::Arc};

use taskforce_core::{doc::ActorId, sync::wire};

/// Keep at most this many bytes of a document's latest changes in memory: some 45,000
/// operations, weeks of a busy unit; a device further behind is answered from the op log.
/// (4 MiB until decision 26: ten busy documents then held 40 MB that took minutes to fill.)
pub const CHANGE_LOG_BYTES: usize = 1 << 20;

/// A document's latest changes as the op log stores them (`wire::encode_change`), in the order
/// they were applied: for each actor, every change past `from[actor]` up to the document's
/// version. Answers come from it when the device already has everything up to `from`; else
/// from the op log. Bounded: past [`CHANGE_LOG_BYTES`] the oldest are dropped and `from`
/// moves past them.
#[derive(Debug, Default, Clone)]
pub struct ChangeLog {
    from: BTreeMap<ActorId, u64>,
    entries: std::collections::VecDeque<(ActorId, u64, Arc<[u8]>)>,
    bytes: usize,
}

impl ChangeLog {
    /// An empty log of a document at version `from`.
    pub fn starting_at(from: BTreeMap<ActorId, u64>) -> Self {
        Self {
            from,
            ..Self::default()
        }
    }

    /// A change of `actor` ending at `end`, applied after every change already here.
    pub fn push(&mut self, actor: ActorId, end: u64, body: Arc<[u8]>) {
        self.bytes += body.len();
        self.entries.push_back((actor, end, body));
        while self.bytes > CHANGE_LOG_BYTES {
            let Some((a, end, body)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= body.len();
            let from = self.from.entry(a).or_insert(0);
            *from = (*from).max(end);
        }
    }

    /// The changes past `vv` (a device's version) up to the document's version, ordered by
    /// actor and sequence as the op log would give them; `None` when the device lacks changes
    /// older than the log holds.
    pub fn past(&self, vv: &BTreeMap<ActorId, u64>) -> Option<Vec<Arc<[u8]>>> {
        let has = |a: &ActorId| vv.get(a).copied().unwrap_or(0);
        if self.from.iter().any(|(a, &from)| has(a) < from) {
            return None;
        }
        let mut picked: Vec<(ActorId, u64, &Arc<[u8]>)> = self
            .entries
            .iter()
            .filter(|(a, end, _)| *end > has(a))
            .map(|(a, end, body)| (*a, *end, body))
            .collect();
        picked.sort_by_key(|&(a, end, _)| (a, end));
        Some(picked.into_iter().map(|(_, _, b)| b.clone()).collect())
    }

    /// Whether the change of `actor` ending at `end` with exactly this body is here.
    pub fn holds(&self, actor: ActorId, end: u64, body: &[u8]) -> bool {
        self.entries
            .iter()
            .any(|(a, e, b)| *a == actor && *e == end && &b[..] == body)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The operations' bytes of stored changes (`wire::encode_change`), without their headers:
/// what a changes answer is priced at against a snapshot.
pub fn changes_len(bodies: &[Arc<[u8]>]) -> usize {
    bodies
        .iter()
        .map(|b| wire::change_body(b).map_or(0, <[u8]>::len))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(actor: ActorId, end: u64, len: usize) -> Arc<[u8]> {
        let mut b = vec![u8::try_from(actor).unwrap_or(0); len];
        b[0] = u8::try_from(end).unwrap_or(0);
        b.into()
    }

    fn ends(bodies: &[Arc<[u8]>]) -> Vec<(u8, u8)> {
        bodies.iter().map(|b| (b[1], b[0])).collect()
    }

    #[test]
    fn the_change_log_answers_what_a_device_lacks_or_says_it_cannot() {
        // Actor 1 had 2 operations and actor 2 none in the snapshot the log starts from.
        let mut log = ChangeLog::starting_at(BTreeMap::from([(1, 2)]));
        log.push(2, 3, body(2, 3, 10));
        log.push(1, 5, body(1, 5, 10));
        log.push(2, 4, body(2, 4, 10));
        log.push(1, 9, body(1, 9, 10));
        // Ordered by actor and sequence, as the op log gives them.
        assert_eq!(
            log.past(&BTreeMap::from([(1, 2)])).map(|b| ends(&b)),
            Some(vec![(1, 5), (1, 9), (2, 3), (2, 4)])
        );
        assert_eq!(
            log.past(&BTreeMap::from([(1, 5), (2, 3)]))
                .map(|b| ends(&b)),
            Some(vec![(1, 9), (2, 4)])
        );
        assert_eq!(
            log.past(&BTreeMap::from([(1, 9), (2, 4), (3, 1)]))
                .map(|b| ends(&b)),
            Some(vec![])
        );
        // A device without actor 1's first two operations: they are only in the op log.
        assert_eq!(log.past(&BTreeMap::new()), None);
        assert_eq!(log.past(&BTreeMap::from([(1, 1), (2, 4)])), None);
    }

    #[test]
    fn the_change_log_drops_its_oldest_past_its_budget() {
        let mut log = ChangeLog::default();
        let big = CHANGE_LOG_BYTES / 3;
        log.push(1, 10, body(1, 10, big));
        log.push(2, 5, body(2, 5, big));
        log.push(1, 20, body(1, 20, big));
        assert_eq!(log.bytes(), 3 * big);
        log.push(2, 8, body(2, 8, big));
        assert_eq!(log.bytes(), 3 * big, "the oldest change went");
        // Actor 1's first change is gone: a device that lacks it reads the op log.
        assert_eq!(log.past(&BTreeMap::from([(2, 8)])), None);
        assert_eq!(
            log.past(&BTreeMap::from([(1, 10)])).map(|b| ends(&b)),
            Some(vec![(1, 20), (2, 5), (2, 8)])
        );
    }
}
