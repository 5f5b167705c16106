//! The `device_challenges` table: what a device signs to register (issue 18).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_challenges")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// 32 random bytes.
    #[sea_orm(column_type = "Blob", unique)]
    pub challenge: Vec<u8>,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// When a registration consumed it; a used challenge is kept until it expires, so that
    /// its reuse is told apart from a made-up one.
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
