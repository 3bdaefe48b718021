//! Which apps are installed in which chats.

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// Installs `app` into `chat`; installing twice is a no-op. Returns whether
/// it was newly installed.
pub async fn install(db: &Db, chat: &str, app: &str, by: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO installs (chat_id, app_id, installed_by, installed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (chat_id, app_id) DO NOTHING",
    )
    .bind(chat)
    .bind(app)
    .bind(by)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Uninstalls `app` from `chat`; false if it was not installed. A
/// revocation (see [`super::revocations`]): when this returns, no node
/// serves a web-app session of `app` in `chat` from a cache.
///
/// # Errors
///
/// A store error.
pub async fn uninstall(db: &Db, chat: &str, app: &str) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("DELETE FROM installs WHERE chat_id = $1 AND app_id = $2")
        .bind(chat)
        .bind(app)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    super::revocations::commit(db, tx).await?;
    Ok(true)
}

/// Whether `app` is installed in `chat`.
pub async fn is_installed(db: &Db, chat: &str, app: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM installs WHERE chat_id = $1 AND app_id = $2")
        .bind(chat)
        .bind(app)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// Ids of the apps installed in `chat`, in install order.
pub async fn apps_in_chat(db: &Db, chat: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT app_id FROM installs WHERE chat_id = $1 ORDER BY installed_at, app_id")
        .bind(chat)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("app_id")?)).collect()
}
