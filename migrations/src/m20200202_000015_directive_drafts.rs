//! Directives brought in after the first start (issue 21, decision 41): an imported text is a
//! **draft** (`directive_drafts`, one per directive id) until the Ministry Office has reviewed
//! it and publishes it. A draft keeps the text as it was uploaded (`source`), the review's
//! corrections as overrides TOML (`overrides`, the format of `mobile-core/data/overrides/`)
//! and the directive as imported under them (`document`, mobile-core's model as JSON).
//!
//! A published directive keeps its text and overrides too (`directives.source`,
//! `directives.overrides`; NULL for the bundled 05/CT-BTTTT stored before this step, whose text
//! and overrides ship with taskforce), so a corrected text can be imported again under the
//! same review.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DirectiveDrafts {
    Table,
    Id,
    Number,
    Issuer,
    Date,
    Title,
    Source,
    Overrides,
    Document,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Directives {
    Table,
    Source,
    Overrides,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DirectiveDrafts::Table)
                .col(
                    ColumnDef::new(DirectiveDrafts::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(DirectiveDrafts::Number).string().not_null())
                .col(ColumnDef::new(DirectiveDrafts::Issuer).string().not_null())
                .col(ColumnDef::new(DirectiveDrafts::Date).string().not_null())
                .col(ColumnDef::new(DirectiveDrafts::Title).text().not_null())
                .col(ColumnDef::new(DirectiveDrafts::Source).text().not_null())
                .col(ColumnDef::new(DirectiveDrafts::Overrides).text().not_null())
                .col(ColumnDef::new(DirectiveDrafts::Document).text().not_null())
                .col(
                    ColumnDef::new(DirectiveDrafts::CreatedBy)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(DirectiveDrafts::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DirectiveDrafts::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        // SQLite takes one column per ALTER TABLE.
        for column in [Directives::Source, Directives::Overrides] {
            m.alter_table(
                Table::alter()
                    .table(Directives::Table)
                    .add_column(ColumnDef::new(column).text().null())
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Directives::Overrides, Directives::Source] {
            m.alter_table(
                Table::alter()
                    .table(Directives::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.drop_table(Table::drop().table(DirectiveDrafts::Table).to_owned())
            .await
    }
}
