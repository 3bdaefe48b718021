//! Each web app's share of instances: at most `--web-app-concurrency`
//! requests of one app run at once, and the rest wait their turn (bounded
//! by the API's request timeout), so one app's visitors — or one user
//! looping over a slow page — cannot take every instance the host has.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counters of web-app requests, for `/metrics`.
#[derive(Debug, Default)]
pub struct WebStats {
    /// Requests running in an instance now.
    pub running: AtomicU64,
    /// The most that ever ran at once.
    pub running_max: AtomicU64,
    /// Requests waiting for their app's share.
    pub queued: AtomicU64,
}

/// The per-app shares.
#[derive(Debug)]
pub(crate) struct WebSlots {
    per_app: usize,
    apps: Mutex<HashMap<String, Arc<Semaphore>>>,
    stats: Arc<WebStats>,
}

/// One running request's place; given back when dropped.
pub(crate) struct WebSlot {
    _permit: OwnedSemaphorePermit,
    stats: Arc<WebStats>,
}

impl Drop for WebSlot {
    fn drop(&mut self) {
        self.stats.running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WebSlots {
    /// Shares of `per_app` requests at once per app.
    pub(crate) fn new(per_app: usize) -> WebSlots {
        WebSlots {
            per_app: per_app.max(1),
            apps: Mutex::new(HashMap::new()),
            stats: Arc::default(),
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> &WebStats {
        &self.stats
    }

    /// Waits for a place in `app`'s share.
    pub(crate) async fn take(&self, app: &str) -> Option<WebSlot> {
        let share = {
            let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
            apps.entry(app.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_app)))
                .clone()
        };
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let permit = share.acquire_owned().await;
        self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        let permit = permit.ok()?;
        let now = self.stats.running.fetch_add(1, Ordering::Relaxed) + 1;
        self.stats.running_max.fetch_max(now, Ordering::Relaxed);
        Some(WebSlot {
            _permit: permit,
            stats: self.stats.clone(),
        })
    }
}
