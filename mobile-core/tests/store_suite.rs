//! One test suite, run against every store: the SQLite store a phone uses and the in-memory
//! store.
#![cfg(feature = "store")]

mod common;

use common::{header, key};
use taskforce_core::{
    doc::{Op, Report, Status, TaskField, TaskRef},
    store::{MemoryStore, SqliteStore, Store, load_replica, save_replica},
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
    let r2 = load_replica(reopened.as_ref(), &k, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no doc"));
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
    let r3 = load_replica(reopen().as_ref(), &k, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no doc"));
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
    let r4 = load_replica(reopen().as_ref(), &k, 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no doc"));
    assert_eq!(canon(&r4), canon(&r));
    assert_eq!(r4.doc().reports().len(), 1);
}

#[test]
fn memory_store() {
    let store = MemoryStore::default();
    let shared = store.clone();
    let mut s: Box<dyn Store> = Box::new(store);
    suite(s.as_mut(), &|| Box::new(shared.clone()));
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
