//! Key-value storage. Needs the `storage` grant. Keys are opaque strings.
//!
//! # One transaction per invocation
//!
//! Everything a handler writes is buffered and seen by its own later reads;
//! it is stored — together with the messages the handler sent, edited or
//! deleted — all at once when the handler returns `Ok`, and dropped when it
//! returns an error, panics or runs out of time. If a key the handler read
//! was changed by another invocation before this one is stored, the handler
//! runs again from the start on a fresh instance (up to 8 runs), so a
//! read-modify-write never loses an update:
//!
//! ```no_run
//! # use miniapp_sdk::storage;
//! # fn handler() -> Result<(), miniapp_sdk::Error> {
//! let seen = storage::app().get_u64("visits").unwrap_or(0);
//! storage::app().set_u64("visits", seen + 1)?; // never lost to a concurrent visit
//! # Ok(()) }
//! ```
//!
//! Side effects outside storage and messages (an outbound HTTP call, a log
//! line of a run that was repeated) may therefore happen more than once;
//! keep them idempotent. `list_keys` pages are not part of the check.

use crate::Error;
use crate::bindings::miniapp::platform::storage::{self as types, Bucket as WitBucket};
use crate::sys::storage as wit;

/// A key-value bucket.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use miniapp_sdk::storage;
/// let bucket = storage::chat();
/// bucket.set("topic", b"Lunch")?;
/// # Ok(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Bucket(WitBucket);

/// The bucket shared by the whole app.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::storage::app().increment("visits", 1)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn app() -> Bucket {
    Bucket(WitBucket::App)
}

/// The bucket private to the user who caused the current event
/// (`Error::NotFound` when no user did).
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::storage::user().set("lang", b"en")?;
/// # Ok(()) }).unwrap();
/// ```
pub fn user() -> Bucket {
    Bucket(WitBucket::User)
}

/// The bucket shared by everyone in the current event's chat
/// (`Error::NotFound` outside a chat).
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::storage::chat().set("topic", b"Lunch")?;
/// # Ok(()) }).unwrap();
/// ```
pub fn chat() -> Bucket {
    Bucket(WitBucket::Chat)
}

/// A key and its value (`None`: absent), as [`Bucket::get_many`] answers.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let entries: Vec<miniapp_sdk::storage::Entry> = miniapp_sdk::storage::app().get_many(&["a".into()])?;
/// assert_eq!(entries, [("a".to_string(), None)]);
/// # Ok(()) }).unwrap();
/// ```
pub type Entry = (String, Option<Vec<u8>>);

/// One page of keys from [`Bucket::list_keys`].
pub use types::KeyPage;

impl Bucket {
    /// The value under `key`, if any.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// let topic = miniapp_sdk::storage::chat().get("topic")?;
    /// assert_eq!(topic, None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        wit::get(self.0, key)
    }
    /// Stores `value` under `key`.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// miniapp_sdk::storage::chat().set("topic", "Lunch".as_bytes())?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        wit::set(self.0, key, value)
    }
    /// Stores `value` under `key` for `ttl_ms` milliseconds (1 ms to about
    /// ten years); then it is gone.
    ///
    /// # Errors
    ///
    /// `Error::Invalid` for a TTL out of range, `Error::QuotaExceeded`.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// // A one-time code, gone in ten minutes.
    /// miniapp_sdk::storage::user().set_with_ttl("code", b"4711", 10 * 60 * 1000)?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn set_with_ttl(&self, key: &str, value: &[u8], ttl_ms: u64) -> Result<(), Error> {
        wit::set_with_ttl(self.0, key, value, ttl_ms)
    }
    /// Adds `delta` to the decimal number under `key` (missing: 0) and
    /// returns the result (`wasi:keyvalue/atomics.increment`).
    ///
    /// ```no_run
    /// # fn f() -> Result<(), miniapp_sdk::Error> {
    /// let n = miniapp_sdk::storage::app().increment("orders", 1)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `Error::Invalid` if the value is not a decimal `i64` or the sum overflows.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        wit::increment(self.0, key, delta)
    }
    /// Stores `new` if the value under `key` is `old` (`None`: absent);
    /// whether it did.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// let bucket = miniapp_sdk::storage::chat();
    /// assert!(bucket.compare_and_swap("owner", None, b"alice")?); // was absent
    /// assert!(!bucket.compare_and_swap("owner", None, b"bob")?);  // taken
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn compare_and_swap(&self, key: &str, old: Option<&[u8]>, new: &[u8]) -> Result<bool, Error> {
        wit::compare_and_swap(self.0, key, old, new)
    }
    /// The values under `keys` (at most 100), in order.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// let bucket = miniapp_sdk::storage::app();
    /// bucket.set("a", b"1")?;
    /// let found = bucket.get_many(&["a".into(), "b".into()])?;
    /// assert_eq!(found[0].1.as_deref(), Some(&b"1"[..]));
    /// assert_eq!(found[1].1, None);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
        wit::get_many(self.0, keys)
    }
    /// Stores every pair (at most 100), or none if one is refused.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// miniapp_sdk::storage::app().set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), Error> {
        wit::set_many(self.0, pairs)
    }
    /// Removes every key (at most 100).
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// miniapp_sdk::storage::app().delete_many(&["a".into(), "b".into()])?;
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        wit::delete_many(self.0, keys)
    }
    /// Removes `key` (missing keys are fine).
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// miniapp_sdk::storage::user().delete("draft")?; // absent is fine
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        wit::delete(self.0, key)
    }
    /// Whether `key` has a value.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// assert!(!miniapp_sdk::storage::app().exists("setup-done")?);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        wit::exists(self.0, key)
    }
    /// Keys in ascending order after `cursor`.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// let bucket = miniapp_sdk::storage::chat();
    /// let mut cursor = None;
    /// loop {
    ///     let page = bucket.list_keys(cursor.as_deref())?;
    ///     for key in &page.keys {
    ///         println!("{key}");
    ///     }
    ///     match page.cursor {
    ///         Some(next) => cursor = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage, Error> {
        wit::list_keys(self.0, cursor)
    }
    /// The value under `key` read as a decimal `u64`, if present and well formed.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// use miniapp_sdk::{Error, storage};
    /// let seen = match storage::app().get_u64("seen") {
    ///     Ok(n) => n,
    ///     Err(Error::NotFound) => 0,
    ///     Err(e) => return Err(e.into()),
    /// };
    /// assert_eq!(seen, 0);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn get_u64(&self, key: &str) -> Result<u64, Error> {
        let bytes = self.get(key)?.ok_or(Error::NotFound)?;
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Invalid(format!("value of {key:?} is not a number")))
    }
    /// Stores `value` under `key` as decimal text.
    ///
    /// ```
    /// # let mut t = miniapp_sdk::testing::Harness::new().grant("storage");
    /// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
    /// let app = miniapp_sdk::storage::app();
    /// app.set_u64("seen", 41)?;
    /// assert_eq!(app.get_u64("seen")?, 41);
    /// # Ok(()) }).unwrap();
    /// ```
    pub fn set_u64(&self, key: &str, value: u64) -> Result<(), Error> {
        self.set(key, value.to_string().as_bytes())
    }
}
