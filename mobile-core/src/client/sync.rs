//! Sync: round trips that push this device's operations and pull the rest, retried with
//! back-off, losing nothing on failure.
//!
//! The client's lock is held only to prepare a request and to apply its answer, never across
//! the network: the app's reads and edits go on during a slow sync, and edits made meanwhile
//! go with the next round trip. One sync runs at a time.
//!
//! Every document the phone holds (one per directive it follows) goes in the same round trip
//! (`POST /api/v1/sync/batch`; [`wire::MAX_BATCH_DOCUMENTS`] at most, so a unit with more takes
//! one round trip per that many; a phone following none yet sends an empty batch, whose answer
//! is the listing); each document's answer is applied on its own, so one refused
//! document does not hold back the others. The answer lists the unit's documents on the
//! server: one the phone does not hold yet (a directive published since) is fetched and
//! followed. A server without the batch route is synced one document at a time.
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
    Client, ClientError, ClientResult, Reply, directives, error, identity_key, identity_value,
    session::register_device,
};
use crate::{
    doc::{ActorId, Context, Op, OpId, Review, TaskField, TaskRef},
    store::{save_after_sync, seal_change},
    sync::{DocKey, Replica, SyncRequest, signing_key, wire},
};

/// The code of a document a batch answer had no room for (the server's `DEFERRED`).
const DEFERRED: &str = "deferred";

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

/// One document's request, made under the lock, to send without it.
struct PreparedDoc {
    request: SyncRequest,
    acked_before: u64,
    /// The last of this device's operations the server has or this request carries.
    sent_own: u64,
    more_to_send: bool,
}

/// The requests of the documents one actor signs (the store's device; a recovered document
/// has an actor of its own): sent in one round trip.
struct Prepared {
    token: String,
    unit: String,
    actor: ActorId,
    transport: std::sync::Arc<dyn super::Transport>,
    docs: Vec<PreparedDoc>,
}

/// A document's answer as the single route gives it.
fn reply_of(result: wire::DocResult) -> Reply {
    match result {
        wire::DocResult::Synced(body) => Reply {
            status: 200,
            body,
            retry_after: None,
        },
        wire::DocResult::Refused { status, body } => Reply {
            status,
            body: body.into_bytes(),
            retry_after: None,
        },
    }
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
        directives::held(&inner)
            .iter()
            .filter_map(|d| inner.held(d))
            .map(|(r, actor)| r.unacknowledged(actor) as u64)
            .sum()
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

    /// Seal what is queued in every document, and make the next requests (all documents of
    /// one actor together, at most [`REQUEST_BYTES`] of changes in all): under the lock,
    /// without the network.
    fn prepare(&self) -> ClientResult<Vec<Prepared>> {
        let mut inner = self.lock();
        let signed_out = || ClientError::Unauthorized("sign in first".into());
        let session = inner.session.clone().ok_or_else(signed_out)?;
        let transport = inner.transport.clone().ok_or_else(signed_out)?;
        let mut bytes_left = REQUEST_BYTES;
        let mut changes_left = wire::MAX_REQUEST_CHANGES / 4;
        let mut groups: BTreeMap<ActorId, Vec<PreparedDoc>> = BTreeMap::new();
        let held = directives::held(&inner);
        if held.is_empty() {
            // A unit with no document yet: an empty batch, whose answer lists what was
            // published for it since.
            groups.insert(session.device, Vec::new());
        }
        for directive in held {
            let Some(slot) = inner.slot(&directive) else {
                continue;
            };
            for change in slot
                .replica
                .seal_bounded(slot.actor, &slot.key, CHANGE_BYTES)
            {
                seal_change(slot.store, slot.replica.key(), &change, slot.saved)?;
            }
            let (mut request, mut more_to_send) = if bytes_left == 0 || changes_left == 0 {
                (slot.replica.request(), true)
            } else {
                slot.replica.request_within(bytes_left, changes_left)
            };
            let size: usize = request.changes.iter().map(wire::change_len).sum();
            // `request_within` sends one change even past the bound: only the first
            // document's may pass it, as a single document's may.
            if bytes_left == 0
                || changes_left == 0
                || (size > bytes_left && bytes_left < REQUEST_BYTES)
            {
                more_to_send = !request.changes.is_empty();
                request.changes.clear();
            }
            let size: usize = request.changes.iter().map(wire::change_len).sum();
            bytes_left = bytes_left.saturating_sub(size);
            changes_left = changes_left.saturating_sub(request.changes.len());
            let acked_before = slot.replica.remote_version().get(&slot.actor);
            let sent_own = request
                .changes
                .iter()
                .filter(|c| c.actor == slot.actor)
                .map(|c| c.end())
                .fold(acked_before, u64::max);
            groups.entry(slot.actor).or_default().push(PreparedDoc {
                request,
                acked_before,
                sent_own,
                more_to_send,
            });
        }
        // At most `wire::MAX_BATCH_DOCUMENTS` documents a batch: one round trip each.
        let mut out = Vec::new();
        for (actor, docs) in groups {
            let mut docs = docs.into_iter().peekable();
            loop {
                let chunk: Vec<PreparedDoc> =
                    docs.by_ref().take(wire::MAX_BATCH_DOCUMENTS).collect();
                out.push(Prepared {
                    token: session.token.clone(),
                    unit: session.unit.clone(),
                    actor,
                    transport: transport.clone(),
                    docs: chunk,
                });
                if docs.peek().is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One round trip per actor (one in all, but for a recovered document) and per
    /// [`wire::MAX_BATCH_DOCUMENTS`] documents: prepare under
    /// the lock, send without it, apply each document's answer under it. A document refused
    /// does not hold up the others: theirs are applied, then its error is returned.
    fn round(&self) -> ClientResult<Round> {
        let mut report = SyncReport::default();
        let mut more = false;
        let mut first_error: Option<ClientError> = None;
        for p in self.prepare()? {
            let (replies, listed) = self.send(&p)?;
            for (doc, reply) in p.docs.iter().zip(replies) {
                match self.apply(&p, doc, reply) {
                    Ok(r) => {
                        report.pushed += r.report.pushed;
                        report.pulled += r.report.pulled;
                        report.snapshot |= r.report.snapshot;
                        more |= r.more;
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(listed) = listed {
                match self.join_listed(&p, &listed) {
                    Ok(joined) => more |= joined,
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
                if let Err(e) = self.refresh_texts(&p, &listed) {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        report.conflicts = self.lock().replica.as_ref().map_or(0, |r| {
            u32::try_from(r.doc().conflict_count()).unwrap_or(u32::MAX)
        });
        report.attempts = 1;
        Ok(Round { report, more })
    }

    /// Send one actor's requests: in one batch, or (a server without the batch route) one at
    /// a time. The answers in the requests' order, and the unit's documents on the server
    /// when it listed them.
    fn send(&self, p: &Prepared) -> ClientResult<(Vec<Reply>, Option<Vec<wire::ListedDocument>>)> {
        let net = |e: super::TransportError| ClientError::Network(e.0);
        if !self.lock().single_only {
            let body = wire::encode_batch_request(&wire::BatchRequest {
                unit: p.unit.clone(),
                requests: p.docs.iter().map(|d| d.request.clone()).collect(),
            });
            let reply = p
                .transport
                .post_sync_batch(&p.token, p.actor, body)
                .map_err(net)?;
            if reply.status == 200 {
                let answer = wire::decode_batch_response(&reply.body)
                    .map_err(|e| ClientError::Network(format!("a damaged answer: {e}")))?;
                let mut by_doc: BTreeMap<DocKey, wire::DocResult> = answer
                    .answers
                    .into_iter()
                    .map(|a| (a.doc, a.result))
                    .collect();
                let replies = p
                    .docs
                    .iter()
                    .map(|d| match by_doc.remove(&d.request.doc) {
                        Some(result) => reply_of(result),
                        None => Reply {
                            status: 502,
                            body: br#"{"error":"no_answer","message":"the server did not answer for this document"}"#.to_vec(),
                            retry_after: None,
                        },
                    })
                    .collect();
                return Ok((replies, Some(answer.documents)));
            }
            if reply.status != 404 {
                self.note_retry_after(&reply);
                return Err(error::from_reply(reply.status, &reply.json()));
            }
            self.lock().single_only = true;
        }
        let mut replies = Vec::with_capacity(p.docs.len());
        for d in &p.docs {
            replies.push(
                p.transport
                    .post_sync(&p.token, p.actor, wire::encode_request(&d.request))
                    .map_err(net)?,
            );
        }
        Ok((replies, None))
    }

    /// An overloaded server said how long to wait: kept for the next retry.
    fn note_retry_after(&self, reply: &Reply) {
        if reply.status == 503 {
            *self
                .retry_after
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                reply.retry_after.map(Duration::from_secs);
        }
    }

    /// Apply one document's answer, under the lock.
    fn apply(&self, p: &Prepared, doc: &PreparedDoc, reply: Reply) -> ClientResult<Round> {
        let key = &doc.request.doc;
        if reply.status == 409 {
            let json = reply.json();
            if json["error"] == "reused_sequence" {
                let start = json["reused"]["start"].as_u64().unwrap_or(1).max(1);
                self.recover(&key.directive, p.actor, &p.token, start)?;
                return Ok(Round {
                    report: SyncReport::default(),
                    more: true,
                });
            }
        }
        if reply.status == 503 && reply.json()["error"] == DEFERRED {
            // Taken, but the batch's answer had no room for it: asked again next round.
            return Ok(Round {
                report: SyncReport::default(),
                more: true,
            });
        }
        let mut inner = self.lock();
        // The session may have changed while the request was out (signed out, signed in as
        // someone else, recovered): its answer is not this replica's.
        if inner.session.as_ref().map(|s| s.token.as_str()) != Some(&p.token) {
            return Err(ClientError::Network(
                "the session changed during the sync; try again".into(),
            ));
        }
        let slot = inner
            .slot(&key.directive)
            .filter(|s| s.actor == p.actor && s.replica.key() == key)
            .ok_or_else(|| {
                ClientError::Network("the unit changed during the sync; try again".into())
            })?;
        if reply.status == 409 {
            let json = reply.json();
            if json["error"] == "gap" {
                // The server has less of ours than we thought: resend from there next time.
                let have = json["missing"]["have"].as_u64().unwrap_or(0);
                slot.replica.rewind_remote(p.actor, have);
                return Err(ClientError::Network(
                    "the server asked for operations again; retrying".into(),
                ));
            }
        }
        if reply.status != 200 {
            drop(inner);
            self.note_retry_after(&reply);
            return Err(error::from_reply(reply.status, &reply.json()));
        }
        let response = wire::decode_response(&reply.body)
            .map_err(|e| ClientError::Network(format!("a damaged answer: {e}")))?;
        // The changes it brings go to the store's tail (those this replica lacked, in order).
        let (outcome, received) = slot.replica.receive_keeping(response)?;
        slot.replica.clamp_remote(p.actor, doc.sent_own);
        slot.replica.prune_acknowledged();
        save_after_sync(
            slot.store,
            slot.replica,
            p.actor,
            received.as_deref(),
            slot.saved,
        )?;
        Ok(Round {
            report: SyncReport {
                pushed: slot
                    .replica
                    .remote_version()
                    .get(&p.actor)
                    .saturating_sub(doc.acked_before),
                pulled: outcome.pulled as u64,
                conflicts: 0,
                attempts: 1,
                snapshot: outcome.snapshot,
            },
            more: doc.more_to_send || slot.replica.lags_remote(),
        })
    }

    /// Follow the documents the server lists for the unit that this phone does not hold yet
    /// (a directive published since): their text and header fetched, an empty replica made;
    /// an id that cannot be a directive's ([`directives::valid_id`]) is skipped. With no
    /// active directive before (the unit had no document), the oldest is made active.
    /// Whether one of them already holds operations (another round trip brings them).
    fn join_listed(&self, p: &Prepared, listed: &[wire::ListedDocument]) -> ClientResult<bool> {
        let new: Vec<&wire::ListedDocument> = {
            let inner = self.lock();
            listed
                .iter()
                .filter(|d| directives::valid_id(&d.directive))
                .filter(|d| inner.held(&d.directive).is_none())
                .collect()
        };
        let mut more = false;
        for d in new {
            let (json, header) =
                directives::fetch_document(p.transport.as_ref(), &p.token, &p.unit, &d.directive)?;
            let mut inner = self.lock();
            let Some(session) = inner.session.clone() else {
                return Ok(more);
            };
            if session.token != p.token || inner.held(&d.directive).is_some() {
                continue;
            }
            let secret: [u8; 32] = inner
                .store
                .get_meta("secret")?
                .and_then(|s| s.as_slice().try_into().ok())
                .ok_or_else(|| ClientError::Storage("device key damaged".into()))?;
            let doc_key = DocKey {
                directive: d.directive.clone(),
                unit: session.unit.clone(),
            };
            let (actor, key) = super::doc_identity(inner.store.as_ref(), &doc_key)?
                .unwrap_or((session.device, signing_key(&secret)));
            let (replica, saved) = match crate::store::load_replica(
                inner.store.as_ref(),
                &doc_key,
                actor,
            )? {
                Some((r, saved)) if r.doc().header() == &header => (r, saved),
                Some(_) => {
                    return Err(ClientError::Conflict(format!(
                        "chỉ thị {} trên máy chủ đã thay đổi; máy này giữ bản cũ / the directive {} on the server changed; this store holds the old one",
                        d.directive, d.directive
                    )));
                }
                None => {
                    let r = Replica::new(header);
                    let saved = crate::store::save_replica(inner.store.as_mut(), &r, actor)?;
                    (r, saved)
                }
            };
            directives::follow(
                &mut inner,
                &d.directive,
                &json,
                super::Parked {
                    replica,
                    saved,
                    clauses: BTreeMap::new(),
                    actor,
                    key,
                },
            )?;
            more |= d.ops > 0;
        }
        directives::activate_oldest_if_none(&mut self.lock())?;
        Ok(more)
    }

    /// Fetch again the text of every directive held of an older revision than the server
    /// lists (decision 44): a corrected clause shows its new words, a new clause its own.
    fn refresh_texts(&self, p: &Prepared, listed: &[wire::ListedDocument]) -> ClientResult<()> {
        let stale = directives::stale_texts(&self.lock(), listed);
        for directive in stale {
            let json = directives::fetch_text(p.transport.as_ref(), &p.token, &directive)?;
            directives::replace_text(&mut self.lock(), &directive, &json)?;
        }
        Ok(())
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
    fn recover(&self, directive: &str, old: ActorId, token: &str, start: u64) -> ClientResult<()> {
        let (transport, header, mine, name) = {
            let inner = self.lock();
            let signed_out = || ClientError::Unauthorized("sign in first".into());
            let (replica, _) = inner.held(directive).ok_or_else(signed_out)?;
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
        let same_session = inner.session.as_ref().is_some_and(|s| s.token == token);
        let same_doc = inner
            .held(directive)
            .is_some_and(|(r, actor)| actor == old && r.key() == fresh.key());
        if !same_session || !same_doc {
            return Err(ClientError::Network(
                "the session changed during the recovery; try again".into(),
            ));
        }
        // Operations made while this ran (numbered after all of the above): re-issued too.
        let since: Vec<(u64, Op)> = inner
            .held(directive)
            .map(|(r, _)| r.own_from(old, start))
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
        let saved = crate::store::Saved {
            snapshot: snapshot.len(),
            tail: 0,
        };
        let active = inner
            .session
            .as_ref()
            .is_some_and(|s| s.directive == directive);
        if active {
            inner.saved = saved;
            inner.key = Some(key);
            inner.replica = Some(fresh);
            if let Some(session) = inner.session.as_mut() {
                session.actor = actor;
            }
        } else if let Some(p) = inner.parked.get_mut(directive) {
            p.saved = saved;
            p.key = key;
            p.replica = fresh;
            p.actor = actor;
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
        TaskRef::Added(o) => TaskRef::Added(id(o)),
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
        Op::Assign(h) => Op::Assign(h),
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
        other @ (Op::Confirm(_) | Op::Report(_) | Op::Verify(_)) => other,
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
