//! When each digest is due, and deciding it: the Ministry Office's daily digest, the unit
//! leads' daily reminders and the Minister's weekly summary at the configured times in the
//! configured time zone; urges at once. A digest's period (`2026-12-02`, `2026-W49`) is
//! claimed in `mail_runs` by the transaction that reads its figures and writes its mails to
//! the outbox, so with several replicas each digest is decided, and sent, once.

use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait, sea_query::OnConflict,
};
use taskforce_core::directive::Catalogue;

use super::outbox::{self, NewMail};
use crate::{
    config::mail::{MailSettings, Recipient, RecipientRole},
    dashboard::mail::{self as words, Links},
    db::entity::mail_runs,
    progress::digest::{self, RunFigures},
};

/// The digests on a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    OfficeDigest,
    UnitReminders,
    MinisterSummary,
}

impl Kind {
    pub const ALL: [Kind; 3] = [
        Kind::OfficeDigest,
        Kind::UnitReminders,
        Kind::MinisterSummary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OfficeDigest => "office_digest",
            Kind::UnitReminders => "unit_reminders",
            Kind::MinisterSummary => "minister_summary",
        }
    }

    fn wants(self, r: &Recipient) -> bool {
        matches!(
            (self, &r.role),
            (Kind::OfficeDigest, RecipientRole::MinistryOffice)
                | (Kind::MinisterSummary, RecipientRole::Minister)
                | (Kind::UnitReminders, RecipientRole::UnitLead(_))
        )
    }
}

/// The periods of digests decided by hand (`taskforce digest --now`) start with this.
pub const MANUAL: &str = "now-";

/// A digest to decide: its kind, its period's key, and the local day it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub kind: Kind,
    pub period: String,
    pub day: NaiveDate,
}

/// The digests whose time has come at `now` in this period (each once a day, or a week).
pub fn due(settings: &MailSettings, now: DateTime<Utc>) -> Vec<Due> {
    let local = now.with_timezone(&settings.time_zone).naive_local();
    let day = local.date();
    let mut out = Vec::new();
    if local.time() >= settings.office_digest_at {
        out.push(Due {
            kind: Kind::OfficeDigest,
            period: day.to_string(),
            day,
        });
    }
    if local.time() >= settings.unit_reminders_at {
        out.push(Due {
            kind: Kind::UnitReminders,
            period: day.to_string(),
            day,
        });
    }
    let monday = day - Days::days(i64::from(day.weekday().num_days_from_monday()));
    let summary_day = monday
        + Days::days(i64::from(
            settings.minister_summary_day.num_days_from_monday(),
        ));
    if local >= summary_day.and_time(settings.minister_summary_at) {
        let week = day.iso_week();
        out.push(Due {
            kind: Kind::MinisterSummary,
            period: format!("{}-W{:02}", week.year(), week.week()),
            day,
        });
    }
    out
}

fn links(settings: &MailSettings) -> Links<'_> {
    Links {
        base: &settings.dashboard_url,
        tz: settings.time_zone,
    }
}

/// The sender's domain, for Message-IDs.
pub fn domain(settings: &MailSettings) -> String {
    settings.from.email.domain().to_string()
}

/// A transaction whose reads agree with each other: IMMEDIATE on SQLite (the write lock
/// held from the start), REPEATABLE READ on PostgreSQL.
async fn begin(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    let isolation = (db.get_database_backend() == sea_orm::DatabaseBackend::Postgres)
        .then_some(sea_orm::IsolationLevel::RepeatableRead);
    db.begin_with_options(sea_orm::TransactionOptions {
        isolation_level: isolation,
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..sea_orm::TransactionOptions::default()
    })
    .await
}

/// The mails of one digest, worked out from the database as it is (inside the caller's
/// transaction when deciding), and the figures the next one compares with.
pub async fn mails_of(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    settings: &MailSettings,
    due: &Due,
    now: i64,
) -> Result<(Vec<NewMail>, RunFigures), DbErr> {
    let today = Utc::now().date_naive();
    let api = |e: crate::error::ApiError| DbErr::Custom(e.to_string());
    let recipients: Vec<&Recipient> = settings
        .recipients_of(|_| true)
        .filter(|r| due.kind.wants(r))
        .collect();
    let mut mails = Vec::new();
    let mut figures = RunFigures::default();
    match due.kind {
        Kind::OfficeDigest => {
            // The digest before: the latest one the schedule decided (a digest sent by hand,
            // `taskforce digest --now`, perhaps to someone else, is never what the next
            // compares with).
            let previous = mail_runs::Entity::find()
                .filter(mail_runs::Column::Kind.eq(due.kind.as_str()))
                .filter(mail_runs::Column::Period.ne(due.period.as_str()))
                .filter(mail_runs::Column::Period.not_like(format!("{MANUAL}%")))
                .order_by_desc(mail_runs::Column::DecidedAt)
                .one(db)
                .await?;
            let before: Option<RunFigures> =
                previous.and_then(|r| serde_json::from_str::<RunFigures>(&r.figures).ok());
            let (d, f) = digest::office_digest(
                db,
                catalogue,
                today,
                now,
                before.as_ref(),
                settings.silent_days,
            )
            .await
            .map_err(api)?;
            figures = f;
            for r in recipients {
                mails.push(NewMail {
                    dedupe_key: format!("{}:{}:{}", due.kind.as_str(), due.period, r.address.email),
                    kind: due.kind.as_str(),
                    recipient: r.address.to_string(),
                    language: r.language.code(),
                    rendered: words::office_digest(r.language, links(settings), due.day, &d),
                });
            }
        }
        Kind::MinisterSummary => {
            let p = digest::minister_summary(db, catalogue, today)
                .await
                .map_err(api)?;
            let iso = due.day.iso_week();
            let week = format!("{:02}/{}", iso.week(), iso.year());
            for r in recipients {
                mails.push(NewMail {
                    dedupe_key: format!("{}:{}:{}", due.kind.as_str(), due.period, r.address.email),
                    kind: due.kind.as_str(),
                    recipient: r.address.to_string(),
                    language: r.language.code(),
                    rendered: words::minister_summary(r.language, links(settings), &week, &p),
                });
            }
        }
        Kind::UnitReminders => {
            let mut units: Vec<String> = recipients
                .iter()
                .filter_map(|r| match &r.role {
                    RecipientRole::UnitLead(u) => Some(u.clone()),
                    _ => None,
                })
                .collect();
            units.sort_unstable();
            units.dedup();
            let reminders = digest::unit_reminders(db, catalogue, today, &units)
                .await
                .map_err(api)?;
            for rem in &reminders {
                for r in recipients
                    .iter()
                    .filter(|r| r.role == RecipientRole::UnitLead(rem.unit.id.clone()))
                {
                    mails.push(NewMail {
                        dedupe_key: format!(
                            "{}:{}:{}:{}",
                            due.kind.as_str(),
                            due.period,
                            rem.unit.id,
                            r.address.email
                        ),
                        kind: due.kind.as_str(),
                        recipient: r.address.to_string(),
                        language: r.language.code(),
                        rendered: words::unit_reminder(r.language, links(settings), due.day, rem),
                    });
                }
            }
        }
    }
    Ok((mails, figures))
}

/// What deciding a digest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// This process claimed the period and wrote this many mails.
    Mails(u64),
    /// Another process (or an earlier run) had decided it.
    AlreadyDecided,
    /// Nobody receives it.
    NoRecipients,
}

/// Decide `due`: claim its period, read its figures and write its mails in one transaction.
pub async fn decide(
    db: &DatabaseConnection,
    catalogue: &Catalogue,
    settings: &MailSettings,
    due: &Due,
) -> Result<Decided, DbErr> {
    if !settings.recipients.iter().any(|r| due.kind.wants(r)) {
        return Ok(Decided::NoRecipients);
    }
    let now = crate::clock::now();
    let txn = begin(db).await?;
    let claim = mail_runs::ActiveModel {
        kind: Set(due.kind.as_str().to_string()),
        period: Set(due.period.clone()),
        decided_at: Set(now),
        figures: Set("{}".into()),
    };
    let claimed = match mail_runs::Entity::insert(claim)
        .on_conflict(
            OnConflict::columns([mail_runs::Column::Kind, mail_runs::Column::Period])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
    {
        Ok(n) => n == 1,
        Err(DbErr::RecordNotInserted) => false,
        // PostgreSQL: another replica's claim, committed after this transaction began.
        Err(e) if crate::error::is_serialization_failure(&e) => false,
        Err(e) => return Err(e),
    };
    if !claimed {
        txn.rollback().await?;
        return Ok(Decided::AlreadyDecided);
    }
    let (mails, figures) = mails_of(&txn, catalogue, settings, due, now).await?;
    mail_runs::Entity::update_many()
        .col_expr(
            mail_runs::Column::Figures,
            sea_orm::sea_query::Expr::value(
                serde_json::to_string(&figures).map_err(|e| DbErr::Custom(e.to_string()))?,
            ),
        )
        .filter(mail_runs::Column::Kind.eq(due.kind.as_str()))
        .filter(mail_runs::Column::Period.eq(due.period.as_str()))
        .exec(&txn)
        .await?;
    let n = outbox::enqueue(&txn, &mails, now, &domain(settings)).await?;
    txn.commit().await?;
    Ok(Decided::Mails(n))
}

/// Urges are mailed from this time on (the first start with mail configured): older ones
/// were made before anyone asked for mail.
const URGES_SINCE: &str = "mail.urges_since";

async fn urges_since(db: &impl ConnectionTrait, now: i64) -> Result<i64, DbErr> {
    let stored =
        crate::db::shared_setting(db, URGES_SINCE, || now.to_string().into_bytes()).await?;
    Ok(String::from_utf8_lossy(&stored)
        .parse::<i64>()
        .unwrap_or(now))
}

fn urge_key(directive: &str, unit: &str, task: &str, at: i64, address: &str) -> String {
    format!("urge:{directive}:{unit}:{task}:{at}:{address}")
}

/// Mail every urge not mailed yet to the unit's leads. An urge is one task's last urge time,
/// and its mail's dedupe key says which: the urges of the last week (and since mail was first
/// configured) whose keys the outbox does not hold are mailed, however late they reached the
/// server (a phone offline) and whatever its clock said, once — by any replica, after any
/// restart. A round with nothing new reads two small queries and writes nothing.
pub async fn decide_urges(
    db: &DatabaseConnection,
    catalogue: &Catalogue,
    settings: &MailSettings,
) -> Result<u64, DbErr> {
    let mut units: Vec<String> = settings
        .recipients
        .iter()
        .filter_map(|r| match &r.role {
            RecipientRole::UnitLead(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    if units.is_empty() {
        return Ok(0);
    }
    units.sort_unstable();
    units.dedup();
    let now = crate::clock::now();
    // Urges of the last week at most: a server that was stopped longer does not send stale ones.
    let since = urges_since(db, now).await?.max(now - 7 * 86_400);
    let api = |e: crate::error::ApiError| DbErr::Custom(e.to_string());
    let leads_of = |unit: &str| -> Vec<&Recipient> {
        settings
            .recipients
            .iter()
            .filter(|r| r.role == RecipientRole::UnitLead(unit.to_string()))
            .collect()
    };
    let rows = digest::urged_rows(db, since - 1, &units)
        .await
        .map_err(api)?;
    let keys_of = |t: &crate::db::entity::tasks::Model| -> Vec<String> {
        leads_of(&t.unit_id)
            .into_iter()
            .map(|r| {
                urge_key(
                    &t.directive_id,
                    &t.unit_id,
                    &t.task_ref,
                    t.last_urged_at.unwrap_or(0),
                    r.address.email.as_ref(),
                )
            })
            .collect()
    };
    let keyed: Vec<_> = rows.into_iter().map(|t| (keys_of(&t), t)).collect();
    let all: Vec<String> = keyed.iter().flat_map(|(k, _)| k.iter().cloned()).collect();
    let known = outbox::known_keys(db, &all).await?;
    let new: Vec<_> = keyed
        .into_iter()
        .filter(|(keys, _)| keys.iter().any(|k| !known.contains(k)))
        .map(|(_, t)| t)
        .collect();
    if new.is_empty() {
        return Ok(0);
    }
    let urges = digest::urges_of(db, catalogue, Utc::now().date_naive(), new)
        .await
        .map_err(api)?;
    let mut mails = Vec::new();
    for u in &urges {
        for r in leads_of(&u.task.unit.id) {
            mails.push(NewMail {
                dedupe_key: urge_key(
                    &u.directive,
                    &u.task.unit.id,
                    &u.task.task,
                    u.task.last_urged_at.unwrap_or(0),
                    r.address.email.as_ref(),
                ),
                kind: "urge",
                recipient: r.address.to_string(),
                language: r.language.code(),
                rendered: words::urge(r.language, links(settings), u),
            });
        }
    }
    // The decision is the insert: a key already written (another replica, a moment ago)
    // writes nothing (a plain write transaction: REPEATABLE READ would fail instead).
    let txn = crate::db::begin_write(db).await?;
    let n = outbox::enqueue(&txn, &mails, now, &domain(settings)).await?;
    txn.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap_or_else(|| panic!("a time"))
    }

    #[test]
    fn digests_fall_due_at_their_times_in_vietnam() {
        let s = MailSettings::off("127.0.0.1:8080");
        let daily = |now| {
            due(&s, now)
                .into_iter()
                .filter(|d| d.kind != Kind::MinisterSummary)
                .map(|d| (d.kind, d.period))
                .collect::<Vec<_>>()
        };
        // 00:29 UTC = 07:29 in Hanoi: no daily digest yet on Wednesday 2 December 2026.
        assert!(daily(at(2026, 12, 2, 0, 29)).is_empty());
        assert_eq!(
            daily(at(2026, 12, 2, 0, 30)),
            [(Kind::OfficeDigest, "2026-12-02".to_string())]
        );
        // 01:00 UTC = 08:00: the reminders, and (Monday's summary was this week) the summary.
        let d = due(&s, at(2026, 12, 2, 1, 0));
        let kinds: Vec<_> = d.iter().map(|d| (d.kind, d.period.clone())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::OfficeDigest, "2026-12-02".to_string()),
                (Kind::UnitReminders, "2026-12-02".to_string()),
                (Kind::MinisterSummary, "2026-W49".to_string()),
            ]
        );
        // 17:30 UTC on 1 December is 00:30 on the 2nd in Hanoi: the new day's digests are not due.
        assert!(daily(at(2026, 12, 1, 17, 30)).is_empty());
        // Monday 30 November, 07:59 in Hanoi: the day's digest is, the week's summary is not yet.
        let monday: Vec<Kind> = due(&s, at(2026, 11, 30, 0, 59))
            .iter()
            .map(|d| d.kind)
            .collect();
        assert_eq!(monday, [Kind::OfficeDigest]);
    }

    #[test]
    fn the_weekly_summary_waits_for_its_day() {
        let mut s = MailSettings::off("127.0.0.1:8080");
        s.minister_summary_day = chrono::Weekday::Fri;
        // Wednesday: Friday's summary of this week is not due.
        assert!(
            due(&s, at(2026, 12, 2, 9, 0))
                .iter()
                .all(|d| d.kind != Kind::MinisterSummary)
        );
        // Friday 4 December, 08:00 in Hanoi.
        assert!(
            due(&s, at(2026, 12, 4, 1, 0))
                .iter()
                .any(|d| d.kind == Kind::MinisterSummary && d.period == "2026-W49")
        );
    }
}
