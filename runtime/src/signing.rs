//! E-signatures: users confirm or decline what apps asked them to sign; on
//! confirm the platform signs with the user's Ed25519 key for that app
//! (one key per user and app, created on first use; the seed is sealed at
//! rest and never leaves the host) and tells the app. Anyone can verify a
//! signature offline from its public record.
//!
//! The signed bytes are a canonical JSON object (keys sorted, no
//! whitespace; RFC 8785 for these value types):
//!
//! ```json
//! {"app":"<app id>","context":"miniapp/signature/v1","document_sha256":"<hex>",
//!  "request":"<signature id>","signed_at":<unix ms>,"signer":"u_<app-scoped id>",
//!  "title":"<title>"}
//! ```
//!
//! plus `"disclosed": {"name": …, "phone": …}` only with what the signer
//! chose to disclose when confirming. `context` separates these signatures
//! from anything else; `signer` is the id the app knows the user by, never
//! the platform account id; no chat id is in it. One user's keys differ
//! between apps, so signatures cannot be linked across apps by key.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;
use rand::RngCore;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::capabilities::identity::app_scoped_id;
use crate::queue::Queue;
use crate::sandbox::BotEvent;
use crate::store::accounts::Account;
use crate::store::jobs;
use crate::store::signatures::{self, SignatureRequest, SigningKey};
use crate::store::status::SignatureStatus;
use crate::store::{Db, StoreError, now_ms};

/// The `context` of every signed payload: platform, object, format version.
pub const SIGNATURE_CONTEXT: &str = "miniapp/signature/v1";

/// What a signer may choose to show verifiers beyond the app-scoped id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disclosure {
    /// The account's display name.
    Name,
    /// The account's phone number.
    Phone,
}

impl Disclosure {
    /// The name of this item in requests and payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Disclosure::Name => "name",
            Disclosure::Phone => "phone",
        }
    }

    /// The item named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Disclosure> {
        [Disclosure::Name, Disclosure::Phone]
            .into_iter()
            .find(|d| d.as_str() == name)
    }
}

/// The claims a signature covers, before signing.
#[derive(Debug, Clone)]
pub struct Claims<'a> {
    /// The signature request's id.
    pub request: &'a str,
    /// The requesting app's id.
    pub app: &'a str,
    /// What the signer was shown.
    pub title: &'a str,
    /// hex sha256 of the document.
    pub document_sha256: &'a str,
    /// The signer's app-scoped id.
    pub signer: &'a str,
    /// When, unix ms.
    pub signed_at: i64,
    /// What the signer chose to disclose, by item.
    pub disclosed: BTreeMap<&'static str, String>,
}

impl Claims<'_> {
    /// The canonical JSON bytes that are signed.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut fields: BTreeMap<&str, Value> = BTreeMap::new();
        fields.insert("context", json!(SIGNATURE_CONTEXT));
        fields.insert("request", json!(self.request));
        fields.insert("app", json!(self.app));
        fields.insert("title", json!(self.title));
        fields.insert("document_sha256", json!(self.document_sha256));
        fields.insert("signer", json!(self.signer));
        fields.insert("signed_at", json!(self.signed_at));
        if !self.disclosed.is_empty() {
            let disclosed: BTreeMap<&str, &str> = self.disclosed.iter().map(|(k, v)| (*k, v.as_str())).collect();
            fields.insert("disclosed", json!(disclosed));
        }
        serde_json::to_vec(&fields).expect("strings and integers serialize")
    }
}

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
    queue: Queue,
    identity_key: std::sync::Arc<Zeroizing<Vec<u8>>>,
}

fn generate_key() -> SigningKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(&mut seed[..]);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    SigningKey {
        public_key: B64.encode(key.verifying_key().to_bytes()),
        seed,
    }
}

impl Signing {
    /// A signing service telling apps through `queue`; `identity_key`
    /// is the host key app-scoped user ids are derived with.
    pub fn new(db: Db, queue: Queue, identity_key: &[u8]) -> Signing {
        Signing {
            db,
            queue,
            identity_key: std::sync::Arc::new(Zeroizing::new(identity_key.to_vec())),
        }
    }

    /// The caller's requests, optionally filtered by status.
    ///
    /// # Errors
    ///
    /// [`SigningError::Store`].
    pub async fn list(
        &self,
        account: &str,
        status: Option<SignatureStatus>,
    ) -> Result<Vec<SignatureRequest>, SigningError> {
        Ok(signatures::for_account(&self.db, account, status).await?)
    }

    /// One request (public).
    ///
    /// # Errors
    ///
    /// [`SigningError::NotFound`] or [`SigningError::Store`].
    pub async fn get(&self, id: &str) -> Result<SignatureRequest, SigningError> {
        signatures::get(&self.db, id).await?.ok_or(SigningError::NotFound)
    }

    async fn own_pending(&self, id: &str, account: &str) -> Result<SignatureRequest, SigningError> {
        let request = self.get(id).await?;
        if request.account_id != account {
            return Err(SigningError::NotFound);
        }
        if request.status != SignatureStatus::Pending {
            return Err(SigningError::AlreadyDecided(request.status.to_string()));
        }
        Ok(request)
    }

    /// Signs request `id` with `account`'s key for the requesting app and
    /// tells the app. `disclose` is what the signer chose to show verifiers
    /// (an item the account lacks, such as a phone number, is left out).
    ///
    /// # Errors
    ///
    /// [`SigningError::NotFound`] unless it is `account`'s request,
    /// [`SigningError::AlreadyDecided`], or a store or key failure.
    pub async fn confirm(
        &self,
        id: &str,
        account: &Account,
        disclose: &[Disclosure],
    ) -> Result<SignatureRequest, SigningError> {
        let request = self.own_pending(id, &account.id).await?;
        let key = signatures::key_for(&self.db, &account.id, &request.app_id, generate_key).await?;
        let signer_key = ed25519_dalek::SigningKey::from_bytes(&key.seed);
        if B64.encode(signer_key.verifying_key().to_bytes()) != key.public_key {
            return Err(SigningError::Key(
                "the stored public key does not match the seed".into(),
            ));
        }
        let signer = app_scoped_id(&self.identity_key, &request.app_id, &account.id);
        let mut disclosed = BTreeMap::new();
        for item in disclose {
            let value = match item {
                Disclosure::Name => Some(account.name.clone()),
                Disclosure::Phone => account.phone.clone(),
            };
            if let Some(value) = value {
                disclosed.insert(item.as_str(), value);
            }
        }
        let payload = Claims {
            request: &request.id,
            app: &request.app_id,
            title: &request.title,
            document_sha256: &request.document_sha256,
            signer: &signer,
            signed_at: now_ms(),
            disclosed,
        }
        .to_payload();
        let signature = signer_key.sign(&payload);
        let mut tx = self.db.begin_write().await?;
        let done = signatures::mark_signed(
            &mut tx,
            id,
            &B64.encode(&payload),
            &B64.encode(signature.to_bytes()),
            &key.public_key,
        )
        .await?;
        if !done {
            return Err(SigningError::AlreadyDecided("decided meanwhile".into()));
        }
        self.tell_app(&mut tx, &request, &account.id, true).await?;
        tx.commit().await?;
        self.queue.wake();
        self.get(id).await
    }

    /// Declines request `id` and tells the app.
    ///
    /// # Errors
    ///
    /// [`SigningError::NotFound`] unless it is `account`'s request,
    /// [`SigningError::AlreadyDecided`], or a store failure.
    pub async fn decline(&self, id: &str, account: &str) -> Result<SignatureRequest, SigningError> {
        let request = self.own_pending(id, account).await?;
        let mut tx = self.db.begin_write().await?;
        if !signatures::mark_declined(&mut tx, id).await? {
            return Err(SigningError::AlreadyDecided("decided meanwhile".into()));
        }
        self.tell_app(&mut tx, &request, account, false).await?;
        tx.commit().await?;
        self.queue.wake();
        self.get(id).await
    }

    /// Queues the decision for the app, in the decision's transaction.
    async fn tell_app(
        &self,
        tx: &mut sqlx::AnyConnection,
        request: &SignatureRequest,
        account: &str,
        signed: bool,
    ) -> Result<(), SigningError> {
        let chat = request.chat_id.clone().unwrap_or_default();
        let event = BotEvent::Signature {
            id: request.id.clone(),
            chat: chat.clone(),
            account: account.to_string(),
            signed,
        };
        let job = jobs::NewJob {
            app: &request.app_id,
            chat: &chat,
            account: Some(account),
            event: &event,
        };
        jobs::enqueue(tx, &job).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_canonical_json_with_the_context_and_no_platform_ids() {
        let mut claims = Claims {
            request: "sig-1",
            app: "app-1",
            title: "Lease \"A\"",
            document_sha256: "ab",
            signer: "u_1",
            signed_at: 7,
            disclosed: BTreeMap::new(),
        };
        assert_eq!(
            String::from_utf8(claims.to_payload()).expect("UTF-8"),
            r#"{"app":"app-1","context":"miniapp/signature/v1","document_sha256":"ab","request":"sig-1","signed_at":7,"signer":"u_1","title":"Lease \"A\""}"#
        );
        claims.disclosed.insert("name", "Alice".into());
        assert_eq!(
            String::from_utf8(claims.to_payload()).expect("UTF-8"),
            r#"{"app":"app-1","context":"miniapp/signature/v1","disclosed":{"name":"Alice"},"document_sha256":"ab","request":"sig-1","signed_at":7,"signer":"u_1","title":"Lease \"A\""}"#
        );
        assert_eq!(Disclosure::parse("name"), Some(Disclosure::Name));
        assert_eq!(Disclosure::parse("account"), None);
    }
}
