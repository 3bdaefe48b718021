//! This node's cache of live web-app sessions, so that most requests skip
//! the session query.
//!
//! An entry is a [`LiveSession`] under its cookie's token hash (and
//! served only for its own app). It is served only
//!
//! - while this node's revocation epoch is the one it was read under (any
//!   revocation, on this node or, through PostgreSQL's `NOTIFY`, on
//!   another, drops every entry: see [`crate::store::revocations`]);
//! - while this node hears every revocation (on PostgreSQL, while its
//!   listener is connected; otherwise every request runs the query);
//! - until the web session's or its account session's expiry, checked on
//!   every hit.
//!
//! The epoch is taken *before* the query and the answer kept only if the
//! epoch has not moved since, so a request that read the database before
//! a revocation committed cannot put its stale answer back after the
//! revocation dropped the cache.
//!
//! Only live sessions are cached: a refusal is always decided by the
//! database, so a session allowed again (the member is back) works at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::epoch_cache::{EpochCache, Ticket};
use crate::store::revocations::Revocations;
use crate::store::web_sessions::LiveSession;

/// At most this many sessions are cached per node; one more empties the cache.
pub const MAX_CACHED_SESSIONS: usize = 10_000;

/// The cache; see the module's documentation.
#[derive(Debug)]
pub(crate) struct SessionCache {
    cache: EpochCache<Arc<LiveSession>>,
    hits: AtomicU64,
}

impl SessionCache {
    /// An empty cache, dropped on every revocation `revocations` sees.
    pub(crate) fn new(revocations: Arc<Revocations>) -> SessionCache {
        SessionCache {
            cache: EpochCache::new(revocations, MAX_CACHED_SESSIONS),
            hits: AtomicU64::new(0),
        }
    }

    /// Requests served from the cache so far.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The cached session under `token_hash` for `app`, unexpired at `now`
    /// (unix ms); with the ticket to cache what the database answers
    /// instead, on a miss.
    pub(crate) fn get(&self, token_hash: &str, app: &str, now: i64) -> Result<Arc<LiveSession>, Ticket> {
        match self.cache.get(token_hash, |live| live.unexpired_at(now)) {
            Ok(live) if live.session.app_id == app => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(live)
            }
            // Another app's request: the database refuses it, and refusals
            // are not cached.
            Ok(_) => Err(Ticket::none()),
            Err(ticket) => Err(ticket),
        }
    }

    /// Caches `live` under `token_hash` if nothing was revoked since
    /// `ticket` was taken.
    pub(crate) fn insert(&self, ticket: Ticket, token_hash: &str, live: Arc<LiveSession>) {
        self.cache.insert(ticket, token_hash, live);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::apps::Version;
    use crate::store::status::{CompileStatus, VersionStatus};
    use crate::store::web_sessions::WebSession;

    fn live(app: &str, expires_at: i64) -> Arc<LiveSession> {
        Arc::new(LiveSession {
            session: WebSession {
                app_id: app.into(),
                chat_id: "chat".into(),
                account_id: "alice".into(),
                account_session_id: "device".into(),
                expires_at,
            },
            account_session_expires_at: expires_at + 1_000,
            app_name: app.into(),
            version: Version {
                app_id: app.into(),
                version: "1.0.0".into(),
                kind: crate::store::status::AppKind::WebApp,
                description: String::new(),
                manifest: String::new(),
                component_sha256: String::new(),
                component_size: 0,
                imports: Vec::new(),
                requested: Vec::new(),
                grants: None,
                status: VersionStatus::Approved,
                reason: None,
                reviewed_at: None,
                created_at: 0,
                limits: None,
                compile_status: CompileStatus::Compiled,
                schedules: Vec::new(),
                webhooks: Vec::new(),
            },
        })
    }

    #[test]
    fn a_cached_session_is_served_for_its_app_until_it_expires() {
        let cache = SessionCache::new(Arc::new(Revocations::new(true)));
        let ticket = cache.get("h", "app", 0).expect_err("empty");
        cache.insert(ticket, "h", live("app", 100));
        assert!(cache.get("h", "app", 100).is_ok());
        assert!(cache.get("h", "other-app", 100).is_err(), "another app's request");
        assert!(cache.get("h", "app", 101).is_err(), "expired");
        assert!(cache.get("h", "app", 50).is_err(), "an expired entry is gone");
        assert_eq!(cache.hits(), 1);
    }

    #[test]
    fn a_revocation_drops_every_entry_and_an_answer_read_before_it_is_not_kept() {
        let revocations = Arc::new(Revocations::new(true));
        let cache = SessionCache::new(revocations.clone());
        let ticket = cache.get("h", "app", 0).expect_err("empty");
        cache.insert(ticket, "h", live("app", 100));
        // A request takes its ticket, then a revocation commits before its
        // stale answer comes back.
        let stale = cache.get("other", "app", 0).expect_err("a miss");
        revocations.bump();
        cache.insert(stale, "other", live("app", 100));
        assert!(cache.get("h", "app", 0).is_err(), "dropped by the revocation");
        assert!(cache.get("other", "app", 0).is_err(), "the stale answer was not kept");
    }

    #[test]
    fn nothing_is_cached_while_revocations_may_be_missed() {
        let revocations = Arc::new(Revocations::new(false));
        let cache = SessionCache::new(revocations.clone());
        let ticket = cache.get("h", "app", 0).expect_err("empty");
        cache.insert(ticket, "h", live("app", 100));
        assert!(cache.get("h", "app", 0).is_err(), "the listener is not up");
        revocations.connected();
        let ticket = cache.get("h", "app", 0).expect_err("empty");
        cache.insert(ticket, "h", live("app", 100));
        assert!(cache.get("h", "app", 0).is_ok());
        revocations.disconnected();
        assert!(cache.get("h", "app", 0).is_err(), "the listener went down");
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_sessions() {
        let cache = SessionCache::new(Arc::new(Revocations::new(true)));
        for n in 0..=MAX_CACHED_SESSIONS {
            let ticket = cache.get(&n.to_string(), "app", 0).expect_err("new");
            cache.insert(ticket, &n.to_string(), live("app", 100));
        }
        assert!(cache.cache.len() <= MAX_CACHED_SESSIONS);
        assert!(
            cache.get(&MAX_CACHED_SESSIONS.to_string(), "app", 0).is_ok(),
            "the newest stays"
        );
    }
}
