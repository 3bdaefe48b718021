//! Live pages: a web app's open pages receive what the app publishes to
//! their chat (the `pages` capability), as server-sent events on the app's
//! own origin at [`EVENTS_PATH`], authenticated by the page's session
//! cookie like any request of the page.
//!
//! A stream starts with `ready` (its cursor: the newest number in the chat
//! event log when it opened, or the `Last-Event-ID` it resumes after), then
//! carries the pushes of its app in its chat committed after that, in
//! commit order, each with its number as the event id. Resuming replays
//! what was missed (a browser's `EventSource` resends the last id by
//! itself), unless that is more than [`MAX_REPLAY`] pushes or some are gone
//! ([`crate::store::page_pushes::KEPT_MS`], or past the event log's
//! retention): then `reset`, and the page reloads its state.
//!
//! The stream ends (with an `end` event naming why) as soon as its session
//! may no longer be served: checked again whenever this node's revocation
//! epoch moves (a sign-out, leaving the chat, an uninstall, a suspension —
//! on any node, see [`crate::store::revocations`]) and every
//! [`RECHECK_EVERY`] (expiry). Each node holds at most
//! [`MAX_STREAMS_PER_SESSION`] streams of one session and
//! [`MAX_STREAMS_PER_ACCOUNT`] of one account.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

use super::{WebApps, WebError};
use crate::chat::{Hub, PageSubscription};
use crate::store::page_pushes::{self, Since};
use crate::store::tokens::hash_token;
use crate::store::web_sessions::LiveSession;

/// The path of a page's event stream on its app's origin. Everything under
/// [`RESERVED_PREFIX`] is the host's: never passed to the app.
pub const EVENTS_PATH: &str = "/.miniapp/events";
/// Paths the host keeps for itself on every app's origin.
pub const RESERVED_PREFIX: &str = "/.miniapp/";
/// Most pushes a resuming stream replays; past it, `reset`.
pub const MAX_REPLAY: u32 = 1_000;
/// How often a stream checks its session even when nothing was revoked
/// (its expiry is on the host's clock).
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);
/// Open streams of one web session per node.
pub const MAX_STREAMS_PER_SESSION: usize = 4;
/// Open streams of one account per node (every app, every chat).
pub const MAX_STREAMS_PER_ACCOUNT: usize = 16;

/// What a stream sends.
#[derive(Debug)]
pub enum LiveEvent {
    /// The first event: where the stream starts (after `cursor`).
    Ready {
        /// The number the stream starts after.
        cursor: i64,
    },
    /// A push of the app to its pages in the chat.
    Push {
        /// Its number in the chat event log (the event id).
        seq: i64,
        /// What the app published.
        data: String,
    },
    /// Pushes were missed that cannot be replayed: reload the page's state.
    Reset {
        /// The number the stream goes on after.
        cursor: i64,
    },
    /// The session may no longer be served; the stream ends.
    End(WebError),
}

/// Open streams per session and per account on this node, and whether the
/// node is shutting down (every stream ends then; browsers reconnect to a
/// node that is up, resuming where they were).
#[derive(Debug, Default)]
pub(crate) struct StreamCounts {
    open: Mutex<HashMap<String, usize>>,
    closing: AtomicBool,
    close: Notify,
}

/// One open stream's places; given back when dropped.
#[derive(Debug)]
struct StreamSlot {
    counts: Arc<StreamCounts>,
    keys: [String; 2],
}

impl StreamCounts {
    fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn take(self: &Arc<Self>, session_hash: &str, account: &str) -> Result<StreamSlot, WebError> {
        let keys = [format!("session:{session_hash}"), format!("account:{account}")];
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (by_session, by_account) = (
            open.get(&keys[0]).copied().unwrap_or(0),
            open.get(&keys[1]).copied().unwrap_or(0),
        );
        if by_session >= MAX_STREAMS_PER_SESSION {
            return Err(WebError::TooManyStreams(format!(
                "this page's session has {MAX_STREAMS_PER_SESSION} event streams open, the limit; close one first"
            )));
        }
        if by_account >= MAX_STREAMS_PER_ACCOUNT {
            return Err(WebError::TooManyStreams(format!(
                "this account has {MAX_STREAMS_PER_ACCOUNT} page event streams open, the limit; close one first"
            )));
        }
        for key in &keys {
            *open.entry(key.clone()).or_insert(0) += 1;
        }
        Ok(StreamSlot {
            counts: self.clone(),
            keys,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        for key in &self.keys {
            if let Some(n) = open.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    open.remove(key);
                }
            }
        }
    }
}

/// One page's open stream; see the module's documentation.
pub struct LiveStream {
    webapps: WebApps,
    app: String,
    chat: String,
    token: String,
    pushes: PageSubscription,
    /// The newest number sent (or started after).
    cursor: i64,
    /// Events to send before anything live.
    pending: VecDeque<LiveEvent>,
    /// The revocation epoch the session was last checked under.
    checked_at: u64,
    recheck: tokio::time::Interval,
    ended: bool,
    _slot: StreamSlot,
}

/// What woke a stream up.
enum Woken {
    Push(Result<Arc<page_pushes::Push>, RecvError>),
    Revoked,
    Recheck,
    Closing,
}

impl WebApps {
    /// Opens the event stream of a page of `live`'s app in its chat, whose
    /// session cookie is `token` (checked by [`WebApps::session`] already),
    /// resuming after `last_event_id` if given; pushes come from `hub`.
    ///
    /// # Errors
    ///
    /// [`WebError::TooManyStreams`] past the per-session or per-account
    /// cap; [`WebError::Revoked`] while the node shuts down;
    /// [`WebError::Store`] when the database fails.
    pub async fn open_live(
        &self,
        hub: &Hub,
        live: &LiveSession,
        token: &str,
        last_event_id: Option<i64>,
    ) -> Result<LiveStream, WebError> {
        let session = &live.session;
        if self.streams.closing() {
            return Err(WebError::Revoked("the host is shutting down".into()));
        }
        let slot = self.streams.take(&hash_token(token), &session.account_id)?;
        let checked_at = self.db.revocations().current();
        // Subscribe before reading the log: nothing relayed in between is missed.
        let pushes = hub.pages().subscribe(&session.app_id, &session.chat_id);
        // A number from the future (or from another database) starts at
        // the current end. "The future" is the log's end, not this node's
        // relay position: a page reconnecting to a node whose relay is a
        // little behind resumes where it was, without a resend.
        let relayed = hub.relayed();
        let after = match last_event_id {
            Some(after) if after <= relayed => after,
            Some(after) if after <= crate::store::chat_events::last(&self.db).await? => after,
            _ => relayed,
        };
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        recheck.reset();
        let mut stream = LiveStream {
            webapps: self.clone(),
            app: session.app_id.clone(),
            chat: session.chat_id.clone(),
            token: token.to_string(),
            pushes,
            cursor: after,
            pending: VecDeque::from([LiveEvent::Ready { cursor: after }]),
            checked_at,
            recheck,
            ended: false,
            _slot: slot,
        };
        // Also without a number to resume after: the relay may have handed
        // out pushes after `relayed` before this subscribed.
        stream.catch_up().await?;
        Ok(stream)
    }

    /// Ends every live-page stream on this node, and refuses new ones (the
    /// node is shutting down; pages reconnect elsewhere and resume).
    pub fn close_live_pages(&self) {
        self.streams.closing.store(true, Ordering::SeqCst);
        self.streams.close.notify_waiters();
    }
}

impl LiveStream {
    /// Queues what the store holds after the cursor, or `reset`.
    async fn catch_up(&mut self) -> Result<(), WebError> {
        match page_pushes::since(&self.webapps.db, &self.app, &self.chat, self.cursor, MAX_REPLAY).await? {
            Since::Pushes(pushes) => {
                for push in pushes {
                    self.cursor = push.seq;
                    self.pending.push_back(LiveEvent::Push {
                        seq: push.seq,
                        data: push.data,
                    });
                }
            }
            Since::Gone => {
                let end = crate::store::chat_events::last(&self.webapps.db).await?;
                self.cursor = self.cursor.max(end);
                self.pending.push_back(LiveEvent::Reset { cursor: self.cursor });
            }
        }
        Ok(())
    }

    /// Whether the session may still be served; the `end` event if not.
    async fn check(&mut self) -> Option<LiveEvent> {
        self.checked_at = self.webapps.db.revocations().current();
        match self.webapps.session(&self.app, &self.token).await {
            Ok(live) if live.session.chat_id == self.chat => None,
            Ok(_) => Some(LiveEvent::End(WebError::NoSession)),
            Err(WebError::Store(e)) => {
                // Not a refusal: try again at the next check.
                tracing::warn!(error = %e, "could not check a live page's session");
                None
            }
            Err(e) => Some(LiveEvent::End(e)),
        }
    }

    /// The next event to send; `None` once the stream is over.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                self.ended = matches!(event, LiveEvent::End(_));
                return Some(event);
            }
            let streams = self.webapps.streams.clone();
            let close = streams.close.notified();
            tokio::pin!(close);
            close.as_mut().enable();
            if streams.closing() {
                return None;
            }
            let revocations = self.webapps.db.revocations().clone();
            let moved = revocations.moved();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if revocations.current() != self.checked_at {
                if let Some(end) = self.check().await {
                    self.pending.push_back(end);
                }
                continue;
            }
            let woken = tokio::select! {
                push = self.pushes.recv() => Woken::Push(push),
                () = &mut moved => Woken::Revoked,
                _ = self.recheck.tick() => Woken::Recheck,
                () = &mut close => Woken::Closing,
            };
            match woken {
                Woken::Push(Ok(push)) if push.seq <= self.cursor => {}
                Woken::Push(Ok(push)) => {
                    self.cursor = push.seq;
                    return Some(LiveEvent::Push {
                        seq: push.seq,
                        data: push.data.clone(),
                    });
                }
                Woken::Push(Err(RecvError::Lagged(_))) => {
                    // Fell behind the node's channel: catch up from the store.
                    if let Err(e) = self.catch_up().await {
                        tracing::warn!(error = %e, "a live page could not catch up");
                        return None;
                    }
                }
                Woken::Push(Err(RecvError::Closed)) | Woken::Closing => return None,
                Woken::Revoked => {}
                Woken::Recheck => {
                    if let Some(end) = self.check().await {
                        self.pending.push_back(end);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_per_session_and_per_account() {
        let counts = Arc::new(StreamCounts::default());
        let held: Vec<StreamSlot> = (0..MAX_STREAMS_PER_SESSION)
            .map(|_| counts.take("s1", "alice").expect("within the cap"))
            .collect();
        assert!(matches!(counts.take("s1", "alice"), Err(WebError::TooManyStreams(_))));
        let mut more: Vec<StreamSlot> = Vec::new();
        for n in 0..(MAX_STREAMS_PER_ACCOUNT - MAX_STREAMS_PER_SESSION) {
            more.push(counts.take(&format!("s{}", n + 2), "alice").expect("another session"));
        }
        assert!(matches!(counts.take("s99", "alice"), Err(WebError::TooManyStreams(_))));
        assert!(counts.take("s99", "bob").is_ok(), "another account has its own");
        drop(held);
        assert!(counts.take("s1", "alice").is_ok(), "places are given back");
        drop(more);
        assert!(counts.open.lock().expect("lock").is_empty());
    }
}
