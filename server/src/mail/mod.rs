//! Mail (issue 22): digests, reminders and urges decided on a schedule and delivered through
//! an outbox that loses nothing.
//!
//! - `schedule`: when each digest is due (the configured times, in the configured time zone),
//!   and deciding it — the period claimed in `mail_runs`, the figures read and the mails
//!   written to the outbox in one transaction; urges as soon as they are made.
//! - `outbox`: the rows, taken under a lease, and their outcomes.
//! - `sender`: lettre over SMTP, with back-off; refusals counted and given up on.
//!
//! [`spawn`] runs both in `taskforce serve`, on a thread and runtime of their own (rendering a
//! digest or waiting for an SMTP server never takes the sync writer's time) with a database
//! pool of their own: a round decides what is due, then delivers what waits, then sleeps
//! until the next attempt is due (`round_seconds` at most), or until an urge wakes it.

pub mod outbox;
pub mod schedule;
pub mod sender;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use sea_orm::DatabaseConnection;

use crate::state::AppState;

/// What a process's mail loop remembers between rounds.
#[derive(Debug, Default)]
struct Rounds {
    /// The periods this process saw decided (so it does not ask the database each round).
    decided: HashSet<(schedule::Kind, String)>,
    /// The SMTP server was down (or busy) this many rounds running: nothing is sent before
    /// `deliver_after`, doubling the wait as for one mail.
    down: i32,
    deliver_after: Option<Instant>,
    /// When sent mails were last pruned.
    pruned: Option<Instant>,
}

/// One round: decide what is due (each digest once per period), mail new urges, deliver what
/// waits. Returns how long to wait.
async fn round(
    state: &AppState,
    db: &DatabaseConnection,
    sender: &sender::Sender,
    r: &mut Rounds,
) -> Duration {
    let settings = &state.mail;
    let most = settings.round;
    for due in schedule::due(settings, chrono::Utc::now()) {
        if r.decided.contains(&(due.kind, due.period.clone())) {
            continue;
        }
        match schedule::decide(db, &state.catalogue, settings, &due).await {
            Ok(outcome) => {
                if let schedule::Decided::Mails(n) = outcome {
                    state.metrics.mail_decided.inc_by(n);
                }
                tracing::info!(kind = due.kind.as_str(), period = %due.period, ?outcome, "digest decided");
                r.decided.insert((due.kind, due.period));
            }
            Err(e) => {
                tracing::warn!(kind = due.kind.as_str(), period = %due.period, error = %e, "deciding a digest failed; tried again next round");
            }
        }
    }
    // Days pass: forget the periods of days before.
    if r.decided.len() > 64 {
        r.decided.clear();
    }
    match schedule::decide_urges(db, &state.catalogue, settings).await {
        Ok(0) => {}
        Ok(n) => {
            state.metrics.mail_decided.inc_by(n);
            tracing::info!(mails = n, "urges mailed");
        }
        Err(e) => tracing::warn!(error = %e, "mailing urges failed; tried again next round"),
    }
    if r.pruned
        .is_none_or(|t| t.elapsed() > Duration::from_secs(3600))
    {
        let before = crate::clock::now() - settings.keep_sent_days * 86_400;
        match outbox::prune_sent(db, before).await {
            Ok(n) => {
                r.pruned = Some(Instant::now());
                if n > 0 {
                    tracing::info!(mails = n, "sent mails older than keep_sent_days deleted");
                }
            }
            Err(e) => tracing::warn!(error = %e, "pruning the outbox failed"),
        }
    }
    if r.deliver_after.is_none_or(|t| Instant::now() >= t) {
        match sender::deliver_due(db, sender, settings).await {
            Ok(done) => {
                state.metrics.mail_sent.inc_by(u64::from(done.sent));
                state.metrics.mail_deferred.inc_by(u64::from(done.later));
                state.metrics.mail_failed.inc_by(u64::from(done.failed));
                if done.down {
                    // Down or busy: the whole server waits, not only that mail, so a queue
                    // of N mails is not N connections a second.
                    r.down = r.down.saturating_add(1);
                    r.deliver_after = Some(Instant::now() + sender::back_off(settings, r.down));
                } else if done.sent + done.later + done.failed > 0 {
                    // The server answered: it is up again.
                    r.down = 0;
                    r.deliver_after = None;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the outbox could not be read or written; tried again next round");
            }
        }
    }
    state.metrics.mail_rounds.inc_by(1);
    match outbox::depth(db).await {
        Ok((waiting, failed)) => state.metrics.set_outbox(waiting, failed),
        Err(e) => tracing::warn!(error = %e, "counting the outbox"),
    }
    let until_delivery = r
        .deliver_after
        .map(|t| t.saturating_duration_since(Instant::now()));
    let until_due = match outbox::next_due(db).await {
        Ok(Some(at)) => {
            Duration::from_secs(u64::try_from(at - crate::clock::now()).unwrap_or(0).max(1))
        }
        _ => most,
    };
    until_due
        .max(until_delivery.unwrap_or_default())
        .clamp(Duration::from_secs(1), most)
}

/// Start the scheduler and sender on a thread of their own, when an SMTP server is configured;
/// the thread, for the caller to wait for when the server has stopped (`AppState::mail_thread`).
pub fn spawn(state: AppState) -> anyhow::Result<()> {
    let Some(sender) = sender::Sender::new(&state.mail)? else {
        tracing::info!("no SMTP server configured (mail.smtp_host): no mail is sent");
        return Ok(());
    };
    if state.mail.recipients.is_empty() {
        tracing::warn!("an SMTP server is configured but no recipient (mail.recipients)");
    }
    tracing::info!(
        recipients = state.mail.recipients.len(),
        time_zone = %state.mail.time_zone,
        "mail: digests and reminders on schedule"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The loop ends with the server: this task lives as long as the server's runtime, and
    // when that runtime goes, it drops `alive`, which the loop hears.
    let (alive, stopped) = tokio::sync::oneshot::channel::<()>();
    actix_web::rt::spawn(async move {
        let _alive = alive;
        std::future::pending::<()>().await;
    });
    let slot = state.mail_thread.clone();
    let thread = std::thread::Builder::new()
        .name("taskforce-mail".into())
        .spawn(move || runtime.block_on(run(state, sender, stopped)))?;
    if let Ok(mut slot) = slot.lock() {
        *slot = Some(thread);
    }
    Ok(())
}

/// After the server stopped: wait (at most `within`) for the mail loop to finish its round, so
/// a mail the SMTP server took is recorded before the process exits.
pub fn wait_stopped(state: &AppState, within: Duration) {
    state
        .mail_stopping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    state.mail_wake.notify_one();
    let Some(thread) = state.mail_thread.lock().ok().and_then(|mut t| t.take()) else {
        return;
    };
    let deadline = Instant::now() + within;
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if thread.is_finished() {
        let _ = thread.join();
    } else {
        tracing::warn!("mail: the round under way did not end in time; its mail may be sent again");
    }
}

async fn run(
    state: AppState,
    sender: sender::Sender,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    // A pool of its own, on this runtime.
    let db = loop {
        match crate::db::connect(&state.config.db).await {
            Ok(db) => break db,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "mail: the database cannot be opened; trying again");
                tokio::select! {
                    () = tokio::time::sleep(state.mail.round) => {}
                    _ = &mut stopped => return,
                }
            }
        }
    };
    let mut rounds = Rounds::default();
    loop {
        // A round is never cut short (a delivery is recorded before the loop can end), and
        // one that panics is logged and counted, and the next goes on.
        let task = {
            let (state, db, sender) = (state.clone(), db.clone(), sender.clone());
            let mut r = std::mem::take(&mut rounds);
            tokio::spawn(async move {
                let wait = round(&state, &db, &sender, &mut r).await;
                (wait, r)
            })
        };
        let wait = match task.await {
            Ok((wait, r)) => {
                rounds = r;
                wait
            }
            Err(e) => {
                state.metrics.mail_round_failures.inc_by(1);
                tracing::error!(error = %e, "mail: a round failed; the next one goes on");
                state.mail.round
            }
        };
        let closed = matches!(
            stopped.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        );
        if closed
            || state
                .mail_stopping
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.mail_wake.notified() => {}
            _ = &mut stopped => break,
        }
        if state
            .mail_stopping
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            break;
        }
    }
    let _ = db.close().await;
    tracing::info!("mail: stopped with the server");
}
