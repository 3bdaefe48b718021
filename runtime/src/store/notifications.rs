//! The messages apps sent users through `notify`, kept for the hour the
//! per-user bound looks back on (then swept by the retention sweep).

use sqlx::AnyConnection;

use super::{Db, StoreResult};

/// The window of the bound, ms.
pub const WINDOW_MS: i64 = 60 * 60 * 1000;

/// Notifications `app` sent `account` at or after `since` (unix ms), in
/// the caller's transaction.
pub async fn count_since_in(conn: &mut AnyConnection, app: &str, account: &str, since: i64) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM notifications WHERE app_id = $1 AND account_id = $2 AND sent_at >= $3",
    )
    .bind(app)
    .bind(account)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?)
}

/// [`count_since_in`] outside a transaction.
pub async fn count_since(db: &Db, app: &str, account: &str, since: i64) -> StoreResult<i64> {
    let mut conn = db.pool().acquire().await?;
    count_since_in(&mut conn, app, account, since).await
}

/// Records `n` notifications from `app` to `account` at `at`, in the
/// caller's transaction.
pub async fn record_in(conn: &mut AnyConnection, app: &str, account: &str, n: usize, at: i64) -> StoreResult<()> {
    for _ in 0..n {
        sqlx::query("INSERT INTO notifications (app_id, account_id, sent_at) VALUES ($1, $2, $3)")
            .bind(app)
            .bind(account)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Deletes notifications sent before `before` (unix ms); how many.
pub async fn prune(db: &Db, before: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM notifications WHERE sent_at < $1")
        .bind(before)
        .execute(db.write().await?.on())
        .await?
        .rows_affected())
}
