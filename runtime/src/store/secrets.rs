//! Host-wide secrets (e.g. the key app-scoped user ids are derived with),
//! created once and shared by every node, stored sealed under the master
//! key (see [`crate::crypto`]); and the record of which master key that is.

use zeroize::Zeroizing;

use super::{Backend, Db, StoreError, StoreResult, WriteTx, now_ms};
use crate::crypto;

fn context(name: &str) -> [&str; 2] {
    ["host_secrets", name]
}

/// The secret `name`, created from `generate` if it does not exist yet.
/// Safe against two nodes racing: the first insert wins and both read it.
///
/// # Errors
///
/// A store error, or [`StoreError::Corrupt`] if the stored value does not
/// open with the loaded master key.
pub async fn get_or_create(
    db: &Db,
    name: &str,
    generate: impl FnOnce() -> Zeroizing<String>,
) -> StoreResult<Zeroizing<String>> {
    let existing: Option<String> = sqlx::query_scalar("SELECT value FROM host_secrets WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    if existing.is_none() {
        let sealed = crypto::seal(db, &context(name), generate().as_bytes()).await?;
        sqlx::query("INSERT INTO host_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(sealed)
            .execute(db.write().await?.on())
            .await?;
    }
    let sealed: String = sqlx::query_scalar("SELECT value FROM host_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(db.pool())
        .await?;
    let plain = crypto::open(&sealed, &context(name))?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| StoreError::Corrupt(format!("host secret {name} is not text")))
}

/// Seals every host secret an older host stored in plaintext; how many.
///
/// # Errors
///
/// A store error.
pub async fn seal_plaintext(db: &Db) -> StoreResult<usize> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, value FROM host_secrets")
        .fetch_all(db.pool())
        .await?;
    let mut sealed = 0;
    for (name, value) in rows {
        let value = Zeroizing::new(value);
        if crypto::is_sealed(&value) {
            continue;
        }
        let update = sqlx::query("UPDATE host_secrets SET value = $1 WHERE name = $2 AND value = $3")
            .bind(crypto::seal(db, &context(&name), value.as_bytes()).await?)
            .bind(&name)
            .bind(value.as_str())
            .execute(db.write().await?.on())
            .await?;
        sealed += usize::try_from(update.rows_affected()).unwrap_or(0);
    }
    Ok(sealed)
}

/// Re-wraps every host secret with `rewrap`; how many.
///
/// # Errors
///
/// A store error, or whatever `rewrap` returns.
pub async fn rewrap_all(tx: &mut WriteTx, rewrap: &dyn Fn(&str) -> StoreResult<String>) -> StoreResult<usize> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, value FROM host_secrets")
        .fetch_all(&mut **tx)
        .await?;
    for (name, value) in &rows {
        sqlx::query("UPDATE host_secrets SET value = $1 WHERE name = $2")
            .bind(rewrap(value)?)
            .bind(name)
            .execute(&mut **tx)
            .await?;
    }
    Ok(rows.len())
}

/// The id of the master key this database's secrets are sealed with, if
/// one was recorded.
///
/// # Errors
///
/// A store error.
pub async fn master_key_id(db: &Db) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT key_id FROM master_key WHERE slot = 1")
        .fetch_optional(db.pool())
        .await?)
}

/// Records `key_id` as the database's master key unless one is recorded
/// already; returns the recorded id (another node's, if it was first).
///
/// # Errors
///
/// A store error.
pub async fn record_master_key_id(db: &Db, key_id: &str) -> StoreResult<String> {
    sqlx::query("INSERT INTO master_key (slot, key_id, recorded_at) VALUES (1, $1, $2) ON CONFLICT (slot) DO NOTHING")
        .bind(key_id)
        .bind(now_ms())
        .execute(db.write().await?.on())
        .await?;
    master_key_id(db)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the master key record vanished".into()))
}

/// Replaces the recorded master key `old` with `new` (rotation).
///
/// # Errors
///
/// A store error, or [`StoreError::Corrupt`] if `old` is not the recorded key.
pub async fn replace_master_key_id(tx: &mut WriteTx, old: &str, new: &str) -> StoreResult<()> {
    let done = sqlx::query("UPDATE master_key SET key_id = $1, recorded_at = $2 WHERE slot = 1 AND key_id = $3")
        .bind(new)
        .bind(now_ms())
        .bind(old)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Corrupt(format!("master key {old} is not the recorded one")));
    }
    Ok(())
}

/// Rewrites the database without its free pages and empties the
/// write-ahead log, so values overwritten or dropped (plaintext secrets
/// an older host left) are not left behind in the file. On PostgreSQL it
/// rewrites the two tables that held them (`VACUUM FULL`).
///
/// # Errors
///
/// A store error.
pub async fn scrub_free_pages(db: &Db) -> StoreResult<()> {
    if db.backend() == Backend::Postgres {
        sqlx::raw_sql("VACUUM FULL host_secrets, app_config")
            .execute(db.write().await?.on())
            .await?;
        return Ok(());
    }
    sqlx::query("VACUUM").execute(db.write().await?.on()).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(db.write().await?.on())
        .await?;
    Ok(())
}
