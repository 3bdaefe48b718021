//! `identity`: who the current user is, as far as this app may know. The
//! app-scoped id is an HMAC of the platform id keyed per host and salted
//! with the app id, so two apps never see the same id for one person.
//! Grant: `identity.basic`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::{HasSelf, Linker};

use super::bindings::miniapp::platform::identity as wit;
use super::{CapError, HostState, WitError};

/// Links `miniapp:platform/identity`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
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

impl wit::Host for HostState {
    async fn current_user(&mut self) -> Result<String, CapError> {
        self.require("identity.basic").await?;
        let Some(account) = self.cx.account.as_deref() else {
            return Err(WitError::NotFound.into());
        };
        Ok(app_scoped_id(
            &self.cx.services.identity_key,
            &self.cx.app_id,
            account,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::app_scoped_id;

    #[test]
    fn app_scoped_ids_are_stable_and_differ_between_apps() {
        let key = b"k".repeat(32);
        let a1 = app_scoped_id(&key, "app-a", "acct-1");
        assert_eq!(a1, app_scoped_id(&key, "app-a", "acct-1"));
        assert_ne!(a1, app_scoped_id(&key, "app-b", "acct-1"));
        assert_ne!(a1, app_scoped_id(&key, "app-a", "acct-2"));
        assert!(!a1.contains("acct-1"));
    }
}
