//! An invocation's buffered signature requests and their commit: a
//! request the guest got an id for is stored (and shown to the user) only
//! when the invocation commits.

use sqlx::AnyConnection;

use crate::store::files::{self, Attachment};
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
    /// Their hex sha256 (the file's, for a file).
    pub digest: String,
    /// The file to sign, instead of `document`.
    pub file: Option<Attachment>,
}

/// Stores `drafts` of `app` in the caller's transaction; `Err` with the
/// reason (the caller rolls back, and the invocation runs again) when a
/// file to sign is gone meanwhile.
pub async fn apply_in(
    conn: &mut AnyConnection,
    app: &str,
    drafts: &[SignatureDraft],
) -> StoreResult<Result<(), String>> {
    for d in drafts {
        if let Some(file) = &d.file
            && files::get_in(conn, &file.id).await?.is_none()
        {
            return Ok(Err(format!("the file {} to sign is gone", file.id)));
        }
        signatures::create_in(
            conn,
            &d.id,
            app,
            &d.account,
            d.chat.as_deref(),
            &d.title,
            &d.document,
            &d.digest,
            d.file.as_ref(),
        )
        .await?;
    }
    Ok(Ok(()))
}
