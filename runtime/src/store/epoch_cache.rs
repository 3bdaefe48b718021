//! A node-local cache whose entries live only as long as this node's
//! revocation epoch does ([`super::revocations`]): every revocation, on
//! this node or heard from another, drops every entry, and while the node
//! may miss revocations (its listener is down) nothing is served or kept.
//!
//! A lookup that misses hands out a [`Ticket`] holding the epoch it saw;
//! the answer read from the database afterwards is kept only if the epoch
//! has not moved since, so an answer read before a revocation committed
//! cannot be put back after the revocation dropped the cache. The web
//! session cache, the queue's running versions and the API's sign-in
//! sessions are such caches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::revocations::Revocations;

/// What a miss hands out: the epoch an answer may be kept under, if any.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

impl Ticket {
    /// A ticket under which nothing is kept.
    pub fn none() -> Ticket {
        Ticket(None)
    }
}

/// The cache; see the module's documentation.
#[derive(Debug)]
pub struct EpochCache<V> {
    revocations: Arc<Revocations>,
    max: usize,
    entries: Mutex<Entries<V>>,
}

/// The entries, all read under `epoch`.
#[derive(Debug)]
struct Entries<V> {
    epoch: u64,
    by_key: HashMap<String, V>,
}

impl<V: Clone> EpochCache<V> {
    /// An empty cache of at most `max` entries (one more empties it),
    /// dropped on every revocation `revocations` sees.
    pub fn new(revocations: Arc<Revocations>, max: usize) -> EpochCache<V> {
        EpochCache {
            revocations,
            max,
            entries: Mutex::new(Entries {
                epoch: 0,
                by_key: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries<V>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry under `key` if `usable` says it may still be served (an
    /// unusable one is forgotten); otherwise the ticket to keep what the
    /// database answers instead.
    ///
    /// # Errors
    ///
    /// The [`Ticket`], on a miss.
    pub fn get(&self, key: &str, usable: impl Fn(&V) -> bool) -> Result<V, Ticket> {
        let Some(epoch) = self.revocations.epoch() else {
            return Err(Ticket(None));
        };
        let mut entries = self.lock();
        if entries.epoch != epoch {
            entries.by_key.clear();
            entries.epoch = epoch;
        }
        match entries.by_key.get(key) {
            Some(value) if usable(value) => Ok(value.clone()),
            Some(_) => {
                entries.by_key.remove(key);
                Err(Ticket(Some(epoch)))
            }
            None => Err(Ticket(Some(epoch))),
        }
    }

    /// Keeps `value` under `key` if nothing was revoked since `ticket` was
    /// handed out.
    pub fn insert(&self, ticket: Ticket, key: &str, value: V) {
        let Ticket(Some(taken)) = ticket else {
            return;
        };
        let mut entries = self.lock();
        // Read under the lock: an epoch that moves after this check makes
        // the next `get` drop the entry.
        if self.revocations.epoch() != Some(taken) {
            return;
        }
        if entries.epoch != taken {
            entries.by_key.clear();
            entries.epoch = taken;
        }
        if entries.by_key.len() >= self.max {
            entries.by_key.clear();
        }
        entries.by_key.insert(key.to_string(), value);
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_drops_every_entry_and_an_answer_read_before_it_is_not_kept() {
        let revocations = Arc::new(Revocations::new(true));
        let cache = EpochCache::new(revocations.clone(), 10);
        let ticket = cache.get("a", |_| true).expect_err("empty");
        cache.insert(ticket, "a", 1);
        assert_eq!(cache.get("a", |_| true).ok(), Some(1));
        assert!(cache.get("a", |v| *v > 1).is_err(), "unusable");
        assert!(cache.get("a", |_| true).is_err(), "an unusable entry is forgotten");
        let ticket = cache.get("a", |_| true).expect_err("empty");
        cache.insert(ticket, "a", 1);
        // A lookup takes its ticket, then a revocation commits before its
        // stale answer comes back.
        let stale = cache.get("b", |_| true).expect_err("a miss");
        revocations.bump();
        cache.insert(stale, "b", 2);
        assert!(cache.get("a", |_| true).is_err(), "dropped by the revocation");
        assert!(cache.get("b", |_| true).is_err(), "the stale answer was not kept");
    }

    #[test]
    fn nothing_is_kept_while_revocations_may_be_missed_and_the_size_is_bounded() {
        let revocations = Arc::new(Revocations::new(false));
        let cache = EpochCache::new(revocations.clone(), 3);
        let ticket = cache.get("a", |_| true).expect_err("empty");
        cache.insert(ticket, "a", 1);
        assert!(cache.get("a", |_| true).is_err(), "the listener is not up");
        revocations.connected();
        for n in 0..=3 {
            let ticket = cache.get(&n.to_string(), |_| true).expect_err("new");
            cache.insert(ticket, &n.to_string(), n);
        }
        assert!(cache.len() <= 3);
        assert_eq!(cache.get("3", |_| true).ok(), Some(3), "the newest stays");
        revocations.disconnected();
        assert!(cache.get("3", |_| true).is_err(), "the listener went down");
    }
}
