//! Chat messages. Inline-button data is kept here, host-side, and never
//! leaves through the API.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::files::{self, Attachment};
use super::{Db, StoreResult, from_json, to_json};

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

/// Stores `messages` (each with its `seq` set), in the caller's transaction.
pub async fn insert_all(conn: &mut AnyConnection, messages: &[Message]) -> StoreResult<()> {
    // One multi-row statement (one round trip to the database) per 500 messages.
    const BATCH: usize = 500;
    for batch in messages.chunks(BATCH) {
        insert_batch(&mut *conn, batch).await?;
    }
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The columns every message insert lists, in the order [`bind_message`] binds them.
const INSERT_COLUMNS: &str =
    "id, chat_id, sender_kind, sender_id, text, buttons, created_at, host_kind, seq, attachments";
const INSERT_ARITY: usize = 10;

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

async fn insert_batch<'e>(exec: impl sqlx::Executor<'e, Database = sqlx::Any>, batch: &[Message]) -> StoreResult<()> {
    let rows: Vec<String> = (0..batch.len())
        .map(|i| {
            let placeholders: Vec<String> = (1..=INSERT_ARITY)
                .map(|k| format!("${}", i * INSERT_ARITY + k))
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    let sql = format!("INSERT INTO messages ({INSERT_COLUMNS}) VALUES {}", rows.join(", "));
    let mut query = sqlx::query(&sql);
    for m in batch {
        query = bind_message(query, m);
    }
    query.execute(exec).await?;
    Ok(())
}

/// Stores a person's message only if its sender is a member of its chat
/// (checked in the same statement); `false` if not.
pub async fn insert_from_member(conn: &mut AnyConnection, m: &Message) -> StoreResult<bool> {
    let sql = format!(
        "INSERT INTO messages ({INSERT_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
         WHERE EXISTS (SELECT 1 FROM chat_members WHERE chat_id = $2 AND account_id = $4)"
    );
    let done = bind_message(sqlx::query(&sql), m).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
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
