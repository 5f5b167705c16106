//! A document's stored state may lag behind its op log: `state` holds the operations up to
//! `state_ops`, `head` the document's whole version vector (encoded), and the changes in
//! between are read from `changes`. The server rewrites the state only when that tail grows
//! long, instead of on every sync. Existing rows hold their whole state.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    StateOps,
    Head,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(
                    ColumnDef::new(Documents::StateOps)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(ColumnDef::new(Documents::Head).blob().null())
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared("UPDATE documents SET state_ops = ops")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Documents::Head, Documents::StateOps] {
            m.alter_table(
                Table::alter()
                    .table(Documents::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
