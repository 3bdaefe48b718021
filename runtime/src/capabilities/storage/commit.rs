//! Committing an invocation's storage transaction inside the commit's
//! database transaction: every key read must still hold the version seen,
//! then the changes are written and the app's quota checked on the result.

use sqlx::AnyConnection;

use super::txn::{Key, KvTxn};
use crate::config::AppLimits;
use crate::store::{StoreResult, kv};

/// Why a storage transaction could not commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Keys read by the invocation were changed by another commit since.
    Conflict(Vec<Key>),
    /// The changes would take the app past its quota.
    Quota {
        /// Keys allowed.
        keys: u64,
        /// Bytes allowed.
        bytes: u64,
    },
}

/// Checks and applies `txn` of `app` in the caller's transaction; on
/// `Ok(Err(_))` the caller rolls back what this wrote.
pub async fn apply_in(
    conn: &mut AnyConnection,
    app: &str,
    txn: &KvTxn,
    limits: &AppLimits,
) -> StoreResult<Result<(), Refused>> {
    let mut changed = Vec::new();
    for ((bucket, key), seen) in txn.reads() {
        if kv::version_in(conn, app, bucket, key).await? != seen {
            changed.push((bucket.clone(), key.clone()));
        }
    }
    if !changed.is_empty() {
        return Ok(Err(Refused::Conflict(changed)));
    }
    if !txn.has_changes() {
        return Ok(Ok(()));
    }
    let before = kv::usage_in(conn, app).await?;
    for ((bucket, key), change) in txn.changes() {
        kv::apply_in(conn, app, bucket, key, change).await?;
    }
    let after = kv::usage_in(conn, app).await?;
    let over = u64::try_from(after.0).unwrap_or(0) > limits.storage_keys && after.0 > before.0
        || u64::try_from(after.1).unwrap_or(0) > limits.storage_bytes && after.1 > before.1;
    if over {
        return Ok(Err(Refused::Quota {
            keys: limits.storage_keys,
            bytes: limits.storage_bytes,
        }));
    }
    Ok(Ok(()))
}
