//! Live updates (issue 24): which unit documents changed, as they change, for the dashboard's
//! pages to refresh and for anyone else following along (`GET /api/v1/events`, server-sent
//! events).
//!
//! The sync writer says which documents a committed batch changed. On SQLite (one process)
//! it hands them straight to this process's streams. On PostgreSQL every replica must hear of
//! every other's writes: the writer adds `pg_notify` to the batch's own transaction, so the
//! notice goes out exactly when the batch commits (and never for one rolled back), and each
//! replica's listener (`listen`) passes what PostgreSQL delivers — its own batches' included —
//! to its streams. A stream that falls behind, or a listener that lost its connection, is
//! told to `resync`: notices may have been missed, so read everything again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

/// The PostgreSQL channel the writers notify and the replicas listen on.
pub const CHANNEL: &str = "taskforce_changes";

/// A notice's payload must stay under PostgreSQL's 8000 bytes: batches of changes are split.
const PAYLOAD_BYTES: usize = 7000;

/// How many notices a slow stream may fall behind before it is told to resync.
const BACKLOG: usize = 1024;

/// One unit document changed: its operations now number `ops`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub directive: String,
    pub unit: String,
    pub ops: i64,
}

/// What a stream is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Change(Arc<Change>),
    /// Notices may have been missed: read everything again.
    Resync,
}

/// This process's streams and where their notices come from.
#[derive(Debug)]
pub struct Events {
    tx: broadcast::Sender<Event>,
    stop: watch::Sender<bool>,
    open: AtomicUsize,
    max_streams: usize,
    /// Streams open per user: one account (a phone's token taken, say) cannot take every
    /// place from the others.
    per_user: std::sync::Mutex<std::collections::HashMap<i64, usize>>,
    max_per_user: usize,
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `live_streams` are open.
    Full,
    /// This user has `live_streams_per_user` open.
    UserFull,
    /// The server is stopping.
    Stopping,
}

/// An open stream's receiving end; it gives its place back when dropped.
#[derive(Debug)]
pub struct Subscription {
    pub events: broadcast::Receiver<Event>,
    pub stop: watch::Receiver<bool>,
    owner: Arc<Events>,
    user: i64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.owner.open.fetch_sub(1, Ordering::SeqCst);
        self.owner.release(self.user);
    }
}

impl Events {
    pub fn new(max_streams: usize, max_per_user: usize) -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            stop: watch::channel(false).0,
            open: AtomicUsize::new(0),
            max_streams,
            per_user: std::sync::Mutex::default(),
            max_per_user,
        }
    }

    fn release(&self, user: i64) {
        if let Ok(mut map) = self.per_user.lock()
            && let Some(n) = map.get_mut(&user)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&user);
            }
        }
    }

    /// Tell this process's streams.
    pub fn publish(&self, event: Event) {
        // No stream open is not an error.
        let _ = self.tx.send(event);
    }

    /// A new stream of `user`'s, unless `max_streams` are open, or the user's
    /// `max_per_user`, or the server is stopping.
    pub fn subscribe(self: &Arc<Self>, user: i64) -> Result<Subscription, Refused> {
        // Watch first, then look: a stop made in between is still seen by the stream.
        let stop = self.stop.subscribe();
        if *stop.borrow() {
            return Err(Refused::Stopping);
        }
        {
            let mut map = self.per_user.lock().map_err(|_| Refused::Full)?;
            let mine = map.entry(user).or_default();
            if *mine >= self.max_per_user {
                return Err(Refused::UserFull);
            }
            let taken = self
                .open
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < self.max_streams).then_some(n + 1)
                });
            if taken.is_err() {
                if *mine == 0 {
                    map.remove(&user);
                }
                return Err(Refused::Full);
            }
            *mine += 1;
        }
        Ok(Subscription {
            events: self.tx.subscribe(),
            stop,
            owner: self.clone(),
            user,
        })
    }

    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// The server is stopping: every stream ends now, so a graceful stop does not wait for
    /// browsers that would never hang up; no new one opens.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }
}

/// The writer's part, inside a batch's transaction before it commits: on PostgreSQL, notify
/// every replica of `changes` (delivered at commit, dropped with a rollback); on SQLite
/// nothing (the writer publishes after the commit, [`Events::publish`]).
pub async fn notify_in(txn: &impl ConnectionTrait, changes: &[Change]) -> Result<(), DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for payload in payloads(changes) {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(())
}

/// `changes` as JSON arrays, each under [`PAYLOAD_BYTES`].
fn payloads(changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    let mut part: Vec<&Change> = Vec::new();
    let mut bytes = 2;
    for c in changes {
        let len = serde_json::to_string(c).map_or(0, |s| s.len()) + 1;
        if !part.is_empty() && bytes + len > PAYLOAD_BYTES {
            out.extend(serde_json::to_string(&part).ok());
            part.clear();
            bytes = 2;
        }
        part.push(c);
        bytes += len;
    }
    if !part.is_empty() {
        out.extend(serde_json::to_string(&part).ok());
    }
    out
}

/// Read a notice's payload; anything else on the channel is refused (and logged).
fn changes_of(payload: &str) -> Option<Vec<Change>> {
    serde_json::from_str(payload).ok()
}

/// A listener that is dropped inside the runtime it was made on: dropping it hands its
/// connection back to the pool, which needs that runtime, and when the server's runtime
/// shuts down its tasks are dropped outside it.
struct Held {
    listener: Option<sea_orm::sqlx::postgres::PgListener>,
    runtime: tokio::runtime::Handle,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _inside = self.runtime.enter();
        drop(self.listener.take());
    }
}

/// PostgreSQL: listen on [`CHANNEL`] until the server stops, passing every notice to this
/// process's streams; after a lost connection (re-made by sqlx), tell them to resync.
pub async fn listen(db: DatabaseConnection, events: Arc<Events>) {
    use sea_orm::sqlx::postgres::PgListener;
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    let mut stop = events.stopping();
    let mut held = Held {
        listener: None,
        runtime: tokio::runtime::Handle::current(),
    };
    loop {
        let made = tokio::select! {
            made = PgListener::connect_with(&pool) => made,
            _ = stop.changed() => return,
        };
        let failed = match made {
            Ok(l) => {
                let l = held.listener.insert(l);
                tokio::select! {
                    listening = l.listen(CHANNEL) => listening.err(),
                    _ = stop.changed() => return,
                }
            }
            Err(e) => Some(e),
        };
        match failed {
            None => break,
            Some(e) => {
                held.listener = None;
                tracing::warn!(error = %e, "live updates: cannot listen yet");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
    let Some(listener) = held.listener.as_mut() else {
        return;
    };
    tracing::info!(channel = CHANNEL, "live updates: listening");
    loop {
        tokio::select! {
            got = listener.try_recv() => match got {
                Ok(Some(n)) => match changes_of(n.payload()) {
                    Some(changes) => {
                        for c in changes {
                            events.publish(Event::Change(Arc::new(c)));
                        }
                    }
                    // Anyone connected to the database may NOTIFY: log a little of it, once each.
                    None => tracing::warn!(
                        payload = %n.payload().chars().take(120).collect::<String>(),
                        "live updates: a notice not understood, ignored"
                    ),
                },
                // The connection was lost; the next call makes a new one.
                Ok(None) => {
                    tracing::warn!("live updates: the connection was lost, listening again");
                    events.publish(Event::Resync);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live updates: cannot listen");
                    events.publish(Event::Resync);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                }
            },
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(i: usize) -> Change {
        Change {
            directive: "5-ct-btttt".into(),
            unit: format!("don-vi-{i:04}"),
            ops: i as i64,
        }
    }

    #[test]
    fn payloads_stay_under_postgresqls_limit_and_keep_every_change() {
        let changes: Vec<Change> = (0..500).map(change).collect();
        let parts = payloads(&changes);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.len() < 8000));
        let back: Vec<Change> = parts
            .iter()
            .filter_map(|p| changes_of(p))
            .flatten()
            .collect();
        assert_eq!(back, changes);
        assert!(payloads(&[]).is_empty());
    }

    #[test]
    fn streams_are_capped_in_all_and_per_user_and_end_on_stop() {
        let events = Arc::new(Events::new(3, 2));
        let a = events.subscribe(1);
        let b = events.subscribe(1);
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(events.subscribe(1).err(), Some(Refused::UserFull));
        let c = events.subscribe(2);
        assert!(c.is_ok());
        assert_eq!(
            events.subscribe(3).err(),
            Some(Refused::Full),
            "the fourth in all"
        );
        drop(a);
        assert_eq!(events.open_streams(), 2);
        let mut d = events.subscribe(1);
        assert!(d.is_ok(), "a place given back is the user's again");
        events.stop();
        assert!(d.as_mut().is_ok_and(|s| *s.stop.borrow_and_update()));
        drop((b, c, d));
        assert_eq!(events.open_streams(), 0);
        assert_eq!(events.subscribe(4).err(), Some(Refused::Stopping));
        assert!(events.per_user.lock().is_ok_and(|m| m.is_empty()));
    }

    #[test]
    fn a_notice_that_is_not_ours_is_refused() {
        assert!(changes_of("not json").is_none());
        assert!(changes_of(r#"{"directive":"x"}"#).is_none());
    }
}
