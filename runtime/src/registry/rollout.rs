//! Staged rollout of a new version (WeChat's grey release): the operator
//! approves it to a share of the app's chats, raises the share step by
//! step, then promotes it to every chat or aborts back to the active
//! version at once. Which chats, and why a chat keeps its version while
//! the share rises: [`crate::store::rollouts`]. Every step is audited.

use super::{Registry, RegistryError};
use crate::store::apps::{self, App};
use crate::store::rollouts;
use crate::store::status::VersionStatus;

/// The share of chats a rollout may run in; 100 % is a promotion.
const PERCENTS: std::ops::RangeInclusive<u8> = 1..=99;

fn check_percent(percent: u8) -> Result<(), RegistryError> {
    if PERCENTS.contains(&percent) {
        Ok(())
    } else {
        let why = if percent == 0 {
            "a rollout to no chat would run nothing"
        } else {
            "to run a version in every chat, approve it without a rollout percent, or promote a rollout in progress"
        };
        Err(RegistryError::InvalidDecision(format!(
            "rollout percent must be 1 to 99, not {percent}: {why}"
        )))
    }
}

impl Registry {
    /// Refuses to change what runs of `app` while a rollout is in progress,
    /// and to start one (`rollout_percent`) unless a version runs and the
    /// share is valid.
    pub(super) async fn may_change_running(&self, app: &str, rollout_percent: Option<u8>) -> Result<(), RegistryError> {
        let found = self.app(app).await?;
        if let Some(r) = &found.rollout {
            return Err(RegistryError::InvalidDecision(format!(
                "{} is being rolled out to {}% of the chats of {}: promote or abort that rollout first",
                r.version, r.percent, found.name
            )));
        }
        if let Some(percent) = rollout_percent {
            check_percent(percent)?;
            if found.active_version.is_none() {
                return Err(RegistryError::InvalidDecision(format!(
                    "{} has no version running to roll out from; approve this one without `rollout_percent`",
                    found.name
                )));
            }
        }
        Ok(())
    }

    /// Refuses a rollout of `version` whose kind (bot, web app, both)
    /// differs from the active version's: a chat's bot events and its web
    /// pages run one version, and launching checks the kind.
    pub(super) async fn rollout_keeps_kind(&self, app: &str, version: &apps::Version) -> Result<(), RegistryError> {
        let Some((_, running)) = apps::running(&self.db, app).await? else {
            return Ok(());
        };
        if running.kind != version.kind {
            return Err(RegistryError::InvalidDecision(format!(
                "{} is a {} and the running {} a {}: a rollout cannot change the kind of app; approve it for every chat",
                version.version, version.kind, running.version, running.kind
            )));
        }
        Ok(())
    }

    /// Starts rolling out the approved `version` of `app` to `percent` % of
    /// its chats (a version approved before, say after an aborted rollout).
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidDecision`] for a percent outside 1–99, a
    /// version not approved or already the active one, no version running
    /// or a rollout in progress; [`RegistryError::NotFound`] for no such app.
    pub async fn start_rollout(&self, app: &str, version: &str, percent: u8) -> Result<App, RegistryError> {
        self.may_change_running(app, Some(percent)).await?;
        let found = apps::version(&self.db, app, version).await?;
        let Some(found) = found.filter(|v| v.status == VersionStatus::Approved) else {
            return Err(RegistryError::InvalidDecision(format!(
                "version {version:?} of this app is not approved; approve it with `rollout_percent` instead"
            )));
        };
        self.rollout_keeps_kind(app, &found).await?;
        if !rollouts::start(&self.db, app, version, percent).await? {
            return Err(RegistryError::InvalidDecision(format!(
                "version {version} is the one running everywhere, or the app changed meanwhile"
            )));
        }
        self.audited(app, "app.rollout_started", format!("{version} to {percent}% of chats"))
            .await
    }

    /// Raises the rollout of `app` to `percent` % of its chats; 100 promotes it.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidDecision`] for a percent above 100 or below
    /// the current one (lowering it would move chats back: abort instead),
    /// or no rollout in progress; [`RegistryError::NotFound`] for no such app.
    pub async fn raise_rollout(&self, app: &str, percent: u8) -> Result<App, RegistryError> {
        if percent == 100 {
            return self.promote_rollout(app).await;
        }
        check_percent(percent)?;
        let found = self.app(app).await?;
        let Some(now) = found.rollout else {
            return Err(no_rollout(&found.name));
        };
        if percent < now.percent {
            return Err(RegistryError::InvalidDecision(format!(
                "the rollout of {} runs in {}% of chats and may only rise: lowering it would move chats back to {}; \
                 abort the rollout to move every chat back",
                now.version,
                now.percent,
                found.active_version.unwrap_or_default()
            )));
        }
        if !rollouts::raise(&self.db, app, percent).await? {
            return Err(RegistryError::InvalidDecision(
                "the rollout changed meanwhile; look again".into(),
            ));
        }
        self.audited(
            app,
            "app.rollout_raised",
            format!("{} {}% -> {percent}%", now.version, now.percent),
        )
        .await
    }

    /// Makes the version rolled out the active one in every chat.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidDecision`] when no rollout is in progress;
    /// [`RegistryError::NotFound`] for no such app.
    pub async fn promote_rollout(&self, app: &str) -> Result<App, RegistryError> {
        let found = self.app(app).await?;
        let Some(version) = rollouts::promote(&self.db, app).await? else {
            return Err(no_rollout(&found.name));
        };
        let from = found.active_version.unwrap_or_default();
        self.audited(
            app,
            "app.rollout_promoted",
            format!("{from} -> {version} in every chat"),
        )
        .await
    }

    /// Ends the rollout of `app`: every chat runs the active version again
    /// from its next event.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidDecision`] when no rollout is in progress;
    /// [`RegistryError::NotFound`] for no such app.
    pub async fn abort_rollout(&self, app: &str) -> Result<App, RegistryError> {
        let found = self.app(app).await?;
        let Some(version) = rollouts::abort(&self.db, app).await? else {
            return Err(no_rollout(&found.name));
        };
        let back = found.active_version.unwrap_or_default();
        self.audited(
            app,
            "app.rollout_aborted",
            format!("{version} aborted, every chat back on {back}"),
        )
        .await
    }
}

fn no_rollout(name: &str) -> RegistryError {
    RegistryError::InvalidDecision(format!("{name} has no rollout in progress"))
}
