//! Users' consents to identity scopes, per app.

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// Adds `scopes` to what `account` consented to for `app`.
pub async fn grant(db: &Db, account: &str, app: &str, scopes: &[String]) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    for scope in scopes {
        sqlx::query(
            "INSERT INTO consents (account_id, app_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, app_id, scope) DO NOTHING",
        )
        .bind(account)
        .bind(app)
        .bind(scope)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Revokes every consent `account` gave `app`.
pub async fn revoke_all(db: &Db, account: &str, app: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM consents WHERE account_id = $1 AND app_id = $2")
        .bind(account)
        .bind(app)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The scopes `account` consented to for `app`, sorted.
pub async fn list(db: &Db, account: &str, app: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT scope FROM consents WHERE account_id = $1 AND app_id = $2 ORDER BY scope")
        .bind(account)
        .bind(app)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("scope")?)).collect()
}

/// Whether `account` consented to `scope` for `app`.
pub async fn has(db: &Db, account: &str, app: &str, scope: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM consents WHERE account_id = $1 AND app_id = $2 AND scope = $3")
        .bind(account)
        .bind(app)
        .bind(scope)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}
