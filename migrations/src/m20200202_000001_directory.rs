//! Units, directives, their clauses and the assignments of clauses to units.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Units {
    Table,
    Id,
    Name,
    En,
    Kind,
    Groups,
    Aliases,
}

#[derive(DeriveIden)]
enum Directives {
    Table,
    Id,
    Number,
    Issuer,
    Date,
    Title,
    Document,
    ImportedAt,
}

#[derive(DeriveIden)]
enum Clauses {
    Table,
    DirectiveId,
    Id,
    ParentId,
    Kind,
    Heading,
    Text,
    Position,
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    DirectiveId,
    ClauseId,
    UnitId,
    Role,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Units::Table)
                .col(ColumnDef::new(Units::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Units::Name).string().not_null())
                .col(ColumnDef::new(Units::En).string().not_null())
                .col(ColumnDef::new(Units::Kind).string().not_null())
                .col(ColumnDef::new(Units::Groups).text().not_null())
                .col(ColumnDef::new(Units::Aliases).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Directives::Table)
                .col(
                    ColumnDef::new(Directives::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Directives::Number).string().not_null())
                .col(ColumnDef::new(Directives::Issuer).string().not_null())
                .col(ColumnDef::new(Directives::Date).string().not_null())
                .col(ColumnDef::new(Directives::Title).text().not_null())
                .col(ColumnDef::new(Directives::Document).text().not_null())
                .col(
                    ColumnDef::new(Directives::ImportedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Clauses::Table)
                .col(ColumnDef::new(Clauses::DirectiveId).string().not_null())
                .col(ColumnDef::new(Clauses::Id).string().not_null())
                .col(ColumnDef::new(Clauses::ParentId).string().null())
                .col(ColumnDef::new(Clauses::Kind).string().not_null())
                .col(ColumnDef::new(Clauses::Heading).text().null())
                .col(ColumnDef::new(Clauses::Text).text().not_null())
                .col(ColumnDef::new(Clauses::Position).integer().not_null())
                .primary_key(Index::create().col(Clauses::DirectiveId).col(Clauses::Id))
                .foreign_key(
                    ForeignKey::create()
                        .from(Clauses::Table, Clauses::DirectiveId)
                        .to(Directives::Table, Directives::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Assignments::Table)
                .col(ColumnDef::new(Assignments::DirectiveId).string().not_null())
                .col(ColumnDef::new(Assignments::ClauseId).string().not_null())
                .col(ColumnDef::new(Assignments::UnitId).string().not_null())
                .col(ColumnDef::new(Assignments::Role).string().not_null())
                .primary_key(
                    Index::create()
                        .col(Assignments::DirectiveId)
                        .col(Assignments::ClauseId)
                        .col(Assignments::UnitId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Assignments::Table, Assignments::DirectiveId)
                        .to(Directives::Table, Directives::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_assignments_unit")
                .table(Assignments::Table)
                .col(Assignments::UnitId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Assignments::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Clauses::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Directives::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Units::Table).to_owned())
            .await
    }
}
