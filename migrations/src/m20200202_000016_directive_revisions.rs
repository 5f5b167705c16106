//! Revisions of a published directive (issue 21, decision 44). A corrected text of a directive
//! already published is published as a revision: the directive's row takes the new text,
//! clauses and assignments, and every unit's document is brought to it by the Ministry
//! Office's signed operations (the document's header never changes). `directives.revision`
//! counts the revisions published (0: as first published); `documents.revision` is the
//! revision a document was last brought to, so the documents still to bring (a write refused,
//! a server stopped half-way) are found without reading any of them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Directives {
    Table,
    Revision,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Revision,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Directives::Table)
                .add_column(
                    ColumnDef::new(Directives::Revision)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(
                    ColumnDef::new(Documents::Revision)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .drop_column(Documents::Revision)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Directives::Table)
                .drop_column(Directives::Revision)
                .to_owned(),
        )
        .await
    }
}
