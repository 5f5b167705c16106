//! An index on each document's op log by the time the server received it, so that a task's
//! history (the dashboard's `/units/{id}/tasks/{task}/history`) reads a document's changes in
//! bounded, ordered pages — one index range per page — however long the log is.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    DirectiveId,
    UnitId,
    ReceivedAt,
    ActorId,
    StartSeq,
}

const INDEX: &str = "changes_doc_received";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Changes::Table)
                .col(Changes::DirectiveId)
                .col(Changes::UnitId)
                .col(Changes::ReceivedAt)
                .col(Changes::ActorId)
                .col(Changes::StartSeq)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Changes::Table).to_owned())
            .await
    }
}
