//! Sending messages. Needs the `messaging.send` grant.

use crate::bindings::miniapp::platform::messaging as wit;
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
pub fn send_with_buttons(
    chat: &str,
    text: &str,
    rows: &[&[(&str, &str)]],
) -> Result<String, Error> {
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
