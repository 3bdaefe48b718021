//! An invocation's buffered signature requests and their commit: a
//! request the guest got an id for is stored (and shown to the user) only
//! when the invocation commits.

use sqlx::AnyConnection;

use crate::store::{StoreResult, signatures};

/// A signature request not yet stored.
#[derive(Debug, Clone)]
pub struct SignatureDraft {
    /// Its id, as the guest was told.
    pub id: String,
    /// Who is asked to sign.
    pub account: String,
    /// The chat it was asked in.
    pub chat: Option<String>,
    /// What the user sees.
    pub title: String,
    /// The bytes to sign.
    pub document: Vec<u8>,
    /// Their hex sha256.
    pub digest: String,
}

/// Stores `drafts` of `app` in the caller's transaction.
pub async fn apply_in(conn: &mut AnyConnection, app: &str, drafts: &[SignatureDraft]) -> StoreResult<()> {
    for d in drafts {
        signatures::create_in(
            conn,
            &d.id,
            app,
            &d.account,
            d.chat.as_deref(),
            &d.title,
            &d.document,
            &d.digest,
        )
        .await?;
    }
    Ok(())
}
