//! Joining and leaving chats: contacts, invitations, leaving, removal. Two
//! accounts are contacts when they share a chat. Someone who already
//! shares a chat with every member of a chat is added at once (nobody
//! meets anyone new); anyone else is invited and joins only by accepting.
//! Anyone leaves; only the chat's creator removes others. Each join and
//! departure queues a lifecycle event for the chat's apps in its own
//! transaction (see [`jobs::enqueue_lifecycle`]).

use sqlx::{AnyConnection, Row};

use super::chat_events::{self, MEMBER_JOINED, MEMBER_LEFT, NewEvent};
use super::jobs;
use super::{Db, StoreResult, WriteTx, now_ms};
use crate::sandbox::BotEvent;

/// A pending invitation, as the invitee sees it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// The chat.
    pub chat: String,
    /// Its title.
    pub title: String,
    /// Who invited.
    pub invited_by: String,
    /// Their display name.
    pub invited_by_name: String,
    /// When, unix ms.
    pub created_at: i64,
}

/// Whether `account` shares a chat with every other member of `chat`, so
/// joining it introduces them to nobody.
pub async fn knows_every_member(db: &Db, chat: &str, account: &str) -> StoreResult<bool> {
    knows_every_member_in(&mut *db.pool().acquire().await?, chat, account).await
}

/// [`knows_every_member`] on `conn` (in a transaction, it sees the
/// transaction's own members).
pub async fn knows_every_member_in(conn: &mut AnyConnection, chat: &str, account: &str) -> StoreResult<bool> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM chat_members m WHERE m.chat_id = $1 AND m.account_id <> $2 AND NOT EXISTS \
         (SELECT 1 FROM chat_members x JOIN chat_members y ON y.chat_id = x.chat_id \
          WHERE x.account_id = m.account_id AND y.account_id = $2) LIMIT 1",
    )
    .bind(chat)
    .bind(account)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_none())
}

/// Makes `account` a member of `chat`, added by member `by`; `false`, and
/// nothing done, if it is one already (say, a concurrent add came first).
pub async fn add(db: &Db, chat: &str, account: &str, by: &str) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let joined = join(&mut tx, chat, account, Some(by)).await?;
    tx.commit().await?;
    Ok(joined)
}

/// Inserts the membership row, queues `member_joined` for the chat's apps
/// and logs `member.joined`; `false` (and nothing done) if it is there.
async fn join(conn: &mut AnyConnection, chat: &str, account: &str, by: Option<&str>) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO chat_members (chat_id, account_id, joined_at) VALUES ($1, $2, $3) \
         ON CONFLICT (chat_id, account_id) DO NOTHING",
    )
    .bind(chat)
    .bind(account)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        let event = BotEvent::MemberJoined {
            chat: chat.to_string(),
            account: account.to_string(),
            by: by.map(str::to_string),
        };
        jobs::enqueue_lifecycle(conn, chat, &event).await?;
        chat_events::append(conn, &[NewEvent::member(MEMBER_JOINED, chat, account)]).await?;
    }
    Ok(done.rows_affected() > 0)
}

/// Invites `account` to `chat` on behalf of `by` (no-op if already invited).
pub async fn invite(db: &Db, chat: &str, account: &str, by: &str) -> StoreResult<()> {
    let mut write = db.write().await?;
    invite_in(write.on(), chat, account, by).await
}

/// [`invite`] on `conn`, in the caller's transaction.
pub async fn invite_in(conn: &mut AnyConnection, chat: &str, account: &str, by: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO chat_invitations (chat_id, account_id, invited_by, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (chat_id, account_id) DO NOTHING",
    )
    .bind(chat)
    .bind(account)
    .bind(by)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Accepts `account`'s invitation to `chat`: the invitation goes and the
/// membership comes in one transaction; false if there was none.
pub async fn accept(db: &Db, chat: &str, account: &str) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let inviter: Option<String> =
        sqlx::query_scalar("DELETE FROM chat_invitations WHERE chat_id = $1 AND account_id = $2 RETURNING invited_by")
            .bind(chat)
            .bind(account)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(inviter) = inviter else {
        return Ok(false);
    };
    join(&mut tx, chat, account, Some(&inviter)).await?;
    tx.commit().await?;
    Ok(true)
}

/// Declines `account`'s invitation to `chat`; false if there was none.
pub async fn decline(db: &Db, chat: &str, account: &str) -> StoreResult<bool> {
    let gone = sqlx::query("DELETE FROM chat_invitations WHERE chat_id = $1 AND account_id = $2")
        .bind(chat)
        .bind(account)
        .execute(db.write().await?.on())
        .await?;
    Ok(gone.rows_affected() > 0)
}

/// Takes `account` out of `chat` on their own; false if it was not a
/// member. See [`part`].
pub async fn leave(db: &Db, chat: &str, account: &str) -> StoreResult<bool> {
    let tx = db.begin_write().await?;
    part(db, tx, chat, account, None).await
}

/// How [`remove`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The member is out of the chat.
    Removed,
    /// They had only been invited: the invitation is withdrawn.
    InvitationWithdrawn,
    /// The remover is a member but not the chat's creator.
    NotAllowed,
    /// The remover is the creator; the account is neither a member nor invited.
    NoSuchMember,
    /// No such chat, or the remover is not a member of it.
    ChatNotFound,
}

/// `by` removes `account` (someone else) from `chat`. Only the chat's
/// creator (`chats.created_by`) removes members, and only while a member
/// themself; there are no other admins. Removing an invitee withdraws the
/// invitation. The checks and the removal are one transaction.
pub async fn remove(db: &Db, chat: &str, account: &str, by: &str) -> StoreResult<Removal> {
    let mut tx = db.begin_write().await?;
    let creator: Option<String> = sqlx::query_scalar(
        "SELECT c.created_by FROM chats c JOIN chat_members m ON m.chat_id = c.id \
         WHERE c.id = $1 AND m.account_id = $2",
    )
    .bind(chat)
    .bind(by)
    .fetch_optional(&mut *tx)
    .await?;
    match creator {
        None => return Ok(Removal::ChatNotFound),
        Some(creator) if creator != by => return Ok(Removal::NotAllowed),
        Some(_) => {}
    }
    if super::chats::is_member_in(&mut tx, chat, account).await? {
        part(db, tx, chat, account, Some(by)).await?;
        return Ok(Removal::Removed);
    }
    let withdrawn = sqlx::query("DELETE FROM chat_invitations WHERE chat_id = $1 AND account_id = $2")
        .bind(chat)
        .bind(account)
        .execute(&mut *tx)
        .await?;
    if withdrawn.rows_affected() == 0 {
        return Ok(Removal::NoSuchMember);
    }
    tx.commit().await?;
    Ok(Removal::InvitationWithdrawn)
}

/// Takes `account` out of `chat` (removed by `by`, or leaving when it is
/// `None`) in `tx`: queues `member_left` for the chat's apps, logs
/// `member.left` and commits; false if it was not a member. A revocation
/// (see [`super::revocations`]): when this returns, no node serves the
/// former member's web-app sessions of the chat from a cache, and their
/// events sockets of the chat close on the `member.left`.
async fn part(db: &Db, mut tx: WriteTx, chat: &str, account: &str, by: Option<&str>) -> StoreResult<bool> {
    let gone = sqlx::query("DELETE FROM chat_members WHERE chat_id = $1 AND account_id = $2")
        .bind(chat)
        .bind(account)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Ok(false);
    }
    let event = BotEvent::MemberLeft {
        chat: chat.to_string(),
        account: account.to_string(),
        by: by.map(str::to_string),
    };
    jobs::enqueue_lifecycle(&mut tx, chat, &event).await?;
    chat_events::append(&mut tx, &[NewEvent::member(MEMBER_LEFT, chat, account)]).await?;
    super::revocations::commit(db, tx).await?;
    Ok(true)
}

/// `account`'s pending invitations, newest first.
pub async fn pending(db: &Db, account: &str) -> StoreResult<Vec<Invitation>> {
    let rows = sqlx::query(
        "SELECT i.chat_id, c.title, i.invited_by, a.name, i.created_at FROM chat_invitations i \
         JOIN chats c ON c.id = i.chat_id JOIN accounts a ON a.id = i.invited_by \
         WHERE i.account_id = $1 ORDER BY i.created_at DESC LIMIT 500",
    )
    .bind(account)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Invitation {
                chat: r.try_get("chat_id")?,
                title: r.try_get("title")?,
                invited_by: r.try_get("invited_by")?,
                invited_by_name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Accounts invited to `chat` and not yet answered.
pub async fn invited(db: &Db, chat: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT account_id FROM chat_invitations WHERE chat_id = $1 ORDER BY created_at")
        .bind(chat)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("account_id")?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{accounts, chats};

    #[tokio::test]
    async fn adding_a_member_twice_joins_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let alice = accounts::create(&db, "Alice", None, "a").await.expect("alice");
        let bob = accounts::create(&db, "Bob", None, "b").await.expect("bob");
        let chat = chats::create(&db, "Trip", &alice.id, &[]).await.expect("chat");
        assert!(
            add(&db, &chat.id, &bob.id, &alice.id).await.expect("add"),
            "the first add joins"
        );
        // The second, as one running at once with the first would, finds the row.
        assert!(!add(&db, &chat.id, &bob.id, &alice.id).await.expect("add again"));
        let logged = chat_events::after(&db, 0, 100).await.expect("events");
        let joins = logged
            .iter()
            .filter(|e| e.chat == chat.id && e.kind == MEMBER_JOINED && e.account.as_deref() == Some(bob.id.as_str()))
            .count();
        assert_eq!(joins, 1, "one member.joined event");
    }
}
