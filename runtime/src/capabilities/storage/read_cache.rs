//! The node's cache of storage reads, on SQLite only (one node writes):
//! invocations read keys from it instead of the database, and every commit
//! writes what it stored through to it. A cached value may be stale — a
//! read that raced a commit, a key changed by a tool — but never wrongly
//! committed on: the commit checks the version of every key an invocation
//! read ([`super::commit`]), a stale one is a conflict, the conflicting
//! keys are dropped from the cache, and the invocation runs again on what
//! the database holds. On PostgreSQL other nodes commit too, so every
//! read goes to the database.
//!
//! A read that missed fills the cache only if nothing was written through
//! or forgotten since it began (else what it found may already be older
//! than what the cache has held). Bounded by entries and by their bytes
//! (names, value and a fixed overhead each), least recently used first out.

use std::sync::Mutex;

use hashlink::LruCache;

use super::txn::Key;
use crate::store::kv::{Change, Stored};

/// Entries kept at most.
pub const MAX_ENTRIES: usize = 50_000;
/// Bytes kept at most: each entry's names and value, plus [`ENTRY_OVERHEAD`].
pub const MAX_BYTES: usize = 32 << 20;
/// What an entry is counted beyond its names and value (the map's node,
/// the strings' and the vector's headers).
pub const ENTRY_OVERHEAD: usize = 128;

/// (app, bucket, key).
type CacheKey = (String, String, String);

/// What the database held under a key, as far as this node knows.
#[derive(Debug, Clone)]
struct Entry {
    /// The value and its version; `None` when there was none.
    stored: Option<Stored>,
    /// When the value stops being live, unix ms.
    expires_at: Option<i64>,
    /// What it counts against [`MAX_BYTES`].
    bytes: usize,
}

impl Entry {
    fn new(name: &CacheKey, stored: Option<Stored>, expires_at: Option<i64>) -> Entry {
        let bytes =
            ENTRY_OVERHEAD + name.0.len() + name.1.len() + name.2.len() + stored.as_ref().map_or(0, |s| s.value.len());
        Entry {
            stored,
            expires_at,
            bytes,
        }
    }
}

/// What a commit stored under one key.
#[derive(Debug, Clone)]
pub enum Written {
    /// The value, its new version and its expiry.
    Put(Stored, Option<i64>),
    /// Deleted.
    Deleted,
}

impl Written {
    /// What `change` stored, as version `version`.
    pub fn of(change: &Change, version: i64) -> Written {
        match change {
            Change::Put { value, expires_at } => Written::Put(
                Stored {
                    value: value.clone(),
                    version,
                },
                *expires_at,
            ),
            Change::Delete => Written::Deleted,
        }
    }
}

/// The cache; disabled (every call a miss or a no-op) when other nodes
/// may write.
pub struct ReadCache {
    enabled: bool,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<CacheKey, Entry>,
    bytes: usize,
    /// Counts write-throughs and forgets: a read fills the cache only if
    /// it has not moved since the read began.
    generation: u64,
}

/// Where a read that missed started, for [`ReadCache::fill`].
#[derive(Debug, Clone, Copy)]
pub struct ReadStart(u64);

impl ReadCache {
    /// A cache, enabled or not.
    pub fn new(enabled: bool) -> ReadCache {
        ReadCache {
            enabled,
            inner: Mutex::new(Inner {
                entries: LruCache::new_unbounded(),
                bytes: 0,
                generation: 0,
            }),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live value under (`app`, `key`) at `now` (unix ms), if this
    /// node knows it: `Some(None)` for none.
    pub fn get(&self, app: &str, key: &Key, now: i64) -> Option<Option<Stored>> {
        if !self.enabled {
            return None;
        }
        let mut inner = self.inner();
        let entry = inner.entries.get(&(app.to_string(), key.0.clone(), key.1.clone()))?;
        match entry.expires_at {
            Some(at) if at <= now => Some(None),
            _ => Some(entry.stored.clone()),
        }
    }

    /// Marks the start of a database read of a key not cached.
    pub fn start_read(&self) -> ReadStart {
        ReadStart(if self.enabled { self.inner().generation } else { 0 })
    }

    /// Keeps what a read started at `start` found under (`app`, `key`),
    /// unless anything was written through or forgotten since (it might be
    /// older than that).
    pub fn fill(&self, app: &str, key: &Key, found: Option<(Stored, Option<i64>)>, start: ReadStart) {
        if !self.enabled {
            return;
        }
        let mut inner = self.inner();
        if inner.generation != start.0 {
            return;
        }
        let (stored, expires_at) = match found {
            Some((stored, expires_at)) => (Some(stored), expires_at),
            None => (None, None),
        };
        let name = (app.to_string(), key.0.clone(), key.1.clone());
        let entry = Entry::new(&name, stored, expires_at);
        inner.put(name, entry);
    }

    /// Writes a commit's stores of `app` through, once it is durable.
    pub fn write_through(&self, app: &str, written: &[(Key, Written)]) {
        if !self.enabled || written.is_empty() {
            return;
        }
        let mut inner = self.inner();
        inner.generation += 1;
        for (key, w) in written {
            let (stored, expires_at) = match w {
                Written::Put(stored, expires_at) => (Some(stored.clone()), *expires_at),
                Written::Deleted => (None, None),
            };
            let name = (app.to_string(), key.0.clone(), key.1.clone());
            let entry = Entry::new(&name, stored, expires_at);
            inner.put(name, entry);
        }
    }

    /// Drops `keys` of `app` (they changed under a reader, or a failed run
    /// read them: the next read goes to the database).
    pub fn forget(&self, app: &str, keys: &[Key]) {
        if !self.enabled || keys.is_empty() {
            return;
        }
        let mut inner = self.inner();
        inner.generation += 1;
        for key in keys {
            if let Some(old) = inner.entries.remove(&(app.to_string(), key.0.clone(), key.1.clone())) {
                inner.bytes -= old.bytes;
            }
        }
    }
}

impl Inner {
    /// Inserts or replaces, then evicts the least recently used past the bounds.
    fn put(&mut self, name: CacheKey, entry: Entry) {
        self.bytes += entry.bytes;
        if let Some(old) = self.entries.insert(name, entry) {
            self.bytes -= old.bytes;
        }
        while self.entries.len() > MAX_ENTRIES || self.bytes > MAX_BYTES {
            match self.entries.remove_lru() {
                Some((_, old)) => self.bytes -= old.bytes,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(value: &[u8], version: i64) -> Stored {
        Stored {
            value: value.to_vec(),
            version,
        }
    }

    fn key(k: &str) -> Key {
        ("app".into(), k.into())
    }

    #[test]
    fn reads_fill_commits_write_through_and_a_fill_never_replaces_a_newer_write() {
        let cache = ReadCache::new(true);
        assert_eq!(cache.get("a", &key("k"), 0), None, "a miss");
        let start = cache.start_read();
        cache.fill("a", &key("k"), Some((stored(b"1", 1), None)), start);
        assert_eq!(cache.get("a", &key("k"), 0), Some(Some(stored(b"1", 1))));
        assert_eq!(cache.get("b", &key("k"), 0), None, "apps apart");

        // A read starts, a commit writes the key through, the read's fill
        // (older) is dropped.
        let start = cache.start_read();
        cache.write_through("a", &[(key("k"), Written::Put(stored(b"2", 2), None))]);
        cache.fill("a", &key("k"), Some((stored(b"1", 1), None)), start);
        assert_eq!(cache.get("a", &key("k"), 0), Some(Some(stored(b"2", 2))));

        // Absence is known too; a delete writes absence through.
        cache.fill("a", &key("none"), None, cache.start_read());
        assert_eq!(cache.get("a", &key("none"), 0), Some(None));
        cache.write_through("a", &[(key("k"), Written::Deleted)]);
        assert_eq!(cache.get("a", &key("k"), 0), Some(None));

        // Forgotten keys are misses again.
        cache.forget("a", &[key("k"), key("none")]);
        assert_eq!(cache.get("a", &key("k"), 0), None);
        assert_eq!(cache.get("a", &key("none"), 0), None);

        // A read that began before a write-through and a forget of its key
        // (a conflict) finds no entry, yet must not put its older value back.
        let start = cache.start_read();
        cache.write_through("a", &[(key("k"), Written::Put(stored(b"3", 3), None))]);
        cache.forget("a", &[key("k")]);
        cache.fill("a", &key("k"), Some((stored(b"2", 2), None)), start);
        assert_eq!(cache.get("a", &key("k"), 0), None, "the older read stays out");
        // Nor after any other key moved: it cannot tell.
        let start = cache.start_read();
        cache.write_through("a", &[(key("other"), Written::Deleted)]);
        cache.fill("a", &key("k"), Some((stored(b"3", 3), None)), start);
        assert_eq!(cache.get("a", &key("k"), 0), None);
    }

    #[test]
    fn an_expired_value_reads_as_none_and_a_disabled_cache_knows_nothing() {
        let cache = ReadCache::new(true);
        cache.write_through("a", &[(key("t"), Written::Put(stored(b"x", 1), Some(100)))]);
        assert_eq!(cache.get("a", &key("t"), 99), Some(Some(stored(b"x", 1))));
        assert_eq!(cache.get("a", &key("t"), 100), Some(None));

        let off = ReadCache::new(false);
        off.write_through("a", &[(key("t"), Written::Put(stored(b"x", 1), None))]);
        off.fill("a", &key("u"), None, off.start_read());
        assert_eq!(off.get("a", &key("t"), 0), None);
        assert_eq!(off.get("a", &key("u"), 0), None);
    }

    #[test]
    fn bounded_by_bytes_least_recently_used_out() {
        let cache = ReadCache::new(true);
        let big = vec![0u8; MAX_BYTES / 2 - 4 * ENTRY_OVERHEAD];
        cache.write_through("a", &[(key("1"), Written::Put(stored(&big, 1), None))]);
        cache.write_through("a", &[(key("2"), Written::Put(stored(&big, 2), None))]);
        assert!(cache.get("a", &key("1"), 0).is_some(), "used: now the most recent");
        cache.write_through("a", &[(key("3"), Written::Put(stored(&big, 3), None))]);
        assert!(cache.get("a", &key("2"), 0).is_none(), "the least recently used went");
        assert!(cache.get("a", &key("1"), 0).is_some());
        assert!(cache.get("a", &key("3"), 0).is_some());
        assert!(cache.inner().bytes <= MAX_BYTES);

        // Entries with no value count too (their names and overhead).
        let cache = ReadCache::new(true);
        for i in 0..(MAX_BYTES / ENTRY_OVERHEAD) {
            cache.fill("a", &key(&i.to_string()), None, cache.start_read());
        }
        let inner = cache.inner();
        assert!(inner.bytes <= MAX_BYTES && inner.entries.len() < MAX_BYTES / ENTRY_OVERHEAD);
    }
}
