//! What the per-user event stream reads from the chat event log: where the
//! log ends, what it holds after a cursor for one account, and how far
//! retention has pruned it.

use super::{ChatError, ChatService, Delivered};
use crate::store::chat_events;

/// Events read from the log per query while a stream catches up.
const REPLAY_BATCH: u32 = 500;

/// One read of the log for a stream.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The events, oldest first (those whose message is gone are left out).
    pub events: Vec<Delivered>,
    /// The newest cursor read, left-out events included (`None` when the
    /// log held nothing after the cursor).
    pub through: Option<i64>,
    /// Whether the log may hold more after `through`.
    pub more: bool,
}

impl ChatService {
    /// The last cursor committed to the chat event log.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn log_end(&self) -> Result<i64, ChatError> {
        Ok(chat_events::last(&self.db).await?)
    }

    /// The next events after `after` that `account` may see: those of the
    /// chats it is a member of now, and its own leaving; oldest first.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn replay(&self, account: &str, after: i64) -> Result<Replay, ChatError> {
        let batch = chat_events::for_account_after(&self.db, account, after, REPLAY_BATCH).await?;
        Ok(Replay {
            events: batch.iter().filter_map(Delivered::from_logged).collect(),
            through: batch.iter().map(|logged| logged.seq).max(),
            more: batch.len() == REPLAY_BATCH as usize,
        })
    }

    /// The newest cursor retention has deleted (0 if none): a stream
    /// resuming below it has missed events the log no longer holds.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn pruned_through(&self) -> Result<i64, ChatError> {
        Ok(chat_events::pruned_through(&self.db).await?)
    }
}
