//! The sync-core workload side by side with Automerge and yrs, in one run, on the same edits.
//!
//! A document of 1,000 tasks, each with a status. Phone A and phone B start from the same
//! state as the server, each makes 100 offline status edits (the same random task and status
//! sequence for the three stacks), then they sync through the server: A, B, A again. Each stack
//! uses its own sync protocol as its users would:
//! - taskforce: one request (version vector + signed changes) and one response per sync;
//! - Automerge: its sync protocol (`generate_sync_message` / `receive_sync_message` until both
//!   sides are quiet), with the sync states kept from the initial sync as a phone would;
//! - yrs: one round trip per sync, as in y-protocols (the phone sends its update since the
//!   server's last state vector and its own state vector; the server answers with the diff).
//!
//! The starting status is unset (an empty string for Automerge and yrs: Automerge makes no
//! operation for a put of the value already there). Concurrent values kept: tasks showing more
//! than one distinct status after the syncs.
//!
//! Printed per stack: bytes up per status update, bytes on the wire per update, round trips per
//! sync, CPU time (median of 9), document size, memory held by the three replicas, whether the
//! replicas converged and how many concurrent values were kept. Run:
//! `cargo bench -p taskforce-benches --bench side_by_side`.

use std::{
    alloc::System,
    time::{Duration, Instant},
};

use automerge::{
    AutoCommit, ObjType, ROOT, ReadDoc,
    sync::{self, SyncDoc},
    transaction::Transactable,
};
use ed25519_dalek::SigningKey;
use rand::{Rng, SeedableRng, rngs::StdRng};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use taskforce_core::{
    directive::Role,
    doc::{DocHeader, HeaderTask, Status, TaskField, TaskRef},
    sync::{Replica, SyncError, signing_key, wire},
};
use yrs::{
    Any, Doc, Map, MapPrelim, MapRef, Out, ReadTxn, StateVector, Transact, Update,
    updates::{decoder::Decode, encoder::Encode},
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TASKS: usize = 1_000;
const EDITS: usize = 100;
const STATUSES: [&str; 4] = ["todo", "in_progress", "done", "blocked"];

/// The same edits for every stack: (phone, task, status index).
fn edits(seed: u64) -> [Vec<(usize, usize)>; 2] {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut one = || {
        (0..EDITS)
            .map(|_| (rng.random_range(0..TASKS), rng.random_range(0..4)))
            .collect()
    };
    [one(), one()]
}

#[derive(Debug, Default, Clone)]
struct Figures {
    up: usize,
    down: usize,
    messages: usize,
    syncs: usize,
    doc_size: usize,
    converged: bool,
    kept: usize,
    memory: isize,
    /// Edits and syncs only (not building the shared starting state).
    cpu: Duration,
}

impl Figures {
    fn round_trips_per_sync(&self) -> f64 {
        self.messages as f64 / 2.0 / self.syncs as f64
    }
}

// ---- taskforce ------------------------------------------------------------------------------

fn key(actor: u32) -> SigningKey {
    let mut s = [3u8; 32];
    s[..4].copy_from_slice(&actor.to_le_bytes());
    signing_key(&s)
}

fn ours(edits: &[Vec<(usize, usize)>; 2]) -> Figures {
    let header = DocHeader {
        directive: "5-ct-btttt".into(),
        unit: "cuc-vt".into(),
        tasks: (0..TASKS)
            .map(|i| HeaderTask {
                clause: format!("C{i}"),
                role: Role::Lead,
            })
            .collect(),
    };
    let mut f = Figures::default();
    let region = Region::new(GLOBAL);
    let mut server = Replica::new(header.clone());
    let mut phones = [Replica::new(header.clone()), Replica::new(header)];
    // Each phone holds its key; the server holds the devices' public keys.
    let keys = [key(1), key(2)];
    let public = [keys[0].verifying_key(), keys[1].verifying_key()];
    let start = Instant::now();
    for (p, (phone, edits)) in phones.iter_mut().zip(edits).enumerate() {
        let actor = p as u32 + 1;
        for &(task, s) in edits {
            let op = phone.doc().set_op(
                TaskRef::Assigned(task as u32),
                TaskField::Status(Status::ALL[s]),
            );
            phone.edit(actor, op).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    for p in [0usize, 1, 0] {
        let actor = p as u32 + 1;
        let phone = &mut phones[p];
        phone.seal(actor, &keys[p]);
        let req = wire::encode_request(&phone.request());
        f.up += req.len();
        let req = wire::decode_request(&req).unwrap_or_else(|e| panic!("{e}"));
        let fp = server.fingerprint();
        let (resp, _) = server
            .respond(&req, |c| {
                let known = public.get(c.actor as usize - 1);
                if known.is_some_and(|k| c.verify(fp, k)) {
                    Ok(())
                } else {
                    Err(SyncError::BadSignature {
                        actor: c.actor,
                        start: c.start,
                    })
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let resp = wire::encode_response(&resp);
        f.down += resp.len();
        f.messages += 2;
        f.syncs += 1;
        let resp = wire::decode_response(&resp).unwrap_or_else(|e| panic!("{e}"));
        phone.receive(resp).unwrap_or_else(|e| panic!("{e}"));
    }
    f.cpu = start.elapsed();
    f.memory =
        region.change().bytes_allocated as isize - region.change().bytes_deallocated as isize;
    let canon = |r: &Replica| wire::encode_snapshot(&r.doc().to_canonical());
    f.doc_size = canon(&server).len();
    f.converged = canon(&phones[0]) == canon(&server) && canon(&phones[1]) == canon(&server);
    f.kept = server.doc().conflicts().len();
    f
}

// ---- Automerge ------------------------------------------------------------------------------

/// Run Automerge's sync protocol between a phone and the server until both are quiet.
fn automerge_sync(
    phone: &mut AutoCommit,
    ps: &mut sync::State,
    server: &mut AutoCommit,
    ss: &mut sync::State,
    f: &mut Figures,
) {
    loop {
        let up = automerge_send(phone, ps, server, ss, &mut f.up);
        let down = automerge_send(server, ss, phone, ps, &mut f.down);
        f.messages += usize::from(up) + usize::from(down);
        if !up && !down {
            break;
        }
    }
}

/// One sync message from `from` to `to`, if `from` has one; its bytes are added to `bytes`.
fn automerge_send(
    from: &mut AutoCommit,
    from_state: &mut sync::State,
    to: &mut AutoCommit,
    to_state: &mut sync::State,
    bytes: &mut usize,
) -> bool {
    let Some(m) = from.sync().generate_sync_message(from_state) else {
        return false;
    };
    let encoded = m.encode();
    *bytes += encoded.len();
    let m = sync::Message::decode(&encoded).unwrap_or_else(|e| panic!("{e}"));
    to.sync()
        .receive_sync_message(to_state, m)
        .unwrap_or_else(|e| panic!("{e}"));
    true
}

fn automerge(edits: &[Vec<(usize, usize)>; 2]) -> Figures {
    let region = Region::new(GLOBAL);
    let mut server = AutoCommit::new();
    let tasks = server
        .put_object(ROOT, "tasks", ObjType::Map)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ids = Vec::with_capacity(TASKS);
    for i in 0..TASKS {
        let t = server
            .put_object(&tasks, format!("t{i}"), ObjType::Map)
            .unwrap_or_else(|e| panic!("{e}"));
        server
            .put(&t, "status", "")
            .unwrap_or_else(|e| panic!("{e}"));
        ids.push(t);
    }
    server.commit();
    let mut phones = [server.fork(), server.fork()];
    // The sync states a phone keeps from its last session with the server (not counted).
    let mut states: Vec<(sync::State, sync::State)> = Vec::new();
    let mut setup = Figures::default();
    for phone in &mut phones {
        let (mut ps, mut ss) = (sync::State::new(), sync::State::new());
        automerge_sync(phone, &mut ps, &mut server, &mut ss, &mut setup);
        states.push((ps, ss));
    }
    let mut f = Figures::default();
    let start = Instant::now();
    for (phone, edits) in phones.iter_mut().zip(edits) {
        for &(task, s) in edits {
            phone
                .put(&ids[task], "status", STATUSES[s])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        phone.commit();
    }
    for p in [0usize, 1, 0] {
        let (ps, ss) = &mut states[p];
        automerge_sync(&mut phones[p], ps, &mut server, ss, &mut f);
        f.syncs += 1;
    }
    f.cpu = start.elapsed();
    f.memory =
        region.change().bytes_allocated as isize - region.change().bytes_deallocated as isize;
    f.doc_size = server.save().len();
    let values = |d: &AutoCommit| -> Vec<Vec<String>> {
        ids.iter()
            .map(|t| {
                let mut v: Vec<String> = d
                    .get_all(t, "status")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(v, _)| v.to_string())
                    .collect();
                v.sort();
                v.dedup();
                v
            })
            .collect()
    };
    let s = values(&server);
    f.converged = values(&phones[0]) == s && values(&phones[1]) == s;
    f.kept = s.iter().filter(|v| v.len() > 1).count();
    f
}

// ---- yrs ------------------------------------------------------------------------------------

/// One y-protocols round trip: the phone's update since the server's last state vector, and
/// its own state vector, up; the diff the phone lacks down.
fn yrs_sync(phone: &Doc, known: &mut StateVector, server: &Doc, f: &mut Figures) {
    let (update, sv) = {
        let txn = phone.transact();
        (txn.encode_diff_v1(known), txn.state_vector().encode_v1())
    };
    f.up += update.len() + sv.len();
    let answer = {
        let mut txn = server.transact_mut();
        let u = Update::decode_v1(&update).unwrap_or_else(|e| panic!("{e}"));
        txn.apply_update(u).unwrap_or_else(|e| panic!("{e}"));
        let sv = StateVector::decode_v1(&sv).unwrap_or_else(|e| panic!("{e}"));
        (txn.encode_diff_v1(&sv), txn.state_vector().encode_v1())
    };
    f.down += answer.0.len() + answer.1.len();
    f.messages += 2;
    let mut txn = phone.transact_mut();
    let u = Update::decode_v1(&answer.0).unwrap_or_else(|e| panic!("{e}"));
    txn.apply_update(u).unwrap_or_else(|e| panic!("{e}"));
    *known = StateVector::decode_v1(&answer.1).unwrap_or_else(|e| panic!("{e}"));
}

fn yrs_statuses(doc: &Doc) -> Vec<String> {
    let tasks = doc.get_or_insert_map("tasks");
    let txn = doc.transact();
    (0..TASKS)
        .map(|i| match tasks.get(&txn, &format!("t{i}")) {
            Some(Out::YMap(t)) => t
                .get(&txn, "status")
                .map(|v| v.to_string(&txn))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .collect()
}

fn yrs(edits: &[Vec<(usize, usize)>; 2]) -> Figures {
    let region = Region::new(GLOBAL);
    let server = Doc::with_client_id(1);
    let tasks = server.get_or_insert_map("tasks");
    {
        let mut txn = server.transact_mut();
        for i in 0..TASKS {
            tasks.insert(
                &mut txn,
                format!("t{i}"),
                MapPrelim::from([("status", Any::from(""))]),
            );
        }
    }
    let base = server
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let phones = [Doc::with_client_id(2), Doc::with_client_id(3)];
    let mut known = Vec::new();
    for phone in &phones {
        let u = Update::decode_v1(&base).unwrap_or_else(|e| panic!("{e}"));
        phone
            .transact_mut()
            .apply_update(u)
            .unwrap_or_else(|e| panic!("{e}"));
        known.push(server.transact().state_vector());
    }
    let mut f = Figures::default();
    let start = Instant::now();
    for (phone, edits) in phones.iter().zip(edits) {
        let tasks: MapRef = phone.get_or_insert_map("tasks");
        let mut txn = phone.transact_mut();
        for &(task, s) in edits {
            if let Some(Out::YMap(t)) = tasks.get(&txn, &format!("t{task}")) {
                t.insert(&mut txn, "status", STATUSES[s]);
            }
        }
    }
    for p in [0usize, 1, 0] {
        yrs_sync(&phones[p], &mut known[p], &server, &mut f);
        f.syncs += 1;
    }
    f.cpu = start.elapsed();
    f.memory =
        region.change().bytes_allocated as isize - region.change().bytes_deallocated as isize;
    f.doc_size = server
        .transact()
        .encode_state_as_update_v1(&StateVector::default())
        .len();
    let s = yrs_statuses(&server);
    f.converged = yrs_statuses(&phones[0]) == s && yrs_statuses(&phones[1]) == s;
    // A map entry holds one value: of two concurrent writes, one is dropped.
    f.kept = 0;
    f
}

// ---- the run --------------------------------------------------------------------------------

/// The median over 9 runs (after one to warm up) of the edits-and-syncs time.
fn median_time(run: impl Fn(&[Vec<(usize, usize)>; 2]) -> Figures) -> Duration {
    run(&edits(0));
    let mut times: Vec<Duration> = (1..=9).map(|seed| run(&edits(seed)).cpu).collect();
    times.sort();
    times[4]
}

fn main() {
    let e = edits(42);
    let concurrent = {
        let a: std::collections::BTreeSet<usize> = e[0].iter().map(|x| x.0).collect();
        let b: std::collections::BTreeSet<usize> = e[1].iter().map(|x| x.0).collect();
        a.intersection(&b).count()
    };
    let stacks: [(&str, Figures, Duration); 3] = [
        ("taskforce", ours(&e), median_time(ours)),
        ("Automerge 0.7", automerge(&e), median_time(automerge)),
        ("yrs 0.25", yrs(&e), median_time(yrs)),
    ];
    let updates = (2 * EDITS) as f64;
    println!(
        "side by side: {TASKS} tasks, 2 phones × {EDITS} offline status edits (the same for all), \
         syncs A, B, A; {concurrent} tasks edited on both phones"
    );
    println!(
        "| stack | bytes up / update | bytes on the wire / update | total bytes | round trips / sync | CPU ms (median of 9) | document bytes | memory KiB (3 replicas) | converged | concurrent values kept |"
    );
    println!("| --- | --: | --: | --: | --: | --: | --: | --: | --- | --: |");
    for (name, f, t) in &stacks {
        println!(
            "| {name} | {:.1} | {:.1} | {} | {:.1} | {:.2} | {} | {} | {} | {} |",
            f.up as f64 / updates,
            (f.up + f.down) as f64 / updates,
            f.up + f.down,
            f.round_trips_per_sync(),
            t.as_secs_f64() * 1e3,
            f.doc_size,
            f.memory / 1024,
            if f.converged { "yes" } else { "NO" },
            f.kept,
        );
    }
}
