//! Per-(app, chat) message rate limiting: a fixed one-minute window per
//! pair, kept in memory (the budget of a single SQLite node; a cluster on
//! PostgreSQL counts it in the database, `crate::store::send_windows`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const PRUNE_ABOVE: usize = 10_000;

/// Counts messages per (app, chat) per minute.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<(String, String), (Instant, u32)>>,
}

impl RateLimiter {
    /// Takes one slot for (`app`, `chat`) if fewer than `per_minute` were
    /// taken in the current window.
    pub fn try_acquire(&self, app: &str, chat: &str, per_minute: u32) -> bool {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry((app.to_string(), chat.to_string())).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Gives back one slot taken by [`RateLimiter::try_acquire`] in the
    /// current window (for a message that was not sent after all).
    pub fn release(&self, app: &str, chat: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = windows.get_mut(&(app.to_string(), chat.to_string())) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn each_app_and_chat_pair_has_its_own_budget() {
        let rate = RateLimiter::default();
        assert!((0..3).all(|_| rate.try_acquire("a", "c1", 3)));
        assert!(!rate.try_acquire("a", "c1", 3));
        assert!(rate.try_acquire("a", "c2", 3));
        assert!(rate.try_acquire("b", "c1", 3));
    }
}
