//! The operator's side: pending versions, approve with (a subset of) the
//! requested grants, or reject with a reason.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Registry, RegistryError};
use crate::capabilities::grants::{ImportRule, grants_for_import};
use crate::config::LimitOverrides;
use crate::store::apps;
use crate::store::status::{CompileStatus, VersionStatus};

/// A pending version as the operator sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewItem {
    /// The app's id.
    pub app: String,
    /// The app's name.
    pub name: String,
    /// The version under review.
    pub version: String,
    /// `bot`, `web-app` or `app`.
    pub kind: crate::store::status::AppKind,
    /// The manifest's description.
    pub description: String,
    /// Requested capabilities with their reasons.
    pub requested: Vec<RequestedCapability>,
    /// What the component really imports.
    pub imports: Vec<String>,
    /// For each import, in the same order, the grants that unlock it (the
    /// host's own table, so the review page needs no copy of it).
    pub import_rules: Vec<ImportGrants>,
    /// hex sha256 of the component.
    pub sha256: String,
    /// Component size in bytes.
    pub size: i64,
    /// Upload time, unix ms.
    pub uploaded_at: i64,
    /// `compiling` or `compiled`: approval waits for `compiled`.
    pub compile_status: CompileStatus,
    /// The manifest's schedules: when the app runs on its own (with the
    /// `schedule` grant).
    pub schedules: Vec<ScheduleItem>,
    /// The manifest's webhooks: its public endpoints `/hooks/{app}/{name}`
    /// (with the `webhook` grant).
    pub webhooks: Vec<String>,
    /// For a new version of an app that has one running: what changes
    /// against the running version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeDiff>,
}

/// What a new version asks for against the running one (the review's
/// capability diff).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UpgradeDiff {
    /// The running version.
    pub from: String,
    /// Capabilities it requests that the running version was not granted;
    /// each needs the operator's explicit grant.
    pub capabilities_added: Vec<String>,
    /// Capabilities the running version was granted that it no longer
    /// requests (users' consents to them end when it runs).
    pub capabilities_removed: Vec<String>,
    /// Interfaces the component imports that the running one did not.
    pub imports_added: Vec<String>,
    /// Interfaces the running component imports that this one does not.
    pub imports_removed: Vec<String>,
    /// Outbound hosts (`http:<host>`) among the added capabilities.
    pub hosts_added: Vec<String>,
    /// Webhooks the running version did not declare.
    pub webhooks_added: Vec<String>,
    /// Schedules that are new or run at another time.
    pub schedules_added: Vec<ScheduleItem>,
    /// The limit overrides the running version has (the operator sets a new
    /// version's at approval, the running one's live with
    /// `PUT /v1/apps/{app}/limits`).
    pub running_limits: Option<crate::config::LimitOverrides>,
    /// Whether it asks for anything new (then approving it needs `grants`
    /// listing what is granted, each new capability checked explicitly).
    pub asks_for_more: bool,
}

impl UpgradeDiff {
    /// The diff of `new` against `running`.
    pub fn between(running: &apps::Version, new: &apps::Version) -> UpgradeDiff {
        let granted = running.grants.clone().unwrap_or_default();
        let requested: BTreeSet<String> = new.requested.iter().map(|(g, _)| g.clone()).collect();
        let minus = |a: &BTreeSet<String>, b: &BTreeSet<String>| a.difference(b).cloned().collect::<Vec<_>>();
        let old_imports: BTreeSet<String> = running.imports.iter().cloned().collect();
        let new_imports: BTreeSet<String> = new.imports.iter().cloned().collect();
        let capabilities_added = minus(&requested, &granted);
        let hosts_added = capabilities_added
            .iter()
            .filter(|g| g.starts_with("http:"))
            .cloned()
            .collect();
        let webhooks_added = new
            .webhooks
            .iter()
            .filter(|w| !running.webhooks.contains(w))
            .cloned()
            .collect::<Vec<_>>();
        let schedules_added = new
            .schedules
            .iter()
            .filter(|s| !running.schedules.contains(s))
            .map(|(name, cron)| ScheduleItem {
                name: name.clone(),
                cron: cron.clone(),
            })
            .collect::<Vec<_>>();
        let asks_for_more = !capabilities_added.is_empty();
        UpgradeDiff {
            from: running.version.clone(),
            capabilities_removed: minus(&granted, &requested),
            imports_added: minus(&new_imports, &old_imports),
            imports_removed: minus(&old_imports, &new_imports),
            capabilities_added,
            hosts_added,
            webhooks_added,
            schedules_added,
            running_limits: running.limits.clone(),
            asks_for_more,
        }
    }
}

/// A manifest schedule as the review shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScheduleItem {
    /// Its name.
    pub name: String,
    /// Its 5-field cron expression, UTC.
    pub cron: String,
}

/// Which grants unlock one import.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportGrants {
    /// The import, as the component names it.
    pub import: String,
    /// `always` (linked with nothing granted), `needs` (one of `grants`;
    /// `http:` stands for any `http:<host>`) or `unknown` (not an interface
    /// of this platform: the upload would have been refused).
    pub rule: &'static str,
    /// For `needs`: the grants, any one of which unlocks it.
    pub grants: Vec<&'static str>,
}

impl ImportGrants {
    fn of(import: &str) -> ImportGrants {
        let (rule, grants) = match grants_for_import(import) {
            ImportRule::Always => ("always", Vec::new()),
            ImportRule::NeedsOneOf(g) => ("needs", g.to_vec()),
            ImportRule::Unknown => ("unknown", Vec::new()),
        };
        ImportGrants {
            import: import.to_string(),
            rule,
            grants,
        }
    }
}

/// One requested capability.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestedCapability {
    /// Grant name.
    pub name: String,
    /// Why the developer wants it.
    pub reason: String,
}

/// The operator's decision.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `approve` or `reject`.
    pub decision: String,
    /// For approve: the subset to grant (default: everything requested).
    #[serde(default)]
    pub grants: Option<Vec<String>>,
    /// For reject: why.
    #[serde(default)]
    pub reason: Option<String>,
    /// For approve: limits that differ from the host defaults for this version.
    #[serde(default)]
    pub limits: Option<LimitOverrides>,
    /// For approve of a new version of a running app: run it in this share
    /// of the app's chats only, 1 to 99 (a staged rollout; raise, promote
    /// or abort it at `/v1/apps/{app}/rollout`). Default: every chat.
    #[serde(default)]
    pub rollout_percent: Option<u8>,
}

impl Registry {
    /// Versions waiting for review, oldest first.
    pub async fn pending(&self) -> Result<Vec<ReviewItem>, RegistryError> {
        let list = apps::versions_with_status(&self.db, VersionStatus::Pending).await?;
        let mut running = std::collections::HashMap::new();
        for (_, v) in &list {
            if !running.contains_key(&v.app_id) {
                let found = apps::running(&self.db, &v.app_id).await?.map(|(_, r)| r);
                running.insert(v.app_id.clone(), found);
            }
        }
        Ok(list
            .into_iter()
            .map(|(name, v)| ReviewItem {
                upgrade: running
                    .get(&v.app_id)
                    .and_then(Option::as_ref)
                    .map(|r| UpgradeDiff::between(r, &v)),
                app: v.app_id,
                name,
                version: v.version,
                kind: v.kind,
                description: v.description,
                requested: v
                    .requested
                    .into_iter()
                    .map(|(name, reason)| RequestedCapability { name, reason })
                    .collect(),
                import_rules: v.imports.iter().map(|i| ImportGrants::of(i)).collect(),
                imports: v.imports,
                sha256: v.component_sha256,
                size: v.component_size,
                uploaded_at: v.created_at,
                compile_status: v.compile_status,
                schedules: v
                    .schedules
                    .into_iter()
                    .map(|(name, cron)| ScheduleItem { name, cron })
                    .collect(),
                webhooks: v.webhooks,
            })
            .collect())
    }

    /// Applies the operator's `decision` to (`app`, `version`).
    pub async fn decide(&self, app: &str, version: &str, decision: &Decision) -> Result<apps::Version, RegistryError> {
        let current = apps::version(&self.db, app, version)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("app {app:?} has no version {version:?}")))?;
        if current.status != VersionStatus::Pending {
            return Err(RegistryError::NotPending(
                app.into(),
                version.into(),
                current.status.to_string(),
            ));
        }
        let requested: BTreeSet<String> = current.requested.iter().map(|(g, _)| g.clone()).collect();
        let (action, detail) = match decision.decision.as_str() {
            "approve" => {
                let limits = decision.limits.clone().unwrap_or_default();
                limits.validate(&self.limits).map_err(RegistryError::InvalidDecision)?;
                if decision.reason.is_some() {
                    return Err(RegistryError::InvalidDecision(
                        "`reason` goes with reject, not approve".into(),
                    ));
                }
                // An upgrade asking for more than the running version was
                // granted is approved only with each grant listed: the
                // operator checks the new ones explicitly.
                if decision.grants.is_none()
                    && let Some((_, running)) = apps::running(&self.db, app).await?
                {
                    let diff = UpgradeDiff::between(&running, &current);
                    if diff.asks_for_more {
                        return Err(RegistryError::InvalidDecision(format!(
                            "{version} asks for more than the running {}: {:?}; approve with `grants` listing \
                             what you grant (each new capability checked explicitly)",
                            diff.from, diff.capabilities_added
                        )));
                    }
                }
                self.may_change_running(app, decision.rollout_percent).await?;
                if decision.rollout_percent.is_some() {
                    self.rollout_keeps_kind(app, &current).await?;
                }
                let grants: BTreeSet<String> = match &decision.grants {
                    None => requested.clone(),
                    Some(list) => list.iter().cloned().collect(),
                };
                let extra: Vec<&String> = grants.difference(&requested).collect();
                if !extra.is_empty() {
                    return Err(RegistryError::InvalidDecision(format!(
                        "cannot grant what was not requested: {extra:?}; requested: {requested:?}"
                    )));
                }
                match current.compile_status {
                    CompileStatus::Compiled => {}
                    CompileStatus::Compiling => {
                        return Err(RegistryError::NotCompiled(
                            app.into(),
                            version.into(),
                            "it is still compiling; approve it once it has compiled".into(),
                        ));
                    }
                    other => {
                        return Err(RegistryError::NotCompiled(
                            app.into(),
                            version.into(),
                            format!("compiling it ended {other}"),
                        ));
                    }
                }
                if !apps::approve(&self.db, app, version, &grants, &limits, decision.rollout_percent).await? {
                    return Err(RegistryError::NotPending(
                        app.into(),
                        version.into(),
                        "no longer pending, or the app's running version changed meanwhile".into(),
                    ));
                }
                let rollout = decision
                    .rollout_percent
                    .map(|p| format!(", rolled out to {p}% of chats"))
                    .unwrap_or_default();
                (
                    "version.approved",
                    format!(
                        "{version} granted {grants:?} limits {}{rollout}",
                        serde_json::json!(limits)
                    ),
                )
            }
            "reject" => {
                if decision.grants.is_some() || decision.limits.is_some() || decision.rollout_percent.is_some() {
                    return Err(RegistryError::InvalidDecision(
                        "`grants`, `limits` and `rollout_percent` go with approve, not reject".into(),
                    ));
                }
                let reason = decision.reason.as_deref().map(str::trim).unwrap_or("");
                if reason.is_empty() || reason.len() > 2_000 {
                    return Err(RegistryError::InvalidDecision(
                        "reject needs a `reason` of 1 to 2000 bytes".into(),
                    ));
                }
                if !apps::reject(&self.db, app, version, reason).await? {
                    return Err(RegistryError::NotPending(
                        app.into(),
                        version.into(),
                        "no longer pending".into(),
                    ));
                }
                ("version.rejected", format!("{version}: {reason}"))
            }
            other => {
                return Err(RegistryError::InvalidDecision(format!(
                    "decision must be \"approve\" or \"reject\", not {other:?}"
                )));
            }
        };
        self.record("operator".into(), app, action, detail).await?;
        apps::version(&self.db, app, version)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("app {app:?} has no version {version:?}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Decision;
    use crate::capabilities::Services;
    use crate::config::Limits;
    use crate::engine::Engine;
    use crate::registry::{Registry, RegistryError};
    use crate::sandbox::Sandbox;
    use crate::store::apps::{self, NewVersion};
    use crate::store::blobs::BlobStore;
    use crate::store::status::{CompileStatus, VersionStatus};
    use crate::store::{Db, accounts};

    #[tokio::test]
    async fn a_version_cannot_be_approved_until_it_has_compiled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open_sqlite(dir.path()).await.expect("db");
        let limits = Limits::default();
        let engine = Engine::new(&limits, &dir.path().join("compiled")).expect("engine");
        let blobs = BlobStore::open(&dir.path().join("modules")).expect("blobs");
        let services = Services::for_tests(&db, &limits);
        let sandbox = Arc::new(Sandbox::new(engine, services, blobs.clone()).expect("sandbox"));
        let registry = Registry::new(db.clone(), blobs, sandbox, limits);
        let owner = accounts::create(&db, "Dev", None, "token-hash").await.expect("account");
        // A version as an upload stores it: still compiling.
        let app = apps::add_version(&db, &NewVersion::for_tests("slow-bot", &owner.id))
            .await
            .expect("version stored");
        let approve = Decision {
            decision: "approve".into(),
            grants: None,
            reason: None,
            limits: None,
            rollout_percent: None,
        };
        match registry.decide(&app, "1.0.0", &approve).await {
            Err(RegistryError::NotCompiled(_, _, why)) => assert!(why.contains("still compiling"), "{why}"),
            other => panic!("approval before the compile ended: {other:?}"),
        }
        apps::set_compile_status(&db, &app, "1.0.0", CompileStatus::Failed)
            .await
            .expect("status");
        assert!(matches!(
            registry.decide(&app, "1.0.0", &approve).await,
            Err(RegistryError::NotCompiled(..))
        ));
        apps::set_compile_status(&db, &app, "1.0.0", CompileStatus::Compiled)
            .await
            .expect("status");
        let approved = registry
            .decide(&app, "1.0.0", &approve)
            .await
            .expect("approved once compiled");
        assert_eq!(approved.status, VersionStatus::Approved);
    }
}
