//! How much memory a unit document takes decoded, whole (a phone's, a small document on the
//! server, or one being snapshotted) and shed (a large document on the server, without its
//! bodies, decision 25), next to its encoded snapshot and to the estimates the server's
//! document cache keeps within its byte budget (`doc_cache_mb`).
//! Counts every byte allocated and still live after decoding (a `stats_alloc` allocator).
//! Run: `cargo bench -p taskforce-benches --bench memory`.

#[path = "fixtures/mod.rs"]
mod fixtures;

use std::alloc::System;

use fixtures::{History, busy_document, directive, header};
use stats_alloc::{Region, StatsAlloc};
use taskforce_core::{
    doc::{BoundedDocument, UnitDocument},
    sync::wire,
};
use taskforce_server::docstore::{Cached, ChangeLog, SnapshotMeasure};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// The bytes `make` leaves allocated.
fn live<T>(make: impl FnOnce() -> T) -> (T, i64) {
    let region = Region::new(GLOBAL);
    let value = make();
    let stats = region.change();
    let live = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
        + stats.bytes_reallocated as i64;
    (value, live)
}

fn main() {
    let (d, cat) = directive();
    println!(
        "| history | edits | tasks | snapshot bytes | whole, decoded | estimate if whole | shed, decoded | estimate if shed | decoded / estimate (whole, shed) |"
    );
    println!("| --- | --: | --: | --: | --: | --: | --: | --: | --: |");
    for (kind, name) in [
        (History::Fields, "status + progress"),
        (History::Realistic, "realistic"),
    ] {
        for edits in [0usize, 10_000, 100_000, 300_000] {
            let replica = busy_document(header(&d, &cat), edits, 5, kind);
            let tasks = replica.doc().header().tasks.len() + replica.doc().tasks_with_state();
            let snapshot = wire::encode_snapshot(&replica.doc().to_canonical());
            drop(replica);
            let decode = || {
                let canonical = wire::decode_snapshot(&snapshot).unwrap_or_else(|e| panic!("{e}"));
                UnitDocument::from_canonical(canonical).unwrap_or_else(|e| panic!("{e}"))
            };
            let (whole, whole_bytes) = live(|| BoundedDocument::new(decode()));
            let ops = i64::try_from(edits).unwrap_or(i64::MAX);
            let measure = SnapshotMeasure {
                len: snapshot.len(),
                at: ops,
            };
            let estimate =
                |doc| Cached::new(ops, 0, doc, measure, ChangeLog::default()).document_bytes();
            let whole_estimate = estimate(whole);
            let (shed, shed_bytes) = live(|| {
                let mut d = BoundedDocument::new(decode());
                d.shed_bodies();
                d
            });
            let shed_estimate = estimate(shed);
            println!(
                "| {name} | {edits} | {tasks} | {} | {whole_bytes} | {whole_estimate} | {shed_bytes} | {shed_estimate} | {:.2}, {:.2} |",
                snapshot.len(),
                whole_bytes as f64 / whole_estimate as f64,
                shed_bytes as f64 / shed_estimate as f64
            );
        }
    }
}
