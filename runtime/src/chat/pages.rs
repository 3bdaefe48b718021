//! Fan-out of live pages' pushes to the pages open on this node. A push is
//! a chat event of kind [`page_pushes::KIND`]; the chat relay ([`super::Hub`])
//! reads it from the log like every other event (so a push committed on
//! another node arrives here too) and hands it to the channel of its
//! (app, chat): only that app's pages in that chat get it. The members'
//! event streams never see it ([`super::Delivered::from_logged`] knows
//! only the members' kinds).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::store::chat_events::Logged;
use crate::store::page_pushes::{self, Push};
use crate::store::{Db, StoreResult};

/// Buffered pushes per page before it is told it lagged (it then catches
/// up from the store).
const CHANNEL_CAPACITY: usize = 256;

type Channels = Arc<Mutex<HashMap<(String, String), broadcast::Sender<Arc<Push>>>>>;

/// The channels of the pages open on this node, by (app, chat); cheap to clone.
#[derive(Clone, Default)]
pub struct PageChannels {
    channels: Channels,
}

/// One open page's pushes; dropping it frees the channel when no other
/// page of the app in the chat listens.
pub struct PageSubscription {
    rx: Option<broadcast::Receiver<Arc<Push>>>,
    channels: Channels,
    key: (String, String),
}

impl PageSubscription {
    /// The next push; `Lagged(n)` if this page fell `n` behind.
    ///
    /// # Errors
    ///
    /// [`broadcast::error::RecvError`]: lagged, or the hub is gone.
    pub async fn recv(&mut self) -> Result<Arc<Push>, broadcast::error::RecvError> {
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for PageSubscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if channels.get(&self.key).is_some_and(|tx| tx.receiver_count() == 0) {
            channels.remove(&self.key);
        }
    }
}

impl PageChannels {
    /// Receives every push of `app` in `chat` relayed from now on.
    pub fn subscribe(&self, app: &str, chat: &str) -> PageSubscription {
        let key = (app.to_string(), chat.to_string());
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let rx = channels
            .entry(key.clone())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        PageSubscription {
            rx: Some(rx),
            channels: self.channels.clone(),
            key,
        }
    }

    /// How many (app, chat) pairs have pages open on this node.
    pub fn channels(&self) -> usize {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The pushes of `batch` (a read of the chat event log, oldest first)
    /// that pages on this node wait for; nothing is read when none does.
    pub(super) async fn load(&self, db: &Db, batch: &[Logged]) -> StoreResult<Vec<Push>> {
        let pushes: Vec<&Logged> = batch.iter().filter(|e| e.kind == page_pushes::KIND).collect();
        if pushes.is_empty() {
            return Ok(Vec::new());
        }
        let watched: HashSet<String> = {
            let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            channels.keys().map(|(_, chat)| chat.clone()).collect()
        };
        let mut wanted = pushes.iter().filter(|e| watched.contains(&e.chat)).map(|e| e.seq);
        let Some(first) = wanted.next() else {
            return Ok(Vec::new());
        };
        let last = wanted.next_back().unwrap_or(first);
        let pushes = page_pushes::between(db, first - 1, last).await?;
        Ok(pushes)
    }

    /// Hands each of `pushes` to the pages of its app in its chat.
    pub(super) fn publish(&self, pushes: Vec<Push>) {
        if pushes.is_empty() {
            return;
        }
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        for push in pushes {
            let key = (push.app_id.clone(), push.chat_id.clone());
            if let Some(tx) = channels.get(&key)
                && tx.send(Arc::new(push)).is_err()
            {
                channels.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(seq: i64, app: &str, chat: &str) -> Push {
        Push {
            seq,
            app_id: app.into(),
            chat_id: chat.into(),
            data: format!("{app}/{chat}/{seq}"),
        }
    }

    #[tokio::test]
    async fn a_page_gets_only_its_own_apps_pushes_in_its_own_chat() {
        let pages = PageChannels::default();
        let mut mine = pages.subscribe("app", "chat");
        let mut other_chat = pages.subscribe("app", "other-chat");
        pages.publish(vec![
            push(1, "other-app", "chat"),
            push(2, "app", "chat"),
            push(3, "app", "third"),
        ]);
        assert_eq!(mine.recv().await.expect("a push").seq, 2);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), other_chat.recv())
                .await
                .is_err(),
            "another chat's page got nothing"
        );
    }

    #[test]
    fn the_members_streams_never_carry_a_push() {
        let logged = Logged {
            seq: 7,
            chat: "chat".into(),
            kind: page_pushes::KIND.into(),
            message: None,
            message_id: None,
            account: None,
        };
        assert!(crate::chat::Delivered::from_logged(&logged).is_none());
    }

    #[test]
    fn a_channel_is_freed_when_its_last_page_leaves() {
        let pages = PageChannels::default();
        let a = pages.subscribe("app", "chat");
        let b = pages.subscribe("app", "chat");
        drop(a);
        assert_eq!(pages.channels(), 1);
        drop(b);
        assert_eq!(pages.channels(), 0);
    }
}
