//! One invocation's view of its app's storage: what it read (with the
//! version it saw, checked at commit) and what it changed (buffered, seen
//! by its own later reads, written only when the invocation commits).

use std::collections::BTreeMap;

use crate::store::kv::{Change, Stored};

/// A key of the app: (bucket row prefix, key).
pub type Key = (String, String);

/// The reads and buffered changes of one invocation.
#[derive(Debug, Default)]
pub struct KvTxn {
    /// Keys read from the database: the value and version seen (`None`: no
    /// live value). The first read of a key is the one checked; later
    /// reads answer from here, so an invocation sees one snapshot.
    reads: BTreeMap<Key, Option<Stored>>,
    /// Changes not yet committed, last one per key.
    changes: BTreeMap<Key, Change>,
    /// Quota bytes of keys changed without being read, as stored before
    /// this invocation (`None`: no row).
    base_sizes: BTreeMap<Key, Option<i64>>,
    /// The app's usage before this invocation, from the node's cache or
    /// read at its first write.
    pub(super) usage: Option<(i64, i64)>,
    /// Whether `usage` was read from the database (not the node's cache).
    pub(super) usage_exact: bool,
}

/// What the invocation sees under a key, if the transaction knows.
pub enum Seen<'a> {
    /// A buffered or earlier-read value (`None`: no value).
    Known(Option<&'a [u8]>),
    /// Not read nor changed yet: ask the database.
    Unknown,
}

impl KvTxn {
    /// The value this invocation sees under `key`, if known without the database.
    pub fn seen(&self, key: &Key) -> Seen<'_> {
        if let Some(change) = self.changes.get(key) {
            return Seen::Known(match change {
                Change::Put { value, .. } => Some(value),
                Change::Delete => None,
            });
        }
        match self.reads.get(key) {
            Some(stored) => Seen::Known(stored.as_ref().map(|s| s.value.as_slice())),
            None => Seen::Unknown,
        }
    }

    /// Records the database's answer for `key` (its first read).
    pub fn record_read(&mut self, key: Key, stored: Option<Stored>) {
        self.reads.entry(key).or_insert(stored);
    }

    /// Whether the quota size of `key` before this invocation is known
    /// (read, or looked up).
    pub fn base_known(&self, key: &Key) -> bool {
        self.reads.contains_key(key) || self.base_sizes.contains_key(key)
    }

    /// Records the quota size `key` had before this invocation.
    pub fn record_base(&mut self, key: Key, size: Option<i64>) {
        self.base_sizes.insert(key, size);
    }

    /// The buffered change of `key`, if any (to put back with [`KvTxn::restore_change`]).
    pub fn previous_change(&self, key: &Key) -> Option<Change> {
        self.changes.get(key).cloned()
    }

    /// Puts back what [`KvTxn::previous_change`] returned for `key`.
    pub fn restore_change(&mut self, key: Key, previous: Option<Change>) {
        match previous {
            Some(change) => self.changes.insert(key, change),
            None => self.changes.remove(&key),
        };
    }

    /// Every buffered change, to put back with [`KvTxn::restore`] (a batch
    /// that fails half-way buffers nothing).
    pub fn checkpoint(&self) -> BTreeMap<Key, Change> {
        self.changes.clone()
    }

    /// Puts back the changes of a [`KvTxn::checkpoint`].
    pub fn restore(&mut self, changes: BTreeMap<Key, Change>) {
        self.changes = changes;
    }

    /// Buffers `change` of `key`.
    pub fn change(&mut self, key: Key, change: Change) {
        self.changes.insert(key, change);
    }

    /// The keys and values read, with the versions seen, for the commit check.
    pub fn reads(&self) -> impl Iterator<Item = (&Key, Option<i64>)> {
        self.reads.iter().map(|(k, s)| (k, s.as_ref().map(|s| s.version)))
    }

    /// The buffered change of `key`, if any.
    pub fn change_of(&self, key: &Key) -> Option<&Change> {
        self.changes.get(key)
    }

    /// The changes of keys this invocation did not read (written without
    /// a check).
    pub fn blind_changes(&self) -> impl Iterator<Item = (&Key, &Change)> {
        self.changes.iter().filter(|(key, _)| !self.reads.contains_key(*key))
    }

    /// Whether nothing was read nor changed.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.changes.is_empty()
    }

    /// Whether a value is to be stored (not only deleted).
    pub fn puts(&self) -> bool {
        self.changes.values().any(|c| matches!(c, Change::Put { .. }))
    }

    /// The most the buffered changes can add to the app's usage: every
    /// value stored counted as a new key, deletes as nothing.
    pub fn growth_bound(&self) -> (i64, i64) {
        self.changes
            .iter()
            .filter_map(|((_, key), c)| match c {
                Change::Put { value, .. } => Some(size_of(key, value)),
                Change::Delete => None,
            })
            .fold((0, 0), |(k, b), size| (k + 1, b.saturating_add(size)))
    }

    /// Whether something is to be written.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Buffered changes in `bucket` after `cursor`: keys put (`true`) and
    /// deleted (`false`), for merging into a page of stored keys.
    pub fn changed_keys_after<'a>(&'a self, bucket: &'a str, cursor: &'a str) -> impl Iterator<Item = (&'a str, bool)> {
        self.changes
            .iter()
            .filter(move |((b, k), _)| b == bucket && k.as_str() > cursor)
            .map(|((_, k), c)| (k.as_str(), matches!(c, Change::Put { .. })))
    }

    /// (keys, bytes) the app would store if this invocation committed now:
    /// `usage` plus what the buffered changes add or remove, given each
    /// key's size before (`None` when unknown: then counted as absent, which
    /// can only overstate the growth).
    pub fn projected(&self, usage: (i64, i64)) -> (i64, i64) {
        let (mut keys, mut bytes) = usage;
        for (key, change) in &self.changes {
            let before = match self.reads.get(key) {
                Some(Some(_)) | None => self.base_size(key),
                Some(None) => self.base_sizes.get(key).copied().flatten(),
            };
            if let Some(old) = before {
                keys -= 1;
                bytes -= old;
            }
            if let Change::Put { value, .. } = change {
                keys += 1;
                bytes += size_of(&key.1, value);
            }
        }
        (keys, bytes)
    }

    fn base_size(&self, key: &Key) -> Option<i64> {
        if let Some(size) = self.base_sizes.get(key) {
            return *size;
        }
        match self.reads.get(key) {
            Some(Some(stored)) => Some(size_of(&key.1, &stored.value)),
            _ => None,
        }
    }
}

/// The quota bytes of `key` holding `value`.
pub fn size_of(key: &str, value: &[u8]) -> i64 {
    i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Key {
        ("app".to_string(), k.to_string())
    }

    fn put(v: &[u8]) -> Change {
        Change::Put {
            value: v.to_vec(),
            expires_at: None,
        }
    }

    #[test]
    fn reads_see_the_invocations_own_writes_and_one_snapshot() {
        let mut t = KvTxn::default();
        assert!(matches!(t.seen(&key("a")), Seen::Unknown));
        t.record_read(
            key("a"),
            Some(Stored {
                value: b"1".to_vec(),
                version: 7,
            }),
        );
        // A second database answer does not replace the first.
        t.record_read(
            key("a"),
            Some(Stored {
                value: b"2".to_vec(),
                version: 8,
            }),
        );
        assert!(matches!(t.seen(&key("a")), Seen::Known(Some(b"1"))));
        t.change(key("a"), put(b"3"));
        assert!(matches!(t.seen(&key("a")), Seen::Known(Some(b"3"))));
        t.change(key("a"), Change::Delete);
        assert!(matches!(t.seen(&key("a")), Seen::Known(None)));
        assert_eq!(t.reads().map(|(_, v)| v).collect::<Vec<_>>(), vec![Some(7)]);
    }

    #[test]
    fn projected_usage_counts_overwrites_deletes_and_new_keys() {
        let mut t = KvTxn::default();
        // "a" holds "12" (3 bytes); "b" unknown; "c" known absent.
        t.record_read(
            key("a"),
            Some(Stored {
                value: b"12".to_vec(),
                version: 1,
            }),
        );
        t.record_base(key("b"), Some(5));
        t.record_read(key("c"), None);
        t.change(key("a"), put(b"1234"));
        t.change(key("b"), Change::Delete);
        t.change(key("c"), put(b"x"));
        // 10 keys / 100 bytes before: a grows by 2, b goes (-1 key, -5), c comes (+1, +2).
        assert_eq!(t.projected((10, 100)), (10, 99));
    }
}
