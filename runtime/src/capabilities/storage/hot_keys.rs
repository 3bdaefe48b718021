//! Keys that lost a commit race on this node. An invocation whose commit
//! found a key it read changed runs again holding those keys; while it
//! holds them, other invocations on this node that touch them wait for it
//! to commit instead of reading a value about to change. So a key under
//! contention is served in turn on each node, and a rerun cannot lose the
//! same race again here (another node can still win it; the rerun bound
//! covers that).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as Turn, OwnedMutexGuard};

/// The node's keys under contention; cheap to share.
#[derive(Default)]
pub struct HotKeys {
    keys: Mutex<HashMap<String, Arc<Turn<()>>>>,
}

/// Holding some hot keys; dropping it lets the waiting invocations go on.
pub struct Held {
    _turns: Vec<OwnedMutexGuard<()>>,
}

/// The name of a key in the hot-key table: app, bucket and key.
pub fn name(app: &str, bucket: &str, key: &str) -> String {
    format!("{app}\0{bucket}\0{key}")
}

impl HotKeys {
    fn turn(&self, name: &str) -> Arc<Turn<()>> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        // Forget keys nobody holds or waits for, so the table stays small.
        if keys.len() > 1024 {
            keys.retain(|_, t| Arc::strong_count(t) > 1 || t.try_lock().is_err());
        }
        keys.entry(name.to_string()).or_default().clone()
    }

    /// Takes `names` (sorted first, so two holders cannot wait for each
    /// other), waiting for their current holders.
    pub async fn hold(&self, mut names: Vec<String>) -> Held {
        names.sort();
        names.dedup();
        let mut turns = Vec::with_capacity(names.len());
        for name in names {
            turns.push(self.turn(&name).lock_owned().await);
        }
        Held { _turns: turns }
    }

    /// Waits until nobody holds `name`; at once when it is not hot.
    pub async fn wait(&self, name: &str) {
        let turn = {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys.get(name).cloned()
        };
        if let Some(turn) = turn {
            drop(turn.lock().await);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_reader_of_a_held_key_waits_for_the_holder_and_others_do_not() {
        let hot = Arc::new(HotKeys::default());
        let held = hot.hold(vec![name("a", "app", "n")]).await;
        // Another key: no wait.
        tokio::time::timeout(Duration::from_secs(5), hot.wait(&name("a", "app", "m")))
            .await
            .expect("an unheld key is not waited for");
        let waiter = tokio::spawn({
            let hot = hot.clone();
            async move { hot.wait(&name("a", "app", "n")).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the reader waits while the key is held");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the reader goes on once the holder is done")
            .expect("join");
    }
}
