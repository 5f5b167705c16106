//! The sync-core workload: 1,000 tasks, two phones with 100 offline status edits each, then
//! both sync through a server (phone A, phone B, phone A again). Prints the bytes on the wire
//! per status update (signatures and envelopes included), total bytes, round trips per sync,
//! CPU time and document size. Run: `cargo bench -p taskforce-core --bench sync_workload`.

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand::{Rng, SeedableRng, rngs::StdRng};
use taskforce_core::{
    directive::Role,
    doc::{DocHeader, HeaderTask, Status, TaskField, TaskRef},
    sync::{Replica, signing_key, wire},
};

const TASKS: usize = 1_000;
const EDITS: usize = 100;

fn header() -> DocHeader {
    DocHeader {
        directive: "5-ct-btttt".into(),
        unit: "cuc-vt".into(),
        tasks: (0..TASKS)
            .map(|i| HeaderTask {
                clause: format!("C{i}"),
                role: Role::Lead,
            })
            .collect(),
    }
}

fn key(actor: u32) -> SigningKey {
    let mut s = [3u8; 32];
    s[..4].copy_from_slice(&actor.to_le_bytes());
    signing_key(&s)
}

#[derive(Default)]
struct Wire {
    up: usize,
    down: usize,
    round_trips: usize,
}

fn sync(phone: &mut Replica, actor: u32, server: &mut Replica, w: &mut Wire) {
    phone.seal(actor, &key(actor));
    let req = wire::encode_request(&phone.request());
    w.up += req.len();
    let decoded = wire::decode_request(&req).unwrap_or_else(|e| panic!("{e}"));
    let fp = server.fingerprint();
    let (resp, _) = server
        .respond(&decoded, |c| {
            if c.verify(fp, &key(c.actor).verifying_key()) {
                Ok(())
            } else {
                Err(taskforce_core::sync::SyncError::BadSignature {
                    actor: c.actor,
                    start: c.start,
                })
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = wire::encode_response(&resp);
    w.down += resp.len();
    w.round_trips += 1;
    let resp = wire::decode_response(&resp).unwrap_or_else(|e| panic!("{e}"));
    phone.receive(resp).unwrap_or_else(|e| panic!("{e}"));
}

fn run(seed: u64) -> (Wire, Duration, Replica, Replica, Replica) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut a, mut b, mut server) = (
        Replica::new(header()),
        Replica::new(header()),
        Replica::new(header()),
    );
    let start = Instant::now();
    for (phone, actor) in [(&mut a, 1u32), (&mut b, 2u32)] {
        for _ in 0..EDITS {
            let task = TaskRef::Assigned(rng.random_range(0..TASKS as u32));
            let op = phone
                .doc()
                .set_op(task, TaskField::Status(Status::ALL[rng.random_range(0..4)]));
            phone.edit(actor, op).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let mut w = Wire::default();
    sync(&mut a, 1, &mut server, &mut w);
    sync(&mut b, 2, &mut server, &mut w);
    sync(&mut a, 1, &mut server, &mut w);
    (w, start.elapsed(), a, b, server)
}

fn main() {
    // Warm up, then take the median of several runs for the time.
    let _ = run(0);
    let mut times: Vec<Duration> = (1..=9).map(|s| run(s).1).collect();
    times.sort();
    let (w, _, a, b, server) = run(42);
    let canon = |r: &Replica| postcard::to_stdvec(&r.doc().to_canonical()).unwrap_or_default();
    assert!(
        canon(&a) == canon(&server) && canon(&b) == canon(&server),
        "did not converge"
    );
    let updates = 2 * EDITS;
    let total = w.up + w.down;
    let doc = wire::encode_snapshot(&server.doc().to_canonical()).len();
    println!("sync workload: {TASKS} tasks, 2 phones × {EDITS} offline status edits");
    println!(
        "  bytes up per status update:        {:.1}",
        w.up as f64 / updates as f64
    );
    println!(
        "  bytes on the wire per update:      {:.1}  (up and down, each update travels twice)",
        total as f64 / updates as f64
    );
    println!(
        "  total bytes:                       {total} (up {}, down {})",
        w.up, w.down
    );
    println!(
        "  syncs / round trips per sync:      3 / {}",
        w.round_trips / 3
    );
    println!(
        "  conflicts kept:                    {}",
        server.doc().conflicts().len()
    );
    println!(
        "  CPU time (edits + 3 syncs):        {:.2} ms median of 9",
        times[4].as_secs_f64() * 1e3
    );
    println!("  document size (snapshot):          {doc} bytes");
}
