//! The audit chain: every stored change of a document carries a hash over the previous
//! entry's hash and its own columns, so an edited, removed or reordered entry of the op log
//! shows, and [`verify_chain`] re-checks a document's log from nothing but the entries, the
//! document's fingerprint and the devices' public keys.
//!
//! An entry's hash is SHA-256 over a domain-separated, length-prefixed encoding of the
//! previous entry's hash ([`GENESIS`] for the first), the directive, the unit, the position,
//! the actor, the first and last sequence numbers, the time the server received it and the
//! body (the change as `wire::encode_change` stored it). Positions count from 0 in the order
//! the server accepted the changes.
//!
//! **Seals.** The hash chain alone is public arithmetic: someone with write access to the
//! database can delete or reorder entries anywhere and re-hash everything after. So the
//! server also signs, with an ed25519 key kept outside the database, the last entry it
//! writes to each document in each write batch ([`seal`], over [`seal_message`]: a domain
//! tag, the directive, the unit, the position and the entry's hash). A seal covers the chain
//! up to its entry; with the server's public key from outside the database ([`Trust`]),
//! [`ChainVerifier`] checks every seal and that the chain's last entry is sealed. Deleting
//! or reordering entries anywhere but after the last seal changes a sealed entry's position
//! or hash, which no one without the key can seal again. **Not detected:** whole trailing
//! batches removed (the chain then ends at an earlier, genuinely sealed entry); only a head
//! seen before shows that ([`check_checkpoint`]). Entries from before seals existed are
//! accepted unsealed when a later seal covers them; a chain with no seal at all is
//! [`Seals::NeverSealed`], which is not a proof.
//!
//! With [`Trust::revoked`], an entry received after its device's revocation is flagged too.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::wire;
use crate::doc::ActorId;

/// The length of an entry's hash.
pub const HASH_LEN: usize = 32;

/// An entry's hash.
pub type Hash = [u8; HASH_LEN];

/// The "previous hash" of a document's first entry.
pub const GENESIS: Hash = [0; HASH_LEN];

const DOMAIN: &[u8] = b"taskforce/audit-entry/v1";

const SEAL_DOMAIN: &[u8] = b"taskforce/audit-seal/v1";

/// The length of a seal (an ed25519 signature).
pub const SEAL_LEN: usize = 64;

/// What a seal signs: a domain tag, the directive, the unit (length-prefixed), the position
/// and the sealed entry's hash.
pub fn seal_message(directive: &str, unit: &str, position: i64, hash: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + directive.len() + unit.len() + hash.len());
    for part in [SEAL_DOMAIN, directive.as_bytes(), unit.as_bytes()] {
        m.extend_from_slice(&(part.len() as u64).to_be_bytes());
        m.extend_from_slice(part);
    }
    m.extend_from_slice(&position.to_be_bytes());
    m.extend_from_slice(&(hash.len() as u64).to_be_bytes());
    m.extend_from_slice(hash);
    m
}

/// The server's seal of the entry at `position` with hash `hash`.
pub fn seal(
    key: &SigningKey,
    directive: &str,
    unit: &str,
    position: i64,
    hash: &Hash,
) -> [u8; SEAL_LEN] {
    key.sign(&seal_message(directive, unit, position, hash))
        .to_bytes()
}

/// Whether `seal` is the server's (`key`) seal of the entry at `position` with `hash`.
pub fn verify_seal(
    key: &VerifyingKey,
    directive: &str,
    unit: &str,
    position: i64,
    hash: &[u8],
    seal: &[u8],
) -> bool {
    Signature::from_slice(seal).is_ok_and(|sig| {
        key.verify_strict(&seal_message(directive, unit, position, hash), &sig)
            .is_ok()
    })
}

/// What a verifier trusts from outside the entries: the server's public key (seals are
/// checked only with one) and when devices were revoked (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pub server_key: Option<VerifyingKey>,
    pub revoked: BTreeMap<ActorId, i64>,
}

static NO_TRUST: Trust = Trust {
    server_key: None,
    revoked: BTreeMap::new(),
};

/// What the seals of a sound chain showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seals {
    /// No server key was given: seals were not checked.
    NotChecked,
    /// Every seal verifies and the last entry is sealed (or the chain is empty).
    Sound,
    /// No entry is sealed (a log from before seals, or every seal stripped): consistent,
    /// but nothing proves the server wrote it so. Not sound.
    NeverSealed,
}

/// What an entry's hash covers, besides the previous hash. Integers as the op log stores
/// them (signed 64-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub directive: &'a str,
    pub unit: &'a str,
    pub position: i64,
    pub actor: i64,
    pub start: i64,
    pub end: i64,
    pub received_at: i64,
    pub body: &'a [u8],
}

fn put_bytes(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_be_bytes());
    h.update(b);
}

/// The hash of the entry `link` following the entry whose hash is `prev`.
pub fn entry_hash(prev: &Hash, link: &Link<'_>) -> Hash {
    let mut h = Sha256::new();
    put_bytes(&mut h, DOMAIN);
    put_bytes(&mut h, prev);
    put_bytes(&mut h, link.directive.as_bytes());
    put_bytes(&mut h, link.unit.as_bytes());
    for n in [
        link.position,
        link.actor,
        link.start,
        link.end,
        link.received_at,
    ] {
        h.update(n.to_be_bytes());
    }
    put_bytes(&mut h, link.body);
    h.finalize().into()
}

/// One stored entry of a document's log, as read back (any bytes: it may have been edited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub position: i64,
    pub actor: i64,
    pub start: i64,
    pub end: i64,
    pub received_at: i64,
    pub body: Vec<u8>,
    pub hash: Vec<u8>,
    /// The server's seal ([`seal`]), on the last entry of each write batch.
    pub seal: Option<Vec<u8>>,
}

impl Entry {
    fn link<'a>(&'a self, doc: &'a ChainDoc) -> Link<'a> {
        Link {
            directive: &doc.directive,
            unit: &doc.unit,
            position: self.position,
            actor: self.actor,
            start: self.start,
            end: self.end,
            received_at: self.received_at,
            body: &self.body,
        }
    }
}

/// The document a chain belongs to: its key and its header's fingerprint (which every
/// change's signature covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainDoc {
    pub directive: String,
    pub unit: String,
    pub fingerprint: u64,
}

/// What the document's row claims about its log, checked against the chain: its length and
/// last hash (`chain_len`, `chain_head`), and where known the operations it counts and its
/// version vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claimed {
    pub len: i64,
    pub head: Vec<u8>,
    pub ops: Option<i64>,
    pub version: Option<BTreeMap<ActorId, u64>>,
}

/// What a sound chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub entries: u64,
    pub ops: u64,
    /// The last entry's hash ([`GENESIS`] when empty).
    pub head: Hash,
    /// The last sequence number of each actor.
    pub version: BTreeMap<ActorId, u64>,
    pub seals: Seals,
}

/// Why an entry is bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    /// The entry found where `position` was due has another position: an entry is missing
    /// (deleted), repeated or moved.
    #[error("expected the entry at position {expected}, found position {found}")]
    OutOfPlace { expected: i64, found: i64 },
    /// The stored hash is not the hash of this entry after the previous one: the entry's
    /// columns, its body or an earlier entry were changed, or entries were reordered.
    #[error("the stored hash does not match the entry and the previous hash")]
    HashMismatch,
    /// The body does not decode as a change.
    #[error("the body is not a change: {0}")]
    Undecodable(String),
    /// The actor, start or end column disagrees with the body.
    #[error("the actor/start/end columns disagree with the body")]
    ColumnsDisagree,
    /// The actor's changes do not follow one another (`expected` is the next sequence number).
    #[error("actor {actor}'s change starts at {start}, expected {expected}")]
    SequenceGap {
        actor: ActorId,
        start: u64,
        expected: u64,
    },
    /// No key is known for the actor.
    #[error("no public key for device {0}")]
    UnknownDevice(ActorId),
    /// The actor's stored key is not an ed25519 public key.
    #[error("device {0}'s stored public key is not a valid key")]
    BadKey(ActorId),
    /// The signature does not verify with the actor's key over this document.
    #[error("the signature does not verify with device {0}'s key")]
    BadSignature(ActorId),
    /// The document row's chain length or head hash is not the chain's: entries at the end
    /// were removed (or the row edited).
    #[error("the document claims {claimed} entries and another head; the log has {found}")]
    HeadMismatch { claimed: i64, found: u64 },
    /// The document row counts other operations than the log holds.
    #[error("the document counts {claimed} operations; the log holds {found}")]
    OpsMismatch { claimed: i64, found: u64 },
    /// The document row's version vector is not the log's.
    #[error("the document's version vector is not the log's")]
    VersionMismatch,
    /// The store holds rows of the document that are not in its chain (two rows at one
    /// position, with the index that forbids it dropped).
    #[error("the store holds {rows} rows of the document; its chain has {chained}")]
    UnchainedRows { rows: u64, chained: u64 },
    /// The log is shorter than a chain seen before (a checkpoint: an earlier export's head).
    #[error("the log has {found} entries, fewer than the {checkpoint} seen before")]
    BehindCheckpoint { checkpoint: i64, found: u64 },
    /// The entry at a checkpoint's last position is not the one seen before: the log was
    /// rewritten since.
    #[error("the entry is not the one a checkpoint saw here: the log was rewritten")]
    NotTheCheckpoint,
    /// The entry's seal is not the server key's seal of this position and hash: entries
    /// up to here were deleted, inserted or reordered and re-hashed, the seal was forged,
    /// or the key is not the one that sealed.
    #[error("the server's seal does not verify for this position and hash")]
    BadSeal,
    /// The chain's last entry is not sealed (`last_seal`: the last sealed position, if any):
    /// entries after it were added or rewritten without the server's key.
    #[error("unsealed tail: the last entry is not sealed (last seal at position {last_seal})")]
    UnsealedTail { last_seal: i64 },
    /// The entry was received after its device was revoked.
    #[error(
        "device {actor}'s change was received at {received_at}, after its revocation at {revoked_at}"
    )]
    AfterRevocation {
        actor: ActorId,
        revoked_at: i64,
        received_at: i64,
    },
}

/// The first bad entry of a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{directive}/{unit} position {position}: {why}")]
pub struct BadEntry {
    pub directive: String,
    pub unit: String,
    pub position: i64,
    pub why: Why,
}

/// Re-check a document's log, `entries` in the order read (by position): positions 0, 1, 2,
/// …; each stored hash the hash of its entry after the previous one; each body a change
/// whose actor, start and end are the columns', following the actor's previous change, and
/// signed by the actor's key (`keys`: the stored public key bytes per device) over the
/// document's fingerprint. Then, when given, what the document row claims. Returns the first
/// bad entry; never panics. [`ChainVerifier`] does the same an entry at a time.
pub fn verify_chain(
    doc: &ChainDoc,
    entries: &[Entry],
    keys: &BTreeMap<ActorId, Vec<u8>>,
    claimed: Option<&Claimed>,
) -> Result<ChainSummary, BadEntry> {
    let mut v = ChainVerifier::new(doc, keys);
    for e in entries {
        v.push(e)?;
    }
    v.finish(claimed)
}

/// [`verify_chain`] with `trust`: every seal checked with its server key and the last entry
/// sealed, no entry received after its device's revocation.
pub fn verify_chain_trusted(
    doc: &ChainDoc,
    entries: &[Entry],
    keys: &BTreeMap<ActorId, Vec<u8>>,
    trust: &Trust,
    claimed: Option<&Claimed>,
) -> Result<ChainSummary, BadEntry> {
    let mut v = ChainVerifier::trusting(doc, keys, trust);
    for e in entries {
        v.push(e)?;
    }
    v.finish(claimed)
}

/// [`verify_chain`] an entry at a time, so that a long log is read in pages.
#[derive(Debug)]
pub struct ChainVerifier<'a> {
    doc: &'a ChainDoc,
    keys: &'a BTreeMap<ActorId, Vec<u8>>,
    parsed: BTreeMap<ActorId, Result<VerifyingKey, Why>>,
    prev: Hash,
    next: i64,
    version: BTreeMap<ActorId, u64>,
    ops: u64,
    trust: &'a Trust,
    last_sealed: Option<i64>,
}

impl<'a> ChainVerifier<'a> {
    /// A verifier that checks no seals and no revocations.
    pub fn new(doc: &'a ChainDoc, keys: &'a BTreeMap<ActorId, Vec<u8>>) -> Self {
        Self::trusting(doc, keys, &NO_TRUST)
    }

    /// A verifier that also checks the seals with `trust`'s server key (when it has one) and
    /// the entries' times against the devices' revocations.
    pub fn trusting(
        doc: &'a ChainDoc,
        keys: &'a BTreeMap<ActorId, Vec<u8>>,
        trust: &'a Trust,
    ) -> Self {
        Self {
            doc,
            keys,
            trust,
            last_sealed: None,
            parsed: BTreeMap::new(),
            prev: GENESIS,
            next: 0,
            version: BTreeMap::new(),
            ops: 0,
        }
    }

    fn bad(&self, position: i64, why: Why) -> BadEntry {
        BadEntry {
            directive: self.doc.directive.clone(),
            unit: self.doc.unit.clone(),
            position,
            why,
        }
    }

    /// The entries checked so far.
    pub fn entries(&self) -> i64 {
        self.next
    }

    /// Check the next entry. After an `Err`, the verifier is not to be used further.
    pub fn push(&mut self, e: &Entry) -> Result<(), BadEntry> {
        let expected = self.next;
        if e.position != expected {
            return Err(self.bad(
                expected,
                Why::OutOfPlace {
                    expected,
                    found: e.position,
                },
            ));
        }
        let hash = entry_hash(&self.prev, &e.link(self.doc));
        if e.hash.as_slice() != hash.as_slice() {
            return Err(self.bad(expected, Why::HashMismatch));
        }
        let change = wire::decode_change(&e.body)
            .map_err(|err| self.bad(expected, Why::Undecodable(err.to_string())))?;
        let columns_agree = u32::try_from(e.actor).ok() == Some(change.actor)
            && u64::try_from(e.start).ok() == Some(change.start)
            && u64::try_from(e.end).ok() == Some(change.end())
            && !change.ops.is_empty();
        if !columns_agree {
            return Err(self.bad(expected, Why::ColumnsDisagree));
        }
        let next = self
            .version
            .get(&change.actor)
            .copied()
            .unwrap_or(0)
            .saturating_add(1);
        if change.start != next {
            return Err(self.bad(
                expected,
                Why::SequenceGap {
                    actor: change.actor,
                    start: change.start,
                    expected: next,
                },
            ));
        }
        let keys = self.keys;
        let key = self
            .parsed
            .entry(change.actor)
            .or_insert_with(|| parse_key(change.actor, keys));
        let verdict = match key {
            Ok(key) => (!change.verify(self.doc.fingerprint, key))
                .then_some(Why::BadSignature(change.actor)),
            Err(why) => Some(why.clone()),
        };
        if let Some(why) = verdict {
            return Err(self.bad(expected, why));
        }
        if let Some(&revoked_at) = self.trust.revoked.get(&change.actor)
            && e.received_at > revoked_at
        {
            return Err(self.bad(
                expected,
                Why::AfterRevocation {
                    actor: change.actor,
                    revoked_at,
                    received_at: e.received_at,
                },
            ));
        }
        if let (Some(key), Some(seal)) = (&self.trust.server_key, &e.seal) {
            if !verify_seal(
                key,
                &self.doc.directive,
                &self.doc.unit,
                expected,
                &hash,
                seal,
            ) {
                return Err(self.bad(expected, Why::BadSeal));
            }
            self.last_sealed = Some(expected);
        }
        self.version.insert(change.actor, change.end());
        self.ops = self.ops.saturating_add(change.ops.len() as u64);
        self.prev = hash;
        self.next = self.next.saturating_add(1);
        Ok(())
    }

    /// What the checked chain holds, checked against what the document row claims.
    pub fn finish(self, claimed: Option<&Claimed>) -> Result<ChainSummary, BadEntry> {
        let len = self.next;
        if let Some(c) = claimed {
            if c.len != len || c.head.as_slice() != self.prev.as_slice() {
                return Err(self.bad(
                    c.len.min(len),
                    Why::HeadMismatch {
                        claimed: c.len,
                        found: len.unsigned_abs(),
                    },
                ));
            }
            if let Some(claimed_ops) = c.ops
                && u64::try_from(claimed_ops).ok() != Some(self.ops)
            {
                return Err(self.bad(
                    len,
                    Why::OpsMismatch {
                        claimed: claimed_ops,
                        found: self.ops,
                    },
                ));
            }
            if let Some(v) = &c.version {
                let nonzero: BTreeMap<ActorId, u64> = v
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(a, n)| (*a, *n))
                    .collect();
                if nonzero != self.version {
                    return Err(self.bad(len, Why::VersionMismatch));
                }
            }
        }
        let seals = match (&self.trust.server_key, self.last_sealed) {
            (None, _) => Seals::NotChecked,
            (Some(_), _) if len == 0 => Seals::Sound,
            (Some(_), Some(p)) if p == len - 1 => Seals::Sound,
            (Some(_), Some(p)) => {
                return Err(self.bad(len - 1, Why::UnsealedTail { last_seal: p }));
            }
            (Some(_), None) => Seals::NeverSealed,
        };
        Ok(ChainSummary {
            entries: len.unsigned_abs(),
            ops: self.ops,
            head: self.prev,
            version: self.version,
            seals,
        })
    }
}

/// Check that a document's log extends a chain seen before: `len` entries ending with the
/// hash `head` (an earlier export's `chain_len` and `chain_head`), given the log's length
/// and the hash it stores at position `len - 1` (`None` when it does not reach it). With
/// [`verify_chain`], this is what shows entries removed from the end together with every
/// claim of the document row.
pub fn check_checkpoint(
    doc: &ChainDoc,
    found: u64,
    hash_there: Option<&[u8]>,
    len: i64,
    head: &[u8],
) -> Result<(), BadEntry> {
    let bad = |position: i64, why: Why| BadEntry {
        directive: doc.directive.clone(),
        unit: doc.unit.clone(),
        position,
        why,
    };
    if len <= 0 {
        return Ok(());
    }
    match hash_there {
        _ if found < len.unsigned_abs() => Err(bad(
            i64::try_from(found).unwrap_or(i64::MAX),
            Why::BehindCheckpoint {
                checkpoint: len,
                found,
            },
        )),
        Some(h) if h == head => Ok(()),
        _ => Err(bad(len - 1, Why::NotTheCheckpoint)),
    }
}

/// The positions whose hashes [`check_checkpoint`] needs for checkpoints of these lengths.
pub fn checkpoint_position(len: i64) -> Option<i64> {
    (len > 0).then(|| len - 1)
}

fn parse_key(actor: ActorId, keys: &BTreeMap<ActorId, Vec<u8>>) -> Result<VerifyingKey, Why> {
    let bytes = keys.get(&actor).ok_or(Why::UnknownDevice(actor))?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Why::BadKey(actor))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| Why::BadKey(actor))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        doc::{Op, TaskRef},
        sync::{Change, signing_key},
    };

    const FP: u64 = 0x5eed;

    fn doc() -> ChainDoc {
        ChainDoc {
            directive: "05-ct-btttt".into(),
            unit: "so-tttt".into(),
            fingerprint: FP,
        }
    }

    fn op(n: u64) -> Op {
        Op::Comment {
            task: TaskRef::Assigned(0),
            text: format!("ghi chú {n}"),
            at: 1_700_000_000,
        }
    }

    /// A sound log: `changes` (actor, number of ops) signed by keys made from the actor id.
    fn log(changes: &[(ActorId, usize)]) -> (Vec<Entry>, BTreeMap<ActorId, Vec<u8>>) {
        let d = doc();
        let mut keys = BTreeMap::new();
        let mut next: BTreeMap<ActorId, u64> = BTreeMap::new();
        let mut prev = GENESIS;
        let mut out = Vec::new();
        for (i, (actor, n)) in changes.iter().enumerate() {
            let key = signing_key(&[u8::try_from(*actor % 251).unwrap_or(0) + 1; 32]);
            keys.insert(*actor, key.verifying_key().to_bytes().to_vec());
            let start = *next.get(actor).unwrap_or(&1);
            let ops = (0..*n as u64).map(op).collect();
            let c = Change::sign(FP, *actor, start, ops, &key);
            next.insert(*actor, c.end() + 1);
            let body = wire::encode_change(&c);
            let mut e = Entry {
                position: i as i64,
                actor: i64::from(*actor),
                start: c.start as i64,
                end: c.end() as i64,
                received_at: 1_700_000_000 + i as i64,
                body,
                hash: Vec::new(),
                seal: None,
            };
            prev = entry_hash(&prev, &e.link(&d));
            e.hash = prev.to_vec();
            out.push(e);
        }
        (out, keys)
    }

    fn claimed_of(s: &ChainSummary) -> Claimed {
        Claimed {
            len: s.entries as i64,
            head: s.head.to_vec(),
            ops: Some(s.ops as i64),
            version: Some(s.version.clone()),
        }
    }

    #[test]
    fn a_sound_log_verifies_and_sums_its_operations() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let s =
            verify_chain(&doc(), &entries, &keys, None).unwrap_or_else(|e| panic!("sound: {e}"));
        assert_eq!(s.entries, 3);
        assert_eq!(s.ops, 6);
        assert_eq!(s.version, BTreeMap::from([(1, 5), (2, 1)]));
        assert_eq!(s.head.as_slice(), entries[2].hash.as_slice());
        assert!(verify_chain(&doc(), &entries, &keys, Some(&claimed_of(&s))).is_ok());
    }

    #[test]
    fn an_empty_log_is_sound_with_the_genesis_head() {
        let s = verify_chain(&doc(), &[], &BTreeMap::new(), None)
            .unwrap_or_else(|e| panic!("empty: {e}"));
        assert_eq!(s.head, GENESIS);
        let claimed = Claimed {
            len: 0,
            head: GENESIS.to_vec(),
            ops: Some(0),
            version: None,
        };
        assert!(verify_chain(&doc(), &[], &BTreeMap::new(), Some(&claimed)).is_ok());
    }

    fn why(r: Result<ChainSummary, BadEntry>) -> (i64, Why) {
        let Err(e) = r else { panic!("must be bad") };
        (e.position, e.why)
    }

    #[test]
    fn an_edited_body_is_a_hash_mismatch_at_its_position() {
        let (mut entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let last = entries[1].body.len() - 1;
        entries[1].body[last] ^= 1;
        assert_eq!(
            why(verify_chain(&doc(), &entries, &keys, None)),
            (1, Why::HashMismatch)
        );
    }

    #[test]
    fn a_rehashed_forgery_fails_its_signature() {
        let (mut entries, keys) = log(&[(1, 2), (2, 1)]);
        let last = entries[1].body.len() - 1;
        entries[1].body[last] ^= 1;
        let d = doc();
        entries[1].hash = entry_hash(
            &entries[0]
                .hash
                .clone()
                .try_into()
                .unwrap_or_else(|_| panic!("32 bytes")),
            &entries[1].link(&d),
        )
        .to_vec();
        assert_eq!(
            why(verify_chain(&d, &entries, &keys, None)),
            (1, Why::BadSignature(2))
        );
    }

    #[test]
    fn a_deleted_entry_leaves_a_position_out_of_place() {
        let (mut entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        entries.remove(1);
        assert_eq!(
            why(verify_chain(&doc(), &entries, &keys, None)),
            (
                1,
                Why::OutOfPlace {
                    expected: 1,
                    found: 2
                }
            )
        );
    }

    #[test]
    fn swapped_positions_are_a_hash_mismatch_at_the_first() {
        let (mut entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        entries.swap(0, 2);
        entries[0].position = 0;
        entries[2].position = 2;
        assert_eq!(
            why(verify_chain(&doc(), &entries, &keys, None)),
            (0, Why::HashMismatch)
        );
    }

    #[test]
    fn a_replaced_key_fails_the_first_signature_of_its_device() {
        let (entries, mut keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        keys.insert(
            2,
            signing_key(&[200; 32]).verifying_key().to_bytes().to_vec(),
        );
        assert_eq!(
            why(verify_chain(&doc(), &entries, &keys, None)),
            (1, Why::BadSignature(2))
        );
        keys.insert(2, vec![1, 2, 3]);
        assert_eq!(
            why(verify_chain(&doc(), &entries, &keys, None)),
            (1, Why::BadKey(2))
        );
        keys.remove(&2);
        assert_eq!(
            why(verify_chain(&doc(), &entries, &keys, None)),
            (1, Why::UnknownDevice(2))
        );
    }

    #[test]
    fn columns_that_disagree_with_the_body_are_caught_even_rehashed() {
        let (mut entries, keys) = log(&[(1, 2)]);
        entries[0].end = 5;
        let d = doc();
        entries[0].hash = entry_hash(&GENESIS, &entries[0].link(&d)).to_vec();
        assert_eq!(
            why(verify_chain(&d, &entries, &keys, None)),
            (0, Why::ColumnsDisagree)
        );
    }

    #[test]
    fn a_truncated_tail_shows_against_the_claimed_head_ops_and_version() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let full =
            verify_chain(&doc(), &entries, &keys, None).unwrap_or_else(|e| panic!("sound: {e}"));
        let claimed = claimed_of(&full);
        let short = &entries[..2];
        assert_eq!(
            why(verify_chain(&doc(), short, &keys, Some(&claimed))),
            (
                2,
                Why::HeadMismatch {
                    claimed: 3,
                    found: 2
                }
            )
        );
        // The head moved back too: the operations counted still show it.
        let partial = verify_chain(&doc(), short, &keys, None)
            .unwrap_or_else(|e| panic!("a prefix is sound: {e}"));
        let moved = Claimed {
            len: 2,
            head: partial.head.to_vec(),
            ..claimed.clone()
        };
        assert_eq!(
            why(verify_chain(&doc(), short, &keys, Some(&moved))),
            (
                2,
                Why::OpsMismatch {
                    claimed: 6,
                    found: 3
                }
            )
        );
        let moved = Claimed {
            ops: Some(3),
            ..moved
        };
        assert_eq!(
            why(verify_chain(&doc(), short, &keys, Some(&moved))),
            (2, Why::VersionMismatch)
        );
        // Everything moved back: a prefix of a sound chain is a sound chain.
        assert!(verify_chain(&doc(), short, &keys, Some(&claimed_of(&partial))).is_ok());
    }

    #[test]
    fn a_checkpoint_shows_a_tail_removed_with_every_claim() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let check = |entries: &[Entry], len: i64, head: &[u8]| {
            let there = checkpoint_position(len)
                .and_then(|p| usize::try_from(p).ok())
                .and_then(|p| entries.get(p))
                .map(|e| e.hash.as_slice());
            check_checkpoint(&doc(), entries.len() as u64, there, len, head)
                .map_err(|e| (e.position, e.why))
        };
        let seen =
            verify_chain(&doc(), &entries, &keys, None).unwrap_or_else(|e| panic!("sound: {e}"));
        let head = seen.head.to_vec();
        assert_eq!(check(&entries, 3, &head), Ok(()));
        assert_eq!(
            check(&entries[..2], 3, &head),
            Err((
                2,
                Why::BehindCheckpoint {
                    checkpoint: 3,
                    found: 2
                }
            ))
        );
        let earlier = entries[1].hash.clone();
        assert_eq!(
            check(&entries, 2, &earlier),
            Ok(()),
            "a longer log extends it"
        );
        assert_eq!(check(&entries, 2, &head), Err((1, Why::NotTheCheckpoint)));
        assert_eq!(check(&[], 0, &GENESIS), Ok(()));
    }

    #[test]
    fn another_document_or_fingerprint_breaks_the_chain() {
        let (entries, keys) = log(&[(1, 2)]);
        let other = ChainDoc {
            unit: "so-khac".into(),
            ..doc()
        };
        assert_eq!(
            why(verify_chain(&other, &entries, &keys, None)),
            (0, Why::HashMismatch)
        );
        let refingered = ChainDoc {
            fingerprint: FP + 1,
            ..doc()
        };
        assert_eq!(
            why(verify_chain(&refingered, &entries, &keys, None)),
            (0, Why::BadSignature(1))
        );
    }

    #[test]
    fn the_hash_is_length_prefixed() {
        let a = Link {
            directive: "ab",
            unit: "c",
            position: 0,
            actor: 1,
            start: 1,
            end: 1,
            received_at: 0,
            body: b"x",
        };
        let b = Link {
            directive: "a",
            unit: "bc",
            ..a
        };
        assert_ne!(entry_hash(&GENESIS, &a), entry_hash(&GENESIS, &b));
    }

    fn server() -> SigningKey {
        signing_key(&[0x5a; 32])
    }

    fn trust() -> Trust {
        Trust {
            server_key: Some(server().verifying_key()),
            revoked: BTreeMap::new(),
        }
    }

    /// Seal the entries at `at` (the last of each write batch) as the server does.
    fn sealed(mut entries: Vec<Entry>, at: &[usize]) -> Vec<Entry> {
        let d = doc();
        for &i in at {
            let e = &mut entries[i];
            let hash: Hash = e.hash.as_slice().try_into().unwrap_or(GENESIS);
            e.seal = Some(seal(&server(), &d.directive, &d.unit, e.position, &hash).to_vec());
        }
        entries
    }

    /// What an attacker with the database does: renumber and re-hash every entry.
    fn rehashed(mut entries: Vec<Entry>) -> Vec<Entry> {
        let d = doc();
        let mut prev = GENESIS;
        for (i, e) in entries.iter_mut().enumerate() {
            e.position = i as i64;
            prev = entry_hash(&prev, &e.link(&d));
            e.hash = prev.to_vec();
        }
        entries
    }

    #[test]
    fn a_sealed_chain_is_sound_and_unsealed_entries_a_later_seal_covers_are_accepted() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3), (2, 2)]);
        let entries = sealed(entries, &[1, 3]);
        let s = verify_chain_trusted(&doc(), &entries, &keys, &trust(), None)
            .unwrap_or_else(|e| panic!("sound: {e}"));
        assert_eq!(s.seals, Seals::Sound);
        let s = verify_chain(&doc(), &entries, &keys, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.seals, Seals::NotChecked, "no key, no seal checked");
    }

    #[test]
    fn a_middle_entry_deleted_and_the_rest_rehashed_breaks_the_next_seal() {
        // Device 2's last change deleted: no sequence gap, every hash recomputed.
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3), (1, 1)]);
        let mut forged = sealed(entries, &[1, 2, 3]);
        forged.remove(1);
        let forged = rehashed(forged);
        assert!(
            verify_chain(&doc(), &forged, &keys, None).is_ok(),
            "the chain alone holds"
        );
        assert_eq!(
            why(verify_chain_trusted(&doc(), &forged, &keys, &trust(), None)),
            (1, Why::BadSeal)
        );
    }

    #[test]
    fn two_entries_reordered_and_rehashed_break_a_seal() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let mut forged = sealed(entries, &[0, 1, 2]);
        forged.swap(0, 1);
        let forged = rehashed(forged);
        assert_eq!(
            why(verify_chain_trusted(&doc(), &forged, &keys, &trust(), None)),
            (0, Why::BadSeal)
        );
    }

    #[test]
    fn a_forged_seal_or_another_server_key_is_a_bad_seal() {
        let (entries, keys) = log(&[(1, 2), (2, 1)]);
        let mut entries = sealed(entries, &[1]);
        let other = Trust {
            server_key: Some(signing_key(&[0x77; 32]).verifying_key()),
            ..Trust::default()
        };
        assert_eq!(
            why(verify_chain_trusted(&doc(), &entries, &keys, &other, None)),
            (1, Why::BadSeal)
        );
        entries[1].seal = Some(vec![0; SEAL_LEN]);
        assert_eq!(
            why(verify_chain_trusted(
                &doc(),
                &entries,
                &keys,
                &trust(),
                None
            )),
            (1, Why::BadSeal)
        );
        entries[1].seal = Some(vec![1, 2, 3]);
        assert_eq!(
            why(verify_chain_trusted(
                &doc(),
                &entries,
                &keys,
                &trust(),
                None
            )),
            (1, Why::BadSeal)
        );
    }

    #[test]
    fn an_unsealed_tail_is_found_and_a_chain_never_sealed_is_not_sound() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let tail = sealed(entries.clone(), &[0]);
        assert_eq!(
            why(verify_chain_trusted(&doc(), &tail, &keys, &trust(), None)),
            (2, Why::UnsealedTail { last_seal: 0 })
        );
        let s = verify_chain_trusted(&doc(), &entries, &keys, &trust(), None)
            .unwrap_or_else(|e| panic!("consistent: {e}"));
        assert_eq!(s.seals, Seals::NeverSealed);
        let s = verify_chain_trusted(&doc(), &[], &keys, &trust(), None)
            .unwrap_or_else(|e| panic!("empty: {e}"));
        assert_eq!(s.seals, Seals::Sound, "nothing to seal");
    }

    #[test]
    fn whole_trailing_batches_removed_leave_a_sealed_prefix() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let entries = sealed(entries, &[1, 2]);
        let s = verify_chain_trusted(&doc(), &entries[..2], &keys, &trust(), None)
            .unwrap_or_else(|e| panic!("a sealed prefix: {e}"));
        assert_eq!(
            s.seals,
            Seals::Sound,
            "undetectable without an earlier head"
        );
    }

    #[test]
    fn an_entry_received_after_its_device_was_revoked_is_flagged() {
        let (entries, keys) = log(&[(1, 2), (2, 1), (1, 3)]);
        let mut t = Trust {
            revoked: BTreeMap::from([(1, entries[0].received_at)]),
            ..Trust::default()
        };
        assert_eq!(
            why(verify_chain_trusted(&doc(), &entries, &keys, &t, None)),
            (
                2,
                Why::AfterRevocation {
                    actor: 1,
                    revoked_at: entries[0].received_at,
                    received_at: entries[2].received_at
                }
            )
        );
        t.revoked.insert(1, entries[2].received_at);
        assert!(
            verify_chain_trusted(&doc(), &entries, &keys, &t, None).is_ok(),
            "received at the second of its revocation: accepted"
        );
    }

    #[test]
    fn the_seal_message_is_length_prefixed_and_covers_position_and_hash() {
        assert_ne!(
            seal_message("ab", "c", 0, &GENESIS),
            seal_message("a", "bc", 0, &GENESIS)
        );
        assert_ne!(
            seal_message("a", "b", 0, &GENESIS),
            seal_message("a", "b", 1, &GENESIS)
        );
        assert_ne!(
            seal_message("a", "b", 0, &GENESIS),
            seal_message("a", "b", 0, &[1; 32])
        );
        let s = seal(&server(), "a", "b", 3, &GENESIS);
        let key = server().verifying_key();
        assert!(verify_seal(&key, "a", "b", 3, &GENESIS, &s));
        assert!(!verify_seal(&key, "a", "b", 4, &GENESIS, &s));
    }

    #[derive(Debug, Clone)]
    enum Tamper {
        /// Flip bits of one byte of one entry's body or hash.
        Byte {
            entry: usize,
            at: usize,
            mask: u8,
            hash: bool,
        },
        /// Change one integer column.
        Column {
            entry: usize,
            which: u8,
            delta: i64,
        },
        Delete(usize),
        Swap(usize, usize),
    }

    fn tamper() -> impl Strategy<Value = Tamper> {
        prop_oneof![
            (any::<usize>(), any::<usize>(), 1u8.., any::<bool>()).prop_map(
                |(entry, at, mask, hash)| Tamper::Byte {
                    entry,
                    at,
                    mask,
                    hash
                }
            ),
            (
                any::<usize>(),
                0u8..5,
                prop_oneof![Just(1i64), Just(-1), any::<i64>()]
            )
                .prop_filter("a change", |(_, _, d)| *d != 0)
                .prop_map(|(entry, which, delta)| Tamper::Column {
                    entry,
                    which,
                    delta
                }),
            any::<usize>().prop_map(Tamper::Delete),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap(a, b)),
        ]
    }

    proptest! {
        /// Any single edit of a stored entry (a byte of a body or hash, a column), a deleted
        /// entry or two entries swapped (positions renumbered to look in order) is caught,
        /// against the document's claimed head.
        #[test]
        fn any_single_tamper_is_caught(
            shape in proptest::collection::vec((1u32..4, 1usize..4), 1..8),
            t in tamper(),
        ) {
            let (mut entries, keys) = log(&shape);
            let full = verify_chain(&doc(), &entries, &keys, None).unwrap_or_else(|e| panic!("sound: {e}"));
            let claimed = claimed_of(&full);
            let n = entries.len();
            // Where the first bad entry is: the edited one, the first one after a deletion
            // (a deleted last entry is found by the document's claims instead), the first of
            // two swapped.
            let due = match t {
                Tamper::Byte { entry, .. } | Tamper::Column { entry, .. } => Some(entry % n),
                Tamper::Delete(i) if i % n == n - 1 => None,
                Tamper::Delete(i) => Some(i % n),
                Tamper::Swap(a, b) => Some((a % n).min(b % n)),
            };
            match t {
                Tamper::Byte { entry, at, mask, hash } => {
                    let e = &mut entries[entry % n];
                    let bytes = if hash { &mut e.hash } else { &mut e.body };
                    let i = at % bytes.len();
                    bytes[i] ^= mask;
                }
                Tamper::Column { entry, which, delta } => {
                    let e = &mut entries[entry % n];
                    let c = match which {
                        0 => &mut e.position,
                        1 => &mut e.actor,
                        2 => &mut e.start,
                        3 => &mut e.end,
                        _ => &mut e.received_at,
                    };
                    *c = c.wrapping_add(delta);
                }
                Tamper::Delete(i) => {
                    entries.remove(i % n);
                }
                Tamper::Swap(a, b) => {
                    prop_assume!(n > 1 && a % n != b % n);
                    entries.swap(a % n, b % n);
                    for (i, e) in entries.iter_mut().enumerate() {
                        e.position = i as i64;
                    }
                }
            }
            let found = verify_chain(&doc(), &entries, &keys, Some(&claimed));
            prop_assert!(found.is_err());
            if let (Err(bad), Some(at)) = (found, due) {
                prop_assert_eq!(bad.position, at as i64, "{:?}", bad.why);
            }
        }

        /// Any bytes at all: no panic.
        #[test]
        fn arbitrary_entries_never_panic(
            raw in proptest::collection::vec(
                (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>(),
                 proptest::collection::vec(any::<u8>(), 0..64),
                 proptest::collection::vec(any::<u8>(), 0..40)),
                0..6),
            key in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let entries: Vec<Entry> = raw
                .into_iter()
                .map(|(position, actor, start, end, received_at, body, hash)| Entry {
                    position, actor, start, end, received_at, body, hash, seal: None,
                })
                .collect();
            let keys = BTreeMap::from([(1, key)]);
            let _ = verify_chain(&doc(), &entries, &keys, Some(&Claimed::default()));
        }
    }
}
