//! `taskforce-loadgen` as a user runs it — the real binary, starting the real `taskforce`
//! binary of the same target directory as its own server, on SQLite and on PostgreSQL
//! (`--db`), phones in memory and on disk — and the figures it prints. That `taskforce` is built
//! by `cargo test --workspace` (the server's tests need it); alone, run
//! `cargo build -p taskforce-server` first, or the loadgen finds none (or an older one).

// The test databases of the server's tests (SQLite and PostgreSQL, `on_every_store!`): that
// file alone, without the server's in-process harness.
#[path = "../../../server/tests/common/test_db.rs"]
mod common;

use std::process::Command;

use common::TestDb;

fn loadgen_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_taskforce-loadgen"))
}

fn loadgen(extra: &[&str]) -> serde_json::Value {
    // The small run's sizes, each unless `extra` gives its own.
    let defaults = [
        ("--devices", "12"),
        ("--units", "3"),
        ("--edits", "8"),
        ("--rounds", "2"),
        ("--concurrency", "4"),
    ];
    let out = loadgen_cmd()
        .args(
            defaults
                .iter()
                .filter(|(flag, _)| !extra.contains(flag))
                .flat_map(|(flag, value)| [flag, value]),
        )
        .arg("--json")
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("run taskforce-loadgen: {e}"));
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
        "overloaded_replies",
        "server_rss_mb",
        "converged",
        "wire_bytes_per_op",
        "syncs_per_sec",
        "yardstick_rows_per_sec",
        "yardstick_share",
        "catch_up_wall_s",
        "restart_to_listen_s",
    ] {
        assert!(f.get(key).is_some(), "no {key} in {f}");
    }
    assert_eq!(f["devices"], 12);
    assert_eq!(f["units"], 3);
    assert_eq!(f["edits_per_device"], 8);
    assert_eq!(f["ops_total"], 12 * 8 * 2);
    // Two rounds of 12 syncs, and the catch-up round inside the measured phase.
    assert_eq!(f["syncs"], 36);
    assert!(f["catch_up_wall_s"].as_f64().unwrap_or(-1.0) >= 0.0, "{f}");
    assert!(
        f["sync_wall_s"].as_f64() >= f["catch_up_wall_s"].as_f64(),
        "the catch-up is part of the measured phase: {f}"
    );
    assert_eq!(f["errors"], 0);
    assert_eq!(
        f["overloaded_replies"], 0,
        "four at a time fit the writer's queue"
    );
    assert_eq!(f["converged"], true);
    assert_eq!(f["requests_per_sync"], 1.0, "one round trip per sync");
    assert!(f["bytes_up"].as_u64().unwrap_or(0) > 0, "{f}");
    assert!(f["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
    assert!(f["server_rss_mb"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
    assert_eq!(
        f["server_rss_by_round_mb"].as_array().map(Vec::len),
        Some(2)
    );
    // Every byte on the wire: the bodies and the HTTP headers around them.
    let body_bytes = f["bytes_up"].as_u64().unwrap_or(0) + f["bytes_down"].as_u64().unwrap_or(0);
    let wire_bytes =
        f["wire_bytes_up"].as_u64().unwrap_or(0) + f["wire_bytes_down"].as_u64().unwrap_or(0);
    assert!(
        wire_bytes > body_bytes + 36 * 200,
        "headers counted (at least 200 bytes a sync, both ways): {f}"
    );
    assert!(f["syncs_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
    // The yardstick wrote the run's own rows again: at least its change rows and the
    // documents they touched.
    let changes = f["server_metrics"]["changes_stored_total"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(changes > 0.0, "{f}");
    assert!(
        f["yardstick_rows"].as_f64().unwrap_or(0.0) > changes,
        "the yardstick writes the change rows and the rows around them: {f}"
    );
    assert!(
        f["yardstick_rows_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "the yardstick ran: {f}"
    );
    assert!(f["yardstick_share"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
    assert_eq!(f["fraction_of_yardstick"], f["yardstick_share"]);
    assert!(
        f["restart_to_listen_s"].as_f64().unwrap_or(0.0) > 0.0,
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
fn loadgen_one_edit_per_sync_with_readers() {
    let f = loadgen(&[
        "--edits-per-sync",
        "1",
        "--readers",
        "2",
        "--read-rate",
        "20",
    ]);
    assert_eq!(f["converged"], true, "{f}");
    assert_eq!(f["edits_per_sync"], 1);
    assert_eq!(f["ops_total"], 12 * 8 * 2);
    assert_eq!(
        f["syncs"],
        12 * 8 * 2 + 12,
        "a sync per edit, and the catch-up: {f}"
    );
    assert_eq!(f["errors"], 0, "{f}");
    assert!(
        f["reads"].as_u64().unwrap_or(0) >= 2,
        "each reader read: {f}"
    );
    assert_eq!(f["read_errors"], 0, "every read answered 200: {f}");
    assert!(f["read_p99_ms"].as_f64().unwrap_or(0.0) > 0.0, "{f}");
    for kind in ["progress", "matrix_page", "matrix_csv"] {
        assert!(f["read_p99_ms_by_kind"].get(kind).is_some(), "{kind}: {f}");
    }
}

/// The phones ask for compressed answers unless told not to (`--no-gzip`): the same work
/// then takes many more bytes down on the wire, while the sync bodies (counted unpacked) are
/// the same kind of size.
#[test]
fn loadgen_measures_the_answers_compressed_and_plain() {
    let more = ["--edits", "30"];
    let gzip = loadgen(&more);
    let plain = loadgen(&[&more[..], &["--no-gzip"]].concat());
    for f in [&gzip, &plain] {
        assert_eq!(
            (&f["converged"], &f["errors"]),
            (&true.into(), &0.into()),
            "{f}"
        );
        assert_eq!(f["ops_total"], 12 * 30 * 2, "{f}");
    }
    assert_eq!(
        (&gzip["gzip"], &plain["gzip"]),
        (&true.into(), &false.into())
    );
    let down = |f: &serde_json::Value, key: &str| f[key].as_f64().unwrap_or(0.0);
    // Small answers here, so headers weigh: a fifth off at least (2.5× off at 1,000 × 50).
    let (z, p) = (
        down(&gzip, "wire_bytes_down_per_op"),
        down(&plain, "wire_bytes_down_per_op"),
    );
    assert!(
        z > 0.0 && z * 1.2 < p,
        "down on the wire per op: {z} compressed, {p} plain"
    );
    let (a, b) = (down(&gzip, "bytes_per_op"), down(&plain, "bytes_per_op"));
    assert!(
        a > 0.0 && (a - b).abs() < 0.3 * b,
        "bodies unpacked alike: {a} {b}"
    );
}

/// More units than the bundled directive gives tasks to: the load generator starts its server
/// with a catalogue of test units and publishes its own directive giving them tasks (through
/// `taskforce directive import` and `publish`), and the run over both directives' units
/// converges, each unit checked on its own directive's document.
#[test]
fn loadgen_brings_test_units_past_the_bundled_directive() {
    // The bundled directive gives 110 units tasks: two test units past them, a phone each.
    let f = loadgen(&[
        "--units",
        "112",
        "--devices",
        "112",
        "--edits",
        "2",
        "--rounds",
        "1",
        "--concurrency",
        "8",
    ]);
    assert_eq!(
        (&f["converged"], &f["errors"], &f["units"], &f["test_units"]),
        (&true.into(), &0.into(), &112.into(), &2.into()),
        "{f}"
    );
    assert_eq!(f["ops_total"], 112 * 2, "{f}");
    // One sync request each (the batch route), and the catch-up's.
    assert_eq!(f["requests_per_sync"], 1.0, "{f}");
}

/// `--history-ops`: the first unit's document gets a long history before the rounds, the
/// probe compares its one-edit syncs with a fresh unit's, and the check (stored operations
/// = operations made, history and probe included) still holds.
#[test]
fn loadgen_probes_a_long_history() {
    let f = loadgen(&["--history-ops", "3001", "--history-probes", "60"]);
    // `check`'s yardstick comparison reads the server's counters since its start, history
    // included; the rest of it here.
    assert_eq!(
        (&f["converged"], &f["errors"]),
        (&true.into(), &0.into()),
        "{f}"
    );
    assert_eq!(f["ops_total"], 12 * 8 * 2, "{f}");
    assert!(f["yardstick_rows"].as_u64().unwrap_or(0) > 0, "{f}");
    assert_eq!(f["history_ops"], 3001, "{f}");
    for key in [
        "history_build_s",
        "history_sync_p50_ms",
        "history_sync_p99_ms",
        "fresh_sync_p50_ms",
        "fresh_sync_p99_ms",
        "history_p99_ratio",
        "history_download_after_restart_ms",
        "fresh_download_after_restart_ms",
    ] {
        assert!(f[key].as_f64().unwrap_or(0.0) > 0.0, "{key}: {f}");
    }
    assert_eq!(f["history_errors"], 0, "{f}");
    // Without it, none of its keys.
    let plain = loadgen(&[]);
    assert!(plain["history_ops"].is_null(), "{plain}");
}

/// The convergence check can fail: a phone whose edit reaches the server after the catch-up
/// round (so its unit's other phone never receives it) differs from that phone, and the run
/// says so (and exits non-zero); nothing is left unsent, so only the comparison of the
/// replicas can see it.
#[test]
fn loadgen_sees_a_divergence() {
    let out = loadgen_cmd()
        .args(["--devices", "4", "--units", "2", "--edits", "3", "--json"])
        .arg("--inject-divergence")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let f: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));
    assert_eq!(f["converged"], false, "{f}");
    assert_eq!(
        f["errors"], 0,
        "no sync failed: the replicas decided it: {f}"
    );
    assert!(
        stderr.contains("1 phones differ from the server's stored copy"),
        "{stderr}"
    );
    assert!(!stderr.contains("still on the phones"), "{stderr}");
    assert!(stderr.contains("did not converge"), "{stderr}");
}

#[test]
fn loadgen_refuses_nonsense() {
    let out = loadgen_cmd()
        .args(["--devices", "0"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A history needs a fresh unit beside the long one: refused before any server starts.
#[test]
fn loadgen_refuses_a_history_without_a_fresh_unit() {
    let out = loadgen_cmd()
        .args(["--units", "1", "--devices", "2", "--history-ops", "10"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("two units"), "{stderr}");
}

/// `--sync-route single`: the phones' fallback route, one request per document, measured as
/// the batch route is; refused past the bundled directive's units (the fallback syncs the
/// first directive only).
#[test]
fn loadgen_measures_the_single_route_too() {
    let f = loadgen(&["--sync-route", "single"]);
    assert_eq!(
        (&f["converged"], &f["errors"], &f["sync_route"]),
        (&true.into(), &0.into(), &"single".into()),
        "{f}"
    );
    assert_eq!(loadgen(&[])["sync_route"], "batch");
    let out = loadgen_cmd()
        .args([
            "--units",
            "111",
            "--devices",
            "111",
            "--sync-route",
            "single",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--sync-route single"), "{stderr}");
}

#[test]
fn loadgen_runs_the_taskforce_binary_it_is_given() {
    let beside = std::path::Path::new(env!("CARGO_BIN_EXE_taskforce-loadgen"))
        .with_file_name(format!("taskforce{}", std::env::consts::EXE_SUFFIX));
    let out = loadgen_cmd()
        .args(["--devices", "2", "--units", "1", "--edits", "3", "--json"])
        .env("TASKFORCE_BIN", &beside)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("server binary {}", beside.display())),
        "{stderr}"
    );
    let f: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e})"));
    assert_eq!(f["converged"], true, "{f}");
    assert_eq!(f["ops_total"], 6, "{f}");
}

#[test]
fn loadgen_says_when_the_taskforce_binary_is_missing() {
    let out = loadgen_cmd()
        .args(["--devices", "2", "--units", "1", "--edits", "1"])
        .args(["--taskforce-bin", "/nonexistent/taskforce"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/taskforce: no such executable"),
        "{stderr}"
    );
}

on_every_store!(loadgen_converges);
