//! The audit trail (issue 19, point 1): phones sync, then the op log's hash chains and
//! signatures verify; each way of altering the stored record afterwards (an edited body or
//! time, a deleted row, two rows swapped, a replaced device key, a truncated tail, a forged
//! and re-hashed entry) is found at the right position for the right reason; an export
//! verifies with nothing but itself and a tampered one does not; the `taskforce` binary does
//! the same; two replicas on one database never fork a chain; rows from before the chain
//! are chained by the migration. The server's seals (decision 32): entries deleted or
//! reordered in the middle of a log and everything after re-hashed, a forged seal, another
//! server key, an unsealed tail and a change received after its device's revocation are
//! all found; `audit verify --db` reads a read-only copy without changing it and refuses a
//! database with migrations not yet run.

mod common;

use std::{collections::BTreeMap, path::Path};

use common::{DIRECTIVE, Phone, TestApp, TestDb, spawn_app_with_members, taskforce, with_db};
use ed25519_dalek::VerifyingKey;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use taskforce_core::{
    doc::Status,
    sync::{
        audit::{BadEntry, GENESIS, Hash, Link, Why, entry_hash},
        signing_key, wire,
    },
};
use taskforce_migrations::{Migrator, MigratorTrait};
use taskforce_server::{
    audit::{self, AuditKey, Export, Report},
    config::default_audit_key,
    db::entity::{changes, devices, documents, users},
};

const UNIT: &str = "cuc-vt";

/// The public half of the key the test's servers seal with (the default file: beside the
/// SQLite file, or in the working directory for PostgreSQL).
fn server_key(db: &TestDb) -> VerifyingKey {
    AuditKey::load(&default_audit_key(db.url()))
        .unwrap_or_else(|e| panic!("the servers' audit key: {e}"))
        .public()
}

fn verify(db: &TestDb) -> Report {
    verify_with(db, server_key(db))
}

fn verify_with(db: &TestDb, key: VerifyingKey) -> Report {
    with_db(db, async move |c| {
        audit::verify_db(&c, &key)
            .await
            .unwrap_or_else(|e| panic!("verify: {e}"))
    })
}

/// The first bad entry's document, position and reason.
fn first_bad(r: &Report) -> Option<(String, i64, Why)> {
    r.first_bad()
        .map(|b: &BadEntry| (b.unit.clone(), b.position, b.why.clone()))
}

/// Two members of cuc-vt and one of viettel edit and sync in turns: entries from several
/// devices, in several documents.
fn synced(db: TestDb) -> (TestApp, Vec<Phone>) {
    let app = spawn_app_with_members(db);
    let mut phones = vec![
        app.phone("cucvt.a", UNIT),
        app.phone("cucvt.b", UNIT),
        app.phone("viettel.a", "viettel"),
    ];
    for round in 0..3u32 {
        for (i, p) in phones.iter_mut().enumerate() {
            let tasks = u32::try_from(p.replica.doc().header().tasks.len()).unwrap_or(1);
            p.status(
                (round + i as u32) % tasks,
                Status::ALL[(round as usize + i) % 4],
            );
            p.status(round % tasks, Status::ALL[(round as usize + i + 1) % 4]);
            p.sync(&app);
        }
    }
    for p in &mut phones {
        p.sync(&app);
    }
    (app, phones)
}

/// The unit's log, by position.
fn rows(db: &TestDb) -> Vec<changes::Model> {
    with_db(db, async |c| {
        changes::Entity::find()
            .filter(changes::Column::DirectiveId.eq(DIRECTIVE))
            .filter(changes::Column::UnitId.eq(UNIT))
            .order_by_asc(changes::Column::Position)
            .all(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn document(db: &TestDb) -> documents::Model {
    with_db(db, async |c| {
        documents::Entity::find_by_id((DIRECTIVE.to_string(), UNIT.to_string()))
            .one(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no document"))
    })
}

/// Put the unit's log and document row back as they were.
fn restore(db: &TestDb, log: &[changes::Model], doc: &documents::Model) {
    let (log, doc) = (log.to_vec(), doc.clone());
    with_db(db, async move |c| {
        changes::Entity::delete_many()
            .filter(changes::Column::DirectiveId.eq(DIRECTIVE))
            .filter(changes::Column::UnitId.eq(UNIT))
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for row in log {
            row.into_active_model()
                .reset_all()
                .insert(&c)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        doc.into_active_model()
            .reset_all()
            .update(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

/// Store `row` as edited (found by its key).
fn store(db: &TestDb, row: changes::Model) {
    with_db(db, async move |c| {
        row.into_active_model()
            .reset_all()
            .update(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

fn set_position(db: &TestDb, row: &changes::Model, position: i64) {
    let mut row = row.clone();
    row.position = position;
    store(db, row);
}

fn set_chain(db: &TestDb, len: i64, head: Option<Vec<u8>>, ops: Option<i64>) {
    with_db(db, async move |c| {
        let mut u = documents::Entity::update_many()
            .col_expr(documents::Column::ChainLen, Expr::value(len))
            .col_expr(documents::Column::ChainHead, Expr::value(head));
        if let Some(ops) = ops {
            u = u.col_expr(documents::Column::Ops, Expr::value(ops));
        }
        u.filter(documents::Column::DirectiveId.eq(DIRECTIVE))
            .filter(documents::Column::UnitId.eq(UNIT))
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

fn delete(db: &TestDb, row: &changes::Model) {
    let row = row.clone();
    with_db(db, async move |c| {
        changes::Entity::delete(row.into_active_model())
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

fn rehash(prev: &Hash, r: &changes::Model) -> Hash {
    entry_hash(
        prev,
        &Link {
            directive: &r.directive_id,
            unit: &r.unit_id,
            position: r.position,
            actor: i64::from(r.actor_id),
            start: r.start_seq,
            end: r.end_seq,
            received_at: r.received_at,
            body: &r.body,
        },
    )
}

fn hash_of(r: &changes::Model) -> Hash {
    Hash::try_from(r.hash.as_slice()).unwrap_or_else(|_| panic!("a 32-byte hash"))
}

/// What someone with the database does before replacing a key: drop the triggers that
/// keep a signing device's row and key.
fn drop_device_guard(db: &TestDb) {
    let sql: &[&str] = match db {
        TestDb::Postgres { .. } => &["DROP TRIGGER devices_kept_while_signed ON devices"],
        TestDb::Sqlite { .. } => &[
            "DROP TRIGGER devices_kept_while_signed",
            "DROP TRIGGER devices_key_kept_while_signed",
        ],
    };
    for q in sql {
        let q = q.to_string();
        with_db(db, async move |c| {
            c.execute_unprepared(&q)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"));
        });
    }
}

/// A device whose changes are in the op log keeps its row and its key, whatever deletes it
/// (its account's cascade too); a device that signed nothing can go.
fn a_device_that_signed_keeps_its_row_and_key(db: TestDb) {
    let (app, phones) = synced(db);
    let signer = i32::try_from(phones[0].actor).unwrap_or_default();
    let idle = app.phone("cucvt.b", UNIT);
    let idle = i32::try_from(idle.actor).unwrap_or_default();
    let refused = with_db(&app.db, async move |c| {
        let delete = devices::Entity::delete_by_id(signer).exec(&c).await;
        let rekey = devices::Entity::update_many()
            .col_expr(devices::Column::PublicKey, Expr::value(vec![9u8; 32]))
            .filter(devices::Column::ActorId.eq(signer))
            .exec(&c)
            .await;
        let account = devices::Entity::find_by_id(signer)
            .one(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the device is there"))
            .user_id;
        let cascade = users::Entity::delete_by_id(account).exec(&c).await;
        let idle_delete = devices::Entity::delete_by_id(idle).exec(&c).await;
        (
            delete.map(|r| r.rows_affected),
            rekey.map(|r| r.rows_affected),
            cascade.map(|r| r.rows_affected),
            idle_delete.map(|r| r.rows_affected),
        )
    });
    for (what, r) in [
        ("delete", &refused.0),
        ("new key", &refused.1),
        ("account deleted", &refused.2),
    ] {
        let e = r
            .as_ref()
            .err()
            .unwrap_or_else(|| panic!("{what}: allowed"));
        assert!(
            e.to_string().contains("device_signed_changes"),
            "{what}: {e}"
        );
    }
    assert_eq!(
        refused.3.as_ref().ok(),
        Some(&1),
        "a device that signed nothing"
    );
    assert_eq!(first_bad(&verify(&app.db)), None);
}

/// Phones' syncs are chained: every document verifies, the counts are the log's, and each
/// document's head is its last entry's hash.
fn the_synced_log_verifies(db: TestDb) {
    let (app, _phones) = synced(db);
    let report = verify(&app.db);
    assert_eq!(first_bad(&report), None);
    assert!(report.is_sound(), "every chain sealed: {report:?}");
    let log = rows(&app.db);
    assert!(log.len() >= 6, "several entries: {}", log.len());
    assert!(
        log.last().is_some_and(|r| r.seal.is_some()),
        "the last entry is sealed"
    );
    let stored = usize::try_from(app.query_i64("SELECT COUNT(*) FROM changes")).unwrap_or(0);
    let entries: u64 = report.docs.iter().map(|d| d.entries).sum();
    assert_eq!(entries as usize, stored, "every row is in a chain");
    let ours = report
        .docs
        .iter()
        .find(|d| d.unit == UNIT)
        .unwrap_or_else(|| panic!("cuc-vt is reported"));
    assert_eq!(ours.entries as usize, log.len());
    let doc = document(&app.db);
    assert_eq!(ours.ops, u64::try_from(doc.ops).unwrap_or(0));
    assert_eq!(doc.chain_len as usize, log.len());
    assert_eq!(
        doc.chain_head.as_deref(),
        log.last().map(|r| r.hash.as_slice())
    );
    let positions: Vec<i64> = log.iter().map(|r| r.position).collect();
    assert_eq!(positions, (0..log.len() as i64).collect::<Vec<_>>());
    // A document nobody wrote to: an empty chain with no head.
    assert!(
        report
            .docs
            .iter()
            .any(|d| d.entries == 0 && d.bad.is_none())
    );
}

/// Each alteration of the stored record is found at its position, for its reason; the
/// record restored verifies again.
fn every_alteration_is_found(db: TestDb) {
    let (app, phones) = synced(db);
    let db = &app.db;
    let log = rows(db);
    let doc = document(db);
    let seen = export(db).checkpoint().unwrap_or_else(|e| panic!("{e}"));
    let n = log.len() as i64;
    assert!(n >= 4);
    let unit = UNIT.to_string();
    let check = |what: &str, expected: (i64, Why)| {
        let found = first_bad(&verify(db));
        assert_eq!(
            found,
            Some((unit.clone(), expected.0, expected.1)),
            "{what}"
        );
        restore(db, &log, &doc);
        assert_eq!(first_bad(&verify(db)), None, "{what}: restored");
    };

    // A byte of a body.
    let mut r = log[1].clone();
    let last = r.body.len() - 1;
    r.body[last] ^= 0x01;
    store(db, r);
    check("an edited body", (1, Why::HashMismatch));

    // The time it was received.
    let mut r = log[2].clone();
    r.received_at -= 3600;
    store(db, r);
    check("an edited received_at", (2, Why::HashMismatch));

    // A deleted row.
    delete(db, &log[1]);
    check(
        "a deleted row",
        (
            1,
            Why::OutOfPlace {
                expected: 1,
                found: 2,
            },
        ),
    );

    // Two rows' positions swapped.
    set_position(db, &log[0], -1);
    set_position(db, &log[2], 0);
    set_position(db, &log[0], 2);
    check("two rows swapped", (0, Why::HashMismatch));

    // A device's key replaced (by someone with the database, who drops its guard first):
    // its first entry's signature fails.
    drop_device_guard(db);
    let victim = log[0].actor_id;
    with_db(db, async move |c| {
        let key = signing_key(&[0xee; 32]).verifying_key().to_bytes().to_vec();
        devices::Entity::update_many()
            .col_expr(devices::Column::PublicKey, Expr::value(key))
            .filter(devices::Column::ActorId.eq(victim))
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    let actor = u32::try_from(victim).unwrap_or_default();
    let found = first_bad(&verify(db));
    assert_eq!(
        found,
        Some((unit.clone(), 0, Why::BadSignature(actor))),
        "a replaced key"
    );
    let original = phones
        .iter()
        .find(|p| p.actor == actor)
        .map(|p| p.key.verifying_key().to_bytes().to_vec())
        .unwrap_or_else(|| panic!("the phone of actor {actor}"));
    with_db(db, async move |c| {
        devices::Entity::update_many()
            .col_expr(devices::Column::PublicKey, Expr::value(original))
            .filter(devices::Column::ActorId.eq(victim))
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    assert_eq!(first_bad(&verify(db)), None, "the key restored");

    // A body edited and every hash after it recomputed, the head too: the chain holds, the
    // signature does not.
    let mut forged = log.clone();
    let last = forged[1].body.len() - 1;
    forged[1].body[last] ^= 0x01;
    let mut prev = hash_of(&forged[0]);
    for r in forged.iter_mut().skip(1) {
        prev = rehash(&prev, r);
        r.hash = prev.to_vec();
        store(db, r.clone());
    }
    set_chain(db, n, Some(prev.to_vec()), None);
    let actor = u32::try_from(log[1].actor_id).unwrap_or_default();
    check("a re-hashed forgery", (1, Why::BadSignature(actor)));

    // The tail truncated: the last row removed, the document row untouched.
    let tail = &log[log.len() - 1];
    delete(db, tail);
    let found = first_bad(&verify(db));
    assert_eq!(
        found,
        Some((
            unit.clone(),
            n - 1,
            Why::HeadMismatch {
                claimed: n,
                found: (n - 1) as u64
            }
        )),
        "a removed last row"
    );
    // …and the chain's head moved back too: the operations the document counts show it.
    set_chain(db, n - 1, Some(log[log.len() - 2].hash.clone()), None);
    let tail_ops = tail.end_seq - tail.start_seq + 1;
    let found = first_bad(&verify(db));
    assert_eq!(
        found,
        Some((
            unit.clone(),
            n - 1,
            Why::OpsMismatch {
                claimed: doc.ops,
                found: u64::try_from(doc.ops - tail_ops).unwrap_or(0)
            }
        )),
        "a removed last row, the head moved back"
    );
    // …and the operation count too: the version vector still shows it.
    set_chain(
        db,
        n - 1,
        Some(log[log.len() - 2].hash.clone()),
        Some(doc.ops - tail_ops),
    );
    assert_eq!(
        first_bad(&verify(db)),
        Some((unit.clone(), n - 1, Why::VersionMismatch)),
        "a removed last row, the head and the count moved back"
    );
    // …and the version vector too: a shorter chain is a sound chain, from the database
    // alone. Only a chain seen before (an earlier export's head) shows what went.
    let mut version: BTreeMap<u32, u64> = BTreeMap::new();
    for r in &log[..log.len() - 1] {
        let actor = u32::try_from(r.actor_id).unwrap_or_default();
        version.insert(actor, u64::try_from(r.end_seq).unwrap_or_default());
    }
    let encoded = wire::encode_version(&version);
    with_db(db, async move |c| {
        documents::Entity::update_many()
            .col_expr(documents::Column::Head, Expr::value(encoded))
            .filter(documents::Column::DirectiveId.eq(DIRECTIVE))
            .filter(documents::Column::UnitId.eq(UNIT))
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    assert_eq!(
        first_bad(&verify(db)),
        None,
        "undetectable from the database alone"
    );
    let since = vec![seen.clone()];
    let key = server_key(db);
    let found = with_db(db, async move |c| {
        audit::verify_db_since(&c, &key, &since)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    });
    assert_eq!(
        first_bad(&found),
        Some((
            unit.clone(),
            n - 1,
            Why::BehindCheckpoint {
                checkpoint: n,
                found: (n - 1) as u64
            }
        )),
        "the tail and every claim removed, against an earlier export"
    );
    restore(db, &log, &doc);
    assert_eq!(first_bad(&verify(db)), None);
    let since = vec![seen];
    let found = with_db(db, async move |c| {
        audit::verify_db_since(&c, &key, &since)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    });
    assert_eq!(
        first_bad(&found),
        None,
        "the whole log extends the checkpoint"
    );
}

fn export(db: &TestDb) -> Export {
    let key = server_key(db);
    with_db(db, async move |c| {
        audit::export(&c, UNIT, None, &key)
            .await
            .unwrap_or_else(|e| panic!("export: {e}"))
    })
}

fn verify_file(e: &Export) -> Option<(String, i64, Why)> {
    let json = serde_json::to_string(e).unwrap_or_else(|e| panic!("{e}"));
    let back: Export = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    let report = audit::verify_export(&back, None).unwrap_or_else(|e| panic!("{e}"));
    first_bad(&report)
}

/// An export verifies with nothing but itself; a tampered one does not.
fn an_export_verifies_alone_and_tampered_does_not(db: TestDb) {
    let (app, phones) = synced(db);
    let e = export(&app.db);
    assert_eq!(e.directive, DIRECTIVE);
    assert_eq!(e.entries.len(), rows(&app.db).len());
    let signers: Vec<u32> = e.devices.iter().map(|d| d.actor).collect();
    let mut ours: Vec<u32> = phones[..2].iter().map(|p| p.actor).collect();
    ours.sort_unstable();
    assert_eq!(
        signers, ours,
        "the keys of the devices that signed, no other"
    );
    assert!(
        e.devices
            .iter()
            .all(|d| matches!(d.user.as_deref(), Some("cucvt.a" | "cucvt.b")))
    );
    assert_eq!(verify_file(&e), None);
    // Found by the file alone: the database is gone.
    drop(app);
    assert_eq!(verify_file(&e), None);

    let mut t = e.clone();
    let b = t.entries[1].body.clone();
    let flipped = if b.starts_with('A') { 'B' } else { 'A' };
    t.entries[1].body = format!("{flipped}{}", &b[1..]);
    assert_eq!(
        verify_file(&t),
        Some((UNIT.into(), 1, Why::HashMismatch)),
        "an edited body"
    );

    let mut t = e.clone();
    t.entries.remove(2);
    assert_eq!(
        verify_file(&t),
        Some((
            UNIT.into(),
            2,
            Why::OutOfPlace {
                expected: 2,
                found: 3
            }
        )),
        "a removed entry"
    );

    let mut t = e.clone();
    t.devices[0].public_key = audit::hex(&signing_key(&[7; 32]).verifying_key().to_bytes());
    let actor = t.devices[0].actor;
    let first = t
        .entries
        .iter()
        .position(|x| x.actor == i64::from(actor))
        .unwrap_or_default() as i64;
    assert_eq!(
        verify_file(&t),
        Some((UNIT.into(), first, Why::BadSignature(actor))),
        "a replaced key"
    );

    let mut t = e.clone();
    t.entries.pop();
    let len = t.entries.len() as i64;
    assert_eq!(
        verify_file(&t),
        Some((
            UNIT.into(),
            len,
            Why::HeadMismatch {
                claimed: len + 1,
                found: len as u64
            }
        )),
        "a truncated file"
    );

    let mut t = e.clone();
    t.fingerprint = "1".into();
    assert!(
        matches!(verify_file(&t), Some((_, 0, Why::BadSignature(_)))),
        "another header"
    );

    let mut t = e;
    t.entries[0].hash = "zz".into();
    let json = serde_json::to_string(&t).unwrap_or_else(|e| panic!("{e}"));
    let back: Export = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        audit::verify_export(&back, None).is_err(),
        "not hex: not an export"
    );
}

/// The binary: `audit verify --db` passes, fails with the position after a row is edited,
/// `audit export` then `audit verify --file` passes, and an edited file fails.
fn the_binary_verifies_and_exports(db: TestDb) {
    let (app, _phones) = synced(db);
    let url = app.db.url().to_string();
    let (ok, text) = taskforce(&["audit", "verify", "--db", &url]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("{DIRECTIVE}/{UNIT}: ")), "{text}");
    let key = audit::hex(server_key(&app.db).as_bytes());
    assert!(
        text.contains(&format!("server key {key} (from the audit key file")),
        "the key used is named: {text}"
    );
    let other = audit::hex(AuditKey::from_bytes(&[0x33; 32]).public().as_bytes());
    let (ok, text) = taskforce(&["audit", "verify", "--db", &url, "--server-key", &other]);
    assert!(!ok && text.contains("seal"), "another server's key: {text}");

    let dir = std::env::temp_dir().join(format!("taskforce-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join(format!(
        "{}.json",
        common::COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let path = file.to_string_lossy().to_string();
    let (ok, text) = taskforce(&[
        "audit", "export", "--db", &url, "--unit", UNIT, "--out", &path,
    ]);
    assert!(ok, "{text}");
    let (ok, text) = taskforce(&["audit", "verify", "--file", &path]);
    assert!(ok, "{text}");
    let (ok, text) = taskforce(&["audit", "verify", "--file", &path, "--server-key", &key]);
    assert!(ok && text.contains("the trusted one"), "{text}");
    let (ok, text) = taskforce(&["audit", "verify", "--file", &path, "--server-key", &other]);
    assert!(!ok, "the file's key is not the trusted one: {text}");
    let (ok, text) = taskforce(&["audit", "verify", "--db", &url, "--since", &path]);
    assert!(ok, "the log extends the export: {text}");

    let log = rows(&app.db);
    let mut r = log[3].clone();
    r.received_at += 1;
    store(&app.db, r);
    let (ok, text) = taskforce(&["audit", "verify", "--db", &url]);
    assert!(!ok, "an edited row fails: {text}");
    assert!(
        text.contains(&format!("{DIRECTIVE}/{UNIT}: BAD at position 3")),
        "{text}"
    );

    let mut e: Export =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    e.entries[0].received_at += 1;
    std::fs::write(&file, serde_json::to_string(&e).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let (ok, text) = taskforce(&["audit", "verify", "--file", &path]);
    assert!(!ok, "an edited file fails: {text}");
    assert!(text.contains("position 0"), "{text}");
    let _ = std::fs::remove_file(&file);
}

/// Two server replicas on one database, phones syncing to both at once: one chain per
/// document, no position twice, every entry verifies.
fn two_replicas_never_fork_a_chain(db: TestDb) {
    let app = spawn_app_with_members(db);
    let other = app.other_server();
    let names: Vec<String> = (0..4).map(|i| format!("cucvt.r{i}")).collect();
    for n in &names {
        app.create_user(n, taskforce_server::auth::Role::Member, &[(UNIT, false)]);
    }
    let mut phones: Vec<Phone> = names.iter().map(|n| app.phone(n, UNIT)).collect();
    let tasks = u32::try_from(phones[0].replica.doc().header().tasks.len()).unwrap_or(1);
    std::thread::scope(|s| {
        for (i, p) in phones.iter_mut().enumerate() {
            let servers = [&app.http, &other.http];
            s.spawn(move || {
                for round in 0..6usize {
                    p.status(
                        (i as u32 + round as u32) % tasks,
                        Status::ALL[(round + i) % 4],
                    );
                    p.sync(servers[(i + round) % 2]);
                }
            });
        }
    });
    drop(other);
    let log = rows(&app.db);
    assert_eq!(log.len(), 4 * 6, "one entry per sync");
    assert_eq!(first_bad(&verify(&app.db)), None);
}

/// Rows written before the chain existed are chained by the migration, in (received_at,
/// actor, start) order, and verify.
fn rows_from_before_are_chained_by_the_migration(db: TestDb) {
    let (app, _phones) = synced(db);
    let before = rows(&app.db).len();
    with_db(&app.db, async |c| {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        let ours = names
            .iter()
            .position(|n| n == "m20200202_000009_audit_chain")
            .unwrap_or_else(|| panic!("the migration is registered"));
        let steps = u32::try_from(names.len() - ours).unwrap_or(1);
        Migrator::down(&c, Some(steps))
            .await
            .unwrap_or_else(|e| panic!("down: {e}"));
        Migrator::up(&c, None)
            .await
            .unwrap_or_else(|e| panic!("up: {e}"));
    });
    let log = rows(&app.db);
    assert_eq!(log.len(), before);
    let mut prev = GENESIS;
    for (i, r) in log.iter().enumerate() {
        assert_eq!(r.position, i as i64);
        prev = rehash(&prev, r);
        assert_eq!(r.hash, prev.to_vec());
    }
    let mut order: Vec<(i64, i32, i64)> = log
        .iter()
        .map(|r| (r.received_at, r.actor_id, r.start_seq))
        .collect();
    let chained = order.clone();
    order.sort_unstable();
    assert_eq!(
        chained, order,
        "chained in (received_at, actor, start) order"
    );
    // The migration has no key: the rows are unsealed, consistent but not sound.
    assert!(log.iter().all(|r| r.seal.is_none()));
    let report = verify(&app.db);
    assert_eq!(first_bad(&report), None);
    assert!(
        report.never_sealed().any(|d| d.unit == UNIT) && !report.is_sound(),
        "never sealed: {report:?}"
    );
    // The next sync seals the tail, which covers the unsealed rows before it.
    let mut phone = app.phone("cucvt.a", UNIT);
    phone.status(0, Status::ALL[2]);
    phone.sync(&app);
    let report = verify(&app.db);
    assert_eq!(first_bad(&report), None);
    assert!(
        !report.never_sealed().any(|d| d.unit == UNIT),
        "sealed again: {report:?}"
    );
}

/// What an attacker with write access to the database does: the unit's log replaced by
/// `kept` (rows of it, in a new order), every row renumbered and re-hashed with the public
/// `entry_hash`, and the document row's chain length, head, operation count and version
/// vector made to match. Returns the forged log.
fn forge(db: &TestDb, kept: Vec<changes::Model>) -> Vec<changes::Model> {
    let mut prev = GENESIS;
    let mut forged = Vec::with_capacity(kept.len());
    let mut ops = 0i64;
    let mut version: BTreeMap<u32, u64> = BTreeMap::new();
    for (i, mut r) in kept.into_iter().enumerate() {
        r.position = i as i64;
        prev = rehash(&prev, &r);
        r.hash = prev.to_vec();
        ops += r.end_seq - r.start_seq + 1;
        version.insert(
            u32::try_from(r.actor_id).unwrap_or_default(),
            u64::try_from(r.end_seq).unwrap_or_default(),
        );
        forged.push(r);
    }
    let (rows, len) = (forged.clone(), forged.len() as i64);
    let head = wire::encode_version(&version);
    with_db(db, async move |c| {
        changes::Entity::delete_many()
            .filter(changes::Column::DirectiveId.eq(DIRECTIVE))
            .filter(changes::Column::UnitId.eq(UNIT))
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for row in rows {
            row.into_active_model()
                .reset_all()
                .insert(&c)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        documents::Entity::update_many()
            .col_expr(documents::Column::Head, Expr::value(head))
            .filter(documents::Column::DirectiveId.eq(DIRECTIVE))
            .filter(documents::Column::UnitId.eq(UNIT))
            .exec(&c)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    });
    set_chain(db, len, Some(prev.to_vec()), Some(ops));
    forged
}

/// The attack an external review confirmed: entries deleted from the middle of a log (a
/// device's later changes, so no sequence gap shows) or two entries reordered, everything
/// after re-hashed and the document row fixed to match. Without seals both looked sound.
fn a_rewritten_middle_of_the_log_is_found(db: TestDb) {
    let (app, _phones) = synced(db);
    let db = &app.db;
    let log = rows(db);
    let doc = document(db);
    let n = log.len();
    // The last entry's device: its changes from its second on are deleted; the other
    // device's entries after them stay, renumbered.
    let victim = log[n - 1].actor_id;
    let from = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.actor_id == victim)
        .nth(1)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("the device synced twice"));
    let kept: Vec<changes::Model> = log
        .iter()
        .enumerate()
        .filter(|(i, r)| *i < from || r.actor_id != victim)
        .map(|(_, r)| r.clone())
        .collect();
    assert!(kept.len() > from, "an entry of another device follows");
    assert!(
        log.iter().all(|r| r.seal.is_some()),
        "each sync its own batch, sealed"
    );
    let forged = forge(db, kept.clone());
    assert_eq!(
        first_bad(&verify(db)),
        Some((UNIT.to_string(), from as i64, Why::BadSeal)),
        "a mid-log deletion, re-hashed: the first seal after it breaks"
    );
    // The broken seals stripped too: the tail is unsealed.
    let mut stripped = kept;
    for r in stripped.iter_mut().skip(from) {
        r.seal = None;
    }
    forge(db, stripped);
    assert_eq!(
        first_bad(&verify(db)),
        Some((
            UNIT.to_string(),
            forged.len() as i64 - 1,
            Why::UnsealedTail {
                last_seal: from as i64 - 1
            }
        )),
        "a mid-log deletion with its seals stripped"
    );
    restore(db, &log, &doc);
    assert_eq!(first_bad(&verify(db)), None, "restored");

    // Two neighbours of different devices swapped, in the middle.
    let i = (1..n - 2)
        .find(|&i| log[i].actor_id != log[i + 1].actor_id)
        .unwrap_or_else(|| panic!("neighbours of two devices"));
    let mut reordered = log.clone();
    reordered.swap(i, i + 1);
    forge(db, reordered);
    assert_eq!(
        first_bad(&verify(db)),
        Some((UNIT.to_string(), i as i64, Why::BadSeal)),
        "a mid-log reorder, re-hashed"
    );
    restore(db, &log, &doc);
    assert_eq!(first_bad(&verify(db)), None, "restored");
}

/// A seal replaced by other bytes, a check with another server's key, the last entry's seal
/// removed: each found at its position; an export checked against another key is refused.
fn a_forged_seal_another_key_and_an_unsealed_tail_are_found(db: TestDb) {
    let (app, _phones) = synced(db);
    let db = &app.db;
    let log = rows(db);
    let doc = document(db);
    let n = log.len() as i64;
    let mut r = log[2].clone();
    r.seal = Some(vec![0x42; 64]);
    store(db, r);
    assert_eq!(
        first_bad(&verify(db)),
        Some((UNIT.to_string(), 2, Why::BadSeal)),
        "a forged seal"
    );
    restore(db, &log, &doc);

    let other = AuditKey::from_bytes(&[0x33; 32]).public();
    assert_eq!(
        first_bad(&verify_with(db, other)),
        Some((UNIT.to_string(), 0, Why::BadSeal)),
        "another server key"
    );

    let mut r = log[log.len() - 1].clone();
    r.seal = None;
    store(db, r);
    assert_eq!(
        first_bad(&verify(db)),
        Some((
            UNIT.to_string(),
            n - 1,
            Why::UnsealedTail { last_seal: n - 2 }
        )),
        "the last entry unsealed"
    );
    restore(db, &log, &doc);
    assert_eq!(first_bad(&verify(db)), None, "restored");

    let e = export(db);
    assert_eq!(e.server_key, Some(audit::hex(server_key(db).as_bytes())));
    assert!(e.entries.iter().all(|x| x.seal.is_some()));
    let trusted = server_key(db);
    assert!(
        audit::verify_export(&e, Some(&trusted)).is_ok_and(|r| r.is_sound()),
        "the file's key is the trusted one"
    );
    assert!(
        matches!(
            audit::verify_export(&e, Some(&other)),
            Err(audit::AuditError::KeyMismatch { .. })
        ),
        "a file signed by another key than the trusted one"
    );
    let mut t = e.clone();
    t.entries[1].seal = Some(audit::hex(&[0x42; 64]));
    assert_eq!(
        verify_file(&t),
        Some((UNIT.into(), 1, Why::BadSeal)),
        "a forged seal in a file"
    );
    let mut t = e;
    t.server_key = Some(audit::hex(other.as_bytes()));
    assert_eq!(
        verify_file(&t),
        Some((UNIT.into(), 0, Why::BadSeal)),
        "the file's key replaced"
    );
}

/// A device revoked (its `revoked_at` set back before its first change, by SQL) whose
/// changes are in the log: flagged at its first change after the revocation, in the
/// database and in an export.
fn a_change_received_after_its_device_was_revoked_is_flagged(db: TestDb) {
    let (app, _phones) = synced(db);
    let log = rows(&app.db);
    let first = &log[0];
    let revoked_at = first.received_at - 1;
    app.execute(&format!(
        "UPDATE devices SET revoked_at = {revoked_at} WHERE actor_id = {}",
        first.actor_id
    ));
    let why = Why::AfterRevocation {
        actor: u32::try_from(first.actor_id).unwrap_or_default(),
        revoked_at,
        received_at: first.received_at,
    };
    assert_eq!(
        first_bad(&verify(&app.db)),
        Some((UNIT.to_string(), 0, why.clone()))
    );
    assert_eq!(
        verify_file(&export(&app.db)),
        Some((UNIT.to_string(), 0, why))
    );
}

fn sha256_of(path: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap_or_else(|e| panic!("{e}"))).to_vec()
}

/// `audit verify --db` does not write: a read-only (0444) copy of a WAL database verifies
/// with `?mode=ro` and is byte for byte the same after; a database with a migration not
/// run is refused with what to do, and left as it was.
fn verify_reads_a_read_only_copy_and_refuses_a_database_to_migrate(db: TestDb) {
    let (app, _phones) = synced(db);
    let key = audit::hex(server_key(&app.db).as_bytes());
    if let TestDb::Sqlite { dir, .. } = &app.db {
        let copy = dir.join("forensic.db");
        let target = copy.to_string_lossy().to_string();
        app.execute(&format!("VACUUM INTO '{target}'"));
        // The copy in WAL mode, as the server keeps its database, then read-only.
        let url = format!("sqlite://{target}?mode=rw");
        with_url(&url, "PRAGMA journal_mode=WAL");
        let mut perms = std::fs::metadata(&copy)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
        std::fs::set_permissions(&copy, perms).unwrap_or_else(|e| panic!("{e}"));
        let before = sha256_of(&copy);
        let beside = || -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{e}"))
                .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .filter(|n| n.starts_with("forensic"))
                .collect();
            names.sort();
            names
        };
        assert_eq!(beside(), ["forensic.db"]);
        // `immutable=1`: SQLite reads the file as it is and creates nothing.
        let immutable = format!("sqlite://{target}?mode=ro&immutable=1");
        let (ok, text) = taskforce(&["audit", "verify", "--db", &immutable, "--server-key", &key]);
        assert!(ok, "a read-only copy verifies: {text}");
        assert!(
            text.contains(&format!("server key {key} (from --server-key")),
            "{text}"
        );
        assert_eq!(sha256_of(&copy), before, "the copy is unchanged");
        assert_eq!(beside(), ["forensic.db"], "nothing beside it either");
        // `mode=ro` alone: the file is unchanged too, but SQLite opens the WAL index beside
        // it (and, without a writable directory, would refuse): hence `immutable=1`.
        let ro = format!("sqlite://{target}?mode=ro");
        let (ok, text) = taskforce(&["audit", "verify", "--db", &ro, "--server-key", &key]);
        assert!(ok, "{text}");
        assert_eq!(sha256_of(&copy), before, "the copy is unchanged");
    }
    app.execute("DELETE FROM seaql_migrations WHERE version = 'm20200202_000012_audit_seals'");
    let url = app.db.url().to_string();
    let (ok, text) = taskforce(&["audit", "verify", "--db", &url, "--server-key", &key]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("m20200202_000012_audit_seals") && text.contains("taskforce migrate"),
        "{text}"
    );
    // Refused again: the first run migrated nothing.
    let (ok, again) = taskforce(&["audit", "verify", "--db", &url, "--server-key", &key]);
    assert!(
        !ok && again.contains("m20200202_000012_audit_seals"),
        "{again}"
    );
}

/// A server given an audit key file that is not a key does not start, and touches no
/// database.
#[test]
fn a_malformed_audit_key_stops_the_start() {
    let db = TestDb::sqlite();
    let TestDb::Sqlite { dir, .. } = &db else {
        return;
    };
    let key = dir.join("bad.key");
    std::fs::write(&key, "not a key\n").unwrap_or_else(|e| panic!("{e}"));
    let config = taskforce_server::config::Config {
        db: db.url().to_string(),
        audit_key: Some(key.clone()),
        ..Default::default()
    };
    let started = common::runtime().block_on(taskforce_server::startup::build_state(config));
    let Err(e) = started else {
        panic!("started with a malformed audit key")
    };
    assert!(format!("{e:#}").contains("not an audit key file"), "{e:#}");
    assert!(!dir.join("taskforce.db").exists(), "no database was opened");
    assert_eq!(
        std::fs::read_to_string(&key).ok().as_deref(),
        Some("not a key\n")
    );
}

/// Run one statement on a connection to `url` that runs no migrations.
fn with_url(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        common::runtime().block_on(async move {
            let c = sea_orm::Database::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            c.execute_unprepared(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            c.close().await.unwrap_or_else(|e| panic!("{e}"));
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("a database call panicked"));
}

on_every_store!(
    a_rewritten_middle_of_the_log_is_found,
    a_forged_seal_another_key_and_an_unsealed_tail_are_found,
    a_change_received_after_its_device_was_revoked_is_flagged,
    verify_reads_a_read_only_copy_and_refuses_a_database_to_migrate,
    the_synced_log_verifies,
    a_device_that_signed_keeps_its_row_and_key,
    every_alteration_is_found,
    an_export_verifies_alone_and_tampered_does_not,
    the_binary_verifies_and_exports,
    two_replicas_never_fork_a_chain,
    rows_from_before_are_chained_by_the_migration,
);
