//! The per-(app, chat) send budget counted in the database, so the nodes of
//! a cluster share it: one fixed window of [`WINDOW_MS`] per pair.

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// The window, in ms.
pub const WINDOW_MS: i64 = 60_000;

/// Takes one place for (`app`, `chat`) if fewer than `per_window` were
/// taken in the current window; one statement, so concurrent nodes cannot
/// both take the last place.
pub async fn try_take(db: &Db, app: &str, chat: &str, per_window: u32) -> StoreResult<bool> {
    let mut write = db.write().await?;
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO send_windows (app_id, chat_id, window_start, sent) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (app_id, chat_id) DO UPDATE SET \
           window_start = CASE WHEN send_windows.window_start <= $4 THEN $3 ELSE send_windows.window_start END, \
           sent = CASE WHEN send_windows.window_start <= $4 THEN 1 ELSE send_windows.sent + 1 END \
         WHERE send_windows.window_start <= $4 OR send_windows.sent < $5 \
         RETURNING sent",
    )
    .bind(app)
    .bind(chat)
    .bind(now)
    .bind(now - WINDOW_MS)
    .bind(i64::from(per_window))
    .fetch_optional(write.on())
    .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("sent")).transpose()?.is_some())
}

/// Deletes windows that ended before `before`; returns how many.
pub async fn prune(db: &Db, before: i64) -> StoreResult<u64> {
    let mut write = db.write().await?;
    let done = sqlx::query("DELETE FROM send_windows WHERE window_start < $1")
        .bind(before - WINDOW_MS)
        .execute(write.on())
        .await?;
    Ok(done.rows_affected())
}
