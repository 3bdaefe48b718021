//! Fan-out of chat events to WebSocket subscribers, one broadcast channel
//! per chat with subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use super::MessageView;

/// Something that happened in a chat.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ChatEvent {
    /// A new message.
    #[serde(rename = "message.new")]
    MessageNew(MessageView),
    /// A message's text or buttons changed (same id).
    #[serde(rename = "message.edited")]
    MessageEdited(MessageView),
    /// A message was deleted (its id stays, marked deleted).
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        /// The message.
        id: String,
        /// Its chat.
        chat: String,
    },
}

/// Buffered events per subscriber before it is told it lagged.
const CHANNEL_CAPACITY: usize = 1024;

/// The per-chat channels; cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    chats: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<ChatEvent>>>>>,
}

impl Hub {
    /// Receives every event of `chat` from now on.
    pub fn subscribe(&self, chat: &str) -> broadcast::Receiver<Arc<ChatEvent>> {
        let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
        chats
            .entry(chat.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    /// Sends `event` to `chat`'s subscribers, dropping the channel when none are left.
    pub fn publish(&self, chat: &str, event: ChatEvent) {
        let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = chats.get(chat)
            && tx.send(Arc::new(event)).is_err()
        {
            chats.remove(chat);
        }
    }
}
