//! An index on each unit's reports by time, so that a unit's latest report is one index seek
//! however many it has made (the Ministry Office's reads ask for it per unit: decision 29).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reports {
    Table,
    DirectiveId,
    UnitId,
    At,
}

const INDEX: &str = "reports_unit_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Reports::Table)
                .col(Reports::DirectiveId)
                .col(Reports::UnitId)
                .col(Reports::At)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Reports::Table).to_owned())
            .await
    }
}
