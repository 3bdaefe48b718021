//! Fan-out of chat events to WebSocket subscribers. Events come from the
//! chat event log ([`crate::store::chat_events`]), not from the code that
//! wrote them: a relay task on each node follows the log in commit order —
//! woken at once by writers on this node, and by polling for what other
//! nodes wrote — and hands each event to the chat's subscribers and to the
//! per-user streams. One path for local and remote events, so a message
//! posted on node A reaches sockets on node B, and a cursor is never
//! delivered before a smaller one. Live pages' pushes travel the same log
//! to the pages open on this node ([`super::pages`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, broadcast};

use super::MessageView;
use super::pages::PageChannels;
use crate::store::Db;
use crate::store::chat_events::{self, Logged};

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
    /// Someone joined the chat.
    #[serde(rename = "member.joined")]
    MemberJoined {
        /// The chat.
        chat: String,
        /// Who joined.
        account: String,
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

/// An event with its place in the log.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Its number in the chat event log: the cursor to resume after.
    pub cursor: i64,
    /// The chat.
    pub chat: String,
    /// What happened.
    pub event: ChatEvent,
}

impl Delivered {
    /// The event from a log row; `None` for a message the store no longer has.
    pub fn from_logged(logged: &Logged) -> Option<Delivered> {
        let chat = logged.chat.clone();
        let event = match logged.kind.as_str() {
            chat_events::MESSAGE_NEW => ChatEvent::MessageNew(MessageView::from(logged.message.as_ref()?)),
            chat_events::MESSAGE_EDITED => ChatEvent::MessageEdited(MessageView::from(logged.message.as_ref()?)),
            chat_events::MESSAGE_DELETED => ChatEvent::MessageDeleted {
                id: logged.message_id.clone()?,
                chat: chat.clone(),
            },
            chat_events::MEMBER_JOINED => ChatEvent::MemberJoined {
                chat: chat.clone(),
                account: logged.account.clone()?,
            },
            chat_events::MEMBER_LEFT => ChatEvent::MemberLeft {
                chat: chat.clone(),
                account: logged.account.clone()?,
            },
            _ => return None,
        };
        Some(Delivered {
            cursor: logged.seq,
            chat,
            event,
        })
    }

    /// The JSON text frame clients get: the event with its `cursor`.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(&self.event).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("cursor".into(), self.cursor.into());
        }
        value.to_string()
    }

    /// Whether this says `account` left its chat.
    pub fn is_leaving_of(&self, account: &str) -> bool {
        matches!(&self.event, ChatEvent::MemberLeft { account: a, .. } if a == account)
    }

    /// Whether this says `account` joined its chat.
    pub fn is_joining_of(&self, account: &str) -> bool {
        matches!(&self.event, ChatEvent::MemberJoined { account: a, .. } if a == account)
    }
}

/// Buffered events per subscriber before it is told it lagged.
const CHANNEL_CAPACITY: usize = 1024;
/// Buffered events of the all-chats channel (per-user streams).
const ALL_CAPACITY: usize = 8192;

/// The per-chat channels and the all-chats channel; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    chats: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<Delivered>>>>>,
    all: broadcast::Sender<Arc<Delivered>>,
    wake: Arc<Notify>,
    relayed: Arc<AtomicI64>,
    pages: PageChannels,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            pages: PageChannels::default(),
            chats: Arc::default(),
            all: broadcast::channel(ALL_CAPACITY).0,
            wake: Arc::new(Notify::new()),
            relayed: Arc::new(AtomicI64::new(0)),
        }
    }
}

/// One subscriber's stream of a chat's events; leaving (dropping it) frees
/// the chat's channel when nobody else listens.
pub struct Subscription {
    rx: Option<broadcast::Receiver<Arc<Delivered>>>,
    hub: Hub,
    chat: String,
}

impl Subscription {
    /// The next event; `Lagged(n)` if this subscriber fell `n` events behind.
    ///
    /// # Errors
    ///
    /// [`broadcast::error::RecvError`]: lagged, or the hub is gone.
    pub async fn recv(&mut self) -> Result<Arc<Delivered>, broadcast::error::RecvError> {
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

    /// Receives every event of every chat from now on (per-user streams
    /// filter it).
    pub fn subscribe_all(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.all.subscribe()
    }

    /// The channels of the live pages open on this node.
    pub fn pages(&self) -> &PageChannels {
        &self.pages
    }

    /// The newest cursor handed to subscribers on this node.
    pub fn relayed(&self) -> i64 {
        self.relayed.load(Ordering::SeqCst)
    }

    /// How many chats have a channel (that is, subscribers) now.
    pub fn channels(&self) -> usize {
        self.chats.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Tells the relay that events were committed on this node.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Hands `event` to its chat's subscribers and to the per-user streams.
    fn publish(&self, event: Arc<Delivered>) {
        let _ = self.all.send(event.clone());
        let mut chats = self.chats.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = chats.get(&event.chat)
            && tx.send(event.clone()).is_err()
        {
            chats.remove(&event.chat);
        }
    }

    /// Follows the chat event log from its current end, publishing what is
    /// committed after, until the process ends: at once when woken, and
    /// every `poll` for what other nodes wrote.
    pub async fn start_relay(&self, db: Db, poll: Duration) -> crate::store::StoreResult<()> {
        let start = chat_events::last(&db).await?;
        self.relayed.store(start, Ordering::SeqCst);
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = hub.relay_new(&db).await {
                    tracing::warn!(error = %e, "could not read the chat event log");
                }
                tokio::select! {
                    () = hub.wake.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
        });
        Ok(())
    }

    async fn relay_new(&self, db: &Db) -> crate::store::StoreResult<()> {
        const BATCH: u32 = 500;
        loop {
            // Numbers are given in commit order (see `chat_events`): once a
            // number is visible, every smaller one is visible or never will be.
            let batch = chat_events::after(db, self.relayed(), BATCH).await?;
            let Some(end) = batch.last().map(|e| e.seq) else {
                return Ok(());
            };
            let pushes = self.pages.load(db, &batch).await?;
            for logged in &batch {
                if let Some(event) = Delivered::from_logged(logged) {
                    self.publish(Arc::new(event));
                }
            }
            self.pages.publish(pushes);
            self.relayed.store(end, Ordering::SeqCst);
            if batch.len() < BATCH as usize {
                return Ok(());
            }
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
