//! Apps' settings and secrets.

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// One setting.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Whether it is a secret (never returned by the API).
    pub secret: bool,
}

/// Sets `key` of `app`.
pub async fn set(db: &Db, app: &str, key: &str, value: &str, secret: bool) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO app_config (app_id, key, value, secret, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value, secret = excluded.secret, updated_at = excluded.updated_at",
    )
    .bind(app)
    .bind(key)
    .bind(value)
    .bind(i64::from(secret))
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Removes `key` of `app`; whether it existed.
pub async fn delete(db: &Db, app: &str, key: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM app_config WHERE app_id = $1 AND key = $2")
        .bind(app)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The value of `key` of `app`.
pub async fn get(db: &Db, app: &str, key: &str) -> StoreResult<Option<String>> {
    let row = sqlx::query("SELECT value FROM app_config WHERE app_id = $1 AND key = $2")
        .bind(app)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}

/// Every setting of `app`, by key.
pub async fn all(db: &Db, app: &str) -> StoreResult<Vec<ConfigEntry>> {
    let rows = sqlx::query("SELECT key, value, secret FROM app_config WHERE app_id = $1 ORDER BY key")
        .bind(app)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ConfigEntry {
                key: r.try_get("key")?,
                value: r.try_get("value")?,
                secret: r.try_get::<i64, _>("secret")? != 0,
            })
        })
        .collect()
}
