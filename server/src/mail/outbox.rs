//! The outbox (issue 22): every mail is a row written in the transaction that decides it;
//! senders take rows with a lease (so two replicas never send one at once), and record what
//! became of each: `sent`, `pending` again with its next attempt's time, or `failed`.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use sha2::{Digest, Sha256};

use crate::{dashboard::mail::Rendered, db::entity::mail_outbox};

/// A mail decided, not yet written.
#[derive(Debug, Clone)]
pub struct NewMail {
    /// What makes the decision one: the same key twice writes one row.
    pub dedupe_key: String,
    pub kind: &'static str,
    /// The recipient as a mailbox (`Name <address>`).
    pub recipient: String,
    pub language: &'static str,
    pub rendered: Rendered,
}

/// The mail's Message-ID, from its dedupe key: the same decision always has the same id, so a
/// receiving system can tell a resend (after a crash between the SMTP server's "250" and the
/// outbox's record of it) from a new mail.
pub fn message_id(dedupe_key: &str, domain: &str) -> String {
    let h = Sha256::digest(dedupe_key.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}.taskforce@{domain}>")
}

/// Write `mails` (inside the caller's transaction); a key already written is left as it is.
/// Returns how many rows were new.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    mails: &[NewMail],
    now: i64,
    domain: &str,
) -> Result<u64, DbErr> {
    let mut new = 0;
    for m in mails {
        let row = mail_outbox::ActiveModel {
            dedupe_key: Set(m.dedupe_key.clone()),
            kind: Set(m.kind.to_string()),
            recipient: Set(m.recipient.clone()),
            language: Set(m.language.to_string()),
            subject: Set(m.rendered.subject.clone()),
            body_text: Set(m.rendered.text.clone()),
            body_html: Set(m.rendered.html.clone()),
            message_id: Set(message_id(&m.dedupe_key, domain)),
            created_at: Set(now),
            state: Set("pending".into()),
            attempts: Set(0),
            refusals: Set(0),
            next_attempt_at: Set(now),
            lease_until: Set(None),
            last_error: Set(None),
            sent_at: Set(None),
            ..Default::default()
        };
        match mail_outbox::Entity::insert(row)
            .on_conflict(
                OnConflict::column(mail_outbox::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
        {
            Ok(n) => new += n,
            Err(DbErr::RecordNotInserted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(new)
}

/// Take the oldest mail due at `now` that nobody holds, holding it until `lease_until`; `None`
/// when there is none (or another sender took it first).
pub async fn take(
    db: &impl ConnectionTrait,
    now: i64,
    lease_until: i64,
) -> Result<Option<mail_outbox::Model>, DbErr> {
    loop {
        let Some(row) = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::State.eq("pending"))
            .filter(mail_outbox::Column::NextAttemptAt.lte(now))
            .filter(
                mail_outbox::Column::LeaseUntil
                    .is_null()
                    .or(mail_outbox::Column::LeaseUntil.lt(now)),
            )
            .order_by_asc(mail_outbox::Column::NextAttemptAt)
            .order_by_asc(mail_outbox::Column::Id)
            .limit(1)
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        // Only one sender's update finds the row still free.
        let taken = mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::LeaseUntil, Expr::value(lease_until))
            .filter(mail_outbox::Column::Id.eq(row.id))
            .filter(mail_outbox::Column::State.eq("pending"))
            .filter(
                mail_outbox::Column::LeaseUntil
                    .is_null()
                    .or(mail_outbox::Column::LeaseUntil.lt(now)),
            )
            .exec(db)
            .await?;
        if taken.rows_affected == 1 {
            return Ok(Some(mail_outbox::Model {
                lease_until: Some(lease_until),
                ..row
            }));
        }
    }
}

/// `row` as its sender took it: still waiting, under the lease it set.
fn held_by(row: &mail_outbox::Model) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(mail_outbox::Column::Id.eq(row.id))
        .add(mail_outbox::Column::State.eq("pending"))
        .add(mail_outbox::Column::LeaseUntil.eq(row.lease_until))
}

/// The SMTP server took the mail. Only the sender still holding the lease it took (its
/// `lease_until` is the token) records it: a sender whose lease ran out while it waited
/// (another has taken the row since) changes nothing. Returns whether it recorded.
pub async fn delivered(
    db: &impl ConnectionTrait,
    row: &mail_outbox::Model,
    now: i64,
) -> Result<bool, DbErr> {
    let done = mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::State, Expr::value("sent"))
        .col_expr(mail_outbox::Column::SentAt, Expr::value(now))
        .col_expr(
            mail_outbox::Column::Attempts,
            Expr::col(mail_outbox::Column::Attempts).add(1),
        )
        .col_expr(mail_outbox::Column::LeaseUntil, Expr::value(None::<i64>))
        .col_expr(mail_outbox::Column::LastError, Expr::value(None::<String>))
        .filter(held_by(row))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// An attempt that did not deliver: tried again at `next` (`pending`), or given up (`failed`);
/// recorded only while this sender holds the lease (as [`delivered`]).
pub async fn not_delivered(
    db: &impl ConnectionTrait,
    row: &mail_outbox::Model,
    refused: bool,
    give_up: bool,
    next: i64,
    error: &str,
) -> Result<bool, DbErr> {
    let error: String = error.chars().take(1000).collect();
    let done = mail_outbox::Entity::update_many()
        .col_expr(
            mail_outbox::Column::State,
            Expr::value(if give_up { "failed" } else { "pending" }),
        )
        .col_expr(
            mail_outbox::Column::Attempts,
            Expr::col(mail_outbox::Column::Attempts).add(1),
        )
        .col_expr(
            mail_outbox::Column::Refusals,
            Expr::col(mail_outbox::Column::Refusals).add(i32::from(refused)),
        )
        .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(next))
        .col_expr(mail_outbox::Column::LeaseUntil, Expr::value(None::<i64>))
        .col_expr(mail_outbox::Column::LastError, Expr::value(error))
        .filter(held_by(row))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Mails given up, back to waiting (the operator fixed what refused them): their refusals
/// start again from none. Returns how many.
pub async fn retry_failed(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    Ok(mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::State, Expr::value("pending"))
        .col_expr(mail_outbox::Column::Refusals, Expr::value(0))
        .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(now))
        .col_expr(mail_outbox::Column::LeaseUntil, Expr::value(None::<i64>))
        .filter(mail_outbox::Column::State.eq("failed"))
        .exec(db)
        .await?
        .rows_affected)
}

/// Sent mails older than `before` are deleted: the outbox keeps what is still to do, and a
/// record of what was sent for a while (`keep_sent_days`). Returns how many.
pub async fn prune_sent(db: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    Ok(mail_outbox::Entity::delete_many()
        .filter(mail_outbox::Column::State.eq("sent"))
        .filter(mail_outbox::Column::SentAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

/// Which of `keys` the outbox holds already.
pub async fn known_keys(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<std::collections::BTreeSet<String>, DbErr> {
    let mut known = std::collections::BTreeSet::new();
    for chunk in keys.chunks(200) {
        let rows: Vec<String> = mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::DedupeKey)
            .filter(mail_outbox::Column::DedupeKey.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        known.extend(rows);
    }
    Ok(known)
}

/// How many mails are in each state.
pub async fn counts(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    mail_outbox::Entity::find()
        .select_only()
        .column(mail_outbox::Column::State)
        .column_as(mail_outbox::Column::Id.count(), "n")
        .group_by(mail_outbox::Column::State)
        .order_by_asc(mail_outbox::Column::State)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
}

/// The time of the next attempt due, if any mail waits.
pub async fn next_due(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    Ok(mail_outbox::Entity::find()
        .filter(mail_outbox::Column::State.eq("pending"))
        .order_by_asc(mail_outbox::Column::NextAttemptAt)
        .limit(1)
        .one(db)
        .await?
        .map(|r| Ord::max(r.next_attempt_at, r.lease_until.unwrap_or(0))))
}

/// Mails waiting (pending) and given up (failed) in the outbox, for `/metrics`.
pub async fn depth(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    let count = |state: &'static str| {
        mail_outbox::Entity::find()
            .filter(mail_outbox::Column::State.eq(state))
            .count(db)
    };
    Ok((count("pending").await?, count("failed").await?))
}
