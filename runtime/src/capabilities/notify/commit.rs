//! Committing an invocation's notifications: each is recorded with the
//! time, and the per-user hourly bound is checked again against what other
//! invocations (on any node) recorded meanwhile.

use sqlx::AnyConnection;

use crate::store::{StoreResult, lock_in, notifications, now_ms};

/// Records the notifications `app` sent to `accounts` (one entry per
/// message), in the caller's transaction; `Err` with the reason (the caller
/// rolls back, and the invocation runs again) when one user would get
/// more than `per_hour` in the hour.
pub async fn apply_in(
    conn: &mut AnyConnection,
    app: &str,
    accounts: &[String],
    per_hour: u32,
) -> StoreResult<Result<(), String>> {
    let mut distinct: Vec<&String> = accounts.iter().collect();
    distinct.sort();
    distinct.dedup();
    let now = now_ms();
    for account in distinct {
        let n = accounts.iter().filter(|a| *a == account).count();
        // One writer at a time counts and records a user's (PostgreSQL).
        lock_in(conn, &format!("notify:{app}:{account}")).await?;
        let stored = notifications::count_since_in(conn, app, account, now - notifications::WINDOW_MS).await?;
        if stored + i64::try_from(n).unwrap_or(i64::MAX) > i64::from(per_hour) {
            return Ok(Err(format!(
                "a user would get more than {per_hour} notifications in an hour"
            )));
        }
        notifications::record_in(conn, app, account, n, now).await?;
    }
    Ok(Ok(()))
}
