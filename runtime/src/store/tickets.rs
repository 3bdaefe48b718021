//! One-time tickets that open an events WebSocket in place of a bearer
//! token in the URL. Stored only as a hash; each works once, until it
//! expires; expired ones are deleted as new ones are made.

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// Stores the hash of a new ticket for `account`, valid for `ttl_ms`.
pub async fn create(db: &Db, ticket_hash: &str, account: &str, ttl_ms: i64) -> StoreResult<i64> {
    let now = now_ms();
    let expires_at = now + ttl_ms;
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM event_tickets WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO event_tickets (ticket_hash, account_id, expires_at, used_at) VALUES ($1, $2, $3, NULL)")
        .bind(ticket_hash)
        .bind(account)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(expires_at)
}

/// Uses the ticket with `ticket_hash`: its account, if it exists, is
/// unused and unexpired (and marks it used, in the same statement).
pub async fn redeem(db: &Db, ticket_hash: &str) -> StoreResult<Option<String>> {
    let now = now_ms();
    let row = sqlx::query(
        "UPDATE event_tickets SET used_at = $1 WHERE ticket_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING account_id",
    )
    .bind(now)
    .bind(ticket_hash)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| r.try_get("account_id")).transpose().map_err(Into::into)
}
