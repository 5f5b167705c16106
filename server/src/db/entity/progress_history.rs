//! The `progress_history` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "progress_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub directive_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: String,
    pub assigned: i32,
    pub done: i32,
    pub in_progress: i32,
    pub blocked: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
