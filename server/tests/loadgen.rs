//! `taskforce loadgen` as a user runs it — the real binary, its own server on SQLite and on
//! PostgreSQL (`--db`), phones in memory and on disk — and the figures it prints.

mod common;

use std::process::Command;

use common::TestDb;

fn loadgen(extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_taskforce"))
        .args([
            "loadgen",
            "--devices",
            "12",
            "--units",
            "3",
            "--edits",
            "8",
            "--rounds",
            "2",
            "--concurrency",
            "4",
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("run taskforce loadgen: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loadgen failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn check(f: &serde_json::Value) {
    for key in [
        "devices",
        "units",
        "edits_per_device",
        "ops_total",
        "ops_per_sec",
        "bytes_up",
        "bytes_down",
        "bytes_per_op",
        "sync_p50_ms",
        "sync_p99_ms",
        "errors",
        "server_rss_mb",
        "converged",
    ] {
        assert!(f.get(key).is_some(), "no {key} in {f}");
    }
    assert_eq!(f["devices"], 12);
    assert_eq!(f["units"], 3);
    assert_eq!(f["edits_per_device"], 8);
    assert_eq!(f["ops_total"], 12 * 8 * 2);
    assert_eq!(f["syncs"], 24);
    assert_eq!(f["errors"], 0);
    assert_eq!(f["converged"], true);
    assert_eq!(f["requests_per_sync"], 1.0, "one round trip per sync");
    assert!(f["bytes_up"].as_u64().unwrap_or(0) > 0, "{f}");
    assert!(f["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
    assert!(f["server_rss_mb"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
    assert_eq!(
        f["server_rss_by_round_mb"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(
        f["yardstick_rows_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "the plain-insert yardstick ran: {f}"
    );
    assert!(
        f["fraction_of_yardstick"].as_f64().unwrap_or(0.0) > 0.0,
        "{f}"
    );
    assert!(
        f["sync_p50_ms"].as_f64() <= f["sync_p99_ms"].as_f64(),
        "{f}"
    );
}

fn loadgen_converges(db: TestDb) {
    // The phones' stores on disk, with the realistic mix; then the field mix in memory on the
    // same database: a second run adds to what the first left.
    let f = loadgen(&["--db", db.url(), "--store", "disk"]);
    check(&f);
    assert_eq!(f["storage"], "disk");
    let f = loadgen(&["--db", db.url(), "--mix", "fields"]);
    check(&f);
    assert_eq!(f["mix"], "fields");
    assert!(
        f["conflicts_kept"].as_u64().unwrap_or(0) > 0,
        "four phones per unit on a few tasks: concurrent values are kept: {f}"
    );
}

#[test]
fn loadgen_on_its_own_temporary_sqlite() {
    let f = loadgen(&[]);
    check(&f);
    assert_eq!(f["database"], "sqlite (temporary)");
}

#[test]
fn loadgen_refuses_nonsense() {
    let out = Command::new(env!("CARGO_BIN_EXE_taskforce"))
        .args(["loadgen", "--devices", "0"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

on_every_store!(loadgen_converges);
