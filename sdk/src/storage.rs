//! Key-value storage. Needs the `storage` grant. Keys are opaque strings.

use crate::Error;
use crate::bindings::miniapp::platform::storage::{self as wit, Bucket as WitBucket};

/// A key-value bucket.
#[derive(Debug, Clone, Copy)]
pub struct Bucket(WitBucket);

/// The bucket shared by the whole app.
pub fn app() -> Bucket {
    Bucket(WitBucket::App)
}

/// The bucket private to the user who caused the current event.
pub fn user() -> Bucket {
    Bucket(WitBucket::User)
}

/// One page of keys from [`Bucket::list_keys`].
pub use wit::KeyPage;

impl Bucket {
    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        wit::get(self.0, key)
    }
    /// Stores `value` under `key`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        wit::set(self.0, key, value)
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
