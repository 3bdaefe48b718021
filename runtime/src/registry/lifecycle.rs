//! The operator's levers after approval: suspend (the app stops running at
//! once), resume, and roll back to an earlier approved version. Every
//! transition is audited.

use super::{Registry, RegistryError};
use crate::store::apps::{self, App};
use crate::store::status::AppStatus;

impl Registry {
    async fn audited(&self, app: &str, action: &str, detail: String) -> Result<App, RegistryError> {
        self.record("operator".into(), app, action, detail).await?;
        self.app(app).await
    }

    /// Suspends `app`: no event reaches it from now on.
    pub async fn suspend(&self, app: &str) -> Result<App, RegistryError> {
        if !apps::set_status(&self.db, app, AppStatus::Suspended).await? {
            return Err(RegistryError::NotFound(format!("no app with id {app:?}")));
        }
        self.audited(app, "app.suspended", String::new()).await
    }

    /// Lets a suspended `app` run again.
    pub async fn resume(&self, app: &str) -> Result<App, RegistryError> {
        if !apps::set_status(&self.db, app, AppStatus::Active).await? {
            return Err(RegistryError::NotFound(format!("no app with id {app:?}")));
        }
        self.audited(app, "app.resumed", String::new()).await
    }

    /// Makes the approved `version` the one that runs.
    pub async fn rollback(&self, app: &str, version: &str) -> Result<App, RegistryError> {
        let current = self.app(app).await?;
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
