//! Backups as an operator takes them (issue 24): `taskforce backup` of the SQLite database while
//! phones sync, `taskforce restore` into a fresh place, and the restored database is what was
//! stored (each document's op log a prefix of the live one, its audit chain intact) and serves
//! the same progress; what must be refused is, leaving nothing behind. PostgreSQL's own tools
//! (`pg_dump -Fc`, `pg_restore`) do the same for the production store.

mod common;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use common::{
    Must, OtherServer, Phone, TestApp, TestDb, runtime, spawn_app_with_members, taskforce,
};
use sea_orm::{ConnectionTrait, Statement};
use taskforce_core::doc::Status;
use taskforce_server::{config::Config, db};

/// Each document's op log: (directive, unit, position, hash) in order.
fn chains(url: &str) -> Vec<(String, String, i64, Vec<u8>)> {
    runtime().block_on(async {
        let db = db::connect_existing(url).await.must();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT directive_id, unit_id, position, hash FROM changes \
                 ORDER BY directive_id, unit_id, position",
            ))
            .await
            .must();
        rows.iter()
            .map(|r| {
                (
                    r.try_get::<String>("", "directive_id").must(),
                    r.try_get::<String>("", "unit_id").must(),
                    r.try_get::<i64>("", "position").must(),
                    r.try_get::<Vec<u8>>("", "hash").must(),
                )
            })
            .collect()
    })
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

type Log = std::collections::BTreeMap<(String, String), Vec<(i64, Vec<u8>)>>;

fn per_document(rows: &[(String, String, i64, Vec<u8>)]) -> Log {
    let mut log = Log::new();
    for (d, u, p, h) in rows {
        log.entry((d.clone(), u.clone()))
            .or_default()
            .push((*p, h.clone()));
    }
    log
}

fn url_of(file: &Path) -> String {
    format!("sqlite://{}?mode=rwc", file.display())
}

fn dir_of(db: &TestDb) -> PathBuf {
    match db {
        TestDb::Sqlite { dir, .. } => dir.clone(),
        TestDb::Postgres { .. } => panic!("an SQLite test database"),
    }
}

/// `taskforce restore`; its output.
fn restore(target: &Path, backup: &Path, replace: bool) -> (bool, String) {
    let url = url_of(target);
    let backup = backup.display().to_string();
    let mut args = vec!["restore", "--db", &url];
    if replace {
        args.push("--replace");
    }
    args.push(&backup);
    taskforce(&args)
}

fn backup(url: &str, dest: &Path) -> (bool, String) {
    taskforce(&["backup", "--db", url, &dest.display().to_string()])
}

fn progress(server: &common::Http, token: &str) -> serde_json::Value {
    let (status, body) = server.get(token, "/api/v1/progress");
    assert_eq!(status, 200, "{body}");
    body
}

/// Files whose name starts with a dot: a backup or restore left a partial file behind.
fn hidden_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .must()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn edit_and_sync(phone: &mut Phone, app: &TestApp, round: u32) {
    let tasks = u32::try_from(phone.replica.doc().header().tasks.len()).unwrap_or(1);
    for k in 0..5u32 {
        phone.status(
            (round * 7 + k) % tasks,
            Status::ALL[((round + k) % 4) as usize],
        );
    }
    phone.sync(&app.http);
}

#[test]
fn a_backup_under_load_restores_to_what_was_stored_and_serves_the_same_progress() {
    let app = spawn_app_with_members(TestDb::sqlite());
    let dir = dir_of(&app.db);
    let out = std::env::temp_dir().join(format!("taskforce-backups-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).must();
    let mut phones = [
        app.phone("cucvt.a", "cuc-vt"),
        app.phone("cucvt.b", "cuc-vt"),
        app.phone("viettel.a", "viettel"),
    ];
    // Something stored before the first backup starts.
    for p in &mut phones {
        edit_and_sync(p, &app, 0);
    }

    // Three phones keep syncing while backups are taken: until two of them saw the op log
    // grow while they were written (rows counted just before and just after each), so they
    // truly ran under writes.
    let done = AtomicBool::new(false);
    let mut under_load: Vec<(PathBuf, i64, i64)> = Vec::new();
    let stored = || app.query_i64("SELECT COUNT(*) FROM changes");
    std::thread::scope(|s| {
        let workers: Vec<_> = phones
            .iter_mut()
            .map(|p| {
                let (app, done) = (&app, &done);
                s.spawn(move || {
                    let mut round = 1;
                    while !done.load(Ordering::Relaxed) {
                        edit_and_sync(p, app, round);
                        round += 1;
                    }
                })
            })
            .collect();
        // However this ends, the phones stop (a panic here must not leave them looping).
        let _stop = StopOnDrop(&done);
        let mut tries = 0;
        while under_load.len() < 2 {
            tries += 1;
            assert!(
                tries <= 30,
                "no backup ran while the phones' syncs were stored"
            );
            let file = out.join(format!("under-load-{tries}.db"));
            let before = stored();
            let (ok, text) = backup(app.db.url(), &file);
            let after = stored();
            assert!(ok, "backup under load: {text}");
            assert!(text.contains("taskforce-audit.key"), "{text}");
            if after > before {
                under_load.push((file, before, after));
            }
        }
        done.store(true, Ordering::Relaxed);
        for w in workers {
            w.join()
                .unwrap_or_else(|_| panic!("a phone thread panicked"));
        }
    });
    let live = chains(app.db.url());

    let key = dir.join("taskforce-audit.key");
    let key = key.display().to_string();
    for (i, (file, before, after)) in under_load.iter().enumerate() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).must().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup is readable by its owner only");
        let target = out.join(format!("restored-{i}/taskforce.db"));
        let (ok, text) = restore(&target, file, false);
        assert!(ok, "restore: {text}");
        let restored = chains(&url_of(&target));
        let rows = i64::try_from(restored.len()).unwrap_or(-1);
        assert!(
            (*before..=*after).contains(&rows),
            "the backup is one moment between its start and its end: {rows} rows, {before}..={after}"
        );
        let (mine, theirs) = (per_document(&restored), per_document(&live));
        for (doc, log) in &mine {
            let whole = theirs.get(doc).map_or(&[][..], Vec::as_slice);
            assert!(
                whole.starts_with(log),
                "{doc:?}: the restored op log is a prefix of the live one"
            );
        }
        let ro = format!("sqlite://{}?mode=ro", target.display());
        let (ok, text) = taskforce(&["audit", "verify", "--db", &ro, "--audit-key", &key]);
        assert!(ok, "the restored audit chain verifies: {text}");
    }

    // Traffic over, a backup at rest restores to a server that serves the same progress.
    let at_rest = out.join("at-rest.db");
    let (ok, text) = backup(app.db.url(), &at_rest);
    assert!(ok, "{text}");
    let target = out.join("restored-at-rest/taskforce.db");
    let (ok, text) = restore(&target, &at_rest, false);
    assert!(ok, "{text}");
    assert_eq!(
        chains(&url_of(&target)),
        live,
        "a backup at rest holds everything"
    );
    let token = app.token("vanphong");
    let original = progress(&app.http, &token);
    let other = OtherServer::start(Config {
        db: url_of(&target),
        bind: "127.0.0.1:0".into(),
        workers: Some(1),
        audit_key: Some(PathBuf::from(&key)),
        login_per_address_burst: common::LOOPBACK_LOGIN_BURST,
        ..Config::default()
    });
    let restored_token = other.token("vanphong");
    assert_eq!(progress(&other.http, &restored_token), original);
    drop(other);

    assert!(hidden_files(&out).is_empty(), "{:?}", hidden_files(&out));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn what_a_backup_or_restore_refuses_leaves_everything_as_it_was() {
    let app = spawn_app_with_members(TestDb::sqlite());
    let mut phone = app.phone("cucvt.a", "cuc-vt");
    edit_and_sync(&mut phone, &app, 0);
    let out = std::env::temp_dir().join(format!("taskforce-refusals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).must();

    // PostgreSQL: its own tools are named, nothing is written.
    let (ok, text) = backup(
        "postgres://tf:secret@127.0.0.1:1/taskforce",
        &out.join("pg.db"),
    );
    assert!(!ok && text.contains("pg_dump"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    let (ok, text) = taskforce(&[
        "restore",
        "--db",
        "postgres://tf@127.0.0.1:1/taskforce",
        &out.join("pg.db").display().to_string(),
    ]);
    assert!(!ok && text.contains("pg_restore"), "{text}");

    // A file already there is never overwritten.
    let existing = out.join("existing.db");
    std::fs::write(&existing, b"keep me").must();
    let (ok, text) = backup(app.db.url(), &existing);
    assert!(!ok && text.contains("already exists"), "{text}");
    assert_eq!(std::fs::read(&existing).must(), b"keep me");

    // A missing database is not created by a backup.
    let missing = out.join("nothing-here.db");
    let (ok, text) = backup(&url_of(&missing), &out.join("of-nothing.db"));
    assert!(!ok, "{text}");
    assert!(!missing.exists() && !out.join("of-nothing.db").exists());

    // A good backup; then a truncated and a garbled copy of it are refused by restore.
    let good = out.join("good.db");
    let (ok, text) = backup(app.db.url(), &good);
    assert!(ok, "{text}");
    let bytes = std::fs::read(&good).must();
    let truncated = out.join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).must();
    let garbled = out.join("garbled.db");
    let mut g = bytes.clone();
    for b in g.iter_mut().skip(4096).step_by(97) {
        *b ^= 0x5a;
    }
    std::fs::write(&garbled, &g).must();
    let not_sqlite = out.join("notes.txt");
    std::fs::write(&not_sqlite, "không phải cơ sở dữ liệu").must();
    for bad in [&truncated, &garbled, &not_sqlite, &out.join("absent.db")] {
        let target = out.join("fresh/taskforce.db");
        let (ok, text) = restore(&target, bad, false);
        assert!(!ok, "{} restored: {text}", bad.display());
        assert!(!target.exists(), "a refused restore writes nothing: {text}");
    }

    // The database of a running server is never swapped under it, even with --replace.
    let running = dir_of(&app.db).join("taskforce.db");
    let before = chains(app.db.url());
    let (ok, text) = restore(&running, &good, true);
    assert!(!ok && text.contains("running taskforce server"), "{text}");
    assert_eq!(chains(app.db.url()), before);

    // A backup that passes SQLite's checks but carries a trigger its migrations never made
    // (it would run at the server's next write) is refused.
    let crafted = out.join("crafted.db");
    std::fs::copy(&good, &crafted).must();
    runtime().block_on(async {
        let db = sea_orm::Database::connect(url_of(&crafted)).await.must();
        db.execute_unprepared(
            "CREATE TRIGGER promote AFTER INSERT ON tokens BEGIN DELETE FROM tokens WHERE 0; END",
        )
        .await
        .must();
        db.close().await.must();
    });
    let target = out.join("fresh/taskforce.db");
    let (ok, text) = restore(&target, &crafted, false);
    assert!(!ok && text.contains("trigger promote"), "{text}");
    assert!(!target.exists());

    // An existing database is refused without --replace, kept aside with it.
    let target = out.join("live/taskforce.db");
    let (ok, text) = restore(&target, &good, false);
    assert!(ok, "{text}");
    let (ok, text) = restore(&target, &good, false);
    assert!(!ok && text.contains("--replace"), "{text}");
    let (ok, text) = restore(&target, &good, true);
    assert!(ok, "{text}");
    let kept: Vec<String> = std::fs::read_dir(out.join("live"))
        .must()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("taskforce.db.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?} {text}");
    assert_eq!(chains(&url_of(&target)), chains(app.db.url()));

    for d in [&out, &out.join("live")] {
        assert!(hidden_files(d).is_empty(), "{:?}", hidden_files(d));
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The newest PostgreSQL client tool `name` (Debian keeps them per version).
fn pg_tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort_by_key(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.last()
        .map(|d| d.join("bin").join(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn run(tool: &str, args: &[&str]) {
    let out = std::process::Command::new(pg_tool(tool))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn postgresql_pg_dump_and_pg_restore_serve_the_same_progress() {
    let (Some(source), Some(fresh)) = (TestDb::postgres(), TestDb::postgres()) else {
        return;
    };
    let app = spawn_app_with_members(source);
    let mut phones = [
        app.phone("cucvt.a", "cuc-vt"),
        app.phone("viettel.a", "viettel"),
    ];
    for round in 0..3 {
        for p in &mut phones {
            edit_and_sync(p, &app, round);
        }
    }
    let file = std::env::temp_dir().join(format!("taskforce-pg-{}.dump", std::process::id()));
    let path = file.display().to_string();
    // As docs/operations.md says: a custom-format dump, restored into an empty database.
    run("pg_dump", &["-Fc", "-f", &path, app.db.url()]);
    run(
        "pg_restore",
        &["--no-owner", "--exit-on-error", "-d", fresh.url(), &path],
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(chains(fresh.url()), chains(app.db.url()));
    let token = app.token("vanphong");
    let original = progress(&app.http, &token);
    let other = OtherServer::start(Config {
        db: fresh.url().to_string(),
        bind: "127.0.0.1:0".into(),
        workers: Some(1),
        login_per_address_burst: common::LOOPBACK_LOGIN_BURST,
        ..Config::default()
    });
    let restored_token = other.token("vanphong");
    assert_eq!(progress(&other.http, &restored_token), original);
    drop(other);
    drop(fresh);
}
