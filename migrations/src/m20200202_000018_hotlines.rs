//! Hotline-free billing (issue 23, decision 46): the Ministry Office's hotline register,
//! seeded with the Ministry of Health's two hotlines of 2020 (free of charge from 1 February
//! 2020, as the carriers were asked); the projection of the call-record verifications kept
//! in the carriers' documents; and each carrier's own column mapping for its call records.
//!
//! `hotlines` is keyed by the national number (digits without `+84` / `0`), so `1900 9095`
//! and `+84 1900 9095` are one hotline; `display` is the number as the office writes it.
//! `verifications` is written by the sync writer from each `Op::Verify` as it is accepted
//! (like `reports`), `detail` holding the per-hotline checks and the first offending calls
//! as JSON.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hotlines {
    Table,
    Number,
    Display,
    Name,
    Owner,
    FreeFrom,
    FreeUntil,
    UpdatedAt,
    UpdatedBy,
}

/// The user name of the server's verifier account.
pub const VERIFIER: &str = "taskforce.verifier";

#[derive(DeriveIden)]
enum Users {
    Table,
    Username,
    DisplayName,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Verifications {
    Table,
    DirectiveId,
    UnitId,
    OpId,
    Carrier,
    FileName,
    Size,
    Sha256,
    Layout,
    Rows,
    Checked,
    Broken,
    Charged,
    FirstDay,
    LastDay,
    Detail,
    UploadedBy,
    At,
}

#[derive(DeriveIden)]
enum CdrMappings {
    Table,
    Carrier,
    Spec,
    UpdatedAt,
    UpdatedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Hotlines::Table)
                .col(
                    ColumnDef::new(Hotlines::Number)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Hotlines::Display).string().not_null())
                .col(ColumnDef::new(Hotlines::Name).string().not_null())
                .col(ColumnDef::new(Hotlines::Owner).string().not_null())
                .col(ColumnDef::new(Hotlines::FreeFrom).string().not_null())
                .col(ColumnDef::new(Hotlines::FreeUntil).string().null())
                .col(ColumnDef::new(Hotlines::UpdatedAt).big_integer().not_null())
                .col(ColumnDef::new(Hotlines::UpdatedBy).string().not_null())
                .to_owned(),
        )
        .await?;
        let mut seed = Query::insert();
        seed.into_table(Hotlines::Table).columns([
            Hotlines::Number,
            Hotlines::Display,
            Hotlines::Name,
            Hotlines::Owner,
            Hotlines::FreeFrom,
            Hotlines::UpdatedAt,
            Hotlines::UpdatedBy,
        ]);
        for (number, display) in [("19003228", "1900 3228"), ("19009095", "1900 9095")] {
            seed.values([
                number.into(),
                display.into(),
                "Đường dây nóng Bộ Y tế / Ministry of Health hotline".into(),
                "Bộ Y tế / Ministry of Health".into(),
                "2020-02-01".into(),
                // 2020-02-02, the directive's day.
                1_580_601_600i64.into(),
                "migration".into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        m.exec_stmt(seed).await?;
        // The account the server's call-record verifications are made as: disabled, without
        // a password (no sign-in), its name reserved before anyone could take it.
        let mut verifier = Query::insert();
        verifier
            .into_table(Users::Table)
            .columns([
                Users::Username,
                Users::DisplayName,
                Users::PasswordHash,
                Users::Role,
                Users::Disabled,
                Users::CreatedAt,
            ])
            .values([
                VERIFIER.into(),
                "Máy chủ đối soát cước / the server's call-record verifier".into(),
                "!".into(),
                "member".into(),
                true.into(),
                1_580_601_600i64.into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
        m.exec_stmt(verifier).await?;
        m.create_table(
            Table::create()
                .table(Verifications::Table)
                .col(
                    ColumnDef::new(Verifications::DirectiveId)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(Verifications::UnitId).string().not_null())
                .col(ColumnDef::new(Verifications::OpId).string().not_null())
                .col(ColumnDef::new(Verifications::Carrier).string().not_null())
                .col(ColumnDef::new(Verifications::FileName).string().not_null())
                .col(ColumnDef::new(Verifications::Size).big_integer().not_null())
                .col(ColumnDef::new(Verifications::Sha256).string().not_null())
                .col(ColumnDef::new(Verifications::Layout).string().not_null())
                .col(ColumnDef::new(Verifications::Rows).big_integer().not_null())
                .col(
                    ColumnDef::new(Verifications::Checked)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Verifications::Broken)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Verifications::Charged)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Verifications::FirstDay).string().null())
                .col(ColumnDef::new(Verifications::LastDay).string().null())
                .col(ColumnDef::new(Verifications::Detail).text().not_null())
                .col(
                    ColumnDef::new(Verifications::UploadedBy)
                        .string()
                        .not_null(),
                )
                .col(ColumnDef::new(Verifications::At).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(Verifications::DirectiveId)
                        .col(Verifications::UnitId)
                        .col(Verifications::OpId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CdrMappings::Table)
                .col(
                    ColumnDef::new(CdrMappings::Carrier)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(CdrMappings::Spec).string().not_null())
                .col(
                    ColumnDef::new(CdrMappings::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(CdrMappings::UpdatedBy).string().not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.exec_stmt(
            Query::delete()
                .from_table(Users::Table)
                .and_where(Expr::col(Users::Username).eq(VERIFIER))
                .to_owned(),
        )
        .await?;
        for t in [
            CdrMappings::Table.into_iden(),
            Verifications::Table.into_iden(),
            Hotlines::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
