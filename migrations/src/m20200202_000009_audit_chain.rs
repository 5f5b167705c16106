//! The op log becomes a hash chain per document (issue 19): each `changes` row gets its
//! `position` (0, 1, 2, … in the order the server accepted it) and its `hash`
//! (`taskforce_core::sync::audit::entry_hash` over the previous position's hash and the
//! row), and each document its `chain_len` and `chain_head` (the last hash; NULL while the
//! log is empty), so the writer extends the chain without reading the log.
//!
//! Rows from before are chained here, in (received_at, actor, start) order: one step, so no
//! server ever writes to a document whose old rows are not chained yet.
//!
//! A device's public key is kept as long as its changes are: triggers refuse to delete a
//! device (also through its account's cascade) or change its key while the op log holds a
//! change of it.

use sea_orm_migration::{
    prelude::*,
    sea_orm::{ConnectionTrait, QueryResult},
};
use taskforce_core::sync::audit::{GENESIS, Hash, Link, entry_hash};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    DirectiveId,
    UnitId,
    ActorId,
    StartSeq,
    EndSeq,
    Body,
    ReceivedAt,
    Position,
    Hash,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    DirectiveId,
    UnitId,
    ChainLen,
    ChainHead,
}

const POSITION_INDEX: &str = "idx_changes_position";

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER devices_kept_while_signed BEFORE DELETE ON devices \
     WHEN EXISTS (SELECT 1 FROM changes WHERE actor_id = OLD.actor_id) \
     BEGIN SELECT RAISE(ABORT, 'device_signed_changes: a device whose changes are in the op log is kept'); END",
    "CREATE TRIGGER devices_key_kept_while_signed BEFORE UPDATE OF public_key ON devices \
     WHEN NEW.public_key IS NOT OLD.public_key \
      AND EXISTS (SELECT 1 FROM changes WHERE actor_id = OLD.actor_id) \
     BEGIN SELECT RAISE(ABORT, 'device_signed_changes: the key of a device whose changes are in the op log is kept'); END",
];

const POSTGRES_TRIGGERS: &[&str] = &[
    "CREATE FUNCTION devices_kept_while_signed() RETURNS trigger AS $$ \
     BEGIN \
       IF EXISTS (SELECT 1 FROM changes WHERE actor_id = OLD.actor_id) \
          AND (TG_OP = 'DELETE' OR NEW.public_key IS DISTINCT FROM OLD.public_key) THEN \
         RAISE EXCEPTION 'device_signed_changes: a device whose changes are in the op log keeps its row and key'; \
       END IF; \
       IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; \
       RETURN NEW; \
     END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER devices_kept_while_signed BEFORE DELETE OR UPDATE OF public_key ON devices \
     FOR EACH ROW EXECUTE FUNCTION devices_kept_while_signed()",
];

fn get<T: sea_orm_migration::sea_orm::TryGetable>(
    row: &QueryResult,
    col: &str,
) -> Result<T, DbErr> {
    row.try_get::<T>("", col)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Changes::Table)
                .add_column(
                    ColumnDef::new(Changes::Position)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Changes::Table)
                .add_column(
                    ColumnDef::new(Changes::Hash)
                        .blob()
                        .not_null()
                        .default(Vec::<u8>::new()),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(
                    ColumnDef::new(Documents::ChainLen)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Documents::Table)
                .add_column(ColumnDef::new(Documents::ChainHead).blob().null())
                .to_owned(),
        )
        .await?;
        seal_legacy(m).await?;
        let triggers = match m.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => POSTGRES_TRIGGERS,
            _ => SQLITE_TRIGGERS,
        };
        for sql in triggers {
            m.get_connection().execute_unprepared(sql).await?;
        }
        m.create_index(
            Index::create()
                .name(POSITION_INDEX)
                .table(Changes::Table)
                .col(Changes::DirectiveId)
                .col(Changes::UnitId)
                .col(Changes::Position)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let drops: &[&str] = match m.get_database_backend() {
            sea_orm_migration::sea_orm::DatabaseBackend::Postgres => &[
                "DROP TRIGGER IF EXISTS devices_kept_while_signed ON devices",
                "DROP FUNCTION IF EXISTS devices_kept_while_signed()",
            ],
            _ => &[
                "DROP TRIGGER IF EXISTS devices_kept_while_signed",
                "DROP TRIGGER IF EXISTS devices_key_kept_while_signed",
            ],
        };
        for sql in drops {
            m.get_connection().execute_unprepared(sql).await?;
        }
        m.drop_index(
            Index::drop()
                .name(POSITION_INDEX)
                .table(Changes::Table)
                .to_owned(),
        )
        .await?;
        for column in [Changes::Hash, Changes::Position] {
            m.alter_table(
                Table::alter()
                    .table(Changes::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        for column in [Documents::ChainHead, Documents::ChainLen] {
            m.alter_table(
                Table::alter()
                    .table(Documents::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}

/// Chain every document's existing rows, one document at a time (one document's log in
/// memory at once).
async fn seal_legacy(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let docs = db
        .query_all(
            Query::select()
                .distinct()
                .columns([Changes::DirectiveId, Changes::UnitId])
                .from(Changes::Table)
                .order_by(Changes::DirectiveId, Order::Asc)
                .order_by(Changes::UnitId, Order::Asc),
        )
        .await?;
    for doc in docs {
        let directive: String = get(&doc, "directive_id")?;
        let unit: String = get(&doc, "unit_id")?;
        let rows = db
            .query_all(
                Query::select()
                    .columns([
                        Changes::ActorId,
                        Changes::StartSeq,
                        Changes::EndSeq,
                        Changes::Body,
                        Changes::ReceivedAt,
                    ])
                    .from(Changes::Table)
                    .and_where(Expr::col(Changes::DirectiveId).eq(directive.as_str()))
                    .and_where(Expr::col(Changes::UnitId).eq(unit.as_str()))
                    .order_by(Changes::ReceivedAt, Order::Asc)
                    .order_by(Changes::ActorId, Order::Asc)
                    .order_by(Changes::StartSeq, Order::Asc),
            )
            .await?;
        let mut prev: Hash = GENESIS;
        let mut len: i64 = 0;
        for row in rows {
            let actor: i32 = get(&row, "actor_id")?;
            let start: i64 = get(&row, "start_seq")?;
            let end: i64 = get(&row, "end_seq")?;
            let body: Vec<u8> = get(&row, "body")?;
            let received_at: i64 = get(&row, "received_at")?;
            let hash = entry_hash(
                &prev,
                &Link {
                    directive: &directive,
                    unit: &unit,
                    position: len,
                    actor: i64::from(actor),
                    start,
                    end,
                    received_at,
                    body: &body,
                },
            );
            db.execute(
                Query::update()
                    .table(Changes::Table)
                    .value(Changes::Position, len)
                    .value(Changes::Hash, hash.to_vec())
                    .and_where(Expr::col(Changes::DirectiveId).eq(directive.as_str()))
                    .and_where(Expr::col(Changes::UnitId).eq(unit.as_str()))
                    .and_where(Expr::col(Changes::ActorId).eq(actor))
                    .and_where(Expr::col(Changes::StartSeq).eq(start)),
            )
            .await?;
            prev = hash;
            len += 1;
        }
        db.execute(
            Query::update()
                .table(Documents::Table)
                .value(Documents::ChainLen, len)
                .value(Documents::ChainHead, prev.to_vec())
                .and_where(Expr::col(Documents::DirectiveId).eq(directive.as_str()))
                .and_where(Expr::col(Documents::UnitId).eq(unit.as_str())),
        )
        .await?;
    }
    Ok(())
}
