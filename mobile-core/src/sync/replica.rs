//! A replica of one unit document with its change log: either side of a sync.
//!
//! A phone edits (each edit applied and queued at once), seals its queued operations into one
//! signed change, sends a [`SyncRequest`] with its version vector and the changes the server
//! has not acknowledged, and applies the [`SyncResponse`]: one round trip. The server side
//! ([`Replica::respond`]) checks and applies the changes, then answers with what the
//! requester lacks, as changes or as a snapshot when that is smaller.
//!
//! Everything is idempotent: a change applied twice, a request replayed, a response lost and
//! the request sent again, changes of different actors in any order — none of these lose or
//! duplicate an operation. Operations of one actor apply in sequence order; a gap is refused
//! with the range that is missing.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use thiserror::Error;

use super::{
    accept::{apply_changes, check_changes},
    admit::admit_changes,
    change::Change,
    wire::{DocKey, Payload, SyncRequest, SyncResponse, change_len, encode_snapshot},
};
use crate::doc::{
    ActorId, DocError, DocHeader, Op, OpId, UnitDocument, VersionVector, check_room, check_room_ops,
};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SyncError {
    #[error(transparent)]
    Doc(#[from] DocError),
    #[error("the change of actor {actor} from {start} is not signed by that device")]
    BadSignature { actor: ActorId, start: u64 },
    #[error("actor {0} may not write this document")]
    Forbidden(ActorId),
    #[error("the request is for {0:?}, not this document")]
    WrongDocument(DocKey),
}

/// What one sync did, for the app to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Operations the other side applied from this request.
    pub pushed: usize,
    /// Operations this side applied from the response.
    pub pulled: usize,
    /// Whether the response was a snapshot.
    pub snapshot: bool,
}

/// Above this many bytes of changes, the responder also prices a snapshot.
const SNAPSHOT_PRICING_THRESHOLD: usize = 4 * 1024;

#[derive(Debug, Clone)]
pub struct Replica {
    doc: UnitDocument,
    key: DocKey,
    fingerprint: u64,
    /// Sealed changes by actor, in sequence order.
    log: BTreeMap<ActorId, Vec<Change>>,
    /// This device's operations not yet sealed into a change, from `pending_start` on.
    pending: Vec<Op>,
    pending_start: u64,
    /// The last version vector the other side reported.
    remote: VersionVector,
}

impl Replica {
    pub fn new(header: DocHeader) -> Self {
        let key = DocKey {
            directive: header.directive.clone(),
            unit: header.unit.clone(),
        };
        let fingerprint = header.fingerprint();
        Self {
            doc: UnitDocument::new(header),
            key,
            fingerprint,
            log: BTreeMap::new(),
            pending: Vec::new(),
            pending_start: 0,
            remote: VersionVector::new(),
        }
    }

    /// Rebuild a replica from what a store kept: the last saved state, this device's changes
    /// not yet acknowledged, its operations not yet sealed, and the other side's last known
    /// version. Operations the state already holds are skipped.
    pub fn restore(
        state: UnitDocument,
        actor: ActorId,
        own_changes: Vec<Change>,
        pending: Vec<(u64, Op)>,
        remote: VersionVector,
    ) -> Result<Self, DocError> {
        let mut replica = Self::new(state.header().clone());
        replica.doc = state;
        apply_changes(&mut replica.doc, &own_changes, |_, _| {})?;
        for c in own_changes {
            replica.log.entry(c.actor).or_default().push(c);
        }
        if let Some(&(start, _)) = pending.first() {
            replica.pending_start = start;
        }
        for (seq, op) in pending {
            replica
                .doc
                .apply_ops(actor, seq, std::slice::from_ref(&op))?;
            replica.pending.push(op);
        }
        replica.remote = remote;
        Ok(replica)
    }

    pub fn doc(&self) -> &UnitDocument {
        &self.doc
    }

    /// This device's operations not yet sealed, with the sequence number of the first.
    pub fn pending(&self) -> (u64, &[Op]) {
        (self.pending_start, &self.pending)
    }

    /// The logged changes of one actor.
    pub fn changes_of(&self, actor: ActorId) -> &[Change] {
        self.log.get(&actor).map_or(&[], Vec::as_slice)
    }

    /// Forget logged changes the other side has acknowledged (a phone never serves them).
    pub fn prune_acknowledged(&mut self) {
        let remote = &self.remote;
        for (actor, changes) in &mut self.log {
            let acked = remote.get(actor);
            changes.retain(|c| c.end() > acked);
        }
        self.log.retain(|_, cs| !cs.is_empty());
    }
    pub fn key(&self) -> &DocKey {
        &self.key
    }
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
    pub fn remote_version(&self) -> &VersionVector {
        &self.remote
    }

    /// Apply a local edit by `actor` (this device) and queue it for the next sync.
    pub fn edit(&mut self, actor: ActorId, op: Op) -> Result<OpId, DocError> {
        let id = self.check_edit(actor, &op)?;
        self.doc
            .apply_ops(actor, id.seq, std::slice::from_ref(&op))?;
        if self.pending.is_empty() {
            self.pending_start = id.seq;
        }
        self.pending.push(op);
        Ok(id)
    }

    /// Whether [`Replica::edit`] would take `op` by `actor`, without applying it; the id it
    /// would get. A phone checks before it stores an edit, so nothing refused is kept.
    pub fn check_edit(&self, actor: ActorId, op: &Op) -> Result<OpId, DocError> {
        let id = self.doc.next_id(actor);
        let ops = std::slice::from_ref(op);
        self.doc.check_ops(id.seq - 1, actor, id.seq, ops)?;
        // The document's limits, as the server will check them: an edit that would fill the
        // document is refused here, before it is sealed into a change the server refuses.
        check_room_ops(&self.doc, actor, id.seq, ops)?;
        Ok(id)
    }

    /// Operations not yet acknowledged by the other side: queued, and sealed but unacked.
    pub fn unacknowledged(&self, actor: ActorId) -> usize {
        let acked = self.remote.get(&actor);
        let sealed: u64 = self
            .log
            .get(&actor)
            .map(|cs| {
                cs.iter()
                    .map(|c| c.end().saturating_sub(acked.max(c.start.saturating_sub(1))))
                    .sum()
            })
            .unwrap_or(0);
        self.pending.len() + usize::try_from(sealed).unwrap_or(usize::MAX)
    }

    /// Seal the queued operations of `actor` into one change signed with `key`.
    pub fn seal(&mut self, actor: ActorId, key: &SigningKey) -> Option<Change> {
        if self.pending.is_empty() {
            return None;
        }
        let ops = std::mem::take(&mut self.pending);
        let change = Change::sign(self.fingerprint, actor, self.pending_start, ops, key);
        self.log.entry(actor).or_default().push(change.clone());
        Some(change)
    }

    /// Seal the queued operations of `actor` into changes signed with `key`, each of at most
    /// `max_bytes` of operations (but at least one operation): a long offline backlog travels
    /// as several changes, so that no change, and no request, outgrows what a server accepts.
    pub fn seal_bounded(
        &mut self,
        actor: ActorId,
        key: &SigningKey,
        max_bytes: usize,
    ) -> Vec<Change> {
        let mut sealed = Vec::new();
        let ops = std::mem::take(&mut self.pending);
        let mut start = self.pending_start;
        let mut part: Vec<Op> = Vec::new();
        let mut bytes = 0usize;
        for op in ops {
            let len = postcard::experimental::serialized_size(&op).unwrap_or(0);
            if !part.is_empty() && bytes.saturating_add(len) > max_bytes {
                let n = part.len() as u64;
                sealed.push(Change::sign(
                    self.fingerprint,
                    actor,
                    start,
                    std::mem::take(&mut part),
                    key,
                ));
                start += n;
                bytes = 0;
            }
            bytes = bytes.saturating_add(len);
            part.push(op);
        }
        if !part.is_empty() {
            sealed.push(Change::sign(self.fingerprint, actor, start, part, key));
        }
        self.log
            .entry(actor)
            .or_default()
            .extend(sealed.iter().cloned());
        sealed
    }

    /// [`Replica::request`] carrying at most `max_bytes` and `max_changes` of changes (but at
    /// least one when any is due), and whether changes were left for a next request.
    pub fn request_within(&self, max_bytes: usize, max_changes: usize) -> (SyncRequest, bool) {
        let mut request = self.request();
        let mut bytes = 0usize;
        let keep = request
            .changes
            .iter()
            .take(max_changes)
            .take_while(|c| {
                bytes = bytes.saturating_add(change_len(c));
                bytes <= max_bytes
            })
            .count()
            .max(1)
            .min(request.changes.len());
        let more = keep < request.changes.len();
        request.changes.truncate(keep);
        (request, more)
    }

    /// Whether the other side reported operations this replica does not hold yet (it sent
    /// part of what this replica lacks): another round trip brings the rest.
    pub fn lags_remote(&self) -> bool {
        self.remote
            .dots
            .iter()
            .any(|(a, &n)| self.doc.version().get(a) < n)
    }

    /// This device's operations from sequence number `from` on, sealed or not, in order:
    /// what a restored device re-issues under a new actor.
    pub fn own_from(&self, actor: ActorId, from: u64) -> Vec<(u64, Op)> {
        let sealed = self
            .changes_of(actor)
            .iter()
            .flat_map(|c| (c.start..).zip(c.ops.iter().cloned()));
        let queued = (self.pending_start..).zip(self.pending.iter().cloned());
        let mut ops: Vec<(u64, Op)> = sealed
            .chain(queued)
            .filter(|(seq, _)| *seq >= from)
            .collect();
        ops.sort_by_key(|(seq, _)| *seq);
        ops.dedup_by_key(|(seq, _)| *seq);
        ops
    }

    /// The request: this replica's version and every logged change the other side has not
    /// acknowledged.
    pub fn request(&self) -> SyncRequest {
        let changes = self
            .log
            .iter()
            .flat_map(|(actor, cs)| {
                let acked = self.remote.get(actor);
                cs.iter().filter(move |c| c.end() > acked)
            })
            .cloned()
            .collect();
        SyncRequest {
            doc: self.key.clone(),
            fingerprint: self.fingerprint,
            vv: self.doc.version().dots.clone(),
            changes,
        }
    }

    /// Check and apply incoming changes, all or nothing ([`apply_changes`]); log those `log`
    /// keeps. `kept`, when given, receives the changes that brought new operations, in order.
    fn take_changes(
        &mut self,
        changes: &[Change],
        log: impl Fn(&Change) -> bool,
        mut kept: Option<&mut Vec<Change>>,
    ) -> Result<usize, DocError> {
        let logged = &mut self.log;
        apply_changes(&mut self.doc, changes, |c, applied| {
            if applied.applied > 0
                && let Some(kept) = kept.as_deref_mut()
            {
                kept.push(c.clone());
            }
            if log(c) {
                let actor_log = logged.entry(c.actor).or_default();
                if c.end() > actor_log.last().map_or(0, Change::end) {
                    actor_log.push(c.clone());
                }
            }
        })
    }

    /// The responder's side. `authorise` checks each change (signature, that its actor is
    /// the caller's device, that it may write): any refusal refuses the whole request and
    /// changes nothing.
    pub fn respond(
        &mut self,
        req: &SyncRequest,
        authorise: impl Fn(&Change) -> Result<(), SyncError>,
    ) -> Result<(SyncResponse, SyncOutcome), SyncError> {
        if req.doc != self.key {
            return Err(SyncError::WrongDocument(req.doc.clone()));
        }
        if req.fingerprint != self.fingerprint {
            return Err(
                DocError::Mismatch("the two sides disagree on the document's tasks").into(),
            );
        }
        req.changes.iter().try_for_each(&authorise)?;
        let log = &self.log;
        admit_changes(&self.doc, &req.changes, |c| {
            log.get(&c.actor).is_some_and(|cs| cs.contains(c))
        })?;
        // Room is counted once the changes are known to apply (no gap: sequence numbers stay
        // small), as the server's writer does.
        check_changes(&self.doc, &req.changes)?;
        check_room(&self.doc, &req.changes)?;
        let pushed = self.take_changes(&req.changes, |_| true, None)?;
        let theirs = VersionVector {
            dots: req.vv.clone(),
        };
        let missing: Vec<Change> = self
            .log
            .iter()
            .flat_map(|(actor, cs)| {
                let have = theirs.get(actor);
                cs.iter().filter(move |c| c.end() > have)
            })
            .cloned()
            .collect();
        let payload = choose_payload(missing, || self.doc.to_canonical());
        let snapshot = matches!(payload, Payload::Snapshot(_));
        let response = SyncResponse {
            vv: self.doc.version().dots.clone(),
            payload,
        };
        Ok((
            response,
            SyncOutcome {
                pushed,
                pulled: 0,
                snapshot,
            },
        ))
    }

    /// The requester's side: apply what the other side sent.
    pub fn receive(&mut self, resp: SyncResponse) -> Result<SyncOutcome, SyncError> {
        self.receive_keeping(resp).map(|(outcome, _)| outcome)
    }

    /// [`Replica::receive`], handing back the changes this replica lacked, in the order they
    /// were applied (`None` for a snapshot): a phone's store appends them to its tail.
    /// Changes the other side's version covers are not logged (a phone never serves them).
    pub fn receive_keeping(
        &mut self,
        resp: SyncResponse,
    ) -> Result<(SyncOutcome, Option<Vec<Change>>), SyncError> {
        let mut outcome = SyncOutcome::default();
        let theirs = VersionVector { dots: resp.vv };
        let mut kept = None;
        match resp.payload {
            Payload::Changes(changes) => {
                let mut new = Vec::new();
                outcome.pulled = self.take_changes(
                    &changes,
                    |c| c.end() > theirs.get(&c.actor),
                    Some(&mut new),
                )?;
                kept = Some(new);
            }
            Payload::Snapshot(snap) => {
                let before = self.doc.version().clone();
                let other = UnitDocument::from_canonical(*snap)?;
                let mut next = self.doc.clone();
                next.merge(other)?;
                outcome.pulled = next
                    .version()
                    .dots
                    .iter()
                    .map(|(a, n)| usize::try_from(n.saturating_sub(before.get(a))).unwrap_or(0))
                    .sum();
                outcome.snapshot = true;
                self.doc = next;
            }
        }
        self.remote = theirs;
        Ok((outcome, kept))
    }

    /// Believe the other side holds at most `up_to` of `actor`'s operations: a phone holds
    /// the server to what it has sent of its own, so that operations it has not sent yet are
    /// never taken as acknowledged (and pruned unsent) because a copy of this store sent
    /// others under the same numbers; they go with the next request, which the server
    /// refuses as re-used if they differ.
    pub fn clamp_remote(&mut self, actor: ActorId, up_to: u64) {
        if let Some(n) = self.remote.dots.get_mut(&actor) {
            *n = (*n).min(up_to);
        }
    }

    /// After a gap error from the other side: it has `actor`'s operations up to `have` only,
    /// so the next request resends from there.
    pub fn rewind_remote(&mut self, actor: ActorId, have: u64) {
        self.remote.dots.insert(actor, have);
    }
}

/// Changes, unless a snapshot of the whole state is smaller.
pub fn choose_payload(
    changes: Vec<Change>,
    snapshot: impl FnOnce() -> crate::doc::CanonicalDoc,
) -> Payload {
    let size = changes_len(&changes);
    if snapshot_worth_pricing(size, None) {
        let snap = snapshot();
        if encode_snapshot(&snap).len() < size {
            return Payload::Snapshot(Box::new(snap));
        }
    }
    Payload::Changes(changes)
}

/// Bytes the changes take in a message.
pub fn changes_len(changes: &[Change]) -> usize {
    changes.iter().map(change_len).sum()
}

/// Whether a snapshot might be smaller than `changes_len` bytes of changes, so that it is worth
/// building one to compare: only past a few kilobytes, and not while the last snapshot of the
/// document measured (`last_snapshot_len`, when the responder keeps it) was already larger.
/// Documents mostly grow, so a stale measure errs towards pricing.
pub fn snapshot_worth_pricing(changes_len: usize, last_snapshot_len: Option<usize>) -> bool {
    changes_len > SNAPSHOT_PRICING_THRESHOLD && last_snapshot_len.is_none_or(|s| s < changes_len)
}
