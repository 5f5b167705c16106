//! The `changes` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub directive_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub start_seq: i64,
    pub end_seq: i64,
    #[sea_orm(column_type = "Blob")]
    pub body: Vec<u8>,
    pub received_at: i64,
    /// Its place in the document's chain: 0, 1, 2, … in the order the server accepted it.
    pub position: i64,
    /// `taskforce_core::sync::audit::entry_hash` over the previous position's hash and this row.
    #[sea_orm(column_type = "Blob")]
    pub hash: Vec<u8>,
    /// The server's seal (`taskforce_core::sync::audit::seal`, ed25519 with the audit key)
    /// on the last row a write batch stored for the document; null on the others and on rows
    /// from before seals.
    #[sea_orm(column_type = "Blob", nullable)]
    pub seal: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
