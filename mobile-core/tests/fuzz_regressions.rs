//! The fuzz targets' inputs replayed on stable, without nightly or libFuzzer: every crasher
//! kept in `fuzz/regressions/<target>/` and every seed of `fuzz/seeds/<target>/`, each fed
//! through the very function the target calls (`fuzz/src/harness.rs`, compiled here too).
//! A crasher fixed stays fixed; a seed that stops passing is a bug the fuzzer would find.

#[path = "../../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::{
    fs,
    path::{Path, PathBuf},
};

use taskforce_core::doc::DocError;

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target);
    // Every target has its folder (kept by a `.keep`): a wrong path must fail, not replay
    // nothing.
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".keep"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut replayed = 0;
    for (target, run) in harness::TARGETS {
        for path in inputs(kind, target) {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // A panic here names the input: run it under the fuzzer to minimise it.
            eprintln!("{target}: {}", path.display());
            run(&bytes);
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn every_kept_crasher_passes_through_its_target() {
    let replayed = replay("regressions");
    eprintln!("{replayed} crashers replayed");
}

#[test]
fn every_seed_passes_through_its_target() {
    for (target, _) in harness::TARGETS {
        assert!(
            !inputs("seeds", target).is_empty(),
            "fuzz/seeds/{target} is empty: run `cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds`"
        );
    }
    assert!(replay("seeds") >= 30);
}

#[test]
fn the_sync_target_writes_to_a_document_with_history() {
    let base = harness::base().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(base.header.unit, harness::UNIT);
    assert!(base.doc.version().get(&1) > 1 && base.doc.version().get(&2) > 1);
}

/// The sync seeds reach the writer and get the verdicts they were made for, so the target
/// explores both sides of the rule, not only decoding.
#[test]
fn the_sync_seeds_are_accepted_and_refused_as_made() {
    let verdict = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/seeds/sync_request")
            .join(name);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        harness::sync_verdict(&bytes).unwrap_or_else(|| panic!("{name}: not seen by the writer"))
    };
    for accepted in [
        "nothing.bin",
        "new-device.bin",
        "two-changes.bin",
        "resend.bin",
        "resend-and-new.bin",
        "many-devices.bin",
    ] {
        assert_eq!(verdict(accepted), Ok(()), "{accepted}");
    }
    assert!(matches!(verdict("gap.bin"), Err(DocError::Gap { .. })));
    assert!(matches!(
        verdict("reused.bin"),
        Err(DocError::Reused { .. })
    ));
    assert!(matches!(
        verdict("straddling.bin"),
        Err(DocError::Reused { .. })
    ));
    for refused in [
        "empty-change.bin",
        "unknown-context.bin",
        "phantom-task.bin",
    ] {
        assert!(
            matches!(verdict(refused), Err(DocError::Invalid(_))),
            "{refused}"
        );
    }
}
