//! Web-app launches: the one-time nonces of launch tokens, and the sessions
//! they open (stored by token hash, like API tokens).

use sqlx::Row;

use super::apps::{Version, version_columns_of_v, version_from_row};
use super::{Db, StoreResult, now_ms};

/// A web-app session: who opened which app in which chat.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The app.
    pub app_id: String,
    /// The chat it was launched from.
    pub chat_id: String,
    /// The platform account that launched it (never shown to the app).
    pub account_id: String,
    /// The account session (device) that launched it; the web session ends with it.
    pub account_session_id: String,
    /// Unix ms after which the session is over.
    pub expires_at: i64,
}

/// Records `nonce` as used; `false` if it was used before (a replay).
/// Forgets nonces whose tokens have expired anyway.
pub async fn use_nonce(db: &Db, nonce: &str, app: &str, expires_at: i64) -> StoreResult<bool> {
    sqlx::query("DELETE FROM launch_nonces WHERE expires_at < $1")
        .bind(now_ms())
        .execute(db.write().await?.on())
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO launch_nonces (nonce, app_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(app)
    .bind(expires_at)
    .execute(db.write().await?.on())
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Opens a session under `token_hash`; forgets expired sessions.
pub async fn create(db: &Db, token_hash: &str, session: &WebSession) -> StoreResult<()> {
    let now = now_ms();
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(db.write().await?.on())
        .await?;
    sqlx::query(
        "INSERT INTO web_sessions (token_hash, app_id, chat_id, account_id, created_at, expires_at, account_session_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash)
    .bind(&session.app_id)
    .bind(&session.chat_id)
    .bind(&session.account_id)
    .bind(now)
    .bind(session.expires_at)
    .bind(&session.account_session_id)
    .execute(db.write().await?.on())
    .await?;
    Ok(())
}

/// Whether the account session (device) `id` is signed in and unexpired.
pub async fn account_session_live(db: &Db, id: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2")
        .bind(id)
        .bind(now_ms())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// The unexpired session stored under `token_hash`.
pub async fn get(db: &Db, token_hash: &str) -> StoreResult<Option<WebSession>> {
    let row = sqlx::query(
        "SELECT app_id, chat_id, account_id, account_session_id, expires_at FROM web_sessions \
         WHERE token_hash = $1 AND expires_at >= $2",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(session_from_row).transpose()
}

fn session_from_row(r: &sqlx::any::AnyRow) -> StoreResult<WebSession> {
    Ok(WebSession {
        app_id: r.try_get("app_id")?,
        chat_id: r.try_get("chat_id")?,
        account_id: r.try_get("account_id")?,
        account_session_id: r
            .try_get::<Option<String>, _>("account_session_id")?
            .unwrap_or_default(),
        expires_at: r.try_get("expires_at")?,
    })
}

/// A session that may be served right now, with what to run: the session
/// is unexpired and for `app`, its account is still a member of its chat,
/// the app is still installed there, active, and its running version
/// approved. One query, for the hot path of every web-app request.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The session.
    pub session: WebSession,
    /// Unix ms after which the account session (device) that launched the
    /// session is over, unless used again before (its expiry slides).
    pub account_session_expires_at: i64,
    /// The app's name.
    pub app_name: String,
    /// The running version.
    pub version: Version,
}

impl LiveSession {
    /// Whether both expiries still allow the session at `now` (unix ms),
    /// by the same rules as [`live`]: the web session through its
    /// `expires_at`, the account session until before its own.
    pub fn unexpired_at(&self, now: i64) -> bool {
        now <= self.session.expires_at && now < self.account_session_expires_at
    }
}

/// The [`LiveSession`] stored under `token_hash` for `app`, if every check passes.
pub async fn live(db: &Db, token_hash: &str, app: &str) -> StoreResult<Option<LiveSession>> {
    // `v.app_id` is the session's app (joined on it); chat, account and
    // expiry come from the session row.
    let sql = format!(
        "SELECT s.chat_id, s.account_id, s.account_session_id, s.expires_at, \
                d.expires_at AS account_session_expires_at, a.name AS app_name, \
                a.rollout_version, a.rollout_percent, {} \
         FROM web_sessions s \
         JOIN apps a ON a.id = s.app_id AND a.status = 'active' \
         JOIN app_versions v ON v.app_id = a.id AND v.version = a.active_version AND v.status = 'approved' \
         JOIN sessions d ON d.id = s.account_session_id AND d.revoked_at IS NULL AND d.expires_at > $3 \
         WHERE s.token_hash = $1 AND s.app_id = $2 AND s.expires_at >= $3 \
           AND EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = s.chat_id AND m.account_id = s.account_id) \
           AND EXISTS (SELECT 1 FROM installs i WHERE i.chat_id = s.chat_id AND i.app_id = s.app_id)",
        version_columns_of_v()
    );
    let row = sqlx::query(&sql)
        .bind(token_hash)
        .bind(app)
        .bind(now_ms())
        .fetch_optional(db.pool())
        .await?;
    let Some(r) = row else { return Ok(None) };
    let session = session_from_row(&r)?;
    // During a staged rollout the session's chat decides the version, the
    // same one its bot events run.
    let mut version = version_from_row(&r)?;
    if let Some(rollout) = super::apps::rollout_from_row(&r)?
        && super::rollouts::in_rollout(app, &session.chat_id, rollout.percent)
        && let Some(rolled_out) = super::apps::version(db, app, &rollout.version).await?
        && rolled_out.status == super::status::VersionStatus::Approved
    {
        version = rolled_out;
    }
    Ok(Some(LiveSession {
        session,
        account_session_expires_at: r.try_get("account_session_expires_at")?,
        app_name: r.try_get("app_name")?,
        version,
    }))
}
