//! Query projections of the unit documents, rewritten on every sync: tasks, status reports
//! and hotline-free confirmations, for the dashboard, the API and exports.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    DirectiveId,
    UnitId,
    TaskRef,
    ClauseId,
    Role,
    Title,
    Status,
    Progress,
    Assignee,
    Due,
    Conflicted,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    DirectiveId,
    UnitId,
    OpId,
    ActorId,
    Period,
    Text,
    Figures,
    At,
}

#[derive(DeriveIden)]
enum Confirmations {
    Table,
    DirectiveId,
    UnitId,
    OpId,
    ActorId,
    Carrier,
    Hotline,
    FreeFrom,
    AttestedBy,
    State,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Tasks::Table)
                .col(ColumnDef::new(Tasks::DirectiveId).string().not_null())
                .col(ColumnDef::new(Tasks::UnitId).string().not_null())
                .col(ColumnDef::new(Tasks::TaskRef).string().not_null())
                .col(ColumnDef::new(Tasks::ClauseId).string().null())
                .col(ColumnDef::new(Tasks::Role).string().null())
                .col(ColumnDef::new(Tasks::Title).text().null())
                .col(ColumnDef::new(Tasks::Status).string().not_null())
                .col(ColumnDef::new(Tasks::Progress).integer().not_null())
                .col(ColumnDef::new(Tasks::Assignee).text().null())
                .col(ColumnDef::new(Tasks::Due).string().null())
                .col(ColumnDef::new(Tasks::Conflicted).boolean().not_null())
                .col(ColumnDef::new(Tasks::UpdatedAt).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Tasks::DirectiveId)
                        .col(Tasks::UnitId)
                        .col(Tasks::TaskRef),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_tasks_clause")
                .table(Tasks::Table)
                .col(Tasks::DirectiveId)
                .col(Tasks::ClauseId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Reports::Table)
                .col(ColumnDef::new(Reports::DirectiveId).string().not_null())
                .col(ColumnDef::new(Reports::UnitId).string().not_null())
                .col(ColumnDef::new(Reports::OpId).string().not_null())
                .col(ColumnDef::new(Reports::ActorId).integer().not_null())
                .col(ColumnDef::new(Reports::Period).string().not_null())
                .col(ColumnDef::new(Reports::Text).text().not_null())
                .col(ColumnDef::new(Reports::Figures).text().not_null())
                .col(ColumnDef::new(Reports::At).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Reports::DirectiveId)
                        .col(Reports::UnitId)
                        .col(Reports::OpId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Confirmations::Table)
                .col(
                    ColumnDef::new(Confirmations::DirectiveId)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(Confirmations::UnitId).string().not_null())
                .col(ColumnDef::new(Confirmations::OpId).string().not_null())
                .col(ColumnDef::new(Confirmations::ActorId).integer().not_null())
                .col(ColumnDef::new(Confirmations::Carrier).string().not_null())
                .col(ColumnDef::new(Confirmations::Hotline).string().not_null())
                .col(ColumnDef::new(Confirmations::FreeFrom).string().not_null())
                .col(
                    ColumnDef::new(Confirmations::AttestedBy)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(Confirmations::State).string().not_null())
                .col(ColumnDef::new(Confirmations::At).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Confirmations::DirectiveId)
                        .col(Confirmations::UnitId)
                        .col(Confirmations::OpId),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Confirmations::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Reports::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
