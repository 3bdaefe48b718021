//! Chats and their members.

use sqlx::Row;

use super::chat_events::{self, MEMBER_JOINED, NewEvent};
use super::{Db, StoreResult, new_id, now_ms};

/// One chat.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Chat {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Who created it.
    pub created_by: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Account ids of its members.
    pub members: Vec<String>,
}

/// Creates a chat with `creator` and `members` (duplicates ignored) in one transaction.
pub async fn create(db: &Db, title: &str, creator: &str, members: &[String]) -> StoreResult<Chat> {
    make(db, title, creator, members, false).await
}

/// Creates a chat of `creator` with `candidates`, all in one transaction
/// (so a failure leaves no chat with part of its members): each candidate
/// in turn who already shares a chat with every member so far joins; the
/// others are invited (see [`super::membership`]). Answers the chat with
/// its members.
pub async fn create_inviting(db: &Db, title: &str, creator: &str, candidates: &[String]) -> StoreResult<Chat> {
    make(db, title, creator, candidates, true).await
}

/// The chat, its members (and with `invite_strangers` its invitations)
/// and their `member.joined` events, in one transaction.
async fn make(db: &Db, title: &str, creator: &str, candidates: &[String], invite_strangers: bool) -> StoreResult<Chat> {
    let id = new_id();
    let now = now_ms();
    let mut members: Vec<String> = vec![creator.to_string()];
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO chats (id, title, created_by, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(title)
        .bind(creator)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    insert_member(&mut tx, &id, creator, now).await?;
    let mut invited: Vec<&String> = Vec::new();
    for m in candidates {
        if members.contains(m) || invited.contains(&m) {
            continue;
        }
        if !invite_strangers || super::membership::knows_every_member_in(&mut tx, &id, m).await? {
            insert_member(&mut tx, &id, m, now).await?;
            members.push(m.clone());
        } else {
            super::membership::invite_in(&mut tx, &id, m, creator).await?;
            invited.push(m);
        }
    }
    let joined: Vec<NewEvent> = members
        .iter()
        .map(|m| NewEvent::member(MEMBER_JOINED, &id, m))
        .collect();
    chat_events::append(&mut tx, &joined).await?;
    tx.commit().await?;
    Ok(Chat {
        id,
        title: title.to_string(),
        created_by: creator.to_string(),
        created_at: now,
        members,
    })
}

async fn insert_member(conn: &mut sqlx::AnyConnection, chat: &str, account: &str, now: i64) -> StoreResult<()> {
    sqlx::query("INSERT INTO chat_members (chat_id, account_id, joined_at) VALUES ($1, $2, $3)")
        .bind(chat)
        .bind(account)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The chat `id`, with its members.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<Chat>> {
    let Some(row) = sqlx::query("SELECT id, title, created_by, created_at FROM chats WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Chat {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        members: members(db, id).await?,
    }))
}

/// Account ids of the chat's members, in joining order.
pub async fn members(db: &Db, chat: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT account_id FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, account_id")
        .bind(chat)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("account_id")?)).collect()
}

/// [`is_member`] inside a transaction.
pub async fn is_member_in(conn: &mut sqlx::AnyConnection, chat: &str, account: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM chat_members WHERE chat_id = $1 AND account_id = $2")
        .bind(chat)
        .bind(account)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// Whether `account` is a member of `chat`.
pub async fn is_member(db: &Db, chat: &str, account: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM chat_members WHERE chat_id = $1 AND account_id = $2")
        .bind(chat)
        .bind(account)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// The chats `account` is a member of, newest first.
pub async fn for_account(db: &Db, account: &str) -> StoreResult<Vec<Chat>> {
    let rows = sqlx::query(
        "SELECT c.id, c.title, c.created_by, c.created_at FROM chats c \
         JOIN chat_members m ON m.chat_id = c.id WHERE m.account_id = $1 ORDER BY c.id DESC",
    )
    .bind(account)
    .fetch_all(db.pool())
    .await?;
    let mut chats = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        chats.push(Chat {
            title: row.try_get("title")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            members: members(db, &id).await?,
            id,
        });
    }
    Ok(chats)
}

/// The direct chat between `account` and `app`, created (with the app
/// installed) on first use. Returns its id.
pub async fn direct_chat(db: &Db, account: &str, app: &str, title: &str) -> StoreResult<String> {
    if let Some(id) = existing_direct_chat(db, account, app).await? {
        return Ok(id);
    }
    create_direct_chat(db, account, app, title).await
}

/// `account`'s direct chat with `app`, if there is one yet.
pub async fn existing_direct_chat(db: &Db, account: &str, app: &str) -> StoreResult<Option<String>> {
    let existing = sqlx::query(
        "SELECT c.id FROM chats c JOIN chat_members m ON m.chat_id = c.id \
         WHERE c.direct_app = $1 AND m.account_id = $2",
    )
    .bind(app)
    .bind(account)
    .fetch_optional(db.pool())
    .await?;
    Ok(existing.map(|row| row.try_get("id")).transpose()?)
}

async fn create_direct_chat(db: &Db, account: &str, app: &str, title: &str) -> StoreResult<String> {
    let id = new_id();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO chats (id, title, created_by, created_at, direct_app) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(title)
        .bind(account)
        .bind(now)
        .bind(app)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO chat_members (chat_id, account_id, joined_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(account)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO installs (chat_id, app_id, installed_by, installed_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(app)
        .bind(account)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    chat_events::append(&mut tx, &[NewEvent::member(MEMBER_JOINED, &id, account)]).await?;
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts;

    #[tokio::test]
    async fn a_chat_whose_members_fail_to_go_in_is_not_made_at_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let alice = accounts::create(&db, "Alice", None, "a").await.expect("alice");
        let bob = accounts::create(&db, "Bob", None, "b").await.expect("bob");
        // Bob is invited; a vanished account fails the invitation's insert.
        let candidates = [bob.id.clone(), "no-such-account".to_string()];
        assert!(create_inviting(&db, "Trip", &alice.id, &candidates).await.is_err());
        assert!(
            for_account(&db, &alice.id).await.expect("chats").is_empty(),
            "no half-made chat"
        );
        let made = create_inviting(&db, "Trip", &alice.id, &candidates[..1])
            .await
            .expect("chat");
        assert_eq!(made.members, [alice.id]);
        assert_eq!(
            super::super::membership::invited(&db, &made.id).await.expect("invited"),
            [bob.id]
        );
    }
}
