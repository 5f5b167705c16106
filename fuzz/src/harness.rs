//! What each fuzz target does with one input, shared by the targets (`fuzz/fuzz_targets/`,
//! nightly, libFuzzer) and by the stable regression test `mobile-core/tests/fuzz_regressions.rs`,
//! which replays every seed and every crasher kept in `fuzz/regressions/<target>/` through the
//! same function. A function here panics only when an invariant it states is broken: that is
//! the bug the fuzzer reports.
//!
//! It uses only `taskforce_core` and `std`, so both crates can compile it.

use std::{collections::BTreeMap, sync::OnceLock};

use taskforce_core::{
    directive::{self, Catalogue, SEED_DIRECTIVE},
    doc::{BoundedDocument, DocError, DocHeader, Op, TaskField, TaskRef, UnitDocument, check_room},
    sync::{Change, admit_changes, apply_changes, apply_checked, check_changes, signing_key, wire},
};

/// The targets, by name: what `fuzz/regressions/<target>/` and `fuzz/seeds/<target>/` hold.
/// What a target does with one input.
pub type Target = fn(&[u8]);

pub const TARGETS: [(&str, Target); 4] = [
    ("directive_parse", directive_parse),
    ("wire_decode", wire_decode),
    ("sync_request", sync_request),
    ("call_records", call_records),
];

/// `call_records`: the bytes as a carrier's call records (`cdr::verify`, against the two
/// hotlines of 2020, lines of at most 4 KiB, 50 broken rows or 1 %). Never panics; the figures add
/// up (rows = checked + broken, the hotline calls split between the free period and outside
/// it, charged ones among those in it, the kept lists bounded); the bytes read are the
/// input's; and the same bytes read one at a time give the same figures.
pub fn call_records(data: &[u8]) {
    use taskforce_core::cdr::{self, Options, RegisteredHotline};
    use taskforce_core::doc::Day;
    let from = Day(737_456); // 2020-02-01
    let hotlines = [
        RegisteredHotline {
            number: "19003228".into(),
            free_from: from,
            free_until: None,
        },
        RegisteredHotline {
            number: "1900 9095".into(),
            free_from: from,
            free_until: Some(Day(737_600)),
        },
    ];
    let opts = Options {
        max_line: 4096,
        max_broken: 50,
        ..Options::default()
    };
    let whole = cdr::verify(data, &hotlines, &opts);
    struct OneByte<'a>(&'a [u8]);
    impl std::io::Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(out)) => {
                    *out = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }
    let bytewise = cdr::verify(OneByte(data), &hotlines, &opts);
    let Ok(r) = whole else {
        return;
    };
    assert_eq!(
        bytewise.as_ref(),
        Ok(&r),
        "read in one go and byte by byte differ"
    );
    assert_eq!(r.rows, r.checked + r.broken);
    assert_eq!(r.bytes, data.len() as u64);
    let calls: u64 = r.hotlines.iter().map(|h| h.calls).sum();
    let inside: u64 = r.hotlines.iter().map(|h| h.in_free_period).sum();
    let charged: u64 = r.hotlines.iter().map(|h| h.charged).sum();
    assert_eq!(calls, r.hotline_calls);
    assert_eq!(inside + r.outside_free_period, r.hotline_calls);
    assert_eq!(charged, r.charged);
    assert!(r.charged <= inside && r.hotline_calls <= r.checked);
    assert!(r.offending.len() as u64 <= r.charged.min(20));
    assert!(r.broken_rows.len() as u64 <= r.broken.min(20));
    assert!(r.broken <= 50 || r.broken * 100 <= r.rows);
    for h in &r.hotlines {
        assert_eq!(h.charged > 0, h.first_charged.is_some());
        assert!(h.first_charged <= h.last_charged);
    }
}

/// `directive_parse`: the bytes as an upload (`parse_bytes`, `import` with the bundled
/// catalogue) and as text (lossy UTF-8, `parse`). Never panics; bytes that parse as an upload
/// parse the same as text; every unit's document header can be made from what imports.
pub fn directive_parse(data: &[u8]) {
    let as_upload = directive::parse_bytes(data);
    let text = String::from_utf8_lossy(data);
    let as_text = directive::parse(&text);
    if let Ok(d) = &as_upload {
        assert_eq!(
            Ok(d),
            as_text.as_ref(),
            "an upload and its text parse differently"
        );
    }
    let Some(catalogue) = catalogue() else {
        return;
    };
    if let Ok(d) = directive::import(data, catalogue, None) {
        for unit in catalogue.units() {
            let header = DocHeader::for_unit(&d, catalogue, &unit.id);
            assert_eq!(header.directive, d.slug());
        }
    }
}

/// `wire_decode`: the bytes through every decoder of `sync::wire`. Never panics; what decodes
/// encodes to a message that decodes to the same value; a snapshot's header is its first
/// field; a changes answer made from stored change messages is the one `encode_response`
/// makes; a decoded snapshot that loads reloads to the same canonical form.
pub fn wire_decode(data: &[u8]) {
    if let Ok(c) = wire::decode_change(data) {
        let again = wire::encode_change(&c);
        assert_eq!(wire::decode_change(&again).as_ref(), Ok(&c));
        assert_eq!(wire::change_len(&c) + 2, again.len());
        assert!(wire::change_body(&again).is_ok());
    }
    let _ = wire::change_body(data);
    if let Ok(r) = wire::decode_request(data) {
        let again = wire::encode_request(&r);
        assert_eq!(wire::decode_request(&again).as_ref(), Ok(&r));
    }
    if let Ok(r) = wire::decode_response(data) {
        let again = wire::encode_response(&r);
        assert_eq!(wire::decode_response(&again).as_ref(), Ok(&r));
        if let wire::Payload::Changes(changes) = &r.payload {
            let stored: Vec<Vec<u8>> = changes.iter().map(wire::encode_change).collect();
            assert_eq!(
                wire::encode_changes_response(&r.vv, &stored).as_ref(),
                Ok(&again),
                "a changes answer made from stored bodies differs from encode_response's"
            );
            assert_eq!(wire::changes_response_len(&r.vv, &stored), again.len());
        }
    }
    let header = wire::snapshot_header(data);
    if let Ok(s) = wire::decode_snapshot(data) {
        assert_eq!(header.as_ref(), Ok(&s.header), "snapshot_header disagrees");
        let again = wire::encode_snapshot(&s);
        assert_eq!(wire::decode_snapshot(&again).as_ref(), Ok(&s));
        if let Ok(doc) = UnitDocument::from_canonical(s) {
            let canonical = doc.to_canonical();
            let reloaded =
                UnitDocument::from_canonical(canonical.clone()).map(|d| d.to_canonical());
            assert_eq!(
                reloaded.as_ref(),
                Ok(&canonical),
                "a loaded snapshot reloads differently"
            );
        }
    }
    if let Ok(v) = wire::decode_version(data) {
        let again = wire::encode_version(&v);
        assert_eq!(wire::decode_version(&again).as_ref(), Ok(&v));
    }
}

/// `sync_request`: the bytes as a sync request's body, its changes checked and applied to a
/// real unit document of the seed directive (with some history) through the functions the
/// server's writer calls, in its order (`admit_changes` with the op log as `held`,
/// `check_changes`, `check_room`, then `apply_checked`), on a whole `UnitDocument`, a
/// `BoundedDocument` and one that shed its bodies. Signatures are not checked (the route does
/// that before the writer): the fuzzer plays a device whose key signs anything.
///
/// Never panics. The three documents agree on the verdict. A refusal leaves each unchanged,
/// also through `apply_changes`, which takes the document mutably. Changes that pass apply
/// without error, reach the version the batch names, and sent again are held whole: accepted,
/// nothing applied, the document unchanged.
pub fn sync_request(data: &[u8]) {
    let _ = sync_verdict(data);
}

/// [`sync_request`], giving the writer's verdict on the request (`None`: not a request the
/// writer sees — undecodable, or more changes than the route takes).
pub fn sync_verdict(data: &[u8]) -> Option<Result<(), DocError>> {
    let request = wire::decode_request(data).ok()?;
    let base = base().ok()?;
    let changes = &request.changes;
    if changes.len() > wire::MAX_REQUEST_CHANGES {
        // The route refuses these before the writer sees them.
        return None;
    }
    let held = |c: &Change| base.log.contains(c);
    let whole = base.doc.clone();
    let bounded = BoundedDocument::new(base.doc.clone());
    let mut shed = bounded.clone();
    shed.shed_bodies();

    let verdict_whole = writer_check(&whole, changes, held);
    let verdict_bounded = writer_check(&bounded, changes, held);
    let verdict_shed = writer_check(&shed, changes, held);
    assert_eq!(
        verdict_whole, verdict_bounded,
        "a whole document and a bounded one disagree"
    );
    assert_eq!(
        verdict_bounded, verdict_shed,
        "a bounded document disagrees with itself once shed"
    );

    // `apply_changes` (check_changes, then apply) is all or nothing on its own.
    let before = whole.to_canonical();
    let mut through = whole.clone();
    match apply_changes(&mut through, changes, |_, _| {}) {
        Ok(_) => {}
        Err(e) if verdict_whole.is_ok() => {
            panic!("the writer's checks pass but apply_changes refuses: {e:?}")
        }
        Err(_) => assert_eq!(
            through.to_canonical(),
            before,
            "a refused apply_changes changed the document"
        ),
    }

    if verdict_whole.is_err() {
        // Refused: as the writer does, nothing is applied; the checks took the documents by
        // reference, so nothing could have changed — checked all the same.
        assert_eq!(whole.to_canonical(), before);
        return Some(verdict_whole);
    }
    let mut expected: BTreeMap<u32, u64> = whole.version().dots.clone();
    for c in changes {
        let have = expected.entry(c.actor).or_insert(0);
        *have = (*have).max(c.end());
    }
    for mut doc in [BoundedDocument::new(whole.clone()), shed] {
        let mut log = base.log.clone();
        let mut logged = 0usize;
        let applied = apply_checked(&mut doc, changes, |c, a| {
            if a.applied > 0 {
                logged += 1;
                log.push(c.clone());
            }
        });
        assert!(
            applied.is_ok(),
            "checked changes failed to apply: {applied:?}"
        );
        assert_eq!(doc.version().dots, expected, "the version after applying");
        assert!(logged <= changes.len());
        // Sent again: every change is now held whole.
        let after = doc.clone();
        let again = writer_check(&doc, changes, |c| log.contains(c));
        assert_eq!(again, Ok(()), "a resend of accepted changes is refused");
        let reapplied = apply_checked(&mut doc, changes, |_, a| {
            assert_eq!(a.applied, 0, "a resend applied operations");
        });
        assert_eq!(reapplied, Ok(0));
        assert!(doc == after, "a resend changed the document");
    }
    // What was accepted snapshots and reloads to the same state.
    let mut applied = whole;
    if apply_checked(&mut applied, changes, |_, _| {}).is_ok() {
        let snapshot = wire::encode_snapshot(&applied.to_canonical());
        let reloaded = wire::decode_snapshot(&snapshot)
            .ok()
            .and_then(|s| UnitDocument::from_canonical(s).ok())
            .map(|d| d.to_canonical());
        assert_eq!(
            reloaded,
            Some(applied.to_canonical()),
            "an accepted state does not reload"
        );
    }
    Some(verdict_whole)
}

/// The writer's checks (`server/src/sync/batch.rs`, `apply_job`), in its order.
fn writer_check<D>(
    doc: &D,
    changes: &[Change],
    held: impl Fn(&Change) -> bool,
) -> Result<(), DocError>
where
    D: taskforce_core::sync::ChangeTarget + taskforce_core::doc::Measured,
{
    admit_changes(doc, changes, held)
        .and_then(|()| check_changes(doc, changes))
        .and_then(|()| check_room(doc, changes))
}

/// The unit of the seed directive whose document the `sync_request` target writes to.
pub const UNIT: &str = "cuc-vt";

/// The document a `sync_request` input is applied to, and the changes it holds.
#[derive(Debug)]
pub struct Base {
    pub doc: UnitDocument,
    pub log: Vec<Change>,
    pub header: DocHeader,
}

/// The seed directive's document of [`UNIT`] holding the history of two devices (every kind
/// of operation, a conflict), built once; `None` only if the history is refused, which the
/// regression test rules out (the error says which step failed).
pub fn base() -> Result<&'static Base, String> {
    static BASE: OnceLock<Result<Base, String>> = OnceLock::new();
    BASE.get_or_init(make_base).as_ref().map_err(Clone::clone)
}

fn make_base() -> Result<Base, String> {
    use taskforce_core::doc::{OpId, Status};
    let header = seed_header().ok_or("the seed directive gives the unit no task")?;
    let fp = header.fingerprint();
    let mut doc = UnitDocument::new(header.clone());
    let first = signed(fp, 1, 1, honest_ops(1, 1));
    let second = signed(
        fp,
        2,
        1,
        vec![
            Op::Set {
                task: TaskRef::Assigned(0),
                value: TaskField::Status(Status::Done),
                ctx: Vec::new(),
            },
            Op::Comment {
                task: TaskRef::Adhoc(OpId::new(1, 1)),
                text: "Phối hợp xong.".into(),
                at: 1_580_700_000,
            },
        ],
    );
    let log = vec![first, second];
    writer_check(&doc, &log, |_| false).map_err(|e| format!("the history is refused: {e}"))?;
    apply_checked(&mut doc, &log, |_, _| {})
        .map_err(|e| format!("the history fails to apply: {e}"))?;
    Ok(Base { doc, log, header })
}

fn catalogue() -> Option<&'static Catalogue> {
    static CATALOGUE: OnceLock<Option<Catalogue>> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue::bundled().ok()).as_ref()
}

/// The header of [`UNIT`]'s document for the seed directive, imported as the server does.
pub fn seed_header() -> Option<DocHeader> {
    let catalogue = catalogue()?;
    let d = directive::import(SEED_DIRECTIVE.as_bytes(), catalogue, None).ok()?;
    let header = DocHeader::for_unit(&d, catalogue, UNIT);
    (!header.tasks.is_empty()).then_some(header)
}

/// A change of `actor`'s operations from `start`, signed with its fixed key (the seeds and
/// the history; the target itself checks no signature).
pub fn signed(fingerprint: u64, actor: u32, start: u64, ops: Vec<Op>) -> Change {
    let mut secret = [7u8; 32];
    secret[..4].copy_from_slice(&actor.to_le_bytes());
    Change::sign(fingerprint, actor, start, ops, &signing_key(&secret))
}

/// Days are counted from 1 January of year 1 (`Day`): 737 485 is 1 March 2020.
/// Operations of every kind, on the header's first task and on an ad-hoc task made by
/// operation `(actor, first)`: what an honest device sends.
pub fn honest_ops(actor: u32, first: u64) -> Vec<Op> {
    use taskforce_core::doc::{Confirmation, Day, Evidence, Figure, OpId, Report, Status};
    let adhoc = TaskRef::Adhoc(OpId::new(actor, first));
    let evidence = Evidence {
        file_name: "bien-ban.pdf".into(),
        size: 12_345,
        sha256: [9; 32],
        at: 1_580_600_000,
    };
    vec![
        Op::AddTask {
            parent: None,
            title: "Rà soát tin giả trên mạng xã hội".into(),
        },
        Op::Set {
            task: adhoc,
            value: TaskField::Progress(40),
            ctx: Vec::new(),
        },
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Status(Status::InProgress),
            ctx: Vec::new(),
        },
        Op::Set {
            task: TaskRef::Assigned(0),
            value: TaskField::Due(Some(Day(737_485))),
            ctx: Vec::new(),
        },
        Op::Comment {
            task: TaskRef::Assigned(0),
            text: "Đã gửi công văn đến các nhà mạng.".into(),
            at: 1_580_600_000,
        },
        Op::AddEvidence {
            task: adhoc,
            evidence: evidence.clone(),
        },
        Op::Confirm(Confirmation {
            carrier: "viettel".into(),
            hotline: "19009095".into(),
            free_from: Day(737_456),
            attested_by: "Nguyễn Văn A".into(),
            evidence: Some(evidence),
            at: 1_580_600_000,
        }),
        Op::Report(Report {
            period: "2020-W06".into(),
            text: "Tuần 6: 12 tin giả được gỡ bỏ.".into(),
            figures: vec![Figure {
                name: "takedown_requests_sent".into(),
                value: 12,
            }],
            at: 1_580_600_000,
        }),
    ]
}
