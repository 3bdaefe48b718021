//! Apps' own logs (guest `log` calls, stdout/stderr, invocation failures),
//! readable by the app's owner.

use serde::Serialize;

use super::{Db, StoreResult, new_id, now_ms};

/// One log line.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LogLine {
    /// Its id.
    pub id: String,
    /// The app version that wrote it.
    pub version: String,
    /// When, unix ms.
    pub at: i64,
    /// `debug`, `info`, `warn`, `error`, `stdout` or `stderr`.
    pub level: String,
    /// The chat of the invocation, if any.
    pub chat_id: Option<String>,
    /// The text.
    pub message: String,
}

/// A line to append.
#[derive(Debug, Clone)]
pub struct NewLogLine {
    /// Severity or stream.
    pub level: &'static str,
    /// The text.
    pub message: String,
}

/// Appends `lines` for (`app`, `version`) in one transaction.
pub async fn append(db: &Db, app: &str, version: &str, chat: Option<&str>, lines: &[NewLogLine]) -> StoreResult<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    for line in lines {
        sqlx::query(
            "INSERT INTO app_logs (id, app_id, version, at, level, chat_id, message) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(app)
        .bind(version)
        .bind(now)
        .bind(line.level)
        .bind(chat)
        .bind(&line.message)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The newest `limit` lines of `app`, oldest first.
pub async fn list(db: &Db, app: &str, limit: u32) -> StoreResult<Vec<LogLine>> {
    let mut lines: Vec<LogLine> = sqlx::query_as(
        "SELECT id, version, at, level, chat_id, message FROM app_logs WHERE app_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(app)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    lines.reverse();
    Ok(lines)
}
