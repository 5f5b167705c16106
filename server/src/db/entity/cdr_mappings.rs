//! The `cdr_mappings` table: a carrier's own column mapping for its call records (issue 23).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cdr_mappings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub carrier: String,
    /// As `taskforce_core::cdr::Mapping::parse` reads it.
    pub spec: String,
    pub updated_at: i64,
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
