//! The sync protocol's promises, one by one: idempotence, gaps, forged and tampered changes,
//! a lost response, snapshots, one round trip.

mod common;

use common::{header, key, verify};
use taskforce_core::{
    doc::{DocError, Op, Report, Status, TaskField, TaskRef},
    sync::{Change, EMPTY_CHANGE, Payload, Replica, SyncError, SyncRequest, wire},
};

fn status(r: &mut Replica, actor: u32, task: u32, s: Status) {
    let op = r
        .doc()
        .set_op(TaskRef::Assigned(task), TaskField::Status(s));
    r.edit(actor, op).unwrap_or_else(|e| panic!("{e}"));
}

fn canon(r: &Replica) -> Vec<u8> {
    postcard::to_stdvec(&r.doc().to_canonical()).unwrap_or_default()
}

fn sealed_request(phone: &mut Replica, actor: u32) -> SyncRequest {
    phone.seal(actor, &key(actor));
    phone.request()
}

#[test]
fn a_replayed_request_changes_nothing() {
    let mut server = Replica::new(header(4));
    let mut phone = Replica::new(header(4));
    let fp = server.fingerprint();
    status(&mut phone, 1, 0, Status::Done);
    status(&mut phone, 1, 1, Status::InProgress);
    let req = sealed_request(&mut phone, 1);
    let (_, first) = server
        .respond(&req, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.pushed, 2);
    let before = canon(&server);
    for _ in 0..3 {
        let (_, again) = server
            .respond(&req, verify(fp))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.pushed, 0);
    }
    assert_eq!(canon(&server), before);
}

#[test]
fn a_lost_response_loses_and_duplicates_nothing() {
    let mut server = Replica::new(header(4));
    let mut phone = Replica::new(header(4));
    let fp = server.fingerprint();
    status(&mut phone, 1, 0, Status::Done);
    let req = sealed_request(&mut phone, 1);
    // The server stores the change; the answer never reaches the phone.
    let _lost = server
        .respond(&req, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(phone.unacknowledged(1), 1);
    status(&mut phone, 1, 2, Status::Blocked);
    let req = sealed_request(&mut phone, 1);
    assert_eq!(
        req.changes.len(),
        2,
        "the unacknowledged change is sent again"
    );
    let (resp, outcome) = server
        .respond(&req, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.pushed, 1);
    phone.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(phone.unacknowledged(1), 0);
    assert_eq!(server.doc().version().get(&1), 2);
    assert_eq!(canon(&phone), canon(&server));
}

#[test]
fn a_gap_is_refused_with_the_missing_range_and_state_unchanged() {
    let mut server = Replica::new(header(4));
    let mut phone = Replica::new(header(4));
    let fp = server.fingerprint();
    status(&mut phone, 1, 0, Status::Done);
    let first = sealed_request(&mut phone, 1);
    status(&mut phone, 1, 1, Status::Done);
    phone.seal(1, &key(1));
    let mut second = phone.request();
    second.changes.remove(0); // only ops 2.. arrive
    let before = canon(&server);
    match server.respond(&second, verify(fp)) {
        Err(SyncError::Doc(DocError::Gap {
            actor: 1,
            have: 0,
            from: 2,
        })) => {}
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(canon(&server), before);
    // The phone resends from where the server is.
    phone.rewind_remote(1, 0);
    let (resp, out) = server
        .respond(&phone.request(), verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.pushed, 2);
    phone.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(canon(&phone), canon(&server));
    drop(first);
}

#[test]
fn forged_and_tampered_changes_are_refused_whole() {
    let mut server = Replica::new(header(4));
    let mut phone = Replica::new(header(4));
    let fp = server.fingerprint();
    status(&mut phone, 1, 0, Status::Done);
    let good = sealed_request(&mut phone, 1);
    let before = canon(&server);

    // Signed by another device's key.
    let mut forged = good.clone();
    forged.changes[0] = Change::sign(fp, 1, 1, good.changes[0].ops.clone(), &key(9));
    assert!(matches!(
        server.respond(&forged, verify(fp)),
        Err(SyncError::BadSignature { actor: 1, .. })
    ));

    // An operation changed after signing.
    let mut tampered = good.clone();
    tampered.changes[0].ops[0] = Op::Set {
        task: TaskRef::Assigned(0),
        value: TaskField::Status(Status::Blocked),
        ctx: vec![],
    };
    assert!(matches!(
        server.respond(&tampered, verify(fp)),
        Err(SyncError::BadSignature { .. })
    ));

    // A change signed for another document.
    let mut replayed = good.clone();
    replayed.changes[0] = Change::sign(fp ^ 1, 1, 1, good.changes[0].ops.clone(), &key(1));
    assert!(matches!(
        server.respond(&replayed, verify(fp)),
        Err(SyncError::BadSignature { .. })
    ));

    // Valid signature, invalid content: progress over 100, a task that does not exist.
    for op in [
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Progress(101),
            ctx: vec![],
        },
        Op::Set {
            task: TaskRef::Assigned(99),
            value: TaskField::Progress(1),
            ctx: vec![],
        },
        Op::Report(Report {
            period: "x".repeat(500),
            text: String::new(),
            figures: vec![],
            at: 0,
        }),
    ] {
        let mut bad = good.clone();
        bad.changes[0] = Change::sign(fp, 1, 1, vec![good.changes[0].ops[0].clone(), op], &key(1));
        assert!(matches!(
            server.respond(&bad, verify(fp)),
            Err(SyncError::Doc(_))
        ));
    }

    // The wrong document, or a document with other tasks.
    let mut other = good.clone();
    other.doc.unit = "cuc-attt".into();
    assert!(matches!(
        server.respond(&other, verify(fp)),
        Err(SyncError::WrongDocument(_))
    ));
    let mut mismatch = good.clone();
    mismatch.fingerprint ^= 1;
    assert!(matches!(
        server.respond(&mismatch, verify(fp)),
        Err(SyncError::Doc(DocError::Mismatch(_)))
    ));

    assert_eq!(canon(&server), before, "refused requests changed the state");
    server
        .respond(&good, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.doc().statuses(TaskRef::Assigned(0)), [Status::Done]);
}

#[test]
fn one_round_trip_brings_a_phone_up_to_date_and_a_late_phone_gets_a_snapshot() {
    let mut server = Replica::new(header(50));
    let mut busy = Replica::new(header(50));
    let fp = server.fingerprint();
    // Many small changes, each its own sync: a long history.
    for round in 0..200u32 {
        status(&mut busy, 1, round % 50, Status::ALL[(round % 4) as usize]);
        let req = sealed_request(&mut busy, 1);
        let (resp, _) = server
            .respond(&req, verify(fp))
            .unwrap_or_else(|e| panic!("{e}"));
        busy.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut late = Replica::new(header(50));
    status(&mut late, 2, 7, Status::Blocked);
    let req = sealed_request(&mut late, 2);
    let (resp, _) = server
        .respond(&req, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(resp.payload, Payload::Snapshot(_)),
        "200 changes of history should come as a snapshot"
    );
    let bytes = wire::encode_response(&resp);
    let resp = wire::decode_response(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let outcome = late.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.snapshot && outcome.pulled == 200);
    assert_eq!(canon(&late), canon(&server));
    assert_eq!(late.unacknowledged(2), 0);
    // The busy phone gets the late one's edit as a change, in one round trip.
    let (resp, _) = server
        .respond(&busy.request(), verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(&resp.payload, Payload::Changes(c) if c.len() == 1));
    busy.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(canon(&busy), canon(&server));
}

#[test]
fn a_bad_change_after_good_ones_refuses_the_whole_request() {
    let mut server = Replica::new(header(4));
    let mut phone = Replica::new(header(4));
    let fp = server.fingerprint();
    status(&mut phone, 1, 0, Status::Done);
    phone.seal(1, &key(1));
    status(&mut phone, 1, 1, Status::Blocked);
    let good = sealed_request(&mut phone, 1);
    assert_eq!(good.changes.len(), 2);
    let before = canon(&server);
    let second = &good.changes[1];
    // The second change leaves a gap after the first …
    let mut gap = good.clone();
    gap.changes[1] = Change::sign(fp, 1, second.start + 3, second.ops.clone(), &key(1));
    assert!(matches!(
        server.respond(&gap, verify(fp)),
        Err(SyncError::Doc(DocError::Gap { actor: 1, .. }))
    ));
    assert_eq!(canon(&server), before, "the first change was not kept");
    // … or carries an operation out of range.
    let mut invalid = good.clone();
    let bad = vec![Op::Set {
        task: TaskRef::Assigned(1),
        value: TaskField::Progress(150),
        ctx: vec![],
    }];
    invalid.changes[1] = Change::sign(fp, 1, second.start, bad, &key(1));
    assert!(server.respond(&invalid, verify(fp)).is_err());
    assert_eq!(canon(&server), before, "the first change was not kept");
    // The good request goes through whole.
    let (_, out) = server
        .respond(&good, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.pushed, 2);
}

#[test]
fn an_empty_change_is_refused_and_does_not_misnumber_the_next() {
    let mut server = Replica::new(header(4));
    let mut phone = Replica::new(header(4));
    let fp = server.fingerprint();
    let before = canon(&server);
    // A signed change without operations, alone or before a real one: refused whole.
    let empty = Change::sign(fp, 1, 1, Vec::new(), &key(1));
    status(&mut phone, 1, 0, Status::Done);
    let good = sealed_request(&mut phone, 1);
    let mut with_empty = good.clone();
    with_empty.changes.insert(0, empty.clone());
    let mut alone = good.clone();
    alone.changes = vec![empty];
    for req in [&alone, &with_empty] {
        match server.respond(req, verify(fp)) {
            Err(SyncError::Doc(DocError::Invalid(why))) => assert_eq!(why, EMPTY_CHANGE),
            other => panic!("expected the empty change refused, got {other:?}"),
        }
        assert_eq!(canon(&server), before);
        assert_eq!(server.doc().version().get(&1), 0);
    }
    // The real changes are then numbered from 1, and the next from 2.
    let (resp, out) = server
        .respond(&good, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.pushed, 1);
    phone.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    status(&mut phone, 1, 1, Status::Blocked);
    let (_, out) = server
        .respond(&sealed_request(&mut phone, 1), verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.pushed, 1);
    assert_eq!(server.doc().version().get(&1), 2);
    assert_eq!(canon(&phone), canon(&server));
}
