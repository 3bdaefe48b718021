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

/// Stores `value` under (`app`, `bucket`, `key`) if the app stays within
/// `max_keys` keys and `max_bytes` bytes of keys and values afterwards;
/// `false` (and nothing written) otherwise. One statement: the check and
/// the write are atomic, and cost one round trip.
pub async fn set_within_quota(
    db: &Db,
    app: &str,
    bucket: &str,
    key: &str,
    value: &[u8],
    max_keys: u64,
    max_bytes: u64,
) -> StoreResult<bool> {
    let max_keys = i64::try_from(max_keys).unwrap_or(i64::MAX);
    let max_bytes = i64::try_from(max_bytes).unwrap_or(i64::MAX);
    let written = sqlx::query(
        "INSERT INTO app_kv (app_id, bucket, key, value, updated_at) \
         SELECT $1, $2, $3, $4, $5 \
         WHERE COALESCE((SELECT keys FROM app_kv_usage WHERE app_id = $1), 0) \
               + (CASE WHEN EXISTS (SELECT 1 FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key = $3) \
                       THEN 0 ELSE 1 END) <= $6 \
           AND COALESCE((SELECT bytes FROM app_kv_usage WHERE app_id = $1), 0) \
               + OCTET_LENGTH($3) + OCTET_LENGTH($4) \
               - COALESCE((SELECT OCTET_LENGTH(key) + OCTET_LENGTH(value) FROM app_kv \
                           WHERE app_id = $1 AND bucket = $2 AND key = $3), 0) <= $7 \
         ON CONFLICT (app_id, bucket, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(app)
    .bind(bucket)
    .bind(key)
    .bind(value)
    .bind(now_ms())
    .bind(max_keys)
    .bind(max_bytes)
    .execute(db.pool())
    .await?;
    Ok(written.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (number of keys, total key and value bytes) of `app` across all buckets.
    async fn usage(db: &Db, app: &str) -> StoreResult<(i64, i64)> {
        let row = sqlx::query("SELECT keys, bytes FROM app_kv_usage WHERE app_id = $1")
            .bind(app)
            .fetch_optional(db.pool())
            .await?;
        match row {
            Some(r) => Ok((r.try_get("keys")?, r.try_get("bytes")?)),
            None => Ok((0, 0)),
        }
    }

    #[tokio::test]
    async fn usage_follows_writes_overwrites_and_deletes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        assert_eq!(usage(&db, "a").await.expect("usage"), (0, 0));
        set(&db, "a", "app", "k1", b"12345").await.expect("set");
        set(&db, "a", "app", "k2", b"1").await.expect("set");
        set(&db, "a", "user:x", "ключ", b"1").await.expect("set");
        set(&db, "a", "app", "k1", b"12").await.expect("overwrite");
        set(&db, "b", "app", "k1", b"123").await.expect("other app");
        // k1 (2 + 2) + k2 (2 + 1) + "ключ" (8 bytes of UTF-8 + 1)
        assert_eq!(usage(&db, "a").await.expect("usage"), (3, 16));
        delete(&db, "a", "app", "k2").await.expect("delete");
        assert_eq!(usage(&db, "a").await.expect("usage"), (2, 13));
        // Quotas: a new key over the key limit, or bytes over the byte
        // limit, write nothing; overwriting within the limits works.
        assert!(!set_within_quota(&db, "a", "app", "k3", b"1", 2, 100).await.expect("q"));
        assert!(
            set_within_quota(&db, "a", "app", "k1", b"1234", 2, 100)
                .await
                .expect("q")
        );
        assert!(
            !set_within_quota(&db, "a", "app", "k1", b"123456", 10, 16)
                .await
                .expect("q")
        );
        assert!(
            set_within_quota(&db, "a", "app", "k1", b"12345", 10, 16)
                .await
                .expect("q")
        );
        assert_eq!(usage(&db, "a").await.expect("usage"), (2, 16));
        assert_eq!(
            get(&db, "a", "app", "k1").await.expect("get").as_deref(),
            Some(&b"12345"[..])
        );
        assert_eq!(usage(&db, "b").await.expect("usage"), (1, 5));
    }
}
