//! The `hotlines` table: the Ministry Office's hotline register (issue 23).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hotlines")]
pub struct Model {
    /// The national number (`19009095`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: String,
    /// As the office writes it (`1900 9095`).
    pub display: String,
    pub name: String,
    pub owner: String,
    /// `YYYY-MM-DD`.
    pub free_from: String,
    pub free_until: Option<String>,
    pub updated_at: i64,
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
