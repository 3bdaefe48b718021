//! `identity`: who the current user is, as far as this app may know, and
//! e-signature requests. The app-scoped id is an HMAC of the platform id
//! keyed per host and salted with the app id, so two apps never see the
//! same id for one person. Grants: `identity.basic`; `identity.profile` and
//! `identity.phone` (plus the user's consent); `identity.sign`.

pub mod commit;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
#[cfg(test)]
mod tests;

use wasmtime::component::{HasData, Linker};

use super::bindings::miniapp::platform::identity as wit;
use super::{CapError, InvocationCtx, Unit, WitError, check_size};
use crate::store::{accounts, chats, consents, signatures};

/// Largest document a signature may be requested for, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 << 10;
/// Largest signature title, in bytes.
pub const MAX_TITLE_BYTES: usize = 200;

/// The unit: `identity.basic`, `identity.profile`, `identity.phone`, `identity.sign` unlock `miniapp:platform/identity`.
pub const UNIT: Unit = Unit {
    grants: &["identity.basic", "identity.profile", "identity.phone", "identity.sign"],
    imports: &["miniapp:platform/identity"],
    link: add_to_linker,
};

/// One invocation's identity state: its signature requests (buffered until the commit).
#[derive(Debug, Default)]
pub struct IdentityCtx {
    /// Signature requests made so far.
    pub(crate) signatures: Vec<commit::SignatureDraft>,
    /// How many were asked for (bounded per invocation).
    pub(crate) signature_requests: u32,
}

/// The identity host functions' view of an invocation: its shared state
/// and identity's own.
pub struct IdentityCtxView<'a> {
    /// What every capability of the invocation shares.
    pub inv: &'a mut InvocationCtx,
    /// This unit's own state.
    pub ctx: &'a mut IdentityCtx,
    /// The files unit's state (the files made in this invocation).
    pub files: &'a super::files::FilesCtx,
}

/// A store's data that can hand out a [`IdentityCtxView`].
pub trait IdentityView: Send {
    /// The view for one host call.
    fn identity(&mut self) -> IdentityCtxView<'_>;
}

struct HasIdentity;

impl HasData for HasIdentity {
    type Data<'a> = IdentityCtxView<'a>;
}

super::convert_errors_for!(IdentityCtxView<'_>);

/// Links the unit's interfaces.
///
/// # Errors
///
/// When an interface is linked already.
pub fn add_to_linker<T: IdentityView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasIdentity>(linker, T::identity)
}

/// The id `account` has inside `app`: stable, opaque, different per app.
pub fn app_scoped_id(key: &[u8], app: &str, account: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(app.as_bytes());
    mac.update(&[0]);
    mac.update(account.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("u_{}", hex::encode(&digest[..16]))
}

impl IdentityCtxView<'_> {
    /// The current user's account, or `not-found` when the event has none.
    fn current_account(&self) -> Result<String, CapError> {
        self.inv.cx.account.clone().ok_or_else(|| WitError::NotFound.into())
    }

    /// Grant check plus the user's consent to `scope`.
    async fn require_consent(&mut self, scope: &str) -> Result<String, CapError> {
        self.inv.require(scope).await?;
        let account = self.current_account()?;
        if !consents::has(&self.inv.cx.services.db, &account, &self.inv.cx.app_id, scope).await? {
            self.inv.audit_denial(scope, "the user has not consented").await;
            return Err(WitError::ConsentRequired.into());
        }
        Ok(account)
    }
}

impl wit::Host for IdentityCtxView<'_> {
    async fn current_user(&mut self) -> Result<String, CapError> {
        self.inv.require("identity.basic").await?;
        let account = self.current_account()?;
        Ok(self.inv.app_scoped_id(&account))
    }

    async fn current_chat(&mut self) -> Result<String, CapError> {
        self.inv.require("identity.basic").await?;
        self.inv.cx.chat.clone().ok_or_else(|| WitError::NotFound.into())
    }

    async fn current_event_id(&mut self) -> wasmtime::Result<Option<u64>> {
        Ok(self.inv.cx.event_id.and_then(|id| u64::try_from(id).ok()))
    }

    async fn current_event_attempt(&mut self) -> wasmtime::Result<Option<u32>> {
        Ok(self.inv.cx.event_attempt)
    }

    async fn display_name(&mut self) -> Result<String, CapError> {
        let account = self.require_consent("identity.profile").await?;
        let found = accounts::get(&self.inv.cx.services.db, &account).await?;
        found.map(|a| a.name).ok_or_else(|| WitError::NotFound.into())
    }

    async fn phone(&mut self) -> Result<String, CapError> {
        let account = self.require_consent("identity.phone").await?;
        let found = accounts::get(&self.inv.cx.services.db, &account).await?;
        found.and_then(|a| a.phone).ok_or_else(|| WitError::NotFound.into())
    }

    async fn request_signature(&mut self, title: String, document: Vec<u8>) -> Result<String, CapError> {
        self.inv.require("identity.sign").await?;
        let account = self.current_account()?;
        check_size("document", document.len(), MAX_DOCUMENT_BYTES)?;
        check_title(&title)?;
        if document.is_empty() {
            return Err(WitError::Invalid("document is empty".into()).into());
        }
        self.take_request_turn(&account).await?;
        let digest = hex::encode(Sha256::digest(&document));
        let id = crate::store::new_id();
        self.ctx.signatures.push(commit::SignatureDraft {
            id: id.clone(),
            account,
            chat: self.inv.cx.chat.clone(),
            title,
            document,
            digest,
            file: None,
        });
        Ok(id)
    }

    async fn request_file_signature(&mut self, title: String, file: String) -> Result<String, CapError> {
        self.inv.require("identity.sign").await?;
        let account = self.current_account()?;
        check_title(&title)?;
        let readable = self.files.readable(self.inv, &file).await?;
        let db = &self.inv.cx.services.db;
        // The signer reads the file as a member of its chat.
        let Some(found) = readable else {
            self.inv
                .audit_denial("identity.sign", "a file the app may not read (or none)")
                .await;
            return Err(WitError::NotFound.into());
        };
        if !chats::is_member(db, &found.chat, &account).await? {
            return Err(WitError::NotFound.into());
        }
        self.take_request_turn(&account).await?;
        let id = crate::store::new_id();
        self.ctx.signatures.push(commit::SignatureDraft {
            id: id.clone(),
            account,
            chat: Some(found.chat),
            title,
            document: Vec::new(),
            digest: found.info.sha256.clone(),
            file: Some(found.info),
        });
        Ok(id)
    }
}

/// Checks a signature request's title.
fn check_title(title: &str) -> Result<(), CapError> {
    check_size("signature title", title.len(), MAX_TITLE_BYTES)?;
    crate::text::check_line("signature title", title).map_err(|e| WitError::Invalid(e.to_string()).into())
}

impl IdentityCtxView<'_> {
    /// Takes one signature request's place in the per-invocation and
    /// per-user bounds, or answers `rate-limited` having taken nothing.
    async fn take_request_turn(&mut self, account: &str) -> Result<(), CapError> {
        let max = self.inv.limits().signatures_per_invocation;
        if self.ctx.signature_requests >= max {
            self.inv.append_log(
                "warn",
                format!("signature request refused (rate-limited): more than {max} in one invocation"),
            );
            return Err(WitError::RateLimited.into());
        }
        // Stored requests and those of this invocation.
        let waiting = signatures::pending_count(&self.inv.cx.services.db, &self.inv.cx.app_id, account).await?
            + i64::try_from(self.ctx.signatures.len()).unwrap_or(0);
        let most = self.inv.limits().pending_signatures_per_user;
        if waiting >= i64::from(most) {
            self.inv.append_log(
                "warn",
                format!(
                    "signature request refused (rate-limited): the user has {most} requests of this app unanswered"
                ),
            );
            return Err(WitError::RateLimited.into());
        }
        self.ctx.signature_requests += 1;
        Ok(())
    }
}
