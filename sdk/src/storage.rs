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
#[derive(Debug, Clone, Copy)]
pub struct Bucket(WitBucket);

/// The bucket shared by the whole app.
pub fn app() -> Bucket {
    Bucket(WitBucket::App)
}

/// The bucket private to the user who caused the current event
/// (`Error::NotFound` when no user did).
pub fn user() -> Bucket {
    Bucket(WitBucket::User)
}

/// The bucket shared by everyone in the current event's chat
/// (`Error::NotFound` outside a chat).
pub fn chat() -> Bucket {
    Bucket(WitBucket::Chat)
}

/// A key and its value (`None`: absent), as [`Bucket::get_many`] answers.
pub type Entry = (String, Option<Vec<u8>>);

/// One page of keys from [`Bucket::list_keys`].
pub use types::KeyPage;

impl Bucket {
    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        wit::get(self.0, key)
    }
    /// Stores `value` under `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        wit::set(self.0, key, value)
    }
    /// Stores `value` under `key` for `ttl_ms` milliseconds (1 ms to about
    /// ten years); then it is gone.
    ///
    /// # Errors
    ///
    /// `Error::Invalid` for a TTL out of range, `Error::QuotaExceeded`.
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
    pub fn compare_and_swap(&self, key: &str, old: Option<&[u8]>, new: &[u8]) -> Result<bool, Error> {
        wit::compare_and_swap(self.0, key, old, new)
    }
    /// The values under `keys` (at most 100), in order.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
        wit::get_many(self.0, keys)
    }
    /// Stores every pair (at most 100), or none if one is refused.
    pub fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), Error> {
        wit::set_many(self.0, pairs)
    }
    /// Removes every key (at most 100).
    pub fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        wit::delete_many(self.0, keys)
    }
    /// Removes `key` (missing keys are fine).
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        wit::delete(self.0, key)
    }
    /// Whether `key` has a value.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        wit::exists(self.0, key)
    }
    /// Keys in ascending order after `cursor`.
    pub fn list_keys(&self, cursor: Option<&str>) -> Result<KeyPage, Error> {
        wit::list_keys(self.0, cursor)
    }
    /// The value under `key` read as a decimal `u64`, if present and well formed.
    pub fn get_u64(&self, key: &str) -> Result<u64, Error> {
        let bytes = self.get(key)?.ok_or(Error::NotFound)?;
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::Invalid(format!("value of {key:?} is not a number")))
    }
    /// Stores `value` under `key` as decimal text.
    pub fn set_u64(&self, key: &str, value: u64) -> Result<(), Error> {
        self.set(key, value.to_string().as_bytes())
    }
}
