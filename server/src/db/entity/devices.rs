//! The `devices` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub actor_id: i32,
    pub user_id: i64,
    pub name: String,
    #[sea_orm(column_type = "Blob")]
    pub public_key: Vec<u8>,
    pub created_at: i64,
    /// When the device was revoked (Unix seconds): its syncs are refused from then on; the
    /// row and its key stay, so what it wrote before stays verifiable.
    pub revoked_at: Option<i64>,
    /// Who revoked it (a user id; `None` from the command line).
    pub revoked_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
