//! `storage` (`capabilities/storage/mod.rs`): grant `storage`; `app`,
//! `user` and `chat` buckets; key and value sizes; TTL; the app's key and
//! byte quota; atomics and all-or-nothing batches. Reads see the
//! invocation's own writes (it works on a copy of the stored state).

use super::check_size;
use crate::Error;
use crate::bindings::miniapp::platform::storage::{Bucket, KeyPage};
use crate::limits::{LIST_PAGE_SIZE, MAX_BATCH, MAX_TTL_MS};
use crate::testing::state::{self, Invocation, Stored};

/// The grant, then the bucket's prefix (`app`, `user:<id>`, `chat:<id>`).
fn bucket(inv: &mut Invocation, bucket: Bucket) -> Result<String, Error> {
    inv.require("storage")?;
    match bucket {
        Bucket::App => Ok("app".into()),
        Bucket::Chat => inv.cx.chat.as_ref().map(|c| format!("chat:{c}")).ok_or(Error::NotFound),
        Bucket::User => inv.cx.user.as_ref().map(|u| format!("user:{u}")).ok_or(Error::NotFound),
    }
}

pub(crate) fn check_key(inv: &Invocation, key: &str) -> Result<(), Error> {
    check_size("storage key", key.len(), inv.world.limits.max_key_bytes)?;
    if key.is_empty() {
        return Err(Error::Invalid("storage key is empty".into()));
    }
    if key.contains('\0') {
        return Err(Error::Invalid("storage key contains NUL".into()));
    }
    Ok(())
}

fn check_batch(len: usize) -> Result<(), Error> {
    if len > MAX_BATCH {
        return Err(Error::TooLarge(format!(
            "a batch of {len} keys; the limit is {MAX_BATCH}"
        )));
    }
    Ok(())
}

fn read(inv: &Invocation, prefix: &str, key: &str) -> Option<Vec<u8>> {
    let now = inv.world.now_ms;
    inv.work
        .kv
        .get(&(prefix.to_string(), key.to_string()))
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .map(|s| s.value.clone())
}

/// (keys, bytes of keys and values) the app stores, expired values aside.
pub(crate) fn usage(inv: &Invocation) -> (u64, u64) {
    let now = inv.world.now_ms;
    inv.work
        .kv
        .iter()
        .filter(|(_, s)| s.expires_at.is_none_or(|at| at > now))
        .fold((0, 0), |(keys, bytes), ((_, k), s)| {
            (keys + 1, bytes + (k.len() + s.value.len()) as u64)
        })
}

/// Writes (`Some`) or deletes (`None`) unless the write takes the app
/// past its quota (a write that does not grow the use always passes).
fn write(inv: &mut Invocation, prefix: &str, key: &str, value: Option<Stored>) -> Result<(), Error> {
    if let Some(v) = &value {
        check_size("storage value", v.value.len(), inv.world.limits.max_value_bytes)?;
    }
    let before = usage(inv);
    let full = (prefix.to_string(), key.to_string());
    let previous = match value {
        Some(v) => inv.work.kv.insert(full.clone(), v),
        None => inv.work.kv.remove(&full),
    };
    let after = usage(inv);
    let limits = &inv.world.limits;
    let within = after.0 <= limits.storage_keys && after.1 <= limits.storage_bytes;
    if !within && (after.0 > before.0 || after.1 > before.1) {
        match previous {
            Some(p) => inv.work.kv.insert(full, p),
            None => inv.work.kv.remove(&full),
        };
        let (keys, bytes) = (limits.storage_keys, limits.storage_bytes);
        inv.log(
            "warn",
            format!("storage quota exceeded: {keys} keys / {bytes} bytes allowed"),
        );
        return Err(Error::QuotaExceeded);
    }
    Ok(())
}

fn put(inv: &mut Invocation, prefix: &str, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), Error> {
    check_key(inv, key)?;
    let expires_at = match ttl_ms {
        None => None,
        Some(0) => return Err(Error::Invalid("ttl-ms must be at least 1".into())),
        Some(ms) if ms > MAX_TTL_MS => {
            return Err(Error::Invalid(format!("ttl-ms is {ms}; the limit is {MAX_TTL_MS}")));
        }
        Some(ms) => Some(inv.world.now_ms.saturating_add(ms)),
    };
    let stored = Stored {
        value: value.to_vec(),
        expires_at,
    };
    write(inv, prefix, key, Some(stored))
}

pub(crate) fn get(b: Bucket, key: &str) -> Result<Option<Vec<u8>>, Error> {
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_key(inv, key)?;
        Ok(read(inv, &prefix, key))
    })
}

pub(crate) fn set(b: Bucket, key: &str, value: &[u8]) -> Result<(), Error> {
    super::check_host_call_bytes(value.len());
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        put(inv, &prefix, key, value, None)
    })
}

pub(crate) fn set_with_ttl(b: Bucket, key: &str, value: &[u8], ttl_ms: u64) -> Result<(), Error> {
    super::check_host_call_bytes(value.len());
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        put(inv, &prefix, key, value, Some(ttl_ms))
    })
}

pub(crate) fn delete(b: Bucket, key: &str) -> Result<(), Error> {
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_key(inv, key)?;
        write(inv, &prefix, key, None)
    })
}

pub(crate) fn exists(b: Bucket, key: &str) -> Result<bool, Error> {
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_key(inv, key)?;
        Ok(read(inv, &prefix, key).is_some())
    })
}

pub(crate) fn list_keys(b: Bucket, cursor: Option<&str>) -> Result<KeyPage, Error> {
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        if let Some(c) = cursor {
            check_size("cursor", c.len(), inv.world.limits.max_key_bytes)?;
        }
        let after = cursor.unwrap_or_default();
        let now = inv.world.now_ms;
        let keys: Vec<String> = inv
            .work
            .kv
            .iter()
            .filter(|((p, k), s)| *p == prefix && k.as_str() > after && s.expires_at.is_none_or(|at| at > now))
            .map(|((_, k), _)| k.clone())
            .take(LIST_PAGE_SIZE)
            .collect();
        let cursor = (keys.len() == LIST_PAGE_SIZE).then(|| keys[LIST_PAGE_SIZE - 1].clone());
        Ok(KeyPage { keys, cursor })
    })
}

pub(crate) fn increment(b: Bucket, key: &str, delta: i64) -> Result<i64, Error> {
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_key(inv, key)?;
        let current = match read(inv, &prefix, key) {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "the value under {key:?} is not a decimal signed 64-bit integer"
                    ))
                })?,
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| Error::Invalid(format!("{current} + {delta} overflows a signed 64-bit integer")))?;
        put(inv, &prefix, key, next.to_string().as_bytes(), None)?;
        Ok(next)
    })
}

pub(crate) fn compare_and_swap(b: Bucket, key: &str, old: Option<&[u8]>, new: &[u8]) -> Result<bool, Error> {
    super::check_host_call_bytes(new.len() + old.map_or(0, <[u8]>::len));
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_key(inv, key)?;
        if read(inv, &prefix, key).as_deref() != old {
            return Ok(false);
        }
        put(inv, &prefix, key, new, None)?;
        Ok(true)
    })
}

pub(crate) fn get_many(b: Bucket, keys: &[String]) -> Result<Vec<crate::storage::Entry>, Error> {
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_batch(keys.len())?;
        keys.iter()
            .map(|k| {
                check_key(inv, k)?;
                Ok((k.clone(), read(inv, &prefix, k)))
            })
            .collect()
    })
}

pub(crate) fn set_many(b: Bucket, pairs: &[(String, Vec<u8>)]) -> Result<(), Error> {
    super::check_host_call_bytes(pairs.iter().map(|(k, v)| k.len() + v.len()).sum());
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_batch(pairs.len())?;
        for (key, value) in pairs {
            check_key(inv, key)?;
            check_size("storage value", value.len(), inv.world.limits.max_value_bytes)?;
        }
        // All or nothing.
        let undo = inv.work.kv.clone();
        for (key, value) in pairs {
            if let Err(e) = put(inv, &prefix, key, value, None) {
                inv.work.kv = undo;
                return Err(e);
            }
        }
        Ok(())
    })
}

pub(crate) fn delete_many(b: Bucket, keys: &[String]) -> Result<(), Error> {
    state::with(|inv| {
        let prefix = bucket(inv, b)?;
        check_batch(keys.len())?;
        for key in keys {
            check_key(inv, key)?;
        }
        for key in keys {
            write(inv, &prefix, key, None)?;
        }
        Ok(())
    })
}
