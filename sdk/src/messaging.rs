//! Sending messages. Needs the `messaging.send` grant.

use crate::bindings::miniapp::platform::messaging as types;
use crate::sys::messaging as wit;
use crate::{Button, Error, OutgoingMessage};

/// Sends `text` into `chat`; returns the new message's id.
pub fn send(chat: &str, text: &str) -> Result<String, Error> {
    send_message(
        chat,
        &OutgoingMessage {
            text: text.to_string(),
            buttons: Vec::new(),
        },
    )
}

/// Sends `text` with rows of inline buttons, each `(label, data)`.
pub fn send_with_buttons(chat: &str, text: &str, rows: &[&[(&str, &str)]]) -> Result<String, Error> {
    let buttons = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|(label, data)| Button {
                    label: label.to_string(),
                    data: data.to_string(),
                })
                .collect()
        })
        .collect();
    send_message(
        chat,
        &OutgoingMessage {
            text: text.to_string(),
            buttons,
        },
    )
}

/// Sends a fully built message.
pub fn send_message(chat: &str, message: &OutgoingMessage) -> Result<String, Error> {
    wit::send(chat, message)
}

pub use types::{ChatMessage, Sender};

/// Replaces the text of one of this app's own messages (buttons removed).
pub fn edit(id: &str, text: &str) -> Result<(), Error> {
    edit_message(
        id,
        &OutgoingMessage {
            text: text.to_string(),
            buttons: Vec::new(),
        },
    )
}

/// Replaces text and buttons of one of this app's own messages.
pub fn edit_message(id: &str, message: &OutgoingMessage) -> Result<(), Error> {
    wit::edit(id, message)
}

/// Deletes one of this app's own messages.
pub fn delete(id: &str) -> Result<(), Error> {
    wit::delete(id)
}

/// The chat's most recent messages (at most 100), oldest first. Needs `messaging.read`.
pub fn history(chat: &str, limit: u32) -> Result<Vec<ChatMessage>, Error> {
    wit::history(chat, limit)
}

/// Sends `text` to the user who caused the current event, in their direct chat with this app.
pub fn send_direct(text: &str) -> Result<String, Error> {
    wit::send_direct(&OutgoingMessage {
        text: text.to_string(),
        buttons: Vec::new(),
    })
}

/// Builds a message with rows of `(label, data)` buttons.
pub fn with_buttons(text: &str, rows: &[Vec<(String, String)>]) -> OutgoingMessage {
    let buttons = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|(label, data)| Button {
                    label: label.clone(),
                    data: data.clone(),
                })
                .collect()
        })
        .collect();
    OutgoingMessage {
        text: text.to_string(),
        buttons,
    }
}

/// App-scoped ids of the chat's members. Needs `messaging.read`.
pub fn members(chat: &str) -> Result<Vec<String>, Error> {
    wit::members(chat)
}
