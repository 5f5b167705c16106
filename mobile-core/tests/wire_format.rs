//! The wire format: fixtures lock the encoding (a test fails if it changes by accident),
//! decode(encode(x)) == x for any value, and arbitrary bytes never panic the decoder.
//!
//! After a deliberate format change (and a new FORMAT_VERSION), regenerate the fixtures with
//! `UPDATE_FIXTURES=1 cargo test -p taskforce-core --test wire_format`.

mod common;

use std::collections::BTreeMap;

use common::{header, key};
use proptest::prelude::*;
use taskforce_core::{
    doc::{
        Confirmation, ConfirmationState, Day, Evidence, Figure, Op, OpId, Report, Review, Status,
        TaskField, TaskRef, UnitDocument, Urge, Verdict,
    },
    sync::{Change, DocKey, Payload, Replica, SyncRequest, SyncResponse, choose_payload, wire},
};

fn fixture(name: &str, bytes: &[u8]) {
    let path = format!("{}/tests/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        expected == bytes,
        "the encoding of {name} changed: bump FORMAT_VERSION and regenerate"
    );
}

fn sample_ops() -> Vec<Op> {
    vec![
        Op::Set {
            task: TaskRef::Assigned(3),
            value: TaskField::Status(Status::Done),
            ctx: vec![],
        },
        Op::Set {
            task: TaskRef::Assigned(3),
            value: TaskField::Progress(80),
            ctx: vec![(1, 1), (7, 4)],
        },
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Due(Some(Day(737_460))),
            ctx: vec![],
        },
        Op::AddTask {
            parent: Some(TaskRef::Assigned(3)),
            title: "Gửi công văn cho Viettel".into(),
        },
        Op::Comment {
            task: TaskRef::Adhoc(OpId::new(1, 4)),
            text: "Đã gọi điện".into(),
            at: 1_580_600_000,
        },
        Op::AddEvidence {
            task: TaskRef::Assigned(3),
            evidence: Evidence {
                file_name: "cdr-2020-02-05.csv".into(),
                size: 1_048_576,
                sha256: [0xab; 32],
                at: 1_580_601_000,
            },
        },
        Op::Confirm(Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from: Day(737_457),
            attested_by: "Nguyễn Văn A".into(),
            evidence: None,
            at: 1_580_602_000,
        }),
        Op::SetConfirmation {
            id: OpId::new(1, 7),
            state: ConfirmationState::Withdrawn,
            ctx: vec![(1, 7)],
        },
        Op::Report(Report {
            period: "2020-W06".into(),
            text: "Đã nhắn 120 triệu tin".into(),
            figures: vec![Figure {
                name: "sms_sent".into(),
                value: 120_000_000,
            }],
            at: 1_580_603_000,
        }),
    ]
}

fn sample_change() -> Change {
    Change::sign(header(5).fingerprint(), 1, 1, sample_ops(), &key(1))
}

#[test]
fn fixtures_lock_the_encoding() {
    let change = sample_change();
    let bytes = wire::encode_change(&change);
    fixture("change-v1.bin", &bytes);
    assert_eq!(wire::decode_change(&bytes), Ok(change.clone()));
    assert!(change.verify(header(5).fingerprint(), &key(1).verifying_key()));

    let request = SyncRequest {
        doc: DocKey {
            directive: "5-ct-btttt".into(),
            unit: "viettel".into(),
        },
        fingerprint: header(5).fingerprint(),
        vv: BTreeMap::from([(1, 9), (4, 2)]),
        changes: vec![change.clone()],
    };
    let bytes = wire::encode_request(&request);
    fixture("request-v1.bin", &bytes);
    assert_eq!(wire::decode_request(&bytes), Ok(request));

    let mut replica = Replica::new(header(5));
    replica
        .receive(SyncResponse {
            vv: BTreeMap::new(),
            payload: Payload::Changes(vec![]),
        })
        .ok();
    assert_eq!(replica.fingerprint(), header(5).fingerprint());
    // The server's answer to that change from an empty document, as `Replica::respond` makes
    // it, built here without the acceptance rule: the sample names other devices' operations
    // the empty document does not hold (which the rule refuses), and these fixtures lock only
    // the encoding.
    let mut server = UnitDocument::new(header(5));
    server
        .apply_ops(change.actor, change.start, &change.ops)
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = SyncResponse {
        vv: server.version().dots.clone(),
        payload: choose_payload(vec![change], || server.to_canonical()),
    };
    let snapshot = server.to_canonical();
    // Version 1 (before decision 39), as stored in older databases and phones: still read,
    // as a state without the Ministry Office's registers.
    let old = |name: &str| {
        let path = format!("{}/tests/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(old("snapshot-v1.bin")[0], 1);
    assert_eq!(
        wire::decode_snapshot(&old("snapshot-v1.bin")),
        Ok(snapshot.clone())
    );
    assert_eq!(
        wire::decode_response(&old("response-v1.bin")),
        Ok(resp.clone())
    );

    // A version 1 answer carrying a snapshot: the v1 snapshot's body under a v1 answer's
    // header (postcard: the version vector, then `Payload::Snapshot`'s index, 1, then the
    // document), read as the same state.
    let mut v1_answer = vec![1u8, 3];
    v1_answer.extend(postcard::to_stdvec(&snapshot.vv).unwrap_or_default());
    v1_answer.push(1);
    v1_answer.extend_from_slice(&old("snapshot-v1.bin")[2..]);
    assert_eq!(
        wire::decode_response(&v1_answer),
        Ok(SyncResponse {
            vv: snapshot.vv.clone(),
            payload: Payload::Snapshot(Box::new(snapshot.clone())),
        })
    );

    // Version 2 (decision 39, before decision 44), as stored and sent before revisions:
    // still read, as a state without a revision's register.
    assert_eq!(old("snapshot-v2.bin")[0], 2);
    assert_eq!(
        wire::decode_snapshot(&old("snapshot-v2.bin")),
        Ok(snapshot.clone())
    );
    assert_eq!(
        wire::decode_response(&old("response-v2.bin")),
        Ok(resp.clone())
    );

    // A version 2 answer carrying a snapshot (the v2 snapshot's body under a v2 answer's
    // header), read as the same state.
    let mut v2_answer = vec![2u8, 3];
    v2_answer.extend(postcard::to_stdvec(&snapshot.vv).unwrap_or_default());
    v2_answer.push(1);
    v2_answer.extend_from_slice(&old("snapshot-v2.bin")[2..]);
    assert_eq!(
        wire::decode_response(&v2_answer),
        Ok(SyncResponse {
            vv: snapshot.vv.clone(),
            payload: Payload::Snapshot(Box::new(snapshot.clone())),
        })
    );

    // Version 3: the same state.
    let bytes = wire::encode_snapshot(&snapshot);
    assert_eq!(bytes[0], 3);
    fixture("snapshot-v3.bin", &bytes);
    assert_eq!(wire::decode_snapshot(&bytes), Ok(snapshot));
    let bytes = wire::encode_response(&resp);
    fixture("response-v3.bin", &bytes);
    assert_eq!(wire::decode_response(&bytes), Ok(resp));

    // With the Ministry Office's operations: the version 2 snapshot still reads as the
    // same state, and version 3 writes it.
    let office = Change::sign(header(5).fingerprint(), 9, 1, office_ops(), &key(9));
    let bytes = wire::encode_change(&office);
    assert_eq!(bytes[0], 1, "changes are still written as version 1");
    fixture("change-office-v1.bin", &bytes);
    assert_eq!(wire::decode_change(&bytes), Ok(office.clone()));
    server
        .apply_ops(office.actor, office.start, &office.ops)
        .unwrap_or_else(|e| panic!("{e}"));
    let snapshot = server.to_canonical();
    assert_eq!(
        wire::decode_snapshot(&old("snapshot-office-v2.bin")),
        Ok(snapshot.clone())
    );
    let bytes = wire::encode_snapshot(&snapshot);
    fixture("snapshot-office-v3.bin", &bytes);
    assert_eq!(wire::decode_snapshot(&bytes), Ok(snapshot));

    // A revision (decision 44): a task withdrawn, a role changed, a task given for a new
    // clause, and the unit's edit of that task.
    let revision = Change::sign(header(5).fingerprint(), 9, 5, revision_ops(), &key(9));
    let bytes = wire::encode_change(&revision);
    assert_eq!(bytes[0], 1, "changes are still written as version 1");
    fixture("change-revision-v1.bin", &bytes);
    assert_eq!(wire::decode_change(&bytes), Ok(revision.clone()));
    server
        .apply_ops(revision.actor, revision.start, &revision.ops)
        .unwrap_or_else(|e| panic!("{e}"));
    let added = TaskRef::Added(OpId::new(9, 7));
    let edit = Change::sign(
        header(5).fingerprint(),
        1,
        10,
        vec![Op::Set {
            task: added,
            value: TaskField::Status(Status::InProgress),
            ctx: vec![],
        }],
        &key(1),
    );
    server
        .apply_ops(edit.actor, edit.start, &edit.ops)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(server.is_withdrawn(TaskRef::Assigned(0)));
    assert!(server.is_listed(added));
    let snapshot = server.to_canonical();
    let bytes = wire::encode_snapshot(&snapshot);
    fixture("snapshot-revision-v3.bin", &bytes);
    assert_eq!(wire::decode_snapshot(&bytes), Ok(snapshot.clone()));
    let decoded = UnitDocument::from_canonical(snapshot).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decoded.task_refs(), server.task_refs());
    assert_eq!(decoded.withdrawn_refs(), vec![TaskRef::Assigned(0)]);
}

/// A revision of the directive (decision 44): task 0 withdrawn, task 3 made coordinating, a
/// task for clause III.4.
fn revision_ops() -> Vec<Op> {
    vec![
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Assignment(None),
            ctx: vec![],
        },
        Op::Set {
            task: TaskRef::Assigned(3),
            value: TaskField::Assignment(Some(taskforce_core::directive::Role::Coordinating)),
            ctx: vec![],
        },
        Op::Assign(taskforce_core::doc::HeaderTask {
            clause: "III.4".into(),
            role: taskforce_core::directive::Role::Lead,
        }),
    ]
}

/// The Ministry Office's operations (decision 39): an acceptance, a return, a deadline, an
/// urge.
fn office_ops() -> Vec<Op> {
    vec![
        Op::Set {
            task: TaskRef::Assigned(3),
            value: TaskField::Review(Review {
                verdict: Verdict::Accepted,
                reason: String::new(),
                seen: vec![(1, 2)],
                at: 1_580_700_000,
            }),
            ctx: vec![],
        },
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Review(Review {
                verdict: Verdict::Returned,
                reason: "Thiếu số liệu tuần 6".into(),
                seen: vec![(1, 3)],
                at: 1_580_700_100,
            }),
            ctx: vec![],
        },
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Deadline(Some(Day(737_470))),
            ctx: vec![],
        },
        Op::Urge {
            task: TaskRef::Assigned(0),
            urge: Urge {
                message: "Đề nghị báo cáo trước 17h".into(),
                due: Some(Day(737_470)),
                at: 1_580_700_200,
            },
        },
    ]
}

#[test]
fn a_damaged_stored_change_is_refused_when_an_answer_is_assembled() {
    let good = wire::encode_change(&sample_change());
    let vv = BTreeMap::new();
    assert!(wire::encode_changes_response(&vv, std::slice::from_ref(&good)).is_ok());
    for bad in [
        Vec::new(),
        vec![9, 1, 0],
        wire::encode_request(&SyncRequest {
            doc: DocKey {
                directive: "d".into(),
                unit: "u".into(),
            },
            fingerprint: 1,
            vv: BTreeMap::new(),
            changes: Vec::new(),
        }),
    ] {
        assert!(wire::encode_changes_response(&vv, &[good.clone(), bad]).is_err());
    }
}

#[test]
fn malformed_messages_get_a_clear_error() {
    let good = wire::encode_change(&sample_change());
    assert_eq!(wire::decode_change(&[]), Err(wire::WireError::Empty));
    for version in [2, 3, 4] {
        let mut other = good.clone();
        other[0] = version;
        assert_eq!(
            wire::decode_change(&other),
            wire::decode_change(&good),
            "a change reads the same in versions 1 to 4"
        );
    }
    let mut v5 = good.clone();
    v5[0] = 5;
    assert_eq!(wire::decode_change(&v5), Err(wire::WireError::Version(5)));
    assert!(matches!(
        wire::decode_request(&good),
        Err(wire::WireError::Kind { .. })
    ));
    assert!(matches!(
        wire::decode_change(&good[..good.len() - 1]),
        Err(wire::WireError::Malformed(_))
    ));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        wire::decode_change(&long),
        Err(wire::WireError::Trailing(1))
    );
    let huge = vec![1u8; wire::MAX_MESSAGE_BYTES + 1];
    assert!(matches!(
        wire::decode_request(&huge),
        Err(wire::WireError::TooLarge { .. })
    ));
    // A length prefix claiming far more elements than the message holds.
    let lie = [1u8, 2, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(wire::decode_request(&lie).is_err());
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn task_ref() -> impl Strategy<Value = TaskRef> {
    prop_oneof![
        (0u32..1000).prop_map(TaskRef::Assigned),
        (any::<u32>(), 1u64..1_000_000).prop_map(|(a, s)| TaskRef::Adhoc(OpId::new(a, s))),
        (any::<u32>(), 1u64..1_000_000).prop_map(|(a, s)| TaskRef::Added(OpId::new(a, s))),
    ]
}

fn field() -> impl Strategy<Value = TaskField> {
    prop_oneof![
        proptest::sample::select(Status::ALL.to_vec()).prop_map(TaskField::Status),
        (0u8..=100).prop_map(TaskField::Progress),
        text().prop_map(TaskField::Assignee),
        proptest::option::of(any::<i32>().prop_map(Day)).prop_map(TaskField::Due),
        text().prop_map(TaskField::Notes),
        text().prop_map(TaskField::Title),
        any::<bool>().prop_map(TaskField::Removed),
        proptest::option::of(any::<i32>().prop_map(Day)).prop_map(TaskField::Deadline),
        (
            any::<bool>(),
            text(),
            proptest::collection::vec((any::<u32>(), any::<u64>()), 0..4),
            any::<i64>()
        )
            .prop_map(|(accepted, reason, seen, at)| TaskField::Review(Review {
                verdict: if accepted {
                    Verdict::Accepted
                } else {
                    Verdict::Returned
                },
                reason,
                seen,
                at
            })),
        proptest::option::of(role()).prop_map(TaskField::Assignment),
    ]
}

fn role() -> impl Strategy<Value = taskforce_core::directive::Role> {
    proptest::sample::select(vec![
        taskforce_core::directive::Role::Lead,
        taskforce_core::directive::Role::Coordinating,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    let ctx = proptest::collection::vec((any::<u32>(), any::<u64>()), 0..4);
    prop_oneof![
        (task_ref(), field(), ctx.clone()).prop_map(|(task, value, ctx)| Op::Set {
            task,
            value,
            ctx
        }),
        (proptest::option::of(task_ref()), text())
            .prop_map(|(parent, title)| Op::AddTask { parent, title }),
        (task_ref(), text(), any::<i64>()).prop_map(|(task, text, at)| Op::Comment {
            task,
            text,
            at
        }),
        (
            task_ref(),
            text(),
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<i64>()
        )
            .prop_map(|(task, file_name, size, sha256, at)| Op::AddEvidence {
                task,
                evidence: Evidence {
                    file_name,
                    size,
                    sha256,
                    at
                }
            }),
        (text(), text(), any::<i32>(), text(), any::<i64>()).prop_map(
            |(carrier, hotline, d, attested_by, at)| {
                Op::Confirm(Confirmation {
                    carrier,
                    hotline,
                    free_from: Day(d),
                    attested_by,
                    evidence: None,
                    at,
                })
            }
        ),
        (any::<u32>(), any::<u64>(), any::<bool>(), ctx).prop_map(|(a, s, w, ctx)| {
            Op::SetConfirmation {
                id: OpId::new(a, s),
                state: if w {
                    ConfirmationState::Withdrawn
                } else {
                    ConfirmationState::Confirmed
                },
                ctx,
            }
        }),
        (
            text(),
            text(),
            proptest::collection::vec((text(), any::<i64>()), 0..4),
            any::<i64>()
        )
            .prop_map(|(period, text, figs, at)| Op::Report(Report {
                period,
                text,
                figures: figs
                    .into_iter()
                    .map(|(name, value)| Figure { name, value })
                    .collect(),
                at
            })),
        (
            task_ref(),
            text(),
            proptest::option::of(any::<i32>().prop_map(Day)),
            any::<i64>()
        )
            .prop_map(|(task, message, due, at)| Op::Urge {
                task,
                urge: Urge { message, due, at }
            }),
        (text(), role()).prop_map(
            |(clause, role)| Op::Assign(taskforce_core::doc::HeaderTask { clause, role })
        ),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    (
        any::<u32>(),
        1u64..u64::MAX / 2,
        proptest::collection::vec(op(), 0..12),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(actor, start, ops, s0, s1)| Change {
            actor,
            start,
            ops,
            signature: (s0, s1),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn changes_round_trip(c in change()) {
        prop_assert_eq!(wire::decode_change(&wire::encode_change(&c)), Ok(c));
    }

    #[test]
    fn requests_round_trip(
        changes in proptest::collection::vec(change(), 0..4),
        vv in proptest::collection::btree_map(any::<u32>(), any::<u64>(), 0..6),
        fingerprint in any::<u64>(),
        directive in text(),
        unit in text(),
    ) {
        let r = SyncRequest { doc: DocKey { directive, unit }, fingerprint, vv, changes };
        prop_assert_eq!(wire::decode_request(&wire::encode_request(&r)), Ok(r));
    }

    #[test]
    fn answers_from_stored_changes_are_the_encoded_answer(
        changes in proptest::collection::vec(change(), 0..140),
        vv in proptest::collection::btree_map(any::<u32>(), any::<u64>(), 0..6),
    ) {
        // 0..140 changes: the list's length takes one varint byte, then two.
        let stored: Vec<Vec<u8>> = changes.iter().map(wire::encode_change).collect();
        let spliced = wire::encode_changes_response(&vv, &stored);
        let r = SyncResponse { vv, payload: Payload::Changes(changes) };
        prop_assert_eq!(spliced.as_ref(), Ok(&wire::encode_response(&r)));
        let len: usize = stored.iter().map(|b| b.len() - 2).sum();
        let Payload::Changes(cs) = &r.payload else { unreachable!() };
        prop_assert_eq!(len, taskforce_core::sync::changes_len(cs));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = wire::decode_change(&bytes);
        let _ = wire::decode_request(&bytes);
        let _ = wire::decode_response(&bytes);
        let _ = wire::decode_snapshot(&bytes);
    }

    #[test]
    fn corrupted_messages_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = wire::encode_change(&sample_change());
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(c) = wire::decode_change(&bytes) {
            // Whatever still decodes is checked by its signature and op validation.
            let _ = c.verify(header(5).fingerprint(), &key(1).verifying_key());
        }
    }
}
