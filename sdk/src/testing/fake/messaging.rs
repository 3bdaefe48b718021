//! `messaging` (`capabilities/messaging/mod.rs`): grants `messaging.send`
//! and `messaging.read`; chats open to the app; text and button limits;
//! 20 messages per invocation, 60 per chat per minute.

use super::check_size;
use crate::bindings::miniapp::platform::messaging::{ChatMessage, Sender};
use crate::testing::state::{self, Invocation};
use crate::testing::{Sent, SentKind, text};
use crate::{Button, Error, OutgoingMessage};

const CHAT_CLOSED: &str =
    "a chat not open to the app (not installed there, or a user's direct chat outside an event of theirs)";

/// The host's checks of an outgoing message; its rows without empty ones.
pub(crate) fn check_message(inv: &Invocation, message: &OutgoingMessage) -> Result<Vec<Vec<Button>>, Error> {
    let limits = &inv.world.limits;
    check_size("message text", message.text.len(), limits.max_message_bytes)?;
    text::check_visible("message text", &message.text).map_err(Error::Invalid)?;
    let count: usize = message.buttons.iter().map(Vec::len).sum();
    if count > limits.max_buttons {
        return Err(Error::TooLarge(format!(
            "{count} buttons; the limit is {}",
            limits.max_buttons
        )));
    }
    for b in message.buttons.iter().flatten() {
        check_size("button label", b.label.len(), limits.max_button_label_bytes)?;
        check_size("button data", b.data.len(), limits.max_button_data_bytes)?;
        text::check_line("button label", &b.label).map_err(Error::Invalid)?;
    }
    Ok(message.buttons.iter().filter(|r| !r.is_empty()).cloned().collect())
}

fn open(inv: &mut Invocation, capability: &str, chat: &str) -> Result<(), Error> {
    if inv.chat_open(chat) {
        Ok(())
    } else {
        inv.deny(capability, CHAT_CLOSED);
        Err(Error::NotFound)
    }
}

/// Checks `message` and the budgets, then queues it for `chat` as `kind`.
pub(crate) fn queue(
    inv: &mut Invocation,
    chat: &str,
    message: &OutgoingMessage,
    kind: SentKind,
) -> Result<String, Error> {
    let buttons = check_message(inv, message)?;
    inv.reserve_send(chat)?;
    let id = inv.world.new_id("msg");
    inv.post(Sent {
        id: id.clone(),
        chat: chat.to_string(),
        text: message.text.clone(),
        buttons,
        files: Vec::new(),
        kind,
        edited: false,
        deleted: false,
    });
    Ok(id)
}

pub(crate) fn send(chat: &str, message: &OutgoingMessage) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("messaging.send")?;
        check_message(inv, message)?;
        open(inv, "messaging.send", chat)?;
        queue(inv, chat, message, SentKind::Chat)
    })
}

/// The app's own live message `id`, for edit and delete.
fn own(inv: &mut Invocation, id: &str) -> Result<usize, Error> {
    let found = inv
        .work
        .posts
        .iter()
        .position(|p| p.sender.is_none() && p.message.id == id && !p.message.deleted)
        .ok_or(Error::NotFound)?;
    if let SentKind::Invoice(_) = inv.work.posts[found].message.kind {
        return Err(Error::Invalid(format!(
            "message {id} shows an invoice the host rendered; only the host changes it (cancel the invoice instead)"
        )));
    }
    Ok(found)
}

pub(crate) fn edit(id: &str, message: &OutgoingMessage) -> Result<(), Error> {
    state::with(|inv| {
        inv.require("messaging.send")?;
        let buttons = check_message(inv, message)?;
        let at = own(inv, id)?;
        let post = &mut inv.work.posts[at].message;
        post.text = message.text.clone();
        post.buttons = buttons;
        post.edited = true;
        Ok(())
    })
}

pub(crate) fn delete(id: &str) -> Result<(), Error> {
    state::with(|inv| {
        inv.require("messaging.send")?;
        let at = own(inv, id)?;
        inv.work.posts[at].message.deleted = true;
        Ok(())
    })
}

pub(crate) fn history(chat: &str, limit: u32) -> Result<Vec<ChatMessage>, Error> {
    state::with(|inv| {
        inv.require("messaging.read")?;
        open(inv, "messaging.read", chat)?;
        let app = inv.world.app.clone();
        let live: Vec<_> = inv
            .work
            .posts
            .iter()
            .filter(|p| p.message.chat == chat && !p.message.deleted)
            .collect();
        let limit = limit.clamp(1, crate::limits::HISTORY_LIMIT) as usize;
        Ok(live[live.len().saturating_sub(limit)..]
            .iter()
            .map(|p| ChatMessage {
                id: p.message.id.clone(),
                sender: match &p.sender {
                    Some(user) => Sender::User(user.clone()),
                    None => Sender::App(app.clone()),
                },
                text: p.message.text.clone(),
                created_at: p.created_at,
                edited: p.message.edited,
            })
            .collect())
    })
}

pub(crate) fn members(chat: &str) -> Result<Vec<String>, Error> {
    state::with(|inv| {
        inv.require("messaging.read")?;
        open(inv, "messaging.read", chat)?;
        Ok(inv.world.chats.get(chat).map(|c| c.members.clone()).unwrap_or_default())
    })
}

pub(crate) fn send_direct(message: &OutgoingMessage) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("messaging.send")?;
        let user = inv.cx.user.clone().ok_or(Error::NotFound)?;
        let chat = crate::testing::direct_chat(&user);
        queue(inv, &chat, message, SentKind::Direct(user))
    })
}
