//! The server's seals on the op log (issue 19, decision 32): a nullable `changes.seal`, the
//! server audit key's ed25519 signature (`taskforce_core::sync::audit::seal`) over the
//! document, the position and the hash of the last row each write batch stores for a
//! document. Rows from before stay unsealed: the migration has no key (it is kept outside
//! the database), and the first seal written after covers them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    Seal,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Changes::Table)
                .add_column(ColumnDef::new(Changes::Seal).blob().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Changes::Table)
                .drop_column(Changes::Seal)
                .to_owned(),
        )
        .await
    }
}
