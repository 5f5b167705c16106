//! The yardstick: the physical limit of the server's database, as plain batched inserts of
//! op-sized rows, 50 per transaction, through the server's own connection (`db::connect`: the
//! same driver, the same settings, e.g. SQLite's WAL and `synchronous=FULL`).

use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait, Value};

/// Plain batched inserts of `rows` rows of `size` bytes into the database at `url`, 50 per
/// transaction, through the server's own connection settings; rows per second.
pub fn yardstick(url: &str, rows: u64, size: usize) -> anyhow::Result<f64> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(inserts(url, rows, size))
}

async fn inserts(url: &str, rows: u64, size: usize) -> anyhow::Result<f64> {
    let db = taskforce_server::db::connect(url).await?;
    let backend = db.get_database_backend();
    let blob = if backend == DatabaseBackend::Postgres {
        "BYTEA"
    } else {
        "BLOB"
    };
    db.execute_unprepared("DROP TABLE IF EXISTS loadgen_yardstick")
        .await?;
    db.execute_unprepared(&format!(
        "CREATE TABLE loadgen_yardstick (doc TEXT NOT NULL, actor INTEGER NOT NULL, \
         seq BIGINT NOT NULL, body {blob} NOT NULL, PRIMARY KEY (doc, actor, seq))"
    ))
    .await?;
    let placeholders: Vec<String> = (0..50)
        .map(|i| match backend {
            DatabaseBackend::Postgres => format!(
                "(${}, ${}, ${}, ${})",
                4 * i + 1,
                4 * i + 2,
                4 * i + 3,
                4 * i + 4
            ),
            _ => "(?, ?, ?, ?)".to_string(),
        })
        .collect();
    let body = vec![0x5au8; size.max(1)];
    let t = Instant::now();
    let mut seq: i64 = 0;
    let mut left = rows;
    while left > 0 {
        let n = left.min(50) as usize;
        let mut values: Vec<Value> = Vec::with_capacity(4 * n);
        for _ in 0..n {
            seq += 1;
            values.push("unit".into());
            values.push(i32::try_from(seq % 1000).unwrap_or(0).into());
            values.push(seq.into());
            values.push(body.clone().into());
        }
        let sql = format!(
            "INSERT INTO loadgen_yardstick (doc, actor, seq, body) VALUES {}",
            placeholders[..n].join(", ")
        );
        let txn = db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        txn.commit().await?;
        left -= n as u64;
    }
    let rate = rows as f64 / t.elapsed().as_secs_f64().max(1e-9);
    db.execute_unprepared("DROP TABLE loadgen_yardstick")
        .await?;
    Ok(rate)
}
