//! Committing an invocation's files: the files it made are counted against
//! the app's quota again (under the quota lock, so concurrent invocations
//! on any node cannot both pass it) and inserted; the files its messages
//! carry are attached to them. Their bytes were written to the object
//! store before the transaction and are made sure of after it
//! ([`crate::store::files`] explains the order).

use sqlx::AnyConnection;

use super::FileSend;
use crate::store::files::{self, AttachError, NewFile, Owner};
use crate::store::{StoreResult, lock_in};

/// What an invocation did with files, not yet stored.
#[derive(Debug, Default)]
pub struct FileEffects {
    /// Files it made.
    pub created: Vec<NewFile>,
    /// Messages it sent with files.
    pub sends: Vec<FileSend>,
    /// The app's file quota, bytes.
    pub quota: u64,
}

impl FileEffects {
    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.sends.is_empty()
    }
}

/// Why a commit's files could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The app's files would pass its quota (bytes).
    Quota(u64),
    /// Something checked at the call no longer holds; the text says what.
    Changed(String),
}

/// Stores `effects` of `app` in the caller's transaction.
pub async fn apply_in(conn: &mut AnyConnection, app: &str, effects: &FileEffects) -> StoreResult<Result<(), Refused>> {
    if !effects.created.is_empty() {
        lock_in(conn, &files::quota_lock(Owner::App, app)).await?;
        let used = files::used_bytes(conn, Owner::App, app).await?;
        let adding: u64 = effects.created.iter().map(|f| f.bytes.len() as u64).sum();
        if used.saturating_add(adding) > effects.quota {
            return Ok(Err(Refused::Quota(effects.quota)));
        }
        for file in &effects.created {
            files::insert(conn, file).await?;
        }
    }
    for send in &effects.sends {
        match files::attach(conn, &send.files, &send.chat, Owner::App, app, &send.message).await {
            Ok(_) => {}
            Err(AttachError::Invalid(why)) => return Ok(Err(Refused::Changed(why))),
            Err(AttachError::Store(e)) => return Err(e),
        }
    }
    Ok(Ok(()))
}
