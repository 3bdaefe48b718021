//! Inbound webhooks' rows: each app's signing secret (sealed with the
//! master key; see [`crate::crypto`]) and the signatures of accepted
//! deliveries, kept while a replay of them could still pass the timestamp
//! window.

use sqlx::AnyConnection;

use super::{Db, StoreResult, WriteTx, now_ms};

/// Stores `sealed` as `app`'s webhook secret, replacing any older one.
pub async fn set_secret(db: &Db, app: &str, sealed: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webhook_secrets (app_id, secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (app_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
    )
    .bind(app)
    .bind(sealed)
    .bind(now_ms())
    .execute(db.write().await?.on())
    .await?;
    Ok(())
}

/// `app`'s sealed webhook secret, if it has one.
pub async fn secret(db: &Db, app: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT secret FROM webhook_secrets WHERE app_id = $1")
            .bind(app)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Records an accepted delivery's `signature` until `expires_at` (unix
/// ms), in the caller's transaction; false if it was seen already (a
/// replay).
pub async fn accept_in(conn: &mut AnyConnection, app: &str, signature: &str, expires_at: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (app_id, signature, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (app_id, signature) DO NOTHING",
    )
    .bind(app)
    .bind(signature)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Re-seals every webhook secret with `rewrap` (master key rotation).
///
/// # Errors
///
/// A store error, or whatever `rewrap` returns.
pub async fn rewrap_all(tx: &mut WriteTx, rewrap: &dyn Fn(&str) -> StoreResult<String>) -> StoreResult<usize> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT app_id, secret FROM webhook_secrets")
        .fetch_all(&mut **tx)
        .await?;
    for (app, secret) in &rows {
        sqlx::query("UPDATE webhook_secrets SET secret = $1 WHERE app_id = $2")
            .bind(rewrap(secret)?)
            .bind(app)
            .execute(&mut **tx)
            .await?;
    }
    Ok(rows.len())
}
