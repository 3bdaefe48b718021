//! Sending messages. Needs the `messaging.send` grant.

use crate::bindings::miniapp::platform::messaging as types;
use crate::sys::messaging as wit;
use crate::{Button, Error, OutgoingMessage};

/// Sends `text` into `chat`; returns the new message's id.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let id = miniapp_sdk::messaging::send("chat-1", "Hello")?;
/// # Ok(()) }).unwrap();
/// ```
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
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::messaging::send_with_buttons("chat-1", "Lunch?", &[&[("Pizza", "p"), ("Sushi", "s")]])?;
/// # Ok(()) }).unwrap();
/// ```
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
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use miniapp_sdk::messaging;
/// let message = messaging::with_buttons("Lunch?", &[vec![("Pizza".into(), "p".into())]]);
/// messaging::send_message("chat-1", &message)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn send_message(chat: &str, message: &OutgoingMessage) -> Result<String, Error> {
    wit::send(chat, message)
}

pub use types::{ChatMessage, Sender};

/// Replaces the text of one of this app's own messages (buttons removed).
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use miniapp_sdk::messaging;
/// let id = messaging::send("chat-1", "Counting…")?;
/// messaging::edit(&id, "Counted: 3")?;
/// # Ok(()) }).unwrap();
/// ```
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
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use miniapp_sdk::messaging;
/// let id = messaging::send("chat-1", "Votes: 0")?;
/// messaging::edit_message(&id, &messaging::with_buttons("Votes: 1", &[vec![("+1".into(), "up".into())]]))?;
/// # Ok(()) }).unwrap();
/// ```
pub fn edit_message(id: &str, message: &OutgoingMessage) -> Result<(), Error> {
    wit::edit(id, message)
}

/// Deletes one of this app's own messages.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use miniapp_sdk::messaging;
/// let id = messaging::send("chat-1", "Temporary")?;
/// messaging::delete(&id)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn delete(id: &str) -> Result<(), Error> {
    wit::delete(id)
}

/// The chat's most recent messages (at most 100), oldest first. Needs `messaging.read`.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.read");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// for m in miniapp_sdk::messaging::history("chat-1", 20)? {
///     println!("{:?}: {}", m.sender, m.text);
/// }
/// # Ok(()) }).unwrap();
/// ```
pub fn history(chat: &str, limit: u32) -> Result<Vec<ChatMessage>, Error> {
    wit::history(chat, limit)
}

/// Sends `text` to the user who caused the current event, in their direct chat with this app.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.send");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::messaging::send_direct("Only you see this")?;
/// # Ok(()) }).unwrap();
/// ```
pub fn send_direct(text: &str) -> Result<String, Error> {
    wit::send_direct(&OutgoingMessage {
        text: text.to_string(),
        buttons: Vec::new(),
    })
}

/// Builds a message with rows of `(label, data)` buttons.
///
/// ```
/// let m = miniapp_sdk::messaging::with_buttons("Pick", &[vec![("A".into(), "a".into()), ("B".into(), "b".into())]]);
/// assert_eq!(m.buttons[0][1].data, "b");
/// ```
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
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("messaging.read");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let members = miniapp_sdk::messaging::members("chat-1")?;
/// assert_eq!(members, ["alice"]);
/// # Ok(()) }).unwrap();
/// ```
pub fn members(chat: &str) -> Result<Vec<String>, Error> {
    wit::members(chat)
}
