//! Retention: old rows of the tables that grow with use are deleted, so the
//! database does not grow without bound. App logs and the audit log keep a
//! configurable number of days; launch nonces, events tickets and web
//! sessions go once they have expired (they prove nothing after that), as do
//! webhook signatures once out of their window (a replay is refused then
//! anyway), and so do stored values past their time-to-live and live
//! pages' pushes past an hour; done
//! jobs go after an hour, chat events with the app logs.

use super::{Db, StoreResult, now_ms};

/// How long rows are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// App log lines, ms.
    pub logs_ms: i64,
    /// Audit log entries, ms.
    pub audit_ms: i64,
}

/// Rows deleted by one sweep, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// App log lines.
    pub logs: u64,
    /// Audit log entries.
    pub audit: u64,
    /// Expired launch nonces, events tickets, web sessions, stored values
    /// and live pages' pushes.
    pub expired: u64,
    /// Done jobs (kept an hour, to show in the app's event list), dead jobs
    /// (kept with the app logs) and chat
    /// events older than the log retention (a client away longer resyncs
    /// from the message list), and `notify` records past their hour.
    pub queue: u64,
}

/// App log lines older than `$1` go (read from `app_logs_by_at`).
const DELETE_OLD_LOGS: &str = "DELETE FROM app_logs WHERE at < $1";
/// Audit entries older than `$1` go (read from `audit_log_by_at`).
const DELETE_OLD_AUDIT: &str = "DELETE FROM audit_log WHERE at < $1";

/// Deletes what `retention` no longer keeps.
pub async fn sweep(db: &Db, retention: Retention) -> StoreResult<Swept> {
    let now = now_ms();
    let logs = sqlx::query(DELETE_OLD_LOGS)
        .bind(now.saturating_sub(retention.logs_ms))
        .execute(db.write().await?.on())
        .await?
        .rows_affected();
    let audit = sqlx::query(DELETE_OLD_AUDIT)
        .bind(now.saturating_sub(retention.audit_ms))
        .execute(db.write().await?.on())
        .await?
        .rows_affected();
    let mut expired = 0;
    for table in [
        "launch_nonces",
        "event_tickets",
        "web_sessions",
        "app_kv",
        "webhook_deliveries",
    ] {
        expired += sqlx::query(&format!("DELETE FROM {table} WHERE expires_at < $1"))
            .bind(now)
            .execute(db.write().await?.on())
            .await?
            .rows_affected();
    }
    expired += super::page_pushes::prune(db, now).await?;
    let queue = super::jobs::prune(
        db,
        now.saturating_sub(60 * 60 * 1000),
        now.saturating_sub(retention.logs_ms),
    )
    .await?
        + super::chat_events::prune(db, now.saturating_sub(retention.logs_ms)).await?
        + super::send_windows::prune(db, now).await?
        + super::notifications::prune(db, now.saturating_sub(super::notifications::WINDOW_MS)).await?;
    Ok(Swept {
        logs,
        audit,
        expired,
        queue,
    })
}

#[cfg(test)]
mod tests {
    use super::{DELETE_OLD_AUDIT, DELETE_OLD_LOGS, Retention, sweep};
    use crate::store::{Db, now_ms};

    const DAY: i64 = 24 * 60 * 60 * 1000;

    #[tokio::test]
    async fn the_sweep_reads_only_the_log_lines_and_audit_entries_it_deletes() {
        for (sql, plan) in [
            (DELETE_OLD_LOGS, "SEARCH app_logs USING INDEX app_logs_by_at (at<?)"),
            (DELETE_OLD_AUDIT, "SEARCH audit_log USING INDEX audit_log_by_at (at<?)"),
        ] {
            assert_eq!(crate::store::query_plan(sql).await, [plan], "{sql}");
        }
    }

    #[tokio::test]
    async fn rows_past_their_retention_go_and_the_rest_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let now = now_ms();
        for (id, age) in [("old", 8 * DAY), ("new", DAY)] {
            sqlx::query(
                "INSERT INTO app_logs (id, app_id, version, at, level, chat_id, message) VALUES ($1, 'a', '1', $2, 'info', NULL, 'x')",
            )
            .bind(id)
            .bind(now - age)
            .execute(db.pool())
            .await
            .expect("log");
            sqlx::query(
                "INSERT INTO audit_log (id, at, actor, action, app_id, capability, chat_id, account_id, detail) \
                 VALUES ($1, $2, 'op', 'x', NULL, NULL, NULL, NULL, '')",
            )
            .bind(id)
            .bind(now - age * 12)
            .execute(db.pool())
            .await
            .expect("audit");
            sqlx::query("INSERT INTO launch_nonces (nonce, app_id, expires_at) VALUES ($1, 'a', $2)")
                .bind(id)
                .bind(if id == "old" { now - 1 } else { now + DAY })
                .execute(db.pool())
                .await
                .expect("nonce");
        }
        let retention = Retention {
            logs_ms: 7 * DAY,
            audit_ms: 90 * DAY,
        };
        let swept = sweep(&db, retention).await.expect("sweep");
        assert_eq!((swept.logs, swept.audit, swept.expired), (1, 1, 1));
        for table in ["app_logs", "audit_log"] {
            let left: Vec<String> = sqlx::query_scalar(&format!("SELECT id FROM {table}"))
                .fetch_all(db.pool())
                .await
                .expect("rows");
            assert_eq!(left, vec!["new".to_string()], "{table}");
        }
        assert_eq!(sweep(&db, retention).await.expect("again"), Default::default());
    }
}
