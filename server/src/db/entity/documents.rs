//! The `documents` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub directive_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub unit_id: String,
    pub fingerprint: i64,
    #[sea_orm(column_type = "Blob")]
    pub state: Vec<u8>,
    pub ops: i64,
    pub updated_at: i64,
    /// The operations folded into `state`; those past it are in `changes`.
    pub state_ops: i64,
    /// The document's whole version vector (`wire::encode_version`), when `state` lags.
    #[sea_orm(column_type = "Blob", nullable)]
    pub head: Option<Vec<u8>>,
    /// The entries of the document's op-log chain.
    pub chain_len: i64,
    /// The chain's last hash; `None` while the log is empty.
    #[sea_orm(column_type = "Blob", nullable)]
    pub chain_head: Option<Vec<u8>>,
    /// The directive's revision this document was last brought to (decision 44).
    pub revision: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
