//! The binary wire format: a format-version byte, a message-kind byte, then postcard.
//!
//! Decoding untrusted bytes never panics and allocates at most in proportion to the input,
//! which is itself limited ([`MAX_MESSAGE_BYTES`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use thiserror::Error;

use super::change::Change;
use crate::doc::{ActorId, CanonicalDoc, CanonicalReg, CanonicalTask, DocHeader, OpId};

/// The version of the encoding this build writes for a document's state: snapshots, and
/// answers (which may carry one). Version 2 (decision 39) added the Ministry Office's
/// registers and urges to a task's state; version 3 (decision 44) a revision's assignment
/// register and the clause of a task a revision added; version 4 (decision 46) a document's
/// call-record verifications. A message is written in the oldest version that carries it
/// (a snapshot without verifications, and every answer but one carrying such a snapshot, in
/// version 3), so a phone that reads version 3 keeps syncing until its document holds a
/// verification. A reader takes versions 1 to 4 of every kind and refuses any other.
pub const FORMAT_VERSION: u8 = 4;
/// The version a document's state without verifications is written in.
const STATE_V3: u8 = 3;
/// The version changes, requests and version vectors are written in: their bytes are the
/// same in every version, and a change's stored bytes are what the op log hashes and a
/// resend is compared with, so they stay as they were.
pub const CHANGE_FORMAT_VERSION: u8 = 1;
/// The versions a reader takes.
const READS: [u8; 4] = [1, 2, 3, 4];
/// The largest message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// The most changes one sync request may carry: a server refuses more (each change it holds
/// costs a lookup in the writer's transaction), and a phone sends at most a quarter of it.
pub const MAX_REQUEST_CHANGES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Change = 1,
    Request = 2,
    Response = 3,
    Snapshot = 4,
    Version = 5,
    /// Several documents' requests in one round trip (issue 21).
    BatchRequest = 6,
    BatchResponse = 7,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {size} bytes; at most {limit} are accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("unknown format version {0} (this build reads versions 1 to {FORMAT_VERSION})")]
    Version(u8),
    #[error("expected a {expected} message")]
    Kind { expected: &'static str },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{0} bytes left over after the message")]
    Trailing(usize),
}

/// Which document a sync is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocKey {
    pub directive: String,
    pub unit: String,
}

/// A peer's half of the round trip: what it has, and the changes the other side lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub doc: DocKey,
    /// The header fingerprint: both sides must agree on the document's tasks.
    pub fingerprint: u64,
    pub vv: BTreeMap<ActorId, u64>,
    pub changes: Vec<Change>,
}

/// The answer: what the requester lacks, as changes or, when smaller, a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub vv: BTreeMap<ActorId, u64>,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Changes(Vec<Change>),
    Snapshot(Box<CanonicalDoc>),
}

/// A task's state as format version 1 wrote it: without the Ministry Office's registers.
#[derive(Deserialize)]
struct CanonicalTaskV1 {
    parent: Option<crate::doc::TaskRef>,
    created: bool,
    status: CanonicalReg<crate::doc::Status>,
    progress: CanonicalReg<u8>,
    assignee: CanonicalReg<String>,
    due: CanonicalReg<Option<crate::doc::Day>>,
    notes: CanonicalReg<String>,
    title: CanonicalReg<String>,
    removed: CanonicalReg<bool>,
    comments: BTreeMap<OpId, (String, i64)>,
    evidence: BTreeMap<OpId, crate::doc::Evidence>,
}

/// A document's state as format version 1 wrote it.
#[derive(Deserialize)]
struct CanonicalDocV1 {
    header: DocHeader,
    vv: BTreeMap<ActorId, u64>,
    tasks: BTreeMap<crate::doc::TaskRef, CanonicalTaskV1>,
    confirmations: BTreeMap<
        OpId,
        (
            Option<crate::doc::Confirmation>,
            CanonicalReg<crate::doc::ConfirmationState>,
        ),
    >,
    reports: BTreeMap<OpId, crate::doc::Report>,
}

impl From<CanonicalDocV1> for CanonicalDoc {
    fn from(d: CanonicalDocV1) -> Self {
        CanonicalDocV2::from(d).into()
    }
}

/// Version 1 as version 2: without the Ministry Office's registers and urges.
impl From<CanonicalDocV1> for CanonicalDocV2 {
    fn from(d: CanonicalDocV1) -> Self {
        let tasks = d
            .tasks
            .into_iter()
            .map(|(r, t)| {
                let task = CanonicalTaskV2 {
                    parent: t.parent,
                    created: t.created,
                    status: t.status,
                    progress: t.progress,
                    assignee: t.assignee,
                    due: t.due,
                    notes: t.notes,
                    title: t.title,
                    removed: t.removed,
                    comments: t.comments,
                    evidence: t.evidence,
                    deadline: Vec::new(),
                    review: Vec::new(),
                    urges: BTreeMap::new(),
                };
                (r, task)
            })
            .collect();
        CanonicalDocV2 {
            header: d.header,
            vv: d.vv,
            tasks,
            confirmations: d.confirmations,
            reports: d.reports,
        }
    }
}

/// A task's state as format version 2 wrote it: without a revision's register and clause.
#[derive(Deserialize)]
struct CanonicalTaskV2 {
    parent: Option<crate::doc::TaskRef>,
    created: bool,
    status: CanonicalReg<crate::doc::Status>,
    progress: CanonicalReg<u8>,
    assignee: CanonicalReg<String>,
    due: CanonicalReg<Option<crate::doc::Day>>,
    notes: CanonicalReg<String>,
    title: CanonicalReg<String>,
    removed: CanonicalReg<bool>,
    comments: BTreeMap<OpId, (String, i64)>,
    evidence: BTreeMap<OpId, crate::doc::Evidence>,
    deadline: CanonicalReg<Option<crate::doc::Day>>,
    review: CanonicalReg<crate::doc::Review>,
    urges: BTreeMap<OpId, crate::doc::Urge>,
}

/// A document's state as format version 2 wrote it.
#[derive(Deserialize)]
struct CanonicalDocV2 {
    header: DocHeader,
    vv: BTreeMap<ActorId, u64>,
    tasks: BTreeMap<crate::doc::TaskRef, CanonicalTaskV2>,
    confirmations: BTreeMap<
        OpId,
        (
            Option<crate::doc::Confirmation>,
            CanonicalReg<crate::doc::ConfirmationState>,
        ),
    >,
    reports: BTreeMap<OpId, crate::doc::Report>,
}

impl From<CanonicalDocV2> for CanonicalDoc {
    fn from(d: CanonicalDocV2) -> Self {
        let tasks = d
            .tasks
            .into_iter()
            .map(|(r, t)| {
                let task = CanonicalTask {
                    parent: t.parent,
                    created: t.created,
                    status: t.status,
                    progress: t.progress,
                    assignee: t.assignee,
                    due: t.due,
                    notes: t.notes,
                    title: t.title,
                    removed: t.removed,
                    comments: t.comments,
                    evidence: t.evidence,
                    deadline: t.deadline,
                    review: t.review,
                    urges: t.urges,
                    assignment: Vec::new(),
                    assigned: None,
                };
                (r, task)
            })
            .collect();
        CanonicalDoc {
            header: d.header,
            vv: d.vv,
            tasks,
            confirmations: d.confirmations,
            reports: d.reports,
            verifications: BTreeMap::new(),
        }
    }
}

type Confirmations = BTreeMap<
    OpId,
    (
        Option<crate::doc::Confirmation>,
        CanonicalReg<crate::doc::ConfirmationState>,
    ),
>;

/// A document's state as format version 3 wrote it (and writes it still when it holds no
/// verification): without the verifications.
#[derive(Serialize, Deserialize)]
struct CanonicalDocV3<H, V, T, C, R> {
    header: H,
    vv: V,
    tasks: T,
    confirmations: C,
    reports: R,
}

type OwnedDocV3 = CanonicalDocV3<
    DocHeader,
    BTreeMap<ActorId, u64>,
    BTreeMap<crate::doc::TaskRef, CanonicalTask>,
    Confirmations,
    BTreeMap<OpId, crate::doc::Report>,
>;

type BorrowedDocV3<'a> = CanonicalDocV3<
    &'a DocHeader,
    &'a BTreeMap<ActorId, u64>,
    &'a BTreeMap<crate::doc::TaskRef, CanonicalTask>,
    &'a Confirmations,
    &'a BTreeMap<OpId, crate::doc::Report>,
>;

impl From<OwnedDocV3> for CanonicalDoc {
    fn from(d: OwnedDocV3) -> Self {
        CanonicalDoc {
            header: d.header,
            vv: d.vv,
            tasks: d.tasks,
            confirmations: d.confirmations,
            reports: d.reports,
            verifications: BTreeMap::new(),
        }
    }
}

/// `d` in version 3's layout, when it holds no verification.
fn as_v3(d: &CanonicalDoc) -> Option<BorrowedDocV3<'_>> {
    d.verifications.is_empty().then_some(CanonicalDocV3 {
        header: &d.header,
        vv: &d.vv,
        tasks: &d.tasks,
        confirmations: &d.confirmations,
        reports: &d.reports,
    })
}

/// An answer's payload in version 3's layout (the variants in [`Payload`]'s order).
#[derive(Serialize, Deserialize)]
enum PayloadV3<C, D> {
    Changes(C),
    Snapshot(D),
}

#[derive(Serialize, Deserialize)]
struct SyncResponseV3<V, P> {
    vv: V,
    payload: P,
}

type OwnedResponseV3 = SyncResponseV3<BTreeMap<ActorId, u64>, PayloadV3<Vec<Change>, OwnedDocV3>>;

impl From<OwnedResponseV3> for SyncResponse {
    fn from(r: OwnedResponseV3) -> Self {
        SyncResponse {
            vv: r.vv,
            payload: match r.payload {
                PayloadV3::Changes(c) => Payload::Changes(c),
                PayloadV3::Snapshot(d) => Payload::Snapshot(Box::new(d.into())),
            },
        }
    }
}

#[derive(Deserialize)]
enum PayloadV2 {
    Changes(Vec<Change>),
    Snapshot(Box<CanonicalDocV2>),
}

#[derive(Deserialize)]
struct SyncResponseV2 {
    vv: BTreeMap<ActorId, u64>,
    payload: PayloadV2,
}

impl From<SyncResponseV2> for SyncResponse {
    fn from(r: SyncResponseV2) -> Self {
        SyncResponse {
            vv: r.vv,
            payload: match r.payload {
                PayloadV2::Changes(c) => Payload::Changes(c),
                PayloadV2::Snapshot(d) => Payload::Snapshot(Box::new((*d).into())),
            },
        }
    }
}

#[derive(Deserialize)]
enum PayloadV1 {
    Changes(Vec<Change>),
    Snapshot(Box<CanonicalDocV1>),
}

#[derive(Deserialize)]
struct SyncResponseV1 {
    vv: BTreeMap<ActorId, u64>,
    payload: PayloadV1,
}

impl From<SyncResponseV1> for SyncResponse {
    fn from(r: SyncResponseV1) -> Self {
        SyncResponse {
            vv: r.vv,
            payload: match r.payload {
                PayloadV1::Changes(c) => Payload::Changes(c),
                PayloadV1::Snapshot(d) => Payload::Snapshot(Box::new((*d).into())),
            },
        }
    }
}

/// The version a message of `kind` is written in, unless it carries a document's
/// verifications (then [`FORMAT_VERSION`]).
fn version_of(kind: Kind) -> u8 {
    match kind {
        // A batch answer lists each directive's revision since version 3.
        Kind::Snapshot | Kind::Response | Kind::BatchResponse => STATE_V3,
        Kind::Change | Kind::Request | Kind::Version | Kind::BatchRequest => CHANGE_FORMAT_VERSION,
    }
}

fn encode<T: Serialize>(kind: Kind, value: &T) -> Vec<u8> {
    encode_as(version_of(kind), kind, value)
}

fn encode_as<T: Serialize>(version: u8, kind: Kind, value: &T) -> Vec<u8> {
    let mut out = vec![version, kind as u8];
    // Serialising our own types into a Vec cannot fail.
    out.extend(postcard::to_stdvec(value).unwrap_or_default());
    out
}

fn decode<T: DeserializeOwned>(
    kind: Kind,
    name: &'static str,
    bytes: &[u8],
) -> Result<T, WireError> {
    decode_versioned::<T, T, T, T>(kind, name, bytes)
}

/// A message of `kind`: `V1`'s layout in version 1, `V2`'s in version 2, `V3`'s in version 3,
/// `T`'s in version 4.
fn decode_versioned<
    T: DeserializeOwned,
    V1: DeserializeOwned + Into<T>,
    V2: DeserializeOwned + Into<T>,
    V3: DeserializeOwned + Into<T>,
>(
    kind: Kind,
    name: &'static str,
    bytes: &[u8],
) -> Result<T, WireError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    match bytes {
        [] => Err(WireError::Empty),
        [v, ..] if !READS.contains(v) => Err(WireError::Version(*v)),
        [v, k, body @ ..] if *k == kind as u8 => {
            let (value, rest) = match *v {
                1 => postcard::take_from_bytes::<V1>(body).map(|(old, rest)| (old.into(), rest)),
                2 => postcard::take_from_bytes::<V2>(body).map(|(old, rest)| (old.into(), rest)),
                3 => postcard::take_from_bytes::<V3>(body).map(|(old, rest)| (old.into(), rest)),
                _ => postcard::take_from_bytes::<T>(body),
            }
            .map_err(|e| WireError::Malformed(e.to_string()))?;
            if rest.is_empty() {
                Ok(value)
            } else {
                Err(WireError::Trailing(rest.len()))
            }
        }
        _ => Err(WireError::Kind { expected: name }),
    }
}

pub fn encode_change(c: &Change) -> Vec<u8> {
    encode(Kind::Change, c)
}
pub fn decode_change(b: &[u8]) -> Result<Change, WireError> {
    decode(Kind::Change, "change", b)
}
pub fn encode_request(r: &SyncRequest) -> Vec<u8> {
    encode(Kind::Request, r)
}
pub fn decode_request(b: &[u8]) -> Result<SyncRequest, WireError> {
    decode(Kind::Request, "sync request", b)
}
/// An answer, in version 3 unless it carries a snapshot holding verifications.
pub fn encode_response(r: &SyncResponse) -> Vec<u8> {
    let payload = match &r.payload {
        Payload::Changes(c) => PayloadV3::Changes(c),
        Payload::Snapshot(d) => match as_v3(d) {
            Some(v3) => PayloadV3::Snapshot(v3),
            None => return encode_as(FORMAT_VERSION, Kind::Response, r),
        },
    };
    let v3 = SyncResponseV3 { vv: &r.vv, payload };
    encode(Kind::Response, &v3)
}

/// The body of a change message made by [`encode_change`] (its header checked, its body not
/// decoded): what the change is inside a larger message.
pub fn change_body(b: &[u8]) -> Result<&[u8], WireError> {
    match b {
        [] => Err(WireError::Empty),
        [v, ..] if !READS.contains(v) => Err(WireError::Version(*v)),
        [_, k, body @ ..] if *k == Kind::Change as u8 => Ok(body),
        _ => Err(WireError::Kind { expected: "change" }),
    }
}

/// Byte for byte what [`encode_response`] makes of `SyncResponse { vv, payload:
/// Payload::Changes(changes) }`, from the changes as [`encode_change`] made them, without
/// decoding them: a server answers from its op log's stored bodies.
pub fn encode_changes_response<B: AsRef<[u8]>>(
    vv: &BTreeMap<ActorId, u64>,
    changes: &[B],
) -> Result<Vec<u8>, WireError> {
    let bodies = changes
        .iter()
        .map(|c| change_body(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = vec![version_of(Kind::Response), Kind::Response as u8];
    // Our own values into a Vec: cannot fail. The payload is `Payload::Changes`: postcard
    // writes the variant's index (0), then the list's length, then each change, as varints.
    out.extend(postcard::to_stdvec(vv).unwrap_or_default());
    out.extend(postcard::to_stdvec(&0u32).unwrap_or_default());
    out.extend(postcard::to_stdvec(&bodies.len()).unwrap_or_default());
    for b in bodies {
        out.extend_from_slice(b);
    }
    Ok(out)
}
/// The length of what [`encode_changes_response`] makes of `vv` and `changes`, without
/// making it: whether a changes answer fits a message ([`MAX_MESSAGE_BYTES`]).
pub fn changes_response_len<B: AsRef<[u8]>>(vv: &BTreeMap<ActorId, u64>, changes: &[B]) -> usize {
    // Our own values into a counter: cannot fail.
    let size = |n: Result<usize, postcard::Error>| n.unwrap_or(0);
    let bodies: usize = changes
        .iter()
        .map(|c| c.as_ref().len().saturating_sub(2))
        .sum();
    2usize
        .saturating_add(size(postcard::experimental::serialized_size(vv)))
        .saturating_add(size(postcard::experimental::serialized_size(&0u32)))
        .saturating_add(size(postcard::experimental::serialized_size(
            &changes.len(),
        )))
        .saturating_add(bodies)
}

/// The header of a snapshot made by [`encode_snapshot`] (its first field), without decoding
/// the rest: a reader that needs only the document's tasks reads a stored snapshot of any
/// size in time and memory proportional to the header.
pub fn snapshot_header(b: &[u8]) -> Result<DocHeader, WireError> {
    match b {
        [] => Err(WireError::Empty),
        [v, ..] if !READS.contains(v) => Err(WireError::Version(*v)),
        [_, k, body @ ..] if *k == Kind::Snapshot as u8 => postcard::take_from_bytes(body)
            .map(|(header, _)| header)
            .map_err(|e| WireError::Malformed(e.to_string())),
        _ => Err(WireError::Kind {
            expected: "snapshot",
        }),
    }
}

pub fn decode_response(b: &[u8]) -> Result<SyncResponse, WireError> {
    decode_versioned::<SyncResponse, SyncResponseV1, SyncResponseV2, OwnedResponseV3>(
        Kind::Response,
        "sync response",
        b,
    )
}
/// A snapshot, in version 3 unless the document holds verifications.
pub fn encode_snapshot(d: &CanonicalDoc) -> Vec<u8> {
    match as_v3(d) {
        Some(v3) => encode(Kind::Snapshot, &v3),
        None => encode_as(FORMAT_VERSION, Kind::Snapshot, d),
    }
}
pub fn decode_snapshot(b: &[u8]) -> Result<CanonicalDoc, WireError> {
    decode_versioned::<CanonicalDoc, CanonicalDocV1, CanonicalDocV2, OwnedDocV3>(
        Kind::Snapshot,
        "snapshot",
        b,
    )
}

/// A version vector on its own (the server keeps a document's whole version beside a
/// snapshot that may lag behind it).
pub fn encode_version(v: &BTreeMap<ActorId, u64>) -> Vec<u8> {
    encode(Kind::Version, v)
}
pub fn decode_version(b: &[u8]) -> Result<BTreeMap<ActorId, u64>, WireError> {
    decode(Kind::Version, "version vector", b)
}

/// Bytes of a change inside a message (without the two header bytes).
pub fn change_len(c: &Change) -> usize {
    postcard::experimental::serialized_size(c).unwrap_or(0)
}

/// The most documents one batch sync names (a unit follows a few directives; the server
/// refuses a batch naming more).
pub const MAX_BATCH_DOCUMENTS: usize = 64;

/// One round trip for all of a unit's documents (`POST /api/v1/sync/batch`): a
/// [`SyncRequest`] per document, each handled as the single route handles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRequest {
    /// The unit whose documents the server lists in its answer.
    pub unit: String,
    pub requests: Vec<SyncRequest>,
}

/// The answer to a [`BatchRequest`]: one answer per request, in its order, and the documents
/// the unit has on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub answers: Vec<DocAnswer>,
    pub documents: Vec<ListedDocument>,
}

/// One document's answer inside a [`BatchResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocAnswer {
    pub doc: DocKey,
    pub result: DocResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocResult {
    /// A [`SyncResponse`] as [`encode_response`] makes it (what the single route answers).
    Synced(Vec<u8>),
    /// What the single route would have refused it with: its HTTP status and JSON error
    /// body (`{"error": "code", "message": …}`, with `missing` or `reused` when they apply).
    Refused { status: u16, body: String },
}

/// A document the unit has on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedDocument {
    pub directive: String,
    /// Its header fingerprint.
    pub fingerprint: u64,
    /// Operations merged so far.
    pub ops: u64,
    /// The directive's revision (decision 44; since format version 3): a phone holding the
    /// text of an older one fetches it again (a corrected clause's words).
    pub revision: u32,
}

/// A listed document as format versions 1 and 2 wrote it: without the revision.
#[derive(Deserialize)]
struct ListedDocumentV1 {
    directive: String,
    fingerprint: u64,
    ops: u64,
}

/// A batch answer as format versions 1 and 2 wrote it.
#[derive(Deserialize)]
struct BatchResponseV1 {
    answers: Vec<DocAnswer>,
    documents: Vec<ListedDocumentV1>,
}

impl From<BatchResponseV1> for BatchResponse {
    fn from(r: BatchResponseV1) -> Self {
        BatchResponse {
            answers: r.answers,
            documents: r
                .documents
                .into_iter()
                .map(|d| ListedDocument {
                    directive: d.directive,
                    fingerprint: d.fingerprint,
                    ops: d.ops,
                    revision: 0,
                })
                .collect(),
        }
    }
}

pub fn encode_batch_request(r: &BatchRequest) -> Vec<u8> {
    encode(Kind::BatchRequest, r)
}
pub fn decode_batch_request(b: &[u8]) -> Result<BatchRequest, WireError> {
    decode(Kind::BatchRequest, "batch sync request", b)
}
pub fn encode_batch_response(r: &BatchResponse) -> Vec<u8> {
    encode(Kind::BatchResponse, r)
}
pub fn decode_batch_response(b: &[u8]) -> Result<BatchResponse, WireError> {
    decode_versioned::<BatchResponse, BatchResponseV1, BatchResponseV1, BatchResponse>(
        Kind::BatchResponse,
        "batch sync response",
        b,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Op, Report, TaskRef, UnitDocument, test_header};

    #[test]
    fn a_changes_answer_is_measured_without_being_made() {
        let change = |actor, start, n: usize| Change {
            actor,
            start,
            ops: vec![
                Op::Comment {
                    task: TaskRef::Assigned(0),
                    text: "ạ".repeat(n),
                    at: 1,
                };
                n % 7 + 1
            ],
            signature: ([1; 32], [2; 32]),
        };
        for (vv, count) in [
            (BTreeMap::new(), 0),
            (BTreeMap::from([(1, 3)]), 1),
            (BTreeMap::from([(1, 300), (70_000, 1 << 40)]), 200),
        ] {
            let changes: Vec<Vec<u8>> = (0..count)
                .map(|i| encode_change(&change(i as u32 + 1, 1, i * 13)))
                .collect();
            let made = encode_changes_response(&vv, &changes).map(|m| m.len());
            assert_eq!(made, Ok(changes_response_len(&vv, &changes)), "{count}");
        }
    }

    /// A document holding a verification is written in version 4 and read back whole; one
    /// without is written in version 3, byte for byte what version 3 wrote, so a phone
    /// reading version 3 keeps syncing; answers follow their snapshot.
    #[test]
    fn verifications_take_version_four_and_nothing_else_does() -> Result<(), WireError> {
        let mut doc = UnitDocument::new(test_header());
        let report = Op::Report(Report {
            period: "2020-W06".into(),
            text: "x".into(),
            figures: Vec::new(),
            at: 1,
        });
        assert!(doc.apply_ops(1, 1, &[report]).is_ok());
        let plain = doc.to_canonical();
        let bytes = encode_snapshot(&plain);
        assert_eq!(bytes[0], 3);
        let v3 = CanonicalDocV3 {
            header: &plain.header,
            vv: &plain.vv,
            tasks: &plain.tasks,
            confirmations: &plain.confirmations,
            reports: &plain.reports,
        };
        assert_eq!(bytes[2..], postcard::to_stdvec(&v3).unwrap_or_default()[..]);
        assert_eq!(decode_snapshot(&bytes)?, plain);

        let verification = crate::doc::Verification {
            carrier: "viettel".into(),
            file_name: "cdr.csv".into(),
            size: 1,
            sha256: [7; 32],
            layout: "generic".into(),
            rows: 1,
            checked: 1,
            broken: 0,
            first_day: None,
            last_day: None,
            hotlines: Vec::new(),
            offending: Vec::new(),
            uploaded_by: "viettel.a".into(),
            at: 2,
        };
        assert!(
            doc.apply_ops(9, 1, &[Op::Verify(Box::new(verification))])
                .is_ok()
        );
        let held = doc.to_canonical();
        let bytes = encode_snapshot(&held);
        assert_eq!(bytes[..2], [FORMAT_VERSION, Kind::Snapshot as u8]);
        assert_eq!(decode_snapshot(&bytes)?, held);
        assert_eq!(held.verifications.len(), 1);
        for (snapshot, version) in [(plain, 3), (held, FORMAT_VERSION)] {
            let answer = SyncResponse {
                vv: snapshot.vv.clone(),
                payload: Payload::Snapshot(Box::new(snapshot)),
            };
            let bytes = encode_response(&answer);
            assert_eq!(bytes[0], version);
            assert_eq!(decode_response(&bytes)?, answer);
        }
        let changes = encode_response(&SyncResponse {
            vv: BTreeMap::new(),
            payload: Payload::Changes(Vec::new()),
        });
        assert_eq!(changes[0], 3);
        assert_eq!(
            decode_snapshot(&[5, Kind::Snapshot as u8]),
            Err(WireError::Version(5))
        );
        Ok(())
    }

    #[test]
    fn a_snapshots_header_is_read_without_the_rest() -> Result<(), WireError> {
        let mut doc = UnitDocument::new(test_header());
        let report = Op::Report(Report {
            period: "2020-W06".into(),
            text: "x".repeat(10_000),
            figures: Vec::new(),
            at: 1,
        });
        assert!(doc.apply_ops(1, 1, &[report]).is_ok());
        let snapshot = encode_snapshot(&doc.to_canonical());
        assert_eq!(snapshot_header(&snapshot)?, test_header());
        // Only its beginning is read: cut after the header, it still gives the header.
        let header_len = postcard::experimental::serialized_size(&test_header()).unwrap_or(0);
        assert_eq!(snapshot_header(&snapshot[..2 + header_len])?, test_header());
        assert!(snapshot_header(&snapshot[..2 + header_len - 1]).is_err());
        assert_eq!(
            snapshot_header(&encode_version(&BTreeMap::new())),
            Err(WireError::Kind {
                expected: "snapshot"
            })
        );
        Ok(())
    }

    /// A batch's two messages: their header bytes (a request in format 1, kind 6; an answer in
    /// format 3, kind 7, format 1 still read) and a round trip;
    /// a message of another kind, or with bytes left over, is refused.
    #[test]
    fn a_batch_is_its_own_kind_and_round_trips() -> Result<(), WireError> {
        let request = SyncRequest {
            doc: DocKey {
                directive: "5-ct-btttt".into(),
                unit: "cuc-vt".into(),
            },
            fingerprint: 7,
            vv: BTreeMap::from([(3, 4)]),
            changes: Vec::new(),
        };
        let batch = BatchRequest {
            unit: "cuc-vt".into(),
            requests: vec![request.clone()],
        };
        let bytes = encode_batch_request(&batch);
        assert_eq!(bytes[..2], [CHANGE_FORMAT_VERSION, 6]);
        assert_eq!(decode_batch_request(&bytes)?, batch);
        assert_eq!(
            decode_batch_request(&encode_request(&request)),
            Err(WireError::Kind {
                expected: "batch sync request"
            })
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_batch_request(&longer), Err(WireError::Trailing(1)));

        let response = BatchResponse {
            answers: vec![
                DocAnswer {
                    doc: request.doc.clone(),
                    result: DocResult::Synced(encode_response(&SyncResponse {
                        vv: BTreeMap::new(),
                        payload: Payload::Changes(Vec::new()),
                    })),
                },
                DocAnswer {
                    doc: request.doc.clone(),
                    result: DocResult::Refused {
                        status: 403,
                        body: r#"{"error":"bad_signature"}"#.into(),
                    },
                },
            ],
            documents: vec![ListedDocument {
                directive: "5-ct-btttt".into(),
                fingerprint: 7,
                ops: 2,
                revision: 3,
            }],
        };
        let bytes = encode_batch_response(&response);
        assert_eq!(bytes[..2], [STATE_V3, 7]);
        assert_eq!(decode_batch_response(&bytes)?, response);
        // As versions 1 and 2 wrote it (no revision): read as revision 0.
        let old: Vec<u8> = [1u8, 7]
            .into_iter()
            .chain(postcard::to_stdvec(&response.answers).unwrap_or_default())
            .chain(postcard::to_stdvec(&(1u8, "5-ct-btttt", 7u64, 2u64)).unwrap_or_default())
            .collect();
        let read = decode_batch_response(&old)?;
        assert_eq!(read.answers, response.answers);
        assert_eq!(read.documents[0].revision, 0);
        assert_eq!(read.documents[0].ops, 2);
        Ok(())
    }
}
