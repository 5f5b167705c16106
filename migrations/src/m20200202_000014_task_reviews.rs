//! The Ministry Office's marks on the task projection (issue 20, decision 39): each task
//! row keeps its review state (`review`, a `ReviewState` code, `open` until the unit reports),
//! how many times the Office urged the unit on it (`urges`) and when it last did
//! (`last_urged_at`, Unix seconds; NULL when never urged).
//!
//! No review exists before this step, so a row's state follows from its status alone: a task
//! reported done (its projected status is done exactly when every value of its status says
//! done) is `reported`, every other `open` — the rows read as mobile-core's rules say.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Status,
    Review,
    Urges,
    LastUrgedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Tasks::Table)
                .add_column(
                    ColumnDef::new(Tasks::Review)
                        .string()
                        .not_null()
                        .default("open"),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Tasks::Table)
                .add_column(ColumnDef::new(Tasks::Urges).integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Tasks::Table)
                .add_column(ColumnDef::new(Tasks::LastUrgedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::update()
                .table(Tasks::Table)
                .value(Tasks::Review, "reported")
                .and_where(Expr::col(Tasks::Status).eq("done"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tasks::LastUrgedAt, Tasks::Urges, Tasks::Review] {
            m.alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
