//! A user's consents to an app: the identity scopes (profile, phone) the
//! app may read of them, and `notify` (the app may write to them outside
//! any event).

use super::{AccountError, Accounts};
use crate::capabilities::CONSENT_SCOPES;
use crate::capabilities::identity::app_scoped_id;
use crate::store::{apps, consents};

/// Fails naming the first of `scopes` that is not one of [`CONSENT_SCOPES`].
fn known_scopes(scopes: &[String]) -> Result<(), AccountError> {
    match scopes.iter().find(|s| !CONSENT_SCOPES.contains(&s.as_str())) {
        Some(bad) => Err(AccountError::Invalid(format!(
            "unknown scope {bad:?} in `scopes`; scopes are {CONSENT_SCOPES:?}"
        ))),
        None => Ok(()),
    }
}

impl Accounts {
    async fn require_app(&self, app: &str) -> Result<(), AccountError> {
        match apps::get(&self.db, app).await? {
            Some(_) => Ok(()),
            None => Err(AccountError::NoSuchApp),
        }
    }

    /// The consent scopes `app` may be given consent to: those its running
    /// versions were granted, in [`CONSENT_SCOPES`]' order.
    ///
    /// # Errors
    ///
    /// [`AccountError::NoSuchApp`], or a store error.
    pub async fn consentable_scopes(&self, app: &str) -> Result<Vec<String>, AccountError> {
        self.require_app(app).await?;
        let granted = apps::running_grants(&self.db, app).await?.unwrap_or_default();
        Ok(CONSENT_SCOPES
            .iter()
            .filter(|s| granted.contains(**s))
            .map(|s| s.to_string())
            .collect())
    }

    /// Adds `scopes` to `account`'s consents to `app`; answers all of them.
    ///
    /// # Errors
    ///
    /// [`AccountError::NoSuchApp`], or [`AccountError::Invalid`] for a
    /// scope that is not one of [`CONSENT_SCOPES`] or that no running
    /// version of the app was granted, or when no version runs.
    pub async fn grant_consents(
        &self,
        account: &str,
        app: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, AccountError> {
        self.require_app(app).await?;
        known_scopes(scopes)?;
        // A consent to a scope the app was not granted would lie in wait:
        // a later version granted it would read it without asking again.
        let app_user = app_scoped_id(&self.identity_key, app, account);
        match consents::grant_to_running(&self.db, account, app, scopes, &app_user).await? {
            Ok(()) => {}
            // Consenting to nothing changes nothing, running or not.
            Err(consents::Refused::NotRunning) if scopes.is_empty() => {}
            Err(consents::Refused::NotRunning) => {
                return Err(AccountError::Invalid(
                    "the app is not running now (suspended, or no version approved yet), so it can be given no consent"
                        .into(),
                ));
            }
            Err(consents::Refused::NotGranted { scope, granted }) => {
                return Err(AccountError::Invalid(format!(
                    "the app is not granted {scope:?}, so it cannot be given consent to it; it is granted {:?}",
                    granted
                        .iter()
                        .filter(|g| CONSENT_SCOPES.contains(&g.as_str()))
                        .collect::<Vec<_>>()
                )));
            }
        }
        Ok(consents::list(&self.db, account, app).await?)
    }

    /// `account`'s consents to `app`.
    ///
    /// # Errors
    ///
    /// [`AccountError::NoSuchApp`].
    pub async fn consents(&self, account: &str, app: &str) -> Result<Vec<String>, AccountError> {
        self.require_app(app).await?;
        Ok(consents::list(&self.db, account, app).await?)
    }

    /// Revokes every consent `account` gave `app`.
    ///
    /// # Errors
    ///
    /// [`AccountError::NoSuchApp`].
    pub async fn revoke_consents(&self, account: &str, app: &str) -> Result<(), AccountError> {
        self.require_app(app).await?;
        Ok(consents::revoke_all(&self.db, account, app).await?)
    }

    /// Revokes `account`'s consents to `scopes` of `app` and keeps the
    /// others; answers those left.
    ///
    /// # Errors
    ///
    /// [`AccountError::NoSuchApp`], or [`AccountError::Invalid`] for a
    /// scope that is not one of [`CONSENT_SCOPES`] (nothing is revoked).
    pub async fn revoke_some_consents(
        &self,
        account: &str,
        app: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, AccountError> {
        self.require_app(app).await?;
        known_scopes(scopes)?;
        consents::revoke(&self.db, account, app, scopes).await?;
        Ok(consents::list(&self.db, account, app).await?)
    }
}
