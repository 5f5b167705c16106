//! Writes the seed corpora, `fuzz/seeds/<target>/`, from real data: the directive texts the
//! crate ships and tests with, and messages made as the tests make them (requests of every
//! kind of operation, resends, gaps, re-used sequence numbers, answers, snapshots).
//! `cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds`; `ops/fuzz.sh` runs it.

use std::{collections::BTreeMap, fs, path::Path};

use taskforce_core::{
    directive::SEED_DIRECTIVE,
    doc::{Op, OpId, Status, TaskField, TaskRef},
    sync::{DocKey, Payload, SyncRequest, SyncResponse, wire},
};
use taskforce_fuzz::harness::{self, base, honest_ops, signed};

const DIRECTIVES: [(&str, &str); 10] = [
    ("05-CT-BTTTT.txt", SEED_DIRECTIVE),
    (
        "ct-btttt-tin-gia.txt",
        include_str!("../../../mobile-core/tests/fixtures/ct-btttt-tin-gia.txt"),
    ),
    (
        "ct-byt-phong-dich.txt",
        include_str!("../../../mobile-core/tests/fixtures/ct-byt-phong-dich.txt"),
    ),
    (
        "ct-ttg-chuyen-doi-so.txt",
        include_str!("../../../mobile-core/tests/fixtures/ct-ttg-chuyen-doi-so.txt"),
    ),
    (
        "realworld-ocr-scan-ct-btttt.txt",
        include_str!("../../../mobile-core/tests/fixtures/realworld/ocr-scan-ct-btttt.txt"),
    ),
    (
        "realworld-website-ct-ttg.txt",
        include_str!("../../../mobile-core/tests/fixtures/realworld/website-ct-ttg.txt"),
    ),
    (
        "realworld-old-phu-thu-tuong.txt",
        include_str!("../../../mobile-core/tests/fixtures/realworld/old-phu-thu-tuong.txt"),
    ),
    (
        "realworld-gazette-ct-ttg.txt",
        include_str!("../../../mobile-core/tests/fixtures/realworld/gazette-ct-ttg.txt"),
    ),
    (
        "realworld-ocr-hoi-dong-chinh-phu.txt",
        include_str!("../../../mobile-core/tests/fixtures/realworld/ocr-hoi-dong-chinh-phu.txt"),
    ),
    (
        "realworld-website-ocr-ct-byt.txt",
        include_str!("../../../mobile-core/tests/fixtures/realworld/website-ocr-ct-byt.txt"),
    ),
];

const WIRE: [(&str, &[u8]); 4] = [
    (
        "change-v1.bin",
        include_bytes!("../../../mobile-core/tests/fixtures/wire/change-v1.bin"),
    ),
    (
        "request-v1.bin",
        include_bytes!("../../../mobile-core/tests/fixtures/wire/request-v1.bin"),
    ),
    (
        "response-v1.bin",
        include_bytes!("../../../mobile-core/tests/fixtures/wire/response-v1.bin"),
    ),
    (
        "snapshot-v1.bin",
        include_bytes!("../../../mobile-core/tests/fixtures/wire/snapshot-v1.bin"),
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let base = base()?;
    let fp = base.header.fingerprint();
    let key = DocKey {
        directive: base.header.directive.clone(),
        unit: base.header.unit.clone(),
    };
    let request = |changes| {
        wire::encode_request(&SyncRequest {
            doc: key.clone(),
            fingerprint: fp,
            vv: base.doc.version().dots.clone(),
            changes,
        })
    };
    let set = |task, value, ctx| Op::Set { task, value, ctx };
    let status = |s| TaskField::Status(s);
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("nothing.bin", request(Vec::new())),
        (
            "new-device.bin",
            request(vec![signed(fp, 3, 1, honest_ops(3, 1))]),
        ),
        (
            "two-changes.bin",
            request(vec![
                signed(
                    fp,
                    1,
                    9,
                    vec![set(
                        TaskRef::Assigned(0),
                        status(Status::Blocked),
                        vec![(2, 1)],
                    )],
                ),
                signed(
                    fp,
                    1,
                    10,
                    vec![set(
                        TaskRef::Adhoc(OpId::new(1, 1)),
                        TaskField::Removed(true),
                        Vec::new(),
                    )],
                ),
            ]),
        ),
        ("resend.bin", request(base.log.clone())),
        (
            "resend-and-new.bin",
            request(vec![
                base.log[1].clone(),
                signed(
                    fp,
                    2,
                    3,
                    vec![set(
                        TaskRef::Assigned(1),
                        TaskField::Progress(100),
                        Vec::new(),
                    )],
                ),
            ]),
        ),
        (
            "gap.bin",
            request(vec![signed(
                fp,
                2,
                7,
                vec![set(
                    TaskRef::Assigned(0),
                    TaskField::Progress(5),
                    Vec::new(),
                )],
            )]),
        ),
        (
            "reused.bin",
            request(vec![signed(
                fp,
                2,
                2,
                vec![set(
                    TaskRef::Assigned(0),
                    TaskField::Progress(6),
                    Vec::new(),
                )],
            )]),
        ),
        (
            "straddling.bin",
            request(vec![signed(
                fp,
                2,
                2,
                vec![
                    set(TaskRef::Assigned(0), TaskField::Progress(7), Vec::new()),
                    set(TaskRef::Assigned(0), TaskField::Progress(8), Vec::new()),
                ],
            )]),
        ),
        (
            "empty-change.bin",
            request(vec![signed(fp, 4, 1, Vec::new())]),
        ),
        (
            "unknown-context.bin",
            request(vec![signed(
                fp,
                4,
                1,
                vec![set(
                    TaskRef::Assigned(0),
                    status(Status::Todo),
                    vec![(1, 99)],
                )],
            )]),
        ),
        (
            "phantom-task.bin",
            request(vec![signed(
                fp,
                4,
                1,
                vec![set(
                    TaskRef::Adhoc(OpId::new(1, 5)),
                    TaskField::Progress(1),
                    Vec::new(),
                )],
            )]),
        ),
        (
            "many-devices.bin",
            request(
                (5..40)
                    .map(|a| {
                        signed(
                            fp,
                            a,
                            1,
                            vec![set(
                                TaskRef::Assigned(a % 3),
                                TaskField::Assignee(format!("Cán bộ {a}")),
                                Vec::new(),
                            )],
                        )
                    })
                    .collect(),
            ),
        ),
    ];
    let snapshot = wire::encode_snapshot(&base.doc.to_canonical());
    let answers = [
        (
            "answer-changes.bin",
            wire::encode_response(&SyncResponse {
                vv: base.doc.version().dots.clone(),
                payload: Payload::Changes(base.log.clone()),
            }),
        ),
        (
            "answer-snapshot.bin",
            wire::encode_response(&SyncResponse {
                vv: base.doc.version().dots.clone(),
                payload: Payload::Snapshot(Box::new(base.doc.to_canonical())),
            }),
        ),
        ("snapshot.bin", snapshot),
        (
            "version.bin",
            wire::encode_version(&BTreeMap::from([(1, 8), (2, 2), (70_000, 1 << 40)])),
        ),
        ("change.bin", wire::encode_change(&base.log[0])),
    ];

    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)
    };
    for (name, text) in DIRECTIVES {
        write("directive_parse", name, text.as_bytes())?;
    }
    for (name, text) in CALL_RECORDS {
        write("call_records", name, text.as_bytes())?;
    }
    for (name, bytes) in WIRE {
        write("wire_decode", name, bytes)?;
    }
    for (name, bytes) in answers.iter().chain(&requests) {
        write("wire_decode", name, bytes)?;
    }
    for (name, bytes) in &requests {
        write("sync_request", name, bytes)?;
    }
    let names: Vec<&str> = harness::TARGETS.iter().map(|(t, _)| *t).collect();
    println!(
        "seeds written to {} for {}",
        root.display(),
        names.join(", ")
    );
    Ok(())
}

/// Call records of every layout the reader knows, and a few it refuses.
const CALL_RECORDS: [(&str, &str); 6] = [
    (
        "generic.csv",
        "caller,called,start_time,duration,charge,currency\n\
         0912345678,1900 9095,2020-02-03 08:15:00,60,1500,VND\n\
         0912345679,+84 1900 3228,2020-01-30 08:15:00,60,900,VND\n\
         0912345680,0987654321,2020-02-03T08:15:00+07:00,30,0,VND\n\
         broken\n",
    ),
    (
        "asterisk-master.csv",
        "\"\",\"0912345678\",\"19009095\",\"from-internal\",\"\",\"SIP/1\",\"SIP/2\",\"Dial\",\"\",\"2020-02-05 10:00:00\",\"2020-02-05 10:00:05\",\"2020-02-05 10:02:05\",125,120,\"ANSWERED\",\"DOCUMENTATION\",\"1580871600.1\",\"2000\"\n",
    ),
    (
        "asterisk-header.csv",
        "accountcode,src,dst,dcontext,clid,channel,dstchannel,lastapp,lastdata,start,answer,end,duration,billsec,disposition,amaflags,uniqueid,userfield\n\
         ,0912,019009095,ctx,,SIP/1,SIP/2,Dial,,2020-02-05 10:00:00,,,125,120,ANSWERED,3,1.1,2000\n",
    ),
    ("unknown.csv", "a,b,c\n1,2,3\n"),
    (
        "crlf-quoted.csv",
        "caller,called,start_time,duration,charge\r\n\"09,12\",\"1900\r\n9095\",2020-02-03 08:15:00,60,1.25\r\n",
    ),
    ("unix-times.csv", "caller,called,start_time,duration,charge\n1,19009095,1580692500,60,0.0001\n"),
];
