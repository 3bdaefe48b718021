//! Chat messages. Inline-button data is kept here, host-side, and never
//! leaves through the API.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::files::{self, Attachment};
use super::{Db, StoreResult, from_json, now_ms, to_json};

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SenderKind {
    /// A person (an account).
    User,
    /// A mini-app.
    App,
}

impl SenderKind {
    fn as_str(self) -> &'static str {
        match self {
            SenderKind::User => "user",
            SenderKind::App => "app",
        }
    }
    fn parse(s: &str) -> SenderKind {
        if s == "app" { SenderKind::App } else { SenderKind::User }
    }
}

/// An inline button as stored: the label users see and the data only the
/// sending app gets back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredButton {
    /// Text on the button.
    pub label: String,
    /// Opaque data delivered to the app when pressed.
    pub data: String,
}

/// One message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its id (a UUIDv7: ids sort by time).
    pub id: String,
    /// The chat it is in.
    pub chat_id: String,
    /// Person or app.
    pub sender_kind: SenderKind,
    /// Account id or app id.
    pub sender_id: String,
    /// Its text.
    pub text: String,
    /// Rows of inline buttons.
    pub buttons: Vec<Vec<StoredButton>>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last edit, unix ms.
    pub edited_at: Option<i64>,
    /// Deletion time, unix ms.
    pub deleted_at: Option<i64>,
    /// What the host rendered this message for (`invoice`), if the host
    /// made it on an app's behalf; such messages cannot be edited or
    /// deleted by the app.
    pub host_kind: Option<String>,
    /// Its place in the chat event log (commit order); what `?after=`
    /// pages by. Set when it is stored.
    pub seq: i64,
    /// Its files (at most 10), in order; emptied when it is deleted.
    pub attachments: Vec<Attachment>,
}

/// `host_kind` of an invoice's message.
pub const HOST_KIND_INVOICE: &str = "invoice";

pub(super) const COLUMNS: &str = "id, chat_id, sender_kind, sender_id, text, buttons, created_at, edited_at, deleted_at, host_kind, seq, attachments";

pub(super) fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<Message> {
    let kind: String = row.try_get("sender_kind")?;
    let buttons: String = row.try_get("buttons")?;
    Ok(Message {
        id: row.try_get("id")?,
        chat_id: row.try_get("chat_id")?,
        sender_kind: SenderKind::parse(&kind),
        sender_id: row.try_get("sender_id")?,
        text: row.try_get("text")?,
        buttons: from_json(&buttons)?,
        created_at: row.try_get("created_at")?,
        edited_at: row.try_get("edited_at")?,
        deleted_at: row.try_get("deleted_at")?,
        host_kind: row.try_get("host_kind")?,
        seq: row.try_get::<Option<i64>, _>("seq")?.unwrap_or(0),
        attachments: from_json(&row.try_get::<String, _>("attachments")?)?,
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The columns every message insert lists, in the order [`bind_message`] binds them.
const INSERT_COLUMNS: &str =
    "id, chat_id, sender_kind, sender_id, text, buttons, created_at, host_kind, seq, attachments";

/// Binds the columns of `m`, in the order of [`INSERT_COLUMNS`].
fn bind_message<'q>(query: AnyQuery<'q>, m: &'q Message) -> AnyQuery<'q> {
    query
        .bind(&m.id)
        .bind(&m.chat_id)
        .bind(m.sender_kind.as_str())
        .bind(&m.sender_id)
        .bind(&m.text)
        .bind(to_json(&m.buttons))
        .bind(m.created_at)
        .bind(m.host_kind.as_deref())
        .bind(m.seq)
        .bind(to_json(&m.attachments))
}

/// Who may send a message [`insert_logged`] stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// An app, through the host (checked before).
    App,
    /// A person, stored only if a member of the chat (checked in the same
    /// statement).
    Member,
}

/// Numbers `m` (the next number of the chat events' counter, as
/// [`super::chat_events::reserve`] takes, set in `m.seq`), stores it and
/// logs its `message.new` chat event under that number: in the caller's
/// transaction, in one round trip to the database (on SQLite three
/// statements sent together, on PostgreSQL one with data-modifying
/// `WITH`s, then the `NOTIFY` of new events). `false`, and nothing stored, when `sender` is
/// [`Sender::Member`] and the sender is not a member of the chat (the
/// number may be used up: the caller rolls back).
pub async fn insert_logged(conn: &mut AnyConnection, m: &mut Message, sender: Sender) -> StoreResult<bool> {
    let member = (sender == Sender::Member).then_some(MEMBER);
    // `$9`, the message's number, is bound but the counter's is stored.
    let values = "$1, $2, $3, $4, $5, $6, $7, $8, seq.value, $10";
    let event = "INSERT INTO chat_events (seq, chat_id, kind, message_id, account_id, at)";
    let postgres = conn.backend_name() == "PostgreSQL";
    let sql = if postgres {
        let only = member.map(|check| format!(" WHERE {check}")).unwrap_or_default();
        format!(
            "WITH seq AS (UPDATE event_counter SET value = value + 1 WHERE id = 1 RETURNING value), \
             m AS (INSERT INTO messages ({INSERT_COLUMNS}) SELECT {values} FROM seq{only} RETURNING id, seq) \
             {event} SELECT m.seq, $2, $11, m.id, NULL, $12 FROM m RETURNING seq"
        )
    } else {
        sqlite_insert_logged(member).join("; ")
    };
    let logged: Option<i64> = bind_message(sqlx::query(&sql), m)
        .bind(super::chat_events::MESSAGE_NEW)
        .bind(now_ms())
        // All rows: the Any driver's `fetch_optional` on SQLite looks at
        // the first statement's answer only.
        .fetch_all(&mut *conn)
        .await?
        .first()
        .map(|row| row.try_get(0))
        .transpose()?;
    if postgres {
        super::notify::announce(conn, super::notify::EVENTS).await?;
    }
    match logged {
        Some(seq) => {
            m.seq = seq;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The check that a member's message is stored only while its sender is a
/// member of its chat (`$2` the chat, `$4` the sender).
const MEMBER: &str = "EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $2 AND account_id = $4)";

/// [`insert_logged`]'s three statements on SQLite, `member` the check of
/// a member's message (`$1`–`$10` the message's columns as
/// [`bind_message`] binds them, `$11` the event's kind, `$12` now).
fn sqlite_insert_logged(member: Option<&str>) -> [String; 3] {
    let values = "$1, $2, $3, $4, $5, $6, $7, $8, seq.value, $10";
    let only = member.map(|check| format!(" AND {check}")).unwrap_or_default();
    [
        "UPDATE event_counter SET value = value + 1 WHERE id = 1".to_string(),
        format!(
            "INSERT INTO messages ({INSERT_COLUMNS}) SELECT {values} FROM event_counter seq WHERE seq.id = 1{only}"
        ),
        // `changes()`: the rows the statement before changed (0 or 1).
        "INSERT INTO chat_events (seq, chat_id, kind, message_id, account_id, at) \
         SELECT seq.value, $2, $11, $1, NULL, $12 FROM event_counter seq WHERE seq.id = 1 AND changes() = 1 \
         RETURNING seq"
            .to_string(),
    ]
}

/// [`insert_logged`] on SQLite's direct connection (see [`super::direct`]).
///
/// # Errors
///
/// What SQLite answered.
pub fn insert_logged_direct(conn: &rusqlite::Connection, m: &mut Message, sender: Sender) -> StoreResult<bool> {
    use rusqlite::types::Value;
    let args = [
        super::direct::text(&m.id),
        super::direct::text(&m.chat_id),
        super::direct::text(m.sender_kind.as_str()),
        super::direct::text(&m.sender_id),
        super::direct::text(&m.text),
        Value::Text(to_json(&m.buttons)),
        Value::Integer(m.created_at),
        super::direct::opt_text(m.host_kind.as_deref()),
        Value::Integer(m.seq),
        Value::Text(to_json(&m.attachments)),
        super::direct::text(super::chat_events::MESSAGE_NEW),
        Value::Integer(now_ms()),
    ];
    let [count, message, event] = sqlite_insert_logged((sender == Sender::Member).then_some(MEMBER));
    super::direct::execute(conn, &count, &args)?;
    super::direct::execute(conn, &message, &args)?;
    match super::direct::query_one::<i64>(conn, &event, &args)? {
        Some(seq) => {
            m.seq = seq;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Messages of `chat` in commit order: those stored after message `after`,
/// or without `after` the newest `limit`.
pub async fn list(db: &Db, chat: &str, after: Option<&str>, limit: u32) -> StoreResult<Vec<Message>> {
    let limit = i64::from(limit);
    let rows = match after {
        Some(after) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM messages WHERE chat_id = $1 \
                 AND seq > (SELECT seq FROM messages WHERE id = $2 AND chat_id = $1) ORDER BY seq ASC LIMIT $3"
            ))
            .bind(chat)
            .bind(after)
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            let mut rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM messages WHERE chat_id = $1 ORDER BY seq DESC LIMIT $2"
            ))
            .bind(chat)
            .bind(limit)
            .fetch_all(db.pool())
            .await?;
            rows.reverse();
            rows
        }
    };
    rows.iter().map(from_row).collect()
}

/// The message `id` in `chat`.
pub async fn get(db: &Db, chat: &str, id: &str) -> StoreResult<Option<Message>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM messages WHERE chat_id = $1 AND id = $2"
    ))
    .bind(chat)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Replaces text and buttons of message `id`; false if it is gone.
pub async fn edit(
    conn: &mut AnyConnection,
    id: &str,
    text: &str,
    buttons: &[Vec<StoredButton>],
    at: i64,
) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE messages SET text = $1, buttons = $2, edited_at = $3 WHERE id = $4 AND deleted_at IS NULL")
            .bind(text)
            .bind(to_json(&buttons))
            .bind(at)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks message `id` deleted (its text, buttons and attachments are
/// cleared; the id stays) and deletes its files, whose bytes are freed in
/// the background once nothing else uses them.
pub async fn delete(conn: &mut AnyConnection, id: &str, at: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE messages SET text = '', buttons = '[]', attachments = '[]', deleted_at = $1 \
         WHERE id = $2 AND deleted_at IS NULL",
    )
    .bind(at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    files::release_message(conn, id).await?;
    Ok(true)
}

/// The message `id`, in any chat.
pub async fn by_id(db: &Db, id: &str) -> StoreResult<Option<Message>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM messages WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The messages `ids` (those that exist), by id.
pub async fn by_ids(db: &Db, ids: &[String]) -> StoreResult<HashMap<String, Message>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(db.pool()).await? {
            let m = from_row(&row)?;
            out.insert(m.id.clone(), m);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chat_events;

    fn message(chat: &str, sender_kind: SenderKind, sender: &str, seq: i64) -> Message {
        Message {
            id: crate::store::new_id(),
            chat_id: chat.to_string(),
            sender_kind,
            sender_id: sender.to_string(),
            text: "hi".into(),
            buttons: Vec::new(),
            created_at: now_ms(),
            edited_at: None,
            deleted_at: None,
            host_kind: None,
            seq,
            attachments: Vec::new(),
        }
    }

    /// Stores `m` as `sender` in a transaction of its own.
    async fn store(db: &Db, mut m: Message, sender: Sender) -> (bool, Message) {
        let mut tx = db.begin_write().await.expect("tx");
        let stored = insert_logged(&mut tx, &mut m, sender).await.expect("insert");
        tx.commit().await.expect("commit");
        (stored, m)
    }

    /// The chat events of messages logged: (seq, chat, kind, message).
    async fn events(db: &Db) -> Vec<(i64, String, String, Option<String>)> {
        sqlx::query_as(
            "SELECT seq, chat_id, kind, message_id FROM chat_events WHERE message_id IS NOT NULL ORDER BY seq",
        )
        .fetch_all(db.pool())
        .await
        .expect("events")
    }

    #[tokio::test]
    async fn a_stored_message_logs_its_event_under_its_number_and_a_refused_one_neither() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let member = crate::store::accounts::create(&db, "m", None, "hash-m")
            .await
            .expect("account");
        let outsider = crate::store::accounts::create(&db, "o", None, "hash-o")
            .await
            .expect("account");
        let chat = crate::store::chats::create(&db, "c", &member.id, &[])
            .await
            .expect("chat");

        let (stored, posted) = store(&db, message(&chat.id, SenderKind::User, &member.id, 0), Sender::Member).await;
        assert!(stored, "a member's message is stored");
        let (stored, _) = store(
            &db,
            message(&chat.id, SenderKind::User, &outsider.id, 0),
            Sender::Member,
        )
        .await;
        assert!(!stored, "an outsider's message is refused");
        let (stored, sent) = store(&db, message(&chat.id, SenderKind::App, "app", 0), Sender::App).await;
        assert!(stored, "an app's message is stored");

        let kept: Vec<(String, i64)> = sqlx::query_as("SELECT id, seq FROM messages ORDER BY seq")
            .fetch_all(db.pool())
            .await
            .expect("messages");
        assert_eq!(kept, [(posted.id.clone(), posted.seq), (sent.id.clone(), sent.seq)]);
        let joined: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM chat_events WHERE message_id IS NULL")
            .fetch_one(db.pool())
            .await
            .expect("the creator's joining");
        assert_eq!(posted.seq, joined + 1, "the counter's next number");
        assert!(sent.seq > posted.seq, "numbers follow the order of stores");
        assert_eq!(chat_events::last(&db).await.expect("last"), sent.seq);
        let logged = events(&db).await;
        let new = chat_events::MESSAGE_NEW.to_string();
        assert_eq!(
            logged,
            [
                (posted.seq, chat.id.clone(), new.clone(), Some(posted.id)),
                (sent.seq, chat.id.clone(), new, Some(sent.id)),
            ],
            "one event per stored message, numbered as it, none for the refused one"
        );
    }
}
