//! Which apps are installed in which chats.

use sqlx::Row;

use super::jobs::{self, Dropped};
use super::{Db, StoreResult, now_ms};
use crate::sandbox::BotEvent;

/// Installs `app` into `chat` as member `by`; installing twice is a
/// no-op. Returns whether it was newly installed. In the same
/// transaction, every app installed in the chat — `app` itself included
/// — is queued an `app_installed` event.
///
/// # Errors
///
/// A store error.
pub async fn install(db: &Db, chat: &str, app: &str, by: &str) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "INSERT INTO installs (chat_id, app_id, installed_by, installed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (chat_id, app_id) DO NOTHING",
    )
    .bind(chat)
    .bind(app)
    .bind(by)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let event = BotEvent::AppInstalled {
        chat: chat.to_string(),
        app: app.to_string(),
        by: by.to_string(),
    };
    jobs::enqueue_lifecycle(&mut tx, chat, &event).await?;
    tx.commit().await?;
    Ok(true)
}

/// Uninstalls `app` from `chat` as member `by`; `None` if it was not
/// installed. In one transaction: the install goes; the app's pending
/// events in the chat are dropped ([`jobs::drop_for_uninstall`]) and its
/// timers there deleted; the apps that remain are queued an
/// `app_removed` event. A revocation (see
/// [`super::revocations`]): when this returns, no node serves a web-app
/// session of `app` in `chat` from a cache.
///
/// # Errors
///
/// A store error.
pub async fn uninstall(db: &Db, chat: &str, app: &str, by: &str) -> StoreResult<Option<Dropped>> {
    let mut tx = db.begin_write().await?;
    // Every lane of the chat this transaction takes, in the one order.
    jobs::lock_installed(&mut tx, chat).await?;
    let done = sqlx::query("DELETE FROM installs WHERE chat_id = $1 AND app_id = $2")
        .bind(chat)
        .bind(app)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let dropped = jobs::drop_for_uninstall(&mut tx, app, chat).await?;
    // Its timers there go with it (a recurring one too).
    super::timers::delete_for_chat_in(&mut tx, app, chat).await?;
    let event = BotEvent::AppRemoved {
        chat: chat.to_string(),
        app: app.to_string(),
        by: by.to_string(),
    };
    jobs::enqueue_lifecycle(&mut tx, chat, &event).await?;
    super::revocations::commit(db, tx).await?;
    Ok(Some(dropped))
}

/// Whether `app` may act in `chat` for an invocation caused by `account`
/// (`None`: a timer, a webhook, nobody): it is installed there, and a
/// direct chat (a user's chat with the app) is open to it only when that
/// user caused the invocation — otherwise the app writes to them through
/// `notify`, which needs their consent.
pub async fn open_to(db: &Db, chat: &str, app: &str, account: Option<&str>) -> StoreResult<bool> {
    let row: Option<(Option<String>, i64)> = sqlx::query_as(
        "SELECT c.direct_app, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM chat_members m WHERE m.chat_id = c.id AND m.account_id = $3) AS mine \
         FROM installs i JOIN chats c ON c.id = i.chat_id WHERE i.chat_id = $1 AND i.app_id = $2",
    )
    .bind(chat)
    .bind(app)
    .bind(account.unwrap_or(""))
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        None => false,
        Some((None, _)) => true,
        Some((Some(_), mine)) => mine > 0,
    })
}

/// Whether `app` is installed in `chat`.
pub async fn is_installed(db: &Db, chat: &str, app: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM installs WHERE chat_id = $1 AND app_id = $2")
        .bind(chat)
        .bind(app)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// Ids of the apps installed in `chat`, in install order.
pub async fn apps_in_chat(db: &Db, chat: &str) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT app_id FROM installs WHERE chat_id = $1 ORDER BY installed_at, app_id")
        .bind(chat)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok(r.try_get("app_id")?)).collect()
}
