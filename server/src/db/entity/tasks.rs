//! The `tasks` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub directive_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_ref: String,
    pub clause_id: Option<String>,
    pub role: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub title: Option<String>,
    pub status: String,
    pub progress: i32,
    #[sea_orm(column_type = "Text")]
    pub assignee: Option<String>,
    pub due: Option<String>,
    pub conflicted: bool,
    pub updated_at: i64,
    /// The Ministry Office's review state (`ReviewState::as_str`).
    pub review: String,
    /// How many times the Ministry Office urged the unit on the task.
    pub urges: i32,
    /// When it last did (Unix seconds).
    pub last_urged_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
