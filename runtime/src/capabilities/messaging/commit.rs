//! Committing an invocation's messages: each one sent, edited and deleted
//! is stored and logged as a chat event numbered in commit order.

use sqlx::AnyConnection;

use crate::capabilities::OutboxOp;
use crate::capabilities::messaging::OutgoingMessage;
use crate::store::chat_events::{self, MESSAGE_DELETED, MESSAGE_EDITED, NewEvent};
use crate::store::messages::{self, Message, SenderKind};
use crate::store::{StoreError, StoreResult, now_ms};

/// Stores what an invocation sent, edited and deleted, in order, and logs
/// each as a chat event, in the caller's transaction; how many events.
pub async fn apply_ops(tx: &mut AnyConnection, app: &str, ops: Vec<OutboxOp>) -> StoreResult<usize> {
    if ops.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    // Each op that changes something takes the next number once applied,
    // so numbers follow the ops' order; one that changes nothing (an edit
    // of a message deleted meanwhile) takes none.
    let mut events = 0;
    for op in ops {
        let event = match op {
            OutboxOp::Send(m) => {
                let mut message = app_message(app, m, now);
                // Numbered, stored and logged in one round trip.
                if !messages::insert_logged(tx, &mut message, messages::Sender::App).await? {
                    return Err(StoreError::Corrupt("the chat events' counter is missing".into()));
                }
                events += 1;
                continue;
            }
            OutboxOp::Edit(m) => messages::edit(tx, &m.id, &m.text, &m.buttons, now)
                .await?
                .then(|| NewEvent::message(MESSAGE_EDITED, &m.chat, &m.id)),
            OutboxOp::Delete { id, chat } => messages::delete(tx, &id, now)
                .await?
                .then(|| NewEvent::message(MESSAGE_DELETED, &chat, &id)),
        };
        if let Some(event) = event {
            chat_events::append(tx, std::slice::from_ref(&event)).await?;
            events += 1;
        }
    }
    Ok(events)
}

/// The message `m` that `app` sends, as stored (numbered when stored).
fn app_message(app: &str, m: OutgoingMessage, now: i64) -> Message {
    Message {
        id: m.id,
        chat_id: m.chat,
        sender_kind: SenderKind::App,
        sender_id: app.to_string(),
        text: m.text,
        buttons: m.buttons,
        created_at: now,
        edited_at: None,
        deleted_at: None,
        host_kind: m.host_kind.map(str::to_string),
        seq: 0,
        attachments: m.attachments,
    }
}

/// Whether [`apply_direct`] stores `ops`: messages sent, with no files.
pub fn suits_direct(ops: &[OutboxOp]) -> bool {
    ops.iter()
        .all(|op| matches!(op, OutboxOp::Send(m) if m.attachments.is_empty()))
}

/// [`apply_ops`] of ops that [`suits_direct`], on SQLite's direct
/// connection (see [`crate::store::direct`]); how many events.
///
/// # Errors
///
/// What SQLite answered; [`StoreError::Corrupt`] for an op it does not
/// store.
pub fn apply_direct(conn: &rusqlite::Connection, app: &str, ops: &[OutboxOp]) -> StoreResult<usize> {
    let now = now_ms();
    for op in ops {
        let OutboxOp::Send(m) = op else {
            return Err(StoreError::Corrupt("only sent messages are stored directly".into()));
        };
        if !messages::insert_logged_direct(conn, &mut app_message(app, m.clone(), now), messages::Sender::App)? {
            return Err(StoreError::Corrupt("the chat events' counter is missing".into()));
        }
    }
    Ok(ops.len())
}
