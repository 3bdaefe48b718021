//! The chat event log: every new, edited and deleted message and every
//! membership change, numbered in commit order. The number (`seq`) is the
//! cursor clients resume from: it comes from one counter row that the
//! writing transaction updates, and whose lock it then holds until it
//! commits, so the row lock (or SQLite's single writer) makes numbers
//! follow commit order — a reader that has seen `n` will never later find
//! a smaller number appear. Take it late in the transaction: other
//! writers of events wait for it from then on.
//!
//! Rows hold references, not copies: a message event is rendered from the
//! message as it is now, so a deleted message's text is gone everywhere.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::messages::{self, Message};
use super::{Db, StoreResult, now_ms};

/// `message.new`
pub const MESSAGE_NEW: &str = "message.new";
/// `message.edited`
pub const MESSAGE_EDITED: &str = "message.edited";
/// `message.deleted`
pub const MESSAGE_DELETED: &str = "message.deleted";
/// `member.joined`
pub const MEMBER_JOINED: &str = "member.joined";
/// `member.left`
pub const MEMBER_LEFT: &str = "member.left";

/// An event to log.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The chat.
    pub chat: String,
    /// One of the kinds above.
    pub kind: &'static str,
    /// The message, for message events.
    pub message: Option<String>,
    /// The account, for membership events.
    pub account: Option<String>,
}

impl NewEvent {
    /// A message event.
    pub fn message(kind: &'static str, chat: &str, message: &str) -> NewEvent {
        NewEvent {
            chat: chat.to_string(),
            kind,
            message: Some(message.to_string()),
            account: None,
        }
    }

    /// A membership event.
    pub fn member(kind: &'static str, chat: &str, account: &str) -> NewEvent {
        NewEvent {
            chat: chat.to_string(),
            kind,
            message: None,
            account: Some(account.to_string()),
        }
    }
}

/// A logged event, with its message as it is now.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Its number: the cursor.
    pub seq: i64,
    /// The chat.
    pub chat: String,
    /// Its kind.
    pub kind: String,
    /// The message, for message events (None if it is gone from the store).
    pub message: Option<Message>,
    /// The message id, for message events.
    pub message_id: Option<String>,
    /// The account, for membership events.
    pub account: Option<String>,
}

/// Takes the next `n` numbers; returns the first. Call it late in the
/// transaction: the counter row stays locked until commit (see the
/// module's docs; [`super::messages::insert_logged`] takes one too).
pub async fn reserve(conn: &mut AnyConnection, n: usize) -> StoreResult<i64> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar("UPDATE event_counter SET value = value + $1 WHERE id = 1 RETURNING value")
        .bind(n)
        .fetch_one(&mut *conn)
        .await?;
    super::notify::announce(conn, super::notify::EVENTS).await?;
    Ok(last - n + 1)
}

/// Logs `events`, numbering them from a fresh reservation; returns the
/// numbers. Last step before commit (see [`reserve`]).
pub async fn append(conn: &mut AnyConnection, events: &[NewEvent]) -> StoreResult<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let first = reserve(conn, events.len()).await?;
    append_at(conn, first, events).await
}

/// Logs `events` numbered from `first` (taken with [`reserve`]).
pub async fn append_at(conn: &mut AnyConnection, first: i64, events: &[NewEvent]) -> StoreResult<Vec<i64>> {
    let now = now_ms();
    let mut seqs = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let seq = first + i64::try_from(i).unwrap_or(0);
        sqlx::query(
            "INSERT INTO chat_events (seq, chat_id, kind, message_id, account_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(seq)
        .bind(&e.chat)
        .bind(e.kind)
        .bind(e.message.as_deref())
        .bind(e.account.as_deref())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        seqs.push(seq);
    }
    Ok(seqs)
}

/// The newest number, 0 when nothing was logged.
pub async fn last(db: &Db) -> StoreResult<i64> {
    let last: Option<i64> = sqlx::query_scalar("SELECT value FROM event_counter WHERE id = 1")
        .fetch_optional(db.pool())
        .await?;
    Ok(last.unwrap_or(0))
}

/// An event's columns (named apart from its message's) and its message's,
/// which a `LEFT JOIN messages m ON m.id = e.message_id` brings along in
/// the same query.
fn event_columns() -> String {
    let message: Vec<String> = messages::COLUMNS.split(", ").map(|c| format!("m.{c}")).collect();
    format!(
        "e.seq AS event_seq, e.chat_id AS event_chat, e.kind AS event_kind, e.message_id AS event_message, \
         e.account_id AS event_account, {}",
        message.join(", ")
    )
}

/// A row of [`event_columns`].
fn logged_from_row(row: &AnyRow) -> StoreResult<Logged> {
    let message_id: Option<String> = row.try_get("event_message")?;
    let joined: Option<String> = row.try_get("id")?;
    Ok(Logged {
        seq: row.try_get("event_seq")?,
        chat: row.try_get("event_chat")?,
        kind: row.try_get("event_kind")?,
        message: joined.is_some().then(|| messages::from_row(row)).transpose()?,
        message_id,
        account: row.try_get("event_account")?,
    })
}

/// Up to `limit` events after `after`, in every chat, oldest first, each
/// with its message as it is now (one query).
pub async fn after(db: &Db, after: i64, limit: u32) -> StoreResult<Vec<Logged>> {
    sqlx::query(&format!(
        "SELECT {} FROM chat_events e LEFT JOIN messages m ON m.id = e.message_id \
         WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
        event_columns()
    ))
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(logged_from_row)
    .collect()
}

/// Up to `limit` events after `after` that `account` may see: those of
/// the chats it is a member of now, and its own leaving; oldest first,
/// each with its message as it is now (one query).
pub async fn for_account_after(db: &Db, account: &str, after: i64, limit: u32) -> StoreResult<Vec<Logged>> {
    sqlx::query(&format!(
        "SELECT {} FROM chat_events e LEFT JOIN messages m ON m.id = e.message_id WHERE e.seq > $1 AND \
         (e.chat_id IN (SELECT chat_id FROM chat_members WHERE account_id = $2) \
          OR (e.kind = '{MEMBER_LEFT}' AND e.account_id = $2)) \
         ORDER BY e.seq LIMIT $3",
        event_columns()
    ))
    .bind(after)
    .bind(account)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(logged_from_row)
    .collect()
}

/// Deletes events older than `before` (unix ms), remembering the newest
/// number deleted ([`pruned_through`]); returns how many.
pub async fn prune(db: &Db, before: i64) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    // Events are numbered in time order: everything before the first one
    // still kept goes. Found by reading from the oldest (the rows about to
    // go) up to that one, not by reading every kept event for the newest
    // old one (21 ms → 0.1 ms at 400,000 events a week, an hour's old).
    let first_kept: Option<i64> = sqlx::query_scalar(FIRST_KEPT)
        .bind(before)
        .fetch_optional(&mut *tx)
        .await?;
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM chat_events WHERE seq < $1")
        .bind(first_kept.unwrap_or(i64::MAX))
        .fetch_one(&mut *tx)
        .await?;
    let Some(newest) = newest else { return Ok(0) };
    let done = sqlx::query("DELETE FROM chat_events WHERE seq <= $1")
        .bind(newest)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO event_counter (id, value) VALUES (2, $1) ON CONFLICT (id) DO UPDATE SET \
         value = CASE WHEN event_counter.value > $1 THEN event_counter.value ELSE $1 END",
    )
    .bind(newest)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// The first event at or after `$1` (unix ms), read in number order.
const FIRST_KEPT: &str = "SELECT seq FROM chat_events WHERE at >= $1 ORDER BY seq LIMIT 1";

/// The newest number retention has deleted (0 if none): a cursor below it
/// has missed events the log no longer holds.
pub async fn pruned_through(db: &Db) -> StoreResult<i64> {
    let through: Option<i64> = sqlx::query_scalar("SELECT value FROM event_counter WHERE id = 2")
        .fetch_optional(db.pool())
        .await?;
    Ok(through.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn logged(db: &Db, n: usize) -> Vec<i64> {
        let events: Vec<NewEvent> = (0..n)
            .map(|i| NewEvent::message("message.new", "c", &format!("m{i}")))
            .collect();
        let mut tx = db.begin_write().await.expect("tx");
        let seqs = append(&mut tx, &events).await.expect("append");
        tx.commit().await.expect("commit");
        seqs
    }

    async fn age(db: &Db, seq: i64, at: i64) {
        sqlx::query("UPDATE chat_events SET at = $1 WHERE seq = $2")
            .bind(at)
            .bind(seq)
            .execute(db.pool())
            .await
            .expect("age");
    }

    #[tokio::test]
    async fn retention_deletes_the_events_before_the_first_one_kept_and_remembers_the_newest_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let seqs = logged(&db, 5).await;
        for &seq in &seqs[..3] {
            age(&db, seq, 1_000).await;
        }
        assert_eq!(prune(&db, 2_000).await.expect("prune"), 3);
        assert_eq!(pruned_through(&db).await.expect("through"), seqs[2]);
        // Nothing older is left: a second sweep deletes nothing and moves nothing.
        assert_eq!(prune(&db, 2_000).await.expect("prune"), 0);
        assert_eq!(pruned_through(&db).await.expect("through"), seqs[2]);
        assert_eq!(last(&db).await.expect("last"), seqs[4]);
        // Every event old: all go.
        for &seq in &seqs[3..] {
            age(&db, seq, 1_500).await;
        }
        assert_eq!(prune(&db, 2_000).await.expect("prune"), 2);
        assert_eq!(pruned_through(&db).await.expect("through"), seqs[4]);
    }
}
