//! The audit log: capability denials and every lifecycle transition, with
//! who and when. Append-only.

use serde::Serialize;

use super::{Db, StoreResult, new_id, now_ms};

/// One audit entry.
#[derive(Debug, Clone, Serialize, Default, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its id.
    pub id: String,
    /// When, unix ms.
    pub at: i64,
    /// Who acted: `operator`, `account:<id>` or `app:<id>`.
    pub actor: String,
    /// What happened, e.g. `capability.denied`, `version.approved`.
    pub action: String,
    /// The app concerned.
    pub app_id: Option<String>,
    /// The capability concerned.
    pub capability: Option<String>,
    /// The chat concerned.
    pub chat_id: Option<String>,
    /// The account concerned.
    pub account_id: Option<String>,
    /// Free-form detail.
    pub detail: String,
}

/// Appends `entry` (its `id` and `at` are filled in here).
pub async fn record(db: &Db, mut entry: AuditEntry) -> StoreResult<AuditEntry> {
    let mut write = db.write().await?;
    entry.id = new_id();
    entry.at = now_ms();
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, app_id, capability, chat_id, account_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&entry.id)
    .bind(entry.at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.app_id)
    .bind(&entry.capability)
    .bind(&entry.chat_id)
    .bind(&entry.account_id)
    .bind(&entry.detail)
    .execute(write.on())
    .await?;
    Ok(entry)
}

/// The newest `limit` entries, optionally for one app, oldest first.
pub async fn list(db: &Db, app: Option<&str>, limit: u32) -> StoreResult<Vec<AuditEntry>> {
    let mut entries: Vec<AuditEntry> = sqlx::query_as(
        "SELECT id, at, actor, action, app_id, capability, chat_id, account_id, detail FROM audit_log \
         WHERE ($1 = '' OR app_id = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(app.unwrap_or(""))
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    entries.reverse();
    Ok(entries)
}
