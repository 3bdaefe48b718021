//! E-signature requests and users' signing keys (one per user and app).

use serde::Serialize;
use zeroize::Zeroizing;

use super::files::Attachment;
use super::status::SignatureStatus;
use super::{Db, StoreError, StoreResult, WriteTx, now_ms};
use crate::crypto;

/// The Ed25519 key one user signs with in one app: the seed is stored
/// sealed under the master key and never leaves the host.
pub struct SigningKey {
    /// Public key, base64.
    pub public_key: String,
    /// The 32-byte seed (the secret key).
    pub seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

fn key_context<'a>(account: &'a str, app: &'a str) -> [&'a str; 3] {
    ["app_signing_keys", account, app]
}

/// The signing key of `account` in `app`, created with `generate` on first
/// use (the first of two racing inserts wins and both use it).
///
/// # Errors
///
/// A store error, or [`StoreError::Corrupt`] if the stored seed does not open.
pub async fn key_for(
    db: &Db,
    account: &str,
    app: &str,
    generate: impl FnOnce() -> SigningKey,
) -> StoreResult<SigningKey> {
    let select = "SELECT public_key, secret_key FROM app_signing_keys WHERE account_id = $1 AND app_id = $2";
    let mut row: Option<(String, String)> = sqlx::query_as(select)
        .bind(account)
        .bind(app)
        .fetch_optional(db.pool())
        .await?;
    if row.is_none() {
        let fresh = generate();
        let sealed = crypto::seal(db, &key_context(account, app), &fresh.seed[..]).await?;
        sqlx::query(
            "INSERT INTO app_signing_keys (account_id, app_id, public_key, secret_key, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, app_id) DO NOTHING",
        )
        .bind(account)
        .bind(app)
        .bind(&fresh.public_key)
        .bind(sealed)
        .bind(now_ms())
        .execute(db.write().await?.on())
        .await?;
        row = Some(
            sqlx::query_as(select)
                .bind(account)
                .bind(app)
                .fetch_one(db.pool())
                .await?,
        );
    }
    let (public_key, sealed) = row.ok_or_else(|| StoreError::Corrupt("signing key vanished".into()))?;
    let seed = crypto::open(&sealed, &key_context(account, app))?;
    let seed: [u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt("a signing seed is not 32 bytes".into()))?;
    Ok(SigningKey {
        public_key,
        seed: Zeroizing::new(seed),
    })
}

/// Re-wraps every sealed signing seed with `rewrap`; how many.
///
/// # Errors
///
/// A store error, or whatever `rewrap` returns.
pub async fn rewrap_all(tx: &mut WriteTx, rewrap: &dyn Fn(&str) -> StoreResult<String>) -> StoreResult<usize> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT account_id, app_id, secret_key FROM app_signing_keys")
            .fetch_all(&mut **tx)
            .await?;
    for (account, app, sealed) in &rows {
        sqlx::query("UPDATE app_signing_keys SET secret_key = $1 WHERE account_id = $2 AND app_id = $3")
            .bind(rewrap(sealed)?)
            .bind(account)
            .bind(app)
            .execute(&mut **tx)
            .await?;
    }
    Ok(rows.len())
}

/// One signature request.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SignatureRequest {
    /// Its id.
    pub id: String,
    /// The requesting app.
    pub app_id: String,
    /// The signer.
    pub account_id: String,
    /// The chat it was requested in.
    pub chat_id: Option<String>,
    /// What the user is shown.
    pub title: String,
    /// The document.
    #[serde(skip)]
    pub document: Vec<u8>,
    /// hex sha256 of the document.
    pub document_sha256: String,
    /// `pending`, `signed` or `declined`.
    pub status: SignatureStatus,
    /// base64 of the exact bytes signed.
    pub signed_payload: Option<String>,
    /// base64 Ed25519 signature.
    pub signature: Option<String>,
    /// base64 Ed25519 public key of the signer.
    pub public_key: Option<String>,
    /// Request time, unix ms.
    pub created_at: i64,
    /// Decision time, unix ms.
    pub decided_at: Option<i64>,
    /// The file to sign, for a request of a file (the document is empty).
    pub file_id: Option<String>,
    /// What the signer is shown of the file (JSON of an
    /// [`Attachment`]); see [`SignatureRequest::file_info`].
    #[serde(skip)]
    pub file: Option<String>,
}

impl SignatureRequest {
    /// The file to sign, for a request of a file.
    pub fn file_info(&self) -> Option<Attachment> {
        self.file.as_deref().and_then(|json| serde_json::from_str(json).ok())
    }
}

const COLUMNS: &str = "id, app_id, account_id, chat_id, title, document, document_sha256, status, \
     signed_payload, signature, public_key, created_at, decided_at, file_id, file";

/// Signature requests of `app` still waiting for `account`'s answer.
pub async fn pending_count(db: &Db, app: &str, account: &str) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM signatures WHERE app_id = $1 AND account_id = $2 AND status = 'pending'",
    )
    .bind(app)
    .bind(account)
    .fetch_one(db.pool())
    .await?)
}

/// Stores the pending request `id` in the caller's transaction (an
/// invocation's commit).
///
/// # Errors
///
/// A store error.
#[allow(clippy::too_many_arguments)]
pub async fn create_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    app: &str,
    account: &str,
    chat: Option<&str>,
    title: &str,
    document: &[u8],
    document_sha256: &str,
    file: Option<&Attachment>,
) -> StoreResult<()> {
    let json = file.map(|f| serde_json::to_string(f).unwrap_or_default());
    sqlx::query(&format!(
        "INSERT INTO signatures ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, NULL, NULL, $8, NULL, $9, $10)"
    ))
    .bind(id)
    .bind(app)
    .bind(account)
    .bind(chat)
    .bind(title)
    .bind(document)
    .bind(document_sha256)
    .bind(now_ms())
    .bind(file.map(|f| f.id.as_str()))
    .bind(json)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The request `id`.
///
/// # Errors
///
/// A store error.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<SignatureRequest>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM signatures WHERE id = $1"))
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Requests of `account`, optionally with `status`, newest first.
///
/// # Errors
///
/// A store error.
pub async fn for_account(
    db: &Db,
    account: &str,
    status: Option<SignatureStatus>,
) -> StoreResult<Vec<SignatureRequest>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM signatures WHERE account_id = $1 AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT 200"
    ))
    .bind(account)
    .bind(status.map_or("", SignatureStatus::as_str))
    .fetch_all(db.pool())
    .await?)
}

/// Marks a pending request signed; false if it was no longer pending.
///
/// # Errors
///
/// A store error.
pub async fn mark_signed(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    payload: &str,
    signature: &str,
    public_key: &str,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE signatures SET status = 'signed', signed_payload = $1, signature = $2, public_key = $3, decided_at = $4 \
         WHERE id = $5 AND status = 'pending'",
    )
    .bind(payload)
    .bind(signature)
    .bind(public_key)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    super::files::grace_after_signature(conn, id).await?;
    Ok(true)
}

/// Marks a pending request declined; false if it was no longer pending.
///
/// # Errors
///
/// A store error.
pub async fn mark_declined(conn: &mut sqlx::AnyConnection, id: &str) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE signatures SET status = 'declined', decided_at = $1 WHERE id = $2 AND status = 'pending'")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *conn)
            .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    super::files::grace_after_signature(conn, id).await?;
    Ok(true)
}
