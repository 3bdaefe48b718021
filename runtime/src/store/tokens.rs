//! Bearer and session tokens: random, shown once, stored only as a hash;
//! and account sessions, one per signed-in device, that expire unless used
//! and can be signed out.
//!
//! Expiry slides: a session lasts [`SessionPolicy::ttl`] from its last use
//! (recorded at most once a [`TOUCH_INTERVAL_MS`], so a busy client does not
//! write on every request). Every function that depends on the time takes
//! `now` (unix ms) from its caller, so tests can move the clock.

use std::time::Duration;

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::accounts::Account;
use super::{Db, StoreResult, new_id};

/// A new random token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("mt_{}", hex::encode(bytes))
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How long a session lasts without use when nothing else is configured.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// A session's last use (and so its expiry) is recorded at most this often.
pub const TOUCH_INTERVAL_MS: i64 = 60_000;
/// Live sessions one account may hold at once.
pub const MAX_LIVE_SESSIONS: i64 = 100;
/// How long signed-out and expired sessions are kept (to answer their
/// tokens with a precise error) before they are forgotten.
const KEEP_DEAD_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session expires this long after its last use.
    pub ttl: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            ttl: DEFAULT_SESSION_TTL,
        }
    }
}

impl SessionPolicy {
    /// The time-to-live in milliseconds.
    pub fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX).max(1)
    }
}

/// One session: a signed-in device of an account.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Its id (not the token).
    pub id: String,
    /// Whose it is.
    pub account_id: String,
    /// What the user called it, or the client's User-Agent.
    pub label: String,
    /// When it was signed in, unix ms.
    pub created_at: i64,
    /// When its token was last seen, unix ms (to within a minute).
    pub last_used_at: i64,
    /// When it expires unless used again, unix ms.
    pub expires_at: i64,
    /// When it was signed out, unix ms.
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "s.id, s.account_id, s.label, s.created_at, s.last_used_at, s.expires_at, s.revoked_at";

fn session_from_row(r: &sqlx::any::AnyRow) -> StoreResult<Session> {
    Ok(Session {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

/// What a token turned out to be.
#[derive(Debug, Clone)]
pub enum SessionCheck {
    /// A live session (its expiry pushed forward if due).
    Live {
        /// The session's account.
        account: Account,
        /// The session.
        session: Session,
    },
    /// A session that expired.
    Expired(Session),
    /// A session that was signed out.
    Revoked(Session),
    /// No session has this token.
    Unknown,
}

/// Inserts a session for `account` under `token_hash` on `conn` (a
/// transaction or a connection).
///
/// # Errors
///
/// A store error (for instance a token hash already in use).
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    account: &str,
    token_hash: &str,
    label: &str,
    now: i64,
    policy: SessionPolicy,
) -> StoreResult<Session> {
    let session = Session {
        id: new_id(),
        account_id: account.to_string(),
        label: label.to_string(),
        created_at: now,
        last_used_at: now,
        expires_at: now.saturating_add(policy.ttl_ms()),
        revoked_at: None,
    };
    sqlx::query(
        "INSERT INTO sessions (id, account_id, token_hash, label, created_at, last_used_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(&session.id)
    .bind(&session.account_id)
    .bind(token_hash)
    .bind(&session.label)
    .bind(session.created_at)
    .bind(session.last_used_at)
    .bind(session.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(session)
}

/// Opens a new session for `account` (a sign-in on another device), first
/// forgetting its sessions dead for long; `None` when the account already
/// holds [`MAX_LIVE_SESSIONS`] live ones.
///
/// # Errors
///
/// A store error.
pub async fn create(
    db: &Db,
    account: &str,
    token_hash: &str,
    label: &str,
    now: i64,
    policy: SessionPolicy,
) -> StoreResult<Option<Session>> {
    let mut tx = db.begin_write().await?;
    // Live sessions are counted, then one is added.
    db.lock_key(&mut tx, &format!("sessions:{account}")).await?;
    sqlx::query(
        "DELETE FROM sessions WHERE account_id = $1 \
         AND ((revoked_at IS NOT NULL AND revoked_at < $2) OR expires_at < $2)",
    )
    .bind(account)
    .bind(now.saturating_sub(KEEP_DEAD_MS))
    .execute(&mut *tx)
    .await?;
    let live: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM sessions WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(account)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?
    .try_get("n")?;
    if live >= MAX_LIVE_SESSIONS {
        return Ok(None);
    }
    let session = insert(&mut tx, account, token_hash, label, now, policy).await?;
    tx.commit().await?;
    Ok(Some(session))
}

/// Looks up the session of `token_hash` at time `now`. A live session's
/// last use and expiry are moved forward when the last recorded use is a
/// [`TOUCH_INTERVAL_MS`] old, or when `policy` now allows less time than
/// the session has left.
///
/// # Errors
///
/// A store error.
pub async fn check(db: &Db, token_hash: &str, now: i64, policy: SessionPolicy) -> StoreResult<SessionCheck> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, a.name, a.phone, a.created_at AS account_created_at \
         FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(SessionCheck::Unknown);
    };
    let mut session = session_from_row(&row)?;
    if session.revoked_at.is_some() {
        return Ok(SessionCheck::Revoked(session));
    }
    if now >= session.expires_at {
        return Ok(SessionCheck::Expired(session));
    }
    let expires_at = now.saturating_add(policy.ttl_ms());
    if now - session.last_used_at >= TOUCH_INTERVAL_MS || session.expires_at > expires_at {
        let done = sqlx::query(
            "UPDATE sessions SET last_used_at = $1, expires_at = $2 \
             WHERE id = $3 AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(expires_at)
        .bind(&session.id)
        .execute(db.write().await?.on())
        .await?;
        if done.rows_affected() == 0 {
            // Signed out (or expired) between the read and the write.
            return Ok(SessionCheck::Revoked(session));
        }
        session.last_used_at = now;
        session.expires_at = expires_at;
    }
    let account = Account {
        id: session.account_id.clone(),
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        created_at: row.try_get("account_created_at")?,
    };
    Ok(SessionCheck::Live { account, session })
}

/// The live sessions of `account` at time `now`, newest first.
///
/// # Errors
///
/// A store error.
pub async fn live_for_account(db: &Db, account: &str, now: i64) -> StoreResult<Vec<Session>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions s WHERE s.account_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
         ORDER BY s.created_at DESC, s.id DESC"
    ))
    .bind(account)
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(session_from_row).collect()
}

/// Signs out the live session `id` of `account` at time `now`; false if
/// `account` has no such live session. A revocation: when this returns,
/// no node serves a web-app session it launched from a cache (see
/// [`super::revocations`]).
///
/// # Errors
///
/// A store error.
pub async fn revoke(db: &Db, account: &str, id: &str, now: i64) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(id)
    .bind(account)
    .execute(&mut *tx)
    .await?;
    super::revocations::commit_if(db, tx, done.rows_affected() > 0).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::accounts;

    const DAY: i64 = 24 * 60 * 60 * 1000;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("database");
        (dir, db)
    }

    fn policy(days: u64) -> SessionPolicy {
        SessionPolicy {
            ttl: Duration::from_secs(days * 24 * 60 * 60),
        }
    }

    #[tokio::test]
    async fn sessions_expire_a_ttl_after_their_last_use_and_use_pushes_the_expiry() {
        let (_dir, db) = db().await;
        let (account, first) =
            accounts::create_with_session(&db, "Alice", None, &hash_token("t1"), "phone", 1_000, policy(30))
                .await
                .expect("account");
        assert_eq!(first.expires_at, 1_000 + 30 * DAY);
        // Used on day 20: the expiry moves to day 50.
        let at = 1_000 + 20 * DAY;
        match check(&db, &hash_token("t1"), at, policy(30)).await.expect("check") {
            SessionCheck::Live { account: a, session } => {
                assert_eq!(a.id, account.id);
                assert_eq!(a.name, "Alice");
                assert_eq!(session.expires_at, at + 30 * DAY);
                assert_eq!(session.last_used_at, at);
            }
            other => panic!("expected a live session, got {other:?}"),
        }
        // Within a minute of the last recorded use nothing is written.
        let SessionCheck::Live { session, .. } = check(&db, &hash_token("t1"), at + 30_000, policy(30))
            .await
            .expect("check")
        else {
            panic!("live")
        };
        assert_eq!(session.last_used_at, at);
        // Unused for 30 days after that: expired.
        assert!(matches!(
            check(&db, &hash_token("t1"), at + 30 * DAY, policy(30))
                .await
                .expect("check"),
            SessionCheck::Expired(_)
        ));
        assert!(
            live_for_account(&db, &account.id, at + 30 * DAY)
                .await
                .expect("list")
                .is_empty()
        );
        assert!(matches!(
            check(&db, &hash_token("nope"), at, policy(30)).await.expect("check"),
            SessionCheck::Unknown
        ));
    }

    #[tokio::test]
    async fn a_shorter_ttl_applies_to_existing_sessions_at_their_next_use() {
        let (_dir, db) = db().await;
        accounts::create_with_session(&db, "Alice", None, &hash_token("t1"), "phone", 0, policy(30))
            .await
            .expect("account");
        let SessionCheck::Live { session, .. } = check(&db, &hash_token("t1"), 10, policy(1)).await.expect("check")
        else {
            panic!("live")
        };
        assert_eq!(session.expires_at, 10 + DAY);
        assert!(matches!(
            check(&db, &hash_token("t1"), 10 + DAY, policy(1)).await.expect("check"),
            SessionCheck::Expired(_)
        ));
    }

    #[tokio::test]
    async fn revoked_sessions_stay_revoked_and_only_their_owner_revokes_them() {
        let (_dir, db) = db().await;
        let (alice, first) =
            accounts::create_with_session(&db, "Alice", None, &hash_token("a1"), "phone", 0, policy(30))
                .await
                .expect("account");
        let (bob, _) = accounts::create_with_session(&db, "Bob", None, &hash_token("b1"), "phone", 0, policy(30))
            .await
            .expect("account");
        let second = create(&db, &alice.id, &hash_token("a2"), "laptop", 5, policy(30))
            .await
            .expect("create")
            .expect("under the cap");
        let listed = live_for_account(&db, &alice.id, 10).await.expect("list");
        assert_eq!(
            listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            [second.id.as_str(), first.id.as_str()]
        );
        assert!(!revoke(&db, &bob.id, &first.id, 10).await.expect("revoke"), "not Bob's");
        assert!(revoke(&db, &alice.id, &first.id, 10).await.expect("revoke"));
        assert!(!revoke(&db, &alice.id, &first.id, 11).await.expect("revoke"), "once");
        assert!(matches!(
            check(&db, &hash_token("a1"), 12, policy(30)).await.expect("check"),
            SessionCheck::Revoked(_)
        ));
        assert!(matches!(
            check(&db, &hash_token("a2"), 12, policy(30)).await.expect("check"),
            SessionCheck::Live { .. }
        ));
    }

    #[tokio::test]
    async fn an_account_holds_a_bounded_number_of_live_sessions() {
        let (_dir, db) = db().await;
        let (alice, _) = accounts::create_with_session(&db, "Alice", None, &hash_token("t0"), "phone", 0, policy(30))
            .await
            .expect("account");
        for i in 1..MAX_LIVE_SESSIONS {
            let made = create(&db, &alice.id, &hash_token(&format!("t{i}")), "x", 0, policy(30))
                .await
                .expect("create");
            assert!(made.is_some(), "session {i}");
        }
        assert!(
            create(&db, &alice.id, &hash_token("one-too-many"), "x", 0, policy(30))
                .await
                .expect("create")
                .is_none()
        );
        // Long after they all expired, room again (and the dead are forgotten).
        let later = 100 * DAY;
        assert!(
            create(&db, &alice.id, &hash_token("fresh"), "x", later, policy(30))
                .await
                .expect("create")
                .is_some()
        );
    }
}
