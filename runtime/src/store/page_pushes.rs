//! Live pages' pushes: what an app published to its open pages in a chat
//! (the `pages` capability). Each push is a chat event of kind [`KIND`] in
//! the chat event log ([`super::chat_events`]), so it is numbered in commit
//! order and reaches every node the way messages do; the row here, under
//! the same number, holds the app and the data. The members' event streams
//! skip the kind: only the app's own pages in that chat see a push.
//!
//! Rows are kept [`KEPT_MS`] (then the retention sweep deletes them; the
//! chat event stays, so a page resuming from before it learns that it
//! missed something).

use sqlx::AnyConnection;

use super::chat_events::{self, NewEvent};
use super::{Db, StoreResult, now_ms};

/// The chat event kind of a push.
pub const KIND: &str = "page.push";

/// How long a push is kept for pages resuming after a drop, in ms.
pub const KEPT_MS: i64 = 60 * 60 * 1000;

/// A stored push.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Push {
    /// Its number in the chat event log.
    pub seq: i64,
    /// The app that published it.
    pub app_id: String,
    /// The chat whose pages get it.
    pub chat_id: String,
    /// What the app published.
    pub data: String,
}

/// Stores `pushes` (chat, data) of `app` in the caller's transaction, each
/// logged as a chat event; returns how many. As with every chat event, the
/// numbers are taken as the transaction's last steps (see
/// [`chat_events::reserve`]).
pub async fn append_in(conn: &mut AnyConnection, app: &str, pushes: &[(&str, &str)]) -> StoreResult<usize> {
    if pushes.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let first = chat_events::reserve(conn, pushes.len()).await?;
    let mut events = Vec::with_capacity(pushes.len());
    for (i, (chat, data)) in pushes.iter().enumerate() {
        let seq = first + i64::try_from(i).unwrap_or(0);
        sqlx::query("INSERT INTO page_pushes (seq, app_id, chat_id, data, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(seq)
            .bind(app)
            .bind(chat)
            .bind(data)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        events.push(NewEvent {
            chat: (*chat).to_string(),
            kind: KIND,
            message: None,
            account: None,
        });
    }
    chat_events::append_at(conn, first, &events).await?;
    Ok(pushes.len())
}

/// The pushes numbered after `after` up to `through` (a batch of the chat
/// event log being relayed), oldest first.
pub async fn between(db: &Db, after: i64, through: i64) -> StoreResult<Vec<Push>> {
    Ok(
        sqlx::query_as("SELECT seq, app_id, chat_id, data FROM page_pushes WHERE seq > $1 AND seq <= $2 ORDER BY seq")
            .bind(after)
            .bind(through)
            .fetch_all(db.pool())
            .await?,
    )
}

/// What a page resuming after a number gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// Every push of its app in its chat after the number, oldest first.
    Pushes(Vec<Push>),
    /// Some are gone (older than [`KEPT_MS`], or past the event log's
    /// retention), or there are more than the limit: the page reloads.
    Gone,
}

/// [`since`]'s statement: it reads the chat's pushes from the
/// `chat_events_page_pushes` partial index, not every event of the chat
/// after the cursor.
fn since_sql() -> String {
    format!(
        "SELECT e.seq, p.app_id, p.data FROM chat_events e LEFT JOIN page_pushes p ON p.seq = e.seq \
         WHERE e.chat_id = $1 AND e.kind = '{KIND}' AND e.seq > $2 AND (p.app_id IS NULL OR p.app_id = $3) \
         ORDER BY e.seq LIMIT $4"
    )
}

/// The pushes of `app` in `chat` after `after`, at most `limit` (more is
/// [`Since::Gone`]).
pub async fn since(db: &Db, app: &str, chat: &str, after: i64, limit: u32) -> StoreResult<Since> {
    if after < chat_events::pruned_through(db).await? {
        return Ok(Since::Gone);
    }
    // A push of the chat whose row is gone may have been this app's.
    let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(&since_sql())
        .bind(chat)
        .bind(after)
        .bind(app)
        .bind(i64::from(limit) + 1)
        .fetch_all(db.pool())
        .await?;
    if rows.len() > limit as usize {
        return Ok(Since::Gone);
    }
    let mut pushes = Vec::with_capacity(rows.len());
    for (seq, app_id, data) in rows {
        let (Some(app_id), Some(data)) = (app_id, data) else {
            return Ok(Since::Gone);
        };
        pushes.push(Push {
            seq,
            app_id,
            chat_id: chat.to_string(),
            data,
        });
    }
    Ok(Since::Pushes(pushes))
}

/// Deletes pushes older than [`KEPT_MS`] at `now`; returns how many.
pub async fn prune(db: &Db, now: i64) -> StoreResult<u64> {
    Ok(sqlx::query("DELETE FROM page_pushes WHERE at < $1")
        .bind(now.saturating_sub(KEPT_MS))
        .execute(db.write().await?.on())
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_resuming_page_reads_its_chats_pushes_from_their_index() {
        let plan = crate::store::query_plan(&since_sql()).await;
        assert_eq!(
            plan.first().map(String::as_str),
            Some("SEARCH e USING COVERING INDEX chat_events_page_pushes (chat_id=? AND seq>?)"),
            "{plan:?}"
        );
    }

    async fn push(db: &Db, app: &str, chat: &str, data: &str) -> i64 {
        let mut tx = db.begin_write().await.expect("tx");
        append_in(&mut tx, app, &[(chat, data)]).await.expect("append");
        tx.commit().await.expect("commit");
        chat_events::last(db).await.expect("last")
    }

    #[tokio::test]
    async fn a_page_resumes_with_its_own_apps_pushes_in_its_chat_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let start = chat_events::last(&db).await.expect("last");
        let first = push(&db, "app", "chat", "one").await;
        push(&db, "other-app", "chat", "theirs").await;
        push(&db, "app", "other-chat", "elsewhere").await;
        let second = push(&db, "app", "chat", "two").await;
        let Since::Pushes(all) = since(&db, "app", "chat", start, 10).await.expect("since") else {
            panic!("nothing is gone");
        };
        let seen: Vec<(i64, &str)> = all.iter().map(|p| (p.seq, p.data.as_str())).collect();
        assert_eq!(seen, vec![(first, "one"), (second, "two")]);
        let Since::Pushes(after_first) = since(&db, "app", "chat", first, 10).await.expect("since") else {
            panic!("nothing is gone");
        };
        assert_eq!(after_first.len(), 1);
        assert_eq!(
            since(&db, "app", "chat", start, 1).await.expect("since"),
            Since::Gone,
            "more than the limit"
        );
        assert_eq!(between(&db, first, second).await.expect("between").len(), 3);
    }

    #[tokio::test]
    async fn a_push_past_its_time_is_gone_for_a_resuming_page() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let start = chat_events::last(&db).await.expect("last");
        let old = push(&db, "other-app", "chat", "old").await;
        sqlx::query("UPDATE page_pushes SET at = at - $1")
            .bind(KEPT_MS + 1)
            .execute(db.pool())
            .await
            .expect("age it");
        let fresh = push(&db, "app", "chat", "fresh").await;
        assert_eq!(prune(&db, now_ms()).await.expect("prune"), 1);
        assert_eq!(
            since(&db, "app", "chat", start, 10).await.expect("since"),
            Since::Gone,
            "a push of the chat is gone: it may have been this app's"
        );
        let Since::Pushes(after) = since(&db, "app", "chat", old, 10).await.expect("since") else {
            panic!("nothing after it is gone");
        };
        assert_eq!(after.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![fresh]);
    }
}
