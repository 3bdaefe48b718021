//! Reports of messages and apps by members, and the operator's decisions
//! on them. A reporter has at most one open report per target.

use serde::Serialize;

use super::status::{ReportReason, ReportStatus, ReportTarget};
use super::{Db, StoreResult};

/// One report, as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Report {
    /// Its id (a UUIDv7: ids sort by time).
    pub id: String,
    /// The account that reported.
    pub reporter_id: String,
    /// A message or an app.
    pub target_kind: ReportTarget,
    /// `message:<chat>/<id>` or `app:<id>`.
    pub target: String,
    /// The chat of the message, or the chat an app was reported from.
    pub chat_id: Option<String>,
    /// The message reported.
    pub message_id: Option<String>,
    /// The app reported, or the app that sent the reported message.
    pub app_id: Option<String>,
    /// Why.
    pub reason: ReportReason,
    /// The reporter's note (may be empty).
    pub note: String,
    /// JSON: what the operator needs to judge it, kept as it was.
    pub snapshot: String,
    /// Open, dismissed or actioned.
    pub status: ReportStatus,
    /// When it was made, unix ms.
    pub created_at: i64,
    /// The operator's action, once decided.
    pub action: Option<String>,
    /// The operator's note on the action.
    pub action_note: Option<String>,
    /// When the operator decided, unix ms.
    pub decided_at: Option<i64>,
}

const COLUMNS: &str = "id, reporter_id, target_kind, target, chat_id, message_id, app_id, reason, note, snapshot, \
                       status, created_at, action, action_note, decided_at";

/// How [`insert`] ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The report is new.
    Created(Report),
    /// The reporter had an open report of this target already: that one.
    Existing(Report),
}

/// Stores `report` (status `open`) unless its reporter has an open report
/// of the same target, which is then returned instead.
pub async fn insert(db: &Db, report: &Report) -> StoreResult<Outcome> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(&format!(
        "INSERT INTO reports ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, NULL, NULL, NULL) \
         ON CONFLICT (reporter_id, target) WHERE status = 'open' DO NOTHING"
    ))
    .bind(&report.id)
    .bind(&report.reporter_id)
    .bind(report.target_kind.as_str())
    .bind(&report.target)
    .bind(&report.chat_id)
    .bind(&report.message_id)
    .bind(&report.app_id)
    .bind(report.reason.as_str())
    .bind(&report.note)
    .bind(&report.snapshot)
    .bind(report.created_at)
    .execute(&mut *tx)
    .await?;
    let created = done.rows_affected() > 0;
    let stored: Report = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM reports WHERE reporter_id = $1 AND target = $2 AND status = 'open'"
    ))
    .bind(&report.reporter_id)
    .bind(&report.target)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(if created {
        Outcome::Created(stored)
    } else {
        Outcome::Existing(stored)
    })
}

/// The report `id`.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<Report>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM reports WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// The newest `limit` reports with `status`, newest first.
pub async fn list(db: &Db, status: ReportStatus, limit: u32) -> StoreResult<Vec<Report>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM reports WHERE status = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(status.as_str())
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?)
}

/// Closes the open report `id` with `status` and the operator's `action`
/// and `note`; false when it is not open (or does not exist).
pub async fn close(db: &Db, id: &str, status: ReportStatus, action: &str, note: &str, at: i64) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE reports SET status = $1, action = $2, action_note = $3, decided_at = $4 \
         WHERE id = $5 AND status = 'open'",
    )
    .bind(status.as_str())
    .bind(action)
    .bind(note)
    .bind(at)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{new_id, now_ms};

    fn report(reporter: &str, target: &str) -> Report {
        Report {
            id: new_id(),
            reporter_id: reporter.into(),
            target_kind: ReportTarget::App,
            target: target.into(),
            chat_id: None,
            message_id: None,
            app_id: Some("app".into()),
            reason: ReportReason::Spam,
            note: String::new(),
            snapshot: "{}".into(),
            status: ReportStatus::Open,
            created_at: now_ms(),
            action: None,
            action_note: None,
            decided_at: None,
        }
    }

    #[tokio::test]
    async fn a_reporter_has_one_open_report_per_target_and_a_new_one_after_it_closes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let Outcome::Created(first) = insert(&db, &report("alice", "app:x")).await.expect("insert") else {
            panic!("the first report is new");
        };
        let Outcome::Existing(again) = insert(&db, &report("alice", "app:x")).await.expect("insert") else {
            panic!("a second open report of the same target is the first");
        };
        assert_eq!(again.id, first.id);
        assert!(matches!(
            insert(&db, &report("bob", "app:x")).await.expect("insert"),
            Outcome::Created(_)
        ));
        assert!(
            close(&db, &first.id, ReportStatus::Dismissed, "dismiss", "", now_ms())
                .await
                .expect("close")
        );
        assert!(
            !close(&db, &first.id, ReportStatus::Actioned, "suspend_app", "", now_ms())
                .await
                .expect("close")
        );
        let Outcome::Created(after) = insert(&db, &report("alice", "app:x")).await.expect("insert") else {
            panic!("a closed report does not stop a new one");
        };
        assert_ne!(after.id, first.id);
        let open = list(&db, ReportStatus::Open, 10).await.expect("list");
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].id, after.id, "newest first");
        let closed = get(&db, &first.id).await.expect("get").expect("found");
        assert_eq!(
            (closed.status, closed.action.as_deref()),
            (ReportStatus::Dismissed, Some("dismiss"))
        );
    }
}
