//! Apps' settings and secrets. Secret values are stored sealed under the
//! master key (see [`crate::crypto`]); plain settings are stored as given.

use zeroize::Zeroizing;

use super::{Db, StoreError, StoreResult, WriteTx, now_ms};
use crate::crypto;

fn context<'a>(app: &'a str, key: &'a str) -> [&'a str; 3] {
    ["app_config", app, key]
}

/// The stored form of a value: sealed when `secret`.
async fn stored(db: &Db, app: &str, key: &str, value: &str, secret: bool) -> StoreResult<String> {
    if secret {
        crypto::seal(db, &context(app, key), value.as_bytes()).await
    } else {
        Ok(value.to_string())
    }
}

/// The value as given, from its stored form.
fn given(app: &str, key: &str, stored: String, secret: bool) -> StoreResult<String> {
    if !secret {
        return Ok(stored);
    }
    let plain = crypto::open(&stored, &context(app, key))?;
    String::from_utf8(plain.to_vec()).map_err(|_| StoreError::Corrupt(format!("secret {key} is not text")))
}

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

/// Sets `key` of `app` (sealing the value when `secret`).
///
/// # Errors
///
/// A store error, or [`StoreError::Corrupt`] if the master key is missing.
pub async fn set(db: &Db, app: &str, key: &str, value: &str, secret: bool) -> StoreResult<()> {
    let value = stored(db, app, key, value, secret).await?;
    sqlx::query(
        "INSERT INTO app_config (app_id, key, value, secret, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value, secret = excluded.secret, updated_at = excluded.updated_at",
    )
    .bind(app)
    .bind(key)
    .bind(&value)
    .bind(i64::from(secret))
    .bind(now_ms())
    .execute(db.write().await?.on())
    .await?;
    Ok(())
}

/// Removes `key` of `app`; whether it existed.
///
/// # Errors
///
/// A store error.
pub async fn delete(db: &Db, app: &str, key: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM app_config WHERE app_id = $1 AND key = $2")
        .bind(app)
        .bind(key)
        .execute(db.write().await?.on())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The value of `key` of `app` (opened, when it is a secret).
///
/// # Errors
///
/// A store error, or [`StoreError::Corrupt`] if a secret does not open.
pub async fn get(db: &Db, app: &str, key: &str) -> StoreResult<Option<String>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT value, secret FROM app_config WHERE app_id = $1 AND key = $2")
            .bind(app)
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    row.map(|(value, secret)| given(app, key, value, secret != 0))
        .transpose()
}

/// Every setting of `app`, by key (secrets opened).
///
/// # Errors
///
/// A store error, or [`StoreError::Corrupt`] if a secret does not open.
pub async fn all(db: &Db, app: &str) -> StoreResult<Vec<ConfigEntry>> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT key, value, secret FROM app_config WHERE app_id = $1 ORDER BY key")
            .bind(app)
            .fetch_all(db.pool())
            .await?;
    rows.into_iter()
        .map(|(key, value, secret)| {
            let secret = secret != 0;
            Ok(ConfigEntry {
                value: given(app, &key, value, secret)?,
                key,
                secret,
            })
        })
        .collect()
}

/// Seals every secret setting an older host stored in plaintext; how many.
///
/// # Errors
///
/// A store error.
pub async fn seal_plaintext(db: &Db) -> StoreResult<usize> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT app_id, key, value FROM app_config WHERE secret <> 0")
            .fetch_all(db.pool())
            .await?;
    let mut sealed = 0;
    for (app, key, value) in rows {
        let value = Zeroizing::new(value);
        if crypto::is_sealed(&value) {
            continue;
        }
        let update = sqlx::query("UPDATE app_config SET value = $1 WHERE app_id = $2 AND key = $3 AND value = $4")
            .bind(crypto::seal(db, &context(&app, &key), value.as_bytes()).await?)
            .bind(&app)
            .bind(&key)
            .bind(value.as_str())
            .execute(db.write().await?.on())
            .await?;
        sealed += usize::try_from(update.rows_affected()).unwrap_or(0);
    }
    Ok(sealed)
}

/// Re-wraps every secret setting with `rewrap`; how many.
///
/// # Errors
///
/// A store error, or whatever `rewrap` returns.
pub async fn rewrap_all(tx: &mut WriteTx, rewrap: &dyn Fn(&str) -> StoreResult<String>) -> StoreResult<usize> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT app_id, key, value FROM app_config WHERE secret <> 0")
            .fetch_all(&mut **tx)
            .await?;
    for (app, key, value) in &rows {
        sqlx::query("UPDATE app_config SET value = $1 WHERE app_id = $2 AND key = $3")
            .bind(rewrap(value)?)
            .bind(app)
            .bind(key)
            .execute(&mut **tx)
            .await?;
    }
    Ok(rows.len())
}
