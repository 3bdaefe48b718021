//! An invocation's buffered timer changes and their commit: a timer the
//! guest got an id for is stored only when the invocation commits, and a
//! cancellation deletes it then. The app's quota of pending timers is
//! checked again here, against what other commits stored meanwhile.

use sqlx::AnyConnection;

use crate::store::StoreResult;
use crate::store::timers::{self, Timer};

/// A timer change not yet stored.
#[derive(Debug, Clone)]
pub enum TimerOp {
    /// A timer set.
    Set(Timer),
    /// A stored timer cancelled, by id.
    Cancel(String),
}

impl TimerOp {
    /// What it does to the app's count of pending timers.
    pub(crate) fn change(&self) -> i64 {
        match self {
            TimerOp::Set(_) => 1,
            TimerOp::Cancel(_) => -1,
        }
    }
}

/// Stores `ops` of `app` in the caller's transaction; `Err` with the
/// reason (nothing stored: the caller rolls back) when the sets would take
/// the app past `quota` pending timers.
pub async fn apply_in(
    conn: &mut AnyConnection,
    app: &str,
    ops: &[TimerOp],
    quota: u32,
) -> StoreResult<Result<(), String>> {
    if ops.is_empty() {
        return Ok(Ok(()));
    }
    for op in ops {
        match op {
            TimerOp::Set(timer) => timers::insert_in(conn, timer).await?,
            // A timer that fired or was cancelled meanwhile is gone already.
            TimerOp::Cancel(id) => {
                timers::delete_in(conn, app, id).await?;
            }
        }
    }
    if ops.iter().any(|op| matches!(op, TimerOp::Set(_))) {
        // Commits of one app's timers take turns across nodes (PostgreSQL),
        // so each counts what the others stored.
        crate::store::lock_in(conn, &format!("timers:{app}")).await?;
        let pending = timers::count_in(conn, app).await?;
        if pending > i64::from(quota) {
            return Ok(Err(format!(
                "the app would have {pending} pending timers; its quota is {quota}"
            )));
        }
    }
    Ok(Ok(()))
}
