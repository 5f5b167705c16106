//! The `taskforce` binary as an operator runs it: on a fresh directory it starts on SQLite with
//! the directive loaded and answers /healthz; two server processes on one PostgreSQL accept
//! syncs for the same unit at the same time and lose nothing.

mod common;

use common::{Http, Phone, TestDb, process::serve, spawn_app};
use taskforce_core::doc::Status;
use taskforce_server::auth::Role;

#[test]
fn serve_on_a_fresh_directory_uses_sqlite_with_the_directive() {
    let dir = std::env::temp_dir().join(format!("taskforce-fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (server, base) = serve(&[], &dir);
    let mut resp = Http::agent()
        .get(&format!("{base}/healthz"))
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    let body: serde_json::Value = resp.body_mut().read_json().unwrap_or_default();
    assert_eq!(body["status"], "ok");
    assert!(
        dir.join("taskforce.db").exists(),
        "the default database is an SQLite file in the working directory"
    );
    let metrics = Http::agent()
        .get(&format!("{base}/metrics"))
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(metrics.status(), 200);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_server_processes_on_one_postgresql_lose_nothing() {
    let Some(db) = TestDb::postgres() else { return };
    // Migrate, seed and create the accounts through an in-process server, then stop it.
    let setup = spawn_app(db);
    let names: Vec<String> = (0..6).map(|i| format!("cucvt.{i}")).collect();
    for n in &names {
        setup.create_user(n, Role::Member, &[("cuc-vt", false)]);
    }
    setup.create_user("vanphong", Role::MinistryOffice, &[]);
    let url = setup.db.url().to_string();
    let dir = std::env::temp_dir();
    let (_s1, base1) = serve(&["--db", &url], &dir);
    let (_s2, base2) = serve(&["--db", &url], &dir);
    let servers = [Http { base: base1 }, Http { base: base2 }];
    let mut phones: Vec<Phone> = names.iter().map(|n| setup.phone(n, "cuc-vt")).collect();
    let tasks = u32::try_from(phones[0].replica.doc().header().tasks.len()).unwrap_or(1);
    std::thread::scope(|s| {
        for (i, p) in phones.iter_mut().enumerate() {
            let servers = &servers;
            s.spawn(move || {
                for round in 0..8u32 {
                    for k in 0..5u32 {
                        p.status(
                            (i as u32 * 3 + k) % tasks,
                            Status::ALL[((round + k) % 4) as usize],
                        );
                    }
                    // Alternate between the two processes.
                    p.sync(&servers[(i + round as usize) % 2]);
                }
            });
        }
    });
    for server in &servers {
        for p in &mut phones {
            p.sync(server);
        }
    }
    let token = setup.token("vanphong");
    let ops = setup.document(&token, "cuc-vt")["ops"].as_i64();
    assert_eq!(ops, Some(6 * 8 * 5), "every operation is stored once");
    let first = phones[0].canonical();
    for p in &phones {
        assert_eq!(p.canonical(), first, "replicas differ");
    }
}
