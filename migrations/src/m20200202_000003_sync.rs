//! The sync store: each unit document's merged state and version, and the op log of signed
//! changes exactly as the devices sent them (the audit trail).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    DirectiveId,
    UnitId,
    Fingerprint,
    State,
    Ops,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    DirectiveId,
    UnitId,
    ActorId,
    StartSeq,
    EndSeq,
    Body,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Documents::Table)
                .col(ColumnDef::new(Documents::DirectiveId).string().not_null())
                .col(ColumnDef::new(Documents::UnitId).string().not_null())
                .col(
                    ColumnDef::new(Documents::Fingerprint)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Documents::State).blob().not_null())
                .col(
                    ColumnDef::new(Documents::Ops)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(Documents::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Documents::DirectiveId)
                        .col(Documents::UnitId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Changes::Table)
                .col(ColumnDef::new(Changes::DirectiveId).string().not_null())
                .col(ColumnDef::new(Changes::UnitId).string().not_null())
                .col(ColumnDef::new(Changes::ActorId).integer().not_null())
                .col(ColumnDef::new(Changes::StartSeq).big_integer().not_null())
                .col(ColumnDef::new(Changes::EndSeq).big_integer().not_null())
                .col(ColumnDef::new(Changes::Body).blob().not_null())
                .col(ColumnDef::new(Changes::ReceivedAt).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Changes::DirectiveId)
                        .col(Changes::UnitId)
                        .col(Changes::ActorId)
                        .col(Changes::StartSeq),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_changes_end")
                .table(Changes::Table)
                .col(Changes::DirectiveId)
                .col(Changes::UnitId)
                .col(Changes::ActorId)
                .col(Changes::EndSeq)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Changes::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Documents::Table).to_owned())
            .await
    }
}
