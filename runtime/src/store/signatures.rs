//! E-signature requests and users' signing keys.

use serde::Serialize;
use sqlx::Row;

use super::{Db, StoreResult, new_id, now_ms};

/// A user's Ed25519 key pair, base64 (the secret half never leaves the host).
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// Public key, base64.
    pub public_key: String,
    /// Secret key, base64.
    pub secret_key: String,
}

/// The signing key of `account`, created with `generate` on first use.
pub async fn key_for(db: &Db, account: &str, generate: impl FnOnce() -> SigningKey) -> StoreResult<SigningKey> {
    let fresh = generate();
    sqlx::query(
        "INSERT INTO signing_keys (account_id, public_key, secret_key, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account)
    .bind(&fresh.public_key)
    .bind(&fresh.secret_key)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    let row = sqlx::query("SELECT public_key, secret_key FROM signing_keys WHERE account_id = $1")
        .bind(account)
        .fetch_one(db.pool())
        .await?;
    Ok(SigningKey {
        public_key: row.try_get("public_key")?,
        secret_key: row.try_get("secret_key")?,
    })
}

/// One signature request.
#[derive(Debug, Clone, Serialize)]
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
    pub status: String,
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
}

const COLUMNS: &str = "id, app_id, account_id, chat_id, title, document, document_sha256, status, \
     signed_payload, signature, public_key, created_at, decided_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<SignatureRequest> {
    Ok(SignatureRequest {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        account_id: r.try_get("account_id")?,
        chat_id: r.try_get("chat_id")?,
        title: r.try_get("title")?,
        document: r.try_get("document")?,
        document_sha256: r.try_get("document_sha256")?,
        status: r.try_get("status")?,
        signed_payload: r.try_get("signed_payload")?,
        signature: r.try_get("signature")?,
        public_key: r.try_get("public_key")?,
        created_at: r.try_get("created_at")?,
        decided_at: r.try_get("decided_at")?,
    })
}

/// Records a pending request; returns its id.
pub async fn create(
    db: &Db,
    app: &str,
    account: &str,
    chat: Option<&str>,
    title: &str,
    document: &[u8],
    document_sha256: &str,
) -> StoreResult<String> {
    let id = new_id();
    sqlx::query(&format!(
        "INSERT INTO signatures ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, NULL, NULL, $8, NULL)"
    ))
    .bind(&id)
    .bind(app)
    .bind(account)
    .bind(chat)
    .bind(title)
    .bind(document)
    .bind(document_sha256)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(id)
}

/// The request `id`.
pub async fn get(db: &Db, id: &str) -> StoreResult<Option<SignatureRequest>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM signatures WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Requests of `account`, optionally with `status`, newest first.
pub async fn for_account(db: &Db, account: &str, status: Option<&str>) -> StoreResult<Vec<SignatureRequest>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signatures WHERE account_id = $1 AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT 200"
    ))
    .bind(account)
    .bind(status.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Marks a pending request signed; false if it was no longer pending.
pub async fn mark_signed(db: &Db, id: &str, payload: &str, signature: &str, public_key: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE signatures SET status = 'signed', signed_payload = $1, signature = $2, public_key = $3, decided_at = $4 \
         WHERE id = $5 AND status = 'pending'",
    )
    .bind(payload)
    .bind(signature)
    .bind(public_key)
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks a pending request declined; false if it was no longer pending.
pub async fn mark_declined(db: &Db, id: &str) -> StoreResult<bool> {
    let done =
        sqlx::query("UPDATE signatures SET status = 'declined', decided_at = $1 WHERE id = $2 AND status = 'pending'")
            .bind(now_ms())
            .bind(id)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() > 0)
}
