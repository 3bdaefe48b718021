//! `storage`: key-value buckets shaped after `wasi:keyvalue`. Keys are
//! opaque strings, only ever bound as SQL parameters; the app's id is part
//! of every row's key, so no key can reach another app's data.
//! Grant: `storage`.

use wasmtime::component::{HasSelf, Linker};

use super::bindings::miniapp::platform::storage::{self as wit, Bucket, KeyPage};
use super::{CapError, HostState, WitError, check_size};
use crate::store::kv;

/// Keys per `list-keys` page.
pub const PAGE_SIZE: u32 = 100;

/// Links `miniapp:platform/storage`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
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

impl HostState {
    /// Grant check, then the bucket's row prefix.
    async fn bucket(&mut self, bucket: Bucket) -> Result<String, CapError> {
        self.require("storage").await?;
        match bucket {
            Bucket::App => Ok("app".to_string()),
            Bucket::User => match &self.cx.account {
                Some(account) => Ok(format!("user:{account}")),
                None => Err(WitError::NotFound.into()),
            },
        }
    }
}

impl wit::Host for HostState {
    async fn get(&mut self, bucket: Bucket, key: String) -> Result<Option<Vec<u8>>, CapError> {
        let bucket = self.bucket(bucket).await?;
        check_key(&key, self.limits().max_key_bytes)?;
        Ok(kv::get(&self.cx.services.db, &self.cx.app_id, &bucket, &key).await?)
    }

    async fn set(&mut self, bucket: Bucket, key: String, value: Vec<u8>) -> Result<(), CapError> {
        let bucket = self.bucket(bucket).await?;
        check_key(&key, self.limits().max_key_bytes)?;
        check_size("storage value", value.len(), self.limits().max_value_bytes)?;
        let limits = self.cx.limits;
        let written = kv::set_within_quota(
            &self.cx.services.db,
            &self.cx.app_id,
            &bucket,
            &key,
            &value,
            limits.storage_keys,
            limits.storage_bytes,
        )
        .await?;
        if !written {
            self.append_log(
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

    async fn delete(&mut self, bucket: Bucket, key: String) -> Result<(), CapError> {
        let bucket = self.bucket(bucket).await?;
        check_key(&key, self.limits().max_key_bytes)?;
        Ok(kv::delete(&self.cx.services.db, &self.cx.app_id, &bucket, &key).await?)
    }

    async fn exists(&mut self, bucket: Bucket, key: String) -> Result<bool, CapError> {
        let bucket = self.bucket(bucket).await?;
        check_key(&key, self.limits().max_key_bytes)?;
        Ok(kv::get(&self.cx.services.db, &self.cx.app_id, &bucket, &key)
            .await?
            .is_some())
    }

    async fn list_keys(&mut self, bucket: Bucket, cursor: Option<String>) -> Result<KeyPage, CapError> {
        let bucket = self.bucket(bucket).await?;
        if let Some(c) = &cursor {
            check_size("cursor", c.len(), self.limits().max_key_bytes)?;
        }
        let keys = kv::list_keys(
            &self.cx.services.db,
            &self.cx.app_id,
            &bucket,
            cursor.as_deref(),
            PAGE_SIZE,
        )
        .await?;
        let cursor = if keys.len() == PAGE_SIZE as usize {
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }
}
