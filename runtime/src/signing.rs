//! E-signatures: users confirm or decline what apps asked them to sign; on
//! confirm the platform signs with the user's own Ed25519 key (created on
//! first use; the secret half never leaves the host) and tells the app.
//! Anyone can verify a signature offline from its public record.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use rand::RngCore;
use serde_json::json;

use crate::chat::Dispatcher;
use crate::sandbox::BotEvent;
use crate::store::signatures::{self, SignatureRequest, SigningKey};
use crate::store::{Db, StoreError, now_ms};

/// Why a signature action was refused.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// No such request, or not the caller's.
    #[error("no such signature request")]
    NotFound,
    /// Already signed or declined.
    #[error("the request was already {0}")]
    AlreadyDecided(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key is unusable.
    #[error("corrupt signing key: {0}")]
    Key(String),
}

/// The signing service; cheap to clone.
#[derive(Clone)]
pub struct Signing {
    db: Db,
    dispatcher: Dispatcher,
}

fn generate_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    SigningKey {
        public_key: B64.encode(key.verifying_key().to_bytes()),
        secret_key: B64.encode(seed),
    }
}

impl Signing {
    /// A signing service telling apps through `dispatcher`.
    pub fn new(db: Db, dispatcher: Dispatcher) -> Signing {
        Signing { db, dispatcher }
    }

    /// The caller's requests, optionally filtered by status.
    pub async fn list(&self, account: &str, status: Option<&str>) -> Result<Vec<SignatureRequest>, SigningError> {
        Ok(signatures::for_account(&self.db, account, status).await?)
    }

    /// One request (public).
    pub async fn get(&self, id: &str) -> Result<SignatureRequest, SigningError> {
        signatures::get(&self.db, id).await?.ok_or(SigningError::NotFound)
    }

    async fn own_pending(&self, id: &str, account: &str) -> Result<SignatureRequest, SigningError> {
        let request = self.get(id).await?;
        if request.account_id != account {
            return Err(SigningError::NotFound);
        }
        if request.status != "pending" {
            return Err(SigningError::AlreadyDecided(request.status));
        }
        Ok(request)
    }

    /// Signs request `id` with `account`'s key and tells the app.
    pub async fn confirm(&self, id: &str, account: &str) -> Result<SignatureRequest, SigningError> {
        let request = self.own_pending(id, account).await?;
        let key = signatures::key_for(&self.db, account, generate_key).await?;
        let seed: [u8; 32] = B64
            .decode(&key.secret_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SigningError::Key("secret key is not 32 bytes of base64".into()))?;
        let signer = ed25519_dalek::SigningKey::from_bytes(&seed);
        let payload = serde_json::to_vec(&json!({
            "v": 1,
            "request": request.id,
            "title": request.title,
            "document_sha256": request.document_sha256,
            "signer": account,
            "signed_at": now_ms(),
        }))
        .map_err(|e| SigningError::Key(e.to_string()))?;
        let signature = signer.sign(&payload);
        let done = signatures::mark_signed(
            &self.db,
            id,
            &B64.encode(&payload),
            &B64.encode(signature.to_bytes()),
            &key.public_key,
        )
        .await?;
        if !done {
            return Err(SigningError::AlreadyDecided("decided meanwhile".into()));
        }
        self.tell_app(&request, account, true);
        self.get(id).await
    }

    /// Declines request `id` and tells the app.
    pub async fn decline(&self, id: &str, account: &str) -> Result<SignatureRequest, SigningError> {
        let request = self.own_pending(id, account).await?;
        if !signatures::mark_declined(&self.db, id).await? {
            return Err(SigningError::AlreadyDecided("decided meanwhile".into()));
        }
        self.tell_app(&request, account, false);
        self.get(id).await
    }

    fn tell_app(&self, request: &SignatureRequest, account: &str, signed: bool) {
        let chat = request.chat_id.clone().unwrap_or_default();
        let event = BotEvent::Signature {
            id: request.id.clone(),
            chat: chat.clone(),
            account: account.to_string(),
            signed,
        };
        self.dispatcher
            .dispatch_to_app(&request.app_id, &chat, Some(account), event);
    }
}
