//! Multi-row inserts in a few statement shapes.

/// Rows per multi-row statement at most: well under SQLite's limit of bound parameters.
pub const ROWS_PER_STATEMENT: usize = 128;

/// How many rows each statement inserting `n` rows takes: as many [`ROWS_PER_STATEMENT`] as
/// fit, then the rest by its binary digits (100 = 64 + 32 + 4). Statements then come in 8
/// shapes per table, which every connection keeps prepared, instead of one shape per row
/// count: those each cost a prepare, and the statement caches of the pool's connections
/// filled with hundreds of them, growing the server's memory for minutes (decision 26).
pub fn statement_sizes(n: usize) -> impl Iterator<Item = usize> {
    let full = n / ROWS_PER_STATEMENT;
    let rest = n % ROWS_PER_STATEMENT;
    std::iter::repeat_n(ROWS_PER_STATEMENT, full).chain(
        (0..ROWS_PER_STATEMENT.trailing_zeros())
            .rev()
            .map(|bit| 1 << bit)
            .filter(move |size| rest & size != 0),
    )
}

/// Insert `rows` in multi-row statements of [`statement_sizes`], each with `on_conflict`
/// when there is one.
pub async fn insert_chunked<A>(
    db: &impl sea_orm::ConnectionTrait,
    rows: &[A],
    on_conflict: Option<&sea_orm::sea_query::OnConflict>,
) -> Result<(), sea_orm::DbErr>
where
    A: sea_orm::ActiveModelTrait + Clone + Send,
{
    use sea_orm::EntityTrait;
    let mut rest = rows;
    for size in statement_sizes(rows.len()) {
        let Some((chunk, after)) = rest.split_at_checked(size) else {
            break;
        };
        rest = after;
        let mut insert = A::Entity::insert_many(chunk.to_vec());
        if let Some(on_conflict) = on_conflict {
            insert = insert.on_conflict(on_conflict.clone());
        }
        insert.exec_without_returning(db).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_come_in_few_shapes_and_take_every_row() {
        let mut shapes = std::collections::BTreeSet::new();
        for n in 0..1_000 {
            let sizes: Vec<usize> = statement_sizes(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{n}: {sizes:?}");
            shapes.extend(sizes);
        }
        assert_eq!(
            shapes.into_iter().collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 64, 128]
        );
        assert_eq!(statement_sizes(100).collect::<Vec<_>>(), [64, 32, 4]);
        assert_eq!(
            statement_sizes(300).collect::<Vec<_>>(),
            [128, 128, 32, 8, 4]
        );
    }
}
