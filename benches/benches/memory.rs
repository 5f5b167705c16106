//! How much memory a decoded unit document takes next to its encoded snapshot: the factor the
//! server's document cache uses to keep within its byte budget (`doc_cache_mb`). Counts every
//! byte allocated and still live after decoding (a `stats_alloc` allocator).
//! Run: `cargo bench -p taskforce-benches --bench memory`.

#[path = "fixtures/mod.rs"]
mod fixtures;

use std::alloc::System;

use fixtures::{History, busy_document, directive, header};
use stats_alloc::{Region, StatsAlloc};
use taskforce_core::{doc::UnitDocument, sync::wire};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn main() {
    let (d, cat) = directive();
    println!(
        "| history | edits | tasks | snapshot bytes | decoded bytes | decoded / snapshot | server's estimate | decoded / estimate |"
    );
    println!("| --- | --: | --: | --: | --: | --: | --: | --: |");
    for (kind, name) in [
        (History::Fields, "status + progress"),
        (History::Realistic, "realistic"),
    ] {
        for edits in [0usize, 10_000, 100_000] {
            let replica = busy_document(header(&d, &cat), edits, 5, kind);
            let tasks = replica.doc().header().tasks.len() + replica.doc().tasks_with_state();
            let snapshot = wire::encode_snapshot(&replica.doc().to_canonical());
            drop(replica);
            let region = Region::new(GLOBAL);
            let canonical = wire::decode_snapshot(&snapshot).unwrap_or_else(|e| panic!("{e}"));
            let doc = UnitDocument::from_canonical(canonical).unwrap_or_else(|e| panic!("{e}"));
            let stats = region.change();
            let live = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
                + stats.bytes_reallocated as i64;
            // The server's `Cached::estimate_bytes` (docstore.rs) for this document.
            let estimate = tasks * 720 + snapshot.len() * 10 + (16 << 10);
            println!(
                "| {name} | {edits} | {tasks} | {} | {live} | {:.1} | {estimate} | {:.2} |",
                snapshot.len(),
                live as f64 / snapshot.len() as f64,
                live as f64 / estimate as f64
            );
            drop(doc);
        }
    }
}
