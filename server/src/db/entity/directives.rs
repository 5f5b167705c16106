//! The `directives` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "directives")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub number: String,
    pub issuer: String,
    pub date: String,
    #[sea_orm(column_type = "Text")]
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub document: String,
    pub imported_at: i64,
    /// The text as uploaded (NULL for the bundled directive stored before drafts existed).
    #[sea_orm(column_type = "Text", nullable)]
    pub source: Option<String>,
    /// The review's corrections (overrides TOML), NULL likewise.
    #[sea_orm(column_type = "Text", nullable)]
    pub overrides: Option<String>,
    /// Revisions published since (0: as first published; decision 44).
    pub revision: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
