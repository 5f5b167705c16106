//! The `verifications` table: the call-record verifications kept in the carriers' documents
//! (issue 23), projected as the writer accepts them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "verifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub directive_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub op_id: String,
    pub carrier: String,
    pub file_name: String,
    pub size: i64,
    /// Lower-case hex.
    pub sha256: String,
    pub layout: String,
    pub rows: i64,
    pub checked: i64,
    pub broken: i64,
    pub charged: i64,
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// The per-hotline checks and the first offending calls (JSON).
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub uploaded_by: String,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
