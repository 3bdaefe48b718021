//! Committing an invocation's storage transaction inside the commit's
//! database transaction: every key read must still hold the version seen,
//! then the changes are written and the app's quota checked on the result.

use super::read_cache::Written;
use super::txn::{Key, KvTxn};
use crate::config::AppLimits;
use crate::store::StoreResult;
use crate::store::kv::{self, KvStatements};

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

/// Checks and applies `txn` of `app` in the caller's transaction; the
/// app's (keys, bytes) after it when it wrote (exact, or an upper bound
/// when `known` was used), and each key stored with its new version in
/// `written` (for the node's read cache, once the transaction commits).
/// On `Ok(Err(_))` the caller rolls back what this wrote.
///
/// `known` is the app's usage (or an upper bound of it) when this node is
/// the only writer (SQLite): if that plus the most the changes can add
/// stays under 90 % of the quota, the usage is not read again.
pub async fn apply_in<C: KvStatements + ?Sized>(
    conn: &mut C,
    app: &str,
    txn: &KvTxn,
    limits: &AppLimits,
    known: Option<(i64, i64)>,
    written: &mut Vec<(Key, Written)>,
) -> StoreResult<Result<Option<(i64, i64)>, Refused>> {
    // A key read and changed is checked and written in one statement; a
    // key only read is checked; the changes of keys not read go in once
    // every check passed (on a conflict the caller rolls back what was
    // written).
    let mut changed = Vec::new();
    for (name, seen) in txn.reads() {
        let (bucket, key) = name;
        let unchanged = match txn.change_of(name) {
            Some(change) => {
                let version = kv::new_version();
                let done = conn
                    .apply_if_unchanged_in(app, bucket, key, seen, change, version)
                    .await?;
                if done {
                    written.push((name.clone(), Written::of(change, version)));
                }
                done
            }
            None => conn.version_in(app, bucket, key).await? == seen,
        };
        if !unchanged {
            changed.push(name.clone());
        }
    }
    if !changed.is_empty() {
        return Ok(Err(Refused::Conflict(changed)));
    }
    if !txn.has_changes() {
        return Ok(Ok(None));
    }
    for (name, change) in txn.blind_changes() {
        let version = kv::new_version();
        conn.apply_in(app, &name.0, &name.1, change, version).await?;
        written.push((name.clone(), Written::of(change, version)));
    }
    if let Some((keys, bytes)) = known {
        let (more_keys, more_bytes) = txn.growth_bound();
        let bound = (keys.saturating_add(more_keys), bytes.saturating_add(more_bytes));
        let under = |used: i64, quota: u64| u64::try_from(used).unwrap_or(u64::MAX) <= quota / 10 * 9;
        if under(bound.0, limits.storage_keys) && under(bound.1, limits.storage_bytes) {
            return Ok(Ok(Some(bound)));
        }
    }
    let (keys, bytes) = conn.usage_in(app).await?;
    let over = u64::try_from(keys).unwrap_or(0) > limits.storage_keys
        || u64::try_from(bytes).unwrap_or(0) > limits.storage_bytes;
    // An app over its quota (lowered since it wrote) may still delete.
    if over && txn.puts() {
        return Ok(Err(Refused::Quota {
            keys: limits.storage_keys,
            bytes: limits.storage_bytes,
        }));
    }
    Ok(Ok(Some((keys, bytes))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;
    use crate::store::kv::{Change, Stored};

    fn put(v: &[u8]) -> Change {
        Change::Put {
            value: v.to_vec(),
            expires_at: None,
        }
    }

    async fn commit(db: &Db, txn: &KvTxn, limits: &AppLimits) -> Result<Option<(i64, i64)>, Refused> {
        let mut tx = db.begin_write().await.expect("tx");
        let r = apply_in(&mut *tx, "a", txn, limits, None, &mut Vec::new())
            .await
            .expect("store");
        if r.is_ok() {
            tx.commit().await.expect("commit");
        }
        r
    }

    #[tokio::test]
    async fn a_changed_read_is_a_conflict_and_the_quota_is_checked_on_the_real_total() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let limits = AppLimits {
            storage_keys: 2,
            ..AppLimits::default()
        };
        kv::set(&db, "a", "app", "n", b"1").await.expect("set");
        let seen = kv::read(&db, "a", "app", "n").await.expect("read");

        // Two invocations read n = 1; the first to commit wins.
        let mut first = KvTxn::default();
        first.record_read(("app".into(), "n".into()), seen.clone());
        first.change(("app".into(), "n".into()), put(b"2"));
        let mut second = KvTxn::default();
        second.record_read(("app".into(), "n".into()), seen);
        second.change(("app".into(), "n".into()), put(b"2"));
        assert_eq!(commit(&db, &first, &limits).await, Ok(Some((1, 2))));
        assert_eq!(
            commit(&db, &second, &limits).await,
            Err(Refused::Conflict(vec![("app".into(), "n".into())]))
        );
        // A read of an absent key conflicts with its creation too.
        let mut absent = KvTxn::default();
        absent.record_read(("app".into(), "m".into()), None::<Stored>);
        kv::set(&db, "a", "app", "m", b"x").await.expect("set");
        assert!(matches!(commit(&db, &absent, &limits).await, Err(Refused::Conflict(_))));

        // Two keys are stored; a third, written blind by each of two
        // invocations that each passed their own check, is refused at commit.
        let mut third = KvTxn::default();
        third.change(("app".into(), "o".into()), put(b"y"));
        assert_eq!(
            commit(&db, &third, &limits).await,
            Err(Refused::Quota {
                keys: 2,
                bytes: limits.storage_bytes
            })
        );
        assert_eq!(kv::get(&db, "a", "app", "o").await.expect("get"), None);
        // With a known usage far from the quota, the usage is not read
        // again: the answer is that plus the most the changes can add…
        let mut blind = KvTxn::default();
        blind.change(("app".into(), "n".into()), put(b"3"));
        let roomy = AppLimits {
            storage_keys: 100,
            storage_bytes: 1_000,
            ..limits
        };
        let mut tx = db.begin_write().await.expect("tx");
        let r = apply_in(&mut *tx, "a", &blind, &roomy, Some((5, 50)), &mut Vec::new())
            .await
            .expect("store");
        assert_eq!(r, Ok(Some((6, 52))), "an upper bound: n counted as a new key");
        // …and near the quota it is read, exactly.
        let r = apply_in(&mut *tx, "a", &blind, &roomy, Some((95, 50)), &mut Vec::new())
            .await
            .expect("store");
        assert_eq!(r, Ok(Some((2, 4))));
        tx.rollback().await.expect("rollback");

        // Over the quota, deleting still works.
        let mut delete = KvTxn::default();
        delete.change(("app".into(), "m".into()), Change::Delete);
        assert_eq!(
            commit(
                &db,
                &delete,
                &AppLimits {
                    storage_keys: 1,
                    ..limits
                }
            )
            .await,
            Ok(Some((1, 2)))
        );
    }
}
