//! What an app's owner (and the operator) manage of it: its config and
//! secrets, its events in the job queue, and its logs. Every call names who
//! asks ([`Actor`]); only the app's developer or the operator may.

use super::{Registry, RegistryError};
use crate::store::apps::{self, App};
use crate::store::config::{self as app_config, ConfigEntry};
use crate::store::jobs::{self, JobView};
use crate::store::ledger;
use crate::store::logs::{self, LogLine};
use crate::store::status::{AppStatus, JobStatus};
use crate::store::webhooks;

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// The operator, who may see and manage every app.
    Operator,
    /// A platform account.
    Account(&'a str),
}

impl Registry {
    /// The app `id` if `actor` may manage it.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`] for no such app,
    /// [`RegistryError::NotOwner`] for someone else's.
    pub async fn owned(&self, id: &str, actor: Actor<'_>) -> Result<App, RegistryError> {
        let app = apps::get(&self.db, id)
            .await?
            .ok_or_else(|| RegistryError::NotFound("no such app".into()))?;
        match actor {
            Actor::Operator => Ok(app),
            Actor::Account(me) if me == app.owner_id => Ok(app),
            Actor::Account(_) => Err(RegistryError::NotOwner),
        }
    }

    /// The app's config, secrets included (their values are for the app
    /// alone: callers never show them).
    pub async fn config(&self, app: &str, actor: Actor<'_>) -> Result<Vec<ConfigEntry>, RegistryError> {
        self.owned(app, actor).await?;
        Ok(app_config::all(&self.db, app).await?)
    }

    /// Sets one config key (sealed at rest when `secret`).
    pub async fn set_config(
        &self,
        app: &str,
        actor: Actor<'_>,
        key: &str,
        value: &str,
        secret: bool,
    ) -> Result<(), RegistryError> {
        self.owned(app, actor).await?;
        Ok(app_config::set(&self.db, app, key, value, secret).await?)
    }

    /// Removes one config key; false if there was none.
    pub async fn delete_config(&self, app: &str, actor: Actor<'_>, key: &str) -> Result<bool, RegistryError> {
        self.owned(app, actor).await?;
        Ok(app_config::delete(&self.db, app, key).await?)
    }

    /// Makes a new webhook signing secret for the app (the old one stops
    /// working at once) and returns it: the only time it is shown. Stored
    /// sealed with the master key; audited.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`], [`RegistryError::NotOwner`], or a
    /// store error (no master key loaded).
    pub async fn rotate_webhook_secret(&self, app: &str, actor: Actor<'_>) -> Result<String, RegistryError> {
        self.owned(app, actor).await?;
        let secret = crate::webhooks::signature::new_secret();
        let sealed = crate::crypto::seal(&self.db, &["webhook_secrets", app], secret.as_bytes()).await?;
        webhooks::set_secret(&self.db, app, &sealed).await?;
        let who = match actor {
            Actor::Operator => "operator".to_string(),
            Actor::Account(me) => format!("account:{me}"),
        };
        self.record(who, app, "webhook.secret_rotated", String::new()).await?;
        Ok(secret)
    }

    /// The app's events in the job queue, newest first.
    pub async fn events(
        &self,
        app: &str,
        actor: Actor<'_>,
        status: Option<JobStatus>,
        limit: u32,
    ) -> Result<Vec<JobView>, RegistryError> {
        self.owned(app, actor).await?;
        Ok(jobs::list(&self.db, app, status, limit).await?)
    }

    /// Queues the app's dead event `id` again; false if it has none (or
    /// `id` is no event id at all).
    pub async fn retry_event(&self, app: &str, actor: Actor<'_>, id: Option<i64>) -> Result<bool, RegistryError> {
        self.owned(app, actor).await?;
        match id {
            Some(id) => Ok(jobs::retry(&self.db, app, id).await?),
            None => Ok(false),
        }
    }

    /// The app's merchant balance (what its payments earned, less refunds
    /// and payouts), in minor units; the developer's and the operator's to see.
    pub async fn balance(&self, app: &str, actor: Actor<'_>) -> Result<i64, RegistryError> {
        self.owned(app, actor).await?;
        Ok(ledger::balance(&self.db, ledger::kind::MERCHANT, app).await?)
    }

    /// Apps anyone may add to a chat: active, with an approved version
    /// running, each with that version's kind.
    pub async fn catalogue(&self) -> Result<Vec<(App, Option<crate::store::status::AppKind>)>, RegistryError> {
        let mut list = Vec::new();
        for app in apps::approved(&self.db).await? {
            if app.status != AppStatus::Active {
                continue;
            }
            let kind = apps::running_kind(&self.db, &app).await?;
            list.push((app, kind));
        }
        Ok(list)
    }

    /// The app's log lines that pass `filter` (see [`logs::list_filtered`]).
    pub async fn logs(
        &self,
        app: &str,
        actor: Actor<'_>,
        filter: &logs::LogFilter,
    ) -> Result<Vec<LogLine>, RegistryError> {
        self.owned(app, actor).await?;
        Ok(logs::list_filtered(&self.db, app, filter).await?)
    }
}
