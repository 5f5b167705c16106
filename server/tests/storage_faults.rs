//! A full disk and a read-only database: SQLite on a small tmpfs filled to the last byte (a
//! real `SQLITE_FULL`) under a running server, and PostgreSQL with
//! `default_transaction_read_only` set on the database under a running server: syncs get a
//! clear error (507 `storage_full`, 503 `storage_read_only`), the phones keep their edits, the
//! server goes on serving reads, and once the fault is lifted the syncs resume with the
//! document, the op log and the projections agreeing: nothing half-written. SQLite's tmpfs
//! cannot be remounted read-only under a running server (the kernel answers "busy" while the
//! server holds its files open for writing), so that case stops the server, remounts the
//! file system read-only, and checks that `taskforce serve` refuses to start (SQLite's error,
//! naming the database) and writes nothing; remounted read-write, it starts and the syncs resume. The tmpfs
//! needs root (`mount`); without it the SQLite cases say they skip (under `CI=true` they fail).

mod common;

use std::{
    io::{Read, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    Phone, TestApp, TestDb,
    fleet::{
        FleetPhone, check_acknowledged_stored, check_all_stored_once_and_converged,
        check_transport_acknowledged_stored, many_logins, open_phone, real_http,
    },
    pg_admin_url, runtime, spawn_app_with,
};
use rand::{SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Database};
use taskforce_core::{client::ClientError, doc::Status};
use taskforce_server::auth::Role;

const UNIT: &str = "cuc-vt";
const SEED: u64 = 0x0510_7a6e;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A tmpfs of `mb` MiB, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, mb: u32) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("taskforce-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Tmpfs(dir))
        } else if in_ci() {
            panic!(
                "cannot mount a tmpfs at {} (CI runs as root and must test a full disk)",
                dir.display()
            );
        } else {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs at {} (needs root)",
                dir.display()
            );
            None
        }
    }

    /// Remount it read-only (`ro`) or read-write: whether `mount` succeeded, tried for a few
    /// seconds (a stopped server's files may take a moment to close).
    fn remount(&self, ro: bool) -> bool {
        let opts = if ro { "remount,ro" } else { "remount,rw" };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new("mount")
                .args(["-o", opts])
                .arg(&self.0)
                .output();
            match out {
                Ok(o) if o.status.success() => return true,
                Ok(o) if Instant::now() >= deadline => {
                    eprintln!(
                        "mount -o {opts} {}: {}",
                        self.0.display(),
                        String::from_utf8_lossy(&o.stderr).trim()
                    );
                    return false;
                }
                Err(e) => {
                    eprintln!("mount: {e}");
                    return false;
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The SQLite database `sqlite()` makes, for a server that is not the test's first: its
    /// `dir` (which a `TestDb` removes when dropped) is a scratch directory, not the database's.
    fn sqlite_again(&self, scratch: &str) -> TestDb {
        let dir = self.0.join(scratch);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(self.0.join("db")).unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "sqlite://{}?mode=rwc",
            self.0.join("db").join("taskforce.db").display()
        );
        TestDb::Sqlite { dir, url }
    }

    /// A fresh SQLite database in it.
    fn sqlite(&self) -> TestDb {
        let dir = self.0.join("db");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}?mode=rwc", dir.join("taskforce.db").display());
        TestDb::Sqlite { dir, url }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fill the file system holding `dir` to the last byte: the filler's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("filler: {e}"));
    for size in [1 << 20, 4096, 1] {
        let chunk = vec![0xa5u8; size];
        while f.write_all(&chunk).and_then(|()| f.flush()).is_ok() {}
    }
    path
}

/// The server, four phones of `cuc-vt` with their edits synced, and a raw phone to read the
/// server's error bodies.
struct Scene {
    app: TestApp,
    phones: Vec<FleetPhone>,
    raw: Phone,
    /// The Ministry Office's session, opened before the fault (a sign-in writes).
    token: String,
    rng: StdRng,
    dir: PathBuf,
}

fn scene(db: TestDb, name: &str) -> Scene {
    scene_on(db, name, "127.0.0.1:0")
}

/// `scene` with the server on `bind`.
fn scene_on(db: TestDb, name: &str, bind: &str) -> Scene {
    let app = spawn_app_with(db, |c| {
        many_logins(c);
        c.bind = bind.to_string();
    });
    for i in 0..4 {
        app.create_user(&format!("{UNIT}.{i}"), Role::Member, &[(UNIT, false)]);
    }
    app.create_user("cucvt.raw", Role::Member, &[(UNIT, false)]);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let dir = std::env::temp_dir().join(format!("taskforce-storage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let phones: Vec<FleetPhone> = (0..4)
        .map(|i| {
            open_phone(
                &dir,
                &app.base,
                &format!("{UNIT}.{i}"),
                UNIT,
                i,
                real_http(),
            )
        })
        .collect();
    let raw = app.phone("cucvt.raw", UNIT);
    let mut rng = StdRng::seed_from_u64(SEED);
    for p in &phones {
        for _ in 0..5 {
            p.random_edit(&mut rng);
        }
        p.sync()
            .unwrap_or_else(|e| panic!("sync before the fault: {e}"));
    }
    let token = app.token("vanphong");
    Scene {
        app,
        phones,
        raw,
        token,
        rng,
        dir,
    }
}

/// Under the fault: every sync is refused with `status` and `code`, the phones keep their
/// edits, reads go on. Then `lift`, and everything gets through once and agrees.
fn refused_then_resumed(mut s: Scene, status: u16, code: &str, lift: impl FnOnce()) {
    let token = s.token.clone();
    let ops_before = s.app.document(&token, UNIT)["ops"].as_u64();
    // The first sync after the fault: refused with the code.
    s.raw.status(0, Status::Done);
    let (got, body) = s
        .raw
        .try_sync(&s.app.http)
        .err()
        .unwrap_or_else(|| panic!("a sync under the fault was taken"));
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(" / "), "Vietnamese and English: {message}");
    // Every phone's sync is refused too, and the phone keeps its edits.
    let mut refused = 1u32;
    for p in &s.phones {
        for _ in 0..3 {
            p.random_edit(&mut s.rng);
        }
        match p.sync() {
            Err(ClientError::Network(m)) => {
                assert!(m.contains(&status.to_string()), "actor {}: {m}", p.actor);
                assert!(p.client.unsynced() >= 3, "the phone keeps its edits");
                refused += 1;
            }
            other => panic!("actor {}: a sync under the fault gave {other:?}", p.actor),
        }
    }
    let ops_during = s.app.document(&token, UNIT)["ops"].as_u64();
    // Reads go on, and nothing of the refused syncs was stored.
    assert_eq!(ops_during, ops_before);
    let (read, _) = s.app.get(&token, &format!("/api/v1/units/{UNIT}/progress"));
    assert_eq!(read, 200, "progress is served under the fault");
    let (read, _) = s.app.get(&token, "/api/v1/progress");
    assert_eq!(
        read, 200,
        "the directive's progress is served under the fault"
    );

    lift();
    let acked = check_acknowledged_stored(&s.app, &s.phones, SEED);
    let transport_acked = check_transport_acknowledged_stored(&s.app, &s.phones, SEED);
    assert_eq!(
        transport_acked, acked,
        "the transport's record and the replica state agree"
    );
    check_all_stored_once_and_converged(
        &s.app,
        &s.app.http,
        &s.phones,
        &[UNIT],
        |u| format!("{u}.0"),
        SEED,
    );
    s.raw.sync(&s.app.http);
    let ops = s.app.document(&token, UNIT)["ops"].as_u64().unwrap_or(0);
    let typed: u64 = s.phones.iter().map(FleetPhone::typed).sum();
    assert_eq!(ops, typed + 1, "the raw phone's one operation too");
    eprintln!(
        "{code}: {refused} syncs refused with {status}, reads served; {acked} acknowledged operations checked, {ops} stored once after the fault was lifted"
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// On a full disk every sync is refused with 507 and none acknowledged is lost. (It found a
/// bug: a COMMIT that fails with `SQLITE_FULL` ends SQLite's transaction, but sqlx kept
/// counting it open; the pool handed the connection out again, sea-orm's next `BEGIN
/// IMMEDIATE` became a `SAVEPOINT`, and that batch's "commit" a `RELEASE` inside a transaction
/// that never committed: answered 200, never stored. `db::connect` now closes such connections
/// on release.)
#[test]
fn sqlite_on_a_full_disk_refuses_syncs_with_storage_full_and_resumes() {
    let Some(fs) = Tmpfs::mount("full", 48) else {
        return;
    };
    let s = scene(fs.sqlite(), "full");
    // The write-ahead log emptied, so the next write must grow a file on the full disk.
    s.app.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    let filler = fill(&fs.0);
    refused_then_resumed(s, 507, "storage_full", || {
        std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Every file of `dir` with its bytes, in name order.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_else(|e| panic!("{e}"));
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// A SQLite database on a file system remounted read-only while the server was stopped:
/// `taskforce serve` exits with SQLite's error for it (see below), writing nothing; the phones keep their edits; remounted read-write, the server starts on the same
/// database and everything acknowledged before is there, and the rest gets through once.
#[test]
fn sqlite_on_a_read_only_file_system_refuses_to_start_and_resumes_when_writable() {
    let Some(fs) = Tmpfs::mount("ro", 48) else {
        return;
    };
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let Scene {
        app,
        phones,
        mut rng,
        dir,
        ..
    } = scene_on(fs.sqlite_again("scratch-1"), "ro", &bind);
    check_acknowledged_stored(&app, &phones, SEED);
    // The server stops (its files closed); the phones go on editing, offline.
    drop(app);
    for p in &phones {
        for _ in 0..3 {
            p.random_edit(&mut rng);
        }
        assert!(
            matches!(p.sync(), Err(ClientError::Network(_))),
            "no server"
        );
        assert!(p.client.unsynced() >= 3, "the phone keeps its edits");
    }
    if !fs.remount(true) {
        assert!(
            !in_ci(),
            "cannot remount {} read-only (CI runs as root)",
            fs.0.display()
        );
        eprintln!("SKIPPED: cannot remount {} read-only", fs.0.display());
        return;
    }
    let db_dir = fs.0.join("db");
    let before = files_of(&db_dir);
    let url = format!(
        "sqlite://{}?mode=rwc",
        db_dir.join("taskforce.db").display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskforce"))
        .arg("serve")
        .args(["--bind", &bind, "--db", &url, "--workers", "1"])
        .current_dir(&dir)
        .env_remove("TASKFORCE_DB")
        .env_remove("TASKFORCE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn taskforce: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs.remount(false);
            panic!("taskforce serve kept running on a read-only database");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let after = files_of(&db_dir);
    let writable = fs.remount(false);
    assert!(writable, "remount {} read-write", fs.0.display());
    assert!(!status.success(), "it refused to start: {status}; {stderr}");
    // What SQLite reports depends on what the stopped server left: after a clean stop (the
    // write-ahead log checkpointed and removed) it cannot create the `-shm` file, `(code: 14)
    // unable to open database file`; with a log left (a killed server) it opens and the first
    // write fails, `(code: 8) attempt to write a readonly database`. Either way the server
    // names the database and stops.
    let db_path = db_dir.join("taskforce.db").display().to_string();
    assert!(
        stderr.contains(&db_path) || stderr.contains("readonly database"),
        "the error names the database: {stderr}"
    );
    assert!(
        stderr.contains("unable to open database file")
            || stderr.contains("attempt to write a readonly database"),
        "the error is SQLite's for a read-only file system: {stderr}"
    );
    assert!(
        before == after,
        "the refused start wrote nothing to the database's files"
    );
    eprintln!(
        "storage_read_only (SQLite): taskforce serve refused to start ({status}): {}",
        stderr.trim()
    );

    // Writable again: the same database, the same address; nothing acknowledged was lost.
    let app = spawn_app_with(fs.sqlite_again("scratch-2"), |c| {
        many_logins(c);
        c.bind = bind.clone();
    });
    let acked = check_acknowledged_stored(&app, &phones, SEED);
    let transport_acked = check_transport_acknowledged_stored(&app, &phones, SEED);
    check_all_stored_once_and_converged(
        &app,
        &app.http,
        &phones,
        &[UNIT],
        |u| format!("{u}.0"),
        SEED,
    );
    let typed: u64 = phones.iter().map(FleetPhone::typed).sum();
    eprintln!(
        "storage_read_only (SQLite): {acked} acknowledged operations kept ({transport_acked} by \
         the transport's record), {typed} stored once \
         after the file system was writable again"
    );
    drop(phones);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run `sql` as the PostgreSQL administrator.
fn pg_admin(sql: &str) {
    let Some(admin) = pg_admin_url() else { return };
    let sql = sql.to_string();
    std::thread::spawn(move || {
        runtime().block_on(async {
            let db = Database::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            db.execute_unprepared(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("pg_admin panicked"));
}

/// `default_transaction_read_only` for `name`, the sessions already open ended so that the
/// server's pool opens new ones under it.
fn pg_read_only(name: &str, on: bool) {
    let value = if on { "on" } else { "off" };
    pg_admin(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = {value}"
    ));
    pg_admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
}

#[test]
fn postgresql_read_only_refuses_syncs_with_storage_read_only_and_resumes() {
    let Some(db) = TestDb::postgres() else { return };
    let TestDb::Postgres { name, .. } = &db else {
        unreachable!("a PostgreSQL database")
    };
    let name = name.clone();
    let s = scene(db, "pg-ro");
    pg_read_only(&name, true);
    refused_then_resumed(s, 503, "storage_read_only", || pg_read_only(&name, false));
}
