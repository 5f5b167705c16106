//! Sync: one round trip that pushes this device's operations and pulls the rest, retried with
//! back-off, losing nothing on failure.

use std::time::Duration;

use super::{Client, ClientError, ClientResult, Inner, error};
use crate::{
    store::{save_after_sync, seal_change},
    sync::wire,
};

/// What one `sync()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// This device's operations the server acknowledged in this sync.
    pub pushed: u64,
    /// Operations received from other devices.
    pub pulled: u64,
    /// Conflicts in the document after the sync.
    pub conflicts: u32,
    /// Attempts it took (1 when the first succeeded).
    pub attempts: u32,
    pub snapshot: bool,
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

    /// Push what this device has and pull what it lacks, in one round trip; network failures
    /// are retried with back-off. On failure every edit stays queued for the next sync.
    ///
    /// The first retry goes at once: the usual first failure is a kept-alive connection that
    /// the server or a NAT closed while the phone was idle (RFC 9112 §9.3.1), and a sync may
    /// be resent safely (the server applies each operation once). Later retries wait the
    /// policy's pause, doubled each time.
    pub fn sync(&self) -> ClientResult<SyncReport> {
        let mut pause = self.backoff;
        let mut last = ClientError::Network("no attempt".into());
        for attempt in 1..=self.retries {
            match self.sync_once() {
                Ok(mut report) => {
                    report.attempts = attempt;
                    self.notify("sync");
                    return Ok(report);
                }
                Err(e @ ClientError::Network(_)) => last = e,
                Err(e) => return Err(e),
            }
            if attempt > 1 && attempt < self.retries {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
            }
        }
        Err(last)
    }

    fn sync_once(&self) -> ClientResult<SyncReport> {
        let mut inner = self.lock();
        let session = inner
            .session
            .clone()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let transport = inner
            .transport
            .clone()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let key = inner
            .key
            .clone()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        let Inner {
            store,
            replica,
            saved,
            ..
        } = &mut *inner;
        let replica = replica
            .as_mut()
            .ok_or_else(|| ClientError::Unauthorized("sign in first".into()))?;
        if let Some(change) = replica.seal(session.actor, &key) {
            seal_change(store.as_mut(), replica.key(), &change, saved)?;
        }
        let acked_before = replica.remote_version().get(&session.actor);
        let body = wire::encode_request(&replica.request());
        let reply = transport
            .post_sync(&session.token, session.actor, body)
            .map_err(|e| ClientError::Network(e.0))?;
        if reply.status == 409 {
            let json = reply.json();
            if json["error"] == "gap" {
                // The server has less of ours than we thought: resend from there next time.
                let have = json["missing"]["have"].as_u64().unwrap_or(0);
                replica.rewind_remote(session.actor, have);
                return Err(ClientError::Network(
                    "the server asked for operations again; retrying".into(),
                ));
            }
        }
        if reply.status != 200 {
            return Err(error::from_reply(reply.status, &reply.json()));
        }
        let response = wire::decode_response(&reply.body)
            .map_err(|e| ClientError::Network(format!("a damaged answer: {e}")))?;
        // The changes it brings go to the store's tail (those this replica lacked, in order).
        let (outcome, received) = replica.receive_keeping(response)?;
        replica.prune_acknowledged();
        save_after_sync(
            store.as_mut(),
            replica,
            session.actor,
            received.as_deref(),
            saved,
        )?;
        Ok(SyncReport {
            pushed: replica
                .remote_version()
                .get(&session.actor)
                .saturating_sub(acked_before),
            pulled: outcome.pulled as u64,
            conflicts: u32::try_from(replica.doc().conflict_count()).unwrap_or(u32::MAX),
            attempts: 1,
            snapshot: outcome.snapshot,
        })
    }
}
