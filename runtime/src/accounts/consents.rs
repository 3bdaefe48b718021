//! A user's consents to an app: the identity scopes (profile, phone) the
//! app may read of them, and `notify` (the app may write to them outside
//! any event).

use super::{AccountError, Accounts};
use crate::capabilities::CONSENT_SCOPES;
use crate::capabilities::identity::app_scoped_id;
use crate::store::{apps, consents};

impl Accounts {
    async fn require_app(&self, app: &str) -> Result<(), AccountError> {
        match apps::get(&self.db, app).await? {
            Some(_) => Ok(()),
            None => Err(AccountError::NoSuchApp),
        }
    }

    /// Adds `scopes` to `account`'s consents to `app`; answers all of them.
    ///
    /// # Errors
    ///
    /// [`AccountError::NoSuchApp`], or [`AccountError::Invalid`] for a
    /// scope that is not one of [`CONSENT_SCOPES`].
    pub async fn grant_consents(
        &self,
        account: &str,
        app: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, AccountError> {
        self.require_app(app).await?;
        if let Some(bad) = scopes.iter().find(|s| !CONSENT_SCOPES.contains(&s.as_str())) {
            return Err(AccountError::Invalid(format!(
                "unknown scope {bad:?}; scopes are {CONSENT_SCOPES:?}"
            )));
        }
        let app_user = app_scoped_id(&self.identity_key, app, account);
        consents::grant(&self.db, account, app, scopes, &app_user).await?;
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
}
