//! This node's cache of apps' running versions, so most jobs skip the
//! lookup of what to run. An entry is served only while this node's
//! revocation epoch is the one it was read under: approving a version,
//! rolling back, suspending and resuming are revocations
//! ([`crate::store::revocations`]), on this node or, through PostgreSQL's
//! `NOTIFY`, on another, and each drops every entry; while a node does not
//! hear every revocation (its listener is down) nothing is cached. As for
//! the web-session cache, the epoch is taken before the lookup and the
//! answer kept only if it has not moved since.

use std::sync::Arc;

use crate::sandbox::Target;
use crate::store::epoch_cache::{EpochCache, Ticket};
use crate::store::revocations::Revocations;
use crate::store::rollouts;

/// What runs of one app: the stable target, and during a staged rollout
/// the rollout's target with the share of chats it runs in.
#[derive(Debug, Clone)]
pub(super) struct AppTargets {
    /// The active version's target.
    pub(super) stable: Target,
    /// The rollout's target and percentage.
    pub(super) rollout: Option<(Target, u8)>,
}

impl AppTargets {
    /// The target an event in `chat` (empty: outside any chat) runs.
    pub(super) fn for_chat(&self, chat: &str) -> &Target {
        match &self.rollout {
            Some((target, percent)) if rollouts::in_rollout(&self.stable.app_id, chat, *percent) => target,
            _ => &self.stable,
        }
    }
}

/// At most this many apps' targets are cached; one more empties the cache.
pub(super) const MAX_CACHED_TARGETS: usize = 10_000;

/// The cache; see the module's documentation.
pub(super) struct TargetCache(EpochCache<Option<AppTargets>>);

impl TargetCache {
    pub(super) fn new(revocations: Arc<Revocations>) -> TargetCache {
        TargetCache(EpochCache::new(revocations, MAX_CACHED_TARGETS))
    }

    /// The cached target of `app` (`Ok(None)`: not runnable), or the
    /// ticket to cache a lookup under.
    pub(super) fn get(&self, app: &str) -> Result<Option<AppTargets>, Ticket> {
        self.0.get(app, |_| true)
    }

    /// Caches `target` for `app` if nothing was revoked since `ticket` was taken.
    pub(super) fn insert(&self, ticket: Ticket, app: &str, target: Option<AppTargets>) {
        self.0.insert(ticket, app, target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::Grants;

    fn target(version: &str) -> AppTargets {
        AppTargets {
            stable: target_of(version),
            rollout: None,
        }
    }

    fn target_of(version: &str) -> Target {
        Target {
            app_id: "app".into(),
            name: "bot".into(),
            version: version.into(),
            sha256: "00".into(),
            grants: Grants::default(),
            limits: Default::default(),
            handles_events: true,
        }
    }

    #[test]
    fn a_revocation_drops_every_target_and_a_lookup_from_before_it_is_not_kept() {
        let revocations = Arc::new(Revocations::new(true));
        let cache = TargetCache::new(revocations.clone());
        let Err(epoch) = cache.get("app") else {
            panic!("empty at first")
        };
        cache.insert(epoch, "app", Some(target("1.0.0")));
        assert_eq!(
            cache.get("app").ok().flatten().map(|t| t.stable.version),
            Some("1.0.0".into())
        );
        // A lookup that started before a revocation is not kept.
        let Err(before) = cache.get("other") else {
            panic!("not cached")
        };
        revocations.bump();
        cache.insert(before, "other", None);
        assert!(cache.get("other").is_err());
        assert!(cache.get("app").is_err(), "the revocation dropped it");
    }

    #[test]
    fn a_rollout_runs_in_its_chats_only_and_never_outside_a_chat() {
        let targets = AppTargets {
            stable: target_of("1.0.0"),
            rollout: Some((target_of("2.0.0"), 30)),
        };
        let chats: Vec<String> = (0..1_000).map(|i| format!("chat-{i}")).collect();
        let on_rollout = chats.iter().filter(|c| targets.for_chat(c).version == "2.0.0").count();
        assert!((200..=400).contains(&on_rollout), "{on_rollout} of 1,000 chats at 30%");
        assert_eq!(targets.for_chat("").version, "1.0.0");
    }
}
