//! One-time tickets that open an events WebSocket in place of a bearer
//! token in the URL. Stored only as a hash; each works once, until it
//! expires; expired ones are deleted as new ones are made.

use sqlx::Row;

use super::{Db, StoreResult, now_ms};

/// Who a ticket opens a socket for: the account and the hash of the
/// session token that asked for the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketHolder {
    /// The account.
    pub account: String,
    /// The hash of its session's token.
    pub session_hash: String,
}

/// Stores the hash of a new ticket for `holder`, valid for `ttl_ms`.
pub async fn create(db: &Db, ticket_hash: &str, holder: &TicketHolder, ttl_ms: i64) -> StoreResult<i64> {
    let now = now_ms();
    let expires_at = now + ttl_ms;
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM event_tickets WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO event_tickets (ticket_hash, account_id, session_hash, expires_at, used_at) VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(ticket_hash)
    .bind(&holder.account)
    .bind(&holder.session_hash)
    .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(expires_at)
}

/// The account of the unused, unexpired ticket with `ticket_hash`, without
/// using it up.
pub async fn peek(db: &Db, ticket_hash: &str) -> StoreResult<Option<TicketHolder>> {
    let row = sqlx::query(
        "SELECT account_id, session_hash FROM event_tickets WHERE ticket_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(ticket_hash)
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(TicketHolder {
            account: r.try_get("account_id")?,
            session_hash: r.try_get("session_hash")?,
        })
    })
    .transpose()
}

/// Uses the ticket with `ticket_hash`: true if it existed, was unused and
/// unexpired (and is marked used now, in the same statement).
pub async fn redeem(db: &Db, ticket_hash: &str) -> StoreResult<bool> {
    let now = now_ms();
    let row = sqlx::query(
        "UPDATE event_tickets SET used_at = $1 WHERE ticket_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING account_id",
    )
    .bind(now)
    .bind(ticket_hash)
    .fetch_optional(db.write().await?.on())
    .await?;
    Ok(row.is_some())
}
