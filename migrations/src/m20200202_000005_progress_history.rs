//! A daily record of the directive's task counts, for the progress-over-time chart: updated
//! after every sync that changes a task.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProgressHistory {
    Table,
    DirectiveId,
    Day,
    Assigned,
    Done,
    InProgress,
    Blocked,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ProgressHistory::Table)
                .col(
                    ColumnDef::new(ProgressHistory::DirectiveId)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(ProgressHistory::Day).string().not_null())
                .col(
                    ColumnDef::new(ProgressHistory::Assigned)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ProgressHistory::Done).integer().not_null())
                .col(
                    ColumnDef::new(ProgressHistory::InProgress)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ProgressHistory::Blocked)
                        .integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(ProgressHistory::DirectiveId)
                        .col(ProgressHistory::Day),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ProgressHistory::Table).to_owned())
            .await
    }
}
