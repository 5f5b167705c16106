//! Device registration challenges (issue 18): 32 random bytes the server issues to a user, which
//! the device signs with the key it registers. Kept in the database so that any server replica
//! can check a challenge another issued; single use (`used_at` set by one conditional update),
//! short-lived (`expires_at`), a few per user, purged once expired.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceChallenges {
    Table,
    Id,
    Challenge,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

const BY_USER: &str = "device_challenges_user";
const BY_EXPIRY: &str = "device_challenges_expires_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DeviceChallenges::Table)
                .col(
                    ColumnDef::new(DeviceChallenges::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(DeviceChallenges::Challenge)
                        .blob()
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(DeviceChallenges::UserId)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DeviceChallenges::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DeviceChallenges::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DeviceChallenges::UsedAt)
                        .big_integer()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(DeviceChallenges::Table, DeviceChallenges::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(BY_USER)
                .table(DeviceChallenges::Table)
                .col(DeviceChallenges::UserId)
                .col(DeviceChallenges::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(BY_EXPIRY)
                .table(DeviceChallenges::Table)
                .col(DeviceChallenges::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DeviceChallenges::Table).to_owned())
            .await
    }
}
