//! Apps' key-value data. A bucket is a string chosen by the storage
//! capability (`app`, or `user:<account>`); keys are opaque and only ever
//! bound as parameters.

use sqlx::AnyConnection;

use rusqlite::types::Value;

use super::direct::{self, opt_int, text};
use super::{Db, StoreResult, now_ms};

/// A stored value and its version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stored {
    /// The bytes.
    pub value: Vec<u8>,
    /// Changes with every write of the key (see migration 0017).
    pub version: i64,
}

/// One buffered change of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Store `value`, expiring at `expires_at` (unix ms) if set.
    Put {
        /// The bytes.
        value: Vec<u8>,
        /// When the value disappears, unix ms.
        expires_at: Option<i64>,
    },
    /// Remove the key.
    Delete,
}

/// The version of a live value: `$1` app, `$2` bucket, `$3` key, `$4` now.
const VERSION: &str = "SELECT version FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key = $3 \
     AND (expires_at IS NULL OR expires_at > $4)";

/// An app's (keys, bytes): `$1` app.
const USAGE: &str = "SELECT keys, bytes FROM app_kv_usage WHERE app_id = $1";

/// Stores a value: `$1` app, `$2` bucket, `$3` key, `$4` value, `$5` now,
/// `$6` version, `$7` expiry.
const PUT: &str = "INSERT INTO app_kv (app_id, bucket, key, value, updated_at, version, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (app_id, bucket, key) DO UPDATE SET value = excluded.value, \
     updated_at = excluded.updated_at, version = excluded.version, expires_at = excluded.expires_at";

/// [`PUT`] where no live value is: an expired row's place is taken, a
/// live one never overwritten.
const PUT_IF_ABSENT: &str = "INSERT INTO app_kv (app_id, bucket, key, value, updated_at, version, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (app_id, bucket, key) DO UPDATE SET value = excluded.value, \
     updated_at = excluded.updated_at, version = excluded.version, expires_at = excluded.expires_at \
     WHERE app_kv.expires_at IS NOT NULL AND app_kv.expires_at <= excluded.updated_at";

/// Replaces a live value of version `$8`: `$1` value, `$2` now, `$3` new
/// version, `$4` expiry, `$5` app, `$6` bucket, `$7` key.
const PUT_IF_VERSION: &str = "UPDATE app_kv SET value = $1, updated_at = $2, version = $3, expires_at = $4 \
     WHERE app_id = $5 AND bucket = $6 AND key = $7 AND version = $8 \
     AND (expires_at IS NULL OR expires_at > $2)";

/// Removes a key: `$1` app, `$2` bucket, `$3` key.
const DELETE: &str = "DELETE FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key = $3";

/// Removes a live value of version `$4`: `$1` app, `$2` bucket, `$3` key,
/// `$5` now.
const DELETE_IF_VERSION: &str = "DELETE FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key = $3 AND version = $4 \
     AND (expires_at IS NULL OR expires_at > $5)";

/// The live value under (`app`, `bucket`, `key`) with its version: a value
/// past its time-to-live is not live.
pub async fn read(db: &Db, app: &str, bucket: &str, key: &str) -> StoreResult<Option<Stored>> {
    Ok(read_entry(db, app, bucket, key).await?.map(|(stored, _)| stored))
}

/// [`read`], with the value's expiry (unix ms), if it has one.
pub async fn read_entry(db: &Db, app: &str, bucket: &str, key: &str) -> StoreResult<Option<(Stored, Option<i64>)>> {
    let row: Option<(Vec<u8>, i64, Option<i64>)> = sqlx::query_as(
        "SELECT value, version, expires_at FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key = $3 \
         AND (expires_at IS NULL OR expires_at > $4)",
    )
    .bind(app)
    .bind(bucket)
    .bind(key)
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(value, version, expires_at)| (Stored { value, version }, expires_at)))
}

/// The live value under (`app`, `bucket`, `key`).
pub async fn get(db: &Db, app: &str, bucket: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
    Ok(read(db, app, bucket, key).await?.map(|s| s.value))
}

/// The version of the live value under (`app`, `bucket`, `key`), in the
/// caller's transaction; `None` when there is none.
pub async fn version_in(conn: &mut AnyConnection, app: &str, bucket: &str, key: &str) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(VERSION)
        .bind(app)
        .bind(bucket)
        .bind(key)
        .bind(now_ms())
        .fetch_optional(&mut *conn)
        .await?)
}

/// The bytes (key and value) the row under (`app`, `bucket`, `key`) takes
/// in the quota, live or not (an expired row counts until it is swept).
pub async fn size(db: &Db, app: &str, bucket: &str, key: &str) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(OCTET_LENGTH(key) + OCTET_LENGTH(value) AS BIGINT) FROM app_kv \
         WHERE app_id = $1 AND bucket = $2 AND key = $3",
    )
    .bind(app)
    .bind(bucket)
    .bind(key)
    .fetch_optional(db.pool())
    .await?)
}

/// (keys, bytes of keys and values) `app` stores now, expired rows
/// included until they are swept.
pub async fn usage(db: &Db, app: &str) -> StoreResult<(i64, i64)> {
    let mut conn = db.pool().acquire().await?;
    usage_in(&mut conn, app).await
}

/// [`usage`] in the caller's transaction.
pub async fn usage_in(conn: &mut AnyConnection, app: &str) -> StoreResult<(i64, i64)> {
    let usage: Option<(i64, i64)> = sqlx::query_as(USAGE).bind(app).fetch_optional(&mut *conn).await?;
    Ok(usage.unwrap_or((0, 0)))
}

/// Applies `change` to (`app`, `bucket`, `key`) in the caller's
/// transaction; a put stores `version` (a fresh one: [`new_version`]).
pub async fn apply_in(
    conn: &mut AnyConnection,
    app: &str,
    bucket: &str,
    key: &str,
    change: &Change,
    version: i64,
) -> StoreResult<()> {
    match change {
        Change::Put { value, expires_at } => {
            sqlx::query(PUT)
                .bind(app)
                .bind(bucket)
                .bind(key)
                .bind(value.as_slice())
                .bind(now_ms())
                .bind(version)
                .bind(*expires_at)
                .execute(&mut *conn)
                .await?;
        }
        Change::Delete => {
            sqlx::query(DELETE)
                .bind(app)
                .bind(bucket)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Applies `change` to (`app`, `bucket`, `key`) in the caller's
/// transaction only if the live value there still has the version `seen`
/// (`None`: no live value) — the commit check and the write in one
/// statement (two for a delete of a key that was absent). Returns whether
/// it applied; `false` means the key changed since it was read (nothing
/// was written). A put stores version `next` (a fresh one: [`new_version`]).
/// On PostgreSQL the caller holds the app's storage lock
/// (the group commit takes `kv:{app}`), so no other commit of the app's
/// storage runs between a check and a write.
pub async fn apply_if_unchanged_in(
    conn: &mut AnyConnection,
    app: &str,
    bucket: &str,
    key: &str,
    seen: Option<i64>,
    change: &Change,
    next: i64,
) -> StoreResult<bool> {
    let now = now_ms();
    let done = match (change, seen) {
        (Change::Put { value, expires_at }, Some(version)) => {
            sqlx::query(PUT_IF_VERSION)
                .bind(value.as_slice())
                .bind(now)
                .bind(next)
                .bind(*expires_at)
                .bind(app)
                .bind(bucket)
                .bind(key)
                .bind(version)
                .execute(&mut *conn)
                .await?
        }
        // Absent when read: create it, or take the place of an expired row,
        // but never overwrite a live one.
        (Change::Put { value, expires_at }, None) => {
            sqlx::query(PUT_IF_ABSENT)
                .bind(app)
                .bind(bucket)
                .bind(key)
                .bind(value.as_slice())
                .bind(now)
                .bind(next)
                .bind(*expires_at)
                .execute(&mut *conn)
                .await?
        }
        (Change::Delete, Some(version)) => {
            sqlx::query(DELETE_IF_VERSION)
                .bind(app)
                .bind(bucket)
                .bind(key)
                .bind(version)
                .bind(now)
                .execute(&mut *conn)
                .await?
        }
        (Change::Delete, None) => {
            if version_in(conn, app, bucket, key).await?.is_some() {
                return Ok(false);
            }
            apply_in(conn, app, bucket, key, change, next).await?;
            return Ok(true);
        }
    };
    Ok(done.rows_affected() == 1)
}

/// The statements a storage commit runs
/// (`capabilities::storage::commit::apply_in`), on the connection of the
/// commit's transaction: sqlx's, or SQLite's direct one (see
/// [`super::direct`]), whose answers are ready at once.
pub trait KvStatements {
    /// [`version_in`].
    fn version_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = StoreResult<Option<i64>>> + Send;
    /// [`apply_in`].
    fn apply_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
        change: &Change,
        version: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// [`apply_if_unchanged_in`].
    #[allow(clippy::too_many_arguments)]
    fn apply_if_unchanged_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
        seen: Option<i64>,
        change: &Change,
        next: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// [`usage_in`].
    fn usage_in(&mut self, app: &str) -> impl Future<Output = StoreResult<(i64, i64)>> + Send;
}

impl KvStatements for AnyConnection {
    fn version_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = StoreResult<Option<i64>>> + Send {
        version_in(self, app, bucket, key)
    }

    fn apply_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
        change: &Change,
        version: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        apply_in(self, app, bucket, key, change, version)
    }

    fn apply_if_unchanged_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
        seen: Option<i64>,
        change: &Change,
        next: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        apply_if_unchanged_in(self, app, bucket, key, seen, change, next)
    }

    fn usage_in(&mut self, app: &str) -> impl Future<Output = StoreResult<(i64, i64)>> + Send {
        usage_in(self, app)
    }
}

/// The same statements on SQLite's direct connection, run at once.
impl KvStatements for rusqlite::Connection {
    fn version_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = StoreResult<Option<i64>>> + Send {
        std::future::ready(direct::query_one(
            self,
            VERSION,
            &[text(app), text(bucket), text(key), Value::Integer(now_ms())],
        ))
    }

    fn apply_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
        change: &Change,
        version: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        std::future::ready(direct_apply(self, app, bucket, key, change, version))
    }

    fn apply_if_unchanged_in(
        &mut self,
        app: &str,
        bucket: &str,
        key: &str,
        seen: Option<i64>,
        change: &Change,
        next: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        std::future::ready(direct_apply_if_unchanged(self, app, bucket, key, seen, change, next))
    }

    fn usage_in(&mut self, app: &str) -> impl Future<Output = StoreResult<(i64, i64)>> + Send {
        std::future::ready(direct::query_pair(self, USAGE, &[text(app)]).map(|u| u.unwrap_or((0, 0))))
    }
}

/// [`apply_in`] on the direct connection.
fn direct_apply(
    conn: &rusqlite::Connection,
    app: &str,
    bucket: &str,
    key: &str,
    change: &Change,
    version: i64,
) -> StoreResult<()> {
    match change {
        Change::Put { value, expires_at } => direct::execute(
            conn,
            PUT,
            &[
                text(app),
                text(bucket),
                text(key),
                Value::Blob(value.clone()),
                Value::Integer(now_ms()),
                Value::Integer(version),
                opt_int(*expires_at),
            ],
        )?,
        Change::Delete => direct::execute(conn, DELETE, &[text(app), text(bucket), text(key)])?,
    };
    Ok(())
}

/// [`apply_if_unchanged_in`] on the direct connection.
fn direct_apply_if_unchanged(
    conn: &rusqlite::Connection,
    app: &str,
    bucket: &str,
    key: &str,
    seen: Option<i64>,
    change: &Change,
    next: i64,
) -> StoreResult<bool> {
    let now = Value::Integer(now_ms());
    let done = match (change, seen) {
        (Change::Put { value, expires_at }, Some(version)) => direct::execute(
            conn,
            PUT_IF_VERSION,
            &[
                Value::Blob(value.clone()),
                now,
                Value::Integer(next),
                opt_int(*expires_at),
                text(app),
                text(bucket),
                text(key),
                Value::Integer(version),
            ],
        )?,
        (Change::Put { value, expires_at }, None) => direct::execute(
            conn,
            PUT_IF_ABSENT,
            &[
                text(app),
                text(bucket),
                text(key),
                Value::Blob(value.clone()),
                now,
                Value::Integer(next),
                opt_int(*expires_at),
            ],
        )?,
        (Change::Delete, Some(version)) => direct::execute(
            conn,
            DELETE_IF_VERSION,
            &[text(app), text(bucket), text(key), Value::Integer(version), now],
        )?,
        (Change::Delete, None) => {
            let live: Option<i64> = direct::query_one(conn, VERSION, &[text(app), text(bucket), text(key), now])?;
            if live.is_some() {
                return Ok(false);
            }
            direct_apply(conn, app, bucket, key, change, next)?;
            return Ok(true);
        }
    };
    Ok(done == 1)
}

/// A fresh version: random and positive (0 is what rows written before
/// versions existed carry).
pub fn new_version() -> i64 {
    (rand::random::<u64>() >> 1).max(1) as i64
}

/// Stores `value` under (`app`, `bucket`, `key`) at once, in its own
/// transaction (tools and tests; invocations buffer theirs).
pub async fn set(db: &Db, app: &str, bucket: &str, key: &str, value: &[u8]) -> StoreResult<()> {
    let change = Change::Put {
        value: value.to_vec(),
        expires_at: None,
    };
    let mut tx = db.begin_write().await?;
    apply_in(&mut tx, app, bucket, key, &change, new_version()).await?;
    tx.commit().await
}

/// Removes (`app`, `bucket`, `key`) at once, in its own transaction.
pub async fn delete(db: &Db, app: &str, bucket: &str, key: &str) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    apply_in(&mut tx, app, bucket, key, &Change::Delete, new_version()).await?;
    tx.commit().await
}

/// Up to `limit` live keys of (`app`, `bucket`) after `cursor`, ascending.
pub async fn list_keys(db: &Db, app: &str, bucket: &str, cursor: Option<&str>, limit: u32) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT key FROM app_kv WHERE app_id = $1 AND bucket = $2 AND key > $3 \
         AND (expires_at IS NULL OR expires_at > $4) ORDER BY key ASC LIMIT $5",
    )
    .bind(app)
    .bind(bucket)
    .bind(cursor.unwrap_or(""))
    .bind(now_ms())
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn usage_follows_writes_overwrites_and_deletes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        assert_eq!(usage(&db, "a").await.expect("usage"), (0, 0));
        set(&db, "a", "app", "k1", b"12345").await.expect("set");
        set(&db, "a", "app", "k2", b"1").await.expect("set");
        set(&db, "a", "user:x", "ключ", b"1").await.expect("set");
        set(&db, "a", "app", "k1", b"12").await.expect("overwrite");
        set(&db, "b", "app", "k1", b"123").await.expect("other app");
        // k1 (2 + 2) + k2 (2 + 1) + "ключ" (8 bytes of UTF-8 + 1)
        assert_eq!(usage(&db, "a").await.expect("usage"), (3, 16));
        delete(&db, "a", "app", "k2").await.expect("delete");
        assert_eq!(usage(&db, "a").await.expect("usage"), (2, 13));
        // A new write changes the version; reads past the time-to-live see nothing.
        let before = read(&db, "a", "app", "k1").await.expect("read").expect("some");
        set(&db, "a", "app", "k1", b"12").await.expect("same value again");
        let after = read(&db, "a", "app", "k1").await.expect("read").expect("some");
        assert_eq!(before.value, after.value);
        assert_ne!(before.version, after.version, "every write is a new version");
        let mut tx = db.begin_write().await.expect("tx");
        let gone = Change::Put {
            value: b"x".to_vec(),
            expires_at: Some(now_ms() - 1),
        };
        apply_in(&mut tx, "a", "app", "old", &gone, new_version())
            .await
            .expect("put");
        tx.commit().await.expect("commit");
        assert_eq!(read(&db, "a", "app", "old").await.expect("read"), None);
        assert_eq!(
            list_keys(&db, "a", "app", None, 10).await.expect("list"),
            vec!["k1".to_string()]
        );
        assert_eq!(
            usage(&db, "a").await.expect("usage"),
            (3, 17),
            "an expired row counts until swept"
        );
        assert_eq!(usage(&db, "b").await.expect("usage"), (1, 5));
    }

    async fn write(tx: &mut AnyConnection, key: &str, seen: Option<i64>, change: Change) -> bool {
        apply_if_unchanged_in(tx, "a", "app", key, seen, &change, new_version())
            .await
            .expect("store")
    }

    #[tokio::test]
    async fn a_conditional_write_applies_only_over_the_version_it_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let put = |v: &[u8], expires_at: Option<i64>| Change::Put {
            value: v.to_vec(),
            expires_at,
        };
        set(&db, "a", "app", "k", b"1").await.expect("set");
        let seen = read(&db, "a", "app", "k").await.expect("read").expect("some").version;
        let mut tx = db.begin_write().await.expect("tx");
        assert!(
            write(&mut tx, "k", Some(seen), put(b"2", None)).await,
            "over the version read"
        );
        assert!(
            !write(&mut tx, "k", Some(seen), put(b"3", None)).await,
            "that version is gone"
        );
        assert!(
            write(&mut tx, "m", None, put(b"x", None)).await,
            "absent when read: created"
        );
        assert!(
            !write(&mut tx, "m", None, put(b"y", None)).await,
            "never over a live value"
        );
        apply_in(
            &mut tx,
            "a",
            "app",
            "old",
            &put(b"o", Some(now_ms() - 1)),
            new_version(),
        )
        .await
        .expect("expired row");
        assert!(
            write(&mut tx, "old", None, put(b"n", None)).await,
            "an expired row is absent"
        );
        assert!(
            !write(&mut tx, "m", None, Change::Delete).await,
            "absent when read, live now"
        );
        assert!(!write(&mut tx, "k", Some(seen), Change::Delete).await);
        tx.commit().await.expect("commit");
        assert_eq!(get(&db, "a", "app", "k").await.expect("get"), Some(b"2".to_vec()));
        assert_eq!(get(&db, "a", "app", "m").await.expect("get"), Some(b"x".to_vec()));
        assert_eq!(get(&db, "a", "app", "old").await.expect("get"), Some(b"n".to_vec()));
        let now = read(&db, "a", "app", "k").await.expect("read").expect("some").version;
        let mut tx = db.begin_write().await.expect("tx");
        assert!(write(&mut tx, "k", Some(now), Change::Delete).await);
        tx.commit().await.expect("commit");
        assert_eq!(get(&db, "a", "app", "k").await.expect("get"), None);
    }
}
