//! Sync: round trips that push this device's operations and pull the rest, retried with
//! back-off, losing nothing on failure.
//!
//! The client's lock is held only to prepare a request and to apply its answer, never across
//! the network: the app's reads and edits go on during a slow sync, and edits made meanwhile
//! go with the next round trip. One sync runs at a time.
//!
//! A long offline backlog is sealed into changes of at most [`CHANGE_BYTES`] and sent
//! [`REQUEST_BYTES`] at a time, one round trip after the other, so that no request outgrows
//! the server's body limit; an answer holding only part of what the phone lacks is followed
//! by another round trip too.
//!
//! A phone whose store was restored from a backup (or copied to another phone) numbers new
//! operations again from where the backup stood; the server refuses them (`reused_sequence`).
//! The phone then recovers by itself ([`recover`](Client::recover)): it registers as a new
//! device, takes the server's state, and re-issues its operations from the refused one on
//! under the new device's actor.

use std::{collections::BTreeMap, time::Duration};

use super::{
    Client, ClientError, ClientResult, Inner, error, identity_key, identity_value,
    session::register_device,
};
use crate::{
    doc::{ActorId, Context, Op, OpId, Review, TaskField, TaskRef},
    store::{save_after_sync, seal_change},
    sync::{Replica, signing_key, wire},
};

/// At most this many bytes of operations in one change the phone seals.
pub const CHANGE_BYTES: usize = 512 * 1024;
/// At most this many bytes of changes in one request (and at most a quarter of
/// `wire::MAX_REQUEST_CHANGES` changes): a quarter of the server's default body limit
/// (8 MiB), so a request always fits with room to spare.
pub const REQUEST_BYTES: usize = 2 * 1024 * 1024;
/// Round trips one `sync()` makes at most (128 MiB of backlog); the rest goes next time.
const MAX_ROUNDS: u32 = 64;
/// The longest an overloaded server's `Retry-After` makes a retry wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// What one `sync()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// This device's operations the server acknowledged in this sync.
    pub pushed: u64,
    /// Operations received from other devices.
    pub pulled: u64,
    /// Conflicts in the document after the sync.
    pub conflicts: u32,
    /// Attempts the last round trip took (1 when the first succeeded).
    pub attempts: u32,
    pub snapshot: bool,
}

/// What one round trip did, and whether another is due.
struct Round {
    report: SyncReport,
    more: bool,
}

/// A request made under the lock, to send without it.
struct Prepared {
    token: String,
    actor: ActorId,
    transport: std::sync::Arc<dyn super::Transport>,
    body: Vec<u8>,
    /// The document it is about.
    key: crate::sync::DocKey,
    acked_before: u64,
    /// The last of this device's operations the server has or this request carries.
    sent_own: u64,
    more_to_send: bool,
}

impl Client {
    /// How often `sync()` tries, and the first pause between tries (doubled each time). The
    /// first retry is not delayed: see `sync`.
    pub fn set_retry_policy(&mut self, attempts: u32, first_pause: Duration) {
        self.retries = attempts.max(1);
        self.backoff = first_pause;
    }

    /// Operations made here that the server has not acknowledged yet.
    pub fn unsynced(&self) -> u64 {
        let inner = self.lock();
        match (&inner.replica, &inner.session) {
            (Some(r), Some(s)) => r.unacknowledged(s.actor) as u64,
            _ => 0,
        }
    }

    /// Push what this device has and pull what it lacks; network failures are retried with
    /// back-off. On failure every edit stays queued for the next sync.
    ///
    /// The first retry goes at once: the usual first failure is a kept-alive connection that
    /// the server or a NAT closed while the phone was idle (RFC 9112 §9.3.1), and a sync may
    /// be resent safely (the server applies each operation once). Later retries wait the
    /// policy's pause, doubled each time.
    pub fn sync(&self) -> ClientResult<SyncReport> {
        let _one = self
            .syncing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut total = SyncReport::default();
        for _ in 0..MAX_ROUNDS {
            let round = self.round_with_retries()?;
            total.pushed += round.report.pushed;
            total.pulled += round.report.pulled;
            total.conflicts = round.report.conflicts;
            total.attempts = round.report.attempts;
            total.snapshot |= round.report.snapshot;
            if !round.more {
                break;
            }
        }
        self.notify("sync");
        Ok(total)
    }

    fn round_with_retries(&self) -> ClientResult<Round> {
        let mut pause = self.backoff;
        let mut last = ClientError::Network("no attempt".into());
        for attempt in 1..=self.retries {
            match self.round() {
                Ok(mut round) => {
                    round.report.attempts = attempt;
                    return Ok(round);
                }
                Err(e @ ClientError::Network(_)) => last = e,
                Err(e) => return Err(e),
            }
            if attempt == self.retries {
                break;
            }
            // An overloaded server said how long to wait: that long (within reason), first
            // retry included. Otherwise the first retry goes at once.
            let asked = self
                .retry_after
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(wait) = asked {
                std::thread::sleep(wait.max(pause).min(MAX_RETRY_AFTER));
                pause = pause.saturating_mul(2);
            } else if attempt > 1 {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
            }
        }
        Err(last)
    }

    /// Seal what is queued, and make the next request: under the lock, without the network.
    fn prepare(&self) -> ClientResult<Prepared> {
        let mut inner = self.lock();
        let signed_out = || ClientError::Unauthorized("sign in first".into());
        let session = inner.session.clone().ok_or_else(signed_out)?;
        let transport = inner.transport.clone().ok_or_else(signed_out)?;
        let key = inner.key.clone().ok_or_else(signed_out)?;
        let Inner {
            store,
            replica,
            saved,
            ..
        } = &mut *inner;
        let replica = replica.as_mut().ok_or_else(signed_out)?;
        for change in replica.seal_bounded(session.actor, &key, CHANGE_BYTES) {
            seal_change(store.as_mut(), replica.key(), &change, saved)?;
        }
        let (request, more_to_send) =
            replica.request_within(REQUEST_BYTES, wire::MAX_REQUEST_CHANGES / 4);
        let acked_before = replica.remote_version().get(&session.actor);
        let sent_own = request
            .changes
            .iter()
            .filter(|c| c.actor == session.actor)
            .map(|c| c.end())
            .fold(acked_before, u64::max);
        Ok(Prepared {
            token: session.token,
            actor: session.actor,
            transport,
            body: wire::encode_request(&request),
            key: replica.key().clone(),
            acked_before,
            sent_own,
            more_to_send,
        })
    }

    /// One round trip: prepare under the lock, send without it, apply the answer under it.
    fn round(&self) -> ClientResult<Round> {
        let p = self.prepare()?;
        let reply = p
            .transport
            .post_sync(&p.token, p.actor, p.body)
            .map_err(|e| ClientError::Network(e.0))?;
        if reply.status == 409 {
            let json = reply.json();
            if json["error"] == "reused_sequence" {
                let start = json["reused"]["start"].as_u64().unwrap_or(1).max(1);
                self.recover(p.actor, &p.token, start)?;
                return Ok(Round {
                    report: SyncReport::default(),
                    more: true,
                });
            }
        }
        let mut inner = self.lock();
        // The session may have changed while the request was out (signed out, signed in as
        // someone else, recovered): its answer is not this replica's.
        if inner.session.as_ref().map(|s| (s.actor, s.token.as_str())) != Some((p.actor, &p.token))
        {
            return Err(ClientError::Network(
                "the session changed during the sync; try again".into(),
            ));
        }
        let Inner {
            store,
            replica,
            saved,
            ..
        } = &mut *inner;
        let replica = replica
            .as_mut()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        if replica.key() != &p.key {
            return Err(ClientError::Network(
                "the unit changed during the sync; try again".into(),
            ));
        }
        if reply.status == 409 {
            let json = reply.json();
            if json["error"] == "gap" {
                // The server has less of ours than we thought: resend from there next time.
                let have = json["missing"]["have"].as_u64().unwrap_or(0);
                replica.rewind_remote(p.actor, have);
                return Err(ClientError::Network(
                    "the server asked for operations again; retrying".into(),
                ));
            }
        }
        if reply.status != 200 {
            if reply.status == 503 {
                *self
                    .retry_after
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    reply.retry_after.map(Duration::from_secs);
            }
            return Err(error::from_reply(reply.status, &reply.json()));
        }
        let response = wire::decode_response(&reply.body)
            .map_err(|e| ClientError::Network(format!("a damaged answer: {e}")))?;
        // The changes it brings go to the store's tail (those this replica lacked, in order).
        let (outcome, received) = replica.receive_keeping(response)?;
        replica.clamp_remote(p.actor, p.sent_own);
        replica.prune_acknowledged();
        save_after_sync(store.as_mut(), replica, p.actor, received.as_deref(), saved)?;
        Ok(Round {
            report: SyncReport {
                pushed: replica
                    .remote_version()
                    .get(&p.actor)
                    .saturating_sub(p.acked_before),
                pulled: outcome.pulled as u64,
                conflicts: u32::try_from(replica.doc().conflict_count()).unwrap_or(u32::MAX),
                attempts: 1,
                snapshot: outcome.snapshot,
            },
            more: p.more_to_send || replica.lags_remote(),
        })
    }

    /// After `reused_sequence`: this store was restored or copied, and its operations of
    /// `old` from `start` on are numbered like other operations the server holds. Take the
    /// server's state (read as the old device: nothing is registered until it is known the
    /// recovery can finish), find where this store's operations first differ from what the
    /// server holds under the same numbers (those before are the same operations, sent
    /// before the backup was restored, and are not re-issued: no duplicates), register as a
    /// new device (new key), re-issue the rest under the new actor (references to them
    /// renumbered), and keep it all in one store transaction. Nothing is lost: until that
    /// transaction, the store holds what it held.
    fn recover(&self, old: ActorId, token: &str, start: u64) -> ClientResult<()> {
        let (transport, header, mine, name) = {
            let inner = self.lock();
            let signed_out = || ClientError::Unauthorized("sign in first".into());
            let replica = inner.replica.as_ref().ok_or_else(signed_out)?;
            let transport = inner.transport.clone().ok_or_else(signed_out)?;
            let name = inner
                .store
                .get_meta("device_name")?
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_else(|| "phone".into());
            (
                transport,
                replica.doc().header().clone(),
                replica.own_from(old, start),
                name,
            )
        };
        let ask = |request: &crate::sync::SyncRequest| -> ClientResult<crate::sync::SyncResponse> {
            let reply = transport
                .post_sync(token, old, wire::encode_request(request))
                .map_err(|e| ClientError::Network(e.0))?;
            if reply.status != 200 {
                return Err(error::from_reply(reply.status, &reply.json()));
            }
            wire::decode_response(&reply.body)
                .map_err(|e| ClientError::Network(format!("a damaged answer: {e}")))
        };
        // The server's state (several answers if it is large).
        let mut fresh = Replica::new(header);
        for _ in 0..MAX_ROUNDS {
            fresh.receive(ask(&fresh.request())?)?;
            if !fresh.lags_remote() {
                break;
            }
        }
        // What the server holds of `old` from `start` on: its changes, asked for by a version
        // that lacks exactly them (a snapshot answer says nothing: then all is re-issued).
        let mut probe = fresh.request();
        probe.vv.insert(old, start.saturating_sub(1));
        let theirs: BTreeMap<u64, Op> = match ask(&probe)?.payload {
            crate::sync::Payload::Changes(changes) => changes
                .into_iter()
                .filter(|c| c.actor == old)
                .flat_map(|c| (c.start..).zip(c.ops))
                .collect(),
            crate::sync::Payload::Snapshot(_) => BTreeMap::new(),
        };
        let from = mine
            .iter()
            .find(|(seq, op)| theirs.get(seq) != Some(op))
            .map_or(u64::MAX, |(seq, _)| *seq);
        let known: std::collections::BTreeSet<u64> = mine.iter().map(|(seq, _)| *seq).collect();
        let reissue: Vec<(u64, Op)> = mine.into_iter().filter(|(seq, _)| *seq >= from).collect();
        // They must apply to the server's state before a device is registered for them.
        let mut trial = fresh.clone();
        let mut renumbered: BTreeMap<u64, u64> = BTreeMap::new();
        for (seq, op) in &reissue {
            let id = trial.edit(
                ActorId::MAX,
                renumber(op.clone(), old, from, ActorId::MAX, &renumbered),
            )?;
            renumbered.insert(*seq, id.seq);
        }

        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| ClientError::Storage(format!("no randomness for a key: {e}")))?;
        let key = signing_key(&secret);
        let actor = register_device(transport.as_ref(), token, &key, &name)?;
        let mut renumbered: BTreeMap<u64, u64> = BTreeMap::new();
        for (seq, op) in reissue {
            let id = fresh.edit(actor, renumber(op, old, from, actor, &renumbered))?;
            renumbered.insert(seq, id.seq);
        }

        let mut inner = self.lock();
        let same_session = inner
            .session
            .as_ref()
            .is_some_and(|s| s.actor == old && s.token == token);
        let same_doc = inner.replica.as_ref().map(Replica::key) == Some(fresh.key());
        if !same_session || !same_doc {
            return Err(ClientError::Network(
                "the session changed during the recovery; try again".into(),
            ));
        }
        // Operations made while this ran (numbered after all of the above): re-issued too.
        let since: Vec<(u64, Op)> = inner
            .replica
            .as_ref()
            .map(|r| r.own_from(old, start))
            .unwrap_or_default()
            .into_iter()
            .filter(|(seq, _)| !known.contains(seq))
            .collect();
        let from = since.first().map_or(from, |(seq, _)| from.min(*seq));
        for (seq, op) in since {
            let id = fresh.edit(actor, renumber(op, old, from, actor, &renumbered))?;
            renumbered.insert(seq, id.seq);
        }
        let (first, ops) = fresh.pending();
        let pending: Vec<(u64, Op)> = (first..).zip(ops.iter().cloned()).collect();
        let snapshot = wire::encode_snapshot(&fresh.doc().to_canonical());
        let remote = postcard::to_stdvec(&fresh.remote_version().dots).unwrap_or_default();
        // The new device is this document's own: the store's device stays what it is for its
        // other documents (sequence numbers are counted per document).
        let identity = identity_value(actor, &secret);
        inner.store.replace_doc(
            fresh.key(),
            &snapshot,
            &remote,
            &pending,
            &[(&identity_key(fresh.key()), &identity)],
        )?;
        inner.saved = crate::store::Saved {
            snapshot: snapshot.len(),
            tail: 0,
        };
        inner.key = Some(key);
        inner.replica = Some(fresh);
        if let Some(session) = inner.session.as_mut() {
            session.actor = actor;
        }
        Ok(())
    }
}

/// An operation of `old` re-issued under `new`: references to `old`'s operations from `start`
/// on (an ad-hoc task, a confirmation, causal contexts) point to their re-issued numbers.
fn renumber(op: Op, old: ActorId, start: u64, new: ActorId, map: &BTreeMap<u64, u64>) -> Op {
    let id = |o: OpId| match map.get(&o.seq) {
        Some(&seq) if o.actor == old && o.seq >= start => OpId::new(new, seq),
        _ => o,
    };
    let task = |t: TaskRef| match t {
        TaskRef::Adhoc(o) => TaskRef::Adhoc(id(o)),
        other => other,
    };
    let ctx = |ctx: Context| -> Context {
        let mut out: Context = Vec::with_capacity(ctx.len() + 1);
        for (a, n) in ctx {
            if a == old && n >= start {
                // Seen `old` up to n: its operations before `start` as they were, and the
                // re-issued ones up to n under `new`.
                if start > 1 {
                    out.push((old, start - 1));
                }
                if let Some((_, &seq)) = map.range(..=n).next_back() {
                    out.push((new, seq));
                }
            } else {
                out.push((a, n));
            }
        }
        out.sort_by_key(|&(a, _)| a);
        out.dedup_by_key(|&mut (a, _)| a);
        out
    };
    match op {
        Op::Set {
            task: t,
            value: TaskField::Review(r),
            ctx: c,
        } => Op::Set {
            task: task(t),
            value: TaskField::Review(Review {
                seen: ctx(r.seen),
                ..r
            }),
            ctx: ctx(c),
        },
        Op::Set {
            task: t,
            value,
            ctx: c,
        } => Op::Set {
            task: task(t),
            value,
            ctx: ctx(c),
        },
        Op::Urge { task: t, urge } => Op::Urge {
            task: task(t),
            urge,
        },
        Op::AddTask { parent, title } => Op::AddTask {
            parent: parent.map(task),
            title,
        },
        Op::Comment { task: t, text, at } => Op::Comment {
            task: task(t),
            text,
            at,
        },
        Op::AddEvidence { task: t, evidence } => Op::AddEvidence {
            task: task(t),
            evidence,
        },
        Op::SetConfirmation {
            id: target,
            state,
            ctx: c,
        } => Op::SetConfirmation {
            id: id(target),
            state,
            ctx: ctx(c),
        },
        other @ (Op::Confirm(_) | Op::Report(_)) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{TaskField, TaskRef};

    #[test]
    fn a_reissued_operation_points_to_the_reissued_numbers() {
        let map = BTreeMap::from([(5, 1), (6, 2)]);
        let op = Op::Set {
            task: TaskRef::Adhoc(OpId::new(7, 5)),
            value: TaskField::Progress(50),
            ctx: vec![(3, 9), (7, 6)],
        };
        let Op::Set { task, ctx, .. } = renumber(op, 7, 5, 42, &map) else {
            panic!("a Set stays a Set");
        };
        assert_eq!(task, TaskRef::Adhoc(OpId::new(42, 1)));
        // Seen actor 7 up to 6: its first four as they were, the re-issued two under 42.
        assert_eq!(ctx, vec![(3, 9), (7, 4), (42, 2)]);
        // What came before the refused start is left alone.
        let op = Op::Set {
            task: TaskRef::Adhoc(OpId::new(7, 2)),
            value: TaskField::Progress(50),
            ctx: vec![(7, 3)],
        };
        assert_eq!(renumber(op.clone(), 7, 5, 42, &map), op);
    }

    /// An office phone's review and urge re-issued by a restored store (issue 20): the
    /// review's `seen` and its context, and the task they name, point to the new numbers.
    #[test]
    fn a_reissued_review_and_urge_point_to_the_reissued_numbers() {
        let map = BTreeMap::from([(5, 1), (6, 2)]);
        let review = Op::Set {
            task: TaskRef::Adhoc(OpId::new(7, 5)),
            value: TaskField::Review(Review {
                verdict: crate::doc::Verdict::Accepted,
                reason: String::new(),
                seen: vec![(3, 9), (7, 6)],
                at: 1,
            }),
            ctx: vec![(7, 5)],
        };
        let Op::Set {
            task,
            value: TaskField::Review(r),
            ctx,
        } = renumber(review, 7, 5, 42, &map)
        else {
            panic!("a review stays a review");
        };
        assert_eq!(task, TaskRef::Adhoc(OpId::new(42, 1)));
        assert_eq!(r.seen, vec![(3, 9), (7, 4), (42, 2)]);
        assert_eq!(ctx, vec![(7, 4), (42, 1)]);
        let urge = Op::Urge {
            task: TaskRef::Adhoc(OpId::new(7, 6)),
            urge: crate::doc::Urge {
                message: "m".into(),
                due: None,
                at: 1,
            },
        };
        let Op::Urge { task, .. } = renumber(urge, 7, 5, 42, &map) else {
            panic!("an urge stays an urge");
        };
        assert_eq!(task, TaskRef::Adhoc(OpId::new(42, 2)));
    }
}
