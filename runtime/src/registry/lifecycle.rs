//! The operator's levers after approval: suspend (the app stops running at
//! once), resume, roll back to an earlier approved version, and change the
//! running version's limits live. Every transition is audited.

use super::{Registry, RegistryError};
use crate::store::apps::{self, App};
use crate::store::status::AppStatus;

impl Registry {
    pub(super) async fn audited(&self, app: &str, action: &str, detail: String) -> Result<App, RegistryError> {
        self.record("operator".into(), app, action, detail).await?;
        self.app(app).await
    }

    /// Suspends `app`: no event reaches it from now on. Suspending a
    /// suspended app changes nothing and is not audited again.
    pub async fn suspend(&self, app: &str) -> Result<App, RegistryError> {
        self.set_status(app, AppStatus::Suspended, "app.suspended").await
    }

    /// Lets a suspended `app` run again (an active one stays as it is).
    pub async fn resume(&self, app: &str) -> Result<App, RegistryError> {
        self.set_status(app, AppStatus::Active, "app.resumed").await
    }

    async fn set_status(&self, app: &str, status: AppStatus, action: &str) -> Result<App, RegistryError> {
        let before = self.app(app).await?;
        if !apps::set_status(&self.db, app, status).await? {
            // It was so already.
            return Ok(before);
        }
        self.audited(app, action, String::new()).await
    }

    /// Replaces the limit overrides of `app`'s running version with
    /// `limits` (fields left out take the host's defaults), without a new
    /// approval: from the next invocation on, on every node. Returns the
    /// version changed and the limits it had.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidDecision`] naming a field out of its range,
    /// [`RegistryError::NotFound`] for no such app or none running.
    pub async fn set_limits(
        &self,
        app: &str,
        limits: &crate::config::LimitOverrides,
    ) -> Result<(String, crate::config::LimitOverrides), RegistryError> {
        limits.validate(&self.limits).map_err(RegistryError::InvalidDecision)?;
        let running = apps::running(&self.db, app).await?;
        let before = running.as_ref().and_then(|(_, v)| v.limits.clone()).unwrap_or_default();
        let Some(version) = apps::set_running_limits(&self.db, app, limits).await? else {
            return Err(RegistryError::NotFound(format!(
                "no app with id or name {app:?} has a version running"
            )));
        };
        let detail = format!(
            "{version} limits {} -> {}",
            serde_json::json!(before),
            serde_json::json!(limits)
        );
        self.record("operator".into(), app, "app.limits_changed", detail)
            .await?;
        Ok((version, before))
    }

    /// Makes the approved `version` the one that runs.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`] for a version the app does not have;
    /// [`RegistryError::InvalidDecision`] for the version already running,
    /// one not approved, or during a rollout.
    pub async fn rollback(&self, app: &str, version: &str) -> Result<App, RegistryError> {
        self.may_change_running(app, None).await?;
        let current = self.app(app).await?;
        if apps::version(&self.db, app, version).await?.is_none() {
            return Err(RegistryError::NotFound(format!(
                "{} has no version {version:?}",
                current.name
            )));
        }
        if current.active_version.as_deref() == Some(version) {
            return Err(RegistryError::InvalidDecision(format!(
                "{version} of {} is already the running version",
                current.name
            )));
        }
        if !apps::activate(&self.db, app, version).await? {
            return Err(RegistryError::InvalidDecision(format!(
                "version {version:?} of this app is not approved; roll back to an approved version"
            )));
        }
        let from = current.active_version.unwrap_or_default();
        self.audited(app, "app.rolled_back", format!("{from} -> {version}"))
            .await
    }
}
