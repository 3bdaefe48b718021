//! `storage`: key-value buckets shaped after `wasi:keyvalue` (`store`,
//! `atomics` and `batch`). Keys are opaque strings, only ever bound as SQL
//! parameters; the app's id is part of every row's key, so no key can
//! reach another app's data. Grant: `storage`.
//!
//! An invocation's reads and writes form one transaction ([`txn`]): writes
//! are buffered and seen by the invocation's own later reads, and commit
//! with the invocation's other effects only if every key it read is still
//! as it saw it ([`commit`]); otherwise the invocation runs again. Hot keys
//! ([`hot_keys`]) make the rerun take turns with the other invocations of
//! this node that touch the same keys.

pub mod commit;
pub mod hot_keys;
pub mod read_cache;
pub mod txn;

#[cfg(test)]
mod tests;

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::storage::{self as wit, Bucket, KeyPage};
use super::{CapError, InvocationCtx, Unit, WitError, check_size};
use crate::store::kv::{self, Change};
use txn::{Key, Seen};

/// Keys per `list-keys` page.
pub const PAGE_SIZE: u32 = 100;

/// Keys per batch call (`get-many`, `set-many`, `delete-many`).
pub const MAX_BATCH: usize = 100;

/// Longest time-to-live, in ms (about ten years).
pub const MAX_TTL_MS: u64 = 10 * 366 * 24 * 60 * 60 * 1000;

/// The unit: grant `storage` unlocks `miniapp:platform/storage`.
pub const UNIT: Unit = Unit {
    grants: &["storage"],
    imports: &["miniapp:platform/storage"],
    link: add_to_linker,
};

/// One invocation's storage state: what it read and what it changed
/// (buffered until the commit).
#[derive(Debug, Default)]
pub struct StorageCtx {
    pub(crate) kv: txn::KvTxn,
}

/// The storage host functions' view of an invocation: its shared state
/// and its storage state.
pub struct StorageCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// Storage's own state.
    pub ctx: &'a mut StorageCtx,
}

/// A store's data that can hand out a [`StorageCtxView`].
pub trait StorageView: Send {
    /// The view for one host call.
    fn storage(&mut self) -> StorageCtxView<'_>;
}

struct HasStorage;

impl HasData for HasStorage {
    type Data<'a> = StorageCtxView<'a>;
}

super::convert_errors_for!(StorageCtxView<'_>);

/// Links `miniapp:platform/storage`.
///
/// # Errors
///
/// When the interface is linked already.
pub fn add_to_linker<T: StorageView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasStorage>(linker, T::storage)
}

/// Rejects keys that are empty, too long or contain NUL.
pub fn check_key(key: &str, max: usize) -> Result<(), CapError> {
    check_size("storage key", key.len(), max)?;
    if key.is_empty() {
        return Err(WitError::Invalid("storage key is empty".into()).into());
    }
    if key.contains('\0') {
        return Err(WitError::Invalid("storage key contains NUL".into()).into());
    }
    Ok(())
}

fn check_batch(len: usize) -> Result<(), CapError> {
    if len > MAX_BATCH {
        return Err(WitError::TooLarge(format!("a batch of {len} keys; the limit is {MAX_BATCH}")).into());
    }
    Ok(())
}

impl StorageCtxView<'_> {
    /// Grant check, then the bucket's row prefix.
    async fn bucket(&mut self, bucket: Bucket) -> Result<String, CapError> {
        self.inv.require("storage").await?;
        match bucket {
            Bucket::App => Ok("app".to_string()),
            Bucket::Chat => match &self.inv.cx.chat {
                Some(chat) => Ok(format!("chat:{chat}")),
                None => Err(WitError::NotFound.into()),
            },
            Bucket::User => match &self.inv.cx.account {
                Some(account) => Ok(format!("user:{account}")),
                None => Err(WitError::NotFound.into()),
            },
        }
    }

    fn key(&self, bucket: &str, key: String) -> Result<Key, CapError> {
        check_key(&key, self.inv.limits().max_key_bytes)?;
        Ok((bucket.to_string(), key))
    }

    /// Waits while another invocation of this node re-runs holding `key`
    /// (unless this one is such a rerun: holders never wait for each other).
    async fn take_turn(&mut self, key: &Key) {
        if !self.inv.cx.holds_hot_keys {
            let services = self.inv.cx.services.clone();
            let name = hot_keys::name(&self.inv.cx.app_id, &key.0, &key.1);
            services.hot_keys.wait(&name).await;
        }
    }

    /// The value the invocation sees under `key`: its own buffered write,
    /// its earlier read, or the database's (recorded for the commit check).
    async fn kv_read(&mut self, key: &Key) -> Result<Option<Vec<u8>>, CapError> {
        if let Seen::Known(v) = self.ctx.kv.seen(key) {
            return Ok(v.map(<[u8]>::to_vec));
        }
        self.take_turn(key).await;
        // The node's read cache first (SQLite only; a stale value is caught
        // by the commit's version check, and the invocation runs again).
        let services = self.inv.cx.services.clone();
        let cache = services.committer.reads();
        let stored = match cache.get(&self.inv.cx.app_id, key, crate::store::now_ms()) {
            Some(stored) => stored,
            None => {
                let start = cache.start_read();
                let found = kv::read_entry(&services.db, &self.inv.cx.app_id, &key.0, &key.1).await?;
                let stored = found.as_ref().map(|(s, _)| s.clone());
                cache.fill(&self.inv.cx.app_id, key, found, start);
                stored
            }
        };
        let value = stored.as_ref().map(|s| s.value.clone());
        self.ctx.kv.record_read(key.clone(), stored);
        Ok(value)
    }

    /// Buffers `change` of `key` if the app's storage stays within its
    /// quota (as far as this node can tell now; the commit checks again).
    async fn kv_write(&mut self, key: Key, change: Change) -> Result<(), CapError> {
        if let Change::Put { value, .. } = &change {
            check_size("storage value", value.len(), self.inv.limits().max_value_bytes)?;
        }
        self.take_turn(&key).await;
        let db = self.inv.cx.services.db.clone();
        // The node's cached usage first (it may overstate: see
        // `storage::commit`); the stored one before refusing anything.
        let mut usage = match self.ctx.kv.usage {
            Some(u) => u,
            None => {
                let u = match self.inv.cx.services.committer.cached_usage(&self.inv.cx.app_id) {
                    Some(u) => u,
                    None => {
                        self.ctx.kv.usage_exact = true;
                        kv::usage(&db, &self.inv.cx.app_id).await?
                    }
                };
                self.ctx.kv.usage = Some(u);
                u
            }
        };
        let limits = self.inv.cx.limits;
        let within = |(keys, bytes): (i64, i64)| {
            u64::try_from(keys).unwrap_or(0) <= limits.storage_keys
                && u64::try_from(bytes).unwrap_or(0) <= limits.storage_bytes
        };
        let previous = self.ctx.kv.previous_change(&key);
        self.ctx.kv.change(key.clone(), change);
        let mut projected = self.ctx.kv.projected(usage);
        if !within(projected) && projected > usage && !self.ctx.kv.base_known(&key) {
            // Counted as a new key; look up what it holds now.
            let size = kv::size(&db, &self.inv.cx.app_id, &key.0, &key.1).await?;
            self.ctx.kv.record_base(key.clone(), size);
            projected = self.ctx.kv.projected(usage);
        }
        if !within(projected) && !self.ctx.kv.usage_exact {
            usage = kv::usage(&db, &self.inv.cx.app_id).await?;
            self.ctx.kv.usage = Some(usage);
            self.ctx.kv.usage_exact = true;
            projected = self.ctx.kv.projected(usage);
        }
        if !within(projected) && (projected.0 > usage.0 || projected.1 > usage.1) {
            self.ctx.kv.restore_change(key, previous);
            self.inv.append_log(
                "warn",
                format!(
                    "storage quota exceeded: {} keys / {} bytes allowed",
                    limits.storage_keys, limits.storage_bytes
                ),
            );
            return Err(WitError::QuotaExceeded.into());
        }
        Ok(())
    }

    async fn kv_put(&mut self, bucket: &str, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> Result<(), CapError> {
        let key = self.key(bucket, key)?;
        let expires_at = match ttl_ms {
            None => None,
            Some(0) => return Err(WitError::Invalid("ttl-ms must be at least 1".into()).into()),
            Some(ms) if ms > MAX_TTL_MS => {
                return Err(WitError::Invalid(format!("ttl-ms is {ms}; the limit is {MAX_TTL_MS}")).into());
            }
            Some(ms) => Some(crate::store::now_ms().saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))),
        };
        self.kv_write(key, Change::Put { value, expires_at }).await
    }
}

impl wit::Host for StorageCtxView<'_> {
    async fn get(&mut self, bucket: Bucket, key: String) -> Result<Option<Vec<u8>>, CapError> {
        let bucket = self.bucket(bucket).await?;
        let key = self.key(&bucket, key)?;
        self.kv_read(&key).await
    }

    async fn set(&mut self, bucket: Bucket, key: String, value: Vec<u8>) -> Result<(), CapError> {
        let bucket = self.bucket(bucket).await?;
        self.kv_put(&bucket, key, value, None).await
    }

    async fn set_with_ttl(&mut self, bucket: Bucket, key: String, value: Vec<u8>, ttl_ms: u64) -> Result<(), CapError> {
        let bucket = self.bucket(bucket).await?;
        self.kv_put(&bucket, key, value, Some(ttl_ms)).await
    }

    async fn delete(&mut self, bucket: Bucket, key: String) -> Result<(), CapError> {
        let bucket = self.bucket(bucket).await?;
        let key = self.key(&bucket, key)?;
        self.kv_write(key, Change::Delete).await
    }

    async fn exists(&mut self, bucket: Bucket, key: String) -> Result<bool, CapError> {
        let bucket = self.bucket(bucket).await?;
        let key = self.key(&bucket, key)?;
        Ok(self.kv_read(&key).await?.is_some())
    }

    async fn list_keys(&mut self, bucket: Bucket, cursor: Option<String>) -> Result<KeyPage, CapError> {
        let bucket = self.bucket(bucket).await?;
        if let Some(c) = &cursor {
            check_size("cursor", c.len(), self.inv.limits().max_key_bytes)?;
        }
        let after = cursor.unwrap_or_default();
        let stored = kv::list_keys(
            &self.inv.cx.services.db,
            &self.inv.cx.app_id,
            &bucket,
            Some(&after),
            PAGE_SIZE,
        )
        .await?;
        // The page's end: past it, buffered keys belong to a later page.
        let full = stored.len() == PAGE_SIZE as usize;
        let end = if full { stored.last().cloned() } else { None };
        let mut keys: std::collections::BTreeSet<String> = stored.into_iter().collect();
        for (key, put) in self.ctx.kv.changed_keys_after(&bucket, &after) {
            if end.as_deref().is_some_and(|e| key > e) {
                continue;
            }
            if put {
                keys.insert(key.to_string());
            } else {
                keys.remove(key);
            }
        }
        let keys: Vec<String> = keys.into_iter().take(PAGE_SIZE as usize).collect();
        let cursor = if full || keys.len() == PAGE_SIZE as usize {
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }

    async fn increment(&mut self, bucket: Bucket, key: String, delta: i64) -> Result<i64, CapError> {
        let bucket = self.bucket(bucket).await?;
        let key = self.key(&bucket, key)?;
        let current = match self.kv_read(&key).await? {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    WitError::Invalid(format!(
                        "the value under {:?} is not a decimal signed 64-bit integer",
                        key.1
                    ))
                })?,
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| WitError::Invalid(format!("{current} + {delta} overflows a signed 64-bit integer")))?;
        self.kv_write(
            key,
            Change::Put {
                value: next.to_string().into_bytes(),
                expires_at: None,
            },
        )
        .await?;
        Ok(next)
    }

    async fn compare_and_swap(
        &mut self,
        bucket: Bucket,
        key: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, CapError> {
        let bucket = self.bucket(bucket).await?;
        let key = self.key(&bucket, key)?;
        if self.kv_read(&key).await? != old {
            return Ok(false);
        }
        self.kv_write(
            key,
            Change::Put {
                value: new,
                expires_at: None,
            },
        )
        .await?;
        Ok(true)
    }

    async fn get_many(
        &mut self,
        bucket: Bucket,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, CapError> {
        let bucket = self.bucket(bucket).await?;
        check_batch(keys.len())?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let k = self.key(&bucket, key)?;
            let value = self.kv_read(&k).await?;
            found.push((k.1, value));
        }
        Ok(found)
    }

    async fn set_many(&mut self, bucket: Bucket, key_values: Vec<(String, Vec<u8>)>) -> Result<(), CapError> {
        let bucket = self.bucket(bucket).await?;
        check_batch(key_values.len())?;
        // All or nothing: every key is checked before any is buffered.
        for (key, value) in &key_values {
            check_key(key, self.inv.limits().max_key_bytes)?;
            check_size("storage value", value.len(), self.inv.limits().max_value_bytes)?;
        }
        let undo = self.ctx.kv.checkpoint();
        for (key, value) in key_values {
            if let Err(e) = self.kv_put(&bucket, key, value, None).await {
                self.ctx.kv.restore(undo);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn delete_many(&mut self, bucket: Bucket, keys: Vec<String>) -> Result<(), CapError> {
        let bucket = self.bucket(bucket).await?;
        check_batch(keys.len())?;
        let keys = keys
            .into_iter()
            .map(|k| self.key(&bucket, k))
            .collect::<Result<Vec<_>, _>>()?;
        for key in keys {
            self.kv_write(key, Change::Delete).await?;
        }
        Ok(())
    }
}
