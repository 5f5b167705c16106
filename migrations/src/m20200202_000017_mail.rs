//! Mail (issue 22): the outbox every mail is written to in the transaction that decides to
//! send it, and the runs that claim a digest's period so that, with several replicas on one
//! database, each digest is decided once.
//!
//! `mail_runs` is keyed by (kind, period): the replica whose insert succeeds decides the
//! digest; its `figures` (JSON) are what the next run compares with ("clauses that moved").
//! `mail_outbox` holds each mail as decided (subject, text and HTML parts, a Message-ID of its
//! own), keyed once more by `dedupe_key` so that a decision made twice writes one row; a
//! sender takes a row by setting `lease_until` (no two replicas send it at once), and records
//! the outcome: `sent`, or back to `pending` with the next attempt's time (`attempts` counts
//! them all, `refusals` the permanent 5xx answers), or `failed` once refused too often.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MailRuns {
    Table,
    Kind,
    Period,
    DecidedAt,
    Figures,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    DedupeKey,
    Kind,
    Recipient,
    Language,
    Subject,
    BodyText,
    BodyHtml,
    MessageId,
    CreatedAt,
    State,
    Attempts,
    Refusals,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MailRuns::Table)
                .col(ColumnDef::new(MailRuns::Kind).string().not_null())
                .col(ColumnDef::new(MailRuns::Period).string().not_null())
                .col(ColumnDef::new(MailRuns::DecidedAt).big_integer().not_null())
                .col(ColumnDef::new(MailRuns::Figures).text().not_null())
                .primary_key(Index::create().col(MailRuns::Kind).col(MailRuns::Period))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MailOutbox::Table)
                .col(
                    ColumnDef::new(MailOutbox::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(MailOutbox::DedupeKey)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(MailOutbox::Kind).string().not_null())
                .col(ColumnDef::new(MailOutbox::Recipient).string().not_null())
                .col(ColumnDef::new(MailOutbox::Language).string().not_null())
                .col(ColumnDef::new(MailOutbox::Subject).text().not_null())
                .col(ColumnDef::new(MailOutbox::BodyText).text().not_null())
                .col(ColumnDef::new(MailOutbox::BodyHtml).text().not_null())
                .col(ColumnDef::new(MailOutbox::MessageId).string().not_null())
                .col(
                    ColumnDef::new(MailOutbox::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(MailOutbox::State).string().not_null())
                .col(
                    ColumnDef::new(MailOutbox::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(MailOutbox::Refusals)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(MailOutbox::NextAttemptAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(MailOutbox::LeaseUntil).big_integer().null())
                .col(ColumnDef::new(MailOutbox::LastError).text().null())
                .col(ColumnDef::new(MailOutbox::SentAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_mail_outbox_due")
                .table(MailOutbox::Table)
                .col(MailOutbox::State)
                .col(MailOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(MailRuns::Table).to_owned())
            .await
    }
}
