//! One test suite, run against every store: the SQLite store a phone uses and the in-memory
//! store.
#![cfg(feature = "store")]

mod common;

use common::{header, key, verify};
use taskforce_core::{
    doc::{Op, Report, Status, TaskField, TaskRef},
    store::{
        MemoryStore, Saved, SqliteStore, Store, TAIL_MIN_BYTES, load_replica, save_after_sync,
        save_replica, seal_change,
    },
    sync::{DocKey, Replica},
};

fn key_of(r: &Replica) -> DocKey {
    r.key().clone()
}

fn status(r: &mut Replica, store: &mut dyn Store, task: u32, s: Status) {
    let op = r
        .doc()
        .set_op(TaskRef::Assigned(task), TaskField::Status(s));
    let id = r.doc().next_id(1);
    store
        .append_pending(r.key(), id.seq, &op)
        .unwrap_or_else(|e| panic!("{e}"));
    r.edit(1, op).unwrap_or_else(|e| panic!("{e}"));
}

fn canon(r: &Replica) -> Vec<u8> {
    postcard::to_stdvec(&r.doc().to_canonical()).unwrap_or_default()
}

fn reload(store: &dyn Store, k: &DocKey) -> (Replica, Saved) {
    load_replica(store, k, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no doc"))
}

/// The suite: meta values, a document's state, queued and sealed operations, acknowledgement.
fn suite(store: &mut dyn Store, reopen: &dyn Fn() -> Box<dyn Store>) {
    assert_eq!(store.get_meta("token").ok(), Some(None));
    store
        .set_meta("token", b"abc")
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .set_meta("token", b"def")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.get_meta("token").ok(), Some(Some(b"def".to_vec())));

    let mut r = Replica::new(header(10));
    let k = key_of(&r);
    assert!(store.load_doc(&k).is_ok_and(|d| d.is_none()));
    save_replica(store, &r, 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.doc_keys().ok(), Some(vec![k.clone()]));

    // Queued edits are there after a reopen, state rebuilt.
    status(&mut r, store, 0, Status::Done);
    status(&mut r, store, 1, Status::Blocked);
    let reopened = reopen();
    let (r2, _) = reload(reopened.as_ref(), &k);
    assert_eq!(canon(&r2), canon(&r));
    assert_eq!(r2.unacknowledged(1), 2);

    // Sealing moves them into one change; still there after a reopen.
    let change = r
        .seal(1, &key(1))
        .unwrap_or_else(|| panic!("nothing sealed"));
    store.seal(&k, &change).unwrap_or_else(|e| panic!("{e}"));
    store
        .seal(&k, &change)
        .unwrap_or_else(|e| panic!("sealing twice: {e}"));
    let loaded = store
        .load_doc(&k)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert!(loaded.pending.is_empty());
    assert_eq!(loaded.changes, vec![change.clone()]);
    status(&mut r, store, 2, Status::InProgress);
    let (r3, _) = reload(reopen().as_ref(), &k);
    assert_eq!(canon(&r3), canon(&r));
    assert_eq!(r3.unacknowledged(1), 3);
    assert_eq!(r3.pending().0, 3);

    // Acknowledged changes are dropped when the state is saved.
    let mut server = Replica::new(header(10));
    let (resp, _) = server
        .respond(&r.request(), |_| Ok(()))
        .unwrap_or_else(|e| panic!("{e}"));
    r.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    save_replica(store, &r, 1).unwrap_or_else(|e| panic!("{e}"));
    let loaded = store
        .load_doc(&k)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert!(loaded.changes.is_empty());
    assert_eq!(loaded.pending.len(), 1, "the unsealed edit stays");

    // Reports and everything else round-trip through the stored state.
    let op = Op::Report(Report {
        period: "2020-W06".into(),
        text: "Tuần 6".into(),
        figures: vec![],
        at: 1,
    });
    let id = r.doc().next_id(1);
    store
        .append_pending(&k, id.seq, &op)
        .unwrap_or_else(|e| panic!("{e}"));
    r.edit(1, op).unwrap_or_else(|e| panic!("{e}"));
    let (r4, _) = reload(reopen().as_ref(), &k);
    assert_eq!(canon(&r4), canon(&r));
    assert_eq!(r4.doc().reports().len(), 1);

    // A restored device's recovery replaces the document whole, with its new identity: no
    // sealed changes, no tail, only the operations it re-issues, in one transaction.
    let mut fresh = Replica::new(header(10));
    let op = fresh
        .doc()
        .set_op(TaskRef::Assigned(3), TaskField::Status(Status::Done));
    fresh.edit(2, op).unwrap_or_else(|e| panic!("{e}"));
    let (first, ops) = fresh.pending();
    let pending: Vec<(u64, Op)> = (first..).zip(ops.iter().cloned()).collect();
    let snapshot = taskforce_core::sync::wire::encode_snapshot(&fresh.doc().to_canonical());
    store
        .replace_doc(
            &k,
            &snapshot,
            &[],
            &pending,
            &[("actor", b"2"), ("secret", b"s")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let reopened = reopen();
    assert_eq!(reopened.get_meta("actor").ok(), Some(Some(b"2".to_vec())));
    let loaded = reopened
        .load_doc(&k)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert!(loaded.changes.is_empty() && loaded.tail.is_empty());
    assert_eq!(loaded.pending, pending);
    let (r5, _) = load_replica(reopened.as_ref(), &k, 2)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no doc"));
    assert_eq!(canon(&r5), canon(&fresh));
    assert_eq!(r5.unacknowledged(2), 1);
}

/// One sync of the phone (actor 1) with `server`, saved as the client saves it.
fn sync(r: &mut Replica, server: &mut Replica, store: &mut dyn Store, saved: &mut Saved) {
    if let Some(change) = r.seal(1, &key(1)) {
        seal_change(store, r.key(), &change, saved).unwrap_or_else(|e| panic!("{e}"));
    }
    let request = r.request();
    let fp = server.fingerprint();
    let (resp, _) = server
        .respond(&request, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, received) = r.receive_keeping(resp).unwrap_or_else(|e| panic!("{e}"));
    r.prune_acknowledged();
    save_after_sync(store, r, 1, received.as_deref(), saved).unwrap_or_else(|e| panic!("{e}"));
}

/// Another phone (actor 2) writes `n` comments of `len` characters through the server.
fn other_writes(other: &mut Replica, server: &mut Replica, n: usize, len: usize) {
    for i in 0..n {
        let op = Op::Comment {
            task: TaskRef::Assigned(u32::try_from(i % 10).unwrap_or(0)),
            text: "ý".repeat(len / 2),
            at: i64::try_from(i).unwrap_or(0),
        };
        other.edit(2, op).unwrap_or_else(|e| panic!("{e}"));
    }
    let Some(change) = other.seal(2, &key(2)) else {
        return;
    };
    let fp = server.fingerprint();
    let mut req = other.request();
    req.changes = vec![change];
    let (resp, _) = server
        .respond(&req, verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    other.receive(resp).unwrap_or_else(|e| panic!("{e}"));
}

/// A sync appends what it brought to the tail instead of rewriting the state; the state is
/// rewritten once the tail outgrows it; every reopen rebuilds exactly the replica.
fn tail_suite(store: &mut dyn Store, reopen: &dyn Fn() -> Box<dyn Store>) {
    let mut server = Replica::new(header(10));
    let mut other = Replica::new(header(10));
    let mut r = Replica::new(header(10));
    let k = key_of(&r);
    let mut saved = save_replica(store, &r, 1).unwrap_or_else(|e| panic!("{e}"));
    let first = store
        .load_doc(&k)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default()
        .snapshot;

    other_writes(&mut other, &mut server, 5, 100);
    status(&mut r, store, 3, Status::Done);
    sync(&mut r, &mut server, store, &mut saved);
    let loaded = store
        .load_doc(&k)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(
        loaded.snapshot, first,
        "a small sync does not rewrite the state"
    );
    assert_eq!(
        loaded.tail.len(),
        1,
        "the other phone's change is in the tail"
    );
    assert_eq!(
        loaded.changes.len(),
        1,
        "ours stays until the state is rewritten"
    );
    let (again, reloaded) = reload(reopen().as_ref(), &k);
    assert_eq!(canon(&again), canon(&r));
    assert_eq!(again.unacknowledged(1), 0, "acknowledged, not sent again");
    assert_eq!(
        reloaded, saved,
        "the store and the client agree on its size"
    );

    // Keep syncing with a busy unit: the tail grows, then the state is rewritten.
    let mut rewrites = 0;
    for round in 0..12u32 {
        other_writes(&mut other, &mut server, TAIL_MIN_BYTES / 8_000, 1_000);
        status(&mut r, store, round % 10, Status::Blocked);
        let before = saved;
        sync(&mut r, &mut server, store, &mut saved);
        if saved.tail < before.tail {
            rewrites += 1;
            let loaded = store
                .load_doc(&k)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_default();
            assert!(loaded.tail.is_empty() && loaded.changes.is_empty());
        }
        assert!(saved.tail <= saved.snapshot.max(TAIL_MIN_BYTES));
        let (again, reloaded) = reload(reopen().as_ref(), &k);
        assert_eq!(canon(&again), canon(&r), "round {round}");
        assert_eq!(canon(&again), canon(&server), "round {round}");
        assert_eq!(reloaded, saved, "round {round}");
    }
    assert!(
        rewrites >= 1,
        "1.5 times the tail's limit arrived: the state was rewritten"
    );

    // A snapshot answer always rewrites the state.
    save_after_sync(store, &r, 1, None, &mut saved).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(saved.tail, 0);
    let loaded = store
        .load_doc(&k)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert!(loaded.tail.is_empty());
    assert_eq!(canon(&reload(reopen().as_ref(), &k).0), canon(&r));

    // A tail for a document never saved is refused, and changes nothing.
    let stranger = DocKey {
        directive: "5-ct-btttt".into(),
        unit: "khong-co".into(),
    };
    assert!(store.append_tail(&stranger, &[], b"").is_err());
    assert!(store.load_doc(&stranger).is_ok_and(|d| d.is_none()));
}

#[test]
fn memory_store() {
    let store = MemoryStore::default();
    let shared = store.clone();
    let mut s: Box<dyn Store> = Box::new(store);
    suite(s.as_mut(), &|| Box::new(shared.clone()));
    let store = MemoryStore::default();
    let shared = store.clone();
    let mut s: Box<dyn Store> = Box::new(store);
    tail_suite(s.as_mut(), &|| Box::new(shared.clone()));
}

#[test]
fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!("taskforce-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("phone.db");
    let mut s: Box<dyn Store> =
        Box::new(SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}")));
    let p = path.clone();
    suite(s.as_mut(), &move || {
        Box::new(SqliteStore::open(&p).unwrap_or_else(|e| panic!("{e}")))
    });
    let path = dir.join("tail.db");
    let mut s: Box<dyn Store> =
        Box::new(SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}")));
    tail_suite(s.as_mut(), &move || {
        Box::new(SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}")))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_store_is_reported_not_panicked_on() {
    let dir = std::env::temp_dir().join(format!("taskforce-store-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("phone.db");
    let mut s = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let r = Replica::new(header(3));
    s.save_doc(r.key(), b"not a snapshot", b"", 1, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(load_replica(&s, r.key(), 1).is_err());
    std::fs::write(
        dir.join("junk.db"),
        b"this is not an SQLite database at all, just text",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let junk = SqliteStore::open(dir.join("junk.db"));
    assert!(junk.is_err(), "opening a non-database is an error");
    let _ = std::fs::remove_dir_all(&dir);
}
