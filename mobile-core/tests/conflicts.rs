//! Two people set the same field while offline: both values are kept and listed as a
//! conflict on every replica, until an edit that has seen both resolves it.

mod common;

use common::{header, key, verify};
use taskforce_core::{
    doc::{FieldKind, Status, TaskField, TaskRef},
    progress::unit_progress,
    sync::Replica,
};

#[test]
fn concurrent_status_edits_are_kept_then_resolved() {
    let (a, b) = (1, 2);
    let mut server = Replica::new(header(3));
    let mut phone_a = Replica::new(header(3));
    let mut phone_b = Replica::new(header(3));
    let fp = server.fingerprint();
    let task = TaskRef::Assigned(1);
    let sync = |phone: &mut Replica, server: &mut Replica, actor: u32| {
        phone.seal(actor, &key(actor));
        let (resp, _) = server
            .respond(&phone.request(), verify(fp))
            .unwrap_or_else(|e| panic!("{e}"));
        phone.receive(resp).unwrap_or_else(|e| panic!("{e}"))
    };

    // Both offline: A says done, B says blocked.
    let op = phone_a.doc().set_op(task, TaskField::Status(Status::Done));
    phone_a.edit(a, op).unwrap_or_else(|e| panic!("{e}"));
    let op = phone_b
        .doc()
        .set_op(task, TaskField::Status(Status::Blocked));
    phone_b.edit(b, op).unwrap_or_else(|e| panic!("{e}"));

    sync(&mut phone_a, &mut server, a);
    sync(&mut phone_b, &mut server, b);
    sync(&mut phone_a, &mut server, a);

    for (name, r) in [("A", &phone_a), ("B", &phone_b), ("server", &server)] {
        assert_eq!(
            r.doc().statuses(task),
            [Status::Done, Status::Blocked],
            "{name}"
        );
        let conflicts = r.doc().conflicts();
        assert_eq!(conflicts.len(), 1, "{name}");
        assert_eq!(r.doc().conflict_count(), 1, "{name}");
        assert_eq!(conflicts[0].field, FieldKind::Status);
        assert_eq!(
            conflicts[0].values,
            [
                TaskField::Status(Status::Done),
                TaskField::Status(Status::Blocked)
            ]
        );
        // The conflict does not count as done.
        let today = chrono::NaiveDate::from_ymd_opt(2020, 2, 10).unwrap_or_default();
        let p = unit_progress(r.doc(), today);
        assert_eq!(p.counts.done, 0);
        assert_eq!(p.counts.blocked, 1);
        assert!(p.tasks[1].conflicted);
    }

    // B has seen both and resolves: in progress.
    let op = phone_b
        .doc()
        .set_op(task, TaskField::Status(Status::InProgress));
    phone_b.edit(b, op).unwrap_or_else(|e| panic!("{e}"));
    sync(&mut phone_b, &mut server, b);
    sync(&mut phone_a, &mut server, a);
    for r in [&phone_a, &phone_b, &server] {
        assert_eq!(r.doc().statuses(task), [Status::InProgress]);
        assert!(r.doc().conflicts().is_empty());
        assert_eq!(r.doc().conflict_count(), 0);
    }
    let bytes = |r: &Replica| postcard::to_stdvec(&r.doc().to_canonical()).unwrap_or_default();
    assert_eq!(bytes(&phone_a), bytes(&server));
    assert_eq!(bytes(&phone_b), bytes(&server));
}

#[test]
fn an_edit_that_saw_one_value_replaces_only_that_one() {
    let mut r = Replica::new(header(1));
    let mut other = Replica::new(header(1));
    let task = TaskRef::Assigned(0);
    let op = r.doc().set_op(task, TaskField::Notes("A".into()));
    r.edit(1, op).unwrap_or_else(|e| panic!("{e}"));
    let op = other.doc().set_op(task, TaskField::Notes("B".into()));
    other.edit(2, op).unwrap_or_else(|e| panic!("{e}"));
    // A writes again having seen only its own value.
    let op = r.doc().set_op(task, TaskField::Notes("A2".into()));
    r.edit(1, op).unwrap_or_else(|e| panic!("{e}"));
    let fp = r.fingerprint();
    r.seal(1, &key(1));
    other.seal(2, &key(2));
    let (resp, _) = r
        .respond(&other.request(), verify(fp))
        .unwrap_or_else(|e| panic!("{e}"));
    other.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.doc().notes(task), ["A2", "B"]);
    assert_eq!(other.doc().notes(task), ["A2", "B"]);
}
