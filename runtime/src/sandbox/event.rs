//! Events as services describe them, turned into the WIT types here.

use crate::capabilities::bindings::exports::miniapp::platform::handler as wit;

/// An event for a bot.
#[derive(Debug, Clone)]
pub enum BotEvent {
    /// A message in a chat where the app is installed.
    Message {
        /// The chat.
        chat: String,
        /// The message id.
        message: String,
        /// Its text.
        text: String,
    },
    /// A press on one of the app's inline buttons.
    Button {
        /// The chat.
        chat: String,
        /// The message the button is under.
        message: String,
        /// The button's data.
        data: String,
    },
}

impl BotEvent {
    pub(super) fn into_wit(self) -> wit::Event {
        match self {
            BotEvent::Message {
                chat,
                message,
                text,
            } => wit::Event::Message(wit::MessageEvent {
                chat,
                message,
                text,
            }),
            BotEvent::Button {
                chat,
                message,
                data,
            } => wit::Event::Button(wit::ButtonEvent {
                chat,
                message,
                data,
            }),
        }
    }
}
