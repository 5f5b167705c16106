//! What the core's operations cost, with criterion: merging operations into a document,
//! encoding and decoding changes and snapshots, loading a snapshot, progress over the whole
//! directive, and the phone's store (opening it with the whole directive and 1,000 tasks; one
//! durable edit). Run: `cargo bench -p taskforce-benches --bench core`.

use std::{hint::black_box, path::PathBuf};

use chrono::NaiveDate;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng, rngs::StdRng};
use taskforce_core::{
    client::Client,
    doc::{DocHeader, Op, Status, TaskField, TaskRef, UnitDocument},
    progress::{clause_progress, unit_progress},
    store::{SqliteStore, Store, save_replica},
    sync::{Change, Replica, signing_key, wire},
};

#[path = "fixtures/mod.rs"]
#[allow(dead_code, reason = "the memory bench uses the realistic history")]
mod fixtures;

use fixtures::{History, UNIT, busy_document, directive, header};

fn status_change(doc: &UnitDocument, actor: u32, n: usize, seed: u64) -> Change {
    let mut rng = StdRng::seed_from_u64(seed);
    let tasks = doc.header().tasks.len() as u32;
    let ops: Vec<Op> = (0..n)
        .map(|_| {
            doc.set_op(
                TaskRef::Assigned(rng.random_range(0..tasks)),
                TaskField::Status(Status::ALL[rng.random_range(0..4)]),
            )
        })
        .collect();
    let start = doc.next_id(actor).seq;
    Change::sign(1, actor, start, ops, &signing_key(&[7; 32]))
}

fn apply_and_wire(c: &mut Criterion) {
    let (d, cat) = directive();
    let doc = busy_document(header(&d, &cat), 5_000, 1, History::Fields)
        .doc()
        .clone();
    let change = status_change(&doc, 99, 100, 2);
    c.bench_function(
        "apply: a change of 100 status ops into a 1,000-task document",
        |b| {
            b.iter_batched(
                || doc.clone(),
                |mut doc| {
                    doc.apply_ops(change.actor, change.start, &change.ops)
                        .unwrap_or_else(|e| panic!("{e}"))
                },
                BatchSize::LargeInput,
            )
        },
    );
    let mut merged = doc.clone();
    let other = busy_document(header(&d, &cat), 5_000, 3, History::Fields)
        .doc()
        .clone();
    c.bench_function("merge: two 1,000-task documents, 5,000 edits each", |b| {
        b.iter_batched(
            || (merged.clone(), other.clone()),
            |(mut a, b)| a.merge(b).unwrap_or_else(|e| panic!("{e}")),
            BatchSize::LargeInput,
        )
    });
    merged.merge(other).unwrap_or_else(|e| panic!("{e}"));
    let bytes = wire::encode_change(&change);
    c.bench_function("wire: encode a change of 100 ops", |b| {
        b.iter(|| wire::encode_change(black_box(&change)))
    });
    c.bench_function("wire: decode a change of 100 ops", |b| {
        b.iter(|| wire::decode_change(black_box(&bytes)).unwrap_or_else(|e| panic!("{e}")))
    });
    let key = signing_key(&[7; 32]).verifying_key();
    c.bench_function("signature: verify a change", |b| {
        b.iter(|| black_box(&change).verify(1, &key))
    });
    let snapshot = wire::encode_snapshot(&merged.to_canonical());
    println!(
        "snapshot of a 1,000-task document after 10,000 edits: {} bytes",
        snapshot.len()
    );
    c.bench_function("snapshot: encode (1,000 tasks, 10,000 edits)", |b| {
        b.iter(|| wire::encode_snapshot(&black_box(&merged).to_canonical()))
    });
    c.bench_function("snapshot: load (decode + rebuild the document)", |b| {
        b.iter(|| {
            let c = wire::decode_snapshot(black_box(&snapshot)).unwrap_or_else(|e| panic!("{e}"));
            UnitDocument::from_canonical(c).unwrap_or_else(|e| panic!("{e}"))
        })
    });
}

fn progress(c: &mut Criterion) {
    let (d, cat) = directive();
    let docs: Vec<UnitDocument> = cat
        .units()
        .iter()
        .filter(|u| u.is_assignable() && !u.is_group())
        .map(|u| DocHeader::for_unit(&d, &cat, &u.id))
        .filter(|h| !h.tasks.is_empty())
        .enumerate()
        .map(|(i, h)| {
            let mut r = Replica::new(h);
            let mut rng = StdRng::seed_from_u64(i as u64);
            let tasks = r.doc().header().tasks.len() as u32;
            for _ in 0..200 {
                let op = r.doc().set_op(
                    TaskRef::Assigned(rng.random_range(0..tasks)),
                    TaskField::Status(Status::ALL[rng.random_range(0..4)]),
                );
                r.edit(rng.random_range(1..=5), op)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            r.doc().clone()
        })
        .collect();
    let refs: Vec<&UnitDocument> = docs.iter().collect();
    let today = NaiveDate::from_ymd_opt(2020, 3, 1).unwrap_or_default();
    println!(
        "progress: {} unit documents, {} tasks",
        docs.len(),
        docs.iter().map(|d| d.header().tasks.len()).sum::<usize>()
    );
    c.bench_function(
        "progress: clause x unit matrix of the whole directive",
        |b| b.iter(|| clause_progress(black_box(&refs), today)),
    );
    c.bench_function("progress: every unit's progress", |b| {
        b.iter(|| {
            refs.iter()
                .map(|d| unit_progress(d, today).counts.done)
                .sum::<u32>()
        })
    });
}

/// A phone's store as after login and a first sync: the directive, the session, and the
/// unit's document with 1,000 added tasks and 5,000 edits.
fn phone_store(dir: &std::path::Path) -> PathBuf {
    let (d, cat) = directive();
    let path = dir.join("phone.db");
    let replica = busy_document(header(&d, &cat), 5_000, 4, History::Fields);
    let mut store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_string(&d).unwrap_or_else(|e| panic!("{e}"));
    for (k, v) in [
        ("server", "http://127.0.0.1:9"),
        ("token", "t"),
        ("username", "cucvt.a"),
        ("actor", "1"),
        ("unit", UNIT),
        ("directive", d.slug().as_str()),
        ("directive_json", json.as_str()),
    ] {
        store
            .set_meta(k, v.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store
        .set_meta("secret", &[5; 32])
        .unwrap_or_else(|e| panic!("{e}"));
    save_replica(&mut store, &replica, 1).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn store(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("taskforce-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = phone_store(&dir);
    let client = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let tasks = client.tasks().unwrap_or_else(|e| panic!("{e}"));
    println!(
        "phone store: {} tasks, {} bytes on disk",
        tasks.len(),
        std::fs::metadata(&path).map_or(0, |m| m.len())
    );
    drop(client);
    c.bench_function(
        "store: open the phone's client (directive + 1,000 tasks)",
        |b| b.iter(|| Client::open(black_box(&path)).unwrap_or_else(|e| panic!("{e}"))),
    );
    let client = Client::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let first = tasks.first().map(|t| t.id.clone()).unwrap_or_default();
    let mut i = 0usize;
    c.bench_function("store: one durable edit (set a status)", |b| {
        b.iter(|| {
            i += 1;
            client
                .set_status(&first, Status::ALL[i % 4].as_str())
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    c.bench_function("store: list the phone's tasks (1,000+)", |b| {
        b.iter(|| client.tasks().unwrap_or_else(|e| panic!("{e}")).len())
    });
    drop(client);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, apply_and_wire, progress, store);
criterion_main!(benches);
