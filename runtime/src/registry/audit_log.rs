//! The audit log as the operator reads it: capability denials and every
//! lifecycle transition, with who and when.

use super::{Registry, RegistryError};
use crate::store::audit::{self, AuditEntry};

impl Registry {
    /// The newest `limit` audit entries, optionally only those of `app`.
    ///
    /// # Errors
    ///
    /// A store error.
    pub async fn audit(&self, app: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, RegistryError> {
        Ok(audit::list(&self.db, app, limit).await?)
    }
}
