//! Account controls (issue 19): a device can be revoked (a lost phone). Its row stays, with
//! its key, for as long as its changes are kept (they stay verifiable); `revoked_at` (Unix
//! seconds) and `revoked_by` (the user who revoked it; NULL from the command line) say when
//! and by whom, and from then on its syncs are refused. Indexes for the quotas' counts:
//! a user's devices, a unit's members.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Devices {
    Table,
    UserId,
    RevokedAt,
    RevokedBy,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    UnitId,
}

const DEVICES_BY_USER: &str = "idx_devices_user";
const MEMBERS_BY_UNIT: &str = "idx_memberships_unit";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .add_column(ColumnDef::new(Devices::RevokedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .add_column(ColumnDef::new(Devices::RevokedBy).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(DEVICES_BY_USER)
                .table(Devices::Table)
                .col(Devices::UserId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(MEMBERS_BY_UNIT)
                .table(Memberships::Table)
                .col(Memberships::UnitId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(MEMBERS_BY_UNIT)
                .table(Memberships::Table)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name(DEVICES_BY_USER)
                .table(Devices::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .drop_column(Devices::RevokedBy)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Devices::Table)
                .drop_column(Devices::RevokedAt)
                .to_owned(),
        )
        .await
    }
}
