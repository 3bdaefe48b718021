//! Fan-out of chat events to WebSocket subscribers, one broadcast channel
//! per chat with subscribers; a chat's channel is freed when its last
//! subscriber leaves.

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
    /// A member left the chat (their open sockets of it close).
    #[serde(rename = "member.left")]
    MemberLeft {
        /// The chat.
        chat: String,
        /// Who left.
        account: String,
    },
}

/// Buffered events per subscriber before it is told it lagged.
const CHANNEL_CAPACITY: usize = 1024;

/// The per-chat channels; cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    chats: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<ChatEvent>>>>>,
}

/// One subscriber's stream of a chat's events; leaving (dropping it) frees
/// the chat's channel when nobody else listens.
pub struct Subscription {
    rx: Option<broadcast::Receiver<Arc<ChatEvent>>>,
    hub: Hub,
    chat: String,
}

impl Subscription {
    /// The next event; `Lagged(n)` if this subscriber fell `n` events behind.
    ///
    /// # Errors
    ///
    /// [`broadcast::error::RecvError`]: lagged, or the hub is gone.
    pub async fn recv(&mut self) -> Result<Arc<ChatEvent>, broadcast::error::RecvError> {
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut chats = self.hub.chats.lock().unwrap_or_else(|p| p.into_inner());
        if chats.get(&self.chat).is_some_and(|tx| tx.receiver_count() == 0) {
            chats.remove(&self.chat);
        }
    }
}

impl Hub {
    /// Receives every event of `chat` from now on.
    pub fn subscribe(&self, chat: &str) -> Subscription {
        let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
        let rx = chats
            .entry(chat.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Subscription {
            rx: Some(rx),
            hub: self.clone(),
            chat: chat.to_string(),
        }
    }

    /// How many chats have a channel (that is, subscribers) now.
    pub fn channels(&self) -> usize {
        self.chats.lock().unwrap_or_else(|p| p.into_inner()).len()
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

#[cfg(test)]
mod tests {
    use super::Hub;

    #[test]
    fn a_chats_channel_is_freed_when_its_last_subscriber_leaves() {
        let hub = Hub::default();
        for n in 0..2_000 {
            let chat = format!("chat-{n}");
            let a = hub.subscribe(&chat);
            let b = hub.subscribe(&chat);
            drop(a);
            assert_eq!(hub.channels(), 1, "one subscriber is still there");
            drop(b);
        }
        assert_eq!(hub.channels(), 0);
    }
}
