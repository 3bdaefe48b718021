//! Web-app launches: the one-time nonces of launch tokens, and the sessions
//! they open (stored by token hash, like API tokens).

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// A web-app session: who opened which app in which chat.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The app.
    pub app_id: String,
    /// The chat it was launched from.
    pub chat_id: String,
    /// The platform account that launched it (never shown to the app).
    pub account_id: String,
    /// Unix ms after which the session is over.
    pub expires_at: i64,
}

/// Records `nonce` as used; `false` if it was used before (a replay).
/// Forgets nonces whose tokens have expired anyway.
pub async fn use_nonce(db: &Db, nonce: &str, app: &str, expires_at: i64) -> StoreResult<bool> {
    sqlx::query("DELETE FROM launch_nonces WHERE expires_at < $1")
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO launch_nonces (nonce, app_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(app)
    .bind(expires_at)
    .execute(db.pool())
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Opens a session under `token_hash`; forgets expired sessions.
pub async fn create(db: &Db, token_hash: &str, session: &WebSession) -> StoreResult<()> {
    let now = now_ms();
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, app_id, chat_id, account_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(&session.app_id)
    .bind(&session.chat_id)
    .bind(&session.account_id)
    .bind(now)
    .bind(session.expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The unexpired session stored under `token_hash`.
pub async fn get(db: &Db, token_hash: &str) -> StoreResult<Option<WebSession>> {
    let row = sqlx::query(
        "SELECT app_id, chat_id, account_id, expires_at FROM web_sessions WHERE token_hash = $1 AND expires_at >= $2",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(WebSession {
            app_id: r.try_get("app_id")?,
            chat_id: r.try_get("chat_id")?,
            account_id: r.try_get("account_id")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}
