//! Sign-in sessions, one per device: the token check every request goes
//! through, signing in another device, listing and signing out.
//!
//! Expiry slides: a session lasts the host's session time-to-live from its
//! last use ([`crate::store::tokens`] keeps the rows).

use std::sync::Arc;

use super::{AccountError, Accounts, Session, SessionCheck, hash_token, new_token};
use crate::store::accounts::Account;
use crate::store::epoch_cache::EpochCache;
use crate::store::revocations::Revocations;
use crate::store::{now_ms, tokens};

/// At most this many sign-in sessions are cached per node; one more
/// empties the cache.
pub(crate) const MAX_CACHED_SESSIONS: usize = 10_000;

/// This node's cache of live sign-in sessions, so that most requests skip
/// the token query. An entry is served while this node's revocation epoch
/// stands (signing out is a revocation, on every node: see
/// [`crate::store::revocations`]), until the session expires, and only
/// until its last use is due to be recorded again
/// ([`tokens::TOUCH_INTERVAL_MS`]): then the query runs and moves the
/// expiry forward, as without the cache.
#[derive(Debug)]
pub(crate) struct LiveSessions(EpochCache<(Account, Session)>);

impl LiveSessions {
    pub(crate) fn new(revocations: Arc<Revocations>) -> LiveSessions {
        LiveSessions(EpochCache::new(revocations, MAX_CACHED_SESSIONS))
    }
}

impl Accounts {
    /// What the token hashing to `token_hash` opens now: a live session
    /// (whose expiry moves forward if due), an expired or signed-out one,
    /// or nothing.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn check(&self, token_hash: &str) -> Result<SessionCheck, AccountError> {
        let now = now_ms();
        let longest = now.saturating_add(self.sessions.ttl_ms());
        let usable = |(_, s): &(Account, Session)| {
            now < s.expires_at && s.expires_at <= longest && now - s.last_used_at < tokens::TOUCH_INTERVAL_MS
        };
        let ticket = match self.live.0.get(token_hash, usable) {
            Ok((account, session)) => return Ok(SessionCheck::Live { account, session }),
            Err(ticket) => ticket,
        };
        let check = tokens::check(&self.db, token_hash, now, self.sessions).await?;
        if let SessionCheck::Live { account, session } = &check {
            self.live
                .0
                .insert(ticket, token_hash, (account.clone(), session.clone()));
        }
        Ok(check)
    }

    /// Whether the session of `token_hash` is still signed in (false when
    /// it cannot be told).
    pub async fn session_live(&self, token_hash: &str) -> bool {
        matches!(self.check(token_hash).await, Ok(SessionCheck::Live { .. }))
    }

    /// Signs `account` in on another device labelled `label`: a new session
    /// and its token, to be shown once.
    ///
    /// # Errors
    ///
    /// [`AccountError::TooManySessions`] when the account already holds
    /// [`super::MAX_LIVE_SESSIONS`] live ones.
    pub async fn sign_in(&self, account: &str, label: &str) -> Result<(Session, String), AccountError> {
        let token = new_token();
        let session = tokens::create(&self.db, account, &hash_token(&token), label, now_ms(), self.sessions)
            .await?
            .ok_or(AccountError::TooManySessions)?;
        Ok((session, token))
    }

    /// The live sessions of `account`, newest first.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn live_sessions(&self, account: &str) -> Result<Vec<Session>, AccountError> {
        Ok(tokens::live_for_account(&self.db, account, now_ms()).await?)
    }

    /// Signs out the live session `id` of `account`.
    ///
    /// # Errors
    ///
    /// [`AccountError::NoSuchSession`] when `account` has no such live session.
    pub async fn sign_out(&self, account: &str, id: &str) -> Result<(), AccountError> {
        if tokens::revoke(&self.db, account, id, now_ms()).await? {
            Ok(())
        } else {
            Err(AccountError::NoSuchSession)
        }
    }
}
