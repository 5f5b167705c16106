//! Issue 18's proof: a hostile-peer simulation against the real server (in process, over
//! HTTP, on a real SQLite file and a real PostgreSQL database).
//!
//! Honest phones of three units (some sharing a unit, one user with two devices) edit and sync
//! while hostile members' registered devices send mutations of valid changes (`Kind`): empty
//! ones, start 0, straddling what the server holds, a re-used start with other content, resends
//! (one, and a flood of 1,024), 1,025 changes, forged causal contexts, operations naming
//! nothing or naming as a task an operation that made none, values out of range, huge starts
//! and counts, wrong fingerprints and signatures, another actor's id, another device, truncated
//! and bit-flipped bodies, replays, other units' and unknown documents, a body over the limit.
//! Seeded and replayable on any day: `HOSTILE_SEED` (decimal or `0x…`) and `HOSTILE_STEPS`
//! choose the run, and every date it makes is drawn around a fixed day (`base_day`), never
//! from the clock; a failure prints how to replay it.
//!
//! Held at every hostile step: the answer is the one the table (`kinds!`) gives for the
//! mutation — the status and the JSON `error` code, and `reused` or `missing` where the answer
//! names a change — and after a 200 the server holds exactly the hostile device's operations
//! the accept rule takes (a 200 for a change re-using held sequence numbers, for a gap or for
//! an empty change fails at once). At every step: no answer is a 5xx, every refusal is the
//! API's JSON error, every 200 decodes as a sync answer. At the end: every kind was tried (at
//! the default budget); every honest phone syncs until quiet and equals, byte for byte, what a
//! fresh device receives from the server; every operation the server acknowledged to an honest
//! phone is in the op log with the same content (each sequence number stored once, none
//! missing); after a restart on the same database with the document cache off every document
//! loads and equals the phones', the projections agree with mobile-core's rules on the phones'
//! copies for the day the server answered on, and the dashboard, `/api/v1/progress` and the
//! exports answer. Last, one unit's stored document is made unreadable: the other units still
//! sync and every read still answers.
//!
//! The second scenario adds a phone restored from a backup (issue 18, point 4): refused with
//! 409 `reused_sequence`, outright.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::{self, Write as _},
    time::Instant,
};

use chrono::{Duration, NaiveDate};
use common::{DIRECTIVE, Http, PASSWORD, Phone, TestDb, with_db};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::Value;
use taskforce_core::{
    doc::{
        ActorId, Confirmation, ConfirmationState, Day, DocHeader, Evidence, Figure, Op, OpId,
        Report, Status, TaskField, TaskRef, UnitDocument, limits,
    },
    progress::unit_progress,
    sync::{Change, DocKey, Replica, SyncOutcome, SyncRequest, wire},
};
use taskforce_server::{
    accounts,
    auth::Role,
    config::Config,
    db::entity::{changes, documents},
};

/// The default seed and step budget (CI runs these; see the module's doc to replay others).
const DEFAULT_SEED: u64 = 0x4057_11e5_18b0_0c5e;
const DEFAULT_STEPS: usize = 1_000;
/// The sync body limit the simulation's server is given, so that a body over it is cheap.
const BODY_LIMIT: usize = 256 * 1024;
const UNITS: [&str; 3] = ["cuc-vt", "viettel", "cuc-attt"];
/// The most changes a request may carry (the server refuses more, 400 `bad_request`).
const MAX_CHANGES: usize = wire::MAX_REQUEST_CHANGES;

/// The day the simulation's dates are drawn around (its reports and comments are of early
/// 2020 too), so that a seed replays alike on any day. Some due dates are drawn up to the
/// last day an operation may hold (2100-12-31), so that whatever day the server reads the
/// figures on, tasks fall due on both sides of it.
fn base_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 2, 10).unwrap_or_default()
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                None => v.replace('_', "").parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{name}={v}: {e}"))
        }
        _ => default,
    }
}

// ---------------------------------------------------------------------------------------
// A server that does not own its database, so that it can be stopped and started again on it.

type Server = common::OtherServer;

/// A server on `db`; `cache: false` turns the decoded-document cache off (every sync loads
/// its document from storage).
fn serve(db: &TestDb, cache: bool) -> Server {
    let mut config = Config {
        db: db.url().to_string(),
        bind: "127.0.0.1:0".into(),
        workers: Some(2),
        sync_body_limit: BODY_LIMIT,
        ..Config::default()
    };
    if !cache {
        config.doc_cache_entries = 0;
        config.doc_cache_mb = 0;
    }
    Server::start(config)
}

fn create_user(db: &TestDb, username: &str, role: Role, units: &[&str]) {
    let username = username.to_string();
    let units: Vec<(String, bool)> = units.iter().map(|u| ((*u).to_string(), false)).collect();
    with_db(db, async move |conn| {
        accounts::create_user(&conn, &username, "", PASSWORD, role, &units, None)
            .await
            .unwrap_or_else(|e| panic!("create {username}: {e}"));
    });
}

/// The op log of the directive's units: every stored change, decoded.
fn op_log(db: &TestDb) -> Vec<(String, Change)> {
    let rows = with_db(db, async move |conn| {
        changes::Entity::find()
            .filter(changes::Column::DirectiveId.eq(DIRECTIVE))
            .all(&conn)
            .await
            .unwrap_or_else(|e| panic!("read the op log: {e}"))
    });
    rows.into_iter()
        .map(|r| {
            let c = wire::decode_change(&r.body).unwrap_or_else(|e| {
                panic!(
                    "op-log row {}/{}/{}: {e}",
                    r.unit_id, r.actor_id, r.start_seq
                )
            });
            assert_eq!(
                (i64::from(c.actor), i64::try_from(c.start).unwrap_or(-1)),
                (i64::from(r.actor_id), r.start_seq),
                "an op-log row's key differs from its body"
            );
            (r.unit_id, c)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// HTTP beyond the sync.

fn page_status(http: &Http, token: &str, path: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    agent
        .get(&format!("{}{path}", http.base))
        .header("Cookie", &format!("tf_token={token}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .and_then(|mut r| {
            let status = r.status().as_u16();
            r.body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .map(|_| status)
        })
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A JSON read whose figures depend on the server's clock (overdue, days since the last
/// report: the server takes the day, UTC, when it answers), and the day it answered on:
/// read again if midnight fell during the read, so the day is the server's.
fn get_with_server_day(http: &Http, token: &str, path: &str) -> (NaiveDate, u16, Value) {
    for _ in 0..3 {
        let before = chrono::Utc::now().date_naive();
        let (status, body) = http.get(token, path);
        if chrono::Utc::now().date_naive() == before {
            return (before, status, body);
        }
    }
    panic!("{path}: the day changed during three reads in a row")
}

/// Every read of the Ministry Office answers: the progress API (the directive's, each unit's,
/// a clause's), the listings, every dashboard page and every export. Returns the units the
/// progress lists.
fn reads_answer(http: &Http, token: &str, units: &[&str], when: &str) -> Vec<String> {
    let (status, progress) = http.get(token, "/api/v1/progress");
    assert_eq!(status, 200, "{when}: /api/v1/progress: {progress}");
    let listed: Vec<String> = progress["units"]
        .as_array()
        .map(|u| {
            u.iter()
                .filter_map(|r| r["unit"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let clause = progress["clauses"][0]["clause"]
        .as_str()
        .unwrap_or_else(|| panic!("{when}: no clause in {progress}"))
        .to_string();
    let mut json = vec![format!("/api/v1/progress/clauses/{clause}")];
    let mut pages = [
        "/",
        "/matrix",
        "/hotlines",
        "/stale",
        "/report",
        "/exports/matrix.csv",
        "/exports/matrix.xlsx",
        "/exports/tasks.csv",
        "/exports/tasks.xlsx",
    ]
    .map(String::from)
    .to_vec();
    pages.push(format!("/clauses/{clause}"));
    for u in units {
        json.push(format!("/api/v1/units/{u}/progress"));
        json.push(format!("/api/v1/progress/units/{u}"));
        json.push(format!("/api/v1/tasks?unit={u}"));
        json.push(format!("/api/v1/reports?unit={u}"));
        json.push(format!("/api/v1/confirmations?unit={u}"));
        pages.push(format!("/units/{u}"));
    }
    for path in json {
        let (status, body) = http.get(token, &path);
        assert_eq!(status, 200, "{when}: {path}: {body}");
    }
    for path in pages {
        assert_eq!(page_status(http, token, &path), 200, "{when}: {path}");
    }
    listed
}

/// A read-only device of the Ministry Office, used for every unit (one registration).
struct Observer(Phone);

impl Observer {
    fn new(http: &Http) -> Self {
        Observer(http.phone("vanphong", UNITS[0]))
    }

    /// What a fresh device receives of `unit` from the server: its whole document.
    fn receive(&self, http: &Http, unit: &str) -> Result<UnitDocument, (u16, Value)> {
        let info = http.document(&self.0.token, unit);
        let header: DocHeader = serde_json::from_value(info["header"].clone())
            .unwrap_or_else(|e| panic!("header of {unit}: {e}"));
        let mut fresh = Phone {
            replica: Replica::new(header),
            actor: self.0.actor,
            key: self.0.key.clone(),
            token: self.0.token.clone(),
        };
        fresh.try_sync(http)?;
        Ok(fresh.replica.doc().clone())
    }
}

fn canonical(doc: &UnitDocument) -> Vec<u8> {
    postcard::to_stdvec(&doc.to_canonical()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The table: each mutation a hostile device sends, and what the server must answer it.

/// What the server must answer a kind of mutation (`Expect` once the request is made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// 200; its changes are new and taken (the model counts them).
    Taken,
    /// 200; nothing new: every change is a byte-identical resend of one held.
    Nothing,
    /// Refused with this status and JSON `error` code.
    Refused(u16, &'static str),
    /// 409 `reused_sequence`, `reused` naming the first change that starts within what the
    /// server holds of the device and is not a byte-identical resend.
    Reused,
    /// 409 `gap`, `missing` naming what the server holds of the device.
    Gap,
    /// As the bit-flipped body decodes with the server's own decoder, taken through the
    /// route's and the writer's checks in their order: not at all → 400 `bad_request`; the
    /// unit's name changed → 403 `forbidden`; the actor → 403 `forged_actor`; the fingerprint,
    /// start, operations or signature → 403 `bad_signature`; the directive's name → 404
    /// `not_found`; only the version vector → 200, the change taken.
    AsDecoded,
    /// The same request sent again with the same device: 200, nothing new, if it was
    /// answered 200; refused as it was, if refused before the accept rule (by the route, or
    /// for its document or fingerprint); refused by the accept rule, again as it was, or
    /// 409 `reused_sequence` if one of its changes now starts within what is held.
    AsBefore,
    /// 403 `forged_actor` (the changes are another device's), or 200 and nothing new when
    /// the request carries no change (a read of the device's own unit).
    ForgedUnlessEmpty,
}

const INVALID: Rule = Rule::Refused(400, "invalid_operation");
const BAD_REQUEST: Rule = Rule::Refused(400, "bad_request");
const BAD_SIGNATURE: Rule = Rule::Refused(403, "bad_signature");
const FORBIDDEN: Rule = Rule::Refused(403, "forbidden");

/// The mutations: kind, name, and the answer due (server/src/routes/sync.rs checks the device,
/// the body, the permission, each change's actor and signature; the writer the document, its
/// fingerprint, then mobile-core's `admit_changes`, `check_changes` and `check_room`).
macro_rules! kinds {
    ($($kind:ident => $name:literal, $rule:expr;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Kind {
            $($kind),*
        }

        impl Kind {
            const ALL: &[Kind] = &[$(Kind::$kind),*];

            fn name(self) -> &'static str {
                match self {
                    $(Kind::$kind => $name),*
                }
            }

            fn rule(self) -> Rule {
                match self {
                    $(Kind::$kind => $rule),*
                }
            }
        }
    };
}

kinds! {
    // Taken: new, whole, valid changes from the next sequence number on.
    ValidChange => "valid change", Rule::Taken;
    TwoValidChanges => "two valid changes", Rule::Taken;
    HugeCountValid => "huge count, valid", Rule::Taken;
    ForgedVersionVector => "forged version vector", Rule::Taken;
    // A blank assignee is allowed (`Op::admissible` holds only titles, periods and figure
    // names not blank): an assignee may be cleared.
    BlankAssignee => "blank assignee (allowed)", Rule::Taken;
    NewOneOpChanges => "1,024 new one-operation changes", Rule::Taken;
    // Byte-identical resends: 200 applying nothing.
    Resend => "resend of an own held change", Rule::Nothing;
    ResendFlood => "resend flood: 1,024 held one-operation changes", Rule::Nothing;
    // The accept rule (`check_changes`): no empty change, no start 0, no gap.
    EmptyChange => "empty change", INVALID;
    StartZero => "start 0", INVALID;
    StartMax => "start u64::MAX", Rule::Gap;
    // Sequence numbers are used once (`admit_changes`).
    Straddling => "straddling what is held", Rule::Reused;
    ReusedStart => "re-used start, other content", Rule::Reused;
    // Only operations the replica holds are named; contexts well-formed (`check_changes`,
    // `Op::validate`).
    ContextFarAhead => "causal context far ahead", INVALID;
    ContextUnknownActor => "causal context naming an unknown actor", INVALID;
    ContextOwnLater => "context naming its own later operation", INVALID;
    ContextUnsorted => "unsorted causal context", INVALID;
    AdhocNobodyMade => "ad-hoc task of another device that does not exist", INVALID;
    ConfirmationNobodyMade => "withdrawing a confirmation nobody made", INVALID;
    // Ad-hoc tasks named are tasks (`admit_changes`, `NOT_A_TASK`).
    AdhocOwnNotATask => "ad-hoc task naming an own operation that made none", INVALID;
    AdhocOthersNotATask => "ad-hoc task naming another device's operation that made none", INVALID;
    // Values (`Op::validate`, `Op::admissible`).
    HugeCountLastInvalid => "huge count, last operation invalid", INVALID;
    TextOverLimit => "text over the limit", INVALID;
    ValueOutOfRange => "value out of range", INVALID;
    // The body (the route).
    HugeCountClaimed => "huge count claimed in the bytes", BAD_REQUEST;
    TooManyChanges => "1,025 changes", BAD_REQUEST;
    TruncatedBody => "truncated body", BAD_REQUEST;
    BitFlippedBody => "bit-flipped body", Rule::AsDecoded;
    BodyOverLimit => "body over the limit", Rule::Refused(413, "too_large");
    // Signatures and actors (the route), the fingerprint (the writer).
    WrongFingerprintSignedWithIt => "wrong fingerprint, signed with it", Rule::Refused(409, "conflict");
    WrongFingerprintSignedRight => "wrong fingerprint, signed with the right one", BAD_SIGNATURE;
    BadSignature => "bad signature", BAD_SIGNATURE;
    StartChangedAfterSigning => "start changed after signing", BAD_SIGNATURE;
    AnotherActorsId => "another actor's id", Rule::Refused(403, "forged_actor");
    // Devices and documents (the route: the device is the caller's, the caller may read or
    // write the unit; a member is a member of its unit only, so an unknown unit is
    // forbidden too; the writer: an unknown document of the caller's unit is not found).
    AnotherDevicesHeader => "another device's header", FORBIDDEN;
    HonestReplayItsDevice => "replay of an honest request, its device named", FORBIDDEN;
    HonestReplayOwnDevice => "replay of an honest request, own device named", Rule::ForgedUnlessEmpty;
    OwnReplay => "replay of an own older request", Rule::AsBefore;
    WritingAnotherUnit => "writing another unit's document", FORBIDDEN;
    ReadingAnotherUnit => "reading another unit's document", FORBIDDEN;
    UnknownUnit => "unknown unit", FORBIDDEN;
    UnknownDirective => "unknown directive", Rule::Refused(404, "not_found");
}

/// The answer due to one request (a `Rule` made concrete).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Taken,
    Nothing,
    Refused(u16, String),
    Reused { actor: ActorId, start: u64 },
    Gap { actor: ActorId, have: u64 },
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Taken => write!(f, "200, its changes taken"),
            Expect::Nothing => write!(f, "200, nothing new taken"),
            Expect::Refused(status, code) => write!(f, "{status} {code}"),
            Expect::Reused { actor, start } => {
                write!(
                    f,
                    "409 reused_sequence, reused {{actor {actor}, start {start}}}"
                )
            }
            Expect::Gap { actor, have } => write!(
                f,
                "409 gap, missing {{actor {actor}, have {have}, from {}}}",
                have + 1
            ),
        }
    }
}

impl Expect {
    fn refused(status: u16, code: &str) -> Self {
        Expect::Refused(status, code.to_string())
    }

    /// Whether the answer is this one.
    fn admits(&self, status: u16, json: &Value) -> bool {
        match self {
            Expect::Taken | Expect::Nothing => status == 200,
            Expect::Refused(s, code) => status == *s && json["error"] == code.as_str(),
            Expect::Reused { actor, start } => {
                status == 409
                    && json["error"] == "reused_sequence"
                    && json["reused"]["actor"] == *actor
                    && json["reused"]["start"] == *start
            }
            Expect::Gap { actor, have } => {
                status == 409
                    && json["error"] == "gap"
                    && json["missing"]["actor"] == *actor
                    && json["missing"]["have"] == *have
                    && json["missing"]["from"] == *have + 1
            }
        }
    }
}

/// One hostile request: its kind, the device it names, its body, the answer due.
struct Mutation {
    kind: Kind,
    device: ActorId,
    body: Vec<u8>,
    expect: Expect,
}

/// Why the accept rule refuses the sequence numbers of a device's changes (the part of the
/// rule the model follows: which changes are new, which are resends).
#[derive(Debug)]
enum SeqRefusal {
    /// Another actor's change (the route refuses it, 403 `forged_actor`).
    OtherActor(ActorId),
    /// `admit_changes`: starts within what is held and is not a byte-identical resend.
    Reused(u64),
    /// `check_changes`: an empty change, a start 0, a gap.
    Empty(u64),
    StartZero,
    Gap(u64),
}

impl fmt::Display for SeqRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqRefusal::OtherActor(a) => write!(f, "a change of actor {a} (403 forged_actor)"),
            SeqRefusal::Reused(start) => write!(
                f,
                "the change from {start} starts within what the server holds and is not a \
                 byte-identical resend (straddling, or other content at a held start): 409 \
                 reused_sequence is due, and a 200 means the server took part of it or skipped \
                 it as held"
            ),
            SeqRefusal::Empty(start) => {
                write!(
                    f,
                    "the change from {start} is empty (400 invalid_operation)"
                )
            }
            SeqRefusal::StartZero => write!(f, "a change starts at 0 (400 invalid_operation)"),
            SeqRefusal::Gap(start) => write!(f, "the change from {start} leaves a gap (409 gap)"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The simulation's parties.

/// An honest phone, and what the server acknowledged to it.
struct Honest {
    name: String,
    phone: Phone,
    unit: usize,
    /// Its own operations by sequence number.
    ops: BTreeMap<u64, Op>,
    /// The server's answers covered its operations up to here.
    acked: u64,
    /// Its last request bodies (a network may deliver them again).
    sent: Vec<Vec<u8>>,
    /// A restored copy waiting for its scripted turn: no part in the random schedule.
    dormant: bool,
    /// Why it takes no further part (a restored copy refused by the server).
    retired: Option<String>,
}

impl Honest {
    fn active(&self) -> bool {
        !self.dormant && self.retired.is_none()
    }
}

/// A request a hostile device sent, and the answer it got.
struct Sent {
    device: ActorId,
    body: Vec<u8>,
    status: u16,
    code: String,
}

/// A hostile member's registered device, and what the server holds of its actor.
struct Hostile {
    name: String,
    phone: Phone,
    unit: usize,
    /// Its operations the server holds, by sequence number from 1 (per the accept rule).
    held: Vec<Op>,
    /// Its changes the server took, in order, and their encodings: what a resend repeats.
    taken: Vec<Change>,
    stored: BTreeSet<Vec<u8>>,
    /// The version the server last answered.
    vv: BTreeMap<ActorId, u64>,
    sent: Vec<Sent>,
}

impl Hostile {
    /// The accept rule's sequence numbers for the device's `changes`, in the order the server
    /// checks them (`admit_changes` first, then `check_changes`): the changes new to the
    /// server, or why it refuses them.
    fn judge<'a>(&self, changes: &'a [Change]) -> Result<Vec<&'a Change>, SeqRefusal> {
        let actor = self.phone.actor;
        if let Some(c) = changes.iter().find(|c| c.actor != actor) {
            return Err(SeqRefusal::OtherActor(c.actor));
        }
        // `admit_changes`: a change starting within what is held is the same change earlier
        // in the batch or one stored, byte for byte.
        let mut have = self.held.len() as u64;
        let mut seen: BTreeMap<u64, &Change> = BTreeMap::new();
        for c in changes.iter().filter(|c| !c.ops.is_empty() && c.start != 0) {
            if c.start <= have {
                let earlier = seen.get(&c.start).is_some_and(|e| *e == c);
                seen.entry(c.start).or_insert(c);
                if !earlier && !self.stored.contains(&wire::encode_change(c)) {
                    return Err(SeqRefusal::Reused(c.start));
                }
            } else if c.start == have + 1 {
                seen.insert(c.start, c);
                have = c.end();
            }
        }
        // `check_changes`: no empty change, no start 0, no gap.
        let mut have = self.held.len() as u64;
        let mut new = Vec::new();
        for c in changes {
            if c.ops.is_empty() {
                return Err(SeqRefusal::Empty(c.start));
            }
            if c.start == 0 {
                return Err(SeqRefusal::StartZero);
            }
            if c.start > have + 1 {
                return Err(SeqRefusal::Gap(c.start));
            }
            if c.start == have + 1 {
                new.push(c);
                have = c.end();
            }
        }
        Ok(new)
    }

    /// Hold what a 200 to `changes` took: how many operations were new.
    fn take(&mut self, changes: &[Change]) -> Result<u64, SeqRefusal> {
        let new: Vec<Change> = self.judge(changes)?.into_iter().cloned().collect();
        let mut n = 0;
        for c in new {
            n += c.ops.len() as u64;
            self.held.extend(c.ops.iter().cloned());
            self.stored.insert(wire::encode_change(&c));
            self.taken.push(c);
        }
        Ok(n)
    }

    /// The start `admit_changes` refuses as re-used in the request `body`, if any.
    fn reused_start(&self, body: &[u8]) -> Option<u64> {
        let request = wire::decode_request(body).ok()?;
        match self.judge(&request.changes) {
            Err(SeqRefusal::Reused(start)) => Some(start),
            _ => None,
        }
    }

    /// The answer due to the request `sent` made again (`Rule::AsBefore`).
    fn as_before(&self, sent: &Sent) -> Expect {
        let actor = self.phone.actor;
        let reused = || {
            self.reused_start(&sent.body)
                .map(|start| Expect::Reused { actor, start })
        };
        match (sent.status, sent.code.as_str()) {
            (200, _) => Expect::Nothing,
            (409, "gap") => reused().unwrap_or(Expect::Gap {
                actor,
                have: self.held.len() as u64,
            }),
            (400, "invalid_operation") | (409, "reused_sequence") | (422, "document_full") => {
                reused().unwrap_or_else(|| Expect::refused(sent.status, &sent.code))
            }
            (status, code) => Expect::refused(status, code),
        }
    }

    /// The answer due to `flipped`, a bit-flipped copy of `original` (`Rule::AsDecoded`).
    fn as_decoded(&self, original: &SyncRequest, flipped: &[u8]) -> Expect {
        let Ok(r) = wire::decode_request(flipped) else {
            return Expect::refused(400, "bad_request");
        };
        if r.changes.len() > MAX_CHANGES {
            return Expect::refused(400, "bad_request");
        }
        // Its member reads and writes its own unit only.
        if r.doc.unit != UNITS[self.unit] {
            return Expect::refused(403, "forbidden");
        }
        let key = self.phone.key.verifying_key();
        for c in &r.changes {
            if c.actor != self.phone.actor {
                return Expect::refused(403, "forged_actor");
            }
            if !c.verify(r.fingerprint, &key) {
                return Expect::refused(403, "bad_signature");
            }
        }
        if r.doc.directive != DIRECTIVE {
            return Expect::refused(404, "not_found");
        }
        if r.fingerprint != original.fingerprint {
            return Expect::refused(409, "conflict");
        }
        if r.changes.is_empty() {
            return Expect::Nothing;
        }
        // Signed as sent: the changes are the original's (only the version vector changed).
        assert_eq!(
            r.changes, original.changes,
            "a flipped change that still verifies"
        );
        Expect::Taken
    }
}

struct UnitState {
    key: DocKey,
    fingerprint: u64,
    tasks: u32,
    /// Ad-hoc tasks made on the unit's honest phones.
    adhoc: Vec<TaskRef>,
    /// Recent changes of honest phones the server acknowledged: what hostile devices re-sign.
    pool: Vec<Vec<Op>>,
}

/// Where the run is, for messages.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Before the random schedule: each hostile device's first changes.
    Setup,
    Step(usize),
    /// The checks after the schedule.
    End,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Setup => write!(f, "setup"),
            Phase::Step(n) => write!(f, "step {n}"),
            Phase::End => write!(f, "end checks"),
        }
    }
}

/// The answers seen, and the context a failure message needs.
struct Log {
    seed: u64,
    steps: usize,
    test: String,
    step: Phase,
    answers: BTreeMap<(&'static str, u16, String), usize>,
}

fn describe(body: &[u8]) -> String {
    let mut s = format!("{} bytes:", body.len());
    for b in body.iter().take(96) {
        let _ = write!(s, " {b:02x}");
    }
    if let Ok(req) = wire::decode_request(body) {
        let mut d = format!("{req:?}");
        if d.len() > 2000 {
            let mut cut = 2000;
            while !d.is_char_boundary(cut) {
                cut -= 1;
            }
            d.truncate(cut);
            d.push('…');
        }
        let _ = write!(s, "\ndecoded: {d}");
    }
    s
}

impl Log {
    fn replay(&self) -> String {
        format!(
            "HOSTILE_SEED={:#x} HOSTILE_STEPS={} cargo test --workspace --locked --test hostile_peers -- {} --exact",
            self.seed, self.steps, self.test
        )
    }

    /// Where and how to replay, for a failure message: the step, the kind, the seed.
    fn context(&self, kind: &str) -> String {
        format!(
            "{} ({kind}), seed {:#x}; replay: {}",
            self.step,
            self.seed,
            self.replay()
        )
    }

    /// Count an answer; a 5xx, an error that is not the API's JSON, or a 200 that is not a
    /// sync answer fails the run with the step, the request and the answer.
    fn answer(&mut self, kind: &'static str, body: &[u8], status: u16, resp: &[u8]) -> Value {
        let json: Value = serde_json::from_slice(resp).unwrap_or_default();
        let code = json["error"].as_str().unwrap_or_default().to_string();
        *self
            .answers
            .entry((kind, status, code.clone()))
            .or_default() += 1;
        let context = || {
            format!(
                "{}: answered {status} {}\nrequest {}",
                self.context(kind),
                String::from_utf8_lossy(&resp[..resp.len().min(2000)]),
                describe(body),
            )
        };
        assert!(status < 500, "a 5xx: {}", context());
        if status == 200 {
            assert!(
                wire::decode_response(resp).is_ok(),
                "a 200 that is not a sync answer: {}",
                context()
            );
        } else {
            assert!(
                !code.is_empty() && json["message"].as_str().is_some_and(|m| !m.is_empty()),
                "an error that is not the API's JSON: {}",
                context()
            );
        }
        json
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        for ((kind, status, code), n) in &self.answers {
            let _ = writeln!(s, "  {n:5} × {kind}: {status} {code}");
        }
        s
    }
}

/// Prints how to replay the run when it fails.
struct ReplayHint(String);

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("hostile_peers failed; replay with: {}", self.0);
        }
    }
}

/// Why an honest round trip did not complete.
#[derive(Debug)]
enum SyncFail {
    /// Not a 200: the status and the JSON error.
    Refused(u16, Value),
    /// A 200 whose answer the phone's replica refuses to apply.
    Unreceivable(String),
}

struct Sim {
    rng: StdRng,
    /// The day generated dates are drawn around (`base_day`).
    base: NaiveDate,
    units: Vec<UnitState>,
    honest: Vec<Honest>,
    hostile: Vec<Hostile>,
    log: Log,
    /// The kinds still to draw in this round: every kind once a round, in a seeded order.
    deck: Vec<Kind>,
    /// The resend floods: where, and how long the server took to answer (ms).
    floods: Vec<(Phase, f64)>,
}

/// A random edit an honest phone makes: statuses, progress, due dates around the base day
/// and far after it, notes, assignees, comments, reports, ad-hoc tasks (made, named,
/// removed), confirmations and their withdrawal.
fn random_op(doc: &UnitDocument, rng: &mut StdRng, base: NaiveDate, adhoc: &[TaskRef]) -> Op {
    let tasks = u32::try_from(doc.header().tasks.len()).unwrap_or(1).max(1);
    let refs = doc.task_refs();
    let seen: Vec<TaskRef> = adhoc.iter().copied().filter(|t| refs.contains(t)).collect();
    let task = if !seen.is_empty() && rng.random_bool(0.25) {
        seen[rng.random_range(0..seen.len())]
    } else {
        TaskRef::Assigned(rng.random_range(0..tasks))
    };
    let confirmations: Vec<OpId> = doc.confirmations().iter().map(|(id, _, _)| *id).collect();
    match rng.random_range(0..16) {
        0..=3 => doc.set_op(task, TaskField::Status(Status::ALL[rng.random_range(0..4)])),
        4 | 5 => doc.set_op(task, TaskField::Progress(rng.random_range(0..=100))),
        6 => {
            let days = if rng.random_bool(0.25) {
                rng.random_range(0..=(limits::LATEST_DATE - base).num_days())
            } else {
                rng.random_range(-40..40)
            };
            let due = base + Duration::days(days);
            doc.set_op(
                task,
                TaskField::Due(rng.random_bool(0.9).then(|| Day::from_date(due))),
            )
        }
        7 => doc.set_op(
            task,
            TaskField::Notes(format!("Ghi chú {}", rng.random_range(0..1000))),
        ),
        8 => doc.set_op(
            task,
            TaskField::Assignee(format!("Chuyên viên {}", rng.random_range(0..20))),
        ),
        9 => Op::AddTask {
            parent: None,
            title: format!("Việc phát sinh {}", rng.random_range(0..1000)),
        },
        10 if !seen.is_empty() => doc.set_op(
            seen[rng.random_range(0..seen.len())],
            TaskField::Removed(true),
        ),
        11 => Op::Comment {
            task,
            text: format!("Ý kiến {}", rng.random_range(0..1000)),
            at: 1_580_000_000 + rng.random_range(0..10_000_000),
        },
        12 => Op::Confirm(Confirmation {
            carrier: "viettel".into(),
            hotline: format!("1900{:04}", rng.random_range(0..10_000)),
            free_from: Day::from_date(base + Duration::days(rng.random_range(-30..30))),
            attested_by: "Người xác nhận".into(),
            evidence: None,
            at: 1_580_000_000 + rng.random_range(0..10_000_000),
        }),
        13 if !confirmations.is_empty() => doc.set_confirmation_op(
            confirmations[rng.random_range(0..confirmations.len())],
            if rng.random_bool(0.5) {
                ConfirmationState::Withdrawn
            } else {
                ConfirmationState::Confirmed
            },
        ),
        _ => Op::Report(Report {
            period: format!("2020-02-{:02}", rng.random_range(1..29)),
            text: "Báo cáo tiến độ".into(),
            figures: Vec::new(),
            at: 1_580_000_000 + rng.random_range(0..10_000_000),
        }),
    }
}

/// A value no reader should have to hold (`Op::admissible`), on task 0: dates outside
/// 2000–2100, times outside 1970–9999, figures and sizes past 10^15, control characters and
/// the characters XML excludes, blank titles, periods and figure names.
fn inadmissible_op(rng: &mut StdRng) -> Op {
    let t0 = TaskRef::Assigned(0);
    let set = |value| Op::Set {
        task: t0,
        value,
        ctx: Vec::new(),
    };
    let day = |y, m, d| Day::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default());
    let report = |period: &str, figures: Vec<Figure>, at: i64| {
        Op::Report(Report {
            period: period.into(),
            text: "Báo cáo".into(),
            figures,
            at,
        })
    };
    let figure = |name: &str, value: i64| Figure {
        name: name.into(),
        value,
    };
    let confirmation = |free_from: Day, at: i64| {
        Op::Confirm(Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from,
            attested_by: "Người xác nhận".into(),
            evidence: None,
            at,
        })
    };
    let ok_at = 1_580_000_000;
    match rng.random_range(0..16) {
        0 => set(TaskField::Due(Some(day(1800, 1, 1)))),
        1 => set(TaskField::Due(Some(day(1999, 12, 31)))),
        2 => set(TaskField::Due(Some(day(2101, 1, 1)))),
        3 => Op::Comment {
            task: t0,
            text: "Bình luận".into(),
            at: i64::MAX,
        },
        4 => Op::Comment {
            task: t0,
            text: "Bình luận".into(),
            at: -1,
        },
        5 => report("2020-02-05", vec![figure("sms_sent", i64::MAX)], ok_at),
        6 => report(
            "2020-02-05",
            vec![figure("sms_sent", limits::MAGNITUDE + 1)],
            ok_at,
        ),
        7 => report(
            "2020-02-05",
            vec![figure("sms_sent", -limits::MAGNITUDE - 1)],
            ok_at,
        ),
        8 => set(TaskField::Notes("ghi\u{0}chú\u{1b}[2J".into())),
        9 => Op::AddTask {
            parent: None,
            title: "Việc\u{fffe}".into(),
        },
        10 => Op::AddTask {
            parent: None,
            title: " \t ".into(),
        },
        11 => set(TaskField::Title("   ".into())),
        12 => report("  ", Vec::new(), ok_at),
        13 => report("2020-02-05", vec![figure(" ", 1)], ok_at),
        14 => confirmation(day(1800, 1, 1), ok_at),
        _ => Op::AddEvidence {
            task: t0,
            evidence: Evidence {
                file_name: "cong-van.pdf".into(),
                size: limits::MAGNITUDE.unsigned_abs() + 1,
                sha256: [7; 32],
                at: ok_at,
            },
        },
    }
}

fn keep_last<T>(v: &mut Vec<T>, item: T, n: usize) {
    v.push(item);
    if v.len() > n {
        v.remove(0);
    }
}

impl Sim {
    fn honest_edit(&mut self, i: usize) {
        let Sim {
            rng,
            base,
            units,
            honest,
            log,
            ..
        } = self;
        let h = &mut honest[i];
        let unit = &mut units[h.unit];
        let op = random_op(h.phone.replica.doc(), rng, *base, &unit.adhoc);
        let made_task = matches!(op, Op::AddTask { .. });
        let id = h
            .phone
            .replica
            .edit(h.phone.actor, op.clone())
            .unwrap_or_else(|e| panic!("{}: own edit refused: {e}; {}", h.name, log.replay()));
        h.ops.insert(id.seq, op);
        if made_task {
            unit.adhoc.push(TaskRef::Adhoc(id));
        }
    }

    /// One honest round trip, its acknowledgement recorded (before the phone applies the
    /// answer: a 200 is the server's word that it holds the operations).
    fn honest_sync(&mut self, http: &Http, i: usize) -> Result<SyncOutcome, SyncFail> {
        let Sim {
            units, honest, log, ..
        } = self;
        let h = &mut honest[i];
        let body = h.phone.request_bytes();
        let (status, resp) = http.post_sync(&h.phone.token, h.phone.actor, &body);
        let json = log.answer("honest sync", &body, status, &resp);
        keep_last(&mut h.sent, body.clone(), 4);
        if status != 200 {
            return Err(SyncFail::Refused(status, json));
        }
        let resp = wire::decode_response(&resp)
            .unwrap_or_else(|e| panic!("{}: the answer: {e}; {}", h.name, log.replay()));
        let covered = resp.vv.get(&h.phone.actor).copied().unwrap_or(0);
        h.acked = h.acked.max(covered);
        if let Ok(req) = wire::decode_request(&body) {
            for c in req.changes.into_iter().filter(|c| c.end() <= covered) {
                keep_last(&mut units[h.unit].pool, c.ops, 24);
            }
        }
        h.phone
            .replica
            .receive(resp)
            .map_err(|e| SyncFail::Unreceivable(e.to_string()))
    }

    fn honest_sync_ok(&mut self, http: &Http, i: usize) -> SyncOutcome {
        self.honest_sync(http, i).unwrap_or_else(|e| {
            let why = match e {
                SyncFail::Refused(status, body) => format!("refused: {status} {body}"),
                SyncFail::Unreceivable(e) => format!(
                    "refuses the server's answer (the server holds what a phone will not): {e}"
                ),
            };
            panic!(
                "{}: {} {why}; {}",
                self.log.step,
                self.honest[i].name,
                self.log.replay()
            )
        })
    }

    /// A network delivering an honest phone's earlier request again: harmless, answered 200.
    fn honest_replay(&mut self, http: &Http, i: usize) {
        let h = &self.honest[i];
        let Some(body) = h.sent.get(self.rng.random_range(0..h.sent.len().max(1))) else {
            return;
        };
        let (status, resp) = http.post_sync(&h.phone.token, h.phone.actor, body);
        let json = self.log.answer("honest replay", body, status, &resp);
        assert_eq!(
            status,
            200,
            "{}: {}'s request delivered again was refused: {json}; {}",
            self.log.step,
            h.name,
            self.log.replay()
        );
    }

    /// The next kind of mutation: every kind once a round, in an order the seed gives.
    fn draw(&mut self) -> Kind {
        if self.deck.is_empty() {
            self.deck = Kind::ALL.to_vec();
            self.deck.shuffle(&mut self.rng);
        }
        self.deck.pop().unwrap_or(Kind::ValidChange)
    }

    /// Valid operations for a hostile device: a recent acknowledged honest change of its unit
    /// (re-signed with its own key), some of its own held operations, or a fresh write.
    fn valid_ops(&mut self, j: usize) -> Vec<Op> {
        let h = &self.hostile[j];
        let unit = &self.units[h.unit];
        let rng = &mut self.rng;
        if !unit.pool.is_empty() && rng.random_bool(0.7) {
            return unit.pool[rng.random_range(0..unit.pool.len())].clone();
        }
        if !h.held.is_empty() && rng.random_bool(0.5) {
            let from = rng.random_range(0..h.held.len());
            let to = (from + rng.random_range(1..=5)).min(h.held.len());
            return h.held[from..to].to_vec();
        }
        vec![Op::Set {
            task: TaskRef::Assigned(rng.random_range(0..unit.tasks)),
            value: TaskField::Status(Status::ALL[rng.random_range(0..4)]),
            ctx: Vec::new(),
        }]
    }

    /// Honest operations of device `j`'s unit that made no task and that the server holds:
    /// (actor, sequence number).
    fn others_not_tasks(&self, j: usize) -> Vec<(ActorId, u64)> {
        let unit = self.hostile[j].unit;
        self.honest
            .iter()
            .filter(|o| o.unit == unit && o.active())
            .flat_map(|o| {
                o.ops
                    .range(..=o.acked)
                    .filter(|(_, op)| !matches!(op, Op::AddTask { .. }))
                    .map(|(&seq, _)| (o.phone.actor, seq))
            })
            .collect()
    }

    /// `kind`, or what is sent instead when device `j` cannot send it yet (nothing of its to
    /// resend or replay, too few one-operation changes held for a flood).
    fn feasible(&self, j: usize, kind: Kind) -> Kind {
        let h = &self.hostile[j];
        let one_op = h.taken.iter().filter(|c| c.ops.len() == 1).count();
        let honest_bodies = self
            .honest
            .iter()
            .any(|o| o.unit == h.unit && !o.sent.is_empty());
        let own_not_task = h.held.iter().any(|op| !matches!(op, Op::AddTask { .. }));
        match kind {
            Kind::ResendFlood | Kind::TooManyChanges if one_op < MAX_CHANGES => {
                Kind::NewOneOpChanges
            }
            Kind::Resend if h.taken.is_empty() => Kind::ValidChange,
            Kind::Straddling | Kind::ReusedStart if h.held.is_empty() => Kind::ValidChange,
            Kind::AdhocOwnNotATask if !own_not_task => Kind::ValidChange,
            Kind::AdhocOthersNotATask if self.others_not_tasks(j).is_empty() => {
                self.feasible(j, Kind::AdhocOwnNotATask)
            }
            Kind::OwnReplay if h.sent.is_empty() => Kind::ValidChange,
            Kind::HonestReplayItsDevice | Kind::HonestReplayOwnDevice if !honest_bodies => {
                Kind::ValidChange
            }
            other => other,
        }
    }

    /// One hostile request of `kind` (or what `feasible` sends instead) and the answer due.
    fn hostile_request(&mut self, j: usize, kind: Kind) -> Mutation {
        let kind = self.feasible(j, kind);
        let ops = self.valid_ops(j);
        let others_not_tasks = self.others_not_tasks(j);
        let Sim {
            rng,
            units,
            honest,
            hostile,
            ..
        } = self;
        let h = &hostile[j];
        let unit = &units[h.unit];
        let (actor, key) = (h.phone.actor, &h.phone.key);
        let have = h.held.len() as u64;
        let next = have + 1;
        let fp = unit.fingerprint;
        let sign = |fp: u64, start: u64, ops: Vec<Op>| Change::sign(fp, actor, start, ops, key);
        let request = |changes: Vec<Change>| SyncRequest {
            doc: unit.key.clone(),
            fingerprint: fp,
            vv: h.vv.clone(),
            changes,
        };
        let enc = |changes: Vec<Change>| wire::encode_request(&request(changes));
        // An honest actor of the unit (or an actor nobody has).
        let others: Vec<&Honest> = honest.iter().filter(|o| o.unit == h.unit).collect();
        let other_actor = others
            .get(rng.random_range(0..others.len().max(1)))
            .map_or(u32::MAX - 1, |o| o.phone.actor);
        let set = |ctx: Vec<(ActorId, u64)>, task: TaskRef| Op::Set {
            task,
            value: TaskField::Status(Status::Blocked),
            ctx,
        };
        let t0 = TaskRef::Assigned(0);
        let n = ops.len() as u64;
        let one_op = |k: u64| {
            vec![Op::Set {
                task: TaskRef::Assigned(u32::try_from(k).unwrap_or(0) % unit.tasks),
                value: TaskField::Progress(u8::try_from(k % 101).unwrap_or(0)),
                ctx: Vec::new(),
            }]
        };
        // `held` one-operation changes it holds, in random order.
        let mut held_one_op = |count: usize| {
            let one: Vec<&Change> = h.taken.iter().filter(|c| c.ops.len() == 1).collect();
            let mut picked: Vec<Change> = rand::seq::index::sample(rng, one.len(), count)
                .into_iter()
                .map(|k| one[k].clone())
                .collect();
            picked.shuffle(rng);
            picked
        };
        let own = |body: Vec<u8>| (actor, body, None);
        let (device, body, expect): (ActorId, Vec<u8>, Option<Expect>) = match kind {
            Kind::ValidChange => own(enc(vec![sign(fp, next, ops)])),
            Kind::TwoValidChanges => {
                let second = vec![set(Vec::new(), t0)];
                own(enc(vec![sign(fp, next, ops), sign(fp, next + n, second)]))
            }
            Kind::HugeCountValid | Kind::HugeCountLastInvalid => {
                let count = rng.random_range(1_000..3_000);
                let mut many: Vec<Op> = (0..count).flat_map(one_op).collect();
                if kind == Kind::HugeCountLastInvalid {
                    many.push(Op::Set {
                        task: t0,
                        value: TaskField::Progress(250),
                        ctx: Vec::new(),
                    });
                }
                own(enc(vec![sign(fp, next, many)]))
            }
            Kind::ForgedVersionVector => {
                let mut req = request(vec![sign(fp, next, ops)]);
                req.vv = others
                    .iter()
                    .map(|o| (o.phone.actor, u64::MAX))
                    .chain([(u32::MAX, u64::MAX)])
                    .collect();
                own(wire::encode_request(&req))
            }
            Kind::BlankAssignee => {
                let blank = if rng.random_bool(0.5) { "   " } else { "" };
                let op = Op::Set {
                    task: TaskRef::Assigned(rng.random_range(0..unit.tasks)),
                    value: TaskField::Assignee(blank.into()),
                    ctx: Vec::new(),
                };
                own(enc(vec![sign(fp, next, vec![op])]))
            }
            Kind::NewOneOpChanges => {
                let changes = (0..MAX_CHANGES as u64)
                    .map(|k| sign(fp, next + k, one_op(k)))
                    .collect();
                own(enc(changes))
            }
            Kind::Resend => {
                let c = h.taken[rng.random_range(0..h.taken.len())].clone();
                own(enc(vec![c]))
            }
            Kind::ResendFlood => own(enc(held_one_op(MAX_CHANGES))),
            Kind::TooManyChanges => {
                // 1,024 resends and one new valid change: only their number is wrong.
                let mut changes = held_one_op(MAX_CHANGES);
                changes.push(sign(fp, next, ops));
                own(enc(changes))
            }
            Kind::EmptyChange => own(enc(vec![sign(fp, next, Vec::new())])),
            Kind::StartZero => own(enc(vec![sign(fp, 0, ops)])),
            Kind::StartMax => {
                let ops = if rng.random_bool(0.5) {
                    ops
                } else {
                    vec![set(Vec::new(), t0), set(Vec::new(), t0)]
                };
                own(enc(vec![sign(fp, u64::MAX, ops)]))
            }
            Kind::Straddling => {
                // From one of the last 200 held operations (the body stays small) past them.
                let start = rng.random_range(have.saturating_sub(199).max(1)..=have);
                let mut longer = h.held[usize::try_from(start - 1).unwrap_or(0)..].to_vec();
                longer.extend(ops);
                own(enc(vec![sign(fp, start, longer)]))
            }
            Kind::ReusedStart => {
                let start = rng.random_range(1..=have);
                let len = rng.random_range(1..=(have - start + 1).min(20));
                let other: Vec<Op> = (0..len)
                    .map(|k| Op::Set {
                        task: t0,
                        value: TaskField::Notes(format!("Nội dung khác {k}")),
                        ctx: Vec::new(),
                    })
                    .collect();
                own(enc(vec![sign(fp, start, other)]))
            }
            Kind::ContextFarAhead => {
                let far = vec![set(vec![(other_actor, 1_000_000 + have)], t0)];
                own(enc(vec![sign(fp, next, far)]))
            }
            Kind::ContextUnknownActor => own(enc(vec![sign(
                fp,
                next,
                vec![set(vec![(u32::MAX - 7, 1)], t0)],
            )])),
            Kind::ContextOwnLater => own(enc(vec![sign(
                fp,
                next,
                vec![set(vec![(actor, next)], t0)],
            )])),
            Kind::ContextUnsorted => {
                let (a, b) = (other_actor.max(2), other_actor.max(2) - 1);
                own(enc(vec![sign(
                    fp,
                    next,
                    vec![set(vec![(a, 1), (b, 1)], t0)],
                )]))
            }
            Kind::AdhocNobodyMade => {
                let nothing = TaskRef::Adhoc(OpId::new(other_actor, 5_000_000));
                let op = if rng.random_bool(0.5) {
                    set(Vec::new(), nothing)
                } else {
                    Op::AddTask {
                        parent: Some(nothing),
                        title: "Việc con".into(),
                    }
                };
                own(enc(vec![sign(fp, next, vec![op])]))
            }
            Kind::AdhocOwnNotATask | Kind::AdhocOthersNotATask => {
                let id = if kind == Kind::AdhocOwnNotATask {
                    let seqs: Vec<u64> = (1..=have)
                        .filter(|&s| {
                            !matches!(
                                h.held[usize::try_from(s - 1).unwrap_or(0)],
                                Op::AddTask { .. }
                            )
                        })
                        .collect();
                    OpId::new(actor, seqs[rng.random_range(0..seqs.len())])
                } else {
                    let (a, s) = others_not_tasks[rng.random_range(0..others_not_tasks.len())];
                    OpId::new(a, s)
                };
                let not_a_task = TaskRef::Adhoc(id);
                let op = match rng.random_range(0..3) {
                    0 => set(Vec::new(), not_a_task),
                    1 => Op::Comment {
                        task: not_a_task,
                        text: "Bình luận".into(),
                        at: 1_580_000_000,
                    },
                    _ => Op::AddTask {
                        parent: Some(not_a_task),
                        title: "Việc con".into(),
                    },
                };
                own(enc(vec![sign(fp, next, vec![op])]))
            }
            Kind::ConfirmationNobodyMade => {
                let op = Op::SetConfirmation {
                    id: OpId::new(other_actor, 9_000_000),
                    state: ConfirmationState::Withdrawn,
                    ctx: Vec::new(),
                };
                own(enc(vec![sign(fp, next, vec![op])]))
            }
            Kind::TextOverLimit => {
                let op = Op::Set {
                    task: t0,
                    value: TaskField::Notes("a".repeat(limits::LONG_TEXT + 1)),
                    ctx: Vec::new(),
                };
                own(enc(vec![sign(fp, next, vec![op])]))
            }
            Kind::ValueOutOfRange => {
                let op = inadmissible_op(rng);
                own(enc(vec![sign(fp, next, vec![op])]))
            }
            Kind::HugeCountClaimed => {
                // A change list claiming some 2^62 entries, then a few bytes.
                let mut body = vec![wire::FORMAT_VERSION, 2];
                for part in [
                    postcard::to_stdvec(&unit.key),
                    postcard::to_stdvec(&fp),
                    postcard::to_stdvec(&h.vv),
                    postcard::to_stdvec(&(u64::MAX / 4)),
                ] {
                    body.extend(part.unwrap_or_default());
                }
                body.extend((0..16).map(|_| rng.random::<u8>()));
                own(body)
            }
            Kind::TruncatedBody => {
                let body = enc(vec![sign(fp, next, ops)]);
                let cut = rng.random_range(0..body.len());
                own(body[..cut].to_vec())
            }
            Kind::BitFlippedBody => {
                let original = request(vec![sign(fp, next, ops)]);
                let mut body = wire::encode_request(&original);
                let bit = rng.random_range(0..body.len() * 8);
                body[bit / 8] ^= 1 << (bit % 8);
                let expect = h.as_decoded(&original, &body);
                (actor, body, Some(expect))
            }
            Kind::BodyOverLimit => {
                let mut body = vec![0u8; BODY_LIMIT + 1];
                body[0] = wire::FORMAT_VERSION;
                body[1] = 2;
                own(body)
            }
            Kind::WrongFingerprintSignedWithIt => {
                let wrong = fp ^ (1 << rng.random_range(0..64));
                let mut req = request(vec![sign(wrong, next, ops)]);
                req.fingerprint = wrong;
                own(wire::encode_request(&req))
            }
            Kind::WrongFingerprintSignedRight => {
                let mut req = request(vec![sign(fp, next, ops)]);
                req.fingerprint ^= 1 << rng.random_range(0..64);
                own(wire::encode_request(&req))
            }
            Kind::BadSignature => {
                let mut c = sign(fp, next, ops);
                let bit = rng.random_range(0..256);
                let half = if rng.random_bool(0.5) {
                    &mut c.signature.0
                } else {
                    &mut c.signature.1
                };
                half[bit / 8] ^= 1 << (bit % 8);
                own(enc(vec![c]))
            }
            Kind::StartChangedAfterSigning => {
                let mut c = sign(fp, next, ops);
                c.start = next + 1;
                own(enc(vec![c]))
            }
            Kind::AnotherActorsId => own(enc(vec![Change::sign(fp, other_actor, next, ops, key)])),
            Kind::AnotherDevicesHeader => (other_actor, enc(vec![sign(fp, next, ops)]), None),
            Kind::HonestReplayItsDevice | Kind::HonestReplayOwnDevice => {
                let bodies: Vec<(&Vec<u8>, ActorId)> = others
                    .iter()
                    .flat_map(|o| o.sent.iter().map(|b| (b, o.phone.actor)))
                    .collect();
                let (body, owner) = bodies[rng.random_range(0..bodies.len())];
                if kind == Kind::HonestReplayItsDevice {
                    (owner, body.clone(), None)
                } else {
                    let empty = wire::decode_request(body).is_ok_and(|r| r.changes.is_empty());
                    let expect = if empty {
                        Expect::Nothing
                    } else {
                        Expect::refused(403, "forged_actor")
                    };
                    (actor, body.clone(), Some(expect))
                }
            }
            Kind::OwnReplay => {
                let sent = &h.sent[rng.random_range(0..h.sent.len())];
                (sent.device, sent.body.clone(), Some(h.as_before(sent)))
            }
            Kind::WritingAnotherUnit | Kind::ReadingAnotherUnit => {
                let elsewhere: Vec<&UnitState> = units
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k != h.unit)
                    .map(|(_, u)| u)
                    .collect();
                let u = elsewhere[rng.random_range(0..elsewhere.len())];
                let changes = if kind == Kind::WritingAnotherUnit {
                    vec![Change::sign(u.fingerprint, actor, 1, ops, key)]
                } else {
                    Vec::new()
                };
                let req = SyncRequest {
                    doc: u.key.clone(),
                    fingerprint: u.fingerprint,
                    vv: BTreeMap::new(),
                    changes,
                };
                own(wire::encode_request(&req))
            }
            Kind::UnknownUnit => {
                let mut req = request(vec![sign(fp, next, ops)]);
                req.doc.unit = "khong-co-don-vi".into();
                own(wire::encode_request(&req))
            }
            Kind::UnknownDirective => {
                let mut req = request(vec![sign(fp, next, ops)]);
                req.doc.directive = "khong-co-chi-thi".into();
                own(wire::encode_request(&req))
            }
        };
        let expect = expect.unwrap_or_else(|| match kind.rule() {
            Rule::Taken => Expect::Taken,
            Rule::Nothing => Expect::Nothing,
            Rule::Refused(status, code) => Expect::refused(status, code),
            Rule::Reused => match h.reused_start(&body) {
                Some(start) => Expect::Reused { actor, start },
                None => panic!(
                    "{}: the mutation re-uses no held sequence number",
                    kind.name()
                ),
            },
            Rule::Gap => Expect::Gap { actor, have },
            Rule::AsDecoded | Rule::AsBefore | Rule::ForgedUnlessEmpty => {
                panic!("{}: its answer is decided where it is made", kind.name())
            }
        });
        Mutation {
            kind,
            device,
            body,
            expect,
        }
    }

    /// Device `j` sends a mutation of `kind`; the answer must be the table's, and after a 200
    /// the server must hold what the accept rule takes.
    fn hostile_act(&mut self, http: &Http, j: usize, kind: Kind) {
        let m = self.hostile_request(j, kind);
        let token = self.hostile[j].phone.token.clone();
        let began = Instant::now();
        let (status, resp) = http.post_sync(&token, m.device, &m.body);
        let took = began.elapsed().as_secs_f64() * 1e3;
        let Sim {
            hostile,
            log,
            floods,
            ..
        } = self;
        let h = &mut hostile[j];
        let name = m.kind.name();
        let json = log.answer(name, &m.body, status, &resp);
        let failure = |why: &str| {
            format!(
                "{}: {why}\nexpected {}; answered {status} {}\nrequest {}",
                log.context(name),
                m.expect,
                String::from_utf8_lossy(&resp[..resp.len().min(2000)]),
                describe(&m.body)
            )
        };
        assert!(
            m.expect.admits(status, &json),
            "{}",
            failure("not the answer the table gives")
        );
        if m.kind == Kind::ResendFlood {
            eprintln!(
                "{}: {}: a resend flood of {MAX_CHANGES} held changes answered {status} in {took:.0} ms",
                log.test, log.step
            );
            floods.push((log.step, took));
        }
        let code = json["error"].as_str().unwrap_or_default().to_string();
        keep_last(
            &mut h.sent,
            Sent {
                device: m.device,
                body: m.body.clone(),
                status,
                code,
            },
            6,
        );
        if status != 200 {
            return;
        }
        let resp = wire::decode_response(&resp)
            .unwrap_or_else(|e| panic!("{}", failure(&format!("the answer: {e}"))));
        let req = wire::decode_request(&m.body)
            .unwrap_or_else(|e| panic!("{}", failure(&format!("an undecodable body ({e})"))));
        assert!(
            req.doc.unit == UNITS[h.unit] && req.doc.directive == DIRECTIVE,
            "{}",
            failure("a 200 for another document")
        );
        // The accept rule's model: what the 200 took. A 200 the rule does not give fails here.
        let new = h
            .take(&req.changes)
            .unwrap_or_else(|why| panic!("{}", failure(&format!("a 200, but {why}"))));
        match m.expect {
            Expect::Nothing if new > 0 => panic!("{}", failure("a resend took new operations")),
            Expect::Taken if new == 0 => panic!("{}", failure("new changes took nothing")),
            _ => {}
        }
        let server = resp.vv.get(&h.phone.actor).copied().unwrap_or(0);
        assert_eq!(
            server,
            h.held.len() as u64,
            "{}",
            failure(&format!(
                "the server holds {server} operations of {}, the accept rule gives {}",
                h.name,
                h.held.len()
            ))
        );
        h.vv = resp.vv;
    }
}
// ---------------------------------------------------------------------------------------
// The run.

fn store_name(db: &TestDb) -> &'static str {
    match db {
        TestDb::Sqlite { .. } => "sqlite",
        TestDb::Postgres { .. } => "postgres",
    }
}

fn simulate(db: TestDb, test: &str, restored: bool) {
    let seed = env_number("HOSTILE_SEED", DEFAULT_SEED);
    let steps =
        usize::try_from(env_number("HOSTILE_STEPS", DEFAULT_STEPS as u64)).unwrap_or(DEFAULT_STEPS);
    let test = format!("{}::{test}", store_name(&db));
    let log = Log {
        seed,
        steps,
        test,
        step: Phase::Setup,
        answers: BTreeMap::new(),
    };
    let _hint = ReplayHint(log.replay());
    eprintln!(
        "{}: seed {seed:#x}, {steps} steps (replay: {})",
        log.test,
        log.replay()
    );
    let began = Instant::now();

    // The server first: it migrates the fresh database.
    let server = serve(&db, true);
    let http: &Http = &server;
    for (user, units) in [
        ("cucvt.a", &["cuc-vt"][..]),
        ("cucvt.b", &["cuc-vt"]),
        ("viettel.a", &["viettel"]),
        ("viettel.b", &["viettel"]),
        ("attt.a", &["cuc-attt"]),
        ("cucvt.x", &["cuc-vt"]),
        ("viettel.x", &["viettel"]),
    ] {
        create_user(&db, user, Role::Member, units);
    }
    create_user(&db, "vanphong", Role::MinistryOffice, &[]);

    let unit_of = |u: &str| UNITS.iter().position(|x| *x == u).unwrap_or(0);
    let honest: Vec<Honest> = [
        ("cucvt.a", "cuc-vt"),
        ("cucvt.a", "cuc-vt"),
        ("cucvt.b", "cuc-vt"),
        ("viettel.a", "viettel"),
        ("viettel.b", "viettel"),
        ("attt.a", "cuc-attt"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (user, unit))| Honest {
        name: format!("honest #{i} ({user}, {unit})"),
        phone: http.phone(user, unit),
        unit: unit_of(unit),
        ops: BTreeMap::new(),
        acked: 0,
        sent: Vec::new(),
        dormant: false,
        retired: None,
    })
    .collect();
    let hostile: Vec<Hostile> = [("cucvt.x", "cuc-vt"), ("viettel.x", "viettel")]
        .iter()
        .map(|(user, unit)| Hostile {
            name: format!("hostile ({user}, {unit})"),
            phone: http.phone(user, unit),
            unit: unit_of(unit),
            held: Vec::new(),
            taken: Vec::new(),
            stored: BTreeSet::new(),
            vv: BTreeMap::new(),
            sent: Vec::new(),
        })
        .collect();
    let units: Vec<UnitState> = UNITS
        .iter()
        .map(|u| {
            let replica = &honest
                .iter()
                .find(|h| h.phone.replica.key().unit == *u)
                .unwrap_or_else(|| panic!("no phone of {u}"))
                .phone
                .replica;
            UnitState {
                key: replica.key().clone(),
                fingerprint: replica.fingerprint(),
                tasks: u32::try_from(replica.doc().header().tasks.len())
                    .unwrap_or(1)
                    .max(1),
                adhoc: Vec::new(),
                pool: Vec::new(),
            }
        })
        .collect();
    let mut sim = Sim {
        rng: StdRng::seed_from_u64(seed),
        base: base_day(),
        units,
        honest,
        hostile,
        log,
        deck: Vec::new(),
        floods: Vec::new(),
    };

    // Each hostile device first has 1,024 one-operation changes taken: what its resends,
    // floods and re-used starts repeat.
    for j in 0..sim.hostile.len() {
        sim.hostile_act(http, j, Kind::NewOneOpChanges);
    }

    // The restored phone (issue 18, point 4): a copy of an honest phone's store, taken a
    // quarter of the way in; the original goes on; two thirds in, the copy edits and syncs.
    let (copy_at, copy_syncs_at) = (steps / 4, steps * 2 / 3);
    let mut restored_copy: Option<(usize, usize)> = None;
    for step in 0..steps {
        sim.log.step = Phase::Step(step);
        if restored && step == copy_at {
            let active: Vec<usize> = (0..sim.honest.len())
                .filter(|&i| sim.honest[i].active())
                .collect();
            let orig = active[sim.rng.random_range(0..active.len())];
            let o = &sim.honest[orig];
            let copy = Honest {
                name: format!("restored copy of {}", o.name),
                phone: Phone {
                    replica: o.phone.replica.clone(),
                    actor: o.phone.actor,
                    key: o.phone.key.clone(),
                    token: o.phone.token.clone(),
                },
                unit: o.unit,
                ops: o.ops.clone(),
                acked: o.acked,
                sent: Vec::new(),
                dormant: true,
                retired: None,
            };
            sim.honest.push(copy);
            restored_copy = Some((orig, sim.honest.len() - 1));
        }
        if let Some((orig, copy)) = restored_copy.filter(|_| step == copy_syncs_at) {
            restored_phone_syncs(&mut sim, http, orig, copy);
        }
        let roll = sim.rng.random_range(0..100);
        let active: Vec<usize> = (0..sim.honest.len())
            .filter(|&i| sim.honest[i].active())
            .collect();
        let i = active[sim.rng.random_range(0..active.len())];
        match roll {
            0..=39 => sim.honest_edit(i),
            40..=59 => {
                sim.honest_sync_ok(http, i);
            }
            60..=62 => sim.honest_replay(http, i),
            _ => {
                let j = sim.rng.random_range(0..sim.hostile.len());
                let kind = sim.draw();
                sim.hostile_act(http, j, kind);
            }
        }
    }
    let simulated = began.elapsed();
    if restored {
        // Its turn refuses anything but 409 reused_sequence; here: the turn came.
        assert!(
            restored_copy.is_some_and(|(_, copy)| sim.honest[copy].retired.is_some()),
            "the restored copy never synced ({steps} steps)"
        );
    }
    // Not a vacuous run: at the default budget every kind of mutation was sent, hostile
    // devices had changes both accepted and refused, and honest phones had operations
    // acknowledged.
    if steps >= DEFAULT_STEPS {
        let tried: BTreeSet<&str> = sim.log.answers.keys().map(|(k, _, _)| *k).collect();
        let untried: Vec<&str> = Kind::ALL
            .iter()
            .map(|k| k.name())
            .filter(|k| !tried.contains(k))
            .collect();
        assert!(
            untried.is_empty(),
            "never sent: {untried:?}; {}",
            sim.log.replay()
        );
        let count = |f: &dyn Fn(&str, u16) -> bool| {
            sim.log
                .answers
                .iter()
                .filter(|((kind, status, _), _)| f(kind, *status))
                .map(|(_, n)| n)
                .sum::<usize>()
        };
        let hostile = |kind: &str| !kind.starts_with("honest");
        assert!(
            count(&|k, s| hostile(k) && s == 200) > 0 && count(&|k, s| hostile(k) && s != 200) > 0,
            "the hostile devices had nothing accepted or nothing refused; {}",
            sim.log.replay()
        );
    }

    // Every honest phone syncs until a whole round brings nothing new.
    sim.log.step = Phase::End;
    let active: Vec<usize> = (0..sim.honest.len())
        .filter(|&i| sim.honest[i].active())
        .collect();
    let mut quiet = false;
    for _round in 0..8 {
        let mut pulled = 0;
        for &i in &active {
            pulled += sim.honest_sync_ok(http, i).pulled;
        }
        let pending = active
            .iter()
            .map(|&i| {
                sim.honest[i]
                    .phone
                    .replica
                    .unacknowledged(sim.honest[i].phone.actor)
            })
            .sum::<usize>();
        if pulled == 0 && pending == 0 {
            quiet = true;
            break;
        }
    }
    assert!(quiet, "the phones never became quiet; {}", sim.log.replay());

    // What the server holds: each unit as a fresh device receives it.
    let observer = Observer::new(http);
    let served: Vec<UnitDocument> = UNITS
        .iter()
        .map(|u| {
            observer
                .receive(http, u)
                .unwrap_or_else(|e| panic!("the observer's sync of {u}: {e:?}"))
        })
        .collect();

    // Every acknowledged honest operation is in the op log, with the same content; each
    // sequence number is stored once, and none the document holds is missing.
    let mut logged: BTreeMap<(String, ActorId, u64), Op> = BTreeMap::new();
    for (unit, c) in op_log(&db) {
        for (k, op) in c.ops.into_iter().enumerate() {
            let seq = c.start + k as u64;
            let key = (unit.clone(), c.actor, seq);
            assert!(
                logged.insert(key, op).is_none(),
                "{unit}: operation {}.{seq} is stored twice in the op log; {}",
                c.actor,
                sim.log.replay()
            );
        }
    }
    for (u, doc) in UNITS.iter().zip(&served) {
        for (&actor, &n) in &doc.version().dots {
            for seq in 1..=n {
                assert!(
                    logged.contains_key(&((*u).to_string(), actor, seq)),
                    "{u}: the document holds {actor}.{seq}, the op log does not; {}",
                    sim.log.replay()
                );
            }
        }
    }
    let mut acknowledged = 0usize;
    for h in &sim.honest {
        let unit = UNITS[h.unit].to_string();
        for (&seq, op) in h.ops.range(..=h.acked) {
            let stored = logged.get(&(unit.clone(), h.phone.actor, seq));
            assert_eq!(
                stored,
                Some(op),
                "{}: operation {}.{seq} was acknowledged (a 200 covering it) but the op log {}; {}",
                h.name,
                h.phone.actor,
                if stored.is_some() {
                    "holds other content under its number: the server dropped it (issue 18, point 4)"
                } else {
                    "lacks it"
                },
                sim.log.replay()
            );
            acknowledged += 1;
        }
    }

    assert!(
        acknowledged > 0 || steps < DEFAULT_STEPS,
        "no honest operation was acknowledged"
    );

    // Every honest phone equals, byte for byte, what the server holds of its unit.
    for &i in &active {
        let h = &sim.honest[i];
        assert!(
            h.phone.canonical() == canonical(&served[h.unit]),
            "{} differs from the server's {}; {}",
            h.name,
            UNITS[h.unit],
            sim.log.replay()
        );
    }
    let expected: Vec<Vec<u8>> = served.iter().map(canonical).collect();
    drop(server);

    // A restart on the same database with the document cache off: every document loads
    // (a sync of each unit answers 200) and equals the phones' state.
    let restarted = Instant::now();
    let server = serve(&db, false);
    let http: &Http = &server;
    let observer = Observer::new(http);
    let token = observer.0.token.clone();
    let everything = reads_answer(http, &token, &UNITS, "after the restart");
    for u in &everything {
        let doc = observer
            .receive(http, u)
            .unwrap_or_else(|e| panic!("after the restart, {u} does not load: {e:?}"));
        if let Some(k) = UNITS.iter().position(|x| x == u) {
            assert!(
                canonical(&doc) == expected[k],
                "after the restart, {u} differs from the phones'; {}",
                sim.log.replay()
            );
        }
    }
    for &i in &active {
        let outcome = sim.honest_sync_ok(http, i);
        assert_eq!(
            outcome.pulled, 0,
            "{}: pulled after the restart",
            sim.honest[i].name
        );
        assert!(sim.honest[i].phone.canonical() == expected[sim.honest[i].unit]);
    }
    // The projections the reads come from agree with mobile-core's rules on the phones'
    // copies, hostile traffic and all.
    // Overdue and the days since the last report are the server's for the day it answered
    // on: the rules are run for that day.
    for (k, u) in UNITS.iter().enumerate() {
        let (day, status, read) =
            get_with_server_day(http, &token, &format!("/api/v1/units/{u}/progress"));
        assert_eq!(status, 200, "{read}");
        let doc = sim.honest[active
            .iter()
            .copied()
            .find(|&i| sim.honest[i].unit == k)
            .unwrap_or_else(|| panic!("no active phone of {u}"))]
        .phone
        .replica
        .doc();
        let rules = serde_json::to_value(unit_progress(doc, day)).unwrap_or_default();
        assert_eq!(
            read,
            rules,
            "{u}: the projections differ from the rules on {day}; {}",
            sim.log.replay()
        );
    }
    assert_eq!(
        http.metric("taskforce_doc_cache_hits_total"),
        0,
        "the cache is off"
    );

    // One unreadable document never takes down the others: cuc-attt's stored state is
    // garbage; the other units still sync, and every read still answers for every unit.
    let broken = UNITS[2];
    with_db(&db, async move |conn| {
        documents::Entity::update_many()
            .col_expr(
                documents::Column::State,
                Expr::value(vec![wire::FORMAT_VERSION, 4, 0xff, 0xff, 0xff]),
            )
            .col_expr(documents::Column::StateOps, Expr::value(1_i64))
            .filter(documents::Column::DirectiveId.eq(DIRECTIVE))
            .filter(documents::Column::UnitId.eq(broken))
            .exec(&conn)
            .await
            .unwrap_or_else(|e| panic!("break {broken}: {e}"));
    });
    let listed = reads_answer(http, &token, &UNITS, &format!("with {broken} unreadable"));
    assert_eq!(listed, everything, "every unit is still listed");
    let mut broken_answer = None;
    for &i in &active {
        sim.honest_edit(i);
        if sim.honest[i].unit == 2 {
            let body = sim.honest[i].phone.request_bytes();
            let (status, resp) =
                http.post_sync(&sim.honest[i].phone.token, sim.honest[i].phone.actor, &body);
            let json: Value = serde_json::from_slice(&resp).unwrap_or_default();
            assert_ne!(
                status, 200,
                "a sync of the unreadable {broken} was answered 200"
            );
            assert!(json["error"].as_str().is_some(), "{status}: {json}");
            broken_answer = Some(format!("{status} {}", json["error"]));
        } else {
            sim.honest_sync_ok(http, i);
        }
    }
    let mut floods: Vec<f64> = sim.floods.iter().map(|(_, ms)| *ms).collect();
    floods.sort_by(f64::total_cmp);
    let floods = match (floods.first(), floods.get(floods.len() / 2), floods.last()) {
        (Some(min), Some(median), Some(max)) => format!(
            "{} resend floods of {MAX_CHANGES} held changes answered in {min:.0} / {median:.0} / {max:.0} ms (min / median / max)",
            floods.len()
        ),
        _ => "no resend flood".into(),
    };
    eprintln!(
        "{}: {steps} steps in {:.1} s, end checks {:.1} s ({} acknowledged honest operations checked, restart {:.1} s; a sync of the unreadable {broken}: {}); {floods}\nanswers:\n{}",
        sim.log.test,
        simulated.as_secs_f64(),
        began.elapsed().as_secs_f64() - simulated.as_secs_f64(),
        acknowledged,
        restarted.elapsed().as_secs_f64(),
        broken_answer.unwrap_or_default(),
        sim.log.summary()
    );
}

/// The scripted turn of the restored copy (issue 18, point 4): the original makes more
/// operations than the copy will and syncs; then the copy, numbering operations of its own
/// (notes no other phone writes) from where the backup left off, syncs, re-using sequence
/// numbers the server holds with other content. It must be refused outright: 409
/// `reused_sequence`, `reused` naming the copy's actor and its first change's start. A 200
/// fails at once: the server would have skipped the copy's operations as held and lost them
/// (the code before the fix answered so).
///
/// What the test's `Phone` can show: it is a bare replica with the device's key and session
/// (no store, no recovery), so it shows what the server does with a restored store's
/// changes — refused, none of them stored, the original's operations kept under those
/// numbers (the op-log check at the end), every other phone converging without the copy.
/// What it cannot show is the phone's own recovery (registering a new device, re-issuing its
/// operations under the new actor, replacing its store in one transaction): that is
/// `Client`'s, tested with a real store file copied and restored in
/// `server/tests/phone_client.rs`, `a_phone_restored_from_a_backup_keeps_its_new_edits`.
fn restored_phone_syncs(sim: &mut Sim, http: &Http, orig: usize, copy: usize) {
    let k = sim.rng.random_range(1..=3);
    for _ in 0..k + 2 {
        sim.honest_edit(orig);
    }
    sim.honest_sync_ok(http, orig);
    let c = &mut sim.honest[copy];
    for n in 0..k {
        let op = c.phone.replica.doc().set_op(
            TaskRef::Assigned(n),
            TaskField::Notes(format!("Ghi chú của bản sao khôi phục {n}")),
        );
        let id = c
            .phone
            .replica
            .edit(c.phone.actor, op.clone())
            .unwrap_or_else(|e| panic!("{}: own edit refused: {e}; {}", c.name, sim.log.replay()));
        c.ops.insert(id.seq, op);
    }
    // Sealed here (the sync would), to know the start of its first change.
    c.phone.replica.seal(c.phone.actor, &c.phone.key);
    let first = c.phone.replica.request().changes.first().map(|ch| ch.start);
    let actor = c.phone.actor;
    match sim.honest_sync(http, copy) {
        Err(SyncFail::Refused(409, body))
            if body["error"] == "reused_sequence"
                && body["reused"]["actor"] == actor
                && first.is_some_and(|start| body["reused"]["start"] == start) =>
        {
            sim.honest[copy].retired = Some(format!("refused: {body}"));
        }
        other => panic!(
            "{}: expected 409 reused_sequence, reused {{actor {actor}, start {first:?}}}; got {}; {}",
            sim.honest[copy].name,
            match other {
                Ok(_) | Err(SyncFail::Unreceivable(_)) =>
                    "200: the server skipped its operations as held and lost them (issue 18, point 4)".to_string(),
                Err(SyncFail::Refused(status, body)) => format!("{status} {body}"),
            },
            sim.log.replay()
        ),
    }
}

/// Hostile devices among honest phones never break the write path (issue 18).
fn hostile_peers_never_break_the_write_path(db: TestDb) {
    simulate(db, "hostile_peers_never_break_the_write_path", false);
}

/// Issue 18, point 4: the same simulation with a phone restored from a backup. Written
/// before the fix and failing on the code before it (b65d2bb): the server answered the
/// copy's sync 200 and dropped its new operations (held by sequence number). With the fix the
/// copy is refused with 409 `reused_sequence`, required outright, and takes no further part.
fn a_restored_phone_among_hostile_peers_is_refused_not_silently_dropped(db: TestDb) {
    simulate(
        db,
        "a_restored_phone_among_hostile_peers_is_refused_not_silently_dropped",
        true,
    );
}

/// The simulation's model of the accept rule's sequence numbers (`Hostile::judge`, which
/// decides what a 200 must have taken and which start a 409 `reused_sequence` names) decides
/// as mobile-core's `admit_changes` and `check_changes` do, run on a document of their own:
/// seeded batches of new changes, resends, changes straddling what is held, other content at a
/// held start, gaps, empty changes and starts at 0. Without it the model could accept what the
/// rule refuses (the model before took a straddling change's new part, and counted a 200 that
/// dropped a re-used start as matching) and the simulation would hold the server to it.
#[test]
fn the_model_of_sequence_numbers_decides_as_the_accept_rule() {
    use taskforce_core::{
        directive::Role,
        doc::{DocError, HeaderTask},
        sync::{admit_changes, apply_changes, check_changes, signing_key},
    };
    let header = DocHeader {
        directive: DIRECTIVE.into(),
        unit: UNITS[0].into(),
        tasks: vec![HeaderTask {
            clause: "1".into(),
            role: Role::Lead,
        }],
    };
    let (actor, key, fp) = (7, signing_key(&[18; 32]), header.fingerprint());
    let mut doc = UnitDocument::new(header.clone());
    let mut model = Hostile {
        name: "the model".into(),
        phone: Phone {
            replica: Replica::new(header),
            actor,
            key: key.clone(),
            token: String::new(),
        },
        unit: 0,
        held: Vec::new(),
        taken: Vec::new(),
        stored: BTreeSet::new(),
        vv: BTreeMap::new(),
        sent: Vec::new(),
    };
    let mut rng = StdRng::seed_from_u64(18);
    let mut made = 0u64;
    let mut fresh = |n: u64| -> Vec<Op> {
        (0..n)
            .map(|_| {
                made += 1;
                Op::Set {
                    task: TaskRef::Assigned(0),
                    value: TaskField::Progress(u8::try_from(made % 101).unwrap_or(0)),
                    ctx: Vec::new(),
                }
            })
            .collect()
    };
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..1_500 {
        let have = model.held.len() as u64;
        let mut next = have + 1;
        let mut changes: Vec<Change> = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let change = match rng.random_range(0..8) {
                0 if !model.taken.is_empty() => {
                    model.taken[rng.random_range(0..model.taken.len())].clone()
                }
                1 => Change::sign(fp, actor, next, Vec::new(), &key),
                2 => Change::sign(fp, actor, 0, fresh(1), &key),
                3 => Change::sign(fp, actor, next + rng.random_range(1..3), fresh(1), &key),
                4 if have > 0 => {
                    let start = rng.random_range(1..=have);
                    let len = rng.random_range(1..=(have - start + 1).min(3));
                    Change::sign(fp, actor, start, fresh(len), &key)
                }
                5 if have > 0 => {
                    let start = rng.random_range(1..=have);
                    let from = usize::try_from(start - 1).unwrap_or(0);
                    let mut ops = model.held[from..].to_vec();
                    ops.extend(fresh(1));
                    Change::sign(fp, actor, start, ops, &key)
                }
                6 if !changes.is_empty() => changes[rng.random_range(0..changes.len())].clone(),
                _ => {
                    let c = Change::sign(fp, actor, next, fresh(rng.random_range(1..=3)), &key);
                    next = c.end() + 1;
                    c
                }
            };
            changes.push(change);
        }
        let rule = admit_changes(&doc, &changes, |c| {
            model.stored.contains(&wire::encode_change(c))
        })
        .and_then(|()| check_changes(&doc, &changes));
        let judged = model.judge(&changes).map(|new| new.len());
        let outcome = match (&rule, &judged) {
            (Ok(()), Ok(0)) => "nothing new",
            (Ok(()), Ok(_)) => "taken",
            (Err(DocError::Reused { start, .. }), Err(SeqRefusal::Reused(s))) if start == s => {
                "reused"
            }
            (Err(DocError::Gap { from, .. }), Err(SeqRefusal::Gap(s))) if from == s => "gap",
            (Err(DocError::Invalid(_)), Err(SeqRefusal::Empty(_))) => "empty",
            (Err(DocError::Invalid(_)), Err(SeqRefusal::StartZero)) => "start 0",
            _ => panic!(
                "round {round}: the rule answers {rule:?}, the model {judged:?}, for {changes:?}"
            ),
        };
        *outcomes.entry(outcome).or_default() += 1;
        if rule.is_ok() {
            let applied = apply_changes(&mut doc, &changes, |_, _| {});
            let took = model.take(&changes);
            assert!(
                matches!((&applied, &took), (Ok(a), Ok(t)) if *a as u64 == *t),
                "round {round}: applied {applied:?}, the model took {took:?}"
            );
            assert_eq!(doc.version().get(&actor), model.held.len() as u64);
        }
    }
    for outcome in ["nothing new", "taken", "reused", "gap", "empty", "start 0"] {
        assert!(
            outcomes.get(outcome).is_some_and(|&n| n > 0),
            "never {outcome}: {outcomes:?}"
        );
    }
}

on_every_store!(
    hostile_peers_never_break_the_write_path,
    a_restored_phone_among_hostile_peers_is_refused_not_silently_dropped,
);
