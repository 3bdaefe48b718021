//! Apps' key-value data. A bucket is a string chosen by the storage
//! capability (`app`, or `user:<account>`); keys are opaque and only ever
//! bound as parameters.

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// The value under (`app`, `bucket`, `key`).
pub async fn get(db: &Db, app: &str, bucket: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
    let row = sqlx::query("SELECT value FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key = $3")
        .bind(app)
        .bind(bucket)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}

/// Stores `value` under (`app`, `bucket`, `key`).
pub async fn set(db: &Db, app: &str, bucket: &str, key: &str, value: &[u8]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO app_kv (app_id, bucket, key, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (app_id, bucket, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(app)
    .bind(bucket)
    .bind(key)
    .bind(value)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Removes (`app`, `bucket`, `key`).
pub async fn delete(db: &Db, app: &str, bucket: &str, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key = $3")
        .bind(app)
        .bind(bucket)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Up to `limit` keys of (`app`, `bucket`) after `cursor`, ascending.
pub async fn list_keys(db: &Db, app: &str, bucket: &str, cursor: Option<&str>, limit: u32) -> StoreResult<Vec<String>> {
    let rows =
        sqlx::query("SELECT key FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key > $3 ORDER BY key ASC LIMIT $4")
            .bind(app)
            .bind(bucket)
            .bind(cursor.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(|r| Ok(r.try_get("key")?)).collect()
}

/// (number of keys, total key and value bytes) of `app` across all buckets.
pub async fn usage(db: &Db, app: &str) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0) AS bytes FROM app_kv WHERE app_id = $1",
    )
    .bind(app)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("n")?, row.try_get("bytes")?))
}
